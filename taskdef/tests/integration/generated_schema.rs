//! Generates the RegisterTaskDefinition JSON Schema from the ECS API model in `../shared/ecs/` and
//! fails when the committed copy (`taskdef/generated/`) is out of date.
//!
//! Regenerate with `scripts/generate-ecs-schema` (which runs this test with `PALISADE_REGENERATE=1`)
//! after replacing `../shared/ecs/service-2.json` with a newer botocore model.

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

const ROOT_SHAPE: &str = "RegisterTaskDefinitionRequest";

fn model_path() -> PathBuf {
    manifest_dir().join("../../shared/ecs/service-2.json")
}

fn committed_path() -> PathBuf {
    manifest_dir().join("generated/register-task-definition.schema.json")
}

/// Translates one botocore shape into a JSON Schema fragment, queueing the shapes it refers to.
fn shape_schema(shape: &Value, pending: &mut Vec<String>) -> Value {
    let mut refer = |member: &Value| -> Value {
        let name = member["shape"]
            .as_str()
            .expect("member without shape")
            .to_owned();
        pending.push(name.clone());
        json!({ "$ref": format!("#/$defs/{name}") })
    };
    let mut schema = Map::new();
    match shape["type"].as_str().expect("shape without type") {
        "structure" => {
            schema.insert("type".into(), json!("object"));
            let mut properties = Map::new();
            for (name, member) in shape["members"].as_object().expect("structure members") {
                let mut property = refer(member);
                if member.get("deprecated") == Some(&Value::Bool(true)) {
                    property["deprecated"] = json!(true);
                }
                properties.insert(name.clone(), property);
            }
            schema.insert("properties".into(), Value::Object(properties));
            schema.insert("additionalProperties".into(), json!(false));
            if let Some(required) = shape.get("required") {
                schema.insert("required".into(), required.clone());
            }
            if shape.get("union") == Some(&Value::Bool(true)) {
                schema.insert("minProperties".into(), json!(1));
                schema.insert("maxProperties".into(), json!(1));
            }
        }
        "list" => {
            schema.insert("type".into(), json!("array"));
            schema.insert("items".into(), refer(&shape["member"]));
            copy_bound(shape, "min", "minItems", &mut schema);
            copy_bound(shape, "max", "maxItems", &mut schema);
        }
        "map" => {
            schema.insert("type".into(), json!("object"));
            schema.insert("additionalProperties".into(), refer(&shape["value"]));
        }
        "string" => {
            schema.insert("type".into(), json!("string"));
            if let Some(values) = shape.get("enum") {
                schema.insert("enum".into(), values.clone());
            }
            if let Some(pattern) = shape.get("pattern") {
                // botocore patterns match a substring; anchor them as the service does.
                let anchored = format!("^{}$", pattern.as_str().expect("pattern is a string"));
                schema.insert("pattern".into(), json!(anchored));
            }
            copy_bound(shape, "min", "minLength", &mut schema);
            copy_bound(shape, "max", "maxLength", &mut schema);
        }
        "integer" | "long" => {
            schema.insert("type".into(), json!("integer"));
            copy_bound(shape, "min", "minimum", &mut schema);
            copy_bound(shape, "max", "maximum", &mut schema);
        }
        "double" | "float" => {
            schema.insert("type".into(), json!("number"));
        }
        "boolean" => {
            schema.insert("type".into(), json!("boolean"));
        }
        "timestamp" => {
            schema.insert("type".into(), json!(["number", "string"]));
        }
        other => panic!("shape type {other} is not handled by the generator"),
    }
    Value::Object(schema)
}

fn copy_bound(shape: &Value, from: &str, to: &str, schema: &mut Map<String, Value>) {
    if let Some(bound) = shape.get(from) {
        schema.insert(to.into(), bound.clone());
    }
}

/// The whole schema: the request shape at the root, every reachable shape under `$defs`.
fn generate(model: &Value) -> Value {
    let shapes = &model["shapes"];
    let mut defs = Map::new();
    let mut pending = vec![ROOT_SHAPE.to_owned()];
    let mut done = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !done.insert(name.clone()) {
            continue;
        }
        let shape = shapes
            .get(&name)
            .unwrap_or_else(|| panic!("unknown shape {name}"));
        defs.insert(name, shape_schema(shape, &mut pending));
    }
    // Sorted `$defs` keep the committed file stable across regenerations.
    let defs: Map<String, Value> = {
        let mut entries: Vec<_> = defs.into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.into_iter().collect()
    };
    let version = model["metadata"]["apiVersion"]
        .as_str()
        .unwrap_or("unknown");
    // What DescribeTaskDefinition answers but RegisterTaskDefinition refuses.
    let request_members = shapes[ROOT_SHAPE]["members"]
        .as_object()
        .expect("request members");
    let read_only: Vec<&String> = shapes["TaskDefinition"]["members"]
        .as_object()
        .expect("TaskDefinition members")
        .keys()
        .filter(|key| !request_members.contains_key(*key))
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": format!(
            "Generated from the ECS API model ({version}) by taskdef/tests/generated_schema.rs; do not edit."
        ),
        "$ref": format!("#/$defs/{ROOT_SHAPE}"),
        "x-readOnlyKeys": read_only,
        "$defs": defs,
    })
}

#[test]
fn committed_schema_matches_the_ecs_model() {
    let path = model_path();
    let model_text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "this test needs the ECS API model at {} (the team's shared/ folder beside the clone): {error}",
            path.display()
        )
    });
    let model: Value = serde_json::from_str(&model_text).expect("service-2.json is JSON");
    let generated = serde_json::to_string_pretty(&generate(&model)).unwrap() + "\n";

    if std::env::var_os("PALISADE_REGENERATE").is_some() {
        std::fs::write(committed_path(), &generated).expect("write the generated schema");
        return;
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "taskdef/generated/register-task-definition.schema.json is out of date with \
         ../shared/ecs/service-2.json: run scripts/generate-ecs-schema and commit the result"
    );
}

#[test]
fn allowed_top_level_keys_are_the_register_request_members() {
    let model_text = std::fs::read_to_string(model_path())
        .unwrap_or_else(|error| panic!("this test needs ../shared/ecs/service-2.json: {error}"));
    let model: Value = serde_json::from_str(&model_text).unwrap();
    let members: Vec<&str> = model["shapes"][ROOT_SHAPE]["members"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(palisade_taskdef::schema::allowed_top_level_keys(), members);
}

/// This crate's folder, read when the test runs: a test binary reused from another clone's build
/// (the target directory is shared) must not look in that clone.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
