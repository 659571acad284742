//! What defenders report (processes started and exited, wrapped workloads' starts and exit
//! codes), stored exactly once by sequence number and trimmed to the newest per defender; and the
//! timeline the defender page shows.

use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Result};
use palisade_protocol::{Event, EventKind};
use sqlx::SqlitePool;

/// One entry of a defender's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEvent {
    pub seq: i64,
    pub at_ms: UnixMs,
    /// `process_started`, `process_exited`, `workload_started`, `workload_exited` or `unknown`.
    pub kind: String,
    pub pid: Option<i64>,
    pub container: Option<String>,
    /// What happened, in a line.
    pub summary: String,
}

/// How an event is stored and told: its kind's name, pid, container and a line.
fn describe(kind: &EventKind) -> (&'static str, Option<i64>, Option<String>, String) {
    match kind {
        EventKind::ProcessStarted(info) => {
            let user = info
                .user
                .clone()
                .map(|name| format!("{name} ({})", info.uid))
                .unwrap_or_else(|| format!("uid {}", info.uid));
            let what = if info.command_line.is_empty() {
                info.executable.clone()
            } else {
                info.command_line.clone()
            };
            (
                "process_started",
                Some(i64::from(info.pid)),
                info.container.clone(),
                format!("started {what} as {user}, parent {}", info.ppid),
            )
        }
        EventKind::ProcessExited { pid, container } => (
            "process_exited",
            Some(i64::from(*pid)),
            container.clone(),
            "exited".into(),
        ),
        EventKind::WorkloadStarted {
            container,
            pid,
            argv,
        } => (
            "workload_started",
            Some(i64::from(*pid)),
            container.clone(),
            format!("workload started: {}", argv.join(" ")),
        ),
        EventKind::WorkloadExited {
            container,
            pid,
            code,
            signal,
        } => {
            let how = match (code, signal) {
                (_, Some(signal)) => format!("killed by signal {signal}"),
                (Some(code), None) => format!("exit code {code}"),
                (None, None) => "ended".into(),
            };
            (
                "workload_exited",
                Some(i64::from(*pid)),
                container.clone(),
                format!("workload ended: {how}"),
            )
        }
        EventKind::Unknown => (
            "unknown",
            None,
            None,
            "an event this console does not know".into(),
        ),
    }
}

/// How much of a defender's timeline is kept: the newest events, at most `count` of them and at
/// most `bytes` of their JSON together (command lines make some events far heavier than others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventsKept {
    pub count: i64,
    pub bytes: i64,
}

/// Stores the events of defender `id` (process `instance`) this console does not have yet (by
/// sequence number), keeps the newest as `keep` says; answers the last sequence number stored,
/// which the defender may then drop from its buffer.
#[tracing::instrument(skip(db, events), fields(events = events.len()))]
pub async fn store(
    db: &SqlitePool,
    id: i64,
    instance: &str,
    events: &[Event],
    keep: EventsKept,
) -> Result<u64> {
    // Reads `last_seq`, then writes: under the write lock from the start, or another writer
    // would fail the batch for nothing.
    let mut transaction = crate::db::begin_write(db, "storing events").await?;
    let mut last_seq = sqlx::query_scalar!("SELECT last_seq FROM defenders WHERE id = ?", id)
        .fetch_one(&mut *transaction)
        .await
        .context("storing events")?;
    for event in events {
        let seq = i64::try_from(event.seq).unwrap_or(i64::MAX);
        if seq <= last_seq {
            continue;
        }
        let (kind, pid, container, _) = describe(&event.kind);
        let detail = serde_json::to_string(event).context("storing events")?;
        sqlx::query!(
            "INSERT OR IGNORE INTO defender_events (defender_id, instance, seq, at, kind, pid, container, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            id,
            instance,
            seq,
            event.at_ms,
            kind,
            pid,
            container,
            detail
        )
        .execute(&mut *transaction)
        .await
        .context("storing events")?;
        last_seq = seq;
    }
    let now = now_ms();
    sqlx::query!(
        "UPDATE defenders SET last_seq = ?, last_seen = ? WHERE id = ?",
        last_seq,
        now,
        id
    )
    .execute(&mut *transaction)
    .await
    .context("storing events")?;
    // Everything older than the newest events that fit both bounds goes (the newest one always
    // stays: no event weighs more than the smallest byte bound allowed).
    sqlx::query!(
        "DELETE FROM defender_events WHERE defender_id = ?1 AND id < (
             SELECT MIN(id) FROM (
                 SELECT id, SUM(length(CAST(detail AS BLOB))) OVER (ORDER BY id DESC) AS running
                 FROM defender_events WHERE defender_id = ?1 ORDER BY id DESC LIMIT ?2
             ) WHERE running <= ?3)",
        id,
        keep.count,
        keep.bytes
    )
    .execute(&mut *transaction)
    .await
    .context("trimming events")?;
    transaction.commit().await.context("storing events")?;
    Ok(u64::try_from(last_seq).unwrap_or(0))
}

