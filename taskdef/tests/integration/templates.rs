//! CloudFormation templates (`tests/templates/`, YAML and JSON, short and long intrinsic forms):
//! every task definition resource protected in place, everything else untouched, protect twice
//! changes nothing, unprotect gives the template back, and `cfn-lint` (PyPI; `scripts/setup
//! --test` installs it) passes on every protected template, with each profile.

use palisade_taskdef::template::{
    is_template, protect_template, protect_template_cancellable, unprotect_template,
    unprotect_template_cancellable,
};
use palisade_taskdef::{
    protect_text_cancellable, unprotect_text_cancellable, Cancel, ImageArgv, ProblemKind,
    ProtectOptions, TokenSource,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub(crate) fn templates() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/templates");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "json")
            )
        })
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(path).unwrap())
        })
        .collect();
    files.sort();
    assert!(files.len() >= 3, "the templates are in {}", dir.display());
    files
}

fn options(profile: usize, text: &str) -> ProtectOptions {
    let mut options = ProtectOptions {
        console_url: Some("https://palisade.example".into()),
        token: Some(TokenSource::Secret(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:palisade".into(),
        )),
        defender_image: Some(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/palisade/defender:1".into(),
        ),
        profile: crate::corpus::profiles()[profile].clone(),
        ..ProtectOptions::default()
    };
    // `api` runs an image known only by parameter: its argv is given, as a user would.
    if !text.contains("Name: api") {
        return options;
    }
    options.image_argv.insert(
        "api".into(),
        ImageArgv {
            entry_point: vec!["/app/api".into()],
            command: Some(vec!["serve".into()]),
        },
    );
    options
}

/// The template as data (YAML or JSON), tags kept.
fn data(name: &str, text: &str) -> serde_yaml_ng::Value {
    if name.ends_with(".json") {
        serde_yaml_ng::to_value(serde_json::from_str::<Value>(text).unwrap()).unwrap()
    } else {
        serde_yaml_ng::from_str(text).unwrap()
    }
}

