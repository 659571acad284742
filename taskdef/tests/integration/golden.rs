//! The vendors' profiles against their golden outputs (`tests/golden/`, built from each vendor's
//! published Fargate example), with the documented shape checked field by field as well, so a
//! re-blessed golden file cannot drift from the recipe unnoticed.

use palisade_taskdef::protect::{DatadogCws, SysdigServerless};
use palisade_taskdef::{
    normalize_text, protect_text, to_pretty, unprotect_text, Profile, ProtectOptions, TokenSource,
};
use serde_json::{json, Value};
use std::path::Path;

fn golden(profile: &str) -> (Value, Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(profile);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let input = read("input.json");
    let options = with_profile(serde_json::from_str(&read("options.json")).unwrap());
    let protected = protect_text(&input, &options).unwrap();
    let output = to_pretty(&protected.output);
    if std::env::var_os("PALISADE_BLESS").is_some() {
        std::fs::write(dir.join("expected.json"), &output).unwrap();
    }
    assert_eq!(
        output,
        read("expected.json"),
        "{profile}: the output differs from tests/golden/{profile}/expected.json"
    );
    // Idempotent, and undone exactly.
    let twice = protect_text(&output, &options).unwrap();
    assert_eq!(twice.output, protected.output, "{profile}: twice");
    let back = unprotect_text(&output).unwrap();
    assert_eq!(
        to_pretty(&back.output),
        to_pretty(&normalize_text(&input).unwrap().document()),
        "{profile}: unprotect"
    );
    assert!(
        protected.warnings.is_empty(),
        "{profile}: {:?}",
        protected.warnings
    );
    (serde_json::from_str(&input).unwrap(), protected.output)
}

/// Options with this profile.
fn with_profile(profile: Profile) -> ProtectOptions {
    ProtectOptions {
        profile,
        ..ProtectOptions::default()
    }
}

fn container<'a>(task: &'a Value, name: &str) -> &'a Value {
    task["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|container| container["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn variable<'a>(container: &'a Value, key: &str, name: &str) -> Option<&'a Value> {
    container[key]
        .as_array()?
        .iter()
        .find(|variable| variable["name"] == name)
}

#[test]
fn datadog_cws_follows_datadogs_fargate_recipe() {
    let (input, output) = golden("datadog-cws");
    assert_eq!(output["pidMode"], "task");
    assert_eq!(
        output["volumes"],
        json!([{"name": "cws-instrumentation-volume"}])
    );
    let init = container(&output, "cws-instrumentation-init");
    assert_eq!(init["essential"], false);
    assert_eq!(init["user"], "0");
    assert!(init["image"]
        .as_str()
        .unwrap()
        .starts_with("public.ecr.aws/datadog/cws-instrumentation"));
    assert_eq!(
        init["command"],
        json!([
            "/cws-instrumentation",
            "setup",
            "--cws-volume-mount",
            "/cws-instrumentation-volume"
        ])
    );
    let agent = container(&output, "datadog-agent");
    assert_eq!(agent["essential"], true);
    assert!(agent["image"]
        .as_str()
        .unwrap()
        .starts_with("public.ecr.aws/datadog/agent"));
    for (name, value) in [
        ("ECS_FARGATE", "true"),
        ("DD_SITE", "datadoghq.eu"),
        ("DD_RUNTIME_SECURITY_CONFIG_ENABLED", "true"),
        ("DD_RUNTIME_SECURITY_CONFIG_EBPFLESS_ENABLED", "true"),
    ] {
        assert_eq!(
            variable(agent, "environment", name).unwrap()["value"],
            value
        );
    }
    assert!(variable(agent, "environment", "DD_API_KEY").is_none());
    assert_eq!(
        variable(agent, "secrets", "DD_API_KEY").unwrap()["valueFrom"],
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:datadog-api-key"
    );
    assert_eq!(
        agent["healthCheck"],
        json!({"command": ["CMD-SHELL", "/probe.sh"], "interval": 30, "timeout": 5, "retries": 2, "startPeriod": 60})
    );
    let app = container(&output, "cws-demo-app");
    assert_eq!(
        app["entryPoint"],
        json!([
            "/cws-instrumentation-volume/cws-instrumentation",
            "trace",
            "--",
            "/docker-entrypoint.sh"
        ])
    );
    assert_eq!(app["command"], input["containerDefinitions"][0]["command"]);
    assert_eq!(
        app["environment"],
        input["containerDefinitions"][0]["environment"]
    );
    assert_eq!(
        app["mountPoints"],
        json!([{"sourceVolume": "cws-instrumentation-volume", "containerPath": "/cws-instrumentation-volume", "readOnly": true}])
    );
    assert_eq!(
        app["linuxParameters"]["capabilities"]["add"],
        json!(["SYS_PTRACE"])
    );
    assert_eq!(
        app["dependsOn"],
        json!([{"containerName": "datadog-agent", "condition": "HEALTHY"}, {"containerName": "cws-instrumentation-init", "condition": "SUCCESS"}])
    );
}

