//! The judge: a policy and what a defender saw in, the alerts and what to do out. Pure, so the
//! defender judges the same way with the console away, and the console can replay a judgement.

use serde::{Deserialize, Serialize};

use crate::detect::{quoted, Seen, BUILT_IN};
use crate::facts::{shorten, ExecFacts, ListeningPort};
use crate::policy::{Mode, Policy};
use crate::rules::{RuleId, Severity};

/// Longest path an alert's message names.
const NAMED_PATH_CHARS: usize = 256;

/// What to do with the process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Allow,
    /// Stop it (the defender sends SIGKILL; a traced process dies before its first instruction).
    Kill,
}

/// One rule that fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub rule: RuleId,
    pub severity: Severity,
    /// What was seen, short, for people: `crypto miner xmrig started`.
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    #[serde(default)]
    pub alerts: Vec<Alert>,
    #[serde(default)]
    pub action: Action,
}

impl Alert {
    fn new(rule: RuleId, message: String) -> Self {
        Alert {
            rule,
            severity: rule.severity(),
            message,
        }
    }

    /// Whether this alert alone stops the process in `prevent` mode (the prevent table).
    pub fn kills(&self, workload_root: bool) -> bool {
        match self.rule {
            RuleId::DenyList => true,
            // A wrong model must not take a service down: its main process survives it.
            RuleId::NotInModel => !workload_root,
            // A port names no process to stop.
            RuleId::NewListeningPort | RuleId::Unknown => false,
            _ => self.severity >= Severity::High,
        }
    }
}

impl Verdict {
    /// Nothing to say, nothing to do.
    pub fn quiet() -> Self {
        Verdict::default()
    }
}

/// Judges a process at its exec.
pub fn judge(policy: &Policy, exec: &ExecFacts) -> Verdict {
    if policy.mode == Mode::Off {
        return Verdict::quiet();
    }
    let alerts = exec_alerts(policy, exec);
    let kill =
        policy.mode == Mode::Prevent && alerts.iter().any(|alert| alert.kills(exec.workload_root));
    Verdict {
        alerts,
        action: if kill { Action::Kill } else { Action::Allow },
    }
}

/// Every alert the process raises, in the rules' order. A deny entry always alerts and makes the
/// allow list moot; an allow entry silences every rule but the crypto-miner one.
fn exec_alerts(policy: &Policy, exec: &ExecFacts) -> Vec<Alert> {
    let path = exec.executable_path();
    let container = exec.container.as_deref();
    let known_path = !path.is_empty();
    let denied = known_path
        .then(|| policy.denied(container, &path))
        .flatten();
    let allowed = denied.is_none() && known_path && policy.allowed(container, &path).is_some();
    let enabled = |rule: RuleId| policy.enabled(rule) && (rule == RuleId::CryptoMiner || !allowed);
    let mut alerts = Vec::new();
    if let Some(entry) = denied {
        let shown = shorten(&path, NAMED_PATH_CHARS);
        let message = format!("{shown} matches the deny entry {}", entry.executable);
        alerts.push(Alert::new(RuleId::DenyList, message));
    }
    let seen = Seen::new(exec, &path);
    for (rule, detect) in BUILT_IN {
        if let Some(message) = enabled(rule).then(|| detect(&seen)).flatten() {
            alerts.push(Alert::new(rule, message));
        }
    }
    if enabled(RuleId::NotInModel) && known_path {
        if let Some(message) = not_in_model(policy, exec, &path) {
            alerts.push(Alert::new(RuleId::NotInModel, message));
        }
    }
    alerts
}

/// The container has an active model and it never saw this executable.
fn not_in_model(policy: &Policy, exec: &ExecFacts, path: &str) -> Option<String> {
    let container = exec.container.as_deref()?;
    let model = policy.model.as_ref()?.container(container)?;
    if model.executable(path).is_some() {
        return None;
    }
    let parent = match exec.parent_path() {
        Some(parent) => format!(" (parent {})", shorten(&parent, NAMED_PATH_CHARS)),
        None => String::new(),
    };
    Some(format!(
        "{}{parent} never ran in container {container} while its model was learned: {}",
        shorten(path, NAMED_PATH_CHARS),
        quoted(&exec.argv)
    ))
}

