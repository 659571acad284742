//! normalize + validate + protect on a 10-container definition and on a ~60 KiB one, next to
//! serde_json parse + serialize of the same bytes (the floor). Results: BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use palisade_taskdef::{protect_text, to_pretty, ProtectOptions, TokenSource};
use serde_json::{json, Value};

/// A Fargate task with `containers` containers, each with `env_per_container` environment entries.
fn task(containers: usize, env_per_container: usize) -> Value {
    let containers: Vec<Value> = (0..containers)
        .map(|i| {
            let environment: Vec<Value> = (0..env_per_container)
                .map(|e| json!({"name": format!("SETTING_{i}_{e}"), "value": format!("value-{e}-{}", "x".repeat(24))}))
                .collect();
            json!({
                "name": format!("service-{i}"),
                "image": format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/service-{i}:1.2.3"),
                "essential": i == 0,
                "entryPoint": ["/usr/local/bin/service", "--config", "/etc/service.yaml"],
                "command": ["serve", "--port", format!("{}", 8000 + i)],
                "portMappings": [{"containerPort": 8000 + i, "protocol": "tcp"}],
                "environment": environment,
                "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/bench", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "svc"}},
                "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost/health || exit 1"], "interval": 30, "timeout": 5, "retries": 3}
            })
        })
        .collect();
    json!({
        "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/bench:3",
        "family": "bench",
        "revision": 3,
        "status": "ACTIVE",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "4096",
        "memory": "16384",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "containerDefinitions": containers,
        "registeredAt": "2026-11-01T10:00:00.000Z"
    })
}

fn options() -> ProtectOptions {
    ProtectOptions {
        console_url: Some("https://palisade.example.com".into()),
        token: Some(TokenSource::Secret(
            "arn:aws:ssm:eu-west-1:123456789012:parameter/palisade".into(),
        )),
        ..ProtectOptions::default()
    }
}

fn bench(c: &mut Criterion) {
    // 9 workloads: with the defender the result has 10 containers, the service's limit. The
    // second case grows the environment until the (compact) input is just under 60 KiB, so the
    // protected result still fits ECS's 64 KiB.
    let env_for_60_kib = (1..)
        .take_while(|&n| serde_json::to_string(&task(9, n)).unwrap().len() < 60 * 1024)
        .last()
        .unwrap();
    let cases = [
        ("10-containers", to_pretty(&task(9, 8))),
        (
            "60KiB",
            serde_json::to_string(&task(9, env_for_60_kib)).unwrap(),
        ),
    ];
    let mut group = c.benchmark_group("protect");
    for (name, text) in cases {
        group.throughput(Throughput::Bytes(text.len() as u64));
        let options = options();
        if let Err(rejected) = protect_text(&text, &options) {
            panic!("{name} must protect: {rejected}");
        }
        group.bench_with_input(
            BenchmarkId::new("serde_json parse+serialize (floor)", name),
            &text,
            |b, text| {
                b.iter(|| {
                    let value: Value = serde_json::from_str(text).unwrap();
                    serde_json::to_string_pretty(&value).unwrap()
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("normalize+validate+protect", name),
            &text,
            |b, text| {
                b.iter(|| {
                    let protected = protect_text(text, &options).unwrap();
                    to_pretty(&protected.output)
                })
            },
        );
        eprintln!("{name}: {} bytes", text.len());
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
