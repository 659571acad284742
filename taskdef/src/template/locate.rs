//! Line and column of each problem in the template's own text.

use super::yaml_places;
use crate::cancel::Cancel;
use crate::problem::Rejected;

/// Line and column of each problem in a JSON template.
pub(super) fn locate(text: &str, rejected: &mut Rejected) {
    let pointers: Vec<String> = rejected
        .problems
        .iter()
        .map(|problem| problem.pointer.clone().unwrap_or_default())
        .collect();
    let wanted: Vec<&str> = pointers.iter().map(String::as_str).collect();
    for (problem, place) in rejected
        .problems
        .iter_mut()
        .zip(crate::parse::locate_all(text, &wanted))
    {
        if let Some((line, column)) = place {
            problem.line = Some(line);
            problem.column = Some(column);
        }
    }
}

/// Line and column of each problem with a pointer in a YAML template, in block style or the
/// nearest node holding it (see `yaml_places`).
pub(super) fn locate_yaml(
    text: &str,
    rejected: &mut Rejected,
    cancel: &Cancel,
) -> Result<(), Rejected> {
    let pointers: Vec<&str> = rejected
        .problems
        .iter()
        .filter_map(|problem| problem.pointer.as_deref())
        .collect();
    let places = yaml_places::yaml_places(text, &pointers, cancel)?;
    let with_pointer = rejected
        .problems
        .iter_mut()
        .filter(|problem| problem.pointer.is_some());
    for (problem, place) in with_pointer.zip(places) {
        if let Some((line, column)) = place {
            problem.line = Some(line);
            problem.column = Some(column);
        }
    }
    Ok(())
}
