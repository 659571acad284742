//! Alerts into incidents, the process tree around one, and silent defenders.

use super::*;
use crate::runtime::incidents::{IncidentQuery, ALERTS_KEPT, DEFENDER_SILENT};
use crate::runtime::silent::Lost;

async fn incidents(console: &Console) -> Vec<crate::runtime::incidents::Incident> {
    let query = IncidentQuery::parse("", "", "", "", 1, 500).unwrap();
    console.incidents().list(&query).await.unwrap().incidents
}

#[tokio::test]
async fn alerts_of_one_key_join_one_incident_until_a_day_passed_or_it_was_resolved() {
    let (_dir, console, recorder) = console().await;
    let (a, b) = (
        defender(console.db(), "shop", "a").await,
        defender(console.db(), "shop", "b").await,
    );
    let x = || process(40, 1, "/tmp/x", "web");
    recorder
        .store(
            a,
            "shop",
            "i-a",
            vec![alert(1, RuleId::NotFromImage, x())],
            0,
        )
        .await
        .unwrap();
    recorder
        .store(
            b,
            "shop",
            "i-b",
            vec![alert(1, RuleId::NotFromImage, x())],
            0,
        )
        .await
        .unwrap();
    let found = incidents(&console).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let first = &found[0];
    assert_eq!((first.alert_count, first.task_count), (2, 2));
    assert_eq!(
        (
            first.rule.as_str(),
            first.container.as_deref(),
            first.severity.as_str()
        ),
        ("not-from-image", Some("web"), "high"),
        "the catalogue's severity, not the report's"
    );
    assert_eq!(first.state, "open");

    // Acknowledged, it reopens with the next alert: an acknowledged decoy hides nothing.
    let operator = person("olivia", Role::Operator);
    console
        .incidents()
        .acknowledge(&operator, first.id)
        .await
        .unwrap();
    assert_eq!(incidents(&console).await[0].state, "acknowledged");
    recorder
        .store(
            b,
            "shop",
            "i-b",
            vec![alert(2, RuleId::NotFromImage, x())],
            0,
        )
        .await
        .unwrap();
    let reopened = &incidents(&console).await[0];
    assert_eq!((reopened.state.as_str(), reopened.alert_count), ("open", 3));
    assert_eq!(reopened.acknowledged_by.as_deref(), Some("olivia"));

    // A day after its first alert, the next alert opens another.
    sqlx::query("UPDATE incidents SET first_seen = first_seen - 86400001")
        .execute(console.db())
        .await
        .unwrap();
    recorder
        .store(
            a,
            "shop",
            "i-a",
            vec![alert(3, RuleId::NotFromImage, x())],
            0,
        )
        .await
        .unwrap();
    assert_eq!(incidents(&console).await.len(), 2);

    // Resolved: the next alert opens another, the resolved one keeps its count.
    let newest = incidents(&console).await[0].id;
    console
        .incidents()
        .resolve(&operator, newest)
        .await
        .unwrap();
    recorder
        .store(
            a,
            "shop",
            "i-a",
            vec![alert(4, RuleId::NotFromImage, x())],
            0,
        )
        .await
        .unwrap();
    let all = incidents(&console).await;
    assert_eq!(all.len(), 3);
    let resolved = all.iter().find(|incident| incident.id == newest).unwrap();
    assert_eq!(
        (resolved.state.as_str(), resolved.alert_count),
        ("resolved", 1)
    );
    assert_eq!(resolved.resolved_by.as_deref(), Some("olivia"));
}

#[tokio::test]
async fn another_container_or_rule_is_another_incident() {
    let (_dir, console, recorder) = console().await;
    let a = defender(console.db(), "shop", "a").await;
    let mut two_rules = alert(3, RuleId::NotFromImage, process(9, 1, "/tmp/y", "web"));
    if let EventKind::Alert(report) = &mut two_rules.kind {
        report.alerts.push(Alert {
            rule: RuleId::NotInModel,
            severity: Severity::Medium,
            message: "/tmp/y never ran in web".into(),
        });
    }
    let events = vec![
        alert(1, RuleId::NotFromImage, process(7, 1, "/tmp/x", "web")),
        alert(2, RuleId::NotFromImage, process(8, 1, "/tmp/x", "worker")),
        two_rules,
        // A container its task does not have: grouped without one.
        alert(4, RuleId::NotFromImage, process(10, 1, "/tmp/z", "made-up")),
    ];
    recorder.store(a, "shop", "i-a", events, 0).await.unwrap();
    let mut keys: Vec<(String, Option<String>, i64)> = incidents(&console)
        .await
        .into_iter()
        .map(|incident| (incident.rule, incident.container, incident.alert_count))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            ("not-from-image".into(), None, 1),
            ("not-from-image".into(), Some("web".into()), 2),
            ("not-from-image".into(), Some("worker".into()), 1),
            ("not-in-model".into(), Some("web".into()), 1),
        ]
    );
}

