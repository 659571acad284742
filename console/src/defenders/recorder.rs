//! The defenders' writes, batched: one task owns them, so they never wait on each other for
//! SQLite's write lock. Hellos and event batches from every socket are written together in one
//! transaction (group commit: a few commits a second instead of one per message), each answered
//! only once that transaction committed (an event is acknowledged only then); heartbeats only update
//! memory and are written together every second (the last one of each defender); disconnections go
//! through the same task, so a heartbeat flushed late never revives a defender that has left.
//! What a crash loses: at most a second of heartbeats (a defender looks seen a second earlier);
//! never an acknowledged event. Alert events are grouped into incidents in the transaction that
//! stores them (`runtime::incidents`); once it committed, learning families learn the new events
//! (`runtime::learning`).
//!
//! Fair under a flood: hellos and disconnections go first in every transaction; event batches
//! are taken one family at a time in turn, and a transaction carries at most a few MiB, so one
//! family sending hundreds of full batches delays another family's batch by one short
//! transaction, not by its whole backlog; each transaction waits its turn behind the writes on a
//! person's path (`db::write_turn`).

use super::changes::DefenderChanges;
use super::events::{self, EventsKept, Ledger, Stored};
use super::presence::{self, TaskCaps};
use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Error, Result};
use crate::lock;
use crate::runtime::incidents::{self, FreshAlert};
use crate::runtime::Runtime;
use palisade_protocol::{Event, EventKind, Heartbeat, Hello};
use sqlx::SqlitePool;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Jobs written in one transaction at most.
const MAX_JOBS_PER_TRANSACTION: usize = 512;
/// And events (each up to 64 KiB, all re-encoded as one JSON array).
const MAX_EVENTS_PER_TRANSACTION: usize = 2_000;
/// And bytes of events as they arrived: a transaction holds the write lock for tens of
/// milliseconds, not seconds, whatever waits.
const MAX_BYTES_PER_TRANSACTION: usize = 2 * 1024 * 1024;
/// How often pending heartbeats are written.
pub const HEARTBEAT_FLUSH: Duration = Duration::from_secs(1);
/// Jobs waiting for the writer; past this, senders wait (back-pressure on the sockets).
const QUEUE: usize = 8192;
/// Ledgers kept before the map starts again (each is a few bytes; this bounds a pathological run).
const MAX_LEDGERS: usize = 200_000;

/// What the writer keeps within bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageBounds {
    /// Each defender's events.
    pub keep: EventsKept,
    /// A family's events in all (`PALISADE_DEFENDER_FAMILY_EVENT_BYTES_KEPT`).
    pub family_bytes: i64,
    /// Distinct tasks per family and per token.
    pub caps: TaskCaps,
}

impl StorageBounds {
    /// Per-defender bounds `keep`, the other bounds at their defaults.
    pub fn keeping(keep: EventsKept) -> StorageBounds {
        StorageBounds {
            keep,
            family_bytes: 512 * 1024 * 1024,
            caps: TaskCaps::default(),
        }
    }
}

enum Job {
    Hello {
        token_id: i64,
        hello: Box<Hello>,
        connection: String,
        reply: oneshot::Sender<Result<(i64, u64)>>,
    },
    Store {
        id: i64,
        family: String,
        instance: String,
        events: Vec<Event>,
        /// The message's size as it arrived.
        bytes: usize,
        reply: oneshot::Sender<Option<u64>>,
    },
    Disconnected {
        id: i64,
        connection: String,
        /// Answered once the disconnection is written (or could not be).
        reply: oneshot::Sender<()>,
    },
    Flush(oneshot::Sender<()>),
}

/// Jobs taken from the queue, not written yet: hellos, disconnections and flushes first, then
/// event batches by family in turn.
#[derive(Default)]
struct Waiting {
    first: VecDeque<Job>,
    by_family: HashMap<String, VecDeque<Job>>,
    /// Families with batches waiting, in the order they get their next turn.
    turns: VecDeque<String>,
}

