//! Alert floods collapse: a process started in a loop, or a port that keeps reopening, must not
//! bury the console (or push every other event out of the buffer while it is away).
//!
//! The rule: alerts are the same when they name the same rules, container and executable (a
//! port alert: the same port). The first alert of its kind opens a window (60 s by default); the
//! first `burst` (10) alerts of the window are sent in full; the rest are counted, and when the
//! window ends one summary is sent: the last of them, its `outcome` saying how many were collapsed
//! into it and how many of those were killed. The next alert of that kind opens a new window.
//! At most [`MAX_KINDS`] kinds are followed at once; past that, alerts of new kinds are sent
//! uncollapsed (the buffer's bound still holds).

use palisade_policy::{Protocol, RuleId};
use palisade_protocol::AlertReport;
use std::collections::HashMap;
use std::time::Duration;

/// Kinds of alert followed at once.
pub const MAX_KINDS: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Kind {
    rules: Vec<RuleId>,
    container: Option<String>,
    executable: String,
    port: Option<(Protocol, u16)>,
}

struct Window {
    opened_ms: i64,
    sent: u32,
    collapsed: u64,
    killed: u64,
    last: Option<AlertReport>,
}

pub struct Flood {
    burst: u32,
    window_ms: i64,
    windows: HashMap<Kind, Window>,
}

impl Kind {
    fn of(report: &AlertReport) -> Kind {
        let mut rules: Vec<RuleId> = report.alerts.iter().map(|alert| alert.rule).collect();
        rules.sort();
        let process = report.process.as_ref();
        Kind {
            rules,
            container: process
                .and_then(|process| process.container.clone())
                .or_else(|| report.port.as_ref().and_then(|port| port.container.clone())),
            executable: process.map_or_else(String::new, |process| process.executable.clone()),
            port: report.port.as_ref().map(|port| (port.protocol, port.port)),
        }
    }
}

impl Flood {
    pub fn new(burst: u32, window: Duration) -> Self {
        Flood {
            burst,
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            windows: HashMap::new(),
        }
    }

    /// `report` when it is to be sent now; `None` when it is counted into its window's summary.
    pub fn admit(&mut self, now_ms: i64, report: AlertReport) -> Option<AlertReport> {
        let kind = Kind::of(&report);
        if !self.windows.contains_key(&kind) && self.windows.len() >= MAX_KINDS {
            return Some(report);
        }
        let window = self.windows.entry(kind).or_insert(Window {
            opened_ms: now_ms,
            sent: 0,
            collapsed: 0,
            killed: 0,
            last: None,
        });
        if window.sent < self.burst {
            window.sent += 1;
            return Some(report);
        }
        window.collapsed += 1;
        if report
            .process
            .as_ref()
            .is_some_and(|process| process.killed)
            || report
                .outcome
                .as_deref()
                .is_some_and(|outcome| outcome.starts_with("killed"))
        {
            window.killed += 1;
        }
        window.last = Some(report);
        None
    }

    /// The summaries of the windows that ended by `now_ms` (those windows are closed).
    pub fn ended(&mut self, now_ms: i64) -> Vec<AlertReport> {
        let window_ms = self.window_ms;
        let mut summaries = Vec::new();
        self.windows.retain(|_, window| {
            if now_ms.saturating_sub(window.opened_ms) < window_ms {
                return true;
            }
            if let Some(mut last) = window.last.take() {
                let seconds = window_ms / 1000;
                let killed = if window.killed > 0 {
                    format!(", {} of them killed", window.killed)
                } else {
                    String::new()
                };
                last.outcome = Some(format!(
                    "{} more alerts like this within {seconds} s were collapsed into this one{killed}",
                    window.collapsed
                ));
                summaries.push(last);
            }
            false
        });
        summaries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_policy::{Alert, Severity};
    use palisade_protocol::ProcessInfo;

    fn alert(executable: &str, outcome: Option<&str>) -> AlertReport {
        AlertReport {
            alerts: vec![Alert {
                rule: RuleId::NotFromImage,
                severity: Severity::High,
                message: format!("{executable} runs from the temporary folder /tmp/"),
            }],
            outcome: outcome.map(str::to_owned),
            process: Some(ProcessInfo {
                executable: executable.into(),
                container: Some("web".into()),
                ..ProcessInfo::default()
            }),
            ..AlertReport::default()
        }
    }

    #[test]
    fn ten_thousand_identical_alerts_are_ten_and_one_summary() {
        let mut flood = Flood::new(10, Duration::from_secs(60));
        let sent = (0..10_000)
            .filter_map(|i| flood.admit(i, alert("/tmp/x", Some("killed"))))
            .count();
        assert_eq!(sent, 10);
        assert!(flood.ended(59_999).is_empty(), "the window is still open");
        let summaries = flood.ended(60_000);
        assert_eq!(summaries.len(), 1);
        assert_eq!(
            summaries[0].outcome.as_deref(),
            Some("9990 more alerts like this within 60 s were collapsed into this one, 9990 of them killed")
        );
        // The next one opens a new window.
        assert!(flood.admit(60_001, alert("/tmp/x", None)).is_some());
        assert!(flood.ended(200_000).is_empty(), "nothing collapsed in it");
    }

    #[test]
    fn other_executables_and_containers_are_other_kinds() {
        let mut flood = Flood::new(1, Duration::from_secs(60));
        assert!(flood.admit(0, alert("/tmp/x", None)).is_some());
        assert!(flood.admit(0, alert("/tmp/x", None)).is_none());
        assert!(flood.admit(0, alert("/tmp/y", None)).is_some());
        let mut elsewhere = alert("/tmp/x", None);
        elsewhere.process.as_mut().unwrap().container = Some("worker".into());
        assert!(flood.admit(0, elsewhere).is_some());
    }

    #[test]
    fn kinds_followed_are_bounded_and_the_rest_pass() {
        let mut flood = Flood::new(0, Duration::from_secs(60));
        for i in 0..MAX_KINDS {
            assert!(flood.admit(0, alert(&format!("/tmp/{i}"), None)).is_none());
        }
        assert!(flood.admit(0, alert("/tmp/one-more", None)).is_some());
        assert_eq!(flood.ended(60_000).len(), MAX_KINDS);
    }
}
