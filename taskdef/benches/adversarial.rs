//! Input cost: task definitions of up to 1 MiB written to be expensive (thousands of containers,
//! thousands of problems on one line, a megabyte of `<`, tens of thousands of unknown keys, deep
//! nesting). Each must be answered, accepted or refused, in well under 100 ms: the REST API takes
//! 1 MiB bodies, and a request must not hold a core for seconds. Results: BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
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

fn bench(c: &mut Criterion) {
    let options = ProtectOptions {
        console_url: Some("https://palisade.example.com".into()),
        token: Some(TokenSource::Secret(
            "arn:aws:ssm:eu-west-1:1:parameter/p".into(),
        )),
        ..ProtectOptions::default()
    };
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

criterion_group!(benches, bench);
criterion_main!(benches);
