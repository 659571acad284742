//! Validation against the JSON Schema generated from the ECS model, each error turned into a
//! problem with its pointer and a way to fix it.

use crate::normalize::suggest;
use crate::parse::{json_type_name, InputForm};
use crate::problem::{Problem, ProblemKind, MAX_PROBLEMS};
use crate::{pointer_push, schema};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

/// The schema's errors as problems, one more than [`MAX_PROBLEMS`] at most.
pub(super) fn schema_problems(form: InputForm, document: &Value) -> Vec<Problem> {
    let (validator, prefix) = match form {
        InputForm::ContainerDefinitions => {
            (schema::containers_validator(), "/containerDefinitions")
        }
        _ => (schema::task_validator(), ""),
    };
    let instance = match form {
        InputForm::ContainerDefinitions => match document.get("containerDefinitions") {
            Some(containers) => containers,
            None => return Vec::new(),
        },
        _ => document,
    };
    // The fast path: most documents are valid, and collecting errors costs far more.
    if validator.is_valid(instance) {
        return Vec::new();
    }
    let mut problems = Vec::new();
    // One more than shown, so the caller can say there were more.
    for error in validator.iter_errors(instance) {
        if problems.len() > MAX_PROBLEMS {
            break;
        }
        let pointer = format!("{prefix}{}", error.instance_path().as_str());
        let value = error.instance();
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = shape_of(error.schema_path().as_str())
                    .map(schema::property_names)
                    .unwrap_or_default();
                problems.extend(unknown_key_problems(&pointer, unexpected, &allowed));
            }
            ValidationErrorKind::Type { kind } => {
                problems.push(type_problem(pointer, kind, value));
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                problems.push(
                    Problem::at(
                        ProblemKind::Schema,
                        pointer,
                        format!("missing required key `{name}`"),
                    )
                    .with_hint(format!("add `{name}`")),
                );
            }
            ValidationErrorKind::Enum { options } => {
                let choices: Vec<String> = options
                    .as_array()
                    .map(|o| o.iter().map(short).collect())
                    .unwrap_or_default();
                problems.push(
                    Problem::at(
                        ProblemKind::Schema,
                        pointer,
                        format!("{} is not an accepted value", short(value)),
                    )
                    .with_hint(format!("use one of {}", choices.join(", "))),
                );
            }
            _ => problems.push(
                Problem::at(ProblemKind::Schema, pointer, error.to_string())
                    .with_hint("see the ECS RegisterTaskDefinition reference for this field"),
            ),
        }
    }
    problems
}

/// Each key the schema does not know, with the key it was probably meant to be.
fn unknown_key_problems<'a>(
    pointer: &'a str,
    unexpected: &'a [String],
    allowed: &'a [&str],
) -> impl Iterator<Item = Problem> + 'a {
    unexpected.iter().take(MAX_PROBLEMS + 1).map(move |key| {
        let mut problem = Problem::at(
            ProblemKind::Schema,
            pointer_push(pointer, key),
            format!("unknown key `{key}`"),
        );
        problem.hint = Some(match suggest(key, allowed) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => format!("remove it; allowed here: {}", allowed.join(", ")),
        });
        problem
    })
}

/// A value of the wrong type, with how to write it as the type wanted.
fn type_problem(pointer: String, kind: &TypeKind, value: &Value) -> Problem {
    let expected = match kind {
        TypeKind::Single(single) => single.to_string(),
        TypeKind::Multiple(_) => "another type".to_owned(),
    };
    let found = json_type_name(value);
    let hint = match (expected.as_str(), value) {
        ("string", Value::Number(number)) => format!("quote it: \"{number}\""),
        ("integer" | "number", Value::String(text)) if text.trim().parse::<f64>().is_ok() => {
            format!("remove the quotes: {}", text.trim())
        }
        ("array", Value::String(text)) => {
            format!(
                "write it as a JSON array: {}",
                serde_json::to_string(&[text]).unwrap_or_default()
            )
        }
        _ => format!("give a {expected} here"),
    };
    Problem::at(
        ProblemKind::Schema,
        pointer,
        format!("expected {expected}, found {found} {}", short(value)),
    )
    .with_hint(hint)
}

/// The `$defs` shape a canonical schema path points into (`/$defs/ContainerDefinition/...`).
fn shape_of(schema_path: &str) -> Option<&'static Value> {
    let rest = schema_path.rsplit_once("/$defs/")?.1;
    let name = rest.split('/').next()?;
    Some(schema::definition(name))
}

/// A value shortened for a message.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}