/// Runs cfn-lint on `text` written as `name`; answers its report when it finds an error.
fn cfn_lint(name: &str, text: &str) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("palisade-cfn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file: PathBuf = dir.join(name);
    std::fs::write(&file, text).unwrap();
    let output = std::process::Command::new("cfn-lint")
        .arg(&file)
        .output()
        .expect("cfn-lint must be installed (scripts/setup --test installs it from PyPI)");
    // 0: clean; 4 and 8: warnings and informational notes only; 2: errors.
    (output.status.code() == Some(2) || output.status.code() == Some(1))
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn every_template_is_protected_in_place_and_back_with_every_profile() {
    for (name, text) in templates() {
        assert!(is_template(&text), "{name}");
        assert_eq!(
            cfn_lint(&name, &text),
            None,
            "{name} itself must lint clean"
        );
        for profile in 0..3 {
            let label = format!("{name} ({})", crate::corpus::profiles()[profile].name());
            let options = options(profile, &text);
            let protected = protect_template(&text, &options)
                .unwrap_or_else(|rejected| panic!("{label}: {rejected}"))
                .unwrap();
            let tasks = protected.resources.len();
            assert!(tasks >= 1, "{label}");

            // Only the task definitions changed; parameters, outputs and the rest are equal.
            let (before, after) = (data(&name, &text), data(&name, &protected.output));
            for section in ["Parameters", "Conditions", "Outputs", "Description"] {
                assert_eq!(
                    before.get(section),
                    after.get(section),
                    "{label}: {section}"
                );
            }
            let resources = |value: &serde_yaml_ng::Value| -> Vec<(String, serde_yaml_ng::Value)> {
                value["Resources"]
                    .as_mapping()
                    .unwrap()
                    .iter()
                    .map(|(id, resource)| (id.as_str().unwrap().to_owned(), resource.clone()))
                    .collect()
            };
            let (before_resources, after_resources) = (resources(&before), resources(&after));
            assert_eq!(
                before_resources
                    .iter()
                    .map(|(id, _)| id)
                    .collect::<Vec<_>>(),
                after_resources.iter().map(|(id, _)| id).collect::<Vec<_>>(),
                "{label}: resources and their order"
            );
            for ((id, was), (_, is)) in before_resources.iter().zip(&after_resources) {
                if was["Type"] != "AWS::ECS::TaskDefinition" {
                    assert_eq!(was, is, "{label}: {id} changed");
                }
            }
            // Every intrinsic function of the input is still there (the vendor's additions
            // bring none of their own).
            for form in ["!Ref", "!Sub", "!GetAtt", "!If", "Fn::", "\"Ref\""] {
                assert!(
                    text.matches(form).count() <= protected.output.matches(form).count(),
                    "{label}: {form}"
                );
            }

            // Protecting again changes nothing; unprotect gives the template back.
            let again = protect_template(&protected.output, &options)
                .unwrap()
                .unwrap();
            assert_eq!(again.output, protected.output, "{label}: twice");
            let (back, was_protected) = unprotect_template(&protected.output).unwrap().unwrap();
            assert!(was_protected, "{label}");
            assert_eq!(back, protected.normalized, "{label}: unprotect");
            assert_eq!(
                data(&name, &back),
                data(&name, &text),
                "{label}: unprotected, the template means what it did"
            );

            assert_eq!(cfn_lint(&name, &protected.output), None, "{label}");
        }
    }
}

#[test]
fn an_image_known_only_by_parameter_asks_for_its_argv_naming_the_intrinsic() {
    let (_, text) = templates()
        .into_iter()
        .find(|(name, _)| name == "two-tasks-firelens.yaml")
        .unwrap();
    let mut options = options(0, &text);
    options.image_argv.clear();
    let rejected = protect_template(&text, &options).unwrap_err();
    let problem = &rejected.problems[0];
    assert_eq!(problem.kind, ProblemKind::MissingEntrypoint, "{rejected}");
    assert!(problem.message.contains("resource ApiTask"), "{problem}");
    assert!(problem.message.contains("!Ref ApiImage"), "{problem}");
    assert_eq!(
        problem.pointer.as_deref(),
        Some("/Resources/ApiTask/Properties/ContainerDefinitions/1")
    );
    // Its line and column in the YAML: the "- " that opens the container.
    let line = text
        .lines()
        .position(|line| line.trim_start() == "- Name: api")
        .unwrap()
        + 1;
    assert_eq!(
        (problem.line, problem.column),
        (Some(line), Some(9)),
        "{problem}"
    );
}

#[test]
fn what_protect_cannot_read_is_refused_with_its_place() {
    // An EntryPoint that is an intrinsic function: nothing to wrap.
    let json = r#"{
  "Resources": {
    "Task": {
      "Type": "AWS::ECS::TaskDefinition",
      "Properties": {
        "ContainerDefinitions": [
          {"Name": "app", "Image": "x", "Memory": 128, "EntryPoint": {"Fn::Split": [" ", {"Ref": "Argv"}]}}
        ]
      }
    }
  }
}"#;
    let rejected = protect_template(json, &options(0, json)).unwrap_err();
    let problem = &rejected.problems[0];
    assert_eq!(
        problem.pointer.as_deref(),
        Some("/Resources/Task/Properties/ContainerDefinitions/0/EntryPoint")
    );
    assert_eq!(problem.line, Some(7), "{problem}");
    assert!(problem.message.contains("intrinsic function"), "{problem}");

    // A YAML template that does not parse: line and column.
    let yaml = "Resources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      Family: [unclosed\n";
    assert!(is_template(yaml), "its YAML error is the useful one");
    let rejected = protect_template(yaml, &options(0, yaml)).unwrap_err();
    assert_eq!(rejected.problems[0].kind, ProblemKind::Syntax);
    assert!(rejected.problems[0].line.is_some(), "{rejected}");

    // A template without a task definition says so.
    let none = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n";
    let rejected = protect_template(none, &options(0, none)).unwrap_err();
    assert!(rejected.problems[0]
        .message
        .contains("no AWS::ECS::TaskDefinition"));

    // A task definition is not a template.
    assert!(!is_template(
        r#"{"family": "f", "containerDefinitions": []}"#
    ));
}

#[test]
fn a_task_definition_without_family_is_protected_as_cloudformation_allows() {
    let yaml = "Resources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      ContainerDefinitions:\n        - Name: web\n          Image: nginx\n          Memory: 128\n          EntryPoint: [/docker-entrypoint.sh]\n";
    let protected = protect_template(yaml, &options(0, yaml)).unwrap().unwrap();
    assert!(!protected.output.contains("Family"), "{}", protected.output);
    assert!(protected.output.contains("palisade-defender"));
    let (back, _) = unprotect_template(&protected.output).unwrap().unwrap();
    assert_eq!(back, protected.normalized);
    assert_eq!(data("t.yaml", &back), data("t.yaml", yaml));
    assert_eq!(cfn_lint("no-family.yaml", &protected.output), None);
}

