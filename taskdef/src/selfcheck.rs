//! The generator's whole path on any text, with its promises checked, for the fuzz target
//! (`fuzz/fuzz_targets/taskdef.rs`) and the replay of what fuzzing found
//! (`fuzz/regressions/taskdef/`, replayed by the integration tests): parse, normalize, validate and
//! locate the problems, protect, diff, unprotect; and the same text as a CloudFormation template.
//! Panics when a promise is broken: no other panic, a protected result protects to itself again,
//! and unprotects to the normalized input.

use crate::diff::{side_by_side, unified};
use crate::protect::{locate_problems, plan_text, valid_plan_text};
use crate::{
    normalize_text, protect_text, to_pretty, unprotect_text, ImageArgv, ProtectOptions, TokenSource,
};

/// Runs `text` through everything, checking the promises.
pub fn whole_path(text: &str) {
    template_path(text);
    let _ = normalize_text(text);
    let _ = unprotect_text(text);
    let mut options = ProtectOptions {
        token: Some(TokenSource::Secret(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:t".into(),
        )),
        console_url: Some("https://console.example".into()),
        ..ProtectOptions::default()
    };
    // Every container without an entrypoint gets one, so most valid inputs protect.
    if let Ok(plans) = plan_text(text, &options) {
        for plan in plans {
            options.image_argv.insert(
                plan.name,
                ImageArgv {
                    entry_point: vec!["/entrypoint".into()],
                    command: None,
                },
            );
        }
    }
    let _ = valid_plan_text(text, &options);
    match protect_text(text, &options) {
        Ok(protected) => {
            let before = to_pretty(&protected.normalized);
            let after = to_pretty(&protected.output);
            let _ = side_by_side(&before, &after, 3);
            let _ = unified(&before, &after, "input", "protected");
            let again = protect_text(&after, &options).expect("a protected result protects again");
            assert_eq!(again.output, protected.output, "protect is idempotent");
            let back = unprotect_text(&after).expect("a protected result unprotects");
            assert_eq!(
                to_pretty(&back.output),
                before,
                "unprotect gives back the normalized input"
            );
        }
        Err(mut rejected) => {
            if let Ok(normalized) = normalize_text(text) {
                locate_problems(text, normalized.form, &mut rejected);
            }
        }
    }
}

/// `text` as a CloudFormation template: protected templates protect to themselves again and
/// unprotect to what was read.
fn template_path(text: &str) {
    use crate::template::{protect_template, unprotect_template};
    let _ = unprotect_template(text);
    let options = ProtectOptions {
        token: Some(TokenSource::Secret(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:t".into(),
        )),
        ..ProtectOptions::default()
    };
    if let Ok(Some(protected)) = protect_template(text, &options) {
        let again = protect_template(&protected.output, &options)
            .expect("a protected template protects again")
            .expect("and is still a template");
        assert_eq!(
            again.output, protected.output,
            "protect is idempotent on templates"
        );
        let (back, _) = unprotect_template(&protected.output)
            .expect("a protected template unprotects")
            .expect("and is still a template");
        assert_eq!(
            back, protected.normalized,
            "unprotect gives the template back"
        );
    }
}
