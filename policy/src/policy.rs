//! The policy the console sends each defender of a family: the mode, the rules in force, the
//! learned model and the family's own allow and deny lists.

use serde::{Deserialize, Deserializer, Serialize};

use crate::facts::Protocol;
use crate::model::Model;
use crate::pattern::ExecPattern;
use crate::rules::RuleId;
use crate::POLICY_VERSION;

/// What a defender does with what it judges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Judges nothing.
    Off,
    /// Reports alerts; every process runs.
    #[default]
    Alert,
    /// Reports alerts and stops the processes the prevent table names.
    Prevent,
}

/// A family's runtime-defense policy. Versioned like the channel's messages: fields are only
/// added, each with a default, and unknown ones are ignored, so older and newer ends read each
/// other's policies; `version` changes only with a change that cannot be made that way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// The format this policy is written in ([`POLICY_VERSION`] for this build).
    pub version: u32,
    #[serde(default)]
    pub mode: Mode,
    /// Rules switched off; every rule is in force by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled_rules: Vec<RuleId>,
    /// What each container normally runs and listens on; `None` while the model is learned.
    #[serde(default)]
    pub model: Option<Model>,
    /// Programs that are normal here although no model saw them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<ListEntry>,
    /// Programs that must never run here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<ListEntry>,
    /// Ports that may listen although the model never saw them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_ports: Vec<PortEntry>,
}

/// An allow or deny entry: an executable path or glob, for one container or all of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub executable: ExecPattern,
    /// Only in this container; in every container when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// A port that may listen: on one transport or both, in one container or all of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortEntry {
    pub port: u16,
    /// `tcp` or `udp` (`tcp6` counts as `tcp`); both when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

impl Default for Policy {
    /// Alert mode, every rule in force, learning, empty lists.
    fn default() -> Self {
        Policy {
            version: POLICY_VERSION,
            mode: Mode::Alert,
            disabled_rules: Vec::new(),
            model: None,
            allow: Vec::new(),
            deny: Vec::new(),
            allowed_ports: Vec::new(),
        }
    }
}

impl Policy {
    /// Whether `rule` is in force (a rule that cannot be disabled always is).
    pub fn enabled(&self, rule: RuleId) -> bool {
        let can_disable = rule.info().is_none_or(|info| info.can_disable);
        !(can_disable && self.disabled_rules.contains(&rule))
    }

    /// The first deny entry matching the executable `path` in `container`.
    pub fn denied(&self, container: Option<&str>, path: &str) -> Option<&ListEntry> {
        self.deny
            .iter()
            .find(|entry| entry.matches(container, path))
    }

    /// The first allow entry matching the executable `path` in `container`.
    pub fn allowed(&self, container: Option<&str>, path: &str) -> Option<&ListEntry> {
        self.allow
            .iter()
            .find(|entry| entry.matches(container, path))
    }

    /// Whether an allowed-ports entry covers the port.
    pub fn port_allowed(&self, container: Option<&str>, protocol: Protocol, port: u16) -> bool {
        self.allowed_ports.iter().any(|entry| {
            entry.port == port
                && entry
                    .protocol
                    .is_none_or(|allowed| allowed.transport() == protocol.transport())
                && applies(entry.container.as_deref(), container)
        })
    }
}

impl ListEntry {
    /// An entry for every container.
    pub fn new(executable: impl Into<String>) -> Self {
        ListEntry {
            executable: ExecPattern::new(executable),
            container: None,
        }
    }

    /// An entry for one container.
    pub fn in_container(executable: impl Into<String>, container: impl Into<String>) -> Self {
        ListEntry {
            container: Some(container.into()),
            ..ListEntry::new(executable)
        }
    }

    pub fn matches(&self, container: Option<&str>, path: &str) -> bool {
        applies(self.container.as_deref(), container) && self.executable.matches(path)
    }
}

/// An entry limited to `limited_to` applies to that container only; one without, to every
/// process (those whose container is unknown too).
fn applies(limited_to: Option<&str>, container: Option<&str>) -> bool {
    limited_to.is_none() || limited_to == container
}

impl<'de> Deserialize<'de> for Mode {
    /// A mode from a newer console reads as `alert`: reporting never harms the workload.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match String::deserialize(deserializer)?.as_str() {
            "off" => Mode::Off,
            "prevent" => Mode::Prevent,
            _ => Mode::Alert,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_policy_is_alert_mode_with_every_rule_while_learning() {
        let policy: Policy = serde_json::from_str(r#"{"version":1}"#).unwrap();
        assert_eq!(policy, Policy::default());
        assert_eq!(
            serde_json::to_string(&policy).unwrap(),
            r#"{"version":1,"mode":"alert","model":null}"#
        );
    }

    #[test]
    fn a_newer_consoles_mode_and_fields_read_as_the_safest_known() {
        let policy: Policy =
            serde_json::from_str(r#"{"version":1,"mode":"quarantine","future":[1,2]}"#).unwrap();
        assert_eq!(policy.mode, Mode::Alert);
    }

    #[test]
    fn the_deny_list_cannot_be_switched_off() {
        let policy = Policy {
            disabled_rules: vec![RuleId::DenyList, RuleId::NetworkTool, RuleId::Unknown],
            ..Policy::default()
        };
        assert!(policy.enabled(RuleId::DenyList));
        assert!(!policy.enabled(RuleId::NetworkTool));
        assert!(policy.enabled(RuleId::CryptoMiner));
    }

    #[test]
    fn entries_apply_to_their_container_or_to_all() {
        let policy = Policy {
            allow: vec![
                ListEntry::in_container("/usr/bin/curl", "web"),
                ListEntry::new("/opt/tools/*"),
            ],
            allowed_ports: vec![PortEntry {
                port: 9090,
                protocol: Some(Protocol::Tcp),
                container: None,
            }],
            ..Policy::default()
        };
        assert!(policy.allowed(Some("web"), "/usr/bin/curl").is_some());
        assert!(policy.allowed(Some("worker"), "/usr/bin/curl").is_none());
        assert!(policy.allowed(None, "/opt/tools/jq").is_some());
        assert!(policy.port_allowed(Some("web"), Protocol::Tcp6, 9090));
        assert!(!policy.port_allowed(Some("web"), Protocol::Udp, 9090));
    }
}
