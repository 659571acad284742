//! Property tests over generated task definitions: protecting is idempotent and unprotect is its
//! exact inverse, for any mix of entrypoint shapes, options and existing keys.

use palisade_taskdef::template::{protect_template, unprotect_template};
use palisade_taskdef::{
    normalize_text, protect_text, to_pretty, unprotect_text, ImageArgv, Mode, ProtectOptions,
    TokenSource,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn argv() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z/ .'\"-]{1,12}", 0..4)
}

/// A container with or without entryPoint / command (absent, empty, set), mounts and deps.
fn container(index: usize) -> impl Strategy<Value = Value> {
    (
        prop::option::of(argv()),
        prop::option::of(argv()),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(any::<bool>()),
        (0usize..4, any::<bool>()),
    )
        .prop_map(
            move |(entry_point, command, mounts, log_config, essential, (linux, environment))| {
                let mut container = Map::new();
                container.insert("name".into(), json!(format!("c{index}")));
                container.insert(
                    "image".into(),
                    json!(format!("registry.example/app{index}:1")),
                );
                if let Some(entry_point) = entry_point {
                    container.insert("entryPoint".into(), json!(entry_point));
                }
                if let Some(command) = command {
                    container.insert("command".into(), json!(command));
                }
                if mounts {
                    container.insert(
                        "mountPoints".into(),
                        json!([{"sourceVolume": "data", "containerPath": "/data"}]),
                    );
                }
                if log_config {
                    container.insert(
                        "logConfiguration".into(),
                        json!({"logDriver": "awslogs", "options": {"awslogs-group": "g"}}),
                    );
                }
                if index > 0 {
                    if let Some(essential) = essential {
                        container.insert("essential".into(), json!(essential));
                    }
                }
                // What the vendors' profiles extend: Linux parameters (SYS_PTRACE there already
                // or not) and the user's own environment, whose order must survive.
                let linux = [
                    None,
                    Some(json!({"initProcessEnabled": true})),
                    Some(json!({"capabilities": {"add": ["SYS_PTRACE"]}})),
                    Some(json!({"capabilities": {"drop": ["NET_RAW"], "add": []}})),
                ][linux]
                    .clone();
                if let Some(linux) = linux {
                    container.insert("linuxParameters".into(), linux);
                }
                if environment {
                    container.insert(
                        "environment".into(),
                        json!([{"name": "Z", "value": "1"}, {"name": "A", "value": "2"}]),
                    );
                }
                Value::Object(container)
            },
        )
}

fn task() -> impl Strategy<Value = (Value, bool)> {
    (1usize..6, any::<bool>(), any::<bool>(), any::<bool>())
        .prop_flat_map(|(count, fargate, pid_mode, as_list)| {
            let containers: Vec<_> = (0..count).map(container).collect();
            (containers, Just(fargate), Just(pid_mode), Just(as_list))
        })
        .prop_map(|(containers, fargate, pid_mode, as_list)| {
            if as_list {
                return (Value::Array(containers), true);
            }
            let mut task = Map::new();
            task.insert("family".into(), json!("generated"));
            if fargate {
                task.insert("requiresCompatibilities".into(), json!(["FARGATE"]));
                task.insert("networkMode".into(), json!("awsvpc"));
                task.insert("cpu".into(), json!("1024"));
                task.insert("memory".into(), json!("4096"));
            } else {
                task.insert("memory".into(), json!("4096"));
            }
            task.insert("containerDefinitions".into(), Value::Array(containers));
            task.insert("volumes".into(), json!([{"name": "data"}]));
            if pid_mode {
                task.insert("pidMode".into(), json!("task"));
            }
            (Value::Object(task), false)
        })
}

