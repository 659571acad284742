//! The `datadog-cws` profile: Datadog Workload Protection (CWS) on Fargate, eBPF-less, as
//! Datadog's recipe shows it: an agent sidecar, an init container that copies
//! `cws-instrumentation` into a task volume, each workload run under `cws-instrumentation trace`.

use super::sidecars::{fit_sidecar, key_placement, key_problem, record_label, text_problem};
use super::{vendor_summary, Install, ProfileName, Recipe, Sidecars, WorkloadChanges, Wrapper};
use crate::problem::Problem;
use crate::protect::{ProtectOptions, TokenSource};
use crate::summary::Warning;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const DATADOG_AGENT_IMAGE: &str = "public.ecr.aws/datadog/agent:latest";
pub const DATADOG_CWS_IMAGE: &str = "public.ecr.aws/datadog/cws-instrumentation:latest";
pub const DATADOG_SITE: &str = "datadoghq.com";
pub const DATADOG_AGENT: &str = "datadog-agent";
pub const DATADOG_INIT: &str = "cws-instrumentation-init";
pub const DATADOG_VOLUME: &str = "cws-instrumentation-volume";
pub const DATADOG_MOUNT: &str = "/cws-instrumentation-volume";

pub(super) const RECIPE: Recipe = Recipe {
    name: "datadog-cws",
    title: "Datadog Workload Protection (CWS, eBPF-less)",
    watcher: "the Datadog agent",
    added_containers: &[DATADOG_AGENT, DATADOG_INIT],
    volume: Some((
        DATADOG_VOLUME,
        DATADOG_MOUNT,
        "the instrumentation is copied there",
    )),
    task_pid_mode: true,
    // DATADOG_MOUNT's binary (a test checks the prefix lies on the volume).
    wrapper: Wrapper::Prefix(&[
        "/cws-instrumentation-volume/cws-instrumentation",
        "trace",
        "--",
    ]),
    workload_variables: &[],
    workload_ptrace: true,
};

/// Datadog's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatadogCws {
    pub api_key: Option<TokenSource>,
    pub site: String,
    pub agent_image: String,
    pub cws_image: String,
}

impl Default for DatadogCws {
    fn default() -> Self {
        DatadogCws {
            api_key: None,
            site: DATADOG_SITE.into(),
            agent_image: DATADOG_AGENT_IMAGE.into(),
            cws_image: DATADOG_CWS_IMAGE.into(),
        }
    }
}

impl Install for DatadogCws {
    fn option_problems(&self) -> Vec<Problem> {
        let key = key_problem(self.api_key.as_ref(), "--datadog-api-key-secret");
        let texts = [
            (&self.site, "--datadog-site"),
            (&self.agent_image, "--datadog-agent-image"),
            (&self.cws_image, "--datadog-cws-image"),
        ]
        .into_iter()
        .filter_map(|(value, option)| text_problem(value, option));
        key.into_iter().chain(texts).collect()
    }

    /// The agent (essential, health-checked, the record on it) and the init container that
    /// copies `cws-instrumentation` into the task volume.
    fn containers(&self, sidecars: &Sidecars<'_>, warnings: &mut Vec<Warning>) -> Vec<Value> {
        let (plain, secret) = key_placement(
            self.api_key.as_ref(),
            "DD_API_KEY",
            "--datadog-api-key",
            "/containerDefinitions/-",
            sidecars.task,
            warnings,
        );
        let mut environment = Vec::new();
        environment.extend(plain);
        environment.extend([
            json!({ "name": "ECS_FARGATE", "value": "true" }),
            json!({ "name": "DD_SITE", "value": self.site.trim() }),
            json!({ "name": "DD_RUNTIME_SECURITY_CONFIG_ENABLED", "value": "true" }),
            json!({ "name": "DD_RUNTIME_SECURITY_CONFIG_EBPFLESS_ENABLED", "value": "true" }),
        ]);
        let mut agent = json!({
            "name": DATADOG_AGENT,
            "image": self.agent_image.trim(),
            "essential": true,
            "environment": environment,
            "healthCheck": {
                "command": ["CMD-SHELL", "/probe.sh"],
                "interval": 30,
                "timeout": 5,
                "retries": 2,
                "startPeriod": 60
            },
            "dockerLabels": record_label(sidecars.record),
        });
        if let Some(secret) = secret {
            agent["secrets"] = json!([secret]);
        }
        let mut init = json!({
            "name": DATADOG_INIT,
            "image": self.cws_image.trim(),
            "essential": false,
            "user": "0",
            "command": ["/cws-instrumentation", "setup", "--cws-volume-mount", DATADOG_MOUNT],
            "mountPoints": [{ "sourceVolume": DATADOG_VOLUME, "containerPath": DATADOG_MOUNT, "readOnly": false }],
        });
        fit_sidecar(&mut agent, sidecars.task, sidecars.log_configuration);
        fit_sidecar(&mut init, sidecars.task, sidecars.log_configuration);
        vec![agent, init]
    }

    fn workload_changes(&self) -> WorkloadChanges {
        WorkloadChanges {
            depends_on: vec![
                json!({ "containerName": DATADOG_AGENT, "condition": "HEALTHY" }),
                json!({ "containerName": DATADOG_INIT, "condition": "SUCCESS" }),
            ],
            ..WorkloadChanges::default()
        }
    }

    fn added_summary(&self, _: &ProtectOptions) -> String {
        vendor_summary(ProfileName::DatadogCws)
    }
}
