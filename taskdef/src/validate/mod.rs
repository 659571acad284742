//! Validate: the JSON Schema generated from the ECS model, then the rules the service enforces that
//! the model cannot express (names, limits, references, Fargate and network-mode constraints,
//! cpu/memory). Every problem names a JSON pointer and says how to fix it.

mod rules;
mod schema;

pub use rules::service_rule_problems;

use crate::parse::InputForm;
use crate::problem::{cap_problems, Problem, ProblemKind};
use schema::schema_problems;
use serde_json::{Map, Value};

/// ECS refuses task definitions larger than this (service quota, not adjustable).
pub const MAX_TASK_DEFINITION_BYTES: usize = 64 * 1024;
/// ECS refuses more containers than this in one task definition (not adjustable).
pub const MAX_CONTAINERS: usize = 10;

/// All problems with a normalized task; empty means RegisterTaskDefinition should accept it.
///
/// `task` is the task definition; for the container-list form, `{"containerDefinitions": [...]}`.
pub fn validate(form: InputForm, task: &Map<String, Value>) -> Vec<Problem> {
    validate_document(form, &Value::Object(task.clone()))
}

/// [`validate`] for a task already held as a `Value` (saves copying it for the schema).
pub fn validate_document(form: InputForm, document: &Value) -> Vec<Problem> {
    let empty = Map::new();
    let task = document.as_object().unwrap_or(&empty);
    // Over the container limit nothing else is worth reading: the task must be split first, and
    // thousands of containers must not cost thousands of checks.
    if let Some(containers) = task.get("containerDefinitions").and_then(Value::as_array) {
        if containers.len() > MAX_CONTAINERS {
            return vec![rules::too_many_containers(containers.len())];
        }
    }
    let mut problems = schema_problems(form, document);
    if problems.is_empty() {
        // Service rules read typed values; on a document of the wrong shape they would only echo
        // the schema's complaints.
        problems = service_rule_problems(form, task);
    }
    cap_problems(&mut problems);
    problems
}

/// `^[A-Za-z0-9_-]{1,255}$`: family, container and volume names.
pub fn is_valid_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Tags that appear in commands writing HTML, not placeholders.
const HTML_TAGS: [&str; 24] = [
    "html", "head", "title", "body", "div", "p", "span", "br", "hr", "b", "i", "a", "ul", "ol",
    "li", "pre", "code", "table", "tr", "td", "h1", "h2", "h3", "style",
];

