//! Alerts grouped into incidents: per (family, rule, container), the first alert opens one and
//! later alerts join it while it is not resolved and within 24 hours of its first alert (the
//! console's clock: a defender's own cannot move an alert into another incident). Each incident
//! counts every alert, keeps the highest severity, first and last seen, the first
//! [`TASKS_LISTED`] tasks (alerts from tasks past them are counted) and the first
//! [`ALERTS_KEPT`] alerts whole (the rest counted). A family holds at most
//! [`OPEN_PER_FAMILY`] unresolved incidents: past that, an alert of a container without one joins
//! the family's latest of its rule, so a defender inventing container names cannot grow the list.
//!
//! Alerts are grouped in the defenders' writer's transaction, the one that stores them as events
//! (an alert is in an incident exactly when it is on its defender's timeline), a few statements
//! per (family, rule, container) whatever the number of alerts: a flood of thousands collapses
//! into one incident at the cost of one.

mod grouping;

pub use grouping::{join, record, FreshAlert, Item, Key};

use crate::clock::UnixMs;
use crate::error::{Context, Error, Result};
use palisade_policy::Severity;
use palisade_protocol::AlertReport;
use sqlx::SqlitePool;

/// Alerts kept whole per incident (the first ones; the rest are counted).
pub const ALERTS_KEPT: i64 = 100;
/// Tasks listed per incident (the first ones; alerts from others are counted).
pub const TASKS_LISTED: i64 = 100;
/// How long after its first alert an incident takes new ones.
pub const GROUPING_MS: i64 = 24 * 3_600_000;
/// Unresolved incidents a family may have before alerts of new containers join older ones.
pub const OPEN_PER_FAMILY: i64 = 500;
/// How long an incident is kept after its last alert.
pub const RETENTION_MS: i64 = 90 * 24 * 3_600_000;
/// Incidents kept per family (the oldest go first).
pub const KEPT_PER_FAMILY: i64 = 5_000;

/// The console's own rule: a defender left without closing its channel while its task runs.
pub const DEFENDER_SILENT: &str = "defender-silent";

/// An incident's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncidentState {
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<IncidentState> {
        [
            IncidentState::Open,
            IncidentState::Acknowledged,
            IncidentState::Resolved,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// A severity's place in the order (`low` 0 to `critical` 3).
pub fn severity_rank(severity: Severity) -> i64 {
    match severity {
        Severity::Low => 0,
        Severity::Medium => 1,
        Severity::High => 2,
        Severity::Critical => 3,
    }
}

/// One incident as lists show it.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub id: i64,
    pub family: String,
    pub rule: String,
    /// `None` when its alerts named no container.
    pub container: Option<String>,
    pub severity: String,
    pub state: String,
    pub alert_count: i64,
    pub stored_alerts: i64,
    pub task_count: i64,
    pub unlisted_task_alerts: i64,
    pub first_seen: UnixMs,
    pub last_seen: UnixMs,
    pub summary: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<UnixMs>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<UnixMs>,
}

struct IncidentRow {
    id: i64,
    family: String,
    rule: String,
    container: String,
    severity: String,
    state: String,
    alert_count: i64,
    stored_alerts: i64,
    task_count: i64,
    unlisted_task_alerts: i64,
    first_seen: i64,
    last_seen: i64,
    summary: String,
    acknowledged_by: Option<String>,
    acknowledged_at: Option<i64>,
    resolved_by: Option<String>,
    resolved_at: Option<i64>,
}

impl From<IncidentRow> for Incident {
    fn from(row: IncidentRow) -> Self {
        Incident {
            id: row.id,
            family: row.family,
            rule: row.rule,
            container: Some(row.container).filter(|name| !name.is_empty()),
            severity: row.severity,
            state: row.state,
            alert_count: row.alert_count,
            stored_alerts: row.stored_alerts,
            task_count: row.task_count,
            unlisted_task_alerts: row.unlisted_task_alerts,
            first_seen: row.first_seen,
            last_seen: row.last_seen,
            summary: row.summary,
            acknowledged_by: row.acknowledged_by,
            acknowledged_at: row.acknowledged_at,
            resolved_by: row.resolved_by,
            resolved_at: row.resolved_at,
        }
    }
}

/// Which incidents to list: each filter empty for all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentQuery {
    pub family: String,
    pub rule: String,
    pub severity: String,
    pub state: String,
    /// From 1.
    pub page: u32,
    pub per_page: u32,
}

impl IncidentQuery {
    pub const DEFAULT_PER_PAGE: u32 = 50;
    pub const MAX_PER_PAGE: u32 = 500;

