//! Learning a family's model as its defenders' events are stored: each `process_started` (with
//! its parent's executable, found among the processes this defender reported before) and each
//! `port_listening` of a learning family goes into a bounded [`Model`] held in memory. The writer
//! calls [`Learner::observe`] once a batch is committed, so an event is learned once, when it is
//! stored; the model is saved every minute (a restart loses at most the last minute of learning)
//! and when the window ends.
//!
//! Why in memory and not from the stored events at the window's end: a defender keeps its newest
//! 2,000 events (and a family its newest 512 MiB), and a busy task passes that within its first
//! hour, so the events the window saw are no longer all stored when it ends.

use super::store::{FamilyModel, MAX_TASKS_KEPT};
use crate::clock::UnixMs;
use palisade_policy::{ExecFacts, Learned, Model};
use palisade_protocol::{Event, EventKind, ProcessInfo};
use std::collections::{BTreeSet, HashMap};

/// What a model learned may weigh as JSON, leaving room in the policy (240 KiB in all) for the
/// allow and deny lists: past it, new executables and ports are refused and counted in the
/// container's `overflow`, like those past the model's own bounds.
pub const MODEL_BUDGET_BYTES: usize = 160 * 1024;

/// Processes remembered per learning family to name a process's parent (pid -> executable).
const PARENTS_KEPT: usize = 50_000;

/// A family's model while it learns.
#[derive(Clone, Debug)]
pub struct Learner {
    pub model: Model,
    pub started_at: UnixMs,
    pub ends_at: UnixMs,
    tasks: BTreeSet<i64>,
    task_count: i64,
    /// (defender, pid) -> executable, for the parents of the processes that follow.
    parents: HashMap<(i64, u32), String>,
    /// What the model weighs as JSON, as far as it was counted.
    bytes: usize,
    /// Learned something since the last save.
    pub dirty: bool,
}

impl Learner {
    /// Learning goes on from what `stored` holds, until its window's end.
    pub fn resume(stored: &FamilyModel) -> Learner {
        let bytes = serde_json::to_vec(&stored.model).map_or(0, |json| json.len());
        Learner {
            model: stored.model.clone(),
            started_at: stored.learning_started_at.unwrap_or_default(),
            ends_at: stored.learning_ends_at.unwrap_or_default(),
            tasks: stored.tasks.iter().copied().collect(),
            task_count: stored.task_count,
            parents: HashMap::new(),
            bytes,
            dirty: false,
        }
    }

    /// The model as it stands, as the family's row stores it (learning, not in force).
    pub fn snapshot(&self, family: &str) -> FamilyModel {
        FamilyModel {
            family: family.to_owned(),
            model: self.model.clone(),
            learning_started_at: Some(self.started_at),
            learning_ends_at: Some(self.ends_at),
            activated_at: None,
            tasks: self.tasks.iter().copied().collect(),
            task_count: self.task_count,
            saved_at: 0,
        }
    }

    /// Learns what defender `defender` reported in `events`, just stored, at `now`.
    pub fn observe(&mut self, defender: i64, events: &[&Event], now: UnixMs) {
        let mut learned = false;
        for event in events {
            match &event.kind {
                EventKind::ProcessStarted(info) if !info.killed => {
                    learned |= self.learn_process(defender, info, now);
                }
                EventKind::PortListening(port) => {
                    let known = port.container.as_deref().is_some_and(|container| {
                        self.model
                            .contains_port(container, port.protocol, port.port)
                    });
                    if !known && !self.room_for(40, port.container.as_deref()) {
                        continue;
                    }
                    if self.model.learn_port(port, now) == Learned::Added {
                        self.bytes += 40;
                    }
                    learned = true;
                }
                _ => {}
            }
        }
        if learned {
            self.dirty = true;
            if self.tasks.contains(&defender) {
                return;
            }
            if self.tasks.len() < MAX_TASKS_KEPT {
                self.tasks.insert(defender);
            }
            self.task_count += 1;
        }
    }

    /// One process: its parent named from what this defender reported before.
    fn learn_process(&mut self, defender: i64, info: &ProcessInfo, now: UnixMs) -> bool {
        if self.parents.len() >= PARENTS_KEPT {
            self.parents.clear();
        }
        self.parents
            .insert((defender, info.pid), info.executable.clone());
        let Some(container) = info.container.as_deref() else {
            return false;
        };
        let facts = ExecFacts {
            container: Some(container.to_owned()),
            pid: info.pid,
            ppid: info.ppid,
            uid: info.uid,
            executable: info.executable.clone(),
            parent_executable: self.parents.get(&(defender, info.ppid)).cloned(),
            ..ExecFacts::default()
        };
        let parent_bytes = facts.parent_executable.as_ref().map_or(0, String::len);
        let record = self
            .model
            .container(container)
            .and_then(|known| known.executable(&facts.executable_path()))
            .map(|record| record.parents.len());
        let cost = match record {
            Some(_) => parent_bytes + 3,
            None => facts.executable.len() + parent_bytes + 110,
        };
        if record.is_none() && !self.room_for(cost, Some(container)) {
            return false;
        }
        let learned = self.model.learn_exec(&facts, now);
        let grew = self
            .model
            .container(container)
            .and_then(|known| known.executable(&facts.executable_path()))
            .map(|now| now.parents.len())
            != record;
        if learned == Learned::Added || grew {
            self.bytes += cost;
        }
        learned != Learned::Ignored
    }

