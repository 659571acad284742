//! Learning, the model put in force, and a person's edits of a family's policy and model.

use super::*;
use crate::error::Error;
use palisade_policy::{ListeningPort, Mode, Protocol};
use palisade_types::runtime::{ListEntryView, NormalChange, PolicyChange};

/// Ends `family`'s learning window now, in memory and in its row.
async fn end_window(console: &Console, family: &str) {
    console.runtime.with_learner(family, |learner| {
        if let Some(learner) = learner {
            learner.ends_at = 0;
        }
    });
    sqlx::query("UPDATE family_models SET learning_ends_at = 1 WHERE family = ?")
        .bind(family)
        .execute(console.db())
        .await
        .unwrap();
}

fn port(seq: u64, number: u16) -> Event {
    Event {
        seq,
        at_ms: 1_700_000_000_000,
        kind: EventKind::PortListening(ListeningPort {
            protocol: Protocol::Tcp6,
            port: number,
            container: Some("web".into()),
        }),
    }
}

#[tokio::test]
async fn a_family_learns_from_stored_events_and_its_model_goes_out_when_the_window_ends() {
    let (_dir, console, recorder) = console().await;
    let a = defender(console.db(), "shop", "a").await;
    let b = defender(console.db(), "shop", "b").await;
    let mut sent = console.policies().connect("shop").await.unwrap();
    let first = sent.borrow_and_update().clone();
    assert_eq!(first.update.revision, 1);
    assert_eq!(first.update.policy.model, None, "learning: no model");
    assert_eq!(first.update.policy.mode, Mode::Alert);
    let (_, model) = console.policies().get("shop").await.unwrap();
    let window = model.learning_ends_at.unwrap() - model.learning_started_at.unwrap();
    assert_eq!(window, 3_600_000, "an hour from the first defender");

    let events = vec![
        started(1, process(10, 1, "/usr/sbin/nginx", "web")),
        started(2, process(11, 10, "/bin/sh", "web")),
        port(3, 80),
    ];
    recorder
        .store(a, "shop", "i-a", events.clone(), 0)
        .await
        .unwrap();
    // Sent again (its ack was lost): learned once.
    recorder.store(a, "shop", "i-a", events, 0).await.unwrap();
    let other = vec![started(1, process(12, 1, "/usr/sbin/nginx", "web"))];
    recorder.store(b, "shop", "i-b", other, 0).await.unwrap();

    end_window(&console, "shop").await;
    assert_eq!(console.policies().activate_due().await.unwrap(), 1);
    assert!(
        sent.has_changed().unwrap(),
        "connected defenders are sent it"
    );
    let active = sent.borrow_and_update().clone();
    assert_eq!(active.update.revision, 2);
    let model = active.update.policy.model.clone().unwrap();
    let web = model.container("web").unwrap();
    assert_eq!(web.executable("/usr/sbin/nginx").unwrap().count, 2);
    assert_eq!(
        web.executable("/bin/sh").unwrap().parents,
        ["/usr/sbin/nginx"]
    );
    assert!(model.contains_port("web", Protocol::Tcp, 80));
    assert!(active.text.starts_with(r#"{"type":"policy","revision":2,"#));
    let (_, stored) = console.policies().get("shop").await.unwrap();
    assert_eq!(
        (stored.task_count, stored.activated_at.is_some()),
        (2, true)
    );

    // Nothing is learned once in force, and a new revision of the family keeps the model.
    let later = vec![started(4, process(13, 1, "/usr/bin/new", "web"))];
    recorder.store(a, "shop", "i-a", later, 0).await.unwrap();
    let update = console.policies().policy_for("shop").await.unwrap();
    let model = update.policy.model.unwrap();
    assert!(!model.contains_exec("web", "/usr/bin/new"));
    assert_eq!(console.policies().activate_due().await.unwrap(), 0);
}

#[tokio::test]
async fn learning_saved_every_minute_survives_a_restart() {
    let (_dir, console, recorder) = console().await;
    let a = defender(console.db(), "shop", "a").await;
    console.policies().connect("shop").await.unwrap();
    let events = vec![started(1, process(10, 1, "/app/server", "web"))];
    recorder.store(a, "shop", "i-a", events, 0).await.unwrap();
    assert_eq!(console.policies().save_learning().await.unwrap(), 1);
    assert_eq!(
        console.policies().save_learning().await.unwrap(),
        0,
        "saved"
    );
    let restarted = Console::with_pool(console.db().clone());
    let (_, model) = restarted.policies().get("shop").await.unwrap();
    assert!(model.model.contains_exec("web", "/app/server"));
    assert_eq!(model.state().as_str(), "learning");
}

#[tokio::test]
async fn relearn_extend_and_this_is_normal_each_send_a_new_revision_and_are_audited() {
    let (_dir, console, recorder) = console().await;
    let a = defender(console.db(), "shop", "a").await;
    let mut sent = console.policies().connect("shop").await.unwrap();
    sent.borrow_and_update();
    let operator = person("olivia", Role::Operator);
    recorder
        .store(
            a,
            "shop",
            "i-a",
            vec![started(1, process(10, 1, "/app/server", "web"))],
            0,
        )
        .await
        .unwrap();
    end_window(&console, "shop").await;
    console.policies().activate_due().await.unwrap();

    // "This is normal" from an incident's alert.
    let x = process(40, 10, "/usr/bin/curl", "web");
    recorder
        .store(a, "shop", "i-a", vec![alert(2, RuleId::NotInModel, x)], 0)
        .await
        .unwrap();
    let query = crate::runtime::incidents::IncidentQuery::parse("", "", "", "", 1, 50).unwrap();
    let incident = console.incidents().list(&query).await.unwrap().incidents[0].id;
    let alert_id = console.incidents().get(incident).await.unwrap().alerts[0]
        .0
        .id;
    let from_alert = NormalChange {
        incident_id: Some(incident),
        alert_id: Some(alert_id),
        ..NormalChange::default()
    };
    let (model, what) = console
        .policies()
        .mark_normal(&operator, "shop", &from_alert)
        .await
        .unwrap();
    assert_eq!(what, "/usr/bin/curl in web");
    assert_eq!(
        model
            .model
            .container("web")
            .unwrap()
            .executable("/usr/bin/curl")
            .unwrap()
            .count,
        0
    );
    let sent_model = sent.borrow_and_update().update.clone();
    assert_eq!(sent_model.revision, 3);
    assert!(sent_model
        .policy
        .model
        .unwrap()
        .contains_exec("web", "/usr/bin/curl"));
    // An incident of another family is refused.
    let wrong = console
        .policies()
        .mark_normal(&operator, "other", &from_alert)
        .await;
    assert!(
        matches!(wrong, Err(Error::Invalid { .. }) | Err(Error::NotFound(_))),
        "{wrong:?}"
    );

    // Extend: learning again (no model sent) into the same model, until a new end.
    let extended = console
        .policies()
        .extend(&operator, "shop", 30)
        .await
        .unwrap();
    assert!(extended.model.contains_exec("web", "/usr/bin/curl"));
    let during = sent.borrow_and_update().update.clone();
    assert_eq!((during.revision, during.policy.model), (4, None));

    // Relearn: an empty model, learning from now.
    let relearned = console.policies().relearn(&operator, "shop").await.unwrap();
    assert!(relearned.model.containers.is_empty());
    assert_eq!(sent.borrow_and_update().update.revision, 5);

    let actions: Vec<String> = audited(&console)
        .await
        .into_iter()
        .map(|(action, ..)| action)
        .collect();
    assert_eq!(actions[..3], ["model-relearn", "model-extend", "model-add"]);
}

#[tokio::test]
async fn policy_edits_are_checked_by_pointer_and_a_mode_change_needs_an_admin() {
    let (_dir, console, _recorder) = console().await;
    tokens::create(console.db(), "shop", "").await.unwrap();
    let operator = person("olivia", Role::Operator);
    let admin = person("ada", Role::Admin);

    let relative = PolicyChange {
        deny: Some(vec![ListEntryView {
            executable: "xmrig".into(),
            container: None,
        }]),
        ..PolicyChange::default()
    };
    let Err(Error::Invalid { problems, .. }) = console
        .policies()
        .update(&operator, "shop", &relative)
        .await
    else {
        panic!("a relative deny entry is refused")
    };
    assert_eq!(problems[0].pointer.as_deref(), Some("/deny/0/executable"));
    assert!(problems[0].hint.is_some());
    let unknown_rule = PolicyChange {
        disabled_rules: Some(vec!["network-tool".into(), "dns-tunnel".into()]),
        ..PolicyChange::default()
    };
    let Err(Error::Invalid { problems, .. }) = console
        .policies()
        .update(&operator, "shop", &unknown_rule)
        .await
    else {
        panic!("an unknown rule is refused")
    };
    assert_eq!(problems[0].pointer.as_deref(), Some("/disabled_rules/1"));

    let prevent = PolicyChange {
        mode: Some("prevent".into()),
        ..PolicyChange::default()
    };
    let refused = console.policies().update(&operator, "shop", &prevent).await;
    assert!(
        matches!(&refused, Err(Error::Forbidden(message)) if message.contains("admin")),
        "{refused:?}"
    );
    // The same mode again is no change: an operator may send it with the rest.
    let same = PolicyChange {
        mode: Some("alert".into()),
        disabled_rules: Some(vec!["network-tool".into()]),
        learning_minutes: Some(90),
        ..PolicyChange::default()
    };
    let saved = console
        .policies()
        .update(&operator, "shop", &same)
        .await
        .unwrap();
    assert_eq!(saved.revision, 2);
    assert_eq!(saved.learning_window_ms, 90 * 60_000);
    let saved = console
        .policies()
        .update(&admin, "shop", &prevent)
        .await
        .unwrap();
    assert_eq!((saved.settings.mode, saved.revision), (Mode::Prevent, 3));

    // A family without a token has nothing to edit.
    let missing = console.policies().update(&admin, "nobody", &prevent).await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");

    let entries = audited(&console).await;
    let updates: Vec<&(String, String, String)> = entries
        .iter()
        .filter(|(action, ..)| action == "policy-update")
        .collect();
    assert_eq!(updates.len(), 6, "{entries:?}");
    assert_eq!(updates[1].1, "shop (mode prevent, revision 3)");
    assert!(updates[3].2.contains("admin"), "{:?}", updates[3]);
}

#[tokio::test]
async fn learning_starts_with_the_first_defender_also_after_a_person_set_the_policy() {
    let (_dir, console, recorder) = console().await;
    let a = defender(console.db(), "shop", "a").await;
    let operator = person("olivia", Role::Operator);
    let window = PolicyChange {
        learning_minutes: Some(5),
        ..PolicyChange::default()
    };
    console
        .policies()
        .update(&operator, "shop", &window)
        .await
        .unwrap();
    let (_, model) = console.policies().get("shop").await.unwrap();
    assert_eq!(model.state().as_str(), "waiting");
    console.policies().connect("shop").await.unwrap();
    let (_, model) = console.policies().get("shop").await.unwrap();
    assert_eq!(model.state().as_str(), "learning");
    let window = model.learning_ends_at.unwrap() - model.learning_started_at.unwrap();
    assert_eq!(window, 5 * 60_000);
    let events = vec![started(1, process(10, 1, "/app/server", "web"))];
    recorder.store(a, "shop", "i-a", events, 0).await.unwrap();
    let (_, model) = console.policies().get("shop").await.unwrap();
    assert!(model.model.contains_exec("web", "/app/server"));
}
