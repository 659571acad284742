//! The processes around an alert, from its defender's stored timeline, worked out when someone
//! looks: the alert's process, its parent chain (each parent the latest process of that pid
//! started before it, up to the workload the wrapper started), and the processes started by the
//! same parent, or by the alert's process itself, within a few seconds of it. A defender keeps its
//! newest 2,000 events: what was trimmed (or removed with the defender) is missing, and said so.

use crate::clock::UnixMs;
use crate::error::{Context, Result};
use palisade_protocol::{Event, EventKind, ProcessInfo};
use sqlx::SqlitePool;

/// Parents followed at most.
const MOST_ANCESTORS: usize = 16;
/// Processes started this close to the alert count as its siblings (or children).
const NEAR_MS: i64 = 5_000;
/// Siblings and children shown at most.
const MOST_NEAR: usize = 20;

/// How a process of the tree relates to the alert's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// A parent; `depth` 1 is the direct parent.
    Ancestor { depth: u32 },
    /// The alert's own process.
    Alert,
    /// Started by the same parent within a few seconds.
    Sibling,
    /// Started by the alert's process.
    Child,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Ancestor { .. } => "ancestor",
            Relation::Alert => "alert",
            Relation::Sibling => "sibling",
            Relation::Child => "child",
        }
    }
}

/// One process of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeNode {
    pub relation: Relation,
    pub pid: u32,
    pub ppid: u32,
    pub user: String,
    pub executable: String,
    pub command_line: String,
    pub container: Option<String>,
    /// When it started (the defender's clock); `None` for the alert's process when its start is
    /// not stored.
    pub at_ms: Option<UnixMs>,
}

/// The tree, ancestors first (the farthest first), then the alert's process, its siblings and
/// children; `note` says what could not be found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    pub nodes: Vec<TreeNode>,
    pub note: Option<String>,
}

/// Where an alert's process is on its defender's timeline.
pub struct Place<'a> {
    pub defender_id: i64,
    pub instance: &'a str,
    pub seq: i64,
    pub at_ms: UnixMs,
}

fn node(relation: Relation, info: &ProcessInfo, at_ms: Option<UnixMs>) -> TreeNode {
    TreeNode {
        relation,
        pid: info.pid,
        ppid: info.ppid,
        user: info.user.clone().map_or_else(
            || format!("uid {}", info.uid),
            |name| format!("{name} ({})", info.uid),
        ),
        executable: info.executable.clone(),
        command_line: info.command_line.clone(),
        container: info.container.clone(),
        at_ms,
    }
}

/// The processes around `process`, whose alert is at `place`.
pub async fn around(db: &SqlitePool, place: &Place<'_>, process: &ProcessInfo) -> Result<Tree> {
    let mut tree = Tree::default();
    let mut ancestors = Vec::new();
    let mut pid = process.ppid;
    let mut before = place.seq;
    while pid > 1 && ancestors.len() < MOST_ANCESTORS {
        let Some((seq, event)) = started(db, place, pid, before).await? else {
            tree.note = Some(format!(
                "the parent pid {pid} is not on the defender's stored timeline (older events are trimmed)"
            ));
            break;
        };
        let depth = ancestors.len() as u32 + 1;
        match event.kind {
            EventKind::ProcessStarted(info) => {
                pid = info.ppid;
                before = seq;
                ancestors.push(node(Relation::Ancestor { depth }, &info, Some(event.at_ms)));
            }
            EventKind::WorkloadStarted {
                container,
                argv,
                pid: root,
                ..
            } => {
                let info = ProcessInfo {
                    pid: root,
                    executable: argv.first().cloned().unwrap_or_default(),
                    command_line: argv.join(" "),
                    container,
                    ..ProcessInfo::default()
                };
                ancestors.push(node(Relation::Ancestor { depth }, &info, Some(event.at_ms)));
                break;
            }
            _ => break,
        }
    }
    ancestors.reverse();
    tree.nodes = ancestors;
    let own = started(db, place, process.pid, place.seq + 1).await?;
    let own_at = own.as_ref().map(|(_, event)| event.at_ms);
    tree.nodes.push(node(Relation::Alert, process, own_at));
    tree.nodes.extend(near(db, place, process).await?);
    Ok(tree)
}

/// The latest start of `pid` before sequence number `before` on the alert's timeline.
async fn started(
    db: &SqlitePool,
    place: &Place<'_>,
    pid: u32,
    before: i64,
) -> Result<Option<(i64, Event)>> {
    let pid = i64::from(pid);
    let row = sqlx::query!(
        "SELECT seq, detail FROM defender_events
         WHERE defender_id = ? AND instance = ? AND pid = ? AND seq < ?
           AND kind IN ('process_started', 'workload_started')
         ORDER BY seq DESC LIMIT 1",
        place.defender_id,
        place.instance,
        pid,
        before
    )
    .fetch_optional(db)
    .await
    .context("reading a process tree")?;
    Ok(row.and_then(|row| {
        serde_json::from_str::<Event>(&row.detail)
            .ok()
            .map(|event| (row.seq, event))
    }))
}

/// The processes started by the same parent, or by the alert's process, near the alert.
async fn near(db: &SqlitePool, place: &Place<'_>, process: &ProcessInfo) -> Result<Vec<TreeNode>> {
    let (from, to) = (place.at_ms - NEAR_MS, place.at_ms + NEAR_MS);
    let rows = sqlx::query!(
        "SELECT detail FROM defender_events
         WHERE defender_id = ? AND instance = ? AND kind = 'process_started' AND at BETWEEN ? AND ?
         ORDER BY seq LIMIT 500",
        place.defender_id,
        place.instance,
        from,
        to
    )
    .fetch_all(db)
    .await
    .context("reading a process tree")?;
    let mut found = Vec::new();
    for row in rows {
        let Ok(event) = serde_json::from_str::<Event>(&row.detail) else {
            continue;
        };
        let EventKind::ProcessStarted(info) = &event.kind else {
            continue;
        };
        let relation = if info.pid == process.pid {
            continue;
        } else if info.ppid == process.pid {
            Relation::Child
        } else if info.ppid == process.ppid && process.ppid > 0 {
            Relation::Sibling
        } else {
            continue;
        };
        found.push(node(relation, info, Some(event.at_ms)));
        if found.len() >= MOST_NEAR {
            break;
        }
    }
    Ok(found)
}