#[test]
fn text_where_the_api_wants_a_number_or_a_boolean_is_read_as_cloudformation_reads_it() {
    let yaml = "Resources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      Family: web\n      ContainerDefinitions:\n        - Name: web\n          Image: nginx\n          Memory: '256'\n          Essential: 'true'\n          EntryPoint: [/docker-entrypoint.sh]\n          PortMappings:\n            - ContainerPort: '8080'\n";
    let protected = protect_template(yaml, &options(0, yaml))
        .unwrap_or_else(|rejected| panic!("{rejected}"))
        .unwrap();
    // Written back as the template wrote them.
    for kept in [
        "Memory: '256'",
        "Essential: 'true'",
        "ContainerPort: '8080'",
    ] {
        assert!(
            protected.output.contains(kept),
            "{kept}: {}",
            protected.output
        );
    }
    let (back, _) = unprotect_template(&protected.output).unwrap().unwrap();
    assert_eq!(data("t.yaml", &back), data("t.yaml", yaml));
    assert_eq!(cfn_lint("typed-text.yaml", &protected.output), None);
}

#[test]
fn an_alias_bomb_is_refused_not_expanded() {
    // Eleven levels of ten aliases each: 10^11 nodes if expanded.
    let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..12 {
        let previous = format!("*a{}", level - 1);
        yaml.push_str(&format!(
            "a{level}: &a{level} [{}]\n",
            vec![previous; 10].join(", ")
        ));
    }
    yaml.push_str("Resources:\n  T:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      Family: *a11\n");
    let rejected = protect_template(&yaml, &options(0, &yaml)).unwrap_err();
    assert_eq!(rejected.problems[0].kind, ProblemKind::Syntax);
    assert!(
        rejected.problems[0].message.contains("not valid YAML"),
        "{rejected}"
    );
}

/// `name` from `tests/templates/` with `resource` (its block, up to the next resource)
/// repeated `copies` times under numbered logical ids.
fn repeated(name: &str, resource: &str, copies: usize) -> String {
    let (_, text) = templates()
        .into_iter()
        .find(|(file, _)| file == name)
        .unwrap();
    let start = text.find(&format!("\n  {resource}:\n")).unwrap() + 1;
    // The block ends at the next line indented two spaces or less.
    let mut end = start + text[start..].find('\n').unwrap() + 1;
    while end < text.len() && text[end..].starts_with("   ") {
        end += text[end..].find('\n').map_or(text.len() - end, |at| at + 1);
    }
    let copies: String = (0..copies)
        .map(|copy| {
            text[start..end].replacen(&format!("{resource}:"), &format!("{resource}{copy}:"), 1)
        })
        .collect();
    format!("{}{copies}{}", &text[..start], &text[end..])
}

#[test]
fn a_yaml_template_nested_200000_deep_is_refused_with_the_place_it_goes_too_deep() {
    let (_, text) = templates()
        .into_iter()
        .find(|(name, _)| name == "two-tasks-firelens.yaml")
        .unwrap();
    let family_line = text
        .lines()
        .position(|line| line == "      Family: api")
        .unwrap()
        + 1;
    let flow = text.replacen(
        "      Family: api\n",
        &format!(
            "      Family: {}{}\n",
            "[".repeat(200_000),
            "]".repeat(200_000)
        ),
        1,
    );
    let block = text.replacen(
        "      Family: api\n",
        &format!("      Family:\n        {}api\n", "- ".repeat(200_000)),
        1,
    );
    // Four block mappings hold the family (the template, Resources, ApiTask, its Properties):
    // the 125th bracket or dash is the 129th level.
    for (label, text, line, column) in [
        ("flow", flow, family_line, 15 + 124),
        ("block", block, family_line + 1, 9 + 2 * 124),
    ] {
        assert!(is_template(&text), "{label}");
        let rejected = protect_template(&text, &options(0, &text)).unwrap_err();
        assert_eq!(rejected.problems.len(), 1, "{label}: {rejected}");
        let problem = &rejected.problems[0];
        assert_eq!(problem.kind, ProblemKind::Limit, "{label}: {problem}");
        assert!(
            problem.message.contains("deeper than 128 levels"),
            "{problem}"
        );
        assert!(problem.hint.as_deref().unwrap().contains("never closed"));
        assert_eq!(
            (problem.line, problem.column),
            (Some(line), Some(column)),
            "{label}: {problem}"
        );
        let rejected = unprotect_template(&text).unwrap_err();
        assert_eq!(rejected.problems[0].kind, ProblemKind::Limit, "{label}");
    }
}

