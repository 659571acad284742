//! Policies exactly at each bound pass [`Policy::check`]; one byte or one entry more fails, named
//! by its JSON pointer. The constants are public so the console's tests can do the same.

use std::time::{Duration, Instant};

use palisade_policy::{
    judge, ContainerModel, ExecFacts, ExecRecord, ListEntry, Mode, Model, Policy, PolicyProblem,
    PortEntry, PortRecord, Protocol, RuleId, MAX_ALLOWED_PORTS, MAX_DISABLED_RULES,
    MAX_LIST_ENTRIES, MAX_MODEL_CONTAINERS, MAX_MODEL_EXECUTABLES, MAX_MODEL_PORTS,
    MAX_PATTERN_CHARS, MAX_POLICY_BYTES,
};

fn size(policy: &Policy) -> usize {
    serde_json::to_vec(policy).unwrap().len()
}

fn record(path: String) -> ExecRecord {
    ExecRecord {
        executable: path,
        parents: vec!["/bin/sh".into()],
        uids: vec![0],
        count: 1,
        first_seen_ms: 1,
        last_seen_ms: 2,
    }
}

fn web(policy: &mut Policy) -> &mut ContainerModel {
    policy
        .model
        .get_or_insert_with(Model::default)
        .containers
        .entry("web".into())
        .or_default()
}

fn pointers(result: Result<(), Vec<PolicyProblem>>) -> Vec<String> {
    result
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|problem| problem.pointer)
        .collect()
}

/// A policy of exactly [`MAX_POLICY_BYTES`]: a model filled with long paths of one length, then
/// one more whose length makes up the difference.
fn policy_at_the_size_limit() -> Policy {
    let path = |n: usize| format!("/opt/{n:04}/{}", "a".repeat(490));
    let mut policy = Policy::default();
    web(&mut policy).executables.push(record(path(0)));
    let one = size(&policy);
    web(&mut policy).executables.push(record(path(1)));
    let each = size(&policy) - one;
    let count = (MAX_POLICY_BYTES - 500 - one) / each + 1;
    web(&mut policy).executables = (0..count).map(|n| record(path(n))).collect();
    web(&mut policy).executables.push(record("/x".into()));
    let missing = MAX_POLICY_BYTES - size(&policy);
    web(&mut policy).executables.last_mut().unwrap().executable =
        format!("/x{}", "x".repeat(missing));
    policy
}

#[test]
fn a_policy_exactly_at_the_size_limit_passes_and_one_byte_more_fails() {
    let mut policy = policy_at_the_size_limit();
    assert_eq!(size(&policy), MAX_POLICY_BYTES);
    assert_eq!(policy.check(), Ok(()));
    web(&mut policy)
        .executables
        .last_mut()
        .unwrap()
        .executable
        .push('x');
    let problems = policy.check().unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].pointer, "", "the whole policy");
    assert_eq!(
        problems[0].message,
        format!(
            "the policy is {} bytes as JSON; at most {MAX_POLICY_BYTES}",
            MAX_POLICY_BYTES + 1
        )
    );
}

