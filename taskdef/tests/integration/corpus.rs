//! Every real task definition in `../shared/corpus/` either protects into a valid result or is
//! refused for the right reason, with its place named. Never a panic.

use palisade_taskdef::protect::{protect_normalized, DatadogCws, Profile, SysdigServerless};
use palisade_taskdef::validate::validate;
use palisade_taskdef::{
    normalize_text, protect_text, to_pretty, unprotect_text, ImageArgv, ProblemKind,
    ProtectOptions, TokenSource,
};
use palisade_test_support::corpus::corpus;

fn options() -> ProtectOptions {
    ProtectOptions {
        console_url: Some("https://console.example".into()),
        token: Some(TokenSource::Secret(
            "arn:aws:ssm:eu-west-1:123456789012:parameter/palisade".into(),
        )),
        ..ProtectOptions::default()
    }
}

/// What each corpus file should give without any image entrypoint: `None` protects; otherwise
/// the kind of the first problem.
fn expected_without_entrypoints(file: &str) -> Option<ProblemKind> {
    use ProblemKind::*;
    let number: u32 = file[..2].parse().unwrap();
    match number {
        // Broken JSON: missing comma, jq $VARS, mustache, Terraform ${}, extra brace, trailing comma, bare word.
        1 | 7 | 10 | 38 | 44 | 46 | 47 => Some(Syntax),
        45 => Some(DuplicateKey),
        // networkMode "default" (legacy console value), inferenceDevices (not in the model),
        // containerPort as a string, empty images left for a render step.
        9 | 11 | 35 | 26 => Some(Schema),
        12 | 30 | 48 => Some(Windows),
        // startTimeout 600 on Fargate.
        23 => Some(Platform),
        // Every workload container has an entryPoint.
        22 | 24 | 31 | 32 => None,
        _ => Some(MissingEntrypoint),
    }
}

#[test]
fn every_corpus_file_protects_or_is_refused_for_the_right_reason() {
    for (file, text) in corpus() {
        let result = protect_text(&text, &options());
        match (expected_without_entrypoints(&file), result) {
            (None, Ok(protected)) => {
                assert!(protected.summary.added_container.is_some(), "{file}");
            }
            (Some(kind), Err(rejected)) => {
                assert_eq!(rejected.problems[0].kind, kind, "{file}: {rejected}");
                for problem in &rejected.problems {
                    assert!(
                        problem.line.is_some() || problem.pointer.is_some(),
                        "{file}: {problem} names no place"
                    );
                    assert!(
                        problem.hint.is_some(),
                        "{file}: {problem} says not how to fix it"
                    );
                }
                if kind == ProblemKind::MissingEntrypoint {
                    assert!(
                        rejected
                            .problems
                            .iter()
                            .all(|p| p.message.contains("has no entryPoint")),
                        "{file}"
                    );
                }
            }
            (expected, got) => panic!("{file}: expected {expected:?}, got {got:?}"),
        }
    }
}

/// Gives every container an image argv, as a user (or registry resolution) would.
fn with_all_entrypoints(text: &str) -> Option<ProtectOptions> {
    let normalized = normalize_text(text).ok()?;
    let mut options = options();
    for container in normalized.task.get("containerDefinitions")?.as_array()? {
        let name = container.get("name")?.as_str()?.to_owned();
        options.image_argv.insert(
            name,
            ImageArgv {
                entry_point: vec!["/entrypoint.sh".into()],
                command: Some(vec!["serve".into()]),
            },
        );
    }
    Some(options)
}

/// Every profile, with its key as a secret.
pub(crate) fn profiles() -> Vec<Profile> {
    vec![
        Profile::Palisade,
        Profile::DatadogCws(DatadogCws {
            api_key: Some(TokenSource::Secret(
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dd".into(),
            )),
            ..DatadogCws::default()
        }),
        Profile::SysdigServerless(SysdigServerless {
            access_key: Some(TokenSource::Secret(
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sysdig".into(),
            )),
            collector: "orchestrator.internal:6667".into(),
            ..SysdigServerless::default()
        }),
    ]
}

