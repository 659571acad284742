//! The RegisterTaskDefinition JSON Schema generated from the ECS API model (see
//! `tests/generated_schema.rs`) and what Palisade derives from it: the allowed and read-only keys,
//! the compiled validators, and a walker that follows the schema through a document.

use serde_json::Value;
use std::sync::OnceLock;

const SCHEMA_TEXT: &str = include_str!("../generated/register-task-definition.schema.json");
const ROOT: &str = "RegisterTaskDefinitionRequest";

/// The generated schema, parsed once.
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| serde_json::from_str(SCHEMA_TEXT).expect("the generated schema is JSON"))
}

/// The schema of one named shape of the ECS model (`ContainerDefinition`, ...).
pub fn definition(name: &str) -> &'static Value {
    &schema()["$defs"][name]
}

/// The task-level keys RegisterTaskDefinition accepts, in the model's order.
pub fn allowed_top_level_keys() -> Vec<&'static str> {
    definition(ROOT)["properties"]
        .as_object()
        .map(|properties| properties.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Keys DescribeTaskDefinition returns but RegisterTaskDefinition refuses.
pub fn read_only_keys() -> Vec<&'static str> {
    schema()["x-readOnlyKeys"]
        .as_array()
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Follows a `$ref` to its definition; other nodes are returned as they are.
pub fn resolve(node: &'static Value) -> &'static Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/$defs/");
            if name == reference || name.is_empty() {
                node
            } else {
                resolve(definition(name))
            }
        }
        None => node,
    }
}

/// The schema of the task definition root.
pub fn task_node() -> &'static Value {
    definition(ROOT)
}

/// The schema node of a `containerDefinitions` array.
pub fn containers_node() -> &'static Value {
    definition("ContainerDefinitions")
}

fn compile(root_ref: &str) -> jsonschema::Validator {
    let mut schema = schema().clone();
    schema["$ref"] = Value::String(format!("#/$defs/{root_ref}"));
    jsonschema::validator_for(&schema).expect("the generated schema compiles")
}

/// Validator for a whole task definition (RegisterTaskDefinition input).
pub fn task_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| compile(ROOT))
}

/// Validator for a bare `containerDefinitions` array.
pub fn containers_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| compile("ContainerDefinitions"))
}

/// The names of the properties a schema node (after `$ref`) allows, if it is a structure.
pub fn property_names(node: &'static Value) -> Vec<&'static str> {
    resolve(node)["properties"]
        .as_object()
        .map(|properties| properties.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_task_level_keys_are_allowed() {
        let allowed = allowed_top_level_keys();
        for key in [
            "runtimePlatform",
            "ephemeralStorage",
            "enableFaultInjection",
            "trustedExecutionConfiguration",
        ] {
            assert!(allowed.contains(&key), "{key} must be allowed");
        }
        assert_eq!(allowed.len(), 19);
    }

    #[test]
    fn read_only_keys_come_from_the_model() {
        let read_only = read_only_keys();
        for key in [
            "taskDefinitionArn",
            "revision",
            "status",
            "requiresAttributes",
            "compatibilities",
            "registeredAt",
            "registeredBy",
            "deregisteredAt",
            "deleteRequestedAt",
        ] {
            assert!(read_only.contains(&key), "{key} is read-only");
        }
        assert!(!read_only.contains(&"family"));
    }

    #[test]
    fn both_validators_compile() {
        assert!(task_validator()
            .is_valid(&serde_json::json!({"family": "a", "containerDefinitions": []})));
        assert!(!containers_validator().is_valid(&serde_json::json!([{"name": 1}])));
    }
}
