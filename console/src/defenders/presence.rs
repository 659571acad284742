//! Whether each defender is there: the row a `hello` creates or brings up to date, heartbeats,
//! the end of a connection, and the sweep that marks silent defenders disconnected and removes
//! long-disconnected ones.

use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Error, Result};
use palisade_protocol::{Heartbeat, Hello};
use sqlx::SqlitePool;

/// How many distinct tasks (defender rows, connected or not) one family, and one token, may
/// have at once: a stolen token must not be able to invent task ARNs without end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskCaps {
    pub per_family: i64,
    pub per_token: i64,
}

impl Default for TaskCaps {
    fn default() -> Self {
        TaskCaps {
            per_family: 10_000,
            per_token: 10_000,
        }
    }
}

/// A defender said hello on connection `connection`: its row (by family and task ARN) is created
/// or brought up to date. Answers its id and the last event sequence number stored of this
/// defender process (0 when the process is new: its sequence numbers start again).
///
/// A row is its family's: a token of another family naming the same task ARN gets a row of its
/// own family (it can neither take the real defender's row over, nor close its socket, nor lock
/// it out by naming its task first). A new row past the family's or the token's cap takes the
/// place of that family's (or token's) oldest disconnected row; with none, the hello is refused
/// (`Conflict`).
#[tracing::instrument(skip_all, fields(task = ?hello.task.task_arn))]
pub async fn connected(
    connection_db: &mut sqlx::SqliteConnection,
    token_id: i64,
    hello: &Hello,
    connection: &str,
    caps: TaskCaps,
) -> Result<(i64, u64)> {
    let now = now_ms();
    let containers =
        serde_json::to_string(&hello.task.containers).context("recording a defender")?;
    let task = &hello.task;
    let known = sqlx::query!(
        r#"UPDATE defenders SET token_id = ?1, cluster = ?2, revision = ?3, availability_zone = ?4,
               launch_type = ?5, containers = ?6, version = ?7, mode = ?8,
               last_seq = CASE WHEN instance = ?9 THEN last_seq ELSE 0 END,
               connected_since = CASE WHEN disconnected_at IS NULL AND instance = ?9 THEN connected_since ELSE ?10 END,
               instance = ?9, connection = ?11, last_seen = ?10, disconnected_at = NULL
           WHERE family = ?12 AND task_arn = ?13
           RETURNING id AS "id!", last_seq AS "last_seq!""#,
        token_id,
        task.cluster,
        task.revision,
        task.availability_zone,
        task.launch_type,
        containers,
        hello.version,
        hello.mode,
        hello.instance,
        now,
        connection,
        task.family,
        task.task_arn
    )
    .fetch_optional(&mut *connection_db)
    .await
    .context("recording a defender")?;
    if let Some(row) = known {
        return Ok((row.id, u64::try_from(row.last_seq).unwrap_or(0)));
    }
    make_room(connection_db, &task.family, token_id, caps).await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO defenders (task_arn, token_id, cluster, family, revision, availability_zone, launch_type, containers, version, mode, instance, last_seq, connection, first_seen, connected_since, last_seen)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?13, ?13, ?13)
           RETURNING id AS "id!""#,
        task.task_arn,
        token_id,
        task.cluster,
        task.family,
        task.revision,
        task.availability_zone,
        task.launch_type,
        containers,
        hello.version,
        hello.mode,
        hello.instance,
        connection,
        now
    )
    .fetch_one(&mut *connection_db)
    .await
    .context("recording a defender")?;
    Ok((id, 0))
}

/// Whether `family` has a defender row for task `task_arn`.
pub async fn known(db: &SqlitePool, family: &str, task_arn: &str) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT 1 AS "known!: i64" FROM defenders WHERE family = ? AND task_arn = ?"#,
        family,
        task_arn
    )
    .fetch_optional(db)
    .await
    .context("looking a defender up")?
    .is_some())
}

/// [`connected`] outside the defenders' writer (tools, tests): its own write transaction and
/// the default caps.
pub async fn connected_now(
    db: &SqlitePool,
    token_id: i64,
    hello: &Hello,
    connection: &str,
) -> Result<(i64, u64)> {
    let mut transaction = crate::db::begin_write(db, "recording a defender").await?;
    let found = connected(
        &mut transaction,
        token_id,
        hello,
        connection,
        TaskCaps::default(),
    )
    .await?;
    transaction.commit().await.context("recording a defender")?;
    Ok(found)
}

