//! What the containers every profile adds share: the protection record as a label, a key placed
//! as a `secrets` reference (plain only when the user insists, with a warning), a memory figure
//! where ECS needs one, the first workload's logs, and the checks of a vendor's settings.

use crate::problem::Problem;
use crate::protect::record::ProtectionRecord;
use crate::protect::{TokenSource, PROTECTION_LABEL};
use crate::summary::Warning;
use serde_json::{json, Map, Value};

use crate::protect::DEFENDER_MEMORY_RESERVATION_MIB;

pub(super) fn record_label(record: &ProtectionRecord) -> Value {
    json!({ PROTECTION_LABEL: serde_json::to_string(record).unwrap_or_default() })
}

/// Warns about a plain key or a missing one, and answers where the key goes.
pub(super) fn key_placement(
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

/// What every container a protection adds shares: a memory figure where ECS needs one, and the
/// first workload's log configuration.
pub(crate) fn fit_sidecar(
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
pub(crate) fn execution_role_warning(task: &Map<String, Value>, what: &str) -> Option<Warning> {
    (!task.contains_key("executionRoleArn") && task.contains_key("family")).then(|| Warning {
        pointer: Some("/executionRoleArn".into()),
        message: format!("{what} is a secret, but the task has no executionRoleArn: ECS needs one (allowed to read the secret) to start the task"),
    })
}

/// A problem with one of a vendor's settings, and how to fix it.
pub(super) fn setting_problem(message: String, hint: &str) -> Problem {
    Problem::of_options(message).with_hint(hint.to_owned())
}

/// A key given as an empty or spaced ARN (or plain value).
pub(super) fn key_problem(key: Option<&TokenSource>, option: &str) -> Option<Problem> {
    match key {
        Some(TokenSource::Secret(arn) | TokenSource::Plain(arn))
            if arn.trim().is_empty() || arn.contains(char::is_whitespace) =>
        {
            Some(setting_problem(
                format!("{option}: empty or with spaces"),
                "give the secret's ARN (Secrets Manager or SSM Parameter Store)",
            ))
        }
        _ => None,
    }
}

/// A text setting (an image, a site) that is empty or has spaces.
pub(super) fn text_problem(value: &str, option: &str) -> Option<Problem> {
    (value.trim().is_empty() || value.trim().contains(char::is_whitespace)).then(|| {
        setting_problem(
            format!("{option} is empty or has spaces"),
            "leave it out for the default",
        )
    })
}
