//! Removing Palisade's protection from every task definition resource of a template.

use super::properties::{read_properties, to_template, uncoerce};
use super::read::{read, task_definition_ids};
use super::write::write_changed;
use crate::cancel::Cancel;
use crate::problem::{ProblemKind, Rejected};
use crate::protect::unprotect_text_cancellable;
use crate::to_pretty;

/// Removes Palisade's protection from every task definition resource; `Ok(None)` when `text` is
/// not a template. Answers the template and whether any resource was protected.
pub fn unprotect_template(text: &str) -> Result<Option<(String, bool)>, Rejected> {
    unprotect_template_cancellable(text, &Cancel::never())
}

/// [`unprotect_template`], stopped with a [`ProblemKind::Cancelled`] problem at the next
/// resource once `cancel` is raised.
pub fn unprotect_template_cancellable(
    text: &str,
    cancel: &Cancel,
) -> Result<Option<(String, bool)>, Rejected> {
    cancel.check()?;
    let Some(reading) = read(text)? else {
        return Ok(None);
    };
    let mut changes = Vec::new();
    for id in task_definition_ids(&reading.root) {
        cancel.check()?;
        let Some(properties) = reading.root["Resources"][&id].get("Properties") else {
            continue;
        };
        let (task, seen, coerced) = read_properties(properties);
        let unprotected =
            unprotect_text_cancellable(&to_pretty(&task), cancel).map_err(|mut rejected| {
                for problem in &mut rejected.problems {
                    if problem.kind != ProblemKind::Cancelled {
                        problem.message = format!("resource {id}: {}", problem.message);
                    }
                }
                rejected
            })?;
        if unprotected.was_protected {
            let mut output = unprotected.output;
            uncoerce(&mut output, &coerced);
            changes.push((id, to_template(&output, &seen)));
        }
    }
    cancel.check()?;
    let any = !changes.is_empty();
    let written = write_changed(text, &reading, &[&changes])
        .pop()
        .unwrap_or_default();
    Ok(Some((written, any)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::protect_template;
    use crate::template::test_support::{api_tasks, options};

    #[test]
    fn unprotect_looks_at_the_cancel_flag_for_every_resource() {
        let text = api_tasks(20);
        let mut options = options();
        options.image_argv.insert(
            "api".into(),
            crate::ImageArgv {
                entry_point: vec!["/app/api".into()],
                command: None,
            },
        );
        let protected = protect_template(&text, &options).unwrap().unwrap();
        let counting = Cancel::raised_at_check(usize::MAX);
        assert!(
            unprotect_template_cancellable(&protected.output, &counting)
                .unwrap()
                .unwrap()
                .1
        );
        assert!(counting.checks() >= 20);
        let cancel = Cancel::raised_at_check(counting.checks() / 2);
        let rejected = unprotect_template_cancellable(&protected.output, &cancel).unwrap_err();
        assert!(rejected.has(ProblemKind::Cancelled), "{rejected}");
        assert!(!rejected.problems[0].message.starts_with("resource"));
    }
}
