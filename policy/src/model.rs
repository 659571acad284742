//! What each container of a family normally runs and listens on, learned by the console from the
//! events of all the family's tasks and bounded so it never grows without end: once a container
//! holds [`MAX_MODEL_EXECUTABLES`] executables (or [`MAX_MODEL_PORTS`] ports) further new ones
//! are refused and counted in its `overflow`, which the UI shows.
//!
//! A process matches the model on (container, executable): the parents and users an executable
//! was seen with are recorded for people to read, not compared, so a known program started by a
//! new parent (a shell instead of the service) is not an alert of its own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::facts::{clean_path, ExecFacts, ListeningPort, Protocol};
use crate::{
    MAX_CONTAINER_NAME_CHARS, MAX_MODEL_CONTAINERS, MAX_MODEL_EXECUTABLES, MAX_MODEL_PORTS,
    MAX_PARENTS_PER_EXECUTABLE, MAX_PATH_CHARS, MAX_UIDS_PER_EXECUTABLE,
};

/// The learned model of a family, per container name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Model {
    pub containers: BTreeMap<String, ContainerModel>,
    /// New containers refused because the model already held [`MAX_MODEL_CONTAINERS`].
    pub overflow: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerModel {
    pub executables: Vec<ExecRecord>,
    pub ports: Vec<PortRecord>,
    /// New executables and ports refused because the container's lists were full.
    pub overflow: u64,
}

/// An executable a container ran. Times are Unix milliseconds, as the caller passed them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecRecord {
    pub executable: String,
    /// Parent executables it was seen with (at most [`MAX_PARENTS_PER_EXECUTABLE`]), for display.
    pub parents: Vec<String>,
    /// Users it ran as (at most [`MAX_UIDS_PER_EXECUTABLE`]), for display.
    pub uids: Vec<u32>,
    /// Times it was seen; 0 for one a person marked normal.
    pub count: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// A port a container listened on; `protocol` is `tcp` or `udp` (the address family dropped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRecord {
    pub protocol: Protocol,
    pub port: u16,
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub first_seen_ms: i64,
    #[serde(default)]
    pub last_seen_ms: i64,
}

/// What learning one fact did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// A new executable or port was recorded.
    Added,
    /// It was known; its counters were updated.
    Seen,
    /// It was new but the model was full; counted in an `overflow`.
    Refused,
    /// Nothing to learn: no container, an invalid container name, or no usable path.
    Ignored,
}

