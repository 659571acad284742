//! Input cost: task definitions of up to 1 MiB written to be expensive (thousands of containers,
//! thousands of problems on one line, a megabyte of `<`, tens of thousands of unknown keys, deep
//! nesting), and CloudFormation templates with a problem in every one of hundreds of task
//! definition resources, JSON and YAML, or nested far deeper than any template. Each must be
//! answered, accepted or refused, in well under 100 ms per 100 resources, and the cost must grow
//! with the size of the input, not with its square: the REST API takes 1 MiB bodies, and a
//! request must not hold a core for seconds. Results: BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use palisade_taskdef::template::protect_template;
use palisade_taskdef::{protect_text, ProtectOptions, TokenSource};
use serde_json::{json, Value};

const MIB: usize = 1024 * 1024;

/// Repeats `item` until the compact document built by `wrap` is just under 1 MiB.
fn fill(item: impl Fn(usize) -> Value, wrap: impl Fn(Vec<Value>) -> Value) -> String {
    let one = serde_json::to_string(&item(0)).unwrap().len() + 1;
    let count = MIB / one;
    let mut items: Vec<Value> = (0..count).map(&item).collect();
    loop {
        let text = serde_json::to_string(&wrap(items.clone())).unwrap();
        if text.len() < MIB {
            return text;
        }
        items.truncate(items.len() - items.len() / 50 - 1);
    }
}

fn fargate(containers: Value) -> Value {
    json!({
        "family": "adversarial", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
        "cpu": "256", "memory": "512", "containerDefinitions": containers
    })
}

/// The cases, each a name and its text (all under 1 MiB).
pub fn cases() -> Vec<(&'static str, String)> {
    let mut cases = Vec::new();
    // Thousands of valid-looking containers (ECS allows ten).
    cases.push((
        "containers",
        fill(
            |i| json!({"name": format!("c{i}"), "image": "busybox:1", "entryPoint": ["/bin/sh"], "memory": 128}),
            |items| fargate(Value::Array(items)),
        ),
    ));
    // One container, every port mapping wrong: a problem per entry, all on one line.
    cases.push((
        "problems-on-one-line",
        fill(
            |i| json!({"containerPort": format!("p{i}"), "protocol": "carrier-pigeon"}),
            |items| {
                fargate(json!([{"name": "app", "image": "app:1", "entryPoint": ["/app"], "portMappings": items}]))
            },
        ),
    ));
    // A megabyte of `<x` in a container name, then one `>`: the placeholder scan.
    cases.push((
        "angle-brackets",
        serde_json::to_string(&fargate(json!([{
            "name": format!("{}>", "<x".repeat((MIB - 400) / 2)), "image": "app:1", "entryPoint": ["/app"]
        }])))
        .unwrap(),
    ));
    // Tens of thousands of unknown top-level keys, each offered a "did you mean".
    cases.push(("unknown-keys", {
        let mut task = fargate(json!([{"name": "app", "image": "app:1", "entryPoint": ["/app"]}]));
        let object = task.as_object_mut().unwrap();
        let mut i = 0;
        while serde_json::to_string(object).unwrap().len() < MIB - 64 {
            object.insert(format!("containerDefinitionz{i:07}"), json!(1));
            i += 1;
        }
        serde_json::to_string(&task).unwrap()
    }));
    // Environment entries without end, and a nesting as deep as the parser allows.
    cases.push((
        "environment",
        fill(
            |i| json!({"name": format!("VARIABLE_{i}"), "value": "x"}),
            |items| {
                fargate(json!([{"name": "app", "image": "app:1", "entryPoint": ["/app"], "environment": items}]))
            },
        ),
    ));
    cases.push((
        "deep-nesting",
        format!(
            "{{\"family\": \"a\", \"containerDefinitions\": {}{}}}",
            "[".repeat(120),
            "]".repeat(120)
        ),
    ));
    cases
}

fn options() -> ProtectOptions {
    ProtectOptions {
        console_url: Some("https://palisade.example.com".into()),
        token: Some(TokenSource::Secret(
            "arn:aws:ssm:eu-west-1:1:parameter/p".into(),
        )),
        ..ProtectOptions::default()
    }
}

/// A YAML template of `resources` task definitions, each with a container whose image argv
/// nobody gave (so each is one problem to locate in the text).
pub fn yaml_template(resources: usize) -> String {
    let mut text = String::from("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n");
    for index in 0..resources {
        text.push_str(&format!(
            "  Task{index}:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      Family: task-{index}\n      ContainerDefinitions:\n        - Name: app\n          Image: nginx:1.27\n          Memory: 128\n"
        ));
    }
    text
}

/// The same template in JSON.
pub fn json_template(resources: usize) -> String {
    let resources: serde_json::Map<String, Value> = (0..resources)
        .map(|index| {
            (
                format!("Task{index}"),
                json!({"Type": "AWS::ECS::TaskDefinition", "Properties": {
                    "Family": format!("task-{index}"),
                    "ContainerDefinitions": [{"Name": "app", "Image": "nginx:1.27", "Memory": 128}]
                }}),
            )
        })
        .collect();
    serde_json::to_string_pretty(
        &json!({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}),
    )
    .unwrap()
}

