//! A task definition resource's properties as the API's task definition and back: PascalCase keys
//! read as camelCase and written with the template's own spelling, and the leaves CloudFormation
//! reads differently from the API (numbers as text, text as numbers) read as the API sees them and
//! written back as the template had them.

use crate::pointer_push;
use crate::problem::ProblemKind;
use serde_json::Value;
use std::collections::HashMap;

/// Keys whose values are maps of the user's own names (labels, driver options): kept as written.
const VERBATIM_MAPS: [&str; 4] = ["DockerLabels", "Options", "DriverOpts", "Labels"];

/// CloudFormation's spelling -> the API's, where it is not just the first letter lowered.
const SPELLINGS: [(&str, &str); 4] = [
    ("EFSVolumeConfiguration", "efsVolumeConfiguration"),
    (
        "FSxWindowsFileServerVolumeConfiguration",
        "fsxWindowsFileServerVolumeConfiguration",
    ),
    ("IAM", "iam"),
    ("ProxyConfigurationProperties", "properties"),
];

fn api_key(key: &str) -> String {
    if let Some((_, api)) = SPELLINGS.iter().find(|(cfn, _)| *cfn == key) {
        return (*api).to_owned();
    }
    let mut characters = key.chars();
    match characters.next() {
        Some(first) => first.to_lowercase().chain(characters).collect(),
        None => String::new(),
    }
}

pub(super) fn template_key(key: &str, seen: &HashMap<String, String>) -> String {
    if let Some(original) = seen.get(key) {
        return original.clone();
    }
    if let Some((cfn, _)) = SPELLINGS.iter().find(|(_, api)| *api == key) {
        return (*cfn).to_owned();
    }
    let mut characters = key.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

/// `value` with every key renamed: `rename` answers the new key and the template's spelling of
/// it (which says whether its value is one of the user's own maps, whose keys stay as written).
fn rename_keys(value: &Value, rename: &mut dyn FnMut(&str) -> (String, String)) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| {
                    let (renamed, template_spelling) = rename(key);
                    let value = if VERBATIM_MAPS.contains(&template_spelling.as_str()) {
                        value.clone()
                    } else {
                        rename_keys(value, rename)
                    };
                    (renamed, value)
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| rename_keys(item, rename)).collect())
        }
        other => other.clone(),
    }
}

/// PascalCase properties -> the API's camelCase task definition; `seen` remembers each key's
/// spelling so it is written back exactly.
fn to_api(value: &Value, seen: &mut HashMap<String, String>) -> Value {
    rename_keys(value, &mut |key| {
        let api = api_key(key);
        seen.entry(api.clone()).or_insert_with(|| key.to_owned());
        (api, key.to_owned())
    })
}

/// The API's camelCase back to the template's spelling.
pub(super) fn to_template(value: &Value, seen: &HashMap<String, String>) -> Value {
    rename_keys(value, &mut |key| {
        let spelled = template_key(key, seen);
        (spelled.clone(), spelled)
    })
}

/// CloudFormation turns numbers and booleans into text where the API wants text (`Cpu: 256`,
/// an environment `Value: 8080`); the API's validation does not. These leaves are read as text
/// and written back as the template had them.
fn coerce_text_leaves(task: &mut Value) -> Vec<(String, Value)> {
    let mut coerced = Vec::new();
    let mut coerce = |value: &mut Value, pointer: String| {
        if matches!(value, Value::Number(_) | Value::Bool(_)) {
            let original = std::mem::replace(value, Value::String(value.to_string()));
            coerced.push((pointer, original));
        }
    };
    for key in ["cpu", "memory"] {
        if let Some(value) = task.get_mut(key) {
            coerce(value, format!("/{key}"));
        }
    }
    let Some(Value::Array(containers)) = task.get_mut("containerDefinitions") else {
        return coerced;
    };
    for (index, container) in containers.iter_mut().enumerate() {
        let base = format!("/containerDefinitions/{index}");
        if let Some(Value::Array(variables)) = container.get_mut("environment") {
            for (item, variable) in variables.iter_mut().enumerate() {
                if let Some(value) = variable.get_mut("value") {
                    coerce(value, format!("{base}/environment/{item}/value"));
                }
            }
        }
        for path in [
            &["dockerLabels"][..],
            &["logConfiguration", "options"],
            &["firelensConfiguration", "options"],
        ] {
            let mut at = Some(&mut *container);
            for key in path {
                at = at.and_then(|value| value.get_mut(*key));
            }
            if let Some(Value::Object(map)) = at {
                let pointer = path
                    .iter()
                    .fold(base.clone(), |pointer, key| pointer_push(&pointer, key));
                for (key, value) in map.iter_mut() {
                    coerce(value, pointer_push(&pointer, key));
                }
            }
        }
    }
    coerced
}

/// And the other way: CloudFormation reads `'true'` or `'8080'` where the API wants a boolean or
/// a number (`Essential`, `ContainerPort`, a container's `Memory`). The leaves the schema refuses
/// for their type, and whose text is exactly such a value, are read as that value.
fn coerce_typed_leaves(task: &mut Value) -> Vec<(String, Value)> {
    let mut coerced = Vec::new();
    let problems = crate::validate::validate_document(crate::InputForm::TaskDefinition, task);
    for problem in problems {
        let Some(pointer) = problem
            .pointer
            .filter(|_| problem.kind == ProblemKind::Schema)
        else {
            continue;
        };
        let Some(value) = task.pointer_mut(&pointer) else {
            continue;
        };
        let Some(parsed) = value.as_str().and_then(typed) else {
            continue;
        };
        let original = std::mem::replace(value, parsed);
        coerced.push((pointer, original));
    }
    coerced
}

/// `true`, `false`, or an integer written exactly as a number would be (so writing it back as
/// text gives the same text).
fn typed(text: &str) -> Option<Value> {
    match text {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => text
            .parse::<i64>()
            .ok()
            .filter(|number| number.to_string() == text)
            .map(Value::from),
    }
}

/// Puts back the leaves the coercions changed, as the template wrote them (protect never changes
/// the user's own leaves, it only adds).
pub(super) fn uncoerce(task: &mut Value, coerced: &[(String, Value)]) {
    for (pointer, original) in coerced {
        if let Some(value) = task.pointer_mut(pointer) {
            *value = original.clone();
        }
    }
}

/// A resource's properties as the API's task definition: the template's spelling of each key,
/// and the leaves read differently from how the template wrote them (to put back afterwards).
type ReadProperties = (Value, HashMap<String, String>, Vec<(String, Value)>);

pub(super) fn read_properties(properties: &Value) -> ReadProperties {
    let mut seen = HashMap::new();
    let mut task = to_api(properties, &mut seen);
    let mut coerced = coerce_text_leaves(&mut task);
    coerced.extend(coerce_typed_leaves(&mut task));
    (task, seen, coerced)
}

/// A camelCase pointer in a resource's task, as the template's pointer.
pub(super) fn template_pointer(
    resource_pointer: &str,
    api_pointer: &str,
    seen: &HashMap<String, String>,
) -> String {
    api_pointer
        .split('/')
        .skip(1)
        .fold(resource_pointer.to_owned(), |pointer, token| {
            let token = token.replace("~1", "/").replace("~0", "~");
            let key = if token.parse::<usize>().is_ok() || token == "-" {
                token
            } else {
                template_key(&token, seen)
            };
            pointer_push(&pointer, key)
        })
}