#[test]
fn a_json_template_nested_200000_deep_is_named_as_too_deep_not_as_a_typo() {
    let (_, text) = templates()
        .into_iter()
        .find(|(name, _)| name == "scheduled-job.json")
        .unwrap();
    let deep = text.replacen(
        "\"NetworkMode\": \"awsvpc\"",
        &format!("\"NetworkMode\": {}", "[".repeat(200_000)),
        1,
    );
    // serde_json stops at 128 levels: not read as a template, then refused as a task definition.
    assert!(protect_template(&deep, &options(0, &deep))
        .unwrap()
        .is_none());
    let rejected = palisade_taskdef::protect_text(&deep, &options(0, &deep)).unwrap_err();
    let problem = &rejected.problems[0];
    assert_eq!(problem.kind, ProblemKind::Limit, "{problem}");
    assert!(
        problem.message.contains("deeper than 128 levels"),
        "{problem}"
    );
    assert!(
        problem.line.is_some() && problem.column.is_some(),
        "{problem}"
    );
}

#[test]
fn aliases_that_repeat_a_node_past_the_templates_size_are_refused() {
    let (_, text) = templates()
        .into_iter()
        .find(|(name, _)| name == "two-tasks-firelens.yaml")
        .unwrap();
    // 2,000 aliases of a 2,000-item sequence: four million nodes from 22 KB.
    let items = vec!["x"; 2000].join(", ");
    let aliases = vec!["*items"; 2000].join(", ");
    let bomb = text.replacen(
        "Parameters:\n",
        &format!("Metadata:\n  Items: &items [{items}]\n  Copies: [{aliases}]\nParameters:\n"),
        1,
    );
    let rejected = protect_template(&bomb, &options(0, &bomb)).unwrap_err();
    let problem = &rejected.problems[0];
    assert_eq!(problem.kind, ProblemKind::Syntax, "{problem}");
    assert!(
        problem
            .message
            .contains("not valid YAML for CloudFormation"),
        "{problem}"
    );
    assert!(problem.message.contains("aliases"), "{problem}");
    assert_eq!(problem.line, Some(4), "{problem}");

    // An alias or two is read as before, and kept as written: only the task definitions are
    // written anew.
    let few = text.replacen(
        "Parameters:\n",
        "Metadata:\n  Items: &items [x, y]\n  Copies: [*items, *items]\nParameters:\n",
        1,
    );
    let protected = protect_template(&few, &options(0, &few)).unwrap().unwrap();
    assert!(
        protected
            .output
            .contains("  Items: &items [x, y]\n  Copies: [*items, *items]\n"),
        "{}",
        protected.output
    );
}

#[test]
fn a_template_larger_than_a_mebibyte_is_refused_by_its_size() {
    let (_, text) = templates()
        .into_iter()
        .find(|(name, _)| name == "fargate-service.yaml")
        .unwrap();
    let padding = "# padding\n".repeat(1024 * 1024 / 10);
    let big = format!("{padding}{text}");
    let rejected = protect_template(&big, &options(0, &big)).unwrap_err();
    let problem = &rejected.problems[0];
    assert_eq!(problem.kind, ProblemKind::Limit, "{problem}");
    assert!(
        problem.message.contains(&big.len().to_string()),
        "{problem}"
    );
    // Just under the bound it is read as always.
    let under = format!(
        "{}{text}",
        "# padding\n".repeat((1024 * 1024 - text.len()) / 10)
    );
    assert!(protect_template(&under, &options(0, &under))
        .unwrap()
        .is_some());
}

#[test]
fn a_cancelled_protect_of_800_resources_answers_cancelled_and_nothing_else() {
    let text = repeated("two-tasks-firelens.yaml", "ApiTask", 800);
    // No argv for `api`: every resource is a problem to find, locate and describe.
    let mut options = options(0, &text);
    options.image_argv.clear();
    let refused = |answer: Result<Option<_>, palisade_taskdef::Rejected>| match answer {
        Err(rejected) => rejected,
        Ok(_) => panic!("the template was protected"),
    };
    let cancel = Cancel::default();
    // Raised from another thread (the console's, when the client goes away), before the work.
    let raiser = cancel.clone();
    std::thread::spawn(move || raiser.cancel()).join().unwrap();
    let rejected = refused(protect_template_cancellable(&text, &options, &cancel));
    assert_eq!(rejected.problems.len(), 1, "{rejected}");
    assert_eq!(rejected.problems[0].kind, ProblemKind::Cancelled);
    assert_eq!(
        rejected.problems[0].message,
        "the work was cancelled (the client went away or the console is stopping)"
    );
    let unprotected = unprotect_template_cancellable(&text, &cancel);
    assert!(unprotected.is_err_and(|rejected| rejected.has(ProblemKind::Cancelled)));
    let task = r#"{"family": "f", "containerDefinitions": [{"name": "a", "image": "x", "entryPoint": ["/a"]}]}"#;
    assert!(protect_text_cancellable(task, &options, &cancel)
        .unwrap_err()
        .has(ProblemKind::Cancelled));
    assert!(unprotect_text_cancellable(task, &cancel)
        .unwrap_err()
        .has(ProblemKind::Cancelled));

    // Never raised, the same template gives its 800 problems.
    let rejected = refused(protect_template_cancellable(
        &text,
        &options,
        &Cancel::default(),
    ));
    assert_eq!(rejected.problems.len(), 800);
    assert!(rejected.has(ProblemKind::MissingEntrypoint));
}

