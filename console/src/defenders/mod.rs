//! Defenders as the console keeps them: one row per task (presence: first seen, connected since,
//! last seen, disconnected at), its events, and the family tokens defenders connect with. The open
//! sockets themselves belong to the server; everything here is in the database, so the dashboard,
//! the CLI and a restarted console agree.

pub mod binding;
pub mod changes;
pub mod events;
pub mod history;
pub mod presence;
pub mod recorder;
pub mod tokens;

use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Error, Result};
use palisade_protocol::ContainerIdentity;
use sqlx::SqlitePool;
use std::time::Duration;

pub use events::TimelineEvent;

/// How the console treats defenders.
#[derive(Clone, Debug)]
pub struct DefenderSettings {
    /// How often defenders send a heartbeat. A defender silent for 3 of them is disconnected.
    pub heartbeat: Duration,
    /// How long a disconnected defender stays listed.
    pub retention: Duration,
    /// Events kept per defender (the newest), by count and by bytes.
    pub events_kept: events::EventsKept,
    /// Open defender connections one token may hold (a family's tasks share its token).
    pub connections_per_token: usize,
    /// Distinct tasks one family, and one token, may have listed at once (connected or not).
    pub task_caps: presence::TaskCaps,
    /// A family's stored events in all, in bytes.
    pub family_event_bytes: i64,
}

impl DefenderSettings {
    /// What the defenders' writer keeps within bounds.
    pub fn storage_bounds(&self) -> recorder::StorageBounds {
        recorder::StorageBounds {
            keep: self.events_kept,
            family_bytes: self.family_event_bytes,
            caps: self.task_caps,
        }
    }
}

impl Default for DefenderSettings {
    fn default() -> Self {
        DefenderSettings {
            heartbeat: Duration::from_secs(10),
            retention: Duration::from_secs(86_400),
            events_kept: events::EventsKept {
                count: 2000,
                bytes: 1024 * 1024,
            },
            connections_per_token: 5000,
            task_caps: presence::TaskCaps::default(),
            family_event_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Whether a defender's task is protected right now: the one type the pages and the API show.
pub use palisade_types::defenders::DefenderStatus;

/// One defender (one task).
#[derive(Clone, Debug, PartialEq)]
pub struct Defender {
    pub id: i64,
    pub task_arn: String,
    pub cluster: String,
    pub family: String,
    pub revision: String,
    pub availability_zone: String,
    pub launch_type: String,
    pub containers: Vec<ContainerIdentity>,
    pub version: String,
    pub mode: String,
    pub process_count: i64,
    pub dropped_events: i64,
    pub first_seen: UnixMs,
    pub connected_since: UnixMs,
    pub last_seen: UnixMs,
    /// `None` while connected.
    pub disconnected_at: Option<UnixMs>,
}

impl Defender {
    pub fn status(&self) -> DefenderStatus {
        match self.disconnected_at {
            None => DefenderStatus::Connected,
            Some(_) => DefenderStatus::Disconnected,
        }
    }
}

/// How a defender list is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefenderSort {
    /// Connected first, then the most recently seen.
    #[default]
    Status,
    /// By family, newest revision first.
    Family,
    Cluster,
    /// Connected first, longest connected first.
    ConnectedSince,
    LastSeen,
    /// Most processes first.
    Processes,
}

impl DefenderSort {
    const ALL: [(DefenderSort, &'static str); 6] = [
        (DefenderSort::Status, "status"),
        (DefenderSort::Family, "family"),
        (DefenderSort::Cluster, "cluster"),
        (DefenderSort::ConnectedSince, "connected_since"),
        (DefenderSort::LastSeen, "last_seen"),
        (DefenderSort::Processes, "processes"),
    ];

    /// The list's ORDER BY for this sort: fixed text (never a user's), each written exactly as
    /// its index (migration 12) so the first page is an index walk; `last_seen` alone has none
    /// (heartbeats would rewrite it all the time) and sorts the table.
    fn order_by(self) -> &'static str {
        match self {
            DefenderSort::Status => "(disconnected_at IS NOT NULL), last_seen DESC, id DESC",
            DefenderSort::ConnectedSince => "(disconnected_at IS NOT NULL), connected_since, id",
            DefenderSort::Family => "family, CAST(revision AS INTEGER) DESC, id DESC",
            DefenderSort::Cluster => "cluster, family, id DESC",
            DefenderSort::LastSeen => "last_seen DESC, id DESC",
            DefenderSort::Processes => "process_count DESC, id DESC",
        }
    }
}

/// Which defenders to list, and which page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefenderQuery {
    /// `None` for both.
    pub status: Option<DefenderStatus>,
    /// Matched against family, cluster, task ARN, AZ, revision and container names and images.
    pub search: String,
    pub sort: DefenderSort,
    /// From 1.
    pub page: u32,
    /// 1 to [`DefenderQuery::MAX_PER_PAGE`].
    pub per_page: u32,
}

impl Default for DefenderQuery {
    fn default() -> Self {
        DefenderQuery {
            status: None,
            search: String::new(),
            sort: DefenderSort::Status,
            page: 1,
            per_page: Self::DEFAULT_PER_PAGE,
        }
    }
}

impl DefenderQuery {
    pub const DEFAULT_PER_PAGE: u32 = 50;
    pub const MAX_PER_PAGE: u32 = 500;

