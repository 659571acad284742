//! Reading a template's text (JSON or YAML) into JSON, its intrinsic functions replaced by tokens,
//! with its size and nesting bounded first; and finding its task definition resources.

use super::intrinsics::{is_intrinsic_name, is_long_form, token, Intrinsic};
use super::{
    yaml_nesting, yaml_reading, TemplateFormat, MAX_TEMPLATE_BYTES, MAX_TEMPLATE_NESTING,
    TASK_DEFINITION_TYPE,
};
use crate::problem::{Problem, ProblemKind, Rejected};
use serde_json::{Map, Value};
use yaml_reading::YamlReadError;

/// A template read into JSON, its intrinsic functions replaced by tokens.
pub(super) struct Reading {
    pub(super) format: TemplateFormat,
    pub(super) root: Value,
    pub(super) intrinsics: Vec<Intrinsic>,
}

/// Whether `text` is a CloudFormation template (a mapping whose `Resources` is a mapping of
/// resources with a `Type`), or YAML naming `Resources` that does not parse (its error, with line
/// and column, helps more than the JSON reader's). Anything else is left to the task-definition
/// reader.
pub fn is_template(text: &str) -> bool {
    !matches!(read(text), Ok(None))
}

/// Reads a template; `Ok(None)` when the text is not one (a task definition, say); `Err` when it
/// looks like a YAML template but does not parse.
pub(super) fn read(text: &str) -> Result<Option<Reading>, Rejected> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    let mut intrinsics = Vec::new();
    let (format, root) = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            // Not JSON: the task-definition reader says where and why.
            return Ok(None);
        };
        (TemplateFormat::Json, from_json(value, &mut intrinsics))
    } else {
        // Only text that names Resources is read as YAML (a stray word is not a template).
        if !text.contains("Resources") {
            return Ok(None);
        }
        refuse_too_big(text)?;
        // The parser's time grows with the square of the nesting: it is measured first.
        if let Some((line, column)) = yaml_nesting::first_place_too_deep(text, MAX_TEMPLATE_NESTING)
        {
            return Err(too_deep(line, column));
        }
        let value = yaml_reading::read_yaml(text).map_err(yaml_problem)?;
        (TemplateFormat::Yaml, from_yaml(value, &mut intrinsics)?)
    };
    let is_template = root
        .get("Resources")
        .and_then(Value::as_object)
        .is_some_and(|resources| {
            !resources.is_empty()
                && resources
                    .values()
                    .all(|resource| resource.get("Type").is_some_and(Value::is_string))
        });
    if !is_template {
        return Ok(None);
    }
    if format == TemplateFormat::Json {
        // JSON is parsed before it is known to be a template (a task definition of any size is
        // the task-definition reader's to judge); YAML was measured before its parser.
        refuse_too_big(text)?;
    }
    Ok(Some(Reading {
        format,
        root,
        intrinsics,
    }))
}

fn refuse_too_big(text: &str) -> Result<(), Rejected> {
    if text.len() <= MAX_TEMPLATE_BYTES {
        return Ok(());
    }
    Err(Rejected::one(Problem {
        kind: ProblemKind::Limit,
        pointer: None,
        line: None,
        column: None,
        message: format!(
            "the template is {} bytes, more than the {MAX_TEMPLATE_BYTES} Palisade reads (CloudFormation takes templates of up to 1 MB)",
            text.len()
        ),
        hint: Some("split it into nested stacks, or protect the task definition itself".to_owned()),
        container: None,
    }))
}

fn too_deep(line: usize, column: usize) -> Rejected {
    Rejected::one(Problem {
        kind: ProblemKind::Limit,
        pointer: None,
        line: Some(line),
        column: Some(column),
        message: format!("the template nests deeper than {MAX_TEMPLATE_NESTING} levels here"),
        hint: Some("no CloudFormation template nests this deep: look for brackets (`[`, `{`) opened and never closed, or indentation that keeps growing, before this place".to_owned()),
        container: None,
    })
}

fn yaml_problem(error: YamlReadError) -> Rejected {
    let (message, error, hint) = match error {
        YamlReadError::Invalid(error) => {
            if let Some(location) = error
                .location()
                .filter(|_| error.to_string().starts_with("recursion limit exceeded"))
            {
                return too_deep(location.line(), location.column());
            }
            (
                format!("the CloudFormation template is not valid YAML: {error}"),
                error,
                "fix the YAML at that place (indentation, a missing colon, an unclosed quote)",
            )
        }
        YamlReadError::TooManyNodes(error) => (
            format!("the CloudFormation template is not valid YAML for CloudFormation: {error}"),
            error,
            "CloudFormation takes no YAML aliases: write the repeated part out where it is used",
        ),
    };
    let mut problem = Problem::at(ProblemKind::Syntax, "", message).with_hint(hint);
    if let Some(location) = error.location() {
        problem.line = Some(location.line());
        problem.column = Some(location.column());
    }
    Rejected::one(problem)
}

fn from_json(value: Value, intrinsics: &mut Vec<Intrinsic>) -> Value {
    match value {
        Value::Object(object) if is_long_form(&object) => {
            intrinsics.push(Intrinsic::Json(Value::Object(object)));
            Value::String(token(intrinsics.len() - 1))
        }
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(key, value)| (key, from_json(value, intrinsics)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| from_json(item, intrinsics))
                .collect(),
        ),
        other => other,
    }
}

pub(super) fn from_yaml(
    value: serde_yaml_ng::Value,
    intrinsics: &mut Vec<Intrinsic>,
) -> Result<Value, Rejected> {
    use serde_yaml_ng::Value as Yaml;
    let not_a_key = || {
        Rejected::one(
            Problem::at(
                ProblemKind::Syntax,
                "",
                "a mapping key of the template is not text",
            )
            .with_hint("CloudFormation keys are names: quote it"),
        )
    };
    Ok(match value {
        Yaml::Tagged(_) => {
            intrinsics.push(Intrinsic::Yaml(value));
            Value::String(token(intrinsics.len() - 1))
        }
        Yaml::Mapping(mapping) => {
            let long_form = mapping.len() == 1
                && mapping
                    .keys()
                    .next()
                    .and_then(Yaml::as_str)
                    .is_some_and(is_intrinsic_name);
            if long_form {
                intrinsics.push(Intrinsic::Yaml(Yaml::Mapping(mapping)));
                return Ok(Value::String(token(intrinsics.len() - 1)));
            }
            let mut object = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(key) => key,
                    Yaml::Number(number) => number.to_string(),
                    Yaml::Bool(flag) => flag.to_string(),
                    _ => return Err(not_a_key()),
                };
                object.insert(key, from_yaml(value, intrinsics)?);
            }
            Value::Object(object)
        }
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(|item| from_yaml(item, intrinsics))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::String(text) => Value::String(text),
        Yaml::Bool(flag) => Value::Bool(flag),
        Yaml::Null => Value::Null,
        Yaml::Number(number) => serde_json::to_value(&number).unwrap_or(Value::Null),
    })
}

pub(super) fn task_definition_ids(root: &Value) -> Vec<String> {
    root.get("Resources")
        .and_then(Value::as_object)
        .map(|resources| {
            resources
                .iter()
                .filter(|(_, resource)| {
                    resource.get("Type").and_then(Value::as_str) == Some(TASK_DEFINITION_TYPE)
                })
                .map(|(id, _)| id.clone())
                .collect()
        })
        .unwrap_or_default()
}