fn options_for(
    document: &Value,
    argv_with_cmd: bool,
    security: bool,
    profile: usize,
) -> ProtectOptions {
    let containers = document
        .get("containerDefinitions")
        .unwrap_or(document)
        .as_array()
        .unwrap();
    let mut options = ProtectOptions {
        mode: if security {
            Mode::Security
        } else {
            Mode::Availability
        },
        console_url: Some("http://127.0.0.1:3000".into()),
        token: Some(TokenSource::Plain("token".into())),
        profile: crate::corpus::profiles()[profile].clone(),
        ..ProtectOptions::default()
    };
    for container in containers {
        let name = container["name"].as_str().unwrap().to_owned();
        let command = argv_with_cmd.then(|| vec!["run".to_owned(), "--flag".to_owned()]);
        options.image_argv.insert(
            name,
            ImageArgv {
                entry_point: vec!["/entry".into()],
                command,
            },
        );
    }
    options
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn protect_is_idempotent_and_unprotect_inverts_it((document, _) in task(), argv_with_cmd in any::<bool>(), security in any::<bool>(), profile in 0usize..3) {
        let text = to_pretty(&document);
        let options = options_for(&document, argv_with_cmd, security, profile);
        let once = protect_text(&text, &options).unwrap();
        let twice = protect_text(&to_pretty(&once.output), &options).unwrap();
        prop_assert_eq!(&twice.output, &once.output);

        let back = unprotect_text(&to_pretty(&once.output)).unwrap();
        let normalized = normalize_text(&text).unwrap().document();
        prop_assert_eq!(to_pretty(&back.output), to_pretty(&normalized));
    }

    #[test]
    fn another_profile_replaces_the_protection_as_if_the_input_were_plain((document, _) in task(), argv_with_cmd in any::<bool>(), first in 0usize..3, second in 0usize..3) {
        let text = to_pretty(&document);
        let by_first = protect_text(&text, &options_for(&document, argv_with_cmd, false, first)).unwrap();
        let second_options = options_for(&document, argv_with_cmd, false, second);
        let switched = protect_text(&to_pretty(&by_first.output), &second_options).unwrap();
        let direct = protect_text(&text, &second_options).unwrap();
        prop_assert_eq!(switched.output, direct.output);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = protect_text(&text, &ProtectOptions::default());
        let _ = unprotect_text(&text);
    }

    #[test]
    fn a_generated_task_as_a_template_resource_keeps_every_promise((document, as_list) in task(), argv_with_cmd in any::<bool>(), profile in 0usize..3, yaml in any::<bool>()) {
        prop_assume!(!as_list);
        let template = json!({"Resources": {"Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": pascal_case(&document)}}});
        let text = if yaml { serde_yaml_ng::to_string(&template).unwrap() } else { to_pretty(&template) };
        let options = options_for(&document, argv_with_cmd, false, profile);
        let once = protect_template(&text, &options).unwrap().unwrap();
        // The same protection as the task definition gets, in the template's spelling.
        let direct = protect_text(&to_pretty(&document), &options).unwrap();
        let resource = &once.resources[0].protected;
        prop_assert_eq!(&resource.output, &direct.output);
        let twice = protect_template(&once.output, &options).unwrap().unwrap();
        prop_assert_eq!(&twice.output, &once.output);
        let (back, was_protected) = unprotect_template(&once.output).unwrap().unwrap();
        prop_assert!(was_protected);
        prop_assert_eq!(back, once.normalized);
    }

    #[test]
    fn a_yaml_template_keeps_its_text_around_the_task_definition_and_its_values_read_back(
        (document, as_list) in task(),
        any_text in "\\PC{0,24}",
        profile in 0usize..3,
        crlf in any::<bool>(),
    ) {
        let mut document = if as_list {
            json!({"family": "generated", "memory": "4096", "containerDefinitions": document})
        } else {
            document
        };
        // Text of any kind in the task definition, where the writer must quote it right, and
        // beside it in a comment and a quoted string, which must come back as they were.
        document["containerDefinitions"][0]["environment"] = json!([{"name": "ANY", "value": any_text}]);
        let properties: String = serde_yaml_ng::to_string(&pascal_case(&document))
            .unwrap()
            .lines()
            .map(|line| format!("      {line}\n"))
            .collect();
        let quoted = serde_json::to_string(&any_text).unwrap();
        let before = format!("# {any_text}\nMetadata:\n  Note: {quoted}   # kept\nResources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n");
        let after = "  After:\n    Type: AWS::SNS::Topic\n# the end\n";
        let mut text = format!("{before}{properties}{after}");
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let options = options_for(&document, false, false, profile);
        let Ok(Some(once)) = protect_template(&text, &options) else {
            // A comment or string YAML reads otherwise (a line separator in it) is no template.
            return Ok(());
        };
        let (before, after) = if crlf {
            (before.replace('\n', "\r\n"), after.replace('\n', "\r\n"))
        } else {
            (before, after.to_owned())
        };
        for written in [&once.output, &once.normalized] {
            prop_assert!(written.starts_with(&before), "{}", written);
            prop_assert!(written.ends_with(&after), "{}", written);
        }
        // Read back, the written task definition is the one protect made.
        let twice = protect_template(&once.output, &options).unwrap().unwrap();
        prop_assert_eq!(&twice.resources[0].protected.normalized, &once.resources[0].protected.output);
        prop_assert_eq!(&twice.output, &once.output);
        let (back, _) = unprotect_template(&once.output).unwrap().unwrap();
        prop_assert_eq!(back, once.normalized);
    }

    #[test]
    fn edited_templates_never_panic_and_keep_the_promises(
        template in 0usize..5,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..7, edit_text()), 0..8),
    ) {
        // A test template with lines removed, repeated, indented otherwise or written over: the
        // text written back (spliced or whole) protects to itself and unprotects to what was
        // read.
        let (_, text) = crate::templates::templates()
            .into_iter()
            .nth(template % crate::templates::templates().len())
            .unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        for (at, edit, inserted) in edits {
            if lines.is_empty() {
                break;
            }
            let at = at.index(lines.len());
            match edit {
                0 => {
                    lines.remove(at);
                }
                1 => lines.insert(at, lines[at].clone()),
                2 => lines[at].insert(0, ' '),
                3 => lines[at] = lines[at].replacen(' ', "", 1),
                4 => lines[at].push_str(&inserted),
                5 => lines[at] = format!("{inserted}{}", lines[at]),
                _ => lines.insert(at, format!("#{inserted}")),
            }
        }
        palisade_taskdef::selfcheck::whole_path(&(lines.join("\n") + "\n"));
    }

    #[test]
    fn arbitrary_template_properties_never_panic_and_keep_the_promises(properties in arbitrary_json(), yaml in any::<bool>()) {
        // Anything as a task definition resource's properties, in either format.
        let template = json!({"Resources": {"Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": properties}}});
        let text = if yaml {
            serde_yaml_ng::to_string(&template).unwrap()
        } else {
            template.to_string()
        };
        palisade_taskdef::selfcheck::whole_path(&text);
    }

    #[test]
    fn arbitrary_json_never_panics(value in arbitrary_json()) {
        let text = value.to_string();
        let _ = protect_text(&text, &ProtectOptions::default());
        let _ = unprotect_text(&text);
    }
}

