//! The defender channel's messages, defined once for both ends: the console (`server/`) and the
//! sidecar (`defender/`), plus the loopback messages between the entrypoint wrapper and the sidecar.
//!
//! Versioning: `hello` carries [`PROTOCOL_VERSION`]. Fields are only ever added, with a serde
//! default, and unknown fields are ignored, so an older defender keeps talking to a newer console
//! (and the other way round); a message type one end does not know decodes as `Unknown` and is
//! skipped. A change that cannot be made that way bumps the version, and the console keeps
//! accepting the older one.

pub use palisade_policy::{Action, Alert, ListeningPort, Policy};
use serde::{Deserialize, Serialize};

/// The version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Where the defender connects, under `PALISADE_CONSOLE_URL`.
pub const CONNECT_PATH: &str = "/api/v1/defenders/connect";

/// The largest message either end sends or accepts; the console closes the socket on a bigger one.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// At most this many events in one `events` message.
pub const MAX_EVENTS_PER_MESSAGE: usize = 200;

/// Longest command line kept per process (longer ones are cut, with `…`).
pub const MAX_COMMAND_LINE_CHARS: usize = 2048;

/// Longest executable path, user or container name, or identity field kept.
pub const MAX_FIELD_CHARS: usize = 1024;

/// Characters of a workload's argv kept, all arguments together (and at most this many arguments).
pub const MAX_ARGV_CHARS: usize = 4096;

/// What one event can weigh once [`Event::clamp`]ed, JSON-escaped at worst (6 bytes a character):
/// well under [`MAX_MESSAGE_BYTES`], so a batch always has room for at least one.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Defender -> console.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DefenderMessage {
    /// First message on every connection.
    Hello(Box<Hello>),
    /// Every `heartbeat_secs` (from `welcome`).
    Heartbeat(Heartbeat),
    /// Events in order; the console answers `ack` with the last sequence number it stored.
    Events { events: Vec<Event> },
    #[serde(other)]
    Unknown,
}

/// Console -> defender.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConsoleMessage {
    /// `hello` accepted. `last_seq` is the last event sequence number the console has of this
    /// defender instance: the defender drops those from its buffer and sends the rest.
    Welcome {
        defender_id: i64,
        heartbeat_secs: u64,
        #[serde(default)]
        last_seq: u64,
    },
    /// Events up to `seq` are stored.
    Ack { seq: u64 },
    /// The connection is refused (bad token, family mismatch, malformed message); it closes next.
    Refused { reason: String },
    /// The family's runtime-defense policy, after `welcome` and again whenever it changes. Data
    /// only: nothing in it is run. The defender keeps judging with the last one it had while the
    /// console is away, and names `revision` in the alerts it judged with it.
    Policy(Box<PolicyUpdate>),
    #[serde(other)]
    Unknown,
}

/// A family's policy as the console sends it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyUpdate {
    /// Grows with every change of the family's policy or model.
    pub revision: u64,
    pub policy: Policy,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    /// The defender's version (its crate version).
    pub version: String,
    /// Random per start of the defender process, so the console knows when sequence numbers
    /// restart.
    pub instance: String,
    /// `availability` or `security`.
    #[serde(default)]
    pub mode: String,
    pub task: TaskIdentity,
}