#[test]
fn sysdig_serverless_follows_sysdigs_manual_instrumentation_and_fixes_its_tool() {
    let (input, output) = golden("sysdig-serverless");
    assert!(
        output.get("pidMode").is_none(),
        "the instrumentation runs inside each workload"
    );
    let sidecar = container(&output, "sysdig-instrumentation");
    assert_eq!(sidecar["essential"], false);
    assert_eq!(sidecar["entryPoint"], json!(["/opt/draios/bin/logwriter"]));
    assert!(sidecar["image"]
        .as_str()
        .unwrap()
        .starts_with("quay.io/sysdig/workload-agent"));
    assert!(
        sidecar.get("environment").is_none() && sidecar.get("secrets").is_none(),
        "nothing of the app's environment is copied into the sidecar"
    );
    let app = container(&output, "busybox");
    let original = &input["containerDefinitions"][0];
    assert_eq!(app["entryPoint"], json!(["/opt/draios/bin/instrument"]));
    assert_eq!(
        app["command"],
        json!(["/bin/sh", "-c", "while true; do echo hello; sleep 5; done"])
    );
    assert_eq!(
        app["volumesFrom"],
        json!([{"sourceContainer": "sysdig-instrumentation", "readOnly": true}])
    );
    assert_eq!(
        app["linuxParameters"]["capabilities"]["add"],
        json!(["SYS_PTRACE"])
    );
    // The user's variables first, in their order; then Sysdig's.
    let names: Vec<&str> = app["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|variable| variable["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ZONE",
            "APP_MODE",
            "SYSDIG_COLLECTOR",
            "SYSDIG_COLLECTOR_PORT",
            "SYSDIG_SIDECAR",
            "SYSDIG_PRIORITY"
        ]
    );
    assert_eq!(
        variable(app, "environment", "SYSDIG_COLLECTOR").unwrap()["value"],
        "orchestrator.sysdig.internal"
    );
    assert_eq!(
        variable(app, "environment", "SYSDIG_COLLECTOR_PORT").unwrap()["value"],
        "6667"
    );
    assert_eq!(
        variable(app, "environment", "SYSDIG_PRIORITY").unwrap()["value"],
        "security"
    );
    assert_eq!(app["secrets"][0], original["secrets"][0]);
    assert_eq!(
        variable(app, "secrets", "SYSDIG_ACCESS_KEY").unwrap()["valueFrom"],
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:sysdig-access-key"
    );
    // camelCase throughout (Sysdig's data source emits PascalCase).
    let text = to_pretty(&output);
    for pascal in [
        "\"ContainerDefinitions\"",
        "\"EntryPoint\"",
        "\"VolumesFrom\"",
    ] {
        assert!(!text.contains(pascal), "{pascal}");
    }
}

#[test]
fn a_plain_vendor_key_is_written_only_with_a_warning_and_a_bad_collector_is_named() {
    let input = r#"{"family": "f", "containerDefinitions": [{"name": "a", "image": "x", "entryPoint": ["/a"], "memory": 64}]}"#;
    let datadog = |api_key| {
        with_profile(Profile::DatadogCws(DatadogCws {
            api_key,
            ..DatadogCws::default()
        }))
    };
    let options = datadog(Some(TokenSource::Plain("0123456789abcdef".into())));
    assert!(!format!("{options:?}").contains("0123456789abcdef"));
    let protected = protect_text(input, &options).unwrap();
    assert!(protected.warnings.iter().any(|warning| warning
        .message
        .contains("DD_API_KEY is in plain `environment`")));
    // Without a key: a warning, not a silent agent.
    assert!(protect_text(input, &datadog(None))
        .unwrap()
        .warnings
        .iter()
        .any(|warning| warning.message.contains("no DD_API_KEY")));
    // A collector that is not HOST:PORT.
    let sysdig = with_profile(Profile::SysdigServerless(SysdigServerless {
        collector: "no-port".into(),
        ..SysdigServerless::default()
    }));
    let rejected = protect_text(input, &sysdig).unwrap_err();
    assert!(
        rejected.problems[0].message.contains("is not HOST:PORT"),
        "{rejected}"
    );
    assert!(rejected.problems[0].hint.is_some());
}

#[test]
fn a_container_named_like_a_vendors_sidecar_is_refused_not_replaced() {
    let input = r#"{"family": "f", "containerDefinitions": [{"name": "a", "image": "x", "entryPoint": ["/a"], "memory": 64}, {"name": "datadog-agent", "image": "public.ecr.aws/datadog/agent:7", "memory": 256}]}"#;
    let options = ProtectOptions {
        exclude: vec!["datadog-agent".into()],
        ..with_profile(Profile::DatadogCws(DatadogCws::default()))
    };
    let rejected = protect_text(input, &options).unwrap_err();
    assert!(rejected.problems[0]
        .message
        .contains("already named `datadog-agent`"));
}