    /// A query from a URL's or a form's words, refusing words that cannot match anything.
    pub fn parse(
        family: &str,
        rule: &str,
        severity: &str,
        state: &str,
        page: u32,
        per_page: u32,
    ) -> Result<IncidentQuery> {
        let known_rule = rule.is_empty()
            || rule == DEFENDER_SILENT
            || palisade_policy::rules()
                .iter()
                .any(|info| info.id.as_str() == rule);
        if !known_rule {
            return Err(Error::invalid(format!(
                "rule `{rule}` is not one of the rules (GET /api/v1/rules lists them)"
            )));
        }
        if !["", "low", "medium", "high", "critical"].contains(&severity) {
            return Err(Error::invalid(format!(
                "severity `{severity}` is not one of low, medium, high, critical"
            )));
        }
        if !state.is_empty() && IncidentState::parse(state).is_none() {
            return Err(Error::invalid(format!(
                "state `{state}` is not one of open, acknowledged, resolved"
            )));
        }
        if page > i32::MAX as u32 {
            return Err(Error::invalid(format!(
                "page is at most {} (an int32)",
                i32::MAX
            )));
        }
        if per_page > Self::MAX_PER_PAGE {
            return Err(Error::invalid(format!(
                "per_page is at most {}",
                Self::MAX_PER_PAGE
            )));
        }
        Ok(IncidentQuery {
            family: family.trim().to_owned(),
            rule: rule.to_owned(),
            severity: severity.to_owned(),
            state: state.to_owned(),
            page: page.max(1),
            per_page: if per_page == 0 {
                Self::DEFAULT_PER_PAGE
            } else {
                per_page
            },
        })
    }
}

/// A page of incidents, newest alert first, with the counts over all of them.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentPage {
    pub incidents: Vec<Incident>,
    /// Matching the query, over all pages.
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    pub counts: IncidentCounts,
}

/// Incidents by state, and the alerts of the open ones, over all families.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncidentCounts {
    pub open: i64,
    pub acknowledged: i64,
    pub open_alerts: i64,
}

/// One page of the incidents `query` selects.
pub async fn list(db: &SqlitePool, query: &IncidentQuery) -> Result<IncidentPage> {
    let limit = i64::from(query.per_page);
    let offset = i64::from(query.page - 1) * limit;
    let rows = sqlx::query_as!(
        IncidentRow,
        r#"SELECT id AS "id!", family, rule, container, severity, state, alert_count, stored_alerts, task_count,
                  unlisted_task_alerts, first_seen, last_seen, summary, acknowledged_by, acknowledged_at,
                  resolved_by, resolved_at
           FROM incidents
           WHERE (?1 = '' OR family = ?1) AND (?2 = '' OR rule = ?2) AND (?3 = '' OR severity = ?3) AND (?4 = '' OR state = ?4)
           ORDER BY last_seen DESC, id DESC LIMIT ?5 OFFSET ?6"#,
        query.family,
        query.rule,
        query.severity,
        query.state,
        limit,
        offset
    )
    .fetch_all(db)
    .await
    .context("listing incidents")?;
    let total = sqlx::query_scalar!(
        r#"SELECT COUNT(*) AS "count!: i64" FROM incidents
           WHERE (?1 = '' OR family = ?1) AND (?2 = '' OR rule = ?2) AND (?3 = '' OR severity = ?3) AND (?4 = '' OR state = ?4)"#,
        query.family,
        query.rule,
        query.severity,
        query.state
    )
    .fetch_one(db)
    .await
    .context("counting incidents")?;
    Ok(IncidentPage {
        incidents: rows.into_iter().map(Incident::from).collect(),
        total,
        page: query.page,
        per_page: query.per_page,
        counts: counts(db).await?,
    })
}

/// The counts the navigation shows.
pub async fn counts(db: &SqlitePool) -> Result<IncidentCounts> {
    let row = sqlx::query!(
        r#"SELECT COALESCE(SUM(state = 'open'), 0) AS "open!: i64",
                  COALESCE(SUM(state = 'acknowledged'), 0) AS "acknowledged!: i64",
                  COALESCE(SUM(CASE WHEN state = 'open' THEN alert_count ELSE 0 END), 0) AS "open_alerts!: i64"
           FROM incidents WHERE state != 'resolved'"#
    )
    .fetch_one(db)
    .await
    .context("counting incidents")?;
    Ok(IncidentCounts {
        open: row.open,
        acknowledged: row.acknowledged,
        open_alerts: row.open_alerts,
    })
}

/// One incident.
pub async fn get(db: &SqlitePool, id: i64) -> Result<Incident> {
    sqlx::query_as!(
        IncidentRow,
        r#"SELECT id AS "id!", family, rule, container, severity, state, alert_count, stored_alerts, task_count,
                  unlisted_task_alerts, first_seen, last_seen, summary, acknowledged_by, acknowledged_at,
                  resolved_by, resolved_at
           FROM incidents WHERE id = ?"#,
        id
    )
    .fetch_optional(db)
    .await
    .context("reading an incident")?
    .map(Incident::from)
    .ok_or_else(|| Error::NotFound(format!("incident {id} does not exist")))
}