/// What the ECS task metadata endpoint v4 says about the task.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskIdentity {
    pub task_arn: String,
    pub cluster: String,
    pub family: String,
    pub revision: String,
    pub availability_zone: String,
    pub launch_type: String,
    pub containers: Vec<ContainerIdentity>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerIdentity {
    pub name: String,
    pub image: String,
    pub docker_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Heartbeat {
    /// Processes running in the task now.
    pub process_count: u32,
    /// Events dropped because the buffer was full while the console was away.
    pub dropped_events: u64,
}

/// Something that happened in the task, numbered from 1 per defender instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// Unix time in milliseconds.
    pub at_ms: i64,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    ProcessStarted(ProcessInfo),
    ProcessExited {
        pid: u32,
        #[serde(default)]
        container: Option<String>,
    },
    /// A wrapped workload started (reported by `palisade-defender exec`).
    WorkloadStarted {
        container: Option<String>,
        pid: u32,
        argv: Vec<String>,
        /// Whether the wrapper traces the workload's processes: `ptrace`, or why not (`off: ...`).
        /// `None` from a wrapper older than tracing.
        #[serde(default)]
        tracing: Option<String>,
    },
    /// A wrapped workload ended: its exit code, or the signal that killed it.
    WorkloadExited {
        container: Option<String>,
        pid: u32,
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// A process or a port judged against the family's policy raised alerts.
    Alert(Box<AlertReport>),
    /// A port a container of the task listens on (seen from the task's network namespace): what
    /// learning records and `new-listening-port` judges. Reported when first seen.
    PortListening(ListeningPort),
    #[serde(other)]
    Unknown,
}

/// At most this many alerts in one [`AlertReport`] (one per rule is the most a judge gives).
pub const MAX_ALERTS_PER_REPORT: usize = 16;

/// Longest alert message or kill outcome kept.
pub const MAX_ALERT_TEXT_CHARS: usize = 200;

/// What the defender judged, what fired, and what it did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertReport {
    /// The revision of the policy judged with ([`PolicyUpdate::revision`]; 0 for the built-in
    /// default a defender uses before any policy arrived).
    pub policy_revision: u64,
    pub alerts: Vec<Alert>,
    /// What the policy asked for.
    pub action: Action,
    /// What happened when the action was to kill: `killed before it ran` (a traced exec),
    /// `killed`, or why not (`ended before it could be killed`, `kill refused: ...`).
    pub outcome: Option<String>,
    /// The process judged, for a process alert.
    pub process: Option<ProcessInfo>,
    /// The port judged, for a port alert.
    pub port: Option<ListeningPort>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    /// The user name when the defender's /etc/passwd knows the uid.
    pub user: Option<String>,
    pub executable: String,
    pub command_line: String,
    /// Container name, when the process's cgroup names a container of the task.
    pub container: Option<String>,
    /// Who saw it start: the sidecar's `/proc` scan, or a wrapper tracing its workload (every
    /// exec, seen before the new program's first instruction).
    pub source: ProcessSource,
    /// The wrapper killed it at its exec, before it ran (a policy judged it).
    pub killed: bool,
}

/// How a process start was seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessSource {
    /// The sidecar's `/proc` scan (and probe): may miss a process shorter than its interval.
    #[default]
    Scan,
    /// A wrapper's tracer: each exec of its workload, however short it lives.
    Trace,
    /// A source this end does not know.
    #[serde(other)]
    Unknown,
}

/// Wrapper <-> sidecar, one JSON object per line over loopback TCP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LocalMessage {
    /// From the wrapper: `kind` is `workload_started` or `workload_exited`. `container_id` is
    /// the last segment of the wrapper's `ECS_CONTAINER_METADATA_URI_V4`.
    Report {
        container_id: Option<String>,
        kind: EventKind,
    },
    /// From the wrapper, first on its persistent connection (a stream of `exec` and `report`
    /// lines for as long as the workload runs). `container_id` as in `report` (absent from a
    /// wrapper older than judging): the sidecar answers with the container's name in `welcome`.
    Stream {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container_id: Option<String>,
    },
    /// From the wrapper's tracer: a process of its workload exec'd. `start_time` is its start in
    /// clock ticks after boot (`/proc/PID/stat`), which with the pid tells it from a later
    /// process of the same pid, so the sidecar's scan does not report it again. `alert`: what
    /// the wrapper's judge found at the exec (its `process` left empty: it is this one), absent
    /// when nothing fired.
    Exec {
        container_id: Option<String>,
        start_time: u64,
        process: ProcessInfo,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alert: Option<Box<AlertReport>>,
    },
    /// From the sidecar, first on a wrapper's stream and again whenever it changes: the
    /// defender's mode (`availability` or `security`: what the wrapper does when it can no longer
    /// reach the sidecar) and the name of the wrapper's container, for its judge.
    Welcome {
        mode: String,
        #[serde(default)]
        container: Option<String>,
    },
    /// From the sidecar, on a wrapper's stream: the policy in force, right after `welcome` and
    /// again whenever it changes. The wrapper judges each exec with the last one it got, also
    /// once the sidecar is gone. A line may be as long as the largest policy.
    Policy(Box<PolicyUpdate>),
    /// From the wrapper: exec records it could not queue for the sidecar since it started (its
    /// queue was full), a running total.
    ExecsDropped { count: u64 },
    /// From `palisade-defender health`: answered with `status`.
    StatusRequest,
    Status {
        binary_ready: bool,
        connected: bool,
        healthy: bool,
    },
    #[serde(other)]
    Unknown,
}

