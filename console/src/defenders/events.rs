//! What defenders report (processes started and exited, wrapped workloads' starts and exit
//! codes, alerts and listening ports), stored exactly once by sequence number and trimmed to the newest per defender; and the
//! timeline the defender page shows.

use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Result};
use palisade_protocol::{Event, EventKind};
use sqlx::{SqliteConnection, SqlitePool};
use std::collections::HashMap;

/// One entry of a defender's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEvent {
    pub seq: i64,
    pub at_ms: UnixMs,
    /// `process_started`, `process_exited`, `workload_started`, `workload_exited`, `alert`,
    /// `port_listening` or `unknown`.
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
            ..
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
        EventKind::Alert(report) => describe_alert(report),
        EventKind::PortListening(port) => (
            "port_listening",
            None,
            port.container.clone(),
            format!("listening on {} port {}", port.protocol.as_str(), port.port),
        ),
        EventKind::Unknown => (
            "unknown",
            None,
            None,
            "an event this console does not know".into(),
        ),
    }
}

/// How an alert event is stored and told: the rules that fired, the process or port, the outcome.
fn describe_alert(
    report: &palisade_protocol::AlertReport,
) -> (&'static str, Option<i64>, Option<String>, String) {
    let rules: Vec<&str> = report
        .alerts
        .iter()
        .map(|alert| alert.rule.as_str())
        .collect();
    let what = match (&report.process, &report.port) {
        (Some(process), _) if !process.command_line.is_empty() => process.command_line.clone(),
        (Some(process), _) => process.executable.clone(),
        (None, Some(port)) => format!("{} port {}", port.protocol.as_str(), port.port),
        (None, None) => String::new(),
    };
    let outcome = report
        .outcome
        .as_deref()
        .map(|outcome| format!(" ({outcome})"))
        .unwrap_or_default();
    (
        "alert",
        report
            .process
            .as_ref()
            .map(|process| i64::from(process.pid)),
        report
            .process
            .as_ref()
            .and_then(|p| p.container.clone())
            .or_else(|| report.port.as_ref().and_then(|port| port.container.clone())),
        format!("alert {}: {what}{outcome}", rules.join(", ")),
    )
}

/// How much of a defender's timeline is kept: the newest events, at most `count` of them and at
/// most `bytes` of their JSON together (command lines make some events far heavier than others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventsKept {
    pub count: i64,
    pub bytes: i64,
}

/// What is stored of one defender's timeline, as far as the writer knows: trimming (a scan of the
/// defender's events) runs only once a bound is passed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    pub count: i64,
    pub bytes: i64,
}

/// One defender's events, as one message brought them.
pub struct Batch<'a> {
    pub id: i64,
    pub instance: &'a str,
    pub events: &'a [Event],
}