#[test]
fn every_list_at_its_bound_passes_and_one_entry_more_is_named() {
    let mut policy = Policy {
        allow: (0..MAX_LIST_ENTRIES)
            .map(|n| ListEntry::new(format!("/a/{n}")))
            .collect(),
        deny: (0..MAX_LIST_ENTRIES)
            .map(|n| ListEntry::in_container(format!("/d/{n}/*"), "web"))
            .collect(),
        allowed_ports: (1..=MAX_ALLOWED_PORTS as u16)
            .map(|port| PortEntry {
                port,
                protocol: None,
                container: None,
            })
            .collect(),
        disabled_rules: vec![RuleId::NetworkTool; MAX_DISABLED_RULES],
        ..Policy::default()
    };
    let model = web(&mut policy);
    model.executables = (0..MAX_MODEL_EXECUTABLES)
        .map(|n| record(format!("/e/{n}")))
        .collect();
    model.ports = (1..=MAX_MODEL_PORTS as u16)
        .map(|port| PortRecord {
            protocol: Protocol::Tcp,
            port,
            count: 1,
            first_seen_ms: 1,
            last_seen_ms: 1,
        })
        .collect();
    let containers = &mut policy.model.as_mut().unwrap().containers;
    for n in 1..MAX_MODEL_CONTAINERS {
        containers.insert(format!("c{n}"), ContainerModel::default());
    }
    assert_eq!(policy.check(), Ok(()));

    policy.allow.push(ListEntry::new("/one/more"));
    policy.deny.push(ListEntry::new("/one/more"));
    policy.allowed_ports.push(PortEntry {
        port: 9999,
        protocol: None,
        container: None,
    });
    policy.disabled_rules.push(RuleId::NetworkTool);
    let model = web(&mut policy);
    model.executables.push(record("/one/more".into()));
    model.ports.push(PortRecord {
        protocol: Protocol::Udp,
        port: 53,
        count: 1,
        first_seen_ms: 1,
        last_seen_ms: 1,
    });
    policy
        .model
        .as_mut()
        .unwrap()
        .containers
        .insert("one-more".into(), ContainerModel::default());
    assert_eq!(
        pointers(policy.check()),
        [
            format!("/disabled_rules/{MAX_DISABLED_RULES}"),
            format!("/allow/{MAX_LIST_ENTRIES}"),
            format!("/deny/{MAX_LIST_ENTRIES}"),
            format!("/allowed_ports/{MAX_ALLOWED_PORTS}"),
            "/model/containers".to_owned(),
            format!("/model/containers/web/executables/{MAX_MODEL_EXECUTABLES}"),
            format!("/model/containers/web/ports/{MAX_MODEL_PORTS}"),
        ]
    );
}

#[test]
fn a_pattern_at_its_length_bound_passes_and_one_character_more_is_named() {
    let at_bound = format!("/{}", "p".repeat(MAX_PATTERN_CHARS - 1));
    let mut policy = Policy {
        deny: vec![ListEntry::new(at_bound.clone())],
        ..Policy::default()
    };
    assert_eq!(policy.check(), Ok(()));
    policy.deny[0] = ListEntry::new(at_bound + "p");
    let problems = policy.check().unwrap_err();
    assert_eq!(problems[0].pointer, "/deny/0/executable");
    assert!(
        problems[0].message.contains("longer than 256"),
        "{}",
        problems[0].message
    );
}

#[test]
fn a_model_learned_from_endless_processes_stays_within_its_bounds() {
    let mut model = Model::default();
    for n in 0..(MAX_MODEL_EXECUTABLES + 500) {
        let facts = ExecFacts {
            container: Some("web".into()),
            executable: format!("/usr/bin/tool-{n}"),
            parent_executable: Some(format!("/usr/bin/parent-{n}")),
            ..ExecFacts::default()
        };
        model.learn_exec(&facts, n as i64);
    }
    let web = model.container("web").unwrap();
    assert_eq!(
        (web.executables.len(), web.overflow),
        (MAX_MODEL_EXECUTABLES, 500)
    );
    let policy = Policy {
        model: Some(model),
        ..Policy::default()
    };
    assert_eq!(policy.check(), Ok(()));
}

#[test]
fn judging_against_every_list_at_its_worst_stays_fast() {
    // Globs that make a naive matcher backtrack, at the length bound, in both full lists.
    let hostile = format!("/{}b", "*a".repeat((MAX_PATTERN_CHARS - 2) / 2));
    let entries: Vec<ListEntry> = (0..MAX_LIST_ENTRIES)
        .map(|_| ListEntry::new(hostile.clone()))
        .collect();
    let policy = Policy {
        mode: Mode::Prevent,
        allow: entries.clone(),
        deny: entries,
        ..Policy::default()
    };
    assert_eq!(policy.check(), Ok(()));
    let facts = ExecFacts {
        container: Some("web".into()),
        executable: format!("/{}", "a".repeat(1023)),
        argv: vec!["a".repeat(4096)],
        ..ExecFacts::default()
    };
    let started = Instant::now();
    let verdict = judge(&policy, &facts);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(verdict.alerts.is_empty());
}
