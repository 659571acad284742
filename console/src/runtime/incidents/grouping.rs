//! Grouping alerts into incidents, in the defenders' writer's transaction (see the parent
//! module for the rules): a few statements per (family, rule, container), whatever the number of
//! alerts.

use super::{severity_rank, ALERTS_KEPT, GROUPING_MS, OPEN_PER_FAMILY, TASKS_LISTED};
use crate::clock::UnixMs;
use crate::error::{Context, Result};
use palisade_policy::{is_container_name, RuleId, Severity};
use palisade_protocol::{AlertReport, ContainerIdentity};
use sqlx::SqliteConnection;
use std::collections::{BTreeMap, HashMap};

/// An alert event just stored (in the writer's transaction), as the defender sent it.
pub struct FreshAlert<'a> {
    pub defender_id: i64,
    pub instance: &'a str,
    pub seq: i64,
    pub at_ms: UnixMs,
    pub report: &'a AlertReport,
}

/// One alert of one rule, ready to join its incident.
#[derive(Clone, Debug)]
pub struct Item {
    pub defender_id: i64,
    pub instance: String,
    pub seq: i64,
    pub task_arn: String,
    pub at_ms: UnixMs,
    pub severity: Severity,
    pub message: String,
    /// The report as JSON (`{}` for the console's own alerts).
    pub report: String,
}

/// Where alerts are grouped: (family, rule, container or '').
pub type Key = (String, String, String);

/// The defenders behind a batch's alerts: task, family and the containers their hello named.
struct Source {
    task_arn: String,
    family: String,
    containers: Vec<String>,
}

/// Groups `alerts` (stored in this transaction at `now`) into incidents.
pub async fn record(
    connection: &mut SqliteConnection,
    alerts: &[FreshAlert<'_>],
    now: UnixMs,
) -> Result<()> {
    if alerts.is_empty() {
        return Ok(());
    }
    let sources = sources(connection, alerts).await?;
    let mut groups: BTreeMap<Key, Vec<Item>> = BTreeMap::new();
    for alert in alerts {
        let Some(source) = sources.get(&alert.defender_id) else {
            continue;
        };
        for (key, item) in items(alert, source)? {
            groups.entry(key).or_default().push(item);
        }
    }
    for (key, items) in groups {
        join(connection, &key, &items, now).await?;
    }
    Ok(())
}

async fn sources(
    connection: &mut SqliteConnection,
    alerts: &[FreshAlert<'_>],
) -> Result<HashMap<i64, Source>> {
    let mut ids: Vec<i64> = alerts.iter().map(|alert| alert.defender_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let ids = serde_json::to_string(&ids).context("grouping alerts")?;
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", task_arn, family, containers FROM defenders WHERE id IN (SELECT value FROM json_each(?))"#,
        ids
    )
    .fetch_all(&mut *connection)
    .await
    .context("grouping alerts")?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let containers: Vec<ContainerIdentity> =
                serde_json::from_str(&row.containers).unwrap_or_default();
            let source = Source {
                task_arn: row.task_arn,
                family: row.family,
                containers: containers.into_iter().map(|c| c.name).collect(),
            };
            (row.id, source)
        })
        .collect())
}

/// One item per rule the report names (each rule once), keyed by its incident. The severity is
/// the catalogue's (a defender cannot make an alert weigh more or less), the container is kept
/// only when it is one its task's hello named.
fn items(alert: &FreshAlert<'_>, source: &Source) -> Result<Vec<(Key, Item)>> {
    let report = alert.report;
    let container = report
        .process
        .as_ref()
        .and_then(|process| process.container.clone())
        .or_else(|| report.port.as_ref().and_then(|port| port.container.clone()))
        .filter(|name| {
            is_container_name(name)
                && (source.containers.is_empty() || source.containers.contains(name))
        })
        .unwrap_or_default();
    let json = serde_json::to_string(report).context("grouping alerts")?;
    let mut seen: Vec<RuleId> = Vec::new();
    let mut found = Vec::new();
    for fired in &report.alerts {
        if seen.contains(&fired.rule) {
            continue;
        }
        seen.push(fired.rule);
        let severity = fired
            .rule
            .info()
            .map_or(fired.severity, |info| info.severity);
        let key = (
            source.family.clone(),
            fired.rule.as_str().to_owned(),
            container.clone(),
        );
        let item = Item {
            defender_id: alert.defender_id,
            instance: alert.instance.to_owned(),
            seq: alert.seq,
            task_arn: source.task_arn.clone(),
            at_ms: alert.at_ms,
            severity,
            message: fired.message.clone(),
            report: json.clone(),
        };
        found.push((key, item));
    }
    Ok(found)
}

/// `items` (of one key, in order) join their incident, opened when there is none.
pub async fn join(
    connection: &mut SqliteConnection,
    key: &Key,
    items: &[Item],
    now: UnixMs,
) -> Result<i64> {
    let (family, rule, container) = key;
    let Some(top) = items.iter().map(|item| item.severity).max() else {
        return Ok(0);
    };
    let (id, stored) = match current(connection, key, now).await? {
        Some(found) => found,
        None => (open(connection, key, top, now).await?, 0),
    };
    let kept = (ALERTS_KEPT - stored).clamp(0, items.len() as i64);
    // A new alert reopens an acknowledged incident (who acknowledged it stays on record): an
    // acknowledged decoy must not hide a real attack of the same key for a day.
    let summary = items.last().map_or("", |item| item.message.as_str());
    let (count, rank, severity) = (items.len() as i64, severity_rank(top), top.as_str());
    sqlx::query!(
        "UPDATE incidents SET alert_count = alert_count + ?1, stored_alerts = stored_alerts + ?2,
             last_seen = ?3, summary = ?4, state = 'open',
             severity = CASE WHEN ?5 > severity_rank THEN ?6 ELSE severity END,
             severity_rank = MAX(severity_rank, ?5)
         WHERE id = ?7",
        count,
        kept,
        now,
        summary,
        rank,
        severity,
        id
    )
    .execute(&mut *connection)
    .await
    .context("grouping alerts")?;
    keep_alerts(connection, id, &items[..kept as usize], now).await?;
    list_tasks(connection, id, items, now).await?;
    tracing::debug!(incident = id, family = ?family, rule = ?rule, container = ?container, alerts = count, "alerts grouped");
    Ok(id)
}

