//! The rules the service enforces that the ECS model cannot express: names, limits, references,
//! network modes, Fargate's options and cpu/memory sizes. Each rule reads a document already
//! known to satisfy the schema.

use super::{
    is_essential, is_valid_name, name_problem, parse_cpu_units, parse_memory_mib, requires_fargate,
    string_list, MAX_CONTAINERS, MAX_TASK_DEFINITION_BYTES,
};
use crate::array_items;
use crate::parse::InputForm;
use crate::problem::{Problem, ProblemKind};
use serde_json::{Map, Value};
use std::collections::HashSet;

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
    if !container_count_rules(containers, &mut problems) {
        return problems;
    }
    container_identity_rules(containers, &mut problems);
    essential_rule(containers, &mut problems);
    let volume_names = volume_names(task);
    for (index, container) in containers.iter().enumerate() {
        let at = format!("/containerDefinitions/{index}");
        reference_rules(
            containers,
            container,
            &at,
            whole_task.then_some(volume_names.as_slice()),
            &mut problems,
        );
        if whole_task {
            links_rule(container, &at, network_mode, &mut problems);
        }
        rules_for_network(network_mode, fargate, container, &at, &mut problems);
        if fargate {
            fargate_container_rules(container, &at, &mut problems);
        }
        memory_reservation_rule(container, &at, &mut problems);
    }
    if whole_task {
        task_resource_rules(task, containers, fargate, &mut problems);
        if fargate {
            fargate_task_rules(task, network_mode, &mut problems);
        }
        volume_name_rules(&volume_names, &mut problems);
    }
    size_rule(task, &mut problems);
    problems
}

/// At least one container, at most [`MAX_CONTAINERS`]. False when there are none (nothing else
/// is worth checking then).
fn container_count_rules(containers: &[Value], problems: &mut Vec<Problem>) -> bool {
    if containers.is_empty() {
        problems.push(
            Problem::at(
                ProblemKind::Schema,
                "/containerDefinitions",
                "the task has no containers",
            )
            .with_hint("add at least one container definition"),
        );
        return false;
    }
    if containers.len() > MAX_CONTAINERS {
        problems.push(too_many_containers(containers.len()));
    }
    true
}

/// `count` containers, over the service's limit.
pub(super) fn too_many_containers(count: usize) -> Problem {
    Problem::at(
        ProblemKind::Limit,
        "/containerDefinitions",
        format!("{count} containers; ECS allows at most {MAX_CONTAINERS} per task definition"),
    )
    .with_hint("split the task, or drop a sidecar (the limit is not adjustable)")
}

/// Every container has a valid, unique name and an image.
fn container_identity_rules(containers: &[Value], problems: &mut Vec<Problem>) {
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
}

/// ECS needs at least one essential container.
fn essential_rule(containers: &[Value], problems: &mut Vec<Problem>) {
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
}

/// The names of the task's volumes.
fn volume_names(task: &Map<String, Value>) -> Vec<&str> {
    array_items(task.get("volumes"))
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect()
}

/// `dependsOn` and `volumesFrom` name containers of the task (and a dependency's condition fits
/// its target); `mountPoints` name its volumes (`volumes` is `None` for a container list, whose
/// task-level volumes are unknown).
fn reference_rules(
    containers: &[Value],
    container: &Value,
    at: &str,
    volumes: Option<&[&str]>,
    problems: &mut Vec<Problem>,
) {
    dependency_rules(containers, container, at, problems);
    for (from_index, source) in array_items(container.get("volumesFrom")).enumerate() {
        let source_name = source
            .get("sourceContainer")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if container_named(containers, source_name).is_none() {
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
    if let Some(volume_names) = volumes {
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
}

/// The container of that name.
fn container_named<'a>(containers: &'a [Value], name: &str) -> Option<&'a Value> {
    containers
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
}

/// Each `dependsOn` names another container of the task, with a condition that fits it.
fn dependency_rules(
    containers: &[Value],
    container: &Value,
    at: &str,
    problems: &mut Vec<Problem>,
) {
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
        match container_named(containers, target_name) {
            None => problems.push(
                Problem::at(
                    ProblemKind::Reference,
                    format!("{dep_at}/containerName"),
                    format!("depends on `{target_name}`, which is not a container of this task"),
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
                        .with_hint(format!("add a healthCheck to `{target_name}` or use START")),
                    );
                }
            }
        }
    }
}

/// Links only work in the bridge network mode.
fn links_rule(
    container: &Value,
    at: &str,
    network_mode: Option<&str>,
    problems: &mut Vec<Problem>,
) {
    if container
        .get("links")
        .and_then(Value::as_array)
        .is_some_and(|links| !links.is_empty())
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
            .with_hint("remove the links: under awsvpc, containers reach each other on localhost"),
        );
    }
}

/// The soft memory limit is below the hard one.
fn memory_reservation_rule(container: &Value, at: &str, problems: &mut Vec<Problem>) {
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

/// Volume names are valid and unique.
fn volume_name_rules(volume_names: &[&str], problems: &mut Vec<Problem>) {
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

/// The whole task definition fits ECS's 64 KiB.
fn size_rule(task: &Map<String, Value>, problems: &mut Vec<Problem>) {
    let size = serde_json::to_vec(task).map_or(0, |bytes| bytes.len());
    if size > MAX_TASK_DEFINITION_BYTES {
        problems.push(
            Problem::at(ProblemKind::Limit, "", format!("the task definition is {size} bytes; ECS refuses more than {MAX_TASK_DEFINITION_BYTES} (64 KiB)"))
                .with_hint("move large values (environment, scripts) to environmentFiles, secrets or the image"),
        );
    }
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

/// Task cpu and memory can be read, fit Fargate's sizes, and hold the containers' memory.
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
        fargate_size_rules(cpu_text, memory_text, cpu.zip(memory), problems);
    }
    container_memory_rules(containers, memory, memory_text.is_some(), problems);
}

/// Fargate takes only its own pairs of task cpu and memory, and needs both.
fn fargate_size_rules(
    cpu_text: Option<&str>,
    memory_text: Option<&str>,
    readable: Option<(u64, u64)>,
    problems: &mut Vec<Problem>,
) {
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
    if let Some((cpu, memory)) = readable {
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

/// The containers' memory fits the task's; without a task memory each container sets its own.
fn container_memory_rules(
    containers: &[Value],
    memory: Option<u64>,
    memory_given: bool,
    problems: &mut Vec<Problem>,
) {
    let container_memory = |container: &Value| {
        container
            .get("memory")
            .and_then(Value::as_u64)
            .or_else(|| container.get("memoryReservation").and_then(Value::as_u64))
    };
    match memory {
        None if !memory_given => {
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