#[test]
fn a_template_nested_as_deep_as_the_readers_allow_is_answered_without_running_out_of_stack() {
    // Four block mappings hold the family: 120 more levels stay under the 128 both readers take.
    let yaml = format!(
        "Resources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      Family: {}x{}\n      ContainerDefinitions:\n        - Name: app\n          Image: nginx\n          EntryPoint: [/app]\n          Memory: 128\n",
        "[".repeat(120),
        "]".repeat(120)
    );
    let json = serde_json::to_string(&serde_yaml_ng::from_str::<Value>(&yaml).unwrap()).unwrap();
    for text in [yaml, json] {
        let rejected = protect_template(&text, &options(0, &text)).unwrap_err();
        let problem = &rejected.problems[0];
        assert_eq!(problem.kind, ProblemKind::Schema, "{problem}");
        assert_eq!(
            problem.pointer.as_deref(),
            Some("/Resources/Task/Properties/Family")
        );
        assert!(problem.line.is_some(), "{problem}");
    }
}

#[test]
fn a_logical_id_longer_than_cloudformation_takes_is_refused_not_repeated_in_every_warning() {
    let (_, text) = templates()
        .into_iter()
        .find(|(name, _)| name == "scheduled-job.json")
        .unwrap();
    // 400,000 characters of ID and 4,000 placeholder warnings: a pointer each, 1.6 GB of them.
    let id = "Report".repeat(400_000 / 6);
    let domains: Vec<String> = (0..4000)
        .map(|index| format!("\"${{D{index}}}\""))
        .collect();
    let long = text
        .replacen("\"ReportTask\":", &format!("\"{id}\":"), 1)
        .replacen(
            "\"EntryPoint\":",
            &format!(
                "\"DnsSearchDomains\": [{}], \"EntryPoint\":",
                domains.join(", ")
            ),
            1,
        );
    let rejected = protect_template(&long, &options(0, &long)).unwrap_err();
    assert_eq!(rejected.problems.len(), 1, "{rejected}");
    let problem = &rejected.problems[0];
    assert_eq!(problem.kind, ProblemKind::Limit, "{problem}");
    assert!(problem.message.contains("at most 255"), "{problem}");
    assert!(problem.message.len() < 200, "{problem}");
    assert!(problem.line.is_some(), "{problem}");
}

#[test]
fn a_resource_with_a_validation_problem_still_names_the_containers_that_need_their_argv() {
    let (_, text) = templates()
        .into_iter()
        .find(|(name, _)| name == "two-tasks-firelens.yaml")
        .unwrap();
    // Fargate refuses the legacy console's network mode; `api` runs an image known only by
    // parameter and no argv is given for it.
    let text = text.replacen("NetworkMode: awsvpc", "NetworkMode: default", 1);
    let mut options = options(0, &text);
    options.image_argv.clear();
    let rejected = protect_template_cancellable(&text, &options, &Cancel::default()).unwrap_err();
    let found: Vec<(ProblemKind, Option<&str>)> = rejected
        .problems
        .iter()
        .map(|problem| (problem.kind, problem.pointer.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            (
                ProblemKind::Schema,
                Some("/Resources/ApiTask/Properties/NetworkMode")
            ),
            (
                ProblemKind::MissingEntrypoint,
                Some("/Resources/ApiTask/Properties/ContainerDefinitions/1")
            ),
        ],
        "{rejected}"
    );
    let missing = &rejected.problems[1];
    assert_eq!(missing.container.as_deref(), Some("api"));
    assert!(missing.message.contains("!Ref ApiImage"), "{missing}");
    let line = |wanted: &str| text.lines().position(|line| line.trim_start() == wanted);
    assert_eq!(
        rejected.problems[0].line,
        line("NetworkMode: default").map(|at| at + 1)
    );
    assert_eq!(missing.line, line("- Name: api").map(|at| at + 1));
}
