//! Connected defenders as the dashboard and the API show them: the view types, the server
//! functions of the Defenders pages, and (with `ssr`) the store behind them and behind the
//! defender channel: tokens, presence, events.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
}

/// One defender (one task), as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefenderView {
    pub id: i64,
    /// `connected` or `disconnected`.
    pub status: String,
    pub task_arn: String,
    pub cluster: String,
    pub family: String,
    pub revision: String,
    pub availability_zone: String,
    pub launch_type: String,
    pub version: String,
    pub mode: String,
    pub containers: Vec<ContainerView>,
    pub process_count: i64,
    pub dropped_events: i64,
    /// Unix milliseconds.
    pub first_seen_ms: i64,
    pub connected_since_ms: i64,
    pub last_seen_ms: i64,
    pub disconnected_at_ms: Option<i64>,
}

impl DefenderView {
    /// The task ID (the last segment of the task ARN).
    pub fn task_id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }

    /// The cluster name, also when the metadata gave its ARN.
    pub fn cluster_name(&self) -> &str {
        self.cluster.rsplit('/').next().unwrap_or(&self.cluster)
    }
}

/// Which defenders to list. Unknown statuses list nothing rather than everything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DefenderFilter {
    /// `connected`, `disconnected`, or empty for both.
    pub status: String,
    /// Matched against family, cluster, task ARN, AZ and container names and images.
    pub q: String,
    /// `status` (default: connected first, then last seen), `family`, `cluster`,
    /// `connected_since`, `last_seen` or `processes`.
    pub sort: String,
    /// From 1.
    pub page: u32,
    /// 1 to 500, default 50.
    pub per_page: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefenderList {
    pub defenders: Vec<DefenderView>,
    /// Matching the filter, over all pages.
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    /// Over all defenders, whatever the filter.
    pub connected: i64,
    pub disconnected: i64,
    /// Families with at least one connected defender.
    pub protected_families: i64,
    /// The console's clock, so "connected for" is right even when the browser's is not.
    pub now_ms: i64,
}

/// One entry of a defender's process timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefenderEventView {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: String,
    pub pid: Option<i64>,
    pub container: Option<String>,
    /// What happened, in a line.
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefenderDetail {
    pub defender: DefenderView,
    /// Newest first.
    pub events: Vec<DefenderEventView>,
    pub now_ms: i64,
}

/// The Defenders page's list.
#[server]
pub async fn list_defenders(filter: DefenderFilter) -> Result<DefenderList, ServerFnError> {
    let pool = crate::api::pool()?;
    store::list(&pool, &filter)
        .await
        .map_err(crate::api::internal("listing the defenders"))
}

/// One defender with its process timeline.
#[server]
pub async fn get_defender(id: i64) -> Result<DefenderDetail, ServerFnError> {
    let pool = crate::api::pool()?;
    match store::get(&pool, id, 500).await {
        Ok(Some(detail)) => Ok(detail),
        Ok(None) => Err(ServerFnError::new(format!(
            "defender {id} is not known (removed after being disconnected for long?)"
        ))),
        Err(error) => Err(crate::api::internal("loading the defender")(error)),
    }
}

/// A token just created: the only time its value is shown (only its hash is stored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub id: i64,
    pub family: String,
    pub token: String,
}

/// A token as Settings lists it (never its value). Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct TokenView {
    pub id: i64,
    pub family: String,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// The defender tokens, newest first.
#[server]
pub async fn list_tokens() -> Result<(Vec<TokenView>, i64), ServerFnError> {
    let pool = crate::api::pool()?;
    let tokens = store::list_tokens(&pool)
        .await
        .map_err(crate::api::internal("listing the tokens"))?;
    Ok((tokens, store::now_ms()))
}

