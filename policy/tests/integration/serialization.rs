//! The JSON both ends exchange: round trips, what an older or newer peer reads, and every JSON
//! example of docs/runtime-defense.md parsed as the type it shows.

use palisade_policy::{
    rules, Action, Alert, ExecFacts, ListEntry, ListeningPort, Mode, Model, Policy, PortEntry,
    Protocol, RuleId, Severity, Verdict,
};
use serde_json::{json, Value};

const DOCS: &str = include_str!("../../../docs/runtime-defense.md");

fn full_policy() -> Policy {
    let mut model = Model::default();
    let facts = ExecFacts {
        container: Some("web".into()),
        uid: 101,
        executable: "/usr/sbin/nginx".into(),
        argv: vec!["nginx".into()],
        parent_executable: Some("/palisade/palisade-defender".into()),
        ..ExecFacts::default()
    };
    model.learn_exec(&facts, 1_700_000_000_000);
    model.add_port("web", Protocol::Tcp6, 80, 1_700_000_000_000);
    Policy {
        mode: Mode::Prevent,
        disabled_rules: vec![RuleId::NetworkTool],
        model: Some(model),
        allow: vec![ListEntry::in_container("/usr/bin/curl", "web")],
        deny: vec![ListEntry::new("/**/xmrig")],
        allowed_ports: vec![PortEntry {
            port: 9090,
            protocol: Some(Protocol::Tcp),
            container: None,
        }],
        ..Policy::default()
    }
}

#[test]
fn a_policy_round_trips_through_json() {
    let policy = full_policy();
    let text = serde_json::to_string(&policy).unwrap();
    assert_eq!(serde_json::from_str::<Policy>(&text).unwrap(), policy);
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value["model"]["containers"]["web"]["ports"][0]["protocol"],
        "tcp"
    );
    assert_eq!(value["deny"], json!([{"executable": "/**/xmrig"}]));
}

#[test]
fn an_older_reader_ignores_what_it_does_not_know() {
    let newer = json!({
        "version": 1,
        "mode": "sandbox",
        "disabled_rules": ["network-tool", "dns-tunnel"],
        "allow": [{"executable": "/usr/bin/curl", "reason": "health checks"}],
        "file_rules": [{"path": "/etc/shadow"}],
        "model": {"containers": {"web": {"executables": [{"executable": "/bin/sh", "hash": "x"}]}}, "learned_at": 5}
    });
    let policy: Policy = serde_json::from_value(newer).unwrap();
    assert_eq!(policy.mode, Mode::Alert);
    assert_eq!(
        policy.disabled_rules,
        [RuleId::NetworkTool, RuleId::Unknown]
    );
    assert_eq!(policy.allow, [ListEntry::new("/usr/bin/curl")]);
    assert!(policy.model.unwrap().contains_exec("web", "/bin/sh"));
}

#[test]
fn a_verdict_round_trips_and_spells_its_rule_and_severity() {
    let verdict = Verdict {
        alerts: vec![Alert {
            rule: RuleId::CryptoMiner,
            severity: Severity::Critical,
            message: "crypto miner xmrig started".into(),
        }],
        action: Action::Kill,
    };
    let value = serde_json::to_value(&verdict).unwrap();
    assert_eq!(
        value,
        json!({"alerts": [{"rule": "crypto-miner", "severity": "critical", "message": "crypto miner xmrig started"}], "action": "kill"})
    );
    assert_eq!(serde_json::from_value::<Verdict>(value).unwrap(), verdict);
}

#[test]
fn the_rules_catalogue_serializes_for_the_ui() {
    let value = serde_json::to_value(rules()).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 7);
    assert_eq!(value[0]["id"], "crypto-miner");
    assert_eq!(value[0]["severity"], "critical");
    assert_eq!(value[5]["can_disable"], false);
}

/// The fenced JSON blocks of the docs page.
fn docs_examples() -> Vec<Value> {
    DOCS.split("```json")
        .skip(1)
        .map(|block| serde_json::from_str(block.split("```").next().unwrap()).unwrap())
        .collect()
}

#[test]
fn every_json_example_in_the_docs_is_what_the_crate_reads() {
    let examples = docs_examples();
    assert!(examples.len() >= 4, "{} examples", examples.len());
    for example in examples {
        if example.get("version").is_some() {
            let policy: Policy = serde_json::from_value(example.clone()).unwrap();
            assert_eq!(policy.check(), Ok(()));
            assert_eq!(
                serde_json::to_value(&policy).unwrap(),
                example,
                "written as the crate writes it"
            );
        } else if example.get("alerts").is_some() {
            serde_json::from_value::<Verdict>(example).unwrap();
        } else if example.get("port").is_some() {
            serde_json::from_value::<ListeningPort>(example).unwrap();
        } else {
            let facts: ExecFacts = serde_json::from_value(example.clone()).unwrap();
            assert_eq!(
                serde_json::to_value(&facts).unwrap(),
                example,
                "every field shown"
            );
        }
    }
}
