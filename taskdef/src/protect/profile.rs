//! Profiles: whose runtime security a protection installs. `palisade` (the bundled defender) is
//! the default; `datadog-cws` and `sysdig-serverless` follow those vendors' published Fargate
//! recipes, with Palisade's promises kept (entrypoints never guessed, the same skip rules,
//! idempotent, exactly undone, secrets as `secrets` references).
//!
//! A profile says what it adds to the task (containers, a volume, `pidMode`) and to each wrapped
//! workload ([`WorkloadChanges`]); [`ProfileName`] alone (kept in the protection record) is enough
//! to find and remove all of it again.

use super::{Mode, TokenSource, DEFENDER_CONTAINER, MOUNT_PATH, VOLUME, WRAPPER_PREFIX};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const DATADOG_AGENT_IMAGE: &str = "public.ecr.aws/datadog/agent:latest";
pub const DATADOG_CWS_IMAGE: &str = "public.ecr.aws/datadog/cws-instrumentation:latest";
pub const DATADOG_SITE: &str = "datadoghq.com";
pub const SYSDIG_IMAGE: &str = "quay.io/sysdig/workload-agent:latest";

/// Datadog Workload Protection (CWS) on Fargate, eBPF-less: an agent sidecar, an init container
/// that copies `cws-instrumentation` into a task volume, each workload run under
/// `cws-instrumentation trace`.
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

/// Sysdig's Serverless Agent (workload agent): an instrumentation container whose `/opt/draios`
/// each workload mounts (`volumesFrom`) and runs under `/opt/draios/bin/instrument`.
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

/// Whose runtime security is installed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Profile {
    /// The bundled defender.
    #[default]
    Palisade,
    DatadogCws(DatadogCws),
    SysdigServerless(SysdigServerless),
}

impl Profile {
    pub fn name(&self) -> ProfileName {
        match self {
            Profile::Palisade => ProfileName::Palisade,
            Profile::DatadogCws(_) => ProfileName::DatadogCws,
            Profile::SysdigServerless(_) => ProfileName::SysdigServerless,
        }
    }
}

/// A profile's name, as options, the CLI and the protection record spell it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileName {
    #[default]
    Palisade,
    DatadogCws,
    SysdigServerless,
}

pub const DATADOG_AGENT: &str = "datadog-agent";
pub const DATADOG_INIT: &str = "cws-instrumentation-init";
pub const DATADOG_VOLUME: &str = "cws-instrumentation-volume";
pub const DATADOG_MOUNT: &str = "/cws-instrumentation-volume";
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

/// How a wrapped workload's argv is changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgvShape {
    /// `entryPoint` = these, then the original entry point (`command` kept).
    Prefix(Vec<String>),
    /// `entryPoint` = [this]; `command` = the whole original argv.
    Instrument(String),
}