/// The unresolved incident `key`'s alerts join now, and how many alerts it keeps: its own
/// within 24 hours of its first alert, or, for a family at [`OPEN_PER_FAMILY`], its latest of
/// the same rule.
async fn current(
    connection: &mut SqliteConnection,
    (family, rule, container): &Key,
    now: UnixMs,
) -> Result<Option<(i64, i64)>> {
    let since = now - GROUPING_MS;
    let own = sqlx::query!(
        r#"SELECT id AS "id!", stored_alerts FROM incidents
           WHERE family = ? AND rule = ? AND container = ? AND state != 'resolved' AND first_seen > ?
           ORDER BY first_seen DESC LIMIT 1"#,
        family,
        rule,
        container,
        since
    )
    .fetch_optional(&mut *connection)
    .await
    .context("grouping alerts")?;
    if let Some(own) = own {
        return Ok(Some((own.id, own.stored_alerts)));
    }
    let unresolved = sqlx::query_scalar!(
        r#"SELECT COUNT(*) AS "count!: i64" FROM incidents WHERE state != 'resolved' AND family = ?"#,
        family
    )
    .fetch_one(&mut *connection)
    .await
    .context("grouping alerts")?;
    if unresolved < OPEN_PER_FAMILY {
        return Ok(None);
    }
    let latest = sqlx::query!(
        r#"SELECT id AS "id!", stored_alerts FROM incidents
           WHERE family = ? AND rule = ? AND state != 'resolved' ORDER BY last_seen DESC LIMIT 1"#,
        family,
        rule
    )
    .fetch_optional(&mut *connection)
    .await
    .context("grouping alerts")?;
    Ok(latest.map(|latest| (latest.id, latest.stored_alerts)))
}

async fn open(
    connection: &mut SqliteConnection,
    (family, rule, container): &Key,
    severity: Severity,
    now: UnixMs,
) -> Result<i64> {
    let (name, rank) = (severity.as_str(), severity_rank(severity));
    sqlx::query_scalar!(
        r#"INSERT INTO incidents (family, rule, container, severity, severity_rank, first_seen, last_seen)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id AS "id!""#,
        family,
        rule,
        container,
        name,
        rank,
        now,
        now
    )
    .fetch_one(&mut *connection)
    .await
    .context("opening an incident")
}

/// The alerts kept whole, in one statement.
async fn keep_alerts(
    connection: &mut SqliteConnection,
    id: i64,
    items: &[Item],
    now: UnixMs,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = items
        .iter()
        .map(|item| {
            serde_json::json!([
                item.defender_id,
                item.instance,
                item.seq,
                item.task_arn,
                item.at_ms,
                item.severity.as_str(),
                item.message,
                item.report
            ])
        })
        .collect();
    let rows = serde_json::to_string(&rows).context("keeping alerts")?;
    sqlx::query!(
        "INSERT INTO incident_alerts (incident_id, defender_id, instance, seq, task_arn, at, received_at, severity, message, report)
         SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, ?, value ->> 5, value ->> 6, value ->> 7
         FROM json_each(?)",
        id,
        now,
        rows
    )
    .execute(&mut *connection)
    .await
    .context("keeping alerts")?;
    Ok(())
}

/// Each task's alerts counted on its row (a new row only while fewer than [`TASKS_LISTED`]),
/// those of tasks past the list counted on the incident.
async fn list_tasks(
    connection: &mut SqliteConnection,
    id: i64,
    items: &[Item],
    now: UnixMs,
) -> Result<()> {
    let mut tasks: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for item in items {
        let entry = tasks
            .entry(item.task_arn.as_str())
            .or_insert((item.defender_id, 0));
        entry.1 += 1;
    }
    let mut unlisted = 0;
    for (task_arn, (defender_id, alerts)) in tasks {
        let listed = sqlx::query!(
            "INSERT INTO incident_tasks (incident_id, task_arn, defender_id, alerts, first_seen, last_seen)
             SELECT ?1, ?2, ?3, ?4, ?5, ?5
             WHERE (SELECT COUNT(*) FROM incident_tasks WHERE incident_id = ?1) < ?6
                OR EXISTS (SELECT 1 FROM incident_tasks WHERE incident_id = ?1 AND task_arn = ?2)
             ON CONFLICT (incident_id, task_arn) DO UPDATE SET alerts = alerts + excluded.alerts,
                 last_seen = excluded.last_seen, defender_id = excluded.defender_id",
            id,
            task_arn,
            defender_id,
            alerts,
            now,
            TASKS_LISTED
        )
        .execute(&mut *connection)
        .await
        .context("listing an incident's tasks")?
        .rows_affected();
        if listed == 0 {
            unlisted += alerts;
        }
    }
    sqlx::query!(
        "UPDATE incidents SET task_count = (SELECT COUNT(*) FROM incident_tasks WHERE incident_id = ?1),
             unlisted_task_alerts = unlisted_task_alerts + ?2 WHERE id = ?1",
        id,
        unlisted
    )
    .execute(&mut *connection)
    .await
    .context("listing an incident's tasks")?;
    Ok(())
}
