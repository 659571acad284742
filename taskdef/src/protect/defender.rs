//! The container protect adds: the defender, its environment (console URL, token plain or as a
//! secret), health check, capabilities, and the protection record as a label.

use super::record::ProtectionRecord;
use super::{
    Mode, ProtectOptions, TokenSource, DEFENDER_CONTAINER, MOUNT_PATH, PROTECTION_LABEL, VOLUME,
};
use crate::summary::Warning;
use serde_json::{json, Map, Value};

/// The image run as the defender unless the user names another one.
pub const DEFAULT_DEFENDER_IMAGE: &str = concat!(
    "public.ecr.aws/palisade/defender:",
    env!("CARGO_PKG_VERSION")
);
/// The warning while no defender image is given: the built-in default is not published anywhere,
/// so a task naming it never starts (the console fills in the image it published).
pub const NO_DEFENDER_IMAGE: &str = "no defender image is published yet: publish it in Settings (or `palisade defender-image publish`) or give one (--defender-image); the default image cannot be pulled, so this task would never start";

/// The defender's soft memory limit, set only where ECS requires one per container.
pub const DEFENDER_MEMORY_RESERVATION_MIB: u64 = 32;

/// The defender container for `options`, carrying `record`.
pub(super) fn defender_container(
    options: &ProtectOptions,
    record: &ProtectionRecord,
    log_configuration: Option<Value>,
    task: &Map<String, Value>,
    warnings: &mut Vec<Warning>,
) -> Value {
    let defender_pointer = "/containerDefinitions/-".to_owned();
    let mut environment = vec![json!({ "name": "PALISADE_MODE", "value": options.mode.as_str() })];
    match options.console_url.as_deref().filter(|url| !url.trim().is_empty()) {
        Some(url) => environment.push(json!({ "name": "PALISADE_CONSOLE_URL", "value": url.trim() })),
        None => warnings.push(Warning {
            pointer: Some(defender_pointer.clone()),
            message: "no console URL: the defender will protect but not report; give --console-url (the URL defenders dial)".into(),
        }),
    }
    let mut secrets = Vec::new();
    match &options.token {
        Some(TokenSource::Plain(token)) => {
            environment.push(json!({ "name": "PALISADE_TOKEN", "value": token }));
            warnings.push(Warning {
                pointer: Some(defender_pointer.clone()),
                message: "the defender token is in plain `environment`: anyone with ecs:DescribeTaskDefinition can read it; \
                          store it in Secrets Manager or SSM and use --token-secret ARN"
                    .into(),
            });
        }
        Some(TokenSource::Secret(arn)) => {
            secrets.push(json!({ "name": "PALISADE_TOKEN", "valueFrom": arn }));
            warnings.extend(execution_role_warning(task, "the token"));
        }
        None => warnings.push(Warning {
            pointer: Some(defender_pointer),
            message: "no token: the console will refuse this defender; give --token-secret ARN (or --token)".into(),
        }),
    }
    let image = options
        .defender_image
        .as_deref()
        .map(str::trim)
        .filter(|image| !image.is_empty());
    if image.is_none() {
        warnings.push(Warning {
            pointer: Some("/containerDefinitions/-/image".into()),
            message: NO_DEFENDER_IMAGE.into(),
        });
    }
    let record_text = serde_json::to_string(record).unwrap_or_default();
    let mut defender = json!({
        "name": DEFENDER_CONTAINER,
        "image": image.unwrap_or(DEFAULT_DEFENDER_IMAGE),
        "essential": options.mode == Mode::Security,
        "entryPoint": ["/palisade-defender", "run"],
        "environment": environment,
        "mountPoints": [{ "sourceVolume": VOLUME, "containerPath": MOUNT_PATH, "readOnly": false }],
        "linuxParameters": { "capabilities": { "add": ["SYS_PTRACE"] } },
        "healthCheck": {
            "command": ["CMD", "/palisade-defender", "health"],
            "interval": 5,
            "timeout": 2,
            "retries": 3,
            "startPeriod": 10
        },
        "dockerLabels": { PROTECTION_LABEL: record_text },
    });
    if !secrets.is_empty() {
        defender["secrets"] = Value::Array(secrets);
    }
    fit_sidecar(&mut defender, task, log_configuration.as_ref());
    defender
}

/// What every container a protection adds shares: a memory figure where ECS needs one, and the
/// first workload's log configuration.
pub(super) fn fit_sidecar(
    container: &mut Value,
    task: &Map<String, Value>,
    log_configuration: Option<&Value>,
) {
    if !task.contains_key("memory") {
        // Without task-level memory ECS needs a per-container figure; with it, the sidecar
        // shares the task's memory and never pushes the containers' sum past it.
        container["memoryReservation"] = json!(DEFENDER_MEMORY_RESERVATION_MIB);
    }
    if let Some(log_configuration) = log_configuration {
        // The sidecar's own logs go where the first workload's go.
        container["logConfiguration"] = log_configuration.clone();
    }
}

/// `what` (the defender's token, a vendor's key) comes from a secret, and the task has no
/// execution role to read it with: ECS would not start it. (A container list has no task-level
/// keys to judge.)
pub(super) fn execution_role_warning(task: &Map<String, Value>, what: &str) -> Option<Warning> {
    (!task.contains_key("executionRoleArn") && task.contains_key("family")).then(|| Warning {
        pointer: Some("/executionRoleArn".into()),
        message: format!("{what} is a secret, but the task has no executionRoleArn: ECS needs one (allowed to read the secret) to start the task"),
    })
}
