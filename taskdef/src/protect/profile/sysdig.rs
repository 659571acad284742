//! The `sysdig-serverless` profile: Sysdig's Serverless Agent (workload agent) as Sysdig's recipe
//! shows it: an instrumentation container whose `/opt/draios` each workload mounts
//! (`volumesFrom`) and runs under `/opt/draios/bin/instrument`.

use super::sidecars::{
    fit_sidecar, key_placement, key_problem, record_label, setting_problem, text_problem,
};
use super::{vendor_summary, Install, ProfileName, Recipe, Sidecars, WorkloadChanges, Wrapper};
use crate::problem::Problem;
use crate::protect::{Mode, ProtectOptions, TokenSource};
use crate::summary::Warning;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const SYSDIG_IMAGE: &str = "quay.io/sysdig/workload-agent:latest";
pub const SYSDIG_CONTAINER: &str = "sysdig-instrumentation";
pub const SYSDIG_INSTRUMENT: &str = "/opt/draios/bin/instrument";
/// The environment each Sysdig-wrapped workload gets (and loses again on unprotect).
pub const SYSDIG_ENVIRONMENT: [&str; 4] = [
    "SYSDIG_COLLECTOR",
    "SYSDIG_COLLECTOR_PORT",
    "SYSDIG_SIDECAR",
    "SYSDIG_PRIORITY",
];
pub const SYSDIG_ACCESS_KEY: &str = "SYSDIG_ACCESS_KEY";

pub(super) const RECIPE: Recipe = Recipe {
    name: "sysdig-serverless",
    title: "Sysdig Serverless Agent",
    watcher: "Sysdig's instrumentation",
    added_containers: &[SYSDIG_CONTAINER],
    volume: None,
    task_pid_mode: false,
    wrapper: Wrapper::Instrument(SYSDIG_INSTRUMENT),
    workload_variables: &[
        SYSDIG_ENVIRONMENT[0],
        SYSDIG_ENVIRONMENT[1],
        SYSDIG_ENVIRONMENT[2],
        SYSDIG_ENVIRONMENT[3],
        SYSDIG_ACCESS_KEY,
    ],
    workload_ptrace: true,
};

/// Sysdig's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SysdigServerless {
    pub access_key: Option<TokenSource>,
    /// `HOST:PORT` of the orchestrator agent (or collector).
    pub collector: String,
    pub priority: Mode,
    pub image: String,
}

impl Default for SysdigServerless {
    fn default() -> Self {
        SysdigServerless {
            access_key: None,
            collector: String::new(),
            priority: Mode::Availability,
            image: SYSDIG_IMAGE.into(),
        }
    }
}

/// Splits `HOST:PORT`.
pub fn collector_parts(collector: &str) -> Option<(&str, u16)> {
    let (host, port) = collector.trim().rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|port| *port > 0)?;
    (!host.is_empty() && !host.contains(char::is_whitespace)).then_some((host, port))
}

impl Install for SysdigServerless {
    fn option_problems(&self) -> Vec<Problem> {
        let key = key_problem(self.access_key.as_ref(), "--sysdig-access-key-secret");
        let collector = collector_parts(&self.collector).is_none().then(|| {
            setting_problem(
                format!("--sysdig-collector `{}` is not HOST:PORT", self.collector.trim()),
                "give the orchestrator agent's (or collector's) host and port, like orchestrator.internal:6667",
            )
        });
        let image = text_problem(&self.image, "--sysdig-image");
        key.into_iter().chain(collector).chain(image).collect()
    }

    /// The instrumentation container (non-essential, its own logwriter entry point, the record
    /// on it) whose `/opt/draios` the workloads mount.
    fn containers(&self, sidecars: &Sidecars<'_>, warnings: &mut Vec<Warning>) -> Vec<Value> {
        // Where the key goes is decided per workload (`workload_changes`); here only the
        // warnings, once.
        let _ = key_placement(
            self.access_key.as_ref(),
            SYSDIG_ACCESS_KEY,
            "--sysdig-access-key",
            "/containerDefinitions",
            sidecars.task,
            warnings,
        );
        let mut container = json!({
            "name": SYSDIG_CONTAINER,
            "image": self.image.trim(),
            "essential": false,
            "entryPoint": ["/opt/draios/bin/logwriter"],
            "dockerLabels": record_label(sidecars.record),
        });
        fit_sidecar(&mut container, sidecars.task, sidecars.log_configuration);
        vec![container]
    }

    fn workload_changes(&self) -> WorkloadChanges {
        let (host, port) = collector_parts(&self.collector).unwrap_or(("", 0));
        let mut changes = WorkloadChanges {
            environment: vec![
                json!({ "name": "SYSDIG_COLLECTOR", "value": host }),
                json!({ "name": "SYSDIG_COLLECTOR_PORT", "value": port.to_string() }),
                json!({ "name": "SYSDIG_SIDECAR", "value": "auto" }),
                json!({ "name": "SYSDIG_PRIORITY", "value": self.priority.as_str() }),
            ],
            volumes_from: vec![json!({ "sourceContainer": SYSDIG_CONTAINER, "readOnly": true })],
            ..WorkloadChanges::default()
        };
        match &self.access_key {
            Some(TokenSource::Plain(key)) => changes
                .environment
                .push(json!({ "name": SYSDIG_ACCESS_KEY, "value": key })),
            Some(TokenSource::Secret(arn)) => changes
                .secrets
                .push(json!({ "name": SYSDIG_ACCESS_KEY, "valueFrom": arn })),
            None => {}
        }
        changes
    }

    fn added_summary(&self, _: &ProtectOptions) -> String {
        vendor_summary(ProfileName::SysdigServerless)
    }
}