/// Room for one more row of `family` made by `token_id`: the oldest disconnected row goes when a
/// cap is reached; `Conflict` when every row is connected.
async fn make_room(
    db: &mut sqlx::SqliteConnection,
    family: &str,
    token_id: i64,
    caps: TaskCaps,
) -> Result<()> {
    let family_rows = sqlx::query_scalar!(
        r#"SELECT COUNT(*) AS "count!: i64" FROM defenders WHERE family = ?"#,
        family
    )
    .fetch_one(&mut *db)
    .await
    .context("counting a family's defenders")?;
    if family_rows >= caps.per_family {
        let freed = sqlx::query!(
            "DELETE FROM defenders WHERE id = (SELECT id FROM defenders WHERE family = ? AND disconnected_at IS NOT NULL ORDER BY disconnected_at, id LIMIT 1)",
            family
        )
        .execute(&mut *db)
        .await
        .context("making room for a defender")?
        .rows_affected();
        if freed == 0 {
            return Err(Error::Conflict(format!(
                "family `{family}` already has {} defenders connected (PALISADE_DEFENDER_TASKS_PER_FAMILY): this task's defender is not recorded",
                caps.per_family
            )));
        }
    }
    let token_rows = sqlx::query_scalar!(
        r#"SELECT COUNT(*) AS "count!: i64" FROM defenders WHERE token_id = ?"#,
        token_id
    )
    .fetch_one(&mut *db)
    .await
    .context("counting a token's defenders")?;
    if token_rows >= caps.per_token {
        let freed = sqlx::query!(
            "DELETE FROM defenders WHERE id = (SELECT id FROM defenders WHERE token_id = ? AND disconnected_at IS NOT NULL ORDER BY disconnected_at, id LIMIT 1)",
            token_id
        )
        .execute(&mut *db)
        .await
        .context("making room for a defender")?
        .rows_affected();
        if freed == 0 {
            return Err(Error::Conflict(format!(
                "this token already has {} defenders connected (PALISADE_DEFENDER_TASKS_PER_TOKEN): this task's defender is not recorded",
                caps.per_token
            )));
        }
    }
    Ok(())
}

/// Many heartbeats (defender id, connection, heartbeat, received at) in one statement: the
/// recorder writes the newest of each defender together, a second later at most.
pub async fn heartbeats<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    beats: &[(i64, &str, &Heartbeat, UnixMs)],
) -> Result<()> {
    if beats.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = beats
        .iter()
        .map(|(id, connection, beat, at)| {
            let dropped = i64::try_from(beat.dropped_events).unwrap_or(i64::MAX);
            serde_json::json!([id, connection, at, beat.process_count, dropped])
        })
        .collect();
    let rows = serde_json::to_string(&rows).context("recording heartbeats")?;
    sqlx::query!(
        "UPDATE defenders SET last_seen = MAX(last_seen, beats.value ->> 2), process_count = beats.value ->> 3,
             dropped_events = beats.value ->> 4, disconnected_at = NULL
         FROM json_each(?) AS beats
         WHERE defenders.id = beats.value ->> 0 AND defenders.connection = beats.value ->> 1",
        rows
    )
    .execute(executor)
    .await
    .context("recording heartbeats")?;
    Ok(())
}

/// The connection ended: disconnected, unless a newer connection of the same defender took over.
pub async fn disconnected<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    id: i64,
    connection: &str,
) -> Result<()> {
    let now = now_ms();
    sqlx::query!(
        "UPDATE defenders SET disconnected_at = ? WHERE id = ? AND connection = ? AND disconnected_at IS NULL",
        now,
        id,
        connection
    )
    .execute(executor)
    .await
    .context("recording a disconnection")?;
    Ok(())
}

/// What a sweep changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Silent defenders now marked disconnected.
    pub marked: u64,
    /// Long-disconnected defenders removed (with their events).
    pub removed: u64,
}