    /// A query from the words of a URL or a form: empty means the default; unknown words are
    /// refused (an unknown status lists nothing rather than everything).
    pub fn parse(status: &str, search: &str, sort: &str, page: u32, per_page: u32) -> Result<Self> {
        let status = match status {
            "" => None,
            "connected" => Some(DefenderStatus::Connected),
            "disconnected" => Some(DefenderStatus::Disconnected),
            other => {
                return Err(Error::invalid(format!(
                    "status `{other}` is not one of connected, disconnected"
                )))
            }
        };
        let sort = match sort {
            "" => DefenderSort::Status,
            other => DefenderSort::ALL
                .iter()
                .find(|(_, key)| *key == other)
                .map(|(sort, _)| *sort)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "sort `{other}` is not one of status, family, cluster, connected_since, last_seen, processes"
                    ))
                })?,
        };
        if per_page > Self::MAX_PER_PAGE {
            return Err(Error::invalid(format!(
                "per_page is at most {}",
                Self::MAX_PER_PAGE
            )));
        }
        Ok(DefenderQuery {
            status,
            search: search.trim().to_owned(),
            sort,
            page: page.max(1),
            per_page: if per_page == 0 {
                Self::DEFAULT_PER_PAGE
            } else {
                per_page
            },
        })
    }
}

/// One page of defenders, with the counts over all of them.
#[derive(Clone, Debug, PartialEq)]
pub struct DefenderPage {
    pub defenders: Vec<Defender>,
    /// Matching the query, over all pages.
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    /// Over all defenders, whatever the query.
    pub connected: i64,
    pub disconnected: i64,
    /// Families with at least one connected defender.
    pub protected_families: i64,
    /// The console's clock, so "connected for" is right even when the reader's is not.
    pub now_ms: UnixMs,
}

/// The columns a [`DefenderRow`] reads.
const DEFENDER_COLUMNS: &str = "id, task_arn, cluster, family, revision, availability_zone, launch_type, containers, \
     version, mode, process_count, dropped_events, first_seen, connected_since, last_seen, disconnected_at";

