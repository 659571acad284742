//! The `palisade` profile, the bundled defender: the container protect adds (its environment
//! with the console URL and the token plain or as a secret, health check, capabilities, the
//! protection record as a label), and each workload waiting for it to be healthy.

use super::sidecars::{execution_role_warning, fit_sidecar};
use super::{Install, Recipe, Sidecars, WorkloadChanges, Wrapper};
use crate::problem::Problem;
use crate::protect::record::ProtectionRecord;
use crate::protect::{
    Mode, ProtectOptions, TokenSource, DEFENDER_CONTAINER, MOUNT_PATH, PROTECTION_LABEL, VOLUME,
    WRAPPER_PREFIX,
};
use crate::summary::Warning;
use serde_json::{json, Map, Value};

pub(super) const RECIPE: Recipe = Recipe {
    name: "palisade",
    title: "Palisade defender",
    watcher: "the defender",
    added_containers: &[DEFENDER_CONTAINER],
    volume: Some((VOLUME, MOUNT_PATH, "the defender copies its binary there")),
    task_pid_mode: true,
    wrapper: Wrapper::Prefix(&WRAPPER_PREFIX),
    workload_variables: &[],
    workload_ptrace: false,
};

/// The bundled defender; its settings are the protection's own (mode, console URL, token,
/// defender image).
pub(super) struct Bundled;

impl Install for Bundled {
    fn option_problems(&self) -> Vec<Problem> {
        Vec::new()
    }

    fn containers(&self, sidecars: &Sidecars<'_>, warnings: &mut Vec<Warning>) -> Vec<Value> {
        vec![defender_container(
            sidecars.options,
            sidecars.record,
            sidecars.log_configuration,
            sidecars.task,
            warnings,
        )]
    }

    fn workload_changes(&self) -> WorkloadChanges {
        WorkloadChanges {
            depends_on: vec![
                json!({ "containerName": DEFENDER_CONTAINER, "condition": "HEALTHY" }),
            ],
            ..WorkloadChanges::default()
        }
    }

    fn added_summary(&self, options: &ProtectOptions) -> String {
        format!("{DEFENDER_CONTAINER} ({} mode)", options.mode.as_str())
    }
}

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
fn defender_container(
    options: &ProtectOptions,
    record: &ProtectionRecord,
    log_configuration: Option<&Value>,
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
    fit_sidecar(&mut defender, task, log_configuration);
    defender
}
