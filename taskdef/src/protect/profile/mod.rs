//! Profiles: whose runtime security a protection installs. `palisade` (the bundled defender) is
//! the default; `datadog-cws` and `sysdig-serverless` follow those vendors' published Fargate
//! recipes, with Palisade's promises kept (entrypoints never guessed, the same skip rules,
//! idempotent, exactly undone, secrets as `secrets` references).
//!
//! Each profile is one module behind two interfaces: its [`Recipe`] (what it adds, known from its
//! [`ProfileName`] alone, which is all the protection record keeps, so unprotect can find and
//! remove all of it again) and [`Install`] (what its settings make of a task: its containers,
//! what each wrapped workload gets, what is wrong with the settings). A new vendor is a module
//! here, a variant in [`Profile`] and [`ProfileName`], and an arm in each of their two dispatches.

mod datadog;
mod palisade;
mod sidecars;
mod sysdig;

pub use datadog::{DatadogCws, DATADOG_AGENT_IMAGE, DATADOG_CWS_IMAGE, DATADOG_SITE};
pub use palisade::{DEFAULT_DEFENDER_IMAGE, DEFENDER_MEMORY_RESERVATION_MIB, NO_DEFENDER_IMAGE};
pub use sysdig::{collector_parts, SysdigServerless, SYSDIG_IMAGE};

use super::record::ProtectionRecord;
use super::ProtectOptions;
use crate::problem::Problem;
use crate::summary::Warning;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Whose runtime security is installed, with its settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Profile {
    /// The bundled defender (its settings are the protection's own: mode, console URL, token,
    /// defender image).
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

    /// What these settings install.
    pub(super) fn install(&self) -> &dyn Install {
        match self {
            Profile::Palisade => &palisade::Bundled,
            Profile::DatadogCws(datadog) => datadog,
            Profile::SysdigServerless(sysdig) => sysdig,
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

/// What a profile adds, the same whatever its settings.
pub(super) struct Recipe {
    pub name: &'static str,
    /// What it is, in words.
    pub title: &'static str,
    /// Who watches the task, in a sentence ("so the defender sees every process").
    pub watcher: &'static str,
    /// The containers it adds, the one carrying the protection record first.
    pub added_containers: &'static [&'static str],
    /// The task volume it adds, where workloads mount it (read-only), and what goes there.
    pub volume: Option<(&'static str, &'static str, &'static str)>,
    /// It needs `pidMode: "task"` (a sidecar that sees the workloads' processes).
    pub task_pid_mode: bool,
    pub wrapper: Wrapper,
    /// The variable names it adds to each workload (in `environment`, or the key in `secrets`):
    /// a workload that already sets one is refused, unprotect removes them.
    pub workload_variables: &'static [&'static str],
    /// Each workload gets SYS_PTRACE (the vendors' tracers ptrace the workload).
    pub workload_ptrace: bool,
}

/// How a recipe wraps a workload's argv.
pub(super) enum Wrapper {
    /// These items go in front of the original entry point (`command` kept).
    Prefix(&'static [&'static str]),
    /// This binary becomes the entry point; `command` gets the whole original argv.
    Instrument(&'static str),
}

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

    fn recipe(self) -> &'static Recipe {
        match self {
            ProfileName::Palisade => &palisade::RECIPE,
            ProfileName::DatadogCws => &datadog::RECIPE,
            ProfileName::SysdigServerless => &sysdig::RECIPE,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.recipe().name
    }

    /// What it is, in words.
    pub fn title(self) -> &'static str {
        self.recipe().title
    }

    /// Who watches the task's processes, in words.
    pub(super) fn watcher(self) -> &'static str {
        self.recipe().watcher
    }

    /// The containers it adds, the one carrying the protection record first.
    pub fn added_containers(self) -> &'static [&'static str] {
        self.recipe().added_containers
    }

    /// The container carrying the protection record.
    pub fn record_container(self) -> &'static str {
        self.added_containers()[0]
    }

    /// The task volume it adds and where workloads mount it (read-only).
    pub fn volume(self) -> Option<(&'static str, &'static str)> {
        self.recipe().volume.map(|(name, path, _)| (name, path))
    }

    /// What its task volume holds, in words.
    pub(super) fn volume_holds(self) -> &'static str {
        self.recipe().volume.map_or("", |(_, _, holds)| holds)
    }

    /// Whether it needs `pidMode: "task"` (a sidecar that sees the workloads' processes).
    pub fn needs_task_pid_mode(self) -> bool {
        self.recipe().task_pid_mode
    }

    pub fn argv_shape(self) -> ArgvShape {
        match self.recipe().wrapper {
            Wrapper::Prefix(items) => {
                ArgvShape::Prefix(items.iter().map(|item| (*item).to_owned()).collect())
            }
            Wrapper::Instrument(binary) => ArgvShape::Instrument(binary.to_owned()),
        }
    }

    /// The variable names it adds to each workload (in `environment`, or the key in `secrets`):
    /// a workload that already sets one is refused, unprotect removes them.
    pub fn workload_variables(self) -> &'static [&'static str] {
        self.recipe().workload_variables
    }

    /// Whether each workload gets SYS_PTRACE (the vendors' tracers ptrace the workload).
    pub fn workload_ptrace(self) -> bool {
        self.recipe().workload_ptrace
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
#[derive(Default)]
pub(super) struct WorkloadChanges {
    pub depends_on: Vec<Value>,
    pub environment: Vec<Value>,
    pub secrets: Vec<Value>,
    pub volumes_from: Vec<Value>,
}

/// What a protection gives the containers a profile adds.
pub(super) struct Sidecars<'a> {
    pub options: &'a ProtectOptions,
    /// The record of the protection, carried by the first added container.
    pub record: &'a ProtectionRecord,
    /// The task, as protected so far.
    pub task: &'a Map<String, Value>,
    /// The first protected workload's, which the added containers share.
    pub log_configuration: Option<&'a Value>,
}

/// What a profile's settings make of a task.
pub(super) trait Install {
    /// Problems with the settings themselves (a collector that is not HOST:PORT, an empty image).
    fn option_problems(&self) -> Vec<Problem>;
    /// The containers it adds, in [`Recipe::added_containers`]' order.
    fn containers(&self, sidecars: &Sidecars<'_>, warnings: &mut Vec<Warning>) -> Vec<Value>;
    /// What each wrapped workload gets besides its argv.
    fn workload_changes(&self) -> WorkloadChanges;
    /// The summary's line for what it added.
    fn added_summary(&self, options: &ProtectOptions) -> String;
}

/// A vendor's line in the summary: its containers and what they are.
fn vendor_summary(name: ProfileName) -> String {
    format!(
        "{} ({})",
        name.added_containers().join(" and "),
        name.title()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_and_each_recipe_is_its_own() {
        for name in ProfileName::ALL {
            assert_eq!(name.as_str().parse::<ProfileName>(), Ok(name));
            assert_eq!(
                serde_json::to_value(name).unwrap(),
                serde_json::json!(name.as_str()),
                "the record spells it as its recipe does"
            );
            assert!(!name.added_containers().is_empty(), "{name}");
            if let Some((_, path)) = name.volume() {
                assert!(!name.volume_holds().is_empty(), "{name}");
                if let ArgvShape::Prefix(prefix) = name.argv_shape() {
                    assert!(
                        prefix[0].starts_with(path),
                        "{name}: the wrapper is on its volume"
                    );
                }
            }
        }
        assert!("aqua".parse::<ProfileName>().is_err());
    }
}