/// The list's WHERE for `query` (fixed text; the search goes in as the one `?`, a LIKE pattern
/// with `\\`, `%` and `_` escaped): the status as the status indexes write it (so a filter is
/// an index range), the search column by column (four times faster than one concatenation,
/// and case-insensitive for ASCII as LIKE is).
fn filter_sql(query: &DefenderQuery) -> (String, Option<String>) {
    let mut clauses = vec!["1"];
    match query.status {
        None => {}
        Some(DefenderStatus::Connected) => clauses.push("(disconnected_at IS NOT NULL) = 0"),
        Some(DefenderStatus::Disconnected) => clauses.push("(disconnected_at IS NOT NULL) = 1"),
    }
    let pattern = (!query.search.is_empty()).then(|| {
        let escaped = query
            .search
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    if pattern.is_some() {
        clauses.push(
            "(family LIKE ?1 ESCAPE '\\' OR cluster LIKE ?1 ESCAPE '\\' OR task_arn LIKE ?1 ESCAPE '\\' \
             OR availability_zone LIKE ?1 ESCAPE '\\' OR containers LIKE ?1 ESCAPE '\\' OR revision LIKE ?1 ESCAPE '\\')",
        );
    }
    (clauses.join(" AND "), pattern)
}

/// A defender row as stored.
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
    /// How many rows the query matched in all (only when a search counted them).
    #[sqlx(default)]
    matched: Option<i64>,
}

impl DefenderRow {
    fn into_defender(self) -> Result<Defender> {
        Ok(Defender {
            containers: serde_json::from_str(&self.containers)
                .context("reading a defender's containers")?,
            id: self.id,
            task_arn: self.task_arn,
            cluster: self.cluster,
            family: self.family,
            revision: self.revision,
            availability_zone: self.availability_zone,
            launch_type: self.launch_type,
            version: self.version,
            mode: self.mode,
            process_count: self.process_count,
            dropped_events: self.dropped_events,
            first_seen: self.first_seen,
            connected_since: self.connected_since,
            last_seen: self.last_seen,
            disconnected_at: self.disconnected_at,
        })
    }
}

/// Every defender `query` selects, in its order, whatever its page (the CSV export).
#[tracing::instrument(skip(db))]
pub async fn export(db: &SqlitePool, query: &DefenderQuery) -> Result<Vec<Defender>> {
    // SQLite's LIMIT -1 is no limit.
    Ok(select(db, query, -1, 0).await?.0)
}

/// The rows of `query`, `limit` from `offset`, and how many rows match in all when a search
/// counted them on the way.
async fn select(
    db: &SqlitePool,
    query: &DefenderQuery,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Defender>, Option<i64>)> {
    // The ORDER BY is one of six fixed strings (an index each) and the WHERE fixed text with the
    // search bound, so the statement is built here rather than checked by `query!`;
    // `every_sort_and_filter_runs_and_pages_walk_an_index` runs each.
    let (filter, pattern) = filter_sql(query);
    // A search reads every row anyway: the same pass counts the matches (`matched`), so the
    // page and its total cost one scan, not two. Without a search the index walk stops at the
    // page and `matched` is not asked for.
    let matched = if pattern.is_some() {
        "COUNT(*) OVER ()"
    } else {
        "NULL"
    };
    let sql = format!(
        "SELECT {DEFENDER_COLUMNS}, {matched} AS matched FROM defenders WHERE {filter} ORDER BY {} LIMIT ?2 OFFSET ?3",
        query.sort.order_by()
    );
    let rows: Vec<DefenderRow> = sqlx::query_as(&sql)
        .bind(pattern.unwrap_or_default())
        .bind(limit)
        .bind(offset)
        .fetch_all(db)
        .await
        .context("listing the defenders")?;
    let matched = rows.first().and_then(|row| row.matched);
    let defenders = rows
        .into_iter()
        .map(DefenderRow::into_defender)
        .collect::<Result<_>>()?;
    Ok((defenders, matched))
}

/// One page of the defenders `query` selects.
#[tracing::instrument(skip(db))]
pub async fn list(db: &SqlitePool, query: &DefenderQuery) -> Result<DefenderPage> {
    let search = query.search.as_str();
    let limit = i64::from(query.per_page);
    let offset = i64::from(query.page - 1) * limit;
    let (defenders, matched) = select(db, query, limit, offset).await?;
    // Each count reads an index alone (migration 12): no scan of the table.
    let connected = sqlx::query_scalar!(
        r#"SELECT COUNT(*) AS "n!: i64" FROM defenders WHERE disconnected_at IS NULL"#
    )
    .fetch_one(db)
    .await
    .context("counting the defenders")?;
    let all = sqlx::query_scalar!(r#"SELECT COUNT(*) AS "n!: i64" FROM defenders"#)
        .fetch_one(db)
        .await
        .context("counting the defenders")?;
    let protected_families = sqlx::query_scalar!(
        r#"SELECT COUNT(DISTINCT family) AS "n!: i64" FROM defenders WHERE disconnected_at IS NULL"#
    )
    .fetch_one(db)
    .await
    .context("counting the defenders")?;
    let disconnected = all - connected;
    let total = match (query.status, search.is_empty()) {
        (None, true) => all,
        (Some(DefenderStatus::Connected), true) => connected,
        (Some(DefenderStatus::Disconnected), true) => disconnected,
        // A search counted its matches while reading the page; a page past the last match
        // has no row to say how many, so they are counted here.
        _ if matched.is_some() => matched.unwrap_or_default(),
        _ => {
            let (filter, pattern) = filter_sql(query);
            let sql = format!("SELECT COUNT(*) FROM defenders WHERE {filter}");
            sqlx::query_scalar(&sql)
                .bind(pattern.unwrap_or_default())
                .fetch_one(db)
                .await
                .context("counting the defenders")?
        }
    };
    Ok(DefenderPage {
        defenders,
        total,
        page: query.page,
        per_page: query.per_page,
        connected,
        disconnected,
        protected_families,
        now_ms: now_ms(),
    })
}

/// One defender and its newest `events` timeline entries (newest first).
#[tracing::instrument(skip(db))]
pub async fn get(db: &SqlitePool, id: i64, events: i64) -> Result<(Defender, Vec<TimelineEvent>)> {
    let row = sqlx::query_as!(
        DefenderRow,
        r#"SELECT id AS "id!", task_arn, cluster, family, revision, availability_zone, launch_type, containers,
                  version, mode, process_count, dropped_events, first_seen, connected_since, last_seen, disconnected_at,
                  NULL AS "matched: i64"
           FROM defenders WHERE id = ?"#,
        id
    )
    .fetch_optional(db)
    .await
    .context("loading a defender")?
    .ok_or_else(|| {
        Error::NotFound(format!(
            "defender {id} is not known (removed after being disconnected for long?)"
        ))
    })?;
    let timeline = events::timeline(db, id, events).await?;
    Ok((row.into_defender()?, timeline))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sort with every status filter runs, and without a search walks its index instead
    /// of sorting the table (what keeps the first page fast at 50,000 defenders).
    #[tokio::test]
    async fn every_sort_and_filter_runs_and_pages_walk_an_index() {
        let (_dir, db) = crate::testing::database().await;
        for (sort, key) in DefenderSort::ALL {
            for status in ["", "connected", "disconnected"] {
                for search in ["", "billing"] {
                    let query = DefenderQuery::parse(status, search, key, 1, 50).unwrap();
                    let page = list(&db, &query).await.unwrap();
                    assert_eq!(page.total, 0);
                }
            }
            let (filter, _) = filter_sql(&DefenderQuery::parse("", "", key, 1, 50).unwrap());
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT {DEFENDER_COLUMNS} FROM defenders WHERE {filter} ORDER BY {} LIMIT 50",
                sort.order_by()
            );
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&sql).bind("").fetch_all(&db).await.unwrap();
            let plan: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
            if sort == DefenderSort::LastSeen {
                continue;
            }
            assert!(
                plan.iter()
                    .any(|step| step.contains("USING INDEX defenders_order_"))
                    && !plan.iter().any(|step| step.contains("TEMP B-TREE")),
                "{key}: {plan:?}"
            );
        }
    }
}