/// A task an incident's alerts came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentTask {
    pub task_arn: String,
    pub defender_id: i64,
    pub alerts: i64,
    pub first_seen: UnixMs,
    pub last_seen: UnixMs,
}

/// An alert an incident keeps, as its defender reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAlert {
    pub id: i64,
    pub defender_id: i64,
    pub instance: String,
    pub seq: i64,
    pub task_arn: String,
    pub at_ms: UnixMs,
    pub received_at: UnixMs,
    pub severity: String,
    pub message: String,
    pub report: AlertReport,
}

/// The incident's listed tasks and kept alerts, in order.
pub async fn parts(db: &SqlitePool, id: i64) -> Result<(Vec<IncidentTask>, Vec<StoredAlert>)> {
    let tasks = sqlx::query_as!(
        IncidentTask,
        r#"SELECT task_arn, defender_id, alerts, first_seen, last_seen FROM incident_tasks
           WHERE incident_id = ? ORDER BY first_seen, task_arn"#,
        id
    )
    .fetch_all(db)
    .await
    .context("reading an incident's tasks")?;
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", defender_id, instance, seq, task_arn, at, received_at, severity, message, report
           FROM incident_alerts WHERE incident_id = ? ORDER BY id"#,
        id
    )
    .fetch_all(db)
    .await
    .context("reading an incident's alerts")?;
    let alerts = rows
        .into_iter()
        .map(|row| StoredAlert {
            // A report this console cannot read still shows its message.
            report: serde_json::from_str(&row.report).unwrap_or_default(),
            id: row.id,
            defender_id: row.defender_id,
            instance: row.instance,
            seq: row.seq,
            task_arn: row.task_arn,
            at_ms: row.at,
            received_at: row.received_at,
            severity: row.severity,
            message: row.message,
        })
        .collect();
    Ok((tasks, alerts))
}

/// One kept alert of incident `id`.
pub async fn alert(db: &SqlitePool, id: i64, alert_id: i64) -> Result<StoredAlert> {
    parts(db, id)
        .await?
        .1
        .into_iter()
        .find(|alert| alert.id == alert_id)
        .ok_or_else(|| Error::NotFound(format!("incident {id} keeps no alert {alert_id}")))
}

/// Moves incident `id` to `state` on `by`'s word: open -> acknowledged -> resolved (or open ->
/// resolved). A resolved incident stays resolved: the next alert opens a new one.
pub async fn set_state(
    db: &SqlitePool,
    id: i64,
    state: IncidentState,
    by: &str,
    now: UnixMs,
) -> Result<Incident> {
    let before = get(db, id).await?;
    let allowed = match state {
        IncidentState::Acknowledged => before.state == "open",
        IncidentState::Resolved => before.state != "resolved",
        IncidentState::Open => false,
    };
    if !allowed {
        return Err(Error::Conflict(format!(
            "incident {id} is {}: it cannot become {} (a resolved incident stays resolved; its rule's next alert opens a new one)",
            before.state,
            state.as_str()
        )));
    }
    let _turn = crate::db::write_turn().await;
    let name = state.as_str();
    let changed = sqlx::query!(
        "UPDATE incidents SET state = ?1,
             acknowledged_by = CASE WHEN ?1 = 'acknowledged' THEN ?2 ELSE acknowledged_by END,
             acknowledged_at = CASE WHEN ?1 = 'acknowledged' THEN ?3 ELSE acknowledged_at END,
             resolved_by = CASE WHEN ?1 = 'resolved' THEN ?2 ELSE resolved_by END,
             resolved_at = CASE WHEN ?1 = 'resolved' THEN ?3 ELSE resolved_at END
         WHERE id = ?4 AND state = ?5",
        name,
        by,
        now,
        id,
        before.state
    )
    .execute(db)
    .await
    .context("changing an incident's state")?
    .rows_affected();
    if changed == 0 {
        return Err(Error::Conflict(format!(
            "incident {id} changed meanwhile: look again"
        )));
    }
    get(db, id).await
}

/// Forgets incidents whose last alert is older than [`RETENTION_MS`], and each family's oldest
/// past [`KEPT_PER_FAMILY`]. Answers how many went.
pub async fn forget_old(db: &SqlitePool, now: UnixMs) -> Result<u64> {
    let before = now - RETENTION_MS;
    let _turn = crate::db::write_turn().await;
    let old = sqlx::query!("DELETE FROM incidents WHERE last_seen < ?", before)
        .execute(db)
        .await
        .context("forgetting old incidents")?
        .rows_affected();
    let over = sqlx::query!(
        "DELETE FROM incidents WHERE id IN (
             SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY family ORDER BY last_seen DESC, id DESC) AS place
                             FROM incidents) WHERE place > ?)",
        KEPT_PER_FAMILY
    )
    .execute(db)
    .await
    .context("forgetting old incidents")?
    .rows_affected();
    Ok(old + over)
}