impl ProfileName {
    pub const ALL: [ProfileName; 3] = [
        ProfileName::Palisade,
        ProfileName::DatadogCws,
        ProfileName::SysdigServerless,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileName::Palisade => "palisade",
            ProfileName::DatadogCws => "datadog-cws",
            ProfileName::SysdigServerless => "sysdig-serverless",
        }
    }

    /// What it is, in words.
    pub fn title(self) -> &'static str {
        match self {
            ProfileName::Palisade => "Palisade defender",
            ProfileName::DatadogCws => "Datadog Workload Protection (CWS, eBPF-less)",
            ProfileName::SysdigServerless => "Sysdig Serverless Agent",
        }
    }

    /// The containers it adds, the one carrying the protection record first.
    pub fn added_containers(self) -> &'static [&'static str] {
        match self {
            ProfileName::Palisade => &[DEFENDER_CONTAINER],
            ProfileName::DatadogCws => &[DATADOG_AGENT, DATADOG_INIT],
            ProfileName::SysdigServerless => &[SYSDIG_CONTAINER],
        }
    }

    /// The container carrying the protection record.
    pub fn record_container(self) -> &'static str {
        self.added_containers()[0]
    }

    /// The task volume it adds and where workloads mount it (read-only).
    pub fn volume(self) -> Option<(&'static str, &'static str)> {
        match self {
            ProfileName::Palisade => Some((VOLUME, MOUNT_PATH)),
            ProfileName::DatadogCws => Some((DATADOG_VOLUME, DATADOG_MOUNT)),
            ProfileName::SysdigServerless => None,
        }
    }

    /// Whether it needs `pidMode: "task"` (a sidecar that sees the workloads' processes).
    pub fn needs_task_pid_mode(self) -> bool {
        !matches!(self, ProfileName::SysdigServerless)
    }

    pub fn argv_shape(self) -> ArgvShape {
        let owned = |items: &[&str]| items.iter().map(|item| (*item).to_owned()).collect();
        match self {
            ProfileName::Palisade => ArgvShape::Prefix(owned(&WRAPPER_PREFIX)),
            ProfileName::DatadogCws => ArgvShape::Prefix(owned(&[
                &format!("{DATADOG_MOUNT}/cws-instrumentation"),
                "trace",
                "--",
            ])),
            ProfileName::SysdigServerless => ArgvShape::Instrument(SYSDIG_INSTRUMENT.into()),
        }
    }

    /// The variable names it adds to each workload (in `environment`, or the key in `secrets`):
    /// a workload that already sets one is refused, unprotect removes them.
    pub fn workload_variables(self) -> &'static [&'static str] {
        match self {
            ProfileName::SysdigServerless => &[
                SYSDIG_ENVIRONMENT[0],
                SYSDIG_ENVIRONMENT[1],
                SYSDIG_ENVIRONMENT[2],
                SYSDIG_ENVIRONMENT[3],
                SYSDIG_ACCESS_KEY,
            ],
            _ => &[],
        }
    }

    /// Whether each workload gets SYS_PTRACE (the vendors' tracers ptrace the workload).
    pub fn workload_ptrace(self) -> bool {
        !matches!(self, ProfileName::Palisade)
    }
}

impl std::fmt::Display for ProfileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProfileName {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ProfileName::ALL
            .into_iter()
            .find(|name| name.as_str() == text)
            .ok_or_else(|| {
                format!("unknown profile `{text}`: use palisade, datadog-cws or sysdig-serverless")
            })
    }
}

/// What a profile adds to each wrapped workload, besides its argv.
pub(super) struct WorkloadChanges {
    pub depends_on: Vec<Value>,
    pub environment: Vec<Value>,
    pub secrets: Vec<Value>,
    pub volumes_from: Vec<Value>,
}

/// Splits `HOST:PORT`.
pub fn collector_parts(collector: &str) -> Option<(&str, u16)> {
    let (host, port) = collector.trim().rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|port| *port > 0)?;
    (!host.is_empty() && !host.contains(char::is_whitespace)).then_some((host, port))
}

impl Profile {
    pub(super) fn workload_changes(&self) -> WorkloadChanges {
        let mut changes = WorkloadChanges {
            depends_on: Vec::new(),
            environment: Vec::new(),
            secrets: Vec::new(),
            volumes_from: Vec::new(),
        };
        match self {
            Profile::Palisade => changes
                .depends_on
                .push(json!({ "containerName": DEFENDER_CONTAINER, "condition": "HEALTHY" })),
            Profile::DatadogCws(_) => {
                changes
                    .depends_on
                    .push(json!({ "containerName": DATADOG_AGENT, "condition": "HEALTHY" }));
                changes
                    .depends_on
                    .push(json!({ "containerName": DATADOG_INIT, "condition": "SUCCESS" }));
            }
            Profile::SysdigServerless(sysdig) => {
                let (host, port) = collector_parts(&sysdig.collector).unwrap_or(("", 0));
                changes.environment = vec![
                    json!({ "name": "SYSDIG_COLLECTOR", "value": host }),
                    json!({ "name": "SYSDIG_COLLECTOR_PORT", "value": port.to_string() }),
                    json!({ "name": "SYSDIG_SIDECAR", "value": "auto" }),
                    json!({ "name": "SYSDIG_PRIORITY", "value": sysdig.priority.as_str() }),
                ];
                match &sysdig.access_key {
                    Some(TokenSource::Plain(key)) => changes
                        .environment
                        .push(json!({ "name": SYSDIG_ACCESS_KEY, "value": key })),
                    Some(TokenSource::Secret(arn)) => changes
                        .secrets
                        .push(json!({ "name": SYSDIG_ACCESS_KEY, "valueFrom": arn })),
                    None => {}
                }
                changes
                    .volumes_from
                    .push(json!({ "sourceContainer": SYSDIG_CONTAINER, "readOnly": true }));
            }
        }
        changes
    }
}