/// Whether `name` can be an ECS container name: 1 to 255 letters, digits, `_` and `-`.
pub fn is_container_name(name: &str) -> bool {
    (1..=MAX_CONTAINER_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

impl Model {
    /// The model of one container; a container without one is still being learned.
    pub fn container(&self, name: &str) -> Option<&ContainerModel> {
        self.containers.get(name)
    }

    /// Whether the container's model knows the executable (matched on the path alone).
    pub fn contains_exec(&self, container: &str, executable: &str) -> bool {
        self.container(container)
            .is_some_and(|model| model.executable(&clean_path(executable)).is_some())
    }

    /// Whether the container's model knows the port (`tcp6` counts as `tcp`).
    pub fn contains_port(&self, container: &str, protocol: Protocol, port: u16) -> bool {
        self.container(container).is_some_and(|model| {
            model
                .ports
                .iter()
                .any(|known| known.port == port && known.protocol == protocol.transport())
        })
    }

    /// Learns a process the console heard of at `now_ms`.
    pub fn learn_exec(&mut self, facts: &ExecFacts, now_ms: i64) -> Learned {
        let Some(container) = facts.container.as_deref() else {
            return Learned::Ignored;
        };
        let parent = facts.parent_path();
        let record = ExecRecord {
            executable: facts.executable_path().into_owned(),
            parents: parent
                .into_iter()
                .map(|parent| parent.into_owned())
                .collect(),
            uids: vec![facts.uid],
            count: 1,
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
        };
        self.absorb_exec(container, &record)
    }

    /// Records "this is normal": a person marks an executable as expected in a container.
    pub fn add_exec(&mut self, container: &str, executable: &str, now_ms: i64) -> Learned {
        let record = ExecRecord {
            executable: clean_path(executable).into_owned(),
            count: 0,
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            ..ExecRecord::default()
        };
        self.absorb_exec(container, &record)
    }

    /// Learns a listening port the console heard of at `now_ms`.
    pub fn learn_port(&mut self, port: &ListeningPort, now_ms: i64) -> Learned {
        match port.container.as_deref() {
            Some(container) => self.absorb_port(
                container,
                &PortRecord::new(port.protocol, port.port, 1, now_ms),
            ),
            None => Learned::Ignored,
        }
    }

    /// Records "this port is normal" for a container.
    pub fn add_port(
        &mut self,
        container: &str,
        protocol: Protocol,
        port: u16,
        now_ms: i64,
    ) -> Learned {
        self.absorb_port(container, &PortRecord::new(protocol, port, 0, now_ms))
    }

    /// Folds another model in (the console learns from many tasks): counts add up, times widen,
    /// parents and users join, all within the bounds; what does not fit is counted as refused.
    pub fn merge(&mut self, other: &Model) {
        self.overflow = self.overflow.saturating_add(other.overflow);
        for (name, theirs) in &other.containers {
            let Some(ours) = self.container_mut(name) else {
                continue;
            };
            ours.overflow = ours.overflow.saturating_add(theirs.overflow);
            for record in &theirs.executables {
                ours.absorb_exec(record);
            }
            for record in &theirs.ports {
                ours.absorb_port(record);
            }
        }
    }

    fn absorb_exec(&mut self, container: &str, record: &ExecRecord) -> Learned {
        let path = &record.executable;
        if path.is_empty() || !path.starts_with('/') || path.chars().count() > MAX_PATH_CHARS {
            return Learned::Ignored;
        }
        match self.container_mut(container) {
            Some(model) => model.absorb_exec(record),
            None if is_container_name(container) => Learned::Refused,
            None => Learned::Ignored,
        }
    }

    fn absorb_port(&mut self, container: &str, record: &PortRecord) -> Learned {
        if record.port == 0 {
            return Learned::Ignored;
        }
        match self.container_mut(container) {
            Some(model) => model.absorb_port(record),
            None if is_container_name(container) => Learned::Refused,
            None => Learned::Ignored,
        }
    }

    /// The container's model, made when there is room (a full model counts the refusal).
    fn container_mut(&mut self, name: &str) -> Option<&mut ContainerModel> {
        if !self.containers.contains_key(name) {
            if !is_container_name(name) {
                return None;
            }
            if self.containers.len() >= MAX_MODEL_CONTAINERS {
                self.overflow = self.overflow.saturating_add(1);
                return None;
            }
        }
        Some(self.containers.entry(name.to_owned()).or_default())
    }
}

impl ContainerModel {
    /// The record of an executable (a cleaned path).
    pub fn executable(&self, path: &str) -> Option<&ExecRecord> {
        self.executables
            .iter()
            .find(|known| known.executable == path)
    }

    fn absorb_exec(&mut self, record: &ExecRecord) -> Learned {
        let found = self
            .executables
            .iter_mut()
            .find(|known| known.executable == record.executable);
        if let Some(known) = found {
            known.absorb(record);
            return Learned::Seen;
        }
        if self.executables.len() >= MAX_MODEL_EXECUTABLES {
            self.overflow = self.overflow.saturating_add(1);
            return Learned::Refused;
        }
        let mut fresh = ExecRecord {
            executable: record.executable.clone(),
            count: 0,
            first_seen_ms: record.first_seen_ms,
            last_seen_ms: record.last_seen_ms,
            ..ExecRecord::default()
        };
        fresh.absorb(record);
        self.executables.push(fresh);
        Learned::Added
    }

    fn absorb_port(&mut self, record: &PortRecord) -> Learned {
        let protocol = record.protocol.transport();
        let found = self
            .ports
            .iter_mut()
            .find(|known| known.port == record.port && known.protocol == protocol);
        if let Some(known) = found {
            known.count = known.count.saturating_add(record.count);
            known.first_seen_ms = known.first_seen_ms.min(record.first_seen_ms);
            known.last_seen_ms = known.last_seen_ms.max(record.last_seen_ms);
            return Learned::Seen;
        }
        if self.ports.len() >= MAX_MODEL_PORTS {
            self.overflow = self.overflow.saturating_add(1);
            return Learned::Refused;
        }
        self.ports.push(PortRecord {
            protocol,
            ..record.clone()
        });
        Learned::Added
    }
}

impl ExecRecord {
    /// Adds another sighting of the same executable, keeping parents and users bounded.
    fn absorb(&mut self, other: &ExecRecord) {
        self.count = self.count.saturating_add(other.count);
        self.first_seen_ms = self.first_seen_ms.min(other.first_seen_ms);
        self.last_seen_ms = self.last_seen_ms.max(other.last_seen_ms);
        for parent in &other.parents {
            let fits = self.parents.len() < MAX_PARENTS_PER_EXECUTABLE
                && parent.chars().count() <= MAX_PATH_CHARS;
            if fits && !self.parents.contains(parent) {
                self.parents.push(parent.clone());
            }
        }
        for uid in &other.uids {
            if self.uids.len() < MAX_UIDS_PER_EXECUTABLE && !self.uids.contains(uid) {
                self.uids.push(*uid);
            }
        }
    }
}

impl PortRecord {
    fn new(protocol: Protocol, port: u16, count: u64, now_ms: i64) -> Self {
        PortRecord {
            protocol: protocol.transport(),
            port,
            count,
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(container: &str, executable: &str, parent: &str, uid: u32) -> ExecFacts {
        ExecFacts {
            container: Some(container.into()),
            executable: executable.into(),
            parent_executable: Some(parent.into()),
            uid,
            ..ExecFacts::default()
        }
    }

    #[test]
    fn learning_counts_sightings_and_keeps_parents_and_users_for_display() {
        let mut model = Model::default();
        let first = exec("web", "/usr/sbin/nginx", "/palisade/palisade-defender", 0);
        assert_eq!(model.learn_exec(&first, 1_000), Learned::Added);
        let again = exec("web", "/usr/sbin/nginx", "/usr/sbin/nginx", 101);
        assert_eq!(model.learn_exec(&again, 5_000), Learned::Seen);
        let record = model
            .container("web")
            .unwrap()
            .executable("/usr/sbin/nginx")
            .unwrap();
        assert_eq!(record.count, 2);
        assert_eq!((record.first_seen_ms, record.last_seen_ms), (1_000, 5_000));
        assert_eq!(
            record.parents,
            ["/palisade/palisade-defender", "/usr/sbin/nginx"]
        );
        assert_eq!(record.uids, [0, 101]);
        assert!(model.contains_exec("web", "/usr/sbin/nginx"));
        assert!(model.contains_exec("web", "/usr/sbin/nginx (deleted)"));
        assert!(!model.contains_exec("worker", "/usr/sbin/nginx"));
    }

    #[test]
    fn a_full_container_refuses_new_executables_and_counts_them() {
        let mut model = Model::default();
        for n in 0..MAX_MODEL_EXECUTABLES {
            let facts = exec("web", &format!("/bin/p{n}"), "/bin/sh", 0);
            assert_eq!(model.learn_exec(&facts, 1), Learned::Added);
        }
        let known = exec("web", "/bin/p7", "/bin/sh", 0);
        assert_eq!(model.learn_exec(&known, 2), Learned::Seen);
        let new = exec("web", "/bin/one-more", "/bin/sh", 0);
        assert_eq!(model.learn_exec(&new, 2), Learned::Refused);
        assert_eq!(model.add_exec("web", "/bin/clicked", 2), Learned::Refused);
        let web = model.container("web").unwrap();
        assert_eq!(
            (web.executables.len(), web.overflow),
            (MAX_MODEL_EXECUTABLES, 2)
        );
    }

    #[test]
    fn parents_users_containers_and_ports_are_bounded_too() {
        let mut model = Model::default();
        for n in 0..20 {
            model.learn_exec(&exec("web", "/bin/sh", &format!("/bin/p{n}"), n), 1);
        }
        let record = model
            .container("web")
            .unwrap()
            .executable("/bin/sh")
            .unwrap();
        assert_eq!(record.parents.len(), MAX_PARENTS_PER_EXECUTABLE);
        assert_eq!(record.uids.len(), MAX_UIDS_PER_EXECUTABLE);
        for n in 0..=MAX_MODEL_CONTAINERS {
            model.add_exec(&format!("c{n}"), "/bin/sh", 1);
        }
        assert_eq!(model.containers.len(), MAX_MODEL_CONTAINERS);
        assert_eq!(model.overflow, 2, "web was one of them");
        for port in 1..=(MAX_MODEL_PORTS as u16 + 3) {
            model.add_port("web", Protocol::Tcp, port, 1);
        }
        let web = model.container("web").unwrap();
        assert_eq!((web.ports.len(), web.overflow), (MAX_MODEL_PORTS, 3));
    }

    #[test]
    fn nothing_is_learned_without_a_container_or_a_usable_path() {
        let mut model = Model::default();
        let mut facts = exec("web", "/bin/sh", "/bin/sh", 0);
        facts.container = None;
        assert_eq!(model.learn_exec(&facts, 1), Learned::Ignored);
        assert_eq!(model.add_exec("web", "", 1), Learned::Ignored);
        assert_eq!(model.add_exec("bad/name", "/bin/sh", 1), Learned::Ignored);
        let long = format!("/{}", "a".repeat(MAX_PATH_CHARS));
        assert_eq!(model.add_exec("web", &long, 1), Learned::Ignored);
        assert_eq!(model.add_port("web", Protocol::Tcp, 0, 1), Learned::Ignored);
        assert_eq!(model, Model::default());
    }

    #[test]
    fn ports_are_learned_per_transport() {
        let mut model = Model::default();
        let port = ListeningPort {
            protocol: Protocol::Tcp6,
            port: 8080,
            container: Some("web".into()),
        };
        assert_eq!(model.learn_port(&port, 1), Learned::Added);
        assert!(model.contains_port("web", Protocol::Tcp, 8080));
        assert!(model.contains_port("web", Protocol::Tcp6, 8080));
        assert!(!model.contains_port("web", Protocol::Udp, 8080));
        let learned = ListeningPort {
            protocol: Protocol::Tcp,
            ..port
        };
        assert_eq!(model.learn_port(&learned, 2), Learned::Seen);
    }

    #[test]
    fn merging_adds_counts_widens_times_and_stays_bounded() {
        let mut ours = Model::default();
        ours.learn_exec(&exec("web", "/usr/sbin/nginx", "/bin/sh", 0), 2_000);
        let mut theirs = Model::default();
        theirs.learn_exec(
            &exec("web", "/usr/sbin/nginx", "/usr/sbin/nginx", 101),
            1_000,
        );
        theirs.learn_exec(&exec("web", "/usr/bin/curl", "/bin/sh", 0), 3_000);
        theirs.learn_exec(&exec("worker", "/app/worker", "/bin/sh", 0), 3_000);
        theirs.containers.get_mut("web").unwrap().overflow = 4;
        ours.merge(&theirs);
        let web = ours.container("web").unwrap();
        let nginx = web.executable("/usr/sbin/nginx").unwrap();
        assert_eq!(
            (nginx.count, nginx.first_seen_ms, nginx.last_seen_ms),
            (2, 1_000, 2_000)
        );
        assert_eq!(nginx.parents, ["/bin/sh", "/usr/sbin/nginx"]);
        assert!(ours.contains_exec("web", "/usr/bin/curl"));
        assert!(ours.contains_exec("worker", "/app/worker"));
        assert_eq!(web.overflow, 4);
        let twice = {
            let mut again = ours.clone();
            again.merge(&Model::default());
            again
        };
        assert_eq!(twice, ours, "merging an empty model changes nothing");
    }
}
