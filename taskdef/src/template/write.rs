//! Writing a template back in its format, the intrinsic functions as they were.

use super::intrinsics::{token_index, Intrinsic};
use super::TemplateFormat;
use crate::to_pretty;
use serde_json::Value;

/// Writes the template back in its format, the intrinsic functions as they were.
pub(super) fn write(
    reading_format: TemplateFormat,
    root: &Value,
    intrinsics: &[Intrinsic],
) -> String {
    match reading_format {
        TemplateFormat::Json => to_pretty(&restore_json(root, intrinsics)),
        TemplateFormat::Yaml => {
            serde_yaml_ng::to_string(&to_yaml(root, intrinsics)).unwrap_or_default()
        }
    }
}

fn restore_json(value: &Value, intrinsics: &[Intrinsic]) -> Value {
    match value {
        Value::String(text) => match token_index(text).and_then(|index| intrinsics.get(index)) {
            Some(Intrinsic::Json(original)) => original.clone(),
            Some(Intrinsic::Yaml(original)) => {
                serde_json::to_value(original).unwrap_or(Value::Null)
            }
            None => value.clone(),
        },
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| (key.clone(), restore_json(value, intrinsics)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| restore_json(item, intrinsics))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn to_yaml(value: &Value, intrinsics: &[Intrinsic]) -> serde_yaml_ng::Value {
    use serde_yaml_ng::Value as Yaml;
    match value {
        Value::String(text) => match token_index(text).and_then(|index| intrinsics.get(index)) {
            Some(Intrinsic::Yaml(original)) => original.clone(),
            Some(Intrinsic::Json(original)) => {
                serde_yaml_ng::to_value(original).unwrap_or(Yaml::Null)
            }
            None => Yaml::String(text.clone()),
        },
        Value::Object(object) => Yaml::Mapping(
            object
                .iter()
                .map(|(key, value)| (Yaml::String(key.clone()), to_yaml(value, intrinsics)))
                .collect(),
        ),
        Value::Array(items) => {
            Yaml::Sequence(items.iter().map(|item| to_yaml(item, intrinsics)).collect())
        }
        Value::Bool(flag) => Yaml::Bool(*flag),
        Value::Null => Yaml::Null,
        Value::Number(number) => serde_yaml_ng::to_value(number).unwrap_or(Yaml::Null),
    }
}