    /// Whether something new weighing `cost` fits the budget; when not, it is counted as
    /// refused in its container's overflow (or the model's, without one).
    fn room_for(&mut self, cost: usize, container: Option<&str>) -> bool {
        if self.bytes + cost <= MODEL_BUDGET_BYTES {
            return true;
        }
        // The count drifts upwards (a parent counted that was already there): measure it.
        self.bytes = serde_json::to_vec(&self.model).map_or(usize::MAX, |json| json.len());
        if self.bytes + cost <= MODEL_BUDGET_BYTES {
            return true;
        }
        match container.and_then(|name| self.model.containers.get_mut(name)) {
            Some(known) => known.overflow = known.overflow.saturating_add(1),
            None => self.model.overflow = self.model.overflow.saturating_add(1),
        }
        self.dirty = true;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_policy::{ListeningPort, Protocol};

    fn started(pid: u32, ppid: u32, executable: &str, container: &str) -> Event {
        Event {
            seq: u64::from(pid),
            at_ms: 0,
            kind: EventKind::ProcessStarted(ProcessInfo {
                pid,
                ppid,
                executable: executable.into(),
                container: Some(container.into()),
                ..ProcessInfo::default()
            }),
        }
    }

    fn learner() -> Learner {
        Learner::resume(&FamilyModel {
            learning_started_at: Some(0),
            learning_ends_at: Some(3_600_000),
            ..FamilyModel::default()
        })
    }

    #[test]
    fn processes_are_learned_with_their_parents_and_ports_per_container() {
        let mut learner = learner();
        let events = [
            started(10, 1, "/usr/sbin/nginx", "web"),
            started(11, 10, "/bin/sh", "web"),
            Event {
                seq: 12,
                at_ms: 0,
                kind: EventKind::PortListening(ListeningPort {
                    protocol: Protocol::Tcp6,
                    port: 80,
                    container: Some("web".into()),
                }),
            },
        ];
        learner.observe(7, &events.iter().collect::<Vec<_>>(), 1_000);
        learner.observe(8, &[&started(20, 1, "/usr/sbin/nginx", "web")], 2_000);
        let web = learner.model.container("web").unwrap();
        assert_eq!(
            web.executable("/bin/sh").unwrap().parents,
            ["/usr/sbin/nginx"]
        );
        assert_eq!(web.executable("/usr/sbin/nginx").unwrap().count, 2);
        assert!(learner.model.contains_port("web", Protocol::Tcp, 80));
        let snapshot = learner.snapshot("shop");
        assert_eq!((snapshot.tasks, snapshot.task_count), (vec![7, 8], 2));
        assert!(learner.dirty);
    }

    #[test]
    fn killed_processes_and_those_without_a_container_teach_nothing() {
        let mut learner = learner();
        let mut killed = started(10, 1, "/tmp/x", "web");
        if let EventKind::ProcessStarted(info) = &mut killed.kind {
            info.killed = true;
        }
        let mut nowhere = started(11, 1, "/bin/ls", "web");
        if let EventKind::ProcessStarted(info) = &mut nowhere.kind {
            info.container = None;
        }
        learner.observe(1, &[&killed, &nowhere], 1);
        assert_eq!(learner.model, Model::default());
        assert_eq!(learner.snapshot("f").task_count, 0);
    }

    #[test]
    fn a_model_past_its_budget_refuses_new_executables_and_counts_them() {
        let mut learner = learner();
        let long = "x".repeat(1000);
        let mut pid = 2;
        while learner.model.overflow == 0
            && learner
                .model
                .container("web")
                .is_none_or(|web| web.overflow == 0)
        {
            let path = format!("/opt/{pid}/{long}");
            learner.observe(1, &[&started(pid, 1, &path, "web")], 1);
            pid += 1;
        }
        let json = serde_json::to_vec(&learner.model).unwrap().len();
        assert!(json <= MODEL_BUDGET_BYTES, "{json} bytes");
        // A known one is still counted.
        let first = format!("/opt/2/{long}");
        learner.observe(1, &[&started(pid, 1, &first, "web")], 2);
        let web = learner.model.container("web").unwrap();
        assert_eq!(web.executable(&first).unwrap().count, 2);
    }
}