/// Creates a defender token for `family`.
#[server]
pub async fn create_token(family: String, label: String) -> Result<CreatedToken, ServerFnError> {
    let pool = crate::api::pool()?;
    match store::create_token(&pool, family.trim(), label.trim()).await {
        Ok(created) => Ok(created),
        Err(store::TokenError::Invalid(message)) => Err(ServerFnError::new(message)),
        Err(store::TokenError::Database(error)) => {
            Err(crate::api::internal("creating the token")(error))
        }
    }
}

/// Revokes a token: defenders using it are refused from their next connection.
#[server]
pub async fn revoke_token(id: i64) -> Result<(), ServerFnError> {
    let pool = crate::api::pool()?;
    match store::revoke_token(&pool, id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ServerFnError::new(format!("token {id} is not active"))),
        Err(error) => Err(crate::api::internal("revoking the token")(error)),
    }
}

/// "3 min", "2 h 5 min", "4 d 3 h": a duration as the dashboard says it.
pub fn human_duration(millis: i64) -> String {
    let seconds = millis.max(0) / 1000;
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {minutes} min")
    } else if minutes > 0 {
        format!("{minutes} min")
    } else {
        format!("{seconds} s")
    }
}

#[cfg(feature = "ssr")]
pub mod store {
    //! SQLite side of the defenders: tokens (hashed), presence rows, events.

    use super::*;
    use palisade_protocol::{Event, EventKind, Heartbeat, Hello};
    use sha2::{Digest, Sha256};
    use sqlx::SqlitePool;