/// The newest `limit` events of defender `id`, newest first.
pub async fn timeline(db: &SqlitePool, id: i64, limit: i64) -> Result<Vec<TimelineEvent>> {
    let rows = sqlx::query!(
        "SELECT seq, at, kind, pid, container, detail FROM defender_events WHERE defender_id = ? ORDER BY id DESC LIMIT ?",
        id,
        limit
    )
    .fetch_all(db)
    .await
    .context("loading a defender's events")?;
    Ok(rows
        .into_iter()
        .map(|row| {
            // The line is told from the event as the defender sent it; an event stored by an
            // older console that this one cannot read still shows its kind.
            let summary = serde_json::from_str::<Event>(&row.detail)
                .map(|event| describe(&event.kind).3)
                .unwrap_or_else(|_| format!("{} (details unreadable)", row.kind));
            TimelineEvent {
                seq: row.seq,
                at_ms: row.at,
                kind: row.kind,
                pid: row.pid,
                container: row.container,
                summary,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defenders::{presence, tokens};
    use palisade_protocol::{Hello, TaskIdentity};

    const KEEP_ALL: EventsKept = EventsKept {
        count: 100,
        bytes: 1 << 30,
    };

    fn exited(seq: u64) -> Event {
        Event {
            seq,
            at_ms: 1_700_000_000_000 + seq as i64,
            kind: EventKind::ProcessExited {
                pid: 100 + seq as u32,
                container: Some("api".into()),
            },
        }
    }

    #[tokio::test]
    async fn events_are_stored_once_and_trimmed_to_the_newest() {
        let (_dir, db) = crate::testing::database().await;
        let token = tokens::create(&db, "billing", "").await.unwrap();
        let hello = Hello {
            protocol: 1,
            instance: "i-1".into(),
            task: TaskIdentity {
                task_arn: "arn:aws:ecs:us-east-1:1:task/prod/abc".into(),
                family: "billing".into(),
                ..TaskIdentity::default()
            },
            ..Hello::default()
        };
        let (id, _) = presence::connected(&db, token.id, &hello, "c1")
            .await
            .unwrap();

        let batch: Vec<Event> = (1..=3).map(exited).collect();
        assert_eq!(store(&db, id, "i-1", &batch, KEEP_ALL).await.unwrap(), 3);
        // The same batch again (its ack was lost) and an overlapping one: nothing twice.
        assert_eq!(store(&db, id, "i-1", &batch, KEEP_ALL).await.unwrap(), 3);
        let overlapping: Vec<Event> = (2..=5).map(exited).collect();
        assert_eq!(
            store(&db, id, "i-1", &overlapping, KEEP_ALL).await.unwrap(),
            5
        );
        let seqs: Vec<i64> = timeline(&db, id, 100)
            .await
            .unwrap()
            .iter()
            .map(|event| event.seq)
            .collect();
        assert_eq!(seqs, [5, 4, 3, 2, 1], "newest first, each once");
        assert_eq!(timeline(&db, id, 100).await.unwrap()[0].summary, "exited");

        // Only the newest `count` stay.
        let more: Vec<Event> = (6..=10).map(exited).collect();
        let four = EventsKept {
            count: 4,
            ..KEEP_ALL
        };
        store(&db, id, "i-1", &more, four).await.unwrap();
        let seqs: Vec<i64> = timeline(&db, id, 100)
            .await
            .unwrap()
            .iter()
            .map(|event| event.seq)
            .collect();
        assert_eq!(seqs, [10, 9, 8, 7]);

        // And only as many bytes: three heavy events fill what two light ones did not.
        let heavy = |seq: u64| Event {
            seq,
            at_ms: 0,
            kind: EventKind::WorkloadStarted {
                container: None,
                pid: 1,
                argv: vec!["x".repeat(1000)],
            },
        };
        let bounded = EventsKept {
            count: 100,
            bytes: 2500,
        };
        let heavies: Vec<Event> = (11..=13).map(heavy).collect();
        store(&db, id, "i-1", &heavies, bounded).await.unwrap();
        let seqs: Vec<i64> = timeline(&db, id, 100)
            .await
            .unwrap()
            .iter()
            .map(|event| event.seq)
            .collect();
        assert_eq!(
            seqs,
            [13, 12],
            "two of 1 KB fit in 2.5 KB, the third does not"
        );
    }
}