/// Judges a port that began listening. Never kills: a port names no process to stop.
pub fn judge_port(policy: &Policy, port: &ListeningPort) -> Verdict {
    if policy.mode == Mode::Off || !policy.enabled(RuleId::NewListeningPort) {
        return Verdict::quiet();
    }
    let container = port.container.as_deref();
    let Some(name) = container else {
        return Verdict::quiet();
    };
    let Some(model) = policy
        .model
        .as_ref()
        .filter(|model| model.container(name).is_some())
    else {
        return Verdict::quiet();
    };
    if model.contains_port(name, port.protocol, port.port)
        || policy.port_allowed(container, port.protocol, port.port)
    {
        return Verdict::quiet();
    }
    let message = format!(
        "container {name} listens on {} port {}, which it never did while its model was learned",
        port.protocol.as_str(),
        port.port
    );
    Verdict {
        alerts: vec![Alert::new(RuleId::NewListeningPort, message)],
        action: Action::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Protocol;
    use crate::model::Model;
    use crate::policy::ListEntry;

    fn facts(container: &str, executable: &str, line: &str) -> ExecFacts {
        ExecFacts {
            container: Some(container.into()),
            pid: 40,
            ppid: 1,
            executable: executable.into(),
            argv: line.split(' ').map(str::to_owned).collect(),
            parent_executable: Some("/bin/sh".into()),
            ..ExecFacts::default()
        }
    }

    fn rules_of(verdict: &Verdict) -> Vec<RuleId> {
        verdict.alerts.iter().map(|alert| alert.rule).collect()
    }

    #[test]
    fn the_prevent_table_kills_on_deny_high_severity_and_the_model() {
        let alert = |rule| Alert::new(rule, String::new());
        for (rule, kills_child, kills_root) in [
            (RuleId::CryptoMiner, true, true),
            (RuleId::NotFromImage, true, true),
            (RuleId::DenyList, true, true),
            (RuleId::NotInModel, true, false),
            (RuleId::PackageManager, false, false),
            (RuleId::NetworkTool, false, false),
            (RuleId::NewListeningPort, false, false),
            (RuleId::Unknown, false, false),
        ] {
            assert_eq!(alert(rule).kills(false), kills_child, "{rule}");
            assert_eq!(alert(rule).kills(true), kills_root, "{rule}");
        }
    }

    #[test]
    fn allow_silences_everything_but_a_miner_and_deny_beats_allow() {
        let mut policy = Policy {
            allow: vec![ListEntry::new("/usr/bin/*")],
            ..Policy::default()
        };
        let nc = facts("web", "/usr/bin/nc", "nc -lp 4444");
        assert!(judge(&policy, &nc).alerts.is_empty());
        let miner = facts("web", "/usr/bin/xmrig", "xmrig");
        assert_eq!(rules_of(&judge(&policy, &miner)), [RuleId::CryptoMiner]);
        policy.deny = vec![ListEntry::new("/usr/bin/nc")];
        let verdict = judge(&policy, &nc);
        assert_eq!(rules_of(&verdict), [RuleId::DenyList, RuleId::NetworkTool]);
        assert_eq!(
            verdict.alerts[0].message,
            "/usr/bin/nc matches the deny entry /usr/bin/nc"
        );
    }

    #[test]
    fn a_disabled_rule_says_nothing() {
        let policy = Policy {
            disabled_rules: vec![RuleId::NetworkTool],
            ..Policy::default()
        };
        assert!(judge(&policy, &facts("web", "/usr/bin/nc", "nc x 1"))
            .alerts
            .is_empty());
    }

    #[test]
    fn an_unknown_executable_is_judged_by_its_command_line_alone() {
        let mut model = Model::default();
        model.add_exec("web", "/usr/sbin/nginx", 1);
        let policy = Policy {
            model: Some(model),
            deny: vec![ListEntry::new("/**")],
            ..Policy::default()
        };
        let verdict = judge(&policy, &facts("web", "", "xmrig"));
        assert_eq!(rules_of(&verdict), [RuleId::CryptoMiner]);
    }

    #[test]
    fn ports_of_unknown_containers_or_while_learning_say_nothing() {
        let port = ListeningPort {
            protocol: Protocol::Tcp,
            port: 4444,
            container: None,
        };
        let mut model = Model::default();
        model.add_port("web", Protocol::Tcp, 80, 1);
        let policy = Policy {
            model: Some(model),
            ..Policy::default()
        };
        assert_eq!(judge_port(&policy, &port), Verdict::quiet());
        let worker = ListeningPort {
            container: Some("worker".into()),
            ..port
        };
        assert_eq!(judge_port(&policy, &worker), Verdict::quiet());
    }
}
