//! CloudFormation's intrinsic functions (`!Ref`, `Fn::GetAtt`...) as opaque tokens while a task
//! definition is protected, put back (or shown as written) afterwards; and the ones that stand
//! where protect must read or write, refused.

use super::properties::template_key;
use crate::pointer_push;
use crate::problem::{Problem, ProblemKind};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// An intrinsic function as the template wrote it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Intrinsic {
    Json(Value),
    Yaml(serde_yaml_ng::Value),
}

/// Tokens look like nothing a template holds and like no placeholder Palisade warns about.
const TOKEN_PREFIX: &str = "\u{2063}cfn-intrinsic-";

pub(super) fn token(index: usize) -> String {
    format!("{TOKEN_PREFIX}{index}\u{2063}")
}

pub(super) fn token_index(text: &str) -> Option<usize> {
    text.strip_prefix(TOKEN_PREFIX)?
        .strip_suffix('\u{2063}')?
        .parse()
        .ok()
}

/// An intrinsic function as a person reads it in a message (`!Ref ApiImage`).
fn display(intrinsic: &Intrinsic) -> String {
    match intrinsic {
        Intrinsic::Json(value) => value.to_string(),
        Intrinsic::Yaml(value) => serde_yaml_ng::to_string(value)
            .map(|text| text.trim().replace('\n', " "))
            .unwrap_or_default(),
    }
}

/// `text` with each token replaced by the intrinsic function it stands for.
pub(super) fn readable(text: &str, intrinsics: &[Intrinsic]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(TOKEN_PREFIX) {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after[TOKEN_PREFIX.len()..]
            .find('\u{2063}')
            .map(|end| TOKEN_PREFIX.len() + end + '\u{2063}'.len_utf8());
        match end.and_then(|end| Some((end, intrinsics.get(token_index(&after[..end])?)?))) {
            Some((end, intrinsic)) => {
                out.push_str(&display(intrinsic));
                rest = &after[end..];
            }
            None => {
                out.push_str(TOKEN_PREFIX);
                rest = &after[TOKEN_PREFIX.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether a one-key mapping with this key is an intrinsic function in its long form.
pub(super) fn is_intrinsic_name(key: &str) -> bool {
    key == "Ref" || key.starts_with("Fn::") || key == "Condition"
}

/// Whether a JSON object is an intrinsic function in its long form.
pub(super) fn is_long_form(object: &Map<String, Value>) -> bool {
    object.len() == 1
        && object
            .keys()
            .next()
            .is_some_and(|key| is_intrinsic_name(key))
}

/// Where protect reads or writes: an intrinsic function there cannot be protected around.
const CONTAINER_KEYS_PROTECT_USES: [&str; 9] = [
    "entryPoint",
    "command",
    "environment",
    "secrets",
    "mountPoints",
    "dependsOn",
    "volumesFrom",
    "linuxParameters",
    "dockerLabels",
];

pub(super) fn is_token(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| token_index(text).is_some())
}

/// The intrinsic functions standing where protect must read or write, as problems.
pub(super) fn structural_intrinsics(
    task: &Value,
    resource_pointer: &str,
    seen: &HashMap<String, String>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut refuse = |pointer: String, what: &str| {
        problems.push(
            Problem::at(
                ProblemKind::Schema,
                pointer,
                format!("{what} is an intrinsic function: Palisade cannot protect what it cannot read"),
            )
            .with_hint("write it out literally in the template (intrinsic functions inside its items and values are fine), or protect the task definition it resolves to"),
        )
    };
    let at = |path: &[&str]| {
        path.iter()
            .fold(resource_pointer.to_owned(), |pointer, key| {
                pointer_push(&pointer, template_key(key, seen))
            })
    };
    for key in ["containerDefinitions", "volumes", "pidMode"] {
        if task.get(key).is_some_and(is_token) {
            refuse(at(&[key]), key);
        }
    }
    if let Some(containers) = task.get("containerDefinitions").and_then(Value::as_array) {
        for (index, container) in containers.iter().enumerate() {
            let index_text = index.to_string();
            if is_token(container) {
                refuse(at(&["containerDefinitions", &index_text]), "a container");
                continue;
            }
            for key in CONTAINER_KEYS_PROTECT_USES {
                if container.get(key).is_some_and(is_token) {
                    refuse(at(&["containerDefinitions", &index_text, key]), key);
                }
            }
            for key in ["name", "essential"] {
                if container.get(key).is_some_and(is_token) {
                    refuse(at(&["containerDefinitions", &index_text, key]), key);
                }
            }
        }
    }
    problems
}