impl Event {
    /// Cuts every string of the event to its limit, so the event weighs at most
    /// [`MAX_EVENT_BYTES`]. The defender clamps what it buffers; the console clamps what it
    /// receives (it trusts no defender to have done so).
    pub fn clamp(&mut self) {
        match &mut self.kind {
            EventKind::ProcessStarted(info) => info.clamp(),
            EventKind::ProcessExited { container, .. }
            | EventKind::WorkloadExited { container, .. } => {
                cut_option(container, MAX_FIELD_CHARS);
            }
            EventKind::WorkloadStarted {
                container,
                argv,
                tracing,
                ..
            } => {
                cut_option(container, MAX_FIELD_CHARS);
                cut_option(tracing, MAX_FIELD_CHARS);
                // Arguments are kept while the budget lasts; the one that overflows it is cut,
                // the rest go.
                let mut budget = MAX_ARGV_CHARS;
                let mut keep = argv.len().min(MAX_ARGV_CHARS);
                for (index, argument) in argv.iter_mut().take(keep).enumerate() {
                    let length = argument.chars().count();
                    if length > budget {
                        cut(argument, budget);
                        keep = index + 1;
                        break;
                    }
                    budget -= length;
                }
                argv.truncate(keep);
            }
            EventKind::Alert(report) => {
                report.alerts.truncate(MAX_ALERTS_PER_REPORT);
                for alert in &mut report.alerts {
                    cut(&mut alert.message, MAX_ALERT_TEXT_CHARS);
                }
                cut_option(&mut report.outcome, MAX_ALERT_TEXT_CHARS);
                if let Some(info) = &mut report.process {
                    info.clamp();
                }
                if let Some(port) = &mut report.port {
                    cut_option(&mut port.container, MAX_FIELD_CHARS);
                }
            }
            EventKind::PortListening(port) => cut_option(&mut port.container, MAX_FIELD_CHARS),
            EventKind::Unknown => {}
        }
    }
}

impl ProcessInfo {
    /// Cuts every string to its limit.
    pub fn clamp(&mut self) {
        cut(&mut self.executable, MAX_FIELD_CHARS);
        cut(&mut self.command_line, MAX_COMMAND_LINE_CHARS);
        cut_option(&mut self.user, MAX_FIELD_CHARS);
        cut_option(&mut self.container, MAX_FIELD_CHARS);
    }
}

/// Cuts `text` to `max` characters in place (marking the cut).
fn cut(text: &mut String, max: usize) {
    if text.chars().nth(max).is_some() {
        *text = truncate_chars(text, max);
    }
}

fn cut_option(text: &mut Option<String>, max: usize) {
    if let Some(text) = text {
        cut(text, max);
    }
}

impl Hello {
    /// Why this hello cannot be from a real task: a field or the container list longer than any
    /// task's. `None` when it is plausible.
    pub fn oversized(&self) -> Option<&'static str> {
        let task = &self.task;
        let fields = [
            &task.task_arn,
            &task.cluster,
            &task.family,
            &task.revision,
            &task.availability_zone,
            &task.launch_type,
            &self.version,
            &self.instance,
            &self.mode,
        ];
        if fields.iter().any(|field| field.len() > MAX_FIELD_CHARS) {
            return Some("a field of the hello is longer than any task's");
        }
        if task.containers.len() > 64 {
            return Some("the hello names more containers than a task can have");
        }
        let container_fields = task
            .containers
            .iter()
            .flat_map(|container| [&container.name, &container.image, &container.docker_id]);
        if container_fields
            .into_iter()
            .any(|field| field.len() > MAX_FIELD_CHARS)
        {
            return Some("a container of the hello has a field longer than any task's");
        }
        None
    }
}

