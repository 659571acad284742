//! Validate: the JSON Schema generated from the ECS model, then the rules the service enforces that
//! the model cannot express (names, limits, references, Fargate and network-mode constraints,
//! cpu/memory). Every problem names a JSON pointer and says how to fix it.

use crate::array_items;
use crate::normalize::suggest;
use crate::parse::{json_type_name, InputForm};
use crate::problem::{Problem, ProblemKind};
use crate::{pointer_push, schema};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value};
use std::collections::HashSet;

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
    let problems = schema_problems(form, document);
    if !problems.is_empty() {
        // Service rules read typed values; on a document of the wrong shape they would only echo
        // the schema's complaints.
        return problems;
    }
    service_rule_problems(form, task)
}

fn schema_problems(form: InputForm, document: &Value) -> Vec<Problem> {
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
    for error in validator.iter_errors(instance) {
        let pointer = format!("{prefix}{}", error.instance_path().as_str());
        let value = error.instance();
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = shape_of(error.schema_path().as_str())
                    .map(schema::property_names)
                    .unwrap_or_default();
                for key in unexpected {
                    let mut problem = Problem::at(
                        ProblemKind::Schema,
                        pointer_push(&pointer, key),
                        format!("unknown key `{key}`"),
                    );
                    problem.hint = Some(match suggest(key, &allowed) {
                        Some(suggestion) => format!("did you mean `{suggestion}`?"),
                        None => format!("remove it; allowed here: {}", allowed.join(", ")),
                    });
                    problems.push(problem);
                }
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(single) => single.to_string(),
                    TypeKind::Multiple(_) => "another type".to_owned(),
                };
                let found = json_type_name(value);
                let hint = match (expected.as_str(), value.as_ref()) {
                    ("string", Value::Number(number)) => format!("quote it: \"{number}\""),
                    ("integer" | "number", Value::String(text))
                        if text.trim().parse::<f64>().is_ok() =>
                    {
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
                problems.push(
                    Problem::at(
                        ProblemKind::Schema,
                        pointer,
                        format!("expected {expected}, found {found} {}", short(value)),
                    )
                    .with_hint(hint),
                );
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
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        match after.find('>') {
            Some(close)
                if close > 0
                    && after[..close]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_- .".contains(c))
                    && !HTML_TAGS.contains(&after[..close].to_ascii_lowercase().as_str()) =>
            {
                return true
            }
            _ => rest = after,
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
fn fargate_memory_choices(cpu: u64) -> Option<Vec<u64>> {
    let range =
        |from: u64, to: u64, step: u64| (from..=to).step_by(step as usize).collect::<Vec<_>>();
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => return None,
    })
}

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

/// The service rules alone, for a document already known to satisfy the schema.
pub fn service_rule_problems(form: InputForm, task: &Map<String, Value>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let whole_task = form != InputForm::ContainerDefinitions;
    let fargate = requires_fargate(task);
    let network_mode = task.get("networkMode").and_then(Value::as_str);

    if whole_task {
        if let Some(family) = task.get("family").and_then(Value::as_str) {
            if !is_valid_name(family) {
                problems.push(name_problem("/family".into(), "family", family));
            }
        }
    }

    let empty = Vec::new();
    let containers = task
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if containers.is_empty() {
        problems.push(
            Problem::at(
                ProblemKind::Schema,
                "/containerDefinitions",
                "the task has no containers",
            )
            .with_hint("add at least one container definition"),
        );
        return problems;
    }
    if containers.len() > MAX_CONTAINERS {
        problems.push(
            Problem::at(
                ProblemKind::Limit,
                "/containerDefinitions",
                format!(
                    "{} containers; ECS allows at most {MAX_CONTAINERS} per task definition",
                    containers.len()
                ),
            )
            .with_hint("split the task, or drop a sidecar (the limit is not adjustable)"),
        );
    }

    let mut names = HashSet::new();
    for (index, container) in containers.iter().enumerate() {
        let at = format!("/containerDefinitions/{index}");
        match container.get("name").and_then(Value::as_str) {
            None => problems.push(
                Problem::at(ProblemKind::Schema, at.clone(), "container has no `name`")
                    .with_hint("add a unique name"),
            ),
            Some(name) if !is_valid_name(name) => {
                problems.push(name_problem(format!("{at}/name"), "container name", name))
            }
            Some(name) if !names.insert(name) => problems.push(
                Problem::at(
                    ProblemKind::InvalidName,
                    format!("{at}/name"),
                    format!("container name `{name}` is used twice"),
                )
                .with_hint("container names must be unique within the task"),
            ),
            Some(_) => {}
        }
        match container.get("image").and_then(Value::as_str) {
            None => problems.push(
                Problem::at(ProblemKind::Schema, at.clone(), "container has no `image`")
                    .with_hint("add the image to run"),
            ),
            Some(image) if image.trim().is_empty() => problems.push(
                Problem::at(
                    ProblemKind::Schema,
                    format!("{at}/image"),
                    "the image is empty",
                )
                .with_hint("fill in the image reference (a deploy step usually renders it)"),
            ),
            Some(_) => {}
        }
    }

    if !containers.iter().any(is_essential) {
        problems.push(
            Problem::at(
                ProblemKind::Reference,
                "/containerDefinitions",
                "no container is essential",
            )
            .with_hint("mark at least one container `\"essential\": true` (absent counts as true)"),
        );
    }

    let find = |name: &str| {
        containers
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
    };
    let volume_names: Vec<&str> = task
        .get("volumes")
        .and_then(Value::as_array)
        .map(|volumes| {
            volumes
                .iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();

    for (index, container) in containers.iter().enumerate() {
        let at = format!("/containerDefinitions/{index}");
        let own_name = container
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for (dep_index, dependency) in array_items(container.get("dependsOn")).enumerate() {
            let dep_at = format!("{at}/dependsOn/{dep_index}");
            let target_name = dependency
                .get("containerName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let condition = dependency
                .get("condition")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match find(target_name) {
                None => problems.push(
                    Problem::at(
                        ProblemKind::Reference,
                        format!("{dep_at}/containerName"),
                        format!(
                            "depends on `{target_name}`, which is not a container of this task"
                        ),
                    )
                    .with_hint("name an existing container or remove the dependency"),
                ),
                Some(_) if target_name == own_name => problems.push(
                    Problem::at(
                        ProblemKind::Reference,
                        format!("{dep_at}/containerName"),
                        "a container cannot depend on itself",
                    )
                    .with_hint("remove the dependency"),
                ),
                Some(target) => {
                    if matches!(condition, "COMPLETE" | "SUCCESS") && is_essential(target) {
                        problems.push(
                            Problem::at(ProblemKind::Reference, format!("{dep_at}/condition"), format!("{condition} cannot be set on `{target_name}`, an essential container"))
                                .with_hint(format!("mark `{target_name}` non-essential or use START / HEALTHY")),
                        );
                    }
                    if condition == "HEALTHY" && target.get("healthCheck").is_none() {
                        problems.push(
                            Problem::at(
                                ProblemKind::Reference,
                                format!("{dep_at}/condition"),
                                format!("HEALTHY needs `{target_name}` to have a healthCheck"),
                            )
                            .with_hint(format!(
                                "add a healthCheck to `{target_name}` or use START"
                            )),
                        );
                    }
                }
            }
        }
        for (from_index, source) in array_items(container.get("volumesFrom")).enumerate() {
            let source_name = source
                .get("sourceContainer")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if find(source_name).is_none() {
                problems.push(
                    Problem::at(
                        ProblemKind::Reference,
                        format!("{at}/volumesFrom/{from_index}/sourceContainer"),
                        format!("`{source_name}` is not a container of this task"),
                    )
                    .with_hint("name an existing container"),
                );
            }
        }
        if whole_task {
            for (mount_index, mount) in array_items(container.get("mountPoints")).enumerate() {
                let volume = mount
                    .get("sourceVolume")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !volume_names.contains(&volume) {
                    problems.push(
                        Problem::at(
                            ProblemKind::Reference,
                            format!("{at}/mountPoints/{mount_index}/sourceVolume"),
                            format!("volume `{volume}` is not in the task's `volumes`"),
                        )
                        .with_hint("add the volume to `volumes` or fix the name"),
                    );
                }
            }
        }
        if container
            .get("links")
            .and_then(Value::as_array)
            .is_some_and(|links| !links.is_empty())
            && whole_task
            && !matches!(network_mode, None | Some("bridge"))
        {
            problems.push(
                Problem::at(
                    ProblemKind::Platform,
                    format!("{at}/links"),
                    format!(
                        "links only work with the bridge network mode, not `{}`",
                        network_mode.unwrap_or_default()
                    ),
                )
                .with_hint(
                    "remove the links: under awsvpc, containers reach each other on localhost",
                ),
            );
        }
        rules_for_network(network_mode, fargate, container, &at, &mut problems);
        if fargate {
            fargate_container_rules(container, &at, &mut problems);
        }
        if let (Some(hard), Some(soft)) = (
            container.get("memory").and_then(Value::as_u64),
            container.get("memoryReservation").and_then(Value::as_u64),
        ) {
            if hard < soft {
                problems.push(
                    Problem::at(
                        ProblemKind::Resources,
                        format!("{at}/memoryReservation"),
                        format!("memoryReservation {soft} is above memory {hard}"),
                    )
                    .with_hint("the soft limit must be below the hard limit"),
                );
            }
        }
    }

    if whole_task {
        task_resource_rules(task, containers, fargate, &mut problems);
        if fargate {
            fargate_task_rules(task, network_mode, &mut problems);
        }
        let mut seen_volumes = HashSet::new();
        for (index, name) in volume_names.iter().enumerate() {
            if !is_valid_name(name) {
                problems.push(name_problem(
                    format!("/volumes/{index}/name"),
                    "volume name",
                    name,
                ));
            } else if !seen_volumes.insert(*name) {
                problems.push(
                    Problem::at(
                        ProblemKind::InvalidName,
                        format!("/volumes/{index}/name"),
                        format!("volume `{name}` is defined twice"),
                    )
                    .with_hint("volume names must be unique"),
                );
            }
        }
    }

    let size = serde_json::to_vec(task).map_or(0, |bytes| bytes.len());
    if size > MAX_TASK_DEFINITION_BYTES {
        problems.push(
            Problem::at(ProblemKind::Limit, "", format!("the task definition is {size} bytes; ECS refuses more than {MAX_TASK_DEFINITION_BYTES} (64 KiB)"))
                .with_hint("move large values (environment, scripts) to environmentFiles, secrets or the image"),
        );
    }
    problems
}

fn rules_for_network(
    network_mode: Option<&str>,
    fargate: bool,
    container: &Value,
    at: &str,
    problems: &mut Vec<Problem>,
) {
    let mode = network_mode.unwrap_or(if fargate { "awsvpc" } else { "bridge" });
    let empty = Vec::new();
    let mappings = container
        .get("portMappings")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if mode == "awsvpc" {
        for (index, mapping) in mappings.iter().enumerate() {
            let host = mapping.get("hostPort").and_then(Value::as_u64);
            let inner = mapping.get("containerPort").and_then(Value::as_u64);
            if let (Some(host), Some(inner)) = (host, inner) {
                if host != inner && host != 0 {
                    problems.push(
                        Problem::at(ProblemKind::Platform, format!("{at}/portMappings/{index}/hostPort"), format!("under awsvpc hostPort must equal containerPort ({inner}), not {host}"))
                            .with_hint(format!("set hostPort to {inner} or remove it")),
                    );
                }
            }
        }
        if container.get("hostname").is_some() {
            problems.push(
                Problem::at(
                    ProblemKind::Platform,
                    format!("{at}/hostname"),
                    "hostname is not supported with the awsvpc network mode",
                )
                .with_hint("remove it"),
            );
        }
    }
    if mode == "none" && !mappings.is_empty() {
        problems.push(
            Problem::at(
                ProblemKind::Platform,
                format!("{at}/portMappings"),
                "the none network mode allows no port mappings",
            )
            .with_hint("remove them or change networkMode"),
        );
    }
}

fn fargate_container_rules(container: &Value, at: &str, problems: &mut Vec<Problem>) {
    let mut unsupported = |pointer: String, what: &str| {
        problems.push(
            Problem::at(
                ProblemKind::Platform,
                pointer,
                format!("{what} is not supported on Fargate"),
            )
            .with_hint("remove it, or drop FARGATE from requiresCompatibilities"),
        );
    };
    if container.get("privileged").and_then(Value::as_bool) == Some(true) {
        unsupported(format!("{at}/privileged"), "privileged");
    }
    if container
        .get("dockerSecurityOptions")
        .and_then(Value::as_array)
        .is_some_and(|o| !o.is_empty())
    {
        unsupported(
            format!("{at}/dockerSecurityOptions"),
            "dockerSecurityOptions",
        );
    }
    if let Some(linux) = container.get("linuxParameters") {
        for key in ["devices", "sharedMemorySize", "maxSwap", "swappiness"] {
            if linux
                .get(key)
                .is_some_and(|v| !v.as_array().is_some_and(Vec::is_empty))
            {
                unsupported(
                    format!("{at}/linuxParameters/{key}"),
                    &format!("linuxParameters.{key}"),
                );
            }
        }
        for (index, capability) in string_list(linux.pointer("/capabilities/add"))
            .into_iter()
            .enumerate()
        {
            if capability != "SYS_PTRACE" {
                problems.push(
                    Problem::at(
                        ProblemKind::Platform,
                        format!("{at}/linuxParameters/capabilities/add/{index}"),
                        format!("Fargate only allows adding SYS_PTRACE, not {capability}"),
                    )
                    .with_hint("remove the capability"),
                );
            }
        }
    }
    for key in ["startTimeout", "stopTimeout"] {
        if let Some(seconds) = container.get(key).and_then(Value::as_i64) {
            if !(2..=120).contains(&seconds) {
                problems.push(
                    Problem::at(
                        ProblemKind::Platform,
                        format!("{at}/{key}"),
                        format!("{key} {seconds} is outside Fargate's 2-120 seconds"),
                    )
                    .with_hint("use a value from 2 to 120"),
                );
            }
        }
    }
}

fn fargate_task_rules(
    task: &Map<String, Value>,
    network_mode: Option<&str>,
    problems: &mut Vec<Problem>,
) {
    if network_mode != Some("awsvpc") {
        problems.push(
            Problem::at(
                ProblemKind::Platform,
                "/networkMode",
                format!(
                    "Fargate requires networkMode awsvpc, not {}",
                    network_mode.map_or("absent".to_owned(), |m| format!("`{m}`"))
                ),
            )
            .with_hint("set \"networkMode\": \"awsvpc\""),
        );
    }
    if let Some(pid_mode) = task.get("pidMode").and_then(Value::as_str) {
        if pid_mode != "task" {
            problems.push(
                Problem::at(
                    ProblemKind::Platform,
                    "/pidMode",
                    format!("Fargate only allows pidMode \"task\", not \"{pid_mode}\""),
                )
                .with_hint("set it to \"task\""),
            );
        }
    }
    if task.get("ipcMode").is_some() {
        problems.push(
            Problem::at(
                ProblemKind::Platform,
                "/ipcMode",
                "ipcMode is not supported on Fargate",
            )
            .with_hint("remove it"),
        );
    }
    if let Some(size) = task
        .get("ephemeralStorage")
        .and_then(|e| e.get("sizeInGiB"))
        .and_then(Value::as_i64)
    {
        if !(21..=200).contains(&size) {
            problems.push(
                Problem::at(
                    ProblemKind::Platform,
                    "/ephemeralStorage/sizeInGiB",
                    format!("ephemeral storage {size} GiB is outside 21-200"),
                )
                .with_hint("use 21 to 200 GiB"),
            );
        }
    }
    for (index, volume) in array_items(task.get("volumes")).enumerate() {
        if volume.get("dockerVolumeConfiguration").is_some() {
            problems.push(
                Problem::at(
                    ProblemKind::Platform,
                    format!("/volumes/{index}/dockerVolumeConfiguration"),
                    "docker volumes are not supported on Fargate",
                )
                .with_hint("use a task volume (no host) or EFS"),
            );
        }
        if volume.pointer("/host/sourcePath").is_some() {
            problems.push(
                Problem::at(
                    ProblemKind::Platform,
                    format!("/volumes/{index}/host/sourcePath"),
                    "host paths are not supported on Fargate",
                )
                .with_hint("remove `host` to get a task volume, or use EFS"),
            );
        }
    }
}

fn task_resource_rules(
    task: &Map<String, Value>,
    containers: &[Value],
    fargate: bool,
    problems: &mut Vec<Problem>,
) {
    let cpu_text = task.get("cpu").and_then(Value::as_str);
    let memory_text = task.get("memory").and_then(Value::as_str);
    let cpu = cpu_text.map(|text| (text, parse_cpu_units(text)));
    let memory = memory_text.map(|text| (text, parse_memory_mib(text)));
    if let Some((text, None)) = cpu {
        problems.push(
            Problem::at(
                ProblemKind::Resources,
                "/cpu",
                format!("cannot read cpu \"{text}\""),
            )
            .with_hint("write CPU units (\"256\") or vCPUs (\"1 vCPU\")"),
        );
    }
    if let Some((text, None)) = memory {
        problems.push(
            Problem::at(
                ProblemKind::Resources,
                "/memory",
                format!("cannot read memory \"{text}\""),
            )
            .with_hint("write MiB (\"512\") or GB (\"2 GB\")"),
        );
    }
    let cpu = cpu.and_then(|(_, units)| units);
    let memory = memory.and_then(|(_, mib)| mib);
    if fargate {
        match (cpu_text, memory_text) {
            (None, _) => problems.push(
                Problem::at(
                    ProblemKind::Resources,
                    "",
                    "Fargate needs a task-level `cpu`",
                )
                .with_hint("add e.g. \"cpu\": \"256\""),
            ),
            (_, None) => problems.push(
                Problem::at(
                    ProblemKind::Resources,
                    "",
                    "Fargate needs a task-level `memory`",
                )
                .with_hint("add e.g. \"memory\": \"512\""),
            ),
            _ => {}
        }
        if let (Some(cpu), Some(memory)) = (cpu, memory) {
            match fargate_memory_choices(cpu) {
                None => problems.push(
                    Problem::at(
                        ProblemKind::Resources,
                        "/cpu",
                        format!("Fargate has no {cpu} CPU size"),
                    )
                    .with_hint("use 256, 512, 1024, 2048, 4096, 8192 or 16384"),
                ),
                Some(choices) if !choices.contains(&memory) => problems.push(
                    Problem::at(
                        ProblemKind::Resources,
                        "/memory",
                        format!("Fargate does not offer {memory} MiB with {cpu} CPU units"),
                    )
                    .with_hint(format!(
                        "with cpu {cpu} use {} to {} MiB",
                        choices[0],
                        choices[choices.len() - 1]
                    )),
                ),
                Some(_) => {}
            }
        }
    }
    let container_memory = |container: &Value| {
        container
            .get("memory")
            .and_then(Value::as_u64)
            .or_else(|| container.get("memoryReservation").and_then(Value::as_u64))
    };
    match memory {
        None if memory_text.is_none() => {
            for (index, container) in containers.iter().enumerate() {
                if container_memory(container).is_none() {
                    problems.push(
                        Problem::at(ProblemKind::Resources, format!("/containerDefinitions/{index}"), "without a task-level memory every container needs `memory` or `memoryReservation`")
                            .with_hint("set task memory, or memoryReservation on this container"),
                    );
                }
            }
        }
        Some(task_memory) => {
            let total: u64 = containers.iter().filter_map(container_memory).sum();
            if total > task_memory {
                problems.push(
                    Problem::at(ProblemKind::Resources, "/memory", format!("the containers reserve {total} MiB, more than the task's {task_memory} MiB"))
                        .with_hint("raise the task memory or lower the containers' memory"),
                );
            }
        }
        None => {}
    }
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
        ] {
            assert!(looks_like_placeholder(text), "{text}");
        }
        for text in [
            "nginx:1.25",
            "a<b",
            "public.ecr.aws/x/y@sha256:abc",
            "echo '<html><h1>hi</h1>'",
        ] {
            assert!(!looks_like_placeholder(text), "{text}");
        }
    }
}