/// Text to write into a template's line: YAML's own marks more often than chance would.
fn edit_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "{", "[", " &a", " *a", "- ", ": x", " |", "\t", "\r", "  "
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,8}",
    ]
}

/// A task definition as CloudFormation spells it: each key's first letter upper-cased, the
/// user's own maps (labels, log options) as written.
fn pascal_case(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| {
                    let mut characters = key.chars();
                    let pascal: String = characters
                        .next()
                        .map(|first| first.to_uppercase().chain(characters).collect())
                        .unwrap_or_default();
                    let value = if ["options", "dockerLabels"].contains(&key.as_str()) {
                        value.clone()
                    } else {
                        pascal_case(value)
                    };
                    (pascal, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(pascal_case).collect()),
        other => other.clone(),
    }
}

/// Arbitrary JSON biased towards task-definition keys, to reach deep into the rules.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9_ ${}<>-]{0,10}".prop_map(Value::String),
    ];
    let keys = prop_oneof![
        Just("family".to_owned()),
        Just("containerDefinitions".to_owned()),
        Just("name".to_owned()),
        Just("image".to_owned()),
        Just("entryPoint".to_owned()),
        Just("command".to_owned()),
        Just("dependsOn".to_owned()),
        Just("volumes".to_owned()),
        Just("mountPoints".to_owned()),
        Just("networkMode".to_owned()),
        Just("cpu".to_owned()),
        Just("memory".to_owned()),
        Just("taskDefinition".to_owned()),
        Just("requiresCompatibilities".to_owned()),
        "[a-zA-Z]{1,8}",
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}