    pub fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as i64)
            .unwrap_or(0)
    }

    fn sha256_hex(text: &str) -> String {
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// A family name as ECS allows it.
    pub fn check_family(family: &str) -> Result<(), String> {
        let valid = !family.is_empty()
            && family.len() <= 255
            && family
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(())
        } else {
            Err(format!(
                "`{family}` is not a task definition family (1 to 255 letters, digits, - and _)"
            ))
        }
    }

    #[derive(Debug, thiserror::Error)]
    pub enum TokenError {
        #[error("{0}")]
        Invalid(String),
        #[error("database: {0}")]
        Database(#[from] sqlx::Error),
    }

    /// A new token for `family`: `pal_` and 256 random bits in hex.
    pub async fn create_token(
        pool: &SqlitePool,
        family: &str,
        label: &str,
    ) -> Result<CreatedToken, TokenError> {
        check_family(family).map_err(TokenError::Invalid)?;
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|error| TokenError::Invalid(format!("no randomness: {error}")))?;
        let token = format!(
            "pal_{}",
            secret
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let id = sqlx::query_scalar("INSERT INTO defender_tokens (family, token_sha256, created_at, label) VALUES (?, ?, ?, ?) RETURNING id")
            .bind(family)
            .bind(sha256_hex(&token))
            .bind(now_ms())
            .bind(label)
            .fetch_one(pool)
            .await?;
        Ok(CreatedToken {
            id,
            family: family.to_owned(),
            token,
        })
    }

    /// The token's id and family, when it exists and is not revoked.
    pub async fn token_family(
        pool: &SqlitePool,
        token: &str,
    ) -> Result<Option<(i64, String)>, sqlx::Error> {
        sqlx::query_as(
            "UPDATE defender_tokens SET last_used_at = ? WHERE token_sha256 = ? AND revoked_at IS NULL RETURNING id, family",
        )
        .bind(now_ms())
        .bind(sha256_hex(token))
        .fetch_optional(pool)
        .await
    }

    /// Revokes a token; false when there is no such (unrevoked) token.
    pub async fn revoke_token(pool: &SqlitePool, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE defender_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn list_tokens(pool: &SqlitePool) -> Result<Vec<TokenView>, sqlx::Error> {
        sqlx::query_as("SELECT id, family, label, created_at, revoked_at, last_used_at FROM defender_tokens ORDER BY id DESC")
            .fetch_all(pool)
            .await
    }

    /// A defender said hello on connection `connection`: its row is created or brought up to
    /// date. Answers its id and the last event sequence number stored of this defender process.
    pub async fn connected(
        pool: &SqlitePool,
        token_id: i64,
        hello: &Hello,
        connection: &str,
    ) -> Result<(i64, u64), sqlx::Error> {
        let now = now_ms();
        let containers =
            serde_json::to_string(&hello.task.containers).unwrap_or_else(|_| "[]".into());
        let (id, last_seq): (i64, i64) = sqlx::query_as(
            "INSERT INTO defenders (task_arn, token_id, cluster, family, revision, availability_zone, launch_type, containers, version, mode, instance, last_seq, connection, first_seen, connected_since, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?13, ?13, ?13)
             ON CONFLICT (task_arn) DO UPDATE SET token_id = excluded.token_id, cluster = excluded.cluster, family = excluded.family,
                 revision = excluded.revision, availability_zone = excluded.availability_zone, launch_type = excluded.launch_type,
                 containers = excluded.containers, version = excluded.version, mode = excluded.mode,
                 last_seq = CASE WHEN defenders.instance = excluded.instance THEN defenders.last_seq ELSE 0 END,
                 instance = excluded.instance, connection = excluded.connection,
                 connected_since = CASE WHEN defenders.disconnected_at IS NULL AND defenders.instance = excluded.instance THEN defenders.connected_since ELSE excluded.connected_since END,
                 last_seen = excluded.last_seen, disconnected_at = NULL
             RETURNING id, last_seq",
        )
        .bind(&hello.task.task_arn)
        .bind(token_id)
        .bind(&hello.task.cluster)
        .bind(&hello.task.family)
        .bind(&hello.task.revision)
        .bind(&hello.task.availability_zone)
        .bind(&hello.task.launch_type)
        .bind(containers)
        .bind(&hello.version)
        .bind(&hello.mode)
        .bind(&hello.instance)
        .bind(connection)
        .bind(now)
        .fetch_one(pool)
        .await?;
        Ok((id, u64::try_from(last_seq).unwrap_or(0)))
    }

    /// A heartbeat: still there, and how many processes run.
    pub async fn heartbeat(
        pool: &SqlitePool,
        id: i64,
        connection: &str,
        beat: &Heartbeat,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE defenders SET last_seen = ?, process_count = ?, dropped_events = ?, disconnected_at = NULL WHERE id = ? AND connection = ?")
            .bind(now_ms())
            .bind(beat.process_count)
            .bind(i64::try_from(beat.dropped_events).unwrap_or(i64::MAX))
            .bind(id)
            .bind(connection)
            .execute(pool)
            .await?;
        Ok(())
    }

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

    /// Stores the events this console does not have yet (by sequence number), keeps the newest
    /// `keep` per defender; answers the last sequence number stored.
    pub async fn store_events(
        pool: &SqlitePool,
        id: i64,
        instance: &str,
        events: &[Event],
        keep: i64,
    ) -> Result<u64, sqlx::Error> {
        let mut transaction = pool.begin().await?;
        let (mut last_seq,): (i64,) = sqlx::query_as("SELECT last_seq FROM defenders WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *transaction)
            .await?;
        for event in events {
            let seq = i64::try_from(event.seq).unwrap_or(i64::MAX);
            if seq <= last_seq {
                continue;
            }
            let (kind, pid, container, _) = describe(&event.kind);
            sqlx::query("INSERT OR IGNORE INTO defender_events (defender_id, instance, seq, at, kind, pid, container, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(id)
                .bind(instance)
                .bind(seq)
                .bind(event.at_ms)
                .bind(kind)
                .bind(pid)
                .bind(container)
                .bind(serde_json::to_string(event).unwrap_or_default())
                .execute(&mut *transaction)
                .await?;
            last_seq = seq;
        }
        sqlx::query("UPDATE defenders SET last_seq = ?, last_seen = ? WHERE id = ?")
            .bind(last_seq)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        sqlx::query("DELETE FROM defender_events WHERE defender_id = ?1 AND id < (SELECT MIN(id) FROM (SELECT id FROM defender_events WHERE defender_id = ?1 ORDER BY id DESC LIMIT ?2))")
            .bind(id)
            .bind(keep)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(u64::try_from(last_seq).unwrap_or(0))
    }

    /// The connection ended: disconnected, unless a newer connection of the same defender took over.
    pub async fn disconnected(
        pool: &SqlitePool,
        id: i64,
        connection: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE defenders SET disconnected_at = ? WHERE id = ? AND connection = ? AND disconnected_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .bind(connection)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Marks defenders silent for `silent_ms` disconnected (as of their last sign of life) and
    /// removes those disconnected for more than `retention_ms`. Answers both counts.
    pub async fn sweep(
        pool: &SqlitePool,
        silent_ms: i64,
        retention_ms: i64,
    ) -> Result<(u64, u64), sqlx::Error> {
        let now = now_ms();
        let marked = sqlx::query("UPDATE defenders SET disconnected_at = last_seen WHERE disconnected_at IS NULL AND last_seen < ?")
            .bind(now - silent_ms)
            .execute(pool)
            .await?
            .rows_affected();
        let removed = sqlx::query(
            "DELETE FROM defenders WHERE disconnected_at IS NOT NULL AND disconnected_at < ?",
        )
        .bind(now - retention_ms)
        .execute(pool)
        .await?
        .rows_affected();
        Ok((marked, removed))
    }

    #[derive(sqlx::FromRow)]
    struct DefenderRow {
        id: i64,
        task_arn: String,
        cluster: String,
        family: String,
        revision: String,
        availability_zone: String,
        launch_type: String,
        containers: String,
        version: String,
        mode: String,
        process_count: i64,
        dropped_events: i64,
        first_seen: i64,
        connected_since: i64,
        last_seen: i64,
        disconnected_at: Option<i64>,
    }

    impl From<DefenderRow> for DefenderView {
        fn from(row: DefenderRow) -> Self {
            let containers: Vec<palisade_protocol::ContainerIdentity> =
                serde_json::from_str(&row.containers).unwrap_or_default();
            DefenderView {
                id: row.id,
                status: if row.disconnected_at.is_none() {
                    "connected"
                } else {
                    "disconnected"
                }
                .into(),
                task_arn: row.task_arn,
                cluster: row.cluster,
                family: row.family,
                revision: row.revision,
                availability_zone: row.availability_zone,
                launch_type: row.launch_type,
                version: row.version,
                mode: row.mode,
                containers: containers
                    .into_iter()
                    .map(|c| ContainerView {
                        name: c.name,
                        image: c.image,
                    })
                    .collect(),
                process_count: row.process_count,
                dropped_events: row.dropped_events,
                first_seen_ms: row.first_seen,
                connected_since_ms: row.connected_since,
                last_seen_ms: row.last_seen,
                disconnected_at_ms: row.disconnected_at,
            }
        }
    }

    const COLUMNS: &str = "id, task_arn, cluster, family, revision, availability_zone, launch_type, containers, version, mode, process_count, dropped_events, first_seen, connected_since, last_seen, disconnected_at";

    /// Why a filter is refused.
    pub fn check_filter(filter: &DefenderFilter) -> Result<(), String> {
        if !matches!(filter.status.as_str(), "" | "connected" | "disconnected") {
            return Err(format!(
                "status `{}` is not one of connected, disconnected",
                filter.status
            ));
        }
        if order_by(&filter.sort).is_none() {
            return Err(format!(
                "sort `{}` is not one of status, family, cluster, connected_since, last_seen, processes",
                filter.sort
            ));
        }
        if filter.per_page > 500 {
            return Err("per_page is at most 500".into());
        }
        Ok(())
    }

    /// The ORDER BY of a sort key (a whitelist: the key never reaches SQL itself).
    fn order_by(sort: &str) -> Option<&'static str> {
        Some(match sort {
            "" | "status" => "disconnected_at IS NOT NULL, last_seen DESC, id DESC",
            "family" => "family, CAST(revision AS INTEGER) DESC, id DESC",
            "cluster" => "cluster, family, id DESC",
            "connected_since" => "disconnected_at IS NOT NULL, connected_since, id",
            "last_seen" => "last_seen DESC, id DESC",
            "processes" => "process_count DESC, id DESC",
            _ => return None,
        })
    }

    pub async fn list(
        pool: &SqlitePool,
        filter: &DefenderFilter,
    ) -> Result<DefenderList, sqlx::Error> {
        let per_page = if filter.per_page == 0 {
            50
        } else {
            filter.per_page.min(500)
        };
        let page = filter.page.max(1);
        // Connected first, then the most recently seen.
        let condition = "(?1 = '' OR (?1 = 'connected' AND disconnected_at IS NULL) OR (?1 = 'disconnected' AND disconnected_at IS NOT NULL))
             AND (?2 = '' OR instr(lower(family || ' ' || cluster || ' ' || task_arn || ' ' || availability_zone || ' ' || containers || ' ' || revision), lower(?2)) > 0)";
        let rows: Vec<DefenderRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM defenders WHERE {condition} ORDER BY {} LIMIT ?3 OFFSET ?4",
            order_by(&filter.sort).unwrap_or("id DESC")
        ))
        .bind(&filter.status)
        .bind(filter.q.trim())
        .bind(i64::from(per_page))
        .bind(i64::from(page - 1) * i64::from(per_page))
        .fetch_all(pool)
        .await?;
        let (total,): (i64,) =
            sqlx::query_as(&format!("SELECT COUNT(*) FROM defenders WHERE {condition}"))
                .bind(&filter.status)
                .bind(filter.q.trim())
                .fetch_one(pool)
                .await?;
        let (connected, disconnected, protected_families): (i64, i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(disconnected_at IS NULL), 0), COALESCE(SUM(disconnected_at IS NOT NULL), 0),
                    COUNT(DISTINCT CASE WHEN disconnected_at IS NULL THEN family END) FROM defenders",
        )
                .fetch_one(pool)
                .await?;
        Ok(DefenderList {
            defenders: rows.into_iter().map(Into::into).collect(),
            total,
            page,
            per_page,
            connected,
            disconnected,
            protected_families,
            now_ms: now_ms(),
        })
    }

    /// seq, at, kind, pid, container, detail.
    type StoredEvent = (i64, i64, String, Option<i64>, Option<String>, String);

    pub async fn get(
        pool: &SqlitePool,
        id: i64,
        events: i64,
    ) -> Result<Option<DefenderDetail>, sqlx::Error> {
        let Some(row) = sqlx::query_as::<_, DefenderRow>(&format!(
            "SELECT {COLUMNS} FROM defenders WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
        else {
            return Ok(None);
        };
        let stored: Vec<StoredEvent> =
            sqlx::query_as("SELECT seq, at, kind, pid, container, detail FROM defender_events WHERE defender_id = ? ORDER BY id DESC LIMIT ?")
                .bind(id)
                .bind(events)
                .fetch_all(pool)
                .await?;
        let events = stored
            .into_iter()
            .map(|(seq, at_ms, kind, pid, container, detail)| {
                let summary = serde_json::from_str::<Event>(&detail)
                    .map(|event| describe(&event.kind).3)
                    .unwrap_or_default();
                DefenderEventView {
                    seq,
                    at_ms,
                    kind,
                    pid,
                    container,
                    summary,
                }
            })
            .collect();
        Ok(Some(DefenderDetail {
            defender: row.into(),
            events,
            now_ms: now_ms(),
        }))
    }
}