/// A YAML template whose family is `depth` flow sequences deep (`[[[...]]]`), or `depth` block
/// sequences on one line (`- - - ...`).
pub fn deep_yaml_template(depth: usize, flow: bool) -> String {
    let head =
        "Resources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      Family: ";
    if flow {
        format!("{head}{}{}\n", "[".repeat(depth), "]".repeat(depth))
    } else {
        format!("{head}\n        {}x\n", "- ".repeat(depth))
    }
}

/// Templates with a problem in each of many resources, and templates nested deep.
fn many_and_deep_templates() -> Vec<(String, String)> {
    let mut cases: Vec<(String, String)> = Vec::new();
    for resources in [100, 400, 800] {
        cases.push((
            format!("yaml-missing-entrypoint/{resources}"),
            yaml_template(resources),
        ));
        cases.push((
            format!("json-missing-entrypoint/{resources}"),
            json_template(resources),
        ));
    }
    cases.push((
        "yaml-deep-flow/50000".into(),
        deep_yaml_template(50_000, true),
    ));
    cases.push((
        "yaml-deep-block/200000".into(),
        deep_yaml_template(200_000, false),
    ));
    cases.push((
        "json-deep/200000".into(),
        format!(
            "{{\"Resources\": {{\"Task\": {{\"Type\": \"AWS::ECS::TaskDefinition\", \"Properties\": {{\"Family\": {}{}}}}}}}}}",
            "[".repeat(200_000),
            "]".repeat(200_000)
        ),
    ));
    cases
}

/// Templates that would be costly to read or answer: YAML aliases, long keys and IDs.
fn costly_templates() -> Vec<(String, String)> {
    let mut cases: Vec<(String, String)> = Vec::new();
    // An anchor of 2,000 items and 2,000 aliases of it: 4 million nodes from 14 KB if expanded.
    cases.push(("yaml-aliases/2000".into(), {
        let items = vec!["x"; 2000].join(", ");
        let aliases = vec!["*items"; 2000].join(", ");
        format!(
            "Metadata:\n  Items: &items [{items}]\n  Copies: [{aliases}]\n{}",
            yaml_template(1)
        )
    }));
    // 10,000 intrinsic functions under a key of 50,000 characters: a JSON pointer per function
    // would be half a gigabyte.
    cases.push(("json-long-key/10000".into(), {
        let mut template: Value = serde_json::from_str(&json_template(1)).unwrap();
        let refs = vec![json!({"Ref": "Parameter"}); 10_000];
        template["Resources"]["Task0"]["Properties"]["K".repeat(50_000)] = json!({ "Items": refs });
        serde_json::to_string(&template).unwrap()
    }));
    // A driver option named by 400,000 characters whose value (a string expected) holds 40,000
    // members: locating its problem walks them, each under the long key; and a logical ID of
    // 800,000 characters over 4,000 placeholder warnings, each naming the ID in its pointer.
    let long_id = |id_length: usize, properties: Value| {
        let id = "T".repeat(id_length);
        serde_json::to_string(&json!({"Resources": {id: {"Type": "AWS::ECS::TaskDefinition", "Properties": properties}}}))
            .unwrap()
    };
    cases.push(("json-long-key-members/40000".into(), {
        let members: serde_json::Map<String, Value> =
            (0..40_000).map(|index| (format!("k{index}"), json!(1))).collect();
        let mut options = serde_json::Map::new();
        options.insert("O".repeat(400_000), Value::Object(members));
        long_id(4, json!({"Family": "f", "ContainerDefinitions": [{"Name": "app", "Image": "nginx:1.27", "Memory": 128, "EntryPoint": ["/app"]}],
            "Volumes": [{"Name": "v", "DockerVolumeConfiguration": {"DriverOpts": options}}]}))
    }));
    cases.push(("json-long-id-warnings/4000".into(), {
        let domains: Vec<String> = (0..4000).map(|index| format!("${{D{index}}}")).collect();
        long_id(800_000, json!({"Family": "f", "ContainerDefinitions": [{"Name": "app", "Image": "nginx:1.27", "Memory": 128, "EntryPoint": ["/app"], "DnsSearchDomains": domains}]}))
    }));
    cases
}

fn templates(c: &mut Criterion) {
    let options = options();
    let mut group = c.benchmark_group("templates");
    group.sample_size(10);
    let cases = many_and_deep_templates()
        .into_iter()
        .chain(costly_templates());
    for (name, text) in cases {
        let answer = protect_template(&text, &options);
        eprintln!(
            "{name}: {} bytes, {}",
            text.len(),
            match &answer {
                Ok(Some(_)) => "accepted".to_owned(),
                Ok(None) => "not a template".to_owned(),
                Err(rejected) => format!(
                    "{} problems, the first: {}",
                    rejected.problems.len(),
                    rejected.problems[0]
                ),
            }
        );
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(&name), &text, |b, text| {
            b.iter(|| protect_template(text, &options))
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let options = options();
    let mut group = c.benchmark_group("adversarial");
    group.sample_size(10);
    for (name, text) in cases() {
        assert!(text.len() <= MIB, "{name} is {} bytes", text.len());
        let answer = protect_text(&text, &options);
        eprintln!(
            "{name}: {} bytes, {}",
            text.len(),
            match &answer {
                Ok(_) => "accepted".to_owned(),
                Err(rejected) => format!("{} problems", rejected.problems.len()),
            }
        );
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &text, |b, text| {
            b.iter(|| protect_text(text, &options))
        });
    }
    group.finish();
}

criterion_group!(benches, bench, templates);
criterion_main!(benches);