impl Waiting {
    fn push(&mut self, job: Job) {
        match &job {
            Job::Store { family, .. } => {
                let family = family.clone();
                let queue = self.by_family.entry(family.clone()).or_default();
                if queue.is_empty() {
                    self.turns.push_back(family);
                }
                queue.push_back(job);
            }
            _ => self.first.push_back(job),
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_empty() && self.turns.is_empty()
    }

    /// The next transaction's jobs: everything that goes first, then one batch per family in
    /// turn, within the bounds.
    fn next_transaction(&mut self) -> Vec<Job> {
        let mut batch: Vec<Job> = Vec::new();
        while batch.len() < MAX_JOBS_PER_TRANSACTION {
            match self.first.pop_front() {
                Some(job) => batch.push(job),
                None => break,
            }
        }
        let (mut events, mut bytes) = (0usize, 0usize);
        while batch.len() < MAX_JOBS_PER_TRANSACTION
            && events < MAX_EVENTS_PER_TRANSACTION
            && bytes < MAX_BYTES_PER_TRANSACTION
        {
            let Some(family) = self.turns.pop_front() else {
                break;
            };
            let queue = self.by_family.entry(family.clone()).or_default();
            if let Some(job) = queue.pop_front() {
                if let Job::Store {
                    events: brought,
                    bytes: size,
                    ..
                } = &job
                {
                    events += brought.len();
                    bytes += size;
                }
                batch.push(job);
            }
            if queue.is_empty() {
                self.by_family.remove(&family);
            } else {
                self.turns.push_back(family);
            }
        }
        batch
    }
}

/// A defender's last heartbeat, not written yet.
struct PendingBeat {
    connection: String,
    beat: Heartbeat,
    at: UnixMs,
}

/// Where the defender channel sends what it must write. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    jobs: mpsc::Sender<Job>,
    beats: Arc<Mutex<HashMap<i64, PendingBeat>>>,
}

impl Recorder {
    /// Starts the writer task (on the current tokio runtime); it raises `changes` after each
    /// commit. Alerts are grouped into incidents as they are stored.
    pub fn start(db: SqlitePool, bounds: StorageBounds, changes: DefenderChanges) -> Recorder {
        Recorder::start_learning(db, bounds, changes, None)
    }

    /// [`Recorder::start`], and what is stored is learned by the families of `runtime` that
    /// learn, once committed.
    pub fn start_learning(
        db: SqlitePool,
        bounds: StorageBounds,
        changes: DefenderChanges,
        runtime: Option<Arc<Runtime>>,
    ) -> Recorder {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let beats = Arc::new(Mutex::new(HashMap::new()));
        let writer = Writer {
            db,
            bounds,
            beats: beats.clone(),
            changes,
            runtime,
        };
        tokio::spawn(write_forever(writer, queue));
        Recorder { jobs, beats }
    }

    /// A defender said hello on `connection` ([`presence::connected`]): its id and the last
    /// sequence number stored of its process, once written.
    pub async fn hello(
        &self,
        token_id: i64,
        hello: &Hello,
        connection: &str,
    ) -> Result<(i64, u64)> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Hello {
            token_id,
            hello: Box::new(hello.clone()),
            connection: connection.to_owned(),
            reply,
        };
        let gone = || Error::internal("recording a defender", "the writer stopped");
        self.jobs.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Stores events of defender `id` (of `family`; `bytes` is the message's size as it arrived);
    /// answers the last sequence number stored once it is committed, `None` when storing failed
    /// (nothing may be acknowledged: the defender resends).
    pub async fn store(
        &self,
        id: i64,
        family: &str,
        instance: &str,
        events: Vec<Event>,
        bytes: usize,
    ) -> Option<u64> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Store {
            id,
            family: family.to_owned(),
            instance: instance.to_owned(),
            events,
            bytes,
            reply,
        };
        self.jobs.send(job).await.ok()?;
        answer.await.ok().flatten()
    }

    /// A heartbeat on `connection`: kept in memory, written within [`HEARTBEAT_FLUSH`].
    pub fn heartbeat(&self, id: i64, connection: &str, beat: &Heartbeat) {
        let pending = PendingBeat {
            connection: connection.to_owned(),
            beat: beat.clone(),
            at: now_ms(),
        };
        lock(&self.beats).insert(id, pending);
    }