#[tokio::test]
async fn a_flood_of_five_thousand_alerts_is_one_incident_that_keeps_a_hundred() {
    let (_dir, db) = crate::testing::database().await;
    let console = Console::with_pool(db);
    // The console's default per-defender bound: the flood is trimmed like any events.
    let recorder = Recorder::start(
        console.db().clone(),
        StorageBounds::keeping(EventsKept {
            count: 2000,
            bytes: 1024 * 1024,
        }),
        DefenderChanges::default(),
    );
    let a = defender(console.db(), "shop", "a").await;
    let started_at = std::time::Instant::now();
    for batch in 0..25u64 {
        let events = (1..=200)
            .map(|n| {
                let seq = batch * 200 + n;
                alert(
                    seq,
                    RuleId::CryptoMiner,
                    process(seq as u32, 1, "/usr/bin/xmrig", "web"),
                )
            })
            .collect();
        recorder.store(a, "shop", "i-a", events, 0).await.unwrap();
    }
    let elapsed = started_at.elapsed();
    let all = incidents(&console).await;
    assert_eq!(all.len(), 1);
    let flood = &all[0];
    assert_eq!(flood.alert_count, 5_000);
    assert_eq!(flood.stored_alerts, ALERTS_KEPT);
    assert_eq!(flood.severity, "critical");
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incident_alerts")
        .fetch_one(console.db())
        .await
        .unwrap();
    assert_eq!(kept, ALERTS_KEPT);
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM defender_events")
        .fetch_one(console.db())
        .await
        .unwrap();
    assert!(events <= 2000, "the event bound holds: {events}");
    let detail = console.incidents().get(flood.id).await.unwrap();
    assert_eq!(detail.alerts.len(), ALERTS_KEPT as usize);
    assert_eq!(detail.tasks.len(), 1);
    assert_eq!(detail.tasks[0].alerts, 5_000);
    eprintln!("5,000 alerts in 25 batches stored and grouped in {elapsed:?}");
}

#[tokio::test]
async fn the_tree_around_an_alert_shows_its_parents_siblings_and_children() {
    let (_dir, console, recorder) = console().await;
    let a = defender(console.db(), "shop", "a").await;
    let root = Event {
        seq: 1,
        at_ms: 1_700_000_000_000,
        kind: EventKind::WorkloadStarted {
            container: Some("web".into()),
            pid: 10,
            argv: vec!["/app/server".into(), "--port".into(), "80".into()],
            tracing: None,
        },
    };
    let events = vec![
        root,
        started(2, process(20, 10, "/bin/sh", "web")),
        started(3, process(21, 20, "/usr/bin/curl", "web")),
        alert(4, RuleId::NotFromImage, process(22, 20, "/tmp/x", "web")),
        started(5, process(23, 22, "/tmp/x-child", "web")),
        // Far from the alert in time: not a sibling.
        Event {
            at_ms: 1_700_000_100_000,
            ..started(6, process(24, 20, "/bin/date", "web"))
        },
    ];
    recorder.store(a, "shop", "i-a", events, 0).await.unwrap();
    let id = incidents(&console).await[0].id;
    let detail = console.incidents().get(id).await.unwrap();
    let (_, tree) = &detail.alerts[0];
    let nodes: Vec<(&str, u32)> = tree
        .nodes
        .iter()
        .map(|node| (node.relation.as_str(), node.pid))
        .collect();
    assert_eq!(
        nodes,
        [
            ("ancestor", 10),
            ("ancestor", 20),
            ("alert", 22),
            ("sibling", 21),
            ("child", 23)
        ]
    );
    assert_eq!(tree.nodes[0].command_line, "/app/server --port 80");
    assert_eq!(tree.note, None);
}

#[tokio::test]
async fn a_defender_gone_silent_raises_an_incident_and_one_that_came_back_does_not() {
    let (_dir, console, _recorder) = console().await;
    let db = console.db();
    let (a, b) = (
        defender(db, "shop", "a").await,
        defender(db, "shop", "b").await,
    );
    let lost = |id: i64, task: &str| Lost {
        defender_id: id,
        connection: format!("c-{task}"),
        instance: format!("i-{task}"),
        family: "shop".into(),
        task_arn: format!("arn:aws:ecs:us-east-1:1:task/prod/{task}"),
        cluster: "prod".into(),
        how: "no message for 30 s".into(),
        at: 0,
    };
    presence::disconnected(db, a, "c-a").await.unwrap();
    console.incidents().defender_lost(lost(a, "a"));
    // b's connection was lost, but it came back on another one.
    presence::disconnected(db, b, "c-b").await.unwrap();
    console.incidents().defender_lost(lost(b, "b"));
    sqlx::query("UPDATE defenders SET connection = 'c-b2', disconnected_at = NULL WHERE id = ?")
        .bind(b)
        .execute(db)
        .await
        .unwrap();
    assert_eq!(console.check_silent(0).await.unwrap(), 1);
    let all = incidents(&console).await;
    assert_eq!(all.len(), 1);
    let silent = &all[0];
    assert_eq!(
        (
            silent.rule.as_str(),
            silent.severity.as_str(),
            silent.task_count
        ),
        (DEFENDER_SILENT, "high", 1)
    );
    assert!(
        silent
            .summary
            .contains("no AWS settings, so ECS was not asked"),
        "{}",
        silent.summary
    );
    assert_eq!(console.check_silent(0).await.unwrap(), 0, "each loss once");
}

#[tokio::test]
async fn incidents_are_forgotten_ninety_days_after_their_last_alert() {
    let (_dir, console, recorder) = console().await;
    let a = defender(console.db(), "shop", "a").await;
    let events = vec![
        alert(1, RuleId::NotFromImage, process(7, 1, "/tmp/x", "web")),
        alert(2, RuleId::NetworkTool, process(8, 1, "/usr/bin/nc", "web")),
    ];
    recorder.store(a, "shop", "i-a", events, 0).await.unwrap();
    sqlx::query("UPDATE incidents SET last_seen = 1 WHERE rule = 'network-tool'")
        .execute(console.db())
        .await
        .unwrap();
    assert_eq!(console.incidents().forget_old().await.unwrap(), 1);
    let left: Vec<String> = incidents(&console)
        .await
        .into_iter()
        .map(|incident| incident.rule)
        .collect();
    assert_eq!(left, ["not-from-image"]);
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incident_alerts")
        .fetch_one(console.db())
        .await
        .unwrap();
    assert_eq!(kept, 1, "its alerts went with it");
}