/// Marks defenders silent for `silent_ms` disconnected (as of their last sign of life) and
/// removes those disconnected for more than `retention_ms`.
#[tracing::instrument(skip(db))]
pub async fn sweep(db: &SqlitePool, silent_ms: i64, retention_ms: i64) -> Result<Swept> {
    let now = now_ms();
    let silent_since = now.saturating_sub(silent_ms);
    let marked = sqlx::query!(
        "UPDATE defenders SET disconnected_at = last_seen WHERE disconnected_at IS NULL AND last_seen < ?",
        silent_since
    )
    .execute(db)
    .await
    .context("marking silent defenders")?
    .rows_affected();
    let removed_before = now.saturating_sub(retention_ms);
    let removed = sqlx::query!(
        "DELETE FROM defenders WHERE disconnected_at IS NOT NULL AND disconnected_at < ?",
        removed_before
    )
    .execute(db)
    .await
    .context("removing long-disconnected defenders")?
    .rows_affected();
    Ok(Swept { marked, removed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defenders::{get, tokens, DefenderStatus};
    use palisade_protocol::TaskIdentity;

    fn hello(family: &str, instance: &str) -> Hello {
        Hello {
            protocol: 1,
            version: "0.1.0".into(),
            instance: instance.into(),
            mode: "availability".into(),
            task: TaskIdentity {
                task_arn: format!("arn:aws:ecs:us-east-1:1:task/prod/{family}-1"),
                cluster: "prod".into(),
                family: family.into(),
                revision: "2".into(),
                ..TaskIdentity::default()
            },
        }
    }

    async fn set(db: &SqlitePool, sql: &str, id: i64) {
        sqlx::query(sql).bind(id).execute(db).await.unwrap();
    }

    #[tokio::test]
    async fn a_hello_creates_the_row_and_a_reconnect_keeps_what_it_should() {
        let (_dir, db) = crate::testing::database().await;
        let token = tokens::create(&db, "billing", "").await.unwrap();

        let (id, last_seq) = connected(
            &mut db.acquire().await.unwrap(),
            token.id,
            &hello("billing", "i-1"),
            "c1",
            TaskCaps::default(),
        )
        .await
        .unwrap();
        assert_eq!(last_seq, 0);
        set(&db, "UPDATE defenders SET last_seq = 7, connected_since = 1000, first_seen = 1000 WHERE id = ?", id).await;

        // The same defender process again (a network blip): same row, its events kept, and still
        // "connected since" the first connection.
        let (again, last_seq) = connected(
            &mut db.acquire().await.unwrap(),
            token.id,
            &hello("billing", "i-1"),
            "c2",
            TaskCaps::default(),
        )
        .await
        .unwrap();
        assert_eq!((again, last_seq), (id, 7));
        let (defender, _) = get(&db, id, 10).await.unwrap();
        assert_eq!(defender.connected_since, 1000);
        assert_eq!(defender.status(), DefenderStatus::Connected);

        // The end of the superseded connection does not disconnect the current one.
        disconnected(&db, id, "c1").await.unwrap();
        assert_eq!(get(&db, id, 10).await.unwrap().0.disconnected_at, None);
        disconnected(&db, id, "c2").await.unwrap();
        assert!(get(&db, id, 10).await.unwrap().0.disconnected_at.is_some());

        // A new defender process (the task restarted it): sequence numbers start again, and it is
        // connected since now; first seen stays.
        let (again, last_seq) = connected(
            &mut db.acquire().await.unwrap(),
            token.id,
            &hello("billing", "i-2"),
            "c3",
            TaskCaps::default(),
        )
        .await
        .unwrap();
        assert_eq!((again, last_seq), (id, 0));
        let (defender, _) = get(&db, id, 10).await.unwrap();
        assert!(defender.connected_since > 1000);
        assert_eq!(defender.first_seen, 1000);
        assert_eq!(defender.disconnected_at, None);

        // A heartbeat of a superseded connection changes nothing.
        let beat = Heartbeat {
            process_count: 12,
            dropped_events: 0,
        };
        heartbeats(&db, &[(id, "c2", &beat, now_ms())])
            .await
            .unwrap();
        assert_eq!(get(&db, id, 10).await.unwrap().0.process_count, 0);
        heartbeats(&db, &[(id, "c3", &beat, now_ms())])
            .await
            .unwrap();
        assert_eq!(get(&db, id, 10).await.unwrap().0.process_count, 12);
    }

    #[tokio::test]
    async fn a_task_arn_named_by_another_family_is_that_familys_row_not_the_real_one() {
        let (_dir, db) = crate::testing::database().await;
        let billing = tokens::create(&db, "billing", "").await.unwrap();
        let intruder = tokens::create(&db, "intruder", "").await.unwrap();
        // The intruder's family names billing's task ARN first...
        let mut forged = hello("intruder", "i-9");
        forged.task.task_arn = hello("billing", "i-1").task.task_arn;
        let (forged_id, _) = connected(
            &mut db.acquire().await.unwrap(),
            intruder.id,
            &forged,
            "c2",
            TaskCaps::default(),
        )
        .await
        .unwrap();
        // ...and the real defender is not locked out: it gets its own family's row.
        let (id, _) = connected(
            &mut db.acquire().await.unwrap(),
            billing.id,
            &hello("billing", "i-1"),
            "c1",
            TaskCaps::default(),
        )
        .await
        .unwrap();
        assert_ne!(id, forged_id);
        // Naming it again touches only the intruder's own row.
        connected(
            &mut db.acquire().await.unwrap(),
            intruder.id,
            &forged,
            "c3",
            TaskCaps::default(),
        )
        .await
        .unwrap();
        let (defender, _) = get(&db, id, 10).await.unwrap();
        assert_eq!(defender.family, "billing", "the row is untouched");
        // Its connection too: a heartbeat of c1 still counts.
        let beat = Heartbeat {
            process_count: 3,
            dropped_events: 0,
        };
        heartbeats(&db, &[(id, "c1", &beat, now_ms())])
            .await
            .unwrap();
        assert_eq!(get(&db, id, 10).await.unwrap().0.process_count, 3);
    }

    #[tokio::test]
    async fn a_family_at_its_cap_gives_up_its_oldest_disconnected_task_or_refuses() {
        let (_dir, db) = crate::testing::database().await;
        let token = tokens::create(&db, "billing", "").await.unwrap();
        let caps = TaskCaps {
            per_family: 3,
            per_token: 100,
        };
        let task = |n: usize| {
            let mut hello = hello("billing", &format!("i-{n}"));
            hello.task.task_arn = format!("arn:aws:ecs:us-east-1:1:task/prod/{n}");
            hello
        };
        let mut ids = Vec::new();
        for n in 0..3 {
            let (id, _) = connected(
                &mut db.acquire().await.unwrap(),
                token.id,
                &task(n),
                &format!("c{n}"),
                caps,
            )
            .await
            .unwrap();
            ids.push(id);
        }
        // All three connected: a fourth task is refused, nothing removed.
        let refused = connected(
            &mut db.acquire().await.unwrap(),
            token.id,
            &task(3),
            "c3",
            caps,
        )
        .await;
        assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");
        // The oldest disconnected one makes room.
        disconnected(&db, ids[1], "c1").await.unwrap();
        disconnected(&db, ids[2], "c2").await.unwrap();
        connected(
            &mut db.acquire().await.unwrap(),
            token.id,
            &task(3),
            "c3",
            caps,
        )
        .await
        .unwrap();
        assert!(
            get(&db, ids[1], 10).await.is_err(),
            "the oldest disconnected went"
        );
        assert!(get(&db, ids[2], 10).await.is_ok());
        assert!(get(&db, ids[0], 10).await.is_ok(), "connected ones stay");
        // Another family is not held to billing's cap.
        let other = tokens::create(&db, "search", "").await.unwrap();
        connected(
            &mut db.acquire().await.unwrap(),
            other.id,
            &hello("search", "i-1"),
            "s1",
            caps,
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn silent_defenders_are_disconnected_and_old_ones_removed() {
        let (_dir, db) = crate::testing::database().await;
        let token = tokens::create(&db, "billing", "").await.unwrap();
        let (id, _) = connected(
            &mut db.acquire().await.unwrap(),
            token.id,
            &hello("billing", "i-1"),
            "c1",
            TaskCaps::default(),
        )
        .await
        .unwrap();
        // Seen a minute ago, while 3 heartbeats are 30 s: disconnected as of its last sign of life.
        set(
            &db,
            "UPDATE defenders SET last_seen = last_seen - 60000 WHERE id = ?",
            id,
        )
        .await;
        assert_eq!(
            sweep(&db, 30_000, 86_400_000).await.unwrap(),
            Swept {
                marked: 1,
                removed: 0
            }
        );
        let (defender, _) = get(&db, id, 10).await.unwrap();
        assert_eq!(defender.disconnected_at, Some(defender.last_seen));
        // Disconnected for longer than the retention: removed, events with it.
        assert_eq!(
            sweep(&db, 30_000, 10_000).await.unwrap(),
            Swept {
                marked: 0,
                removed: 1
            }
        );
        assert!(matches!(
            get(&db, id, 10).await,
            Err(crate::Error::NotFound(_))
        ));
    }
}
