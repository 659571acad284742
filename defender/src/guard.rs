//! The wrapper's guard: its judge, which decides each exec of the workload with the last policy
//! the sidecar sent (the built-in default until one came), and its watch on being watched: when
//! the sidecar stops answering for [`BLIND_AFTER`] (killed, stopped, its stream closed and not
//! back), the wrapper says so on stderr and, in `security` mode, stops its workload (SIGTERM,
//! then SIGKILL after [`STOP_GRACE`]): a workload nobody can watch does not run on. In
//! `availability` mode the workload runs on, still judged by the wrapper with its last policy.

use crate::facts::{self, Process};
use crate::kept::Kept;
use crate::log::info;
use crate::trace::{ExecRecord, Judge, Verdict};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use palisade_policy::{judge, Action, Mode};
use palisade_protocol::AlertReport;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Silence after which the sidecar is taken for gone (it is asked for its status after a
/// second of silence, and answers at once when it runs).
pub const BLIND_AFTER: Duration = Duration::from_secs(5);

/// Between SIGTERM and SIGKILL when the workload is stopped for being blind.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Judges each exec with the policy the wrapper keeps.
pub struct PolicyJudge {
    kept: Arc<Kept>,
    /// The wrapper's own start: its container's, as far as the judge can tell.
    container_started: Option<i64>,
}

impl PolicyJudge {
    pub fn new(kept: Arc<Kept>) -> Self {
        let proc_root = Path::new("/proc");
        let own_start = crate::procs::stat(&proc_root.join(std::process::id().to_string()));
        let container_started = facts::boot_time(proc_root)
            .zip(own_start)
            .map(|(boot, (_, ticks))| facts::started_at(boot, ticks));
        PolicyJudge {
            kept,
            container_started,
        }
    }
}

impl Judge for PolicyJudge {
    fn on_exec(&mut self, exec: &mut ExecRecord) -> Verdict {
        let (in_force, container) = {
            let state = self.kept.lock();
            (state.policy.clone(), state.container.clone())
        };
        if in_force.policy.mode == Mode::Off {
            return Verdict::Allow;
        }
        let proc_dir = Path::new("/proc").join(exec.pid.to_string());
        let facts = facts::exec_facts(Process {
            proc_dir: &proc_dir,
            pid: exec.pid,
            ppid: exec.ppid,
            uid: exec.uid,
            executable: &exec.executable,
            argv: exec.argv.clone(),
            container,
            container_started: self.container_started,
            workload_root: exec.workload_root,
        });
        let verdict = judge(&in_force.policy, &facts);
        if verdict.alerts.is_empty() {
            return Verdict::Allow;
        }
        let kill = verdict.action == Action::Kill;
        exec.alert = Some(Box::new(AlertReport {
            policy_revision: in_force.revision,
            alerts: verdict.alerts,
            action: verdict.action,
            ..AlertReport::default()
        }));
        if kill {
            Verdict::Kill
        } else {
            Verdict::Allow
        }
    }
}

/// Watches, on a thread of its own, that the sidecar still answers; see the module.
pub fn watch_the_watcher(kept: Arc<Kept>, workload: u32) {
    let spawned = std::thread::Builder::new()
        .name("guard".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let mut blind = false;
            loop {
                std::thread::sleep(Duration::from_millis(250));
                // Until the sidecar first spoke there is nothing to lose sight of.
                let Some(silent) = kept.silent_for() else {
                    continue;
                };
                if silent < BLIND_AFTER {
                    if std::mem::take(&mut blind) {
                        info!("exec: the sidecar answers again: the workload is watched");
                    }
                    continue;
                }
                if blind {
                    continue;
                }
                blind = true;
                let (connected, security) = {
                    let state = kept.lock();
                    (state.connected, security(state.mode.as_deref()))
                };
                let why = if connected {
                    "the sidecar does not answer (stopped?)"
                } else {
                    "the stream to the sidecar broke and it did not come back (sidecar gone?)"
                };
                info!(
                    "exec: {why} for {} s: the workload is not watched by the sidecar",
                    silent.as_secs()
                );
                if security {
                    stop(workload);
                    return;
                }
                info!("exec: availability mode: the workload runs on, judged by this wrapper with its last policy");
            }
        });
    if let Err(error) = spawned {
        info!("exec: the sidecar cannot be watched: {error}");
    }
}

/// Whether the defender runs in `security` mode: as the sidecar said, else as this container's
/// `PALISADE_MODE` says (unknown: availability; the workload is never stopped on a guess).
fn security(said: Option<&str>) -> bool {
    let own = std::env::var("PALISADE_MODE").ok();
    said.or(own.as_deref()) == Some("security")
}

/// Stops the workload: SIGTERM, then SIGKILL after [`STOP_GRACE`] if it still runs (the wrapper
/// exits once it ended, this thread with it).
fn stop(workload: u32) {
    info!("exec: security mode: stopping the workload, it can no longer be watched");
    let pid = Pid::from_raw(i32::try_from(workload).unwrap_or(i32::MAX));
    let _ = kill(pid, Signal::SIGTERM);
    std::thread::sleep(STOP_GRACE);
    info!(
        "exec: the workload outlived SIGTERM by {} s: SIGKILL",
        STOP_GRACE.as_secs()
    );
    let _ = kill(pid, Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::InForce;
    use palisade_policy::{ListEntry, Model, Policy, RuleId};

    fn judged(policy: Policy, executable: &str, root: bool) -> (Verdict, Vec<RuleId>) {
        let kept = Arc::new(Kept::default());
        {
            let mut state = kept.lock();
            state.policy = InForce {
                revision: 3,
                policy: Arc::new(policy),
            };
            state.container = Some("web".into());
        }
        let mut judge = PolicyJudge::new(kept);
        let mut exec = ExecRecord {
            pid: u32::MAX,
            executable: executable.into(),
            argv: vec![executable.into()],
            workload_root: root,
            ..ExecRecord::default()
        };
        let verdict = judge.on_exec(&mut exec);
        let rules = exec
            .alert
            .map(|alert| {
                assert_eq!(alert.policy_revision, 3);
                alert.alerts.iter().map(|a| a.rule).collect()
            })
            .unwrap_or_default();
        (verdict, rules)
    }

    #[test]
    fn the_root_survives_a_model_alert_and_its_children_do_not() {
        let mut model = Model::default();
        model.add_exec("web", "/usr/sbin/nginx", 1);
        let policy = Policy {
            mode: Mode::Prevent,
            model: Some(model),
            ..Policy::default()
        };
        let (verdict, rules) = judged(policy.clone(), "/usr/bin/perl", true);
        assert_eq!((verdict, rules), (Verdict::Allow, vec![RuleId::NotInModel]));
        let (verdict, _) = judged(policy.clone(), "/usr/bin/perl", false);
        assert_eq!(verdict, Verdict::Kill);
        assert_eq!(
            judged(policy, "/usr/sbin/nginx", false),
            (Verdict::Allow, vec![])
        );
    }

    #[test]
    fn alert_mode_reports_and_lets_it_run() {
        let policy = Policy {
            deny: vec![ListEntry::new("/tmp/**")],
            ..Policy::default()
        };
        let (verdict, rules) = judged(policy, "/tmp/x", false);
        assert_eq!(verdict, Verdict::Allow);
        assert_eq!(rules, [RuleId::DenyList, RuleId::NotFromImage]);
    }
}
