//! The containers the vendors' profiles add, as their published Fargate recipes show them, with
//! the key as a `secrets` reference (plain only when the user insists, with a warning).

use super::defender::{execution_role_warning, fit_sidecar};
use super::profile::{
    collector_parts, DatadogCws, SysdigServerless, DATADOG_AGENT, DATADOG_INIT, DATADOG_MOUNT,
    DATADOG_VOLUME, SYSDIG_CONTAINER,
};
use super::record::ProtectionRecord;
use super::{TokenSource, PROTECTION_LABEL};
use crate::problem::Problem;
use crate::summary::Warning;
use serde_json::{json, Map, Value};

fn record_label(record: &ProtectionRecord) -> Value {
    json!({ PROTECTION_LABEL: serde_json::to_string(record).unwrap_or_default() })
}

/// Warns about a plain key or a missing one, and answers where the key goes.
fn key_placement(
    key: Option<&TokenSource>,
    variable: &str,
    option: &str,
    pointer: &str,
    task: &Map<String, Value>,
    warnings: &mut Vec<Warning>,
) -> (Option<Value>, Option<Value>) {
    match key {
        Some(TokenSource::Plain(key)) => {
            warnings.push(Warning {
                pointer: Some(pointer.to_owned()),
                message: format!("{variable} is in plain `environment`: anyone with ecs:DescribeTaskDefinition can read it; store it in Secrets Manager or SSM and use {option}-secret ARN"),
            });
            (Some(json!({ "name": variable, "value": key })), None)
        }
        Some(TokenSource::Secret(arn)) => {
            warnings.extend(execution_role_warning(task, variable));
            (None, Some(json!({ "name": variable, "valueFrom": arn })))
        }
        None => {
            warnings.push(Warning {
                pointer: Some(pointer.to_owned()),
                message: format!(
                    "no {variable}: the vendor's agent cannot report; give {option}-secret ARN"
                ),
            });
            (None, None)
        }
    }
}

/// Datadog: the agent (essential, health-checked, the record on it) and the init container that
/// copies `cws-instrumentation` into the task volume.
pub(super) fn datadog_containers(
    datadog: &DatadogCws,
    record: &ProtectionRecord,
    task: &Map<String, Value>,
    log_configuration: Option<&Value>,
    warnings: &mut Vec<Warning>,
) -> Vec<Value> {
    let (plain, secret) = key_placement(
        datadog.api_key.as_ref(),
        "DD_API_KEY",
        "--datadog-api-key",
        "/containerDefinitions/-",
        task,
        warnings,
    );
    let mut environment = Vec::new();
    environment.extend(plain);
    environment.extend([
        json!({ "name": "ECS_FARGATE", "value": "true" }),
        json!({ "name": "DD_SITE", "value": datadog.site.trim() }),
        json!({ "name": "DD_RUNTIME_SECURITY_CONFIG_ENABLED", "value": "true" }),
        json!({ "name": "DD_RUNTIME_SECURITY_CONFIG_EBPFLESS_ENABLED", "value": "true" }),
    ]);
    let mut agent = json!({
        "name": DATADOG_AGENT,
        "image": datadog.agent_image.trim(),
        "essential": true,
        "environment": environment,
        "healthCheck": {
            "command": ["CMD-SHELL", "/probe.sh"],
            "interval": 30,
            "timeout": 5,
            "retries": 2,
            "startPeriod": 60
        },
        "dockerLabels": record_label(record),
    });
    if let Some(secret) = secret {
        agent["secrets"] = json!([secret]);
    }
    let mut init = json!({
        "name": DATADOG_INIT,
        "image": datadog.cws_image.trim(),
        "essential": false,
        "user": "0",
        "command": ["/cws-instrumentation", "setup", "--cws-volume-mount", DATADOG_MOUNT],
        "mountPoints": [{ "sourceVolume": DATADOG_VOLUME, "containerPath": DATADOG_MOUNT, "readOnly": false }],
    });
    fit_sidecar(&mut agent, task, log_configuration);
    fit_sidecar(&mut init, task, log_configuration);
    vec![agent, init]
}

/// Sysdig: the instrumentation container (non-essential, its own logwriter entry point, the
/// record on it) whose `/opt/draios` the workloads mount.
pub(super) fn sysdig_container(
    sysdig: &SysdigServerless,
    record: &ProtectionRecord,
    task: &Map<String, Value>,
    log_configuration: Option<&Value>,
    warnings: &mut Vec<Warning>,
) -> Value {
    // Where the key goes is decided per workload (profile::workload_changes); here only the
    // warnings, once.
    let _ = key_placement(
        sysdig.access_key.as_ref(),
        "SYSDIG_ACCESS_KEY",
        "--sysdig-access-key",
        "/containerDefinitions",
        task,
        warnings,
    );
    let mut container = json!({
        "name": SYSDIG_CONTAINER,
        "image": sysdig.image.trim(),
        "essential": false,
        "entryPoint": ["/opt/draios/bin/logwriter"],
        "dockerLabels": record_label(record),
    });
    fit_sidecar(&mut container, task, log_configuration);
    container
}

/// What is wrong with a profile's own options (a collector that is not HOST:PORT, an empty
/// image or site).
pub(super) fn option_problems(profile: &super::Profile) -> Vec<Problem> {
    let problem =
        |message: String, hint: &str| Problem::of_options(message).with_hint(hint.to_owned());
    let mut problems = Vec::new();
    let mut check_key = |key: Option<&TokenSource>, option: &str| {
        if let Some(TokenSource::Secret(arn) | TokenSource::Plain(arn)) = key {
            if arn.trim().is_empty() || arn.contains(char::is_whitespace) {
                problems.push(problem(
                    format!("{option}: empty or with spaces"),
                    "give the secret's ARN (Secrets Manager or SSM Parameter Store)",
                ));
            }
        }
    };
    match profile {
        super::Profile::Palisade => {}
        super::Profile::DatadogCws(datadog) => {
            check_key(datadog.api_key.as_ref(), "--datadog-api-key-secret");
            for (value, option) in [
                (&datadog.site, "--datadog-site"),
                (&datadog.agent_image, "--datadog-agent-image"),
                (&datadog.cws_image, "--datadog-cws-image"),
            ] {
                if value.trim().is_empty() || value.trim().contains(char::is_whitespace) {
                    problems.push(problem(
                        format!("{option} is empty or has spaces"),
                        "leave it out for the default",
                    ));
                }
            }
        }
        super::Profile::SysdigServerless(sysdig) => {
            check_key(sysdig.access_key.as_ref(), "--sysdig-access-key-secret");
            if collector_parts(&sysdig.collector).is_none() {
                problems.push(problem(
                    format!(
                        "--sysdig-collector `{}` is not HOST:PORT",
                        sysdig.collector.trim()
                    ),
                    "give the orchestrator agent's (or collector's) host and port, like orchestrator.internal:6667",
                ));
            }
            if sysdig.image.trim().is_empty() || sysdig.image.trim().contains(char::is_whitespace) {
                problems.push(problem(
                    "--sysdig-image is empty or has spaces".into(),
                    "leave it out for the default",
                ));
            }
        }
    }
    problems
}