/// [`store`] for many batches inside a transaction the caller holds (the recorder writes what
/// every socket sent meanwhile in one): a handful of statements whatever the number of batches
/// (rows go in as one JSON array each). `ledgers` is what the caller knows of each defender's
/// stored events, by (defender, instance); unknown ones are counted here. Answers per batch the
/// last sequence number stored, `None` when the defender is gone (the sweep removed it) or
/// another instance of it took over.
///
/// A family whose defenders' events weigh more than `family_bytes` in all gives up history first
/// ([`bound_family`]): a token that invents task after task keeps at most that much.
pub async fn store_batches(
    connection: &mut SqliteConnection,
    batches: &[Batch<'_>],
    keep: EventsKept,
    family_bytes: i64,
    ledgers: &mut HashMap<(i64, String), Ledger>,
) -> Result<Stored> {
    if batches.is_empty() {
        return Ok(Stored::default());
    }
    let rows_now = defenders_now(connection, batches).await?;
    let unknown: Vec<i64> = batches
        .iter()
        .filter(|batch| is_current(&rows_now, batch))
        .filter(|batch| !ledgers.contains_key(&(batch.id, batch.instance.to_owned())))
        .map(|batch| batch.id)
        .collect();
    let measured = measure(connection, &unknown).await?;
    let staged = stage_new_events(batches, &rows_now, ledgers, measured)?;
    insert_events(connection, &staged.rows).await?;
    record_last_seqs(connection, staged.last_seqs, &staged.added_bytes).await?;
    trim_over_bounds(connection, batches, keep, ledgers).await?;
    bound_families(connection, &rows_now, family_bytes, keep, ledgers).await?;
    Ok(Stored {
        answers: staged.answers,
        fresh: staged.fresh,
    })
}

/// What [`store_batches`] stored.
#[derive(Debug, Default)]
pub struct Stored {
    /// Per batch, the last sequence number stored (`None`: not stored, see [`store_batches`]).
    pub answers: Vec<Option<u64>>,
    /// The events stored now, not before: (batch, event) indexes, in order. What learning and
    /// incidents take, so a resent event counts once.
    pub fresh: Vec<(usize, usize)>,
}

/// A defender's row as a batch finds it.
struct DefenderNow {
    id: i64,
    last_seq: i64,
    instance: String,
    family: String,
}

/// Each defender's row as it is now; a batch of another instance than the row's (an older
/// process whose socket a newer one replaced) is not stored: its sequence numbers are not the
/// row's any more.
async fn defenders_now(
    connection: &mut SqliteConnection,
    batches: &[Batch<'_>],
) -> Result<Vec<DefenderNow>> {
    let ids: Vec<i64> = batches.iter().map(|batch| batch.id).collect();
    let ids_json = serde_json::to_string(&ids).context("storing events")?;
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", last_seq, instance, family FROM defenders WHERE id IN (SELECT value FROM json_each(?))"#,
        ids_json
    )
    .fetch_all(&mut *connection)
    .await
    .context("storing events")?;
    Ok(rows
        .into_iter()
        .map(|row| DefenderNow {
            id: row.id,
            last_seq: row.last_seq,
            instance: row.instance,
            family: row.family,
        })
        .collect())
}

/// Whether `batch` comes from the instance its defender's row names (the row still exists).
fn is_current(rows_now: &[DefenderNow], batch: &Batch<'_>) -> bool {
    rows_now
        .iter()
        .any(|row| row.id == batch.id && row.instance == batch.instance)
}

/// The events not stored yet, as rows to insert, and what they change.
struct Staged {
    /// `[defender_id, instance, seq, at, kind, pid, container, detail]` each.
    rows: Vec<serde_json::Value>,
    /// Each batch's answer, in order.
    answers: Vec<Option<u64>>,
    /// Each defender's last sequence number, with the new events counted.
    last_seqs: HashMap<i64, i64>,
    /// The bytes of JSON each defender's new events add.
    added_bytes: HashMap<i64, i64>,
    /// (batch, event) of each event staged.
    fresh: Vec<(usize, usize)>,
}

/// The events of each current batch newer than its defender's last sequence number, counted in
/// its ledger (`measured` are the ledgers not known before).
fn stage_new_events(
    batches: &[Batch<'_>],
    rows_now: &[DefenderNow],
    ledgers: &mut HashMap<(i64, String), Ledger>,
    mut measured: HashMap<i64, Ledger>,
) -> Result<Staged> {
    let mut last_seqs: HashMap<i64, i64> =
        rows_now.iter().map(|row| (row.id, row.last_seq)).collect();
    let mut added_bytes: HashMap<i64, i64> = HashMap::new();
    let mut rows = Vec::new();
    let mut answers = Vec::with_capacity(batches.len());
    let mut fresh = Vec::new();
    for (batch_index, batch) in batches.iter().enumerate() {
        let Some(last_seq) = last_seqs
            .get_mut(&batch.id)
            .filter(|_| is_current(rows_now, batch))
        else {
            answers.push(None);
            continue;
        };
        let ledger = ledgers
            .entry((batch.id, batch.instance.to_owned()))
            .or_insert_with(|| measured.remove(&batch.id).unwrap_or_default());
        for (event_index, event) in batch.events.iter().enumerate() {
            let seq = i64::try_from(event.seq).unwrap_or(i64::MAX);
            if seq <= *last_seq {
                continue;
            }
            fresh.push((batch_index, event_index));
            let (kind, pid, container, _) = describe(&event.kind);
            let detail = serde_json::to_string(event).context("storing events")?;
            ledger.count += 1;
            ledger.bytes += detail.len() as i64;
            *added_bytes.entry(batch.id).or_default() += detail.len() as i64;
            rows.push(serde_json::json!([
                batch.id,
                batch.instance,
                seq,
                event.at_ms,
                kind,
                pid,
                container,
                detail
            ]));
            *last_seq = seq;
        }
        answers.push(Some(u64::try_from(*last_seq).unwrap_or(0)));
    }
    Ok(Staged {
        rows,
        answers,
        last_seqs,
        added_bytes,
        fresh,
    })
}

/// The staged rows, in one statement (none when there are none).
async fn insert_events(
    connection: &mut SqliteConnection,
    rows: &[serde_json::Value],
) -> Result<()> {
    if !rows.is_empty() {
        let rows_json = serde_json::to_string(rows).context("storing events")?;
        sqlx::query!(
            "INSERT OR IGNORE INTO defender_events (defender_id, instance, seq, at, kind, pid, container, detail)
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7
             FROM json_each(?)",
            rows_json
        )
        .execute(&mut *connection)
        .await
        .context("storing events")?;
    }
    Ok(())
}

/// Every defender's last sequence number, last sight and event bytes, in one statement.
async fn record_last_seqs(
    connection: &mut SqliteConnection,
    last_seqs: HashMap<i64, i64>,
    added_bytes: &HashMap<i64, i64>,
) -> Result<()> {
    let seqs: Vec<(i64, i64, i64)> = last_seqs
        .into_iter()
        .map(|(id, seq)| (id, seq, added_bytes.get(&id).copied().unwrap_or(0)))
        .collect();
    let seqs_json = serde_json::to_string(&seqs).context("storing events")?;
    let now = now_ms();
    sqlx::query!(
        "UPDATE defenders SET last_seq = seqs.value ->> 1, last_seen = ?, event_bytes = event_bytes + (seqs.value ->> 2)
         FROM json_each(?) AS seqs WHERE defenders.id = seqs.value ->> 0",
        now,
        seqs_json
    )
    .execute(&mut *connection)
    .await
    .context("storing events")?;
    Ok(())
}

/// Past a bound: down to 90 % of each (at least the bound minus a tenth), so a defender at its
/// bound is trimmed every tenth of it, not at every batch.
async fn trim_over_bounds(
    connection: &mut SqliteConnection,
    batches: &[Batch<'_>],
    keep: EventsKept,
    ledgers: &mut HashMap<(i64, String), Ledger>,
) -> Result<()> {
    let over: Vec<(i64, String)> = batches
        .iter()
        .map(|batch| (batch.id, batch.instance.to_owned()))
        .filter(|key| {
            ledgers
                .get(key)
                .is_some_and(|ledger| ledger.count > keep.count || ledger.bytes > keep.bytes)
        })
        .collect();
    for key in over {
        let (id, count, bytes) = (
            key.0,
            keep.count - keep.count / 10,
            keep.bytes - keep.bytes / 10,
        );
        // Everything older than the newest events that fit both targets goes (the newest one
        // always stays: no event weighs more than the smallest byte bound allowed).
        sqlx::query!(
            "DELETE FROM defender_events WHERE defender_id = ?1 AND id < (
                 SELECT MIN(id) FROM (
                     SELECT id, SUM(length(CAST(detail AS BLOB))) OVER (ORDER BY id DESC) AS running
                     FROM defender_events WHERE defender_id = ?1 ORDER BY id DESC LIMIT ?2
                 ) WHERE running <= ?3)",
            id,
            count,
            bytes
        )
        .execute(&mut *connection)
        .await
        .context("trimming events")?;
        let after = measure(connection, &[id]).await?;
        let after = after.get(&id).copied().unwrap_or_default();
        set_event_bytes(connection, id, after.bytes).await?;
        ledgers.insert(key, after);
    }
    Ok(())
}

/// [`bound_family`] for each family the batches' defenders belong to.
async fn bound_families(
    connection: &mut SqliteConnection,
    rows_now: &[DefenderNow],
    family_bytes: i64,
    keep: EventsKept,
    ledgers: &mut HashMap<(i64, String), Ledger>,
) -> Result<()> {
    let mut families: Vec<&str> = rows_now.iter().map(|row| row.family.as_str()).collect();
    families.sort_unstable();
    families.dedup();
    for family in families {
        if bound_family(connection, family, family_bytes, keep).await? {
            // Trimmed behind the ledgers' back: they are measured again when next needed.
            ledgers.retain(|(id, _), _| {
                !rows_now
                    .iter()
                    .any(|row| row.id == *id && row.family == family)
            });
        }
    }
    Ok(())
}

async fn set_event_bytes(connection: &mut SqliteConnection, id: i64, bytes: i64) -> Result<()> {
    sqlx::query!(
        "UPDATE defenders SET event_bytes = ? WHERE id = ?",
        bytes,
        id
    )
    .execute(&mut *connection)
    .await
    .context("trimming events")?;
    Ok(())
}

/// Keeps `family`'s stored events under `family_bytes` in all (down to nine tenths once over):
/// its oldest disconnected defenders go first, whole; if its connected ones alone still weigh
/// too much, each is trimmed to an equal share (the newest event always stays). Answers whether
/// anything was removed.
pub async fn bound_family(
    connection: &mut SqliteConnection,
    family: &str,
    family_bytes: i64,
    keep: EventsKept,
) -> Result<bool> {
    let total = family_weight(connection, family).await?;
    if total <= family_bytes {
        return Ok(false);
    }
    let target = family_bytes - family_bytes / 10;
    let excess = remove_oldest_disconnected(connection, family, total - target).await?;
    if excess <= 0 {
        return Ok(true);
    }
    trim_to_equal_shares(connection, family, target, keep).await?;
    Ok(true)
}

/// The bytes of `family`'s stored events, as its defenders' rows count them.
async fn family_weight(connection: &mut SqliteConnection, family: &str) -> Result<i64> {
    let total = sqlx::query!(
        r#"SELECT COALESCE(SUM(event_bytes), 0) AS "bytes!: i64", COUNT(*) AS "count!: i64" FROM defenders WHERE family = ?"#,
        family
    )
    .fetch_one(&mut *connection)
    .await
    .context("weighing a family's events")?;
    Ok(total.bytes)
}

/// The oldest disconnected defenders, whole, until enough is gone. Answers the `excess` left.
async fn remove_oldest_disconnected(
    connection: &mut SqliteConnection,
    family: &str,
    mut excess: i64,
) -> Result<i64> {
    let oldest = sqlx::query!(
        r#"SELECT id AS "id!", event_bytes FROM defenders WHERE family = ? AND disconnected_at IS NOT NULL ORDER BY disconnected_at, id"#,
        family
    )
    .fetch_all(&mut *connection)
    .await
    .context("bounding a family's events")?;
    let mut removed = Vec::new();
    for row in oldest {
        if excess <= 0 {
            break;
        }
        excess -= row.event_bytes;
        removed.push(row.id);
    }
    if !removed.is_empty() {
        let ids = serde_json::to_string(&removed).context("bounding a family's events")?;
        sqlx::query!(
            "DELETE FROM defenders WHERE id IN (SELECT value FROM json_each(?))",
            ids
        )
        .execute(&mut *connection)
        .await
        .context("bounding a family's events")?;
        tracing::warn!(family = ?family, removed = removed.len(), "a family's events passed their bound: its oldest disconnected defenders were removed");
    }
    Ok(excess)
}

/// Connected defenders alone weigh too much: each keeps an equal share of `target`. Only those
/// above it are trimmed, the heaviest first, at most a few hundred per transaction (the writer's
/// transactions stay short; the next batch of this family goes on where this one stopped).
async fn trim_to_equal_shares(
    connection: &mut SqliteConnection,
    family: &str,
    target: i64,
    keep: EventsKept,
) -> Result<()> {
    let defenders = sqlx::query_scalar!(
        r#"SELECT COUNT(*) AS "count!: i64" FROM defenders WHERE family = ? AND event_bytes > 0"#,
        family
    )
    .fetch_one(&mut *connection)
    .await
    .context("bounding a family's events")?;
    let share = (target / defenders.max(1)).max(1);
    let connected = sqlx::query!(
        r#"SELECT id AS "id!" FROM defenders WHERE family = ? AND event_bytes > ? ORDER BY event_bytes DESC LIMIT 200"#,
        family,
        share
    )
    .fetch_all(&mut *connection)
    .await
    .context("bounding a family's events")?;
    for row in connected {
        // The newest events that fit the share; at least the newest one.
        sqlx::query!(
            "DELETE FROM defender_events WHERE defender_id = ?1 AND id < COALESCE((
                 SELECT MIN(id) FROM (
                     SELECT id, SUM(length(CAST(detail AS BLOB))) OVER (ORDER BY id DESC) AS running
                     FROM defender_events WHERE defender_id = ?1 ORDER BY id DESC LIMIT ?2
                 ) WHERE running <= ?3),
                 (SELECT MAX(id) FROM defender_events WHERE defender_id = ?1))",
            row.id,
            keep.count,
            share
        )
        .execute(&mut *connection)
        .await
        .context("bounding a family's events")?;
        let after = measure(connection, &[row.id]).await?;
        set_event_bytes(
            connection,
            row.id,
            after.get(&row.id).map_or(0, |l| l.bytes),
        )
        .await?;
    }
    tracing::warn!(family = ?family, share, "a family's connected defenders passed the family's bound: each was trimmed to an equal share");
    Ok(())
}