/// Cuts `text` to `max` characters, marking the cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_and_fields_from_a_newer_peer_are_tolerated() {
        let newer = r#"{"type":"heartbeat","process_count":3,"cpu_percent":1.5}"#;
        let decoded: DefenderMessage = serde_json::from_str(newer).unwrap();
        assert_eq!(
            decoded,
            DefenderMessage::Heartbeat(Heartbeat {
                process_count: 3,
                dropped_events: 0
            })
        );
        let unknown: DefenderMessage =
            serde_json::from_str(r#"{"type":"file_opened","path":"/x"}"#).unwrap();
        assert_eq!(unknown, DefenderMessage::Unknown);
        let event: Event =
            serde_json::from_str(r#"{"seq":4,"at_ms":1,"event":"dns_query","name":"x"}"#).unwrap();
        assert_eq!(event.kind, EventKind::Unknown);
    }

    #[test]
    fn events_round_trip_flat() {
        let event = Event {
            seq: 7,
            at_ms: 1_700_000_000_000,
            kind: EventKind::WorkloadExited {
                container: Some("web".into()),
                pid: 12,
                code: None,
                signal: Some(15),
            },
        };
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.contains(r#""event":"workload_exited""#), "{text}");
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event);
    }

    #[test]
    fn a_clamped_event_fits_its_bound_whatever_it_held() {
        // Control characters: six bytes each once JSON-escaped, the worst case.
        let huge = "\u{1}".repeat(100_000);
        let events = [
            Event {
                seq: 1,
                at_ms: 0,
                kind: EventKind::ProcessStarted(ProcessInfo {
                    executable: huge.clone(),
                    command_line: huge.clone(),
                    user: Some(huge.clone()),
                    container: Some(huge.clone()),
                    ..ProcessInfo::default()
                }),
            },
            Event {
                seq: 2,
                at_ms: 0,
                kind: EventKind::WorkloadStarted {
                    container: Some(huge.clone()),
                    pid: 1,
                    argv: vec![huge.clone(); 10_000],
                    tracing: Some("ptrace".into()),
                },
            },
        ];
        let alert = Alert {
            rule: palisade_policy::RuleId::NotInModel,
            severity: palisade_policy::Severity::Medium,
            message: huge.clone(),
        };
        let process = ProcessInfo {
            executable: huge.clone(),
            command_line: huge.clone(),
            user: Some(huge.clone()),
            container: Some(huge.clone()),
            ..ProcessInfo::default()
        };
        let mut events = events.to_vec();
        events.push(Event {
            seq: 3,
            at_ms: 0,
            kind: EventKind::Alert(Box::new(AlertReport {
                alerts: vec![alert; 1_000],
                outcome: Some(huge.clone()),
                process: Some(process),
                port: Some(ListeningPort {
                    protocol: palisade_policy::Protocol::Tcp,
                    port: 1,
                    container: Some(huge.clone()),
                }),
                ..AlertReport::default()
            })),
        });
        for event in &mut events {
            event.clamp();
            let bytes = serde_json::to_vec(event).unwrap().len();
            assert!(bytes <= MAX_EVENT_BYTES, "{bytes} bytes");
        }
        let EventKind::Alert(report) = &events[2].kind else {
            unreachable!()
        };
        assert_eq!(report.alerts.len(), MAX_ALERTS_PER_REPORT);
        let EventKind::WorkloadStarted { argv, .. } = &events[1].kind else {
            unreachable!()
        };
        assert_eq!(argv.len(), 1, "the first argument already used the budget");
        // Short ones are untouched.
        let mut short = Event {
            seq: 3,
            at_ms: 0,
            kind: EventKind::WorkloadStarted {
                container: Some("web".into()),
                pid: 1,
                argv: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
                tracing: None,
            },
        };
        let before = short.clone();
        short.clamp();
        assert_eq!(short, before);
    }

    #[test]
    fn a_policy_and_an_alert_travel_tagged() {
        let update = ConsoleMessage::Policy(Box::new(PolicyUpdate {
            revision: 3,
            policy: Policy::default(),
        }));
        let text = serde_json::to_string(&update).unwrap();
        assert!(
            text.starts_with(r#"{"type":"policy","revision":3,"#),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<ConsoleMessage>(&text).unwrap(),
            update
        );
        let event: Event = serde_json::from_str(
            r#"{"seq":1,"at_ms":2,"event":"alert","policy_revision":3,"action":"kill",
                "alerts":[{"rule":"not-from-image","severity":"high","message":"/tmp/x"}],
                "outcome":"killed before it ran","process":{"pid":9,"executable":"/tmp/x"}}"#,
        )
        .unwrap();
        let EventKind::Alert(report) = event.kind else {
            panic!("{event:?}")
        };
        assert_eq!(report.action, Action::Kill);
        assert_eq!(report.process.unwrap().executable, "/tmp/x");
        let port: Event = serde_json::from_str(
            r#"{"seq":2,"at_ms":2,"event":"port_listening","protocol":"tcp","port":8080,"container":"web"}"#,
        )
        .unwrap();
        assert!(matches!(
            port.kind,
            EventKind::PortListening(ListeningPort { port: 8080, .. })
        ));
    }

    #[test]
    fn tracing_fields_are_optional_both_ways() {
        // From a defender older than tracing: the new fields take their defaults.
        let older: Event = serde_json::from_str(
            r#"{"seq":1,"at_ms":0,"event":"process_started","pid":5,"ppid":1,"uid":0,
                "user":null,"executable":"/bin/true","command_line":"true","container":null}"#,
        )
        .unwrap();
        let EventKind::ProcessStarted(info) = &older.kind else {
            unreachable!()
        };
        assert_eq!((info.source, info.killed), (ProcessSource::Scan, false));
        let started: EventKind = serde_json::from_str(
            r#"{"event":"workload_started","container":null,"pid":1,"argv":["sh"]}"#,
        )
        .unwrap();
        assert!(matches!(
            started,
            EventKind::WorkloadStarted { tracing: None, .. }
        ));
        // A traced, killed exec round-trips; a source from a newer peer is `unknown`.
        let traced = EventKind::ProcessStarted(ProcessInfo {
            pid: 9,
            executable: "/usr/bin/touch".into(),
            source: ProcessSource::Trace,
            killed: true,
            ..ProcessInfo::default()
        });
        let text = serde_json::to_string(&traced).unwrap();
        assert!(
            text.contains(r#""source":"trace""#) && text.contains(r#""killed":true"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<EventKind>(&text).unwrap(), traced);
        let newer = text.replace(r#""source":"trace""#, r#""source":"ebpf""#);
        let EventKind::ProcessStarted(info) = serde_json::from_str(&newer).unwrap() else {
            unreachable!()
        };
        assert_eq!(info.source, ProcessSource::Unknown);
    }

    #[test]
    fn the_wrappers_stream_messages_round_trip() {
        let exec = LocalMessage::Exec {
            container_id: Some("abc".into()),
            start_time: 12345,
            process: ProcessInfo {
                pid: 7,
                command_line: "/bin/true 0".into(),
                source: ProcessSource::Trace,
                ..ProcessInfo::default()
            },
            alert: Some(Box::new(AlertReport {
                policy_revision: 4,
                action: Action::Kill,
                outcome: Some("killed before it ran".into()),
                ..AlertReport::default()
            })),
        };
        for message in [
            exec,
            LocalMessage::Stream {
                container_id: Some("abc".into()),
            },
            LocalMessage::ExecsDropped { count: 3 },
            LocalMessage::Welcome {
                mode: "security".into(),
                container: Some("web".into()),
            },
            LocalMessage::Policy(Box::default()),
        ] {
            let text = serde_json::to_string(&message).unwrap();
            assert_eq!(
                serde_json::from_str::<LocalMessage>(&text).unwrap(),
                message
            );
        }
        // A wrapper older than judging: no container, no alert.
        assert_eq!(
            serde_json::to_string(&LocalMessage::Stream { container_id: None }).unwrap(),
            r#"{"type":"stream"}"#
        );
        assert_eq!(
            serde_json::from_str::<LocalMessage>(r#"{"type":"stream"}"#).unwrap(),
            LocalMessage::Stream { container_id: None }
        );
        let older = r#"{"type":"exec","container_id":null,"start_time":1,"process":{"pid":2}}"#;
        let LocalMessage::Exec { alert, .. } = serde_json::from_str(older).unwrap() else {
            unreachable!()
        };
        assert_eq!(alert, None);
    }

    #[test]
    fn truncation_marks_the_cut_and_respects_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé…");
        assert_eq!(truncate_chars("hi", 2), "hi");
    }
}