#[test]
fn with_entrypoints_given_every_structurally_valid_file_protects_validates_and_round_trips() {
    for profile in profiles() {
        let protected_count = round_trip_corpus(&profile);
        // 35 (the bundled defender protects all of them); a vendor's refuses the few its extra
        // container puts past ECS's limit, or that vendor's tooling instrumented already.
        let least = if profile == Profile::Palisade { 35 } else { 34 };
        assert!(
            protected_count >= least,
            "{}: only {protected_count} corpus files protected",
            profile.name()
        );
    }
}

/// Protects every file that can be protected with `profile`; answers how many were.
fn round_trip_corpus(profile: &Profile) -> usize {
    let name = profile.name();
    let mut protected_count = 0;
    for (file, text) in corpus() {
        let expected = expected_without_entrypoints(&file);
        if !matches!(expected, None | Some(ProblemKind::MissingEntrypoint)) {
            continue;
        }
        let mut options = with_all_entrypoints(&text).unwrap();
        options.profile = profile.clone();
        let protected = match protect_text(&text, &options) {
            Ok(protected) => protected,
            // Two added containers can pass ECS's 10 per task where one did not.
            Err(rejected)
                if rejected.has(ProblemKind::Limit) && name.added_containers().len() > 1 =>
            {
                continue
            }
            // A task Sysdig's own tooling instrumented already sets its variables: refused with
            // each place named, never set twice.
            Err(rejected)
                if text.contains("SYSDIG_ACCESS_KEY")
                    && rejected.problems.iter().all(|problem| {
                        problem.message.contains("already sets SYSDIG_") && problem.line.is_some()
                    }) =>
            {
                continue
            }
            Err(rejected) => panic!("{file} ({name}): {rejected}"),
        };
        protected_count += 1;
        let file = format!("{file} ({name})");

        // The result is valid RegisterTaskDefinition input (or container list).
        let again = normalize_text(&to_pretty(&protected.output)).unwrap();
        assert_eq!(validate(again.form, &again.task), vec![], "{file}");
        let containers = again.task["containerDefinitions"].as_array().unwrap();
        for added in name.added_containers() {
            assert_eq!(
                containers.iter().filter(|c| c["name"] == *added).count(),
                1,
                "{file}: {added}"
            );
        }

        // Idempotent, and unprotect is the exact inverse.
        let twice = protect_normalized(&again, &options).unwrap();
        assert_eq!(
            twice.output, protected.output,
            "{file}: protecting twice changed it"
        );
        let back = unprotect_text(&to_pretty(&protected.output)).unwrap();
        assert_eq!(
            to_pretty(&back.output),
            to_pretty(&protected.normalized),
            "{file}: unprotect is not the inverse"
        );
    }
    protected_count
}

#[test]
fn read_only_keys_are_stripped_and_new_keys_survive_in_the_exports() {
    for (file, text) in corpus() {
        let Ok(normalized) = normalize_text(&text) else {
            continue;
        };
        for key in [
            "taskDefinitionArn",
            "revision",
            "status",
            "requiresAttributes",
            "compatibilities",
            "registeredAt",
            "registeredBy",
        ] {
            assert!(!normalized.task.contains_key(key), "{file} keeps {key}");
        }
        let original: serde_json::Value = match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(_) => continue,
        };
        let original = original.get("taskDefinition").unwrap_or(&original);
        for key in [
            "runtimePlatform",
            "ephemeralStorage",
            "enableFaultInjection",
            "trustedExecutionConfiguration",
        ] {
            if original.get(key).is_some_and(|value| !value.is_null()) {
                assert!(normalized.task.contains_key(key), "{file} lost {key}");
            }
        }
    }
}