/// How many events each of `ids` has stored, and their bytes (one query for all).
async fn measure(connection: &mut SqliteConnection, ids: &[i64]) -> Result<HashMap<i64, Ledger>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids_json = serde_json::to_string(ids).context("counting events")?;
    let rows = sqlx::query!(
        r#"SELECT defender_id AS "id!", COUNT(*) AS "count!: i64", COALESCE(SUM(length(CAST(detail AS BLOB))), 0) AS "bytes!: i64"
           FROM defender_events WHERE defender_id IN (SELECT value FROM json_each(?)) GROUP BY defender_id"#,
        ids_json
    )
    .fetch_all(&mut *connection)
    .await
    .context("counting events")?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                row.id,
                Ledger {
                    count: row.count,
                    bytes: row.bytes,
                },
            )
        })
        .collect())
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
    use crate::error::Error;
    use palisade_protocol::{Hello, TaskIdentity};

    /// [`store_batches`] for one batch, in a transaction of its own (what the recorder does for
    /// many): the last sequence number stored.
    async fn store(
        db: &SqlitePool,
        id: i64,
        instance: &str,
        events: &[Event],
        keep: EventsKept,
    ) -> Result<u64> {
        // Reads `last_seq`, then writes: under the write lock from the start, or another writer
        // would fail the batch for nothing.
        let mut transaction = crate::db::begin_write(db, "storing events").await?;
        let batch = Batch {
            id,
            instance,
            events,
        };
        let stored = store_batches(
            &mut transaction,
            &[batch],
            keep,
            i64::MAX,
            &mut HashMap::new(),
        )
        .await?;
        transaction.commit().await.context("storing events")?;
        stored.answers[0].ok_or_else(|| Error::NotFound(format!("defender {id}")))
    }

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
        let (id, _) = presence::connected_now(&db, token.id, &hello, "c1")
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
                tracing: None,
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
