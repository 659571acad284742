//! The rules' catalogue: stable ids, names, severities and the sentence a person reads, listed
//! once for the judge, the console's UI and the docs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A rule's stable id, as policies, alerts and the API spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleId {
    CryptoMiner,
    NotFromImage,
    PackageManager,
    NetworkTool,
    NewListeningPort,
    DenyList,
    NotInModel,
    /// An id from a newer peer: a policy that disables it still loads, and nothing checks it.
    #[serde(other)]
    Unknown,
}

/// How bad an alert is; ordered, so `severity >= Severity::High` reads as it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// One rule as the UI and the docs list it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    pub id: RuleId,
    pub name: &'static str,
    pub severity: Severity,
    /// One sentence saying what the rule sees and why it matters.
    pub explanation: &'static str,
    /// Whether a policy may switch it off (`disabled_rules`); the deny list is the family's own
    /// explicit word and is emptied instead.
    pub can_disable: bool,
}

const RULES: [RuleInfo; 7] = [
    RuleInfo {
        id: RuleId::CryptoMiner,
        name: "Crypto miner",
        severity: Severity::Critical,
        explanation: "A known crypto-mining program started, or a command line names a mining pool (stratum+tcp://...): someone is spending your compute on their coins.",
        can_disable: true,
    },
    RuleInfo {
        id: RuleId::NotFromImage,
        name: "Program not from the image",
        severity: Severity::High,
        explanation: "A program ran from a temporary folder, from memory, or from a file deleted or changed after its container started: it was not shipped in the image, which is how dropped malware runs.",
        can_disable: true,
    },
    RuleInfo {
        id: RuleId::PackageManager,
        name: "Package manager at runtime",
        severity: Severity::Medium,
        explanation: "A package manager installed, removed or updated software in a running container; images are built once, so this is a debugging session or someone adding tools.",
        can_disable: true,
    },
    RuleInfo {
        id: RuleId::NetworkTool,
        name: "Network tool",
        severity: Severity::Medium,
        explanation: "A network tool (netcat, socat, nmap, tcpdump...) started; they open reverse shells, scan networks and capture traffic, and a service rarely needs one.",
        can_disable: true,
    },
    RuleInfo {
        id: RuleId::NewListeningPort,
        name: "New listening port",
        severity: Severity::Medium,
        explanation: "A container began listening on a port it never listened on while its model was learned and that the policy does not allow: a backdoor, or a service that changed.",
        can_disable: true,
    },
    RuleInfo {
        id: RuleId::DenyList,
        name: "Denied program",
        severity: Severity::High,
        explanation: "A program on the family's deny list started.",
        can_disable: false,
    },
    RuleInfo {
        id: RuleId::NotInModel,
        name: "Program not in the model",
        severity: Severity::Medium,
        explanation: "A container ran a program it never ran while its model was learned.",
        can_disable: true,
    },
];

/// Every rule, in the order the UI lists them.
pub fn rules() -> &'static [RuleInfo] {
    &RULES
}

impl RuleId {
    /// The rule's catalogue entry; `None` for [`RuleId::Unknown`].
    pub fn info(self) -> Option<&'static RuleInfo> {
        RULES.iter().find(|rule| rule.id == self)
    }

    /// The stable id (`crypto-miner`).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::CryptoMiner => "crypto-miner",
            RuleId::NotFromImage => "not-from-image",
            RuleId::PackageManager => "package-manager",
            RuleId::NetworkTool => "network-tool",
            RuleId::NewListeningPort => "new-listening-port",
            RuleId::DenyList => "deny-list",
            RuleId::NotInModel => "not-in-model",
            RuleId::Unknown => "unknown",
        }
    }

    /// The rule's severity (an unknown rule's is low).
    pub fn severity(self) -> Severity {
        self.info().map_or(Severity::Low, |info| info.severity)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_listed_once_with_its_serialized_id() {
        let ids: Vec<RuleId> = rules().iter().map(|rule| rule.id).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        for rule in rules() {
            let json = serde_json::to_string(&rule.id).unwrap();
            assert_eq!(json, format!("\"{}\"", rule.id.as_str()));
            assert!(rule.explanation.ends_with('.'), "{}", rule.id);
            assert_eq!(rule.id.info(), Some(rule));
        }
    }

    #[test]
    fn a_rule_id_from_a_newer_peer_is_unknown_not_an_error() {
        let id: RuleId = serde_json::from_str(r#""dns-tunnel""#).unwrap();
        assert_eq!(id, RuleId::Unknown);
        assert_eq!(id.info(), None);
        assert_eq!(id.severity(), Severity::Low);
    }

    #[test]
    fn severities_are_ordered() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Medium < Severity::High);
        assert_eq!(serde_json::to_string(&Severity::High).unwrap(), r#""high""#);
    }
}