/// Template syntax left in a value: `${X}`, `{{x}}`, `$$$X$$$`, `<IMAGE1_NAME>`, `#{x}`.
pub fn looks_like_placeholder(text: &str) -> bool {
    if text.contains("${") || text.contains("{{") || text.contains("$$$") || text.contains("#{") {
        return true;
    }
    // One pass: only the last `<` before a `>` can open a placeholder (the text between any
    // earlier one and the `>` holds a `<`), so each character is looked at once or twice.
    let mut open = None;
    for (index, character) in text.char_indices() {
        match character {
            '<' => open = Some(index + 1),
            '>' => {
                let Some(start) = open.take() else { continue };
                let inside = &text[start..index];
                if !inside.is_empty()
                    && inside
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_- .".contains(c))
                    && !HTML_TAGS.contains(&inside.to_ascii_lowercase().as_str())
                {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

fn name_problem(pointer: String, what: &str, name: &str) -> Problem {
    let hint = if looks_like_placeholder(name) {
        "this is an unrendered template placeholder: render the template (or type the real name) first".to_owned()
    } else {
        "use up to 255 letters, digits, hyphens and underscores".to_owned()
    };
    Problem::at(
        ProblemKind::InvalidName,
        pointer,
        format!("{what} `{name}` is not a valid name"),
    )
    .with_hint(hint)
}

/// Task `cpu` in CPU units: "256", "1 vCPU", "0.5 vcpu".
pub fn parse_cpu_units(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    match lower.strip_suffix("vcpu") {
        Some(number) => number
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| *n > 0.0)
            .map(|n| (n * 1024.0).round() as u64),
        None => lower.parse().ok(),
    }
}

/// Task `memory` in MiB: "512", "2 GB", "2gb".
pub fn parse_memory_mib(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    match lower.strip_suffix("gb") {
        Some(number) => number
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| *n > 0.0)
            .map(|n| (n * 1024.0).round() as u64),
        None => lower
            .strip_suffix("mb")
            .unwrap_or(&lower)
            .trim()
            .parse()
            .ok(),
    }
}

/// The memory values (MiB) Fargate allows for a task cpu value.
fn string_list(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn is_essential(container: &Value) -> bool {
    container
        .get("essential")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// Does the task ask for Fargate?
pub fn requires_fargate(task: &Map<String, Value>) -> bool {
    string_list(task.get("requiresCompatibilities")).contains(&"FARGATE")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems_of(value: Value) -> Vec<Problem> {
        let Value::Object(task) = value else {
            panic!("object")
        };
        validate(InputForm::TaskDefinition, &task)
    }

    fn fargate(containers: Value) -> Value {
        json!({"family": "web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512", "containerDefinitions": containers})
    }

    #[test]
    fn a_plain_fargate_task_is_valid() {
        assert_eq!(
            problems_of(fargate(json!([{"name": "app", "image": "nginx"}]))),
            vec![]
        );
    }

    #[test]
    fn a_string_port_is_a_type_error_with_a_fix() {
        let problems = problems_of(fargate(
            json!([{"name": "app", "image": "nginx", "portMappings": [{"containerPort": "80"}]}]),
        ));
        assert_eq!(
            problems[0].pointer.as_deref(),
            Some("/containerDefinitions/0/portMappings/0/containerPort")
        );
        assert_eq!(problems[0].hint.as_deref(), Some("remove the quotes: 80"));
    }

    #[test]
    fn unknown_nested_keys_get_a_suggestion() {
        let problems = problems_of(fargate(
            json!([{"name": "app", "image": "nginx", "enviroment": []}]),
        ));
        assert_eq!(
            problems[0].pointer.as_deref(),
            Some("/containerDefinitions/0/enviroment")
        );
        assert_eq!(
            problems[0].hint.as_deref(),
            Some("did you mean `environment`?")
        );
    }

    #[test]
    fn placeholder_names_are_invalid_names() {
        let problems = problems_of(
            json!({"family": "${FAMILY}", "containerDefinitions": [{"name": "a", "image": "b", "memory": 128}]}),
        );
        assert_eq!(problems[0].kind, ProblemKind::InvalidName);
        assert!(problems[0].hint.as_deref().unwrap().contains("placeholder"));
    }

    #[test]
    fn eleven_containers_exceed_the_limit() {
        let containers: Vec<Value> = (0..11)
            .map(|i| json!({"name": format!("c{i}"), "image": "x"}))
            .collect();
        let problems = problems_of(fargate(Value::Array(containers)));
        assert!(problems.iter().any(|p| p.kind == ProblemKind::Limit));
    }

    #[test]
    fn references_must_name_existing_containers_and_volumes() {
        let problems = problems_of(fargate(json!([{"name": "app", "image": "x",
            "dependsOn": [{"containerName": "db", "condition": "START"}],
            "mountPoints": [{"sourceVolume": "data", "containerPath": "/d"}]}])));
        let pointers: Vec<_> = problems
            .iter()
            .filter_map(|p| p.pointer.as_deref())
            .collect();
        assert!(pointers.contains(&"/containerDefinitions/0/dependsOn/0/containerName"));
        assert!(pointers.contains(&"/containerDefinitions/0/mountPoints/0/sourceVolume"));
    }

    #[test]
    fn fargate_cpu_memory_pairs_are_checked_including_unit_strings() {
        let mut task = fargate(json!([{"name": "app", "image": "x"}]));
        task["cpu"] = json!("1 vCPU");
        task["memory"] = json!("3 GB");
        assert_eq!(problems_of(task.clone()), vec![]);
        task["memory"] = json!("512");
        assert_eq!(problems_of(task)[0].kind, ProblemKind::Resources);
    }

    #[test]
    fn healthy_dependencies_need_a_health_check() {
        let problems = problems_of(fargate(json!([
            {"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "HEALTHY"}]},
            {"name": "b", "image": "y", "essential": false}])));
        assert!(problems[0].message.contains("healthCheck"));
    }

    #[test]
    fn placeholders_are_recognised() {
        for text in [
            "${IMAGE}",
            "<IMAGE1_NAME>",
            "{{ env `TAG` }}",
            "$$$REGION$$$",
            "repo:#{tag}",
            "a < b and <TAG>",
            "<<x>",
        ] {
            assert!(looks_like_placeholder(text), "{text}");
        }
        for text in [
            "nginx:1.25",
            "a<b",
            "public.ecr.aws/x/y@sha256:abc",
            "echo '<html><h1>hi</h1>'",
            "a<b>",
            "<>",
            "<a b!>",
        ] {
            assert!(!looks_like_placeholder(text), "{text}");
        }
    }
}
