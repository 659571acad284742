//! Resolving missing entrypoints for a task with one image and with ten, against a real registry
//! on loopback (`docker-registry`) behind a proxy that delays every request by a fixed round
//! trip, as a registry across the internet would. The lookups of one task run at once, so ten
//! images should cost about what one does; "ten, one after another" is what they would cost
//! without that. No cache (no database): every iteration asks the registry.

use criterion::{criterion_group, criterion_main, Criterion};
use palisade_console::aws::Aws;
use palisade_console::images::Images;
use palisade_taskdef::ProtectOptions;
use palisade_test_support::registry;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The round trip added to every request the registry receives.
const ROUND_TRIP: Duration = Duration::from_millis(40);

/// Forwards loopback connections to `upstream`, holding each chunk the client sends for
/// `ROUND_TRIP` (one chunk per HTTP request here); answers flow back undelayed.
async fn delaying_proxy(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let mut buffer = vec![0; 64 * 1024];
                    while let Ok(n @ 1..) = client_read.read(&mut buffer).await {
                        tokio::time::sleep(ROUND_TRIP).await;
                        if server_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
            });
        }
    });
    address
}

fn task_with(images: &[String]) -> String {
    let containers: Vec<_> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image, "memory": 64}))
        .collect();
    json!({"family": "bench", "containerDefinitions": containers}).to_string()
}

fn resolving(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry::Registry::start(dir.path());
    registry.push(dir.path(), "bench/app", "0", "amd64", &["/app"], &["serve"]);
    for tag in 1..10 {
        registry.tag("bench/app", "0", &tag.to_string());
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let proxy = runtime.block_on(delaying_proxy(registry.host.clone()));
    let images: Vec<String> = (0..10)
        .map(|tag| format!("{proxy}/bench/app:{tag}"))
        .collect();

    let aws = Aws::default();
    let lookups = Images::without_database(&aws);
    let resolve_task = |images: &[String]| {
        let text = task_with(images);
        runtime.block_on(async {
            let mut options = ProtectOptions::default();
            let resolutions = lookups.resolve_missing(&text, &mut options).await.unwrap();
            assert_eq!(resolutions.len(), images.len());
            assert!(
                resolutions.iter().all(|r| r.result.is_ok()),
                "{resolutions:?}"
            );
        })
    };
    let mut group = c.benchmark_group(format!(
        "resolve (registry round trip {} ms)",
        ROUND_TRIP.as_millis()
    ));
    group.sample_size(10);
    group.bench_function("a task with 1 image", |b| {
        b.iter(|| resolve_task(&images[..1]))
    });
    group.bench_function("a task with 10 images", |b| {
        b.iter(|| resolve_task(&images))
    });
    group.bench_function("10 images, one after another", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for image in &images {
                    lookups
                        .resolve(image, "linux/amd64")
                        .await
                        .unwrap()
                        .unwrap();
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, resolving);
criterion_main!(benches);