    /// Connection `connection` of defender `id` ended (written in order with its heartbeats);
    /// answers once that is written, so whoever looks next sees it disconnected.
    pub async fn disconnected(&self, id: i64, connection: &str) {
        let (reply, written) = oneshot::channel();
        let job = Job::Disconnected {
            id,
            connection: connection.to_owned(),
            reply,
        };
        if self.jobs.send(job).await.is_err() {
            tracing::warn!(
                defender = id,
                "the writer is gone: the sweep will mark the defender disconnected"
            );
            return;
        }
        let _ = written.await;
    }

    /// Writes everything pending now (the console is stopping).
    pub async fn flush(&self) {
        let (reply, done) = oneshot::channel();
        if self.jobs.send(Job::Flush(reply)).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// What the writer task holds.
struct Writer {
    db: SqlitePool,
    bounds: StorageBounds,
    beats: Arc<Mutex<HashMap<i64, PendingBeat>>>,
    changes: DefenderChanges,
    /// Where learning families learn what was stored.
    runtime: Option<Arc<Runtime>>,
}

async fn write_forever(writer: Writer, mut queue: mpsc::Receiver<Job>) {
    let Writer {
        db, beats, changes, ..
    } = &writer;
    let mut ledgers: HashMap<(i64, String), Ledger> = HashMap::new();
    let mut waiting = Waiting::default();
    let mut ticker = tokio::time::interval(HEARTBEAT_FLUSH);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beats_written = tokio::time::Instant::now();
    loop {
        if waiting.is_empty() {
            tokio::select! {
                job = queue.recv() => {
                    let Some(job) = job else {
                        write_beats(db, beats).await;
                        changes.changed();
                        return;
                    };
                    waiting.push(job);
                }
                _ = ticker.tick() => {
                    if write_beats(db, beats).await {
                        changes.changed();
                    }
                    beats_written = tokio::time::Instant::now();
                    continue;
                }
            }
        }
        // Whatever else waits joins now (each socket has at most one job outstanding: what is
        // taken here is bounded by the sockets).
        while let Ok(job) = queue.try_recv() {
            waiting.push(job);
        }
        let batch = waiting.next_transaction();
        write_batch(&writer, &mut ledgers, batch).await;
        changes.changed();
        // Busy for long: heartbeats are still written every second.
        if beats_written.elapsed() >= HEARTBEAT_FLUSH {
            write_beats(db, beats).await;
            beats_written = tokio::time::Instant::now();
        }
    }
}

/// One transaction for the whole batch; every store is answered after the commit (or with
/// `None` when it failed).
async fn write_batch(
    writer: &Writer,
    ledgers: &mut HashMap<(i64, String), Ledger>,
    batch: Vec<Job>,
) {
    let (db, beats) = (&writer.db, &writer.beats);
    if ledgers.len() > MAX_LEDGERS {
        ledgers.clear();
    }
    let mut replies = Replies::default();
    let _turn = crate::db::write_turn().await;
    let written = replies
        .write(db, writer.bounds, ledgers, beats, batch)
        .await;
    drop(_turn);
    if let (Ok(stored), Some(runtime)) = (&written, &writer.runtime) {
        replies.learn(runtime, &stored.fresh);
    }
    replies.answer(written.map(|stored| stored.answers), ledgers);
    replies.release(db, beats).await;
}

/// A store taken into a transaction: the defender, its family, its instance, its events, and
/// who waits.
type StoreJob = (
    i64,
    String,
    String,
    Vec<Event>,
    oneshot::Sender<Option<u64>>,
);
/// A hello written: who waits, and what it is told once the transaction is over.
type Welcome = (oneshot::Sender<Result<(i64, u64)>>, Result<(i64, u64)>);

/// The jobs of one transaction, waiting for their answers: the stores (with their events until
/// they are written), the hellos' answers, the disconnections and the flushes.
#[derive(Default)]
struct Replies {
    stores: Vec<StoreJob>,
    welcomes: Vec<Welcome>,
    flushed: Vec<oneshot::Sender<()>>,
    left: Vec<oneshot::Sender<()>>,
}

impl Replies {
    /// The batch's transaction: each job in turn, then every socket's events; what was stored of
    /// each store, once committed.
    async fn write(
        &mut self,
        db: &SqlitePool,
        bounds: StorageBounds,
        ledgers: &mut HashMap<(i64, String), Ledger>,
        beats: &Mutex<HashMap<i64, PendingBeat>>,
        batch: Vec<Job>,
    ) -> Result<Stored> {
        let mut transaction = crate::db::begin_write(db, "storing defender events").await?;
        for job in batch {
            self.take(&mut transaction, bounds, beats, job).await?;
        }
        let stored = self.store_events(&mut transaction, bounds, ledgers).await?;
        self.group_alerts(&mut transaction, &stored.fresh).await?;
        transaction
            .commit()
            .await
            .context("storing defender events")?;
        Ok(stored)
    }

    /// One job: a hello or a disconnection written now, a store or a flush kept for later.
    async fn take(
        &mut self,
        transaction: &mut sqlx::SqliteConnection,
        bounds: StorageBounds,
        beats: &Mutex<HashMap<i64, PendingBeat>>,
        job: Job,
    ) -> Result<()> {
        match job {
            Job::Hello {
                token_id,
                hello,
                connection,
                reply,
            } => {
                match presence::connected(transaction, token_id, &hello, &connection, bounds.caps)
                    .await
                {
                    // Refused (over a cap): this defender's answer, not the batch's.
                    Err(Error::Conflict(reason)) => {
                        self.welcomes.push((reply, Err(Error::Conflict(reason))))
                    }
                    answer => self.welcomes.push((reply, Ok(answer?))),
                }
            }
            Job::Store {
                id,
                family,
                instance,
                events,
                reply,
                ..
            } => self.stores.push((id, family, instance, events, reply)),
            Job::Disconnected {
                id,
                connection,
                reply,
            } => {
                self.left.push(reply);
                {
                    let mut pending = lock(beats);
                    if pending
                        .get(&id)
                        .is_some_and(|beat| beat.connection == connection)
                    {
                        pending.remove(&id);
                    }
                }
                presence::disconnected(&mut *transaction, id, &connection).await?;
            }
            Job::Flush(reply) => self.flushed.push(reply),
        }
        Ok(())
    }

    /// Every socket's events in a few statements.
    async fn store_events(
        &self,
        transaction: &mut sqlx::SqliteConnection,
        bounds: StorageBounds,
        ledgers: &mut HashMap<(i64, String), Ledger>,
    ) -> Result<Stored> {
        let batches: Vec<events::Batch<'_>> = self
            .stores
            .iter()
            .map(|(id, _, instance, events, _)| events::Batch {
                id: *id,
                instance,
                events,
            })
            .collect();
        events::store_batches(
            transaction,
            &batches,
            bounds.keep,
            bounds.family_bytes,
            ledgers,
        )
        .await
    }

    /// The alerts just stored, grouped into incidents in the same transaction.
    async fn group_alerts(
        &self,
        transaction: &mut sqlx::SqliteConnection,
        fresh: &[(usize, usize)],
    ) -> Result<()> {
        let alerts: Vec<FreshAlert<'_>> = fresh
            .iter()
            .filter_map(|&(store, event)| {
                let (id, _, instance, events, _) = &self.stores[store];
                let event = &events[event];
                match &event.kind {
                    EventKind::Alert(report) => Some(FreshAlert {
                        defender_id: *id,
                        instance,
                        seq: i64::try_from(event.seq).unwrap_or(i64::MAX),
                        at_ms: event.at_ms,
                        report,
                    }),
                    _ => None,
                }
            })
            .collect();
        incidents::record(transaction, &alerts, now_ms()).await
    }

    /// What was just committed, learned by the families that learn (each store's new events).
    fn learn(&self, runtime: &Runtime, fresh: &[(usize, usize)]) {
        let mut at = 0;
        while at < fresh.len() {
            let store = fresh[at].0;
            let (id, family, _, events, _) = &self.stores[store];
            let mut learned = Vec::new();
            while at < fresh.len() && fresh[at].0 == store {
                learned.push(&events[fresh[at].1]);
                at += 1;
            }
            runtime.observe(family, *id, &learned);
        }
    }

    /// The stores and hellos answered: what was stored and who was welcomed, or nothing when the
    /// transaction failed.
    fn answer(
        &mut self,
        written: Result<Vec<Option<u64>>>,
        ledgers: &mut HashMap<(i64, String), Ledger>,
    ) {
        match written {
            Ok(stored) => {
                for ((.., reply), stored) in self.stores.drain(..).zip(stored) {
                    let _ = reply.send(stored);
                }
                for (reply, welcome) in self.welcomes.drain(..) {
                    let _ = reply.send(welcome);
                }
            }
            Err(error) => {
                error.log("storing defender events");
                // What the ledgers counted was rolled back: they are measured again.
                ledgers.clear();
                for (.., reply) in self.stores.drain(..) {
                    let _ = reply.send(None);
                }
                for (reply, _) in self.welcomes.drain(..) {
                    let _ = reply.send(Err(Error::internal(
                        "recording a defender",
                        "the transaction failed (logged above)",
                    )));
                }
            }
        }
    }

    /// Written or failed: either way the session that ended does not wait longer (the sweep
    /// marks a defender disconnected whose disconnection could not be written); a flush writes
    /// the pending heartbeats first.
    async fn release(self, db: &SqlitePool, beats: &Mutex<HashMap<i64, PendingBeat>>) {
        for reply in self.left {
            let _ = reply.send(());
        }
        if !self.flushed.is_empty() {
            write_beats(db, beats).await;
            for reply in self.flushed {
                let _ = reply.send(());
            }
        }
    }
}

/// Writes the pending heartbeats (the newest of each defender) in one transaction; answers
/// whether there were any.
async fn write_beats(db: &SqlitePool, beats: &Mutex<HashMap<i64, PendingBeat>>) -> bool {
    let pending = std::mem::take(&mut *lock(beats));
    if pending.is_empty() {
        return false;
    }
    let beats: Vec<(i64, &str, &Heartbeat, UnixMs)> = pending
        .iter()
        .map(|(id, beat)| (*id, beat.connection.as_str(), &beat.beat, beat.at))
        .collect();
    let _turn = crate::db::write_turn().await;
    let written: Result<()> = async {
        // Under the write lock from the start (BEGIN IMMEDIATE): its busy timeout applies.
        let mut transaction = crate::db::begin_write(db, "recording heartbeats").await?;
        presence::heartbeats(&mut *transaction, &beats).await?;
        transaction.commit().await.context("recording heartbeats")
    }
    .await;
    if let Err(error) = written {
        // Presence catches up with the next heartbeats; nothing else is lost.
        error.log("recording heartbeats");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defenders::{presence, tokens};
    use palisade_protocol::{EventKind, Hello, TaskIdentity};

    async fn defender(db: &SqlitePool, task: &str) -> i64 {
        let token = tokens::create(db, "billing", "").await.unwrap();
        let hello = Hello {
            protocol: 1,
            instance: format!("i-{task}"),
            task: TaskIdentity {
                task_arn: format!("arn:aws:ecs:us-east-1:1:task/prod/{task}"),
                family: "billing".into(),
                ..TaskIdentity::default()
            },
            ..Hello::default()
        };
        presence::connected_now(db, token.id, &hello, &format!("c-{task}"))
            .await
            .unwrap()
            .0
    }

    fn exited(seq: u64) -> Event {
        Event {
            seq,
            at_ms: seq as i64,
            kind: EventKind::ProcessExited {
                pid: seq as u32,
                container: None,
            },
        }
    }

    #[tokio::test]
    async fn concurrent_batches_are_each_stored_once_and_acknowledged_after_commit() {
        let (_dir, db) = crate::testing::database().await;
        let keep = EventsKept {
            count: 1000,
            bytes: 1 << 30,
        };
        let recorder = Recorder::start(
            db.clone(),
            StorageBounds::keeping(keep),
            DefenderChanges::default(),
        );
        let ids = [defender(&db, "a").await, defender(&db, "b").await];
        let mut stores = Vec::new();
        for (n, id) in ids.into_iter().enumerate() {
            for batch in 0..20u64 {
                let recorder = recorder.clone();
                let instance = format!("i-{}", ["a", "b"][n]);
                stores.push(tokio::spawn(async move {
                    let events = (batch * 5 + 1..=batch * 5 + 5).map(exited).collect();
                    recorder.store(id, "billing", &instance, events, 0).await
                }));
            }
        }
        for store in stores {
            assert!(store.await.unwrap().is_some());
        }
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM defender_events")
            .fetch_one(&db)
            .await
            .unwrap();
        // Batches arrive in any order: a later one first raises last_seq and earlier ones are
        // then behind it, so each defender has between 5 and 100 events, never one twice.
        let distinct: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT defender_id || '/' || seq) FROM defender_events",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(rows, distinct);
        // A defender the sweep removed answers None (not acknowledged), the others go on.
        sqlx::query("DELETE FROM defenders WHERE id = ?")
            .bind(ids[0])
            .execute(&db)
            .await
            .unwrap();
        assert_eq!(
            recorder
                .store(ids[0], "billing", "i-a", vec![exited(500)], 0)
                .await,
            None
        );
        assert_eq!(
            recorder
                .store(ids[1], "billing", "i-b", vec![exited(500)], 0)
                .await,
            Some(500)
        );
        // A new process of that defender said hello: the old one's late batch is not stored
        // (its numbers would hide the new process's), the new one's starts from 0.
        let token: i64 = sqlx::query_scalar("SELECT token_id FROM defenders WHERE id = ?")
            .bind(ids[1])
            .fetch_one(&db)
            .await
            .unwrap();
        let newer = Hello {
            protocol: 1,
            instance: "i-b2".into(),
            task: TaskIdentity {
                task_arn: "arn:aws:ecs:us-east-1:1:task/prod/b".into(),
                family: "billing".into(),
                ..TaskIdentity::default()
            },
            ..Hello::default()
        };
        assert_eq!(
            recorder.hello(token, &newer, "c-b2").await.unwrap(),
            (ids[1], 0)
        );
        assert_eq!(
            recorder
                .store(ids[1], "billing", "i-b", vec![exited(501)], 0)
                .await,
            None
        );
        assert_eq!(
            recorder
                .store(ids[1], "billing", "i-b2", vec![exited(1)], 0)
                .await,
            Some(1)
        );
    }

    #[tokio::test]
    async fn heartbeats_are_written_together_and_never_revive_a_defender_that_left() {
        let (_dir, db) = crate::testing::database().await;
        let changes = DefenderChanges::default();
        let mut watcher = changes.watch();
        let recorder = Recorder::start(
            db.clone(),
            StorageBounds::keeping(EventsKept {
                count: 10,
                bytes: 1 << 20,
            }),
            changes,
        );
        let id = defender(&db, "a").await;
        let beat = Heartbeat {
            process_count: 7,
            dropped_events: 2,
        };
        recorder.heartbeat(id, "c-a", &beat);
        recorder.flush().await;
        // Dashboards waiting on the changes are woken by the write.
        assert!(watcher.has_changed().unwrap());
        watcher.mark_unchanged();
        let (processes, disconnected): (i64, Option<i64>) =
            sqlx::query_as("SELECT process_count, disconnected_at FROM defenders WHERE id = ?")
                .bind(id)
                .fetch_one(&db)
                .await
                .unwrap();
        assert_eq!((processes, disconnected), (7, None));
        // A heartbeat still pending when the connection ends is dropped, not written after.
        recorder.heartbeat(id, "c-a", &beat);
        recorder.disconnected(id, "c-a").await;
        recorder.flush().await;
        let disconnected: Option<i64> =
            sqlx::query_scalar("SELECT disconnected_at FROM defenders WHERE id = ?")
                .bind(id)
                .fetch_one(&db)
                .await
                .unwrap();
        assert!(disconnected.is_some());
    }

    #[tokio::test]
    async fn a_defender_at_its_bound_is_trimmed_to_nine_tenths() {
        let (_dir, db) = crate::testing::database().await;
        let recorder = Recorder::start(
            db.clone(),
            StorageBounds::keeping(EventsKept {
                count: 100,
                bytes: 1 << 30,
            }),
            DefenderChanges::default(),
        );
        let id = defender(&db, "a").await;
        for seq in 1..=101 {
            recorder
                .store(id, "billing", "i-a", vec![exited(seq)], 0)
                .await
                .unwrap();
        }
        let kept: Vec<i64> = sqlx::query_scalar(
            "SELECT seq FROM defender_events WHERE defender_id = ? ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&db)
        .await
        .unwrap();
        assert_eq!(
            kept,
            (12..=101).collect::<Vec<i64>>(),
            "the newest 90 after passing 100"
        );
    }
}
