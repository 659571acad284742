//! Runtime defense against a real SQLite file and the real defenders' writer: alerts grouped
//! into incidents (and a flood of them collapsed into one), learning from stored events and the
//! model put in force, a person's edits (settings, relearn, extend, "this is normal"), their
//! refusals and audit entries, the process tree around an alert, and silent defenders.

mod edits;
mod grouping;

use crate::auth::{Principal, Role, Who};
use crate::defenders::changes::DefenderChanges;
use crate::defenders::events::EventsKept;
use crate::defenders::recorder::{Recorder, StorageBounds};
use crate::defenders::{presence, tokens};
use crate::{Actor, Console};
use palisade_policy::{Action, Alert, RuleId, Severity};
use palisade_protocol::{
    AlertReport, ContainerIdentity, Event, EventKind, Hello, ProcessInfo, TaskIdentity,
};
use sqlx::SqlitePool;

/// A person of `role`, as the use-cases take them.
fn person(name: &str, role: Role) -> Actor {
    Actor::remote(
        Some(Principal {
            who: Who::User {
                id: 1,
                username: name.into(),
            },
            role,
        }),
        "10.0.0.1",
    )
}

/// A defender of `family` for task `task` (containers `web` and `worker`), connected.
async fn defender(db: &SqlitePool, family: &str, task: &str) -> i64 {
    let token = tokens::create(db, family, "").await.unwrap();
    let hello = Hello {
        protocol: 1,
        instance: format!("i-{task}"),
        task: TaskIdentity {
            task_arn: format!("arn:aws:ecs:us-east-1:1:task/prod/{task}"),
            cluster: "prod".into(),
            family: family.into(),
            containers: ["web", "worker"]
                .map(|name| ContainerIdentity {
                    name: name.into(),
                    ..ContainerIdentity::default()
                })
                .to_vec(),
            ..TaskIdentity::default()
        },
        ..Hello::default()
    };
    presence::connected_now(db, token.id, &hello, &format!("c-{task}"))
        .await
        .unwrap()
        .0
}

fn process(pid: u32, ppid: u32, executable: &str, container: &str) -> ProcessInfo {
    ProcessInfo {
        pid,
        ppid,
        uid: 0,
        executable: executable.into(),
        command_line: format!("{executable} --run"),
        container: Some(container.into()),
        ..ProcessInfo::default()
    }
}

fn started(seq: u64, info: ProcessInfo) -> Event {
    Event {
        seq,
        at_ms: 1_700_000_000_000 + seq as i64,
        kind: EventKind::ProcessStarted(info),
    }
}

/// An alert of `rule` about `info`, as a defender reports it.
fn alert(seq: u64, rule: RuleId, info: ProcessInfo) -> Event {
    Event {
        seq,
        at_ms: 1_700_000_000_000 + seq as i64,
        kind: EventKind::Alert(Box::new(AlertReport {
            policy_revision: 1,
            alerts: vec![Alert {
                rule,
                severity: Severity::Low,
                message: format!("{} ran", info.executable),
            }],
            action: Action::Allow,
            outcome: None,
            process: Some(info),
            port: None,
        })),
    }
}

fn keep_all() -> StorageBounds {
    StorageBounds::keeping(EventsKept {
        count: 100_000,
        bytes: 1 << 30,
    })
}

/// A console on a fresh database, with its writer learning.
async fn console() -> (tempfile::TempDir, Console, Recorder) {
    let (dir, db) = crate::testing::database().await;
    let console = Console::with_pool(db);
    let recorder = Recorder::start_learning(
        console.db().clone(),
        keep_all(),
        DefenderChanges::default(),
        Some(console.runtime.clone()),
    );
    (dir, console, recorder)
}

/// The audit log's actions, newest first.
async fn audited(console: &Console) -> Vec<(String, String, String)> {
    console
        .audit_log()
        .list(100, None)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| (entry.action, entry.target, entry.outcome))
        .collect()
}
