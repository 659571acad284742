//! Coverage: for every ECS service in the account's clusters (the console's AWS settings), the
//! task definition revision it runs, whether that revision is protected, and how many of its
//! running tasks have a defender connected now. ListClusters, ListServices, DescribeServices,
//! ListTasks, DescribeTasks (a task's `group` is `service:NAME` when a service started it; read
//! as raw JSON) and
//! DescribeTaskDefinition, bounded in count; the answer is kept 30 s so a dashboard full of
//! viewers does not turn into an ECS bill.

use crate::aws::{explain, Service};
use crate::error::{Context, Result};
use crate::Console;
use aws_sdk_ecs::Client;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Clusters and services looked at, at most (an account past this is cut, and says so).
pub const MAX_CLUSTERS: usize = 100;
pub const MAX_SERVICES: usize = 2000;
/// Running tasks looked at, at most.
pub const MAX_TASKS: usize = 20_000;
/// How long an answer is reused.
pub const FRESH_FOR: Duration = Duration::from_secs(30);
/// How old an answer may be when someone asks for a fresh one (bounds ECS calls all the same).
pub const REFRESH_AFTER: Duration = Duration::from_secs(3);

/// One service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ServiceCoverage {
    /// The cluster's name.
    pub cluster: String,
    pub service: String,
    /// The task definition revision the service runs: `family:revision`.
    pub task_definition: String,
    /// Whether that revision carries a Palisade protection; `None` when it could not be read.
    pub protected: Option<bool>,
    pub desired: i32,
    /// Its tasks running now, and how many of them have a connected defender.
    pub running: i64,
    pub with_defender: i64,
}

/// The whole picture.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Coverage {
    /// Unprotected services first, then by cluster and name.
    pub services: Vec<ServiceCoverage>,
    /// When it was read (Unix ms).
    pub read_at_ms: i64,
    /// What was left out (more clusters, services or tasks than the bounds).
    pub notes: Vec<String>,
}

/// The last answer and when it was read.
#[derive(Default)]
pub(crate) struct CoverageCache(Mutex<Option<(Instant, Coverage)>>);

/// What an ARN names, after its last `/`: a cluster's name (`arn:...:cluster/prod`), a task
/// definition's `family:revision` (`arn:...:task-definition/web:12`).
fn name_of(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_owned()
}

impl Console {
    /// Coverage of the account's services, read at most every [`FRESH_FOR`].
    pub async fn coverage(&self) -> Result<Coverage> {
        self.coverage_within(FRESH_FOR).await
    }

    /// Coverage read from ECS unless the last answer is younger than `max_age` (a person's
    /// "Refresh" asks for [`REFRESH_AFTER`]).
    pub async fn coverage_within(&self, max_age: Duration) -> Result<Coverage> {
        if let Some((at, coverage)) = crate::lock(&self.coverage.0).as_ref() {
            if at.elapsed() < max_age {
                return Ok(coverage.clone());
            }
        }
        let client = self.ecs().await?;
        let coverage = read(&client, &self.db).await?;
        *crate::lock(&self.coverage.0) = Some((Instant::now(), coverage.clone()));
        Ok(coverage)
    }
}

fn ecs_failed<E, R>(error: aws_sdk_ecs::error::SdkError<E, R>) -> crate::Error
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    crate::Error::Upstream(explain(Service::Ecs, error))
}

async fn read(client: &Client, db: &sqlx::SqlitePool) -> Result<Coverage> {
    let mut notes = Vec::new();
    let clusters = cluster_arns(client, &mut notes).await?;
    let mut found = Found::default();
    for cluster in &clusters {
        found.read_cluster(client, cluster, &mut notes).await?;
    }
    let Found {
        mut services,
        task_service,
        task_family,
    } = found;
    if services.len() >= MAX_SERVICES {
        notes.push(format!("only the first {MAX_SERVICES} services are shown"));
    }
    let protected = protected_revisions(client, &services).await;
    let connected = connected_tasks(db, &task_service, &task_family).await?;
    count_and_mark(&mut services, &task_service, &connected, &protected);
    sort_unprotected_first(&mut services);
    if clusters.is_empty() {
        notes.push("no ECS cluster in this account and region".into());
    }
    Ok(Coverage {
        services,
        read_at_ms: crate::clock::now_ms(),
        notes,
    })
}

/// The account's clusters, at most [`MAX_CLUSTERS`] (a note says when there were more).
async fn cluster_arns(client: &Client, notes: &mut Vec<String>) -> Result<Vec<String>> {
    let mut clusters = Vec::new();
    let mut pages = client.list_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        clusters.extend(page.map_err(ecs_failed)?.cluster_arns().iter().cloned());
        if clusters.len() >= MAX_CLUSTERS {
            clusters.truncate(MAX_CLUSTERS);
            notes.push(format!("only the first {MAX_CLUSTERS} clusters are shown"));
            break;
        }
    }
    Ok(clusters)
}

/// The clusters' services and running tasks, as read so far.
#[derive(Default)]
struct Found {
    services: Vec<ServiceCoverage>,
    // Task ARN -> (cluster, service name) of running tasks that a service started, and the family
    // each runs (a defender counts for a task only when it speaks for that task's family).
    task_service: HashMap<String, (String, String)>,
    task_family: HashMap<String, String>,
}

impl Found {
    /// One cluster's services, then its running tasks.
    async fn read_cluster(
        &mut self,
        client: &Client,
        cluster: &str,
        notes: &mut Vec<String>,
    ) -> Result<()> {
        let cluster_name = name_of(cluster);
        let arns = service_arns(client, cluster).await?;
        self.describe_services(client, cluster, &cluster_name, &arns)
            .await?;
        let tasks = self.running_tasks(client, cluster, notes).await?;
        self.describe_tasks(client, cluster, &cluster_name, &tasks)
            .await
    }

    /// The services `arns` names, ten per call, until there are [`MAX_SERVICES`].
    async fn describe_services(
        &mut self,
        client: &Client,
        cluster: &str,
        cluster_name: &str,
        arns: &[String],
    ) -> Result<()> {
        for chunk in arns.chunks(10) {
            if self.services.len() >= MAX_SERVICES {
                break;
            }
            let described = client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(ecs_failed)?;
            for service in described.services() {
                self.services.push(ServiceCoverage {
                    cluster: cluster_name.to_owned(),
                    service: service.service_name().unwrap_or_default().to_owned(),
                    task_definition: service.task_definition().unwrap_or_default().to_owned(),
                    protected: None,
                    desired: service.desired_count(),
                    running: 0,
                    with_defender: 0,
                });
            }
        }
        Ok(())
    }

    /// The cluster's running tasks, until [`MAX_TASKS`] are counted in all (a note says so).
    async fn running_tasks(
        &self,
        client: &Client,
        cluster: &str,
        notes: &mut Vec<String>,
    ) -> Result<Vec<String>> {
        let mut tasks = Vec::new();
        let mut pages = client
            .list_tasks()
            .cluster(cluster)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            tasks.extend(page.map_err(ecs_failed)?.task_arns().iter().cloned());
            if self.task_service.len() + tasks.len() >= MAX_TASKS {
                notes.push(format!(
                    "only the first {MAX_TASKS} running tasks are counted"
                ));
                break;
            }
        }
        Ok(tasks)
    }

    /// Which service started each of `tasks`, and the family it runs (a hundred per call).
    async fn describe_tasks(
        &mut self,
        client: &Client,
        cluster: &str,
        cluster_name: &str,
        tasks: &[String],
    ) -> Result<()> {
        for chunk in tasks.chunks(100) {
            let described = crate::aws::ecs::describe_tasks(client, cluster, chunk).await?;
            for task in described["tasks"].as_array().into_iter().flatten() {
                let (Some(arn), Some(service)) = (
                    task["taskArn"].as_str(),
                    task["group"]
                        .as_str()
                        .and_then(|group| group.strip_prefix("service:")),
                ) else {
                    continue;
                };
                self.task_service.insert(
                    arn.to_owned(),
                    (cluster_name.to_owned(), service.to_owned()),
                );
                if let Some(family) = task["taskDefinitionArn"]
                    .as_str()
                    .map(name_of)
                    .and_then(|name| name.split(':').next().map(str::to_owned))
                {
                    self.task_family.insert(arn.to_owned(), family);
                }
            }
        }
        Ok(())
    }
}

/// Every service ARN of `cluster`.
async fn service_arns(client: &Client, cluster: &str) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut pages = client
        .list_services()
        .cluster(cluster)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        arns.extend(page.map_err(ecs_failed)?.service_arns().iter().cloned());
    }
    Ok(arns)
}

/// Which revisions are protected: each distinct one described once (`None` when it could not be
/// read).
async fn protected_revisions(
    client: &Client,
    services: &[ServiceCoverage],
) -> BTreeMap<String, Option<bool>> {
    let mut protected: BTreeMap<String, Option<bool>> = services
        .iter()
        .map(|service| (service.task_definition.clone(), None))
        .collect();
    for (arn, verdict) in protected.iter_mut() {
        match crate::aws::ecs::describe(client, arn).await {
            Ok(described) => {
                *verdict = described
                    .get("taskDefinition")
                    .and_then(serde_json::Value::as_object)
                    .map(palisade_taskdef::protect::is_protected);
            }
            Err(error) => {
                tracing::warn!(task_definition = %arn, error = %error, "describing a service's task definition failed");
            }
        }
    }
    protected
}

/// Which running tasks have a defender connected now.
async fn connected_tasks(
    db: &sqlx::SqlitePool,
    task_service: &HashMap<String, (String, String)>,
    task_family: &HashMap<String, String>,
) -> Result<HashSet<String>> {
    let arns: Vec<&String> = task_service.keys().collect();
    let arns_json = serde_json::to_string(&arns).context("reading coverage")?;
    let connected = sqlx::query!(
        r#"SELECT task_arn AS "task_arn!", family AS "family!" FROM defenders
           WHERE disconnected_at IS NULL AND task_arn IN (SELECT value FROM json_each(?))"#,
        arns_json
    )
    .fetch_all(db)
    .await
    .context("reading coverage")?;
    // A defender of another family naming a task's ARN does not make that task protected.
    Ok(connected
        .into_iter()
        .filter(|row| task_family.get(&row.task_arn) == Some(&row.family))
        .map(|row| row.task_arn)
        .collect())
}

/// Each service's running tasks and those with a defender counted, its revision's verdict set,
/// and the revision named `family:revision`.
fn count_and_mark(
    services: &mut [ServiceCoverage],
    task_service: &HashMap<String, (String, String)>,
    connected: &HashSet<String>,
    protected: &BTreeMap<String, Option<bool>>,
) {
    let mut counts: HashMap<(String, String), (i64, i64)> = HashMap::new();
    for (arn, key) in task_service {
        let entry = counts.entry(key.clone()).or_default();
        entry.0 += 1;
        if connected.contains(arn) {
            entry.1 += 1;
        }
    }
    for service in services {
        if let Some((running, with_defender)) =
            counts.get(&(service.cluster.clone(), service.service.clone()))
        {
            service.running = *running;
            service.with_defender = *with_defender;
        }
        service.protected = protected.get(&service.task_definition).copied().flatten();
        service.task_definition = name_of(&service.task_definition);
    }
}

/// Unprotected first (unknown next), then the rest; by cluster and name within each.
fn sort_unprotected_first(services: &mut [ServiceCoverage]) {
    services.sort_by(|a, b| {
        let rank = |s: &ServiceCoverage| match s.protected {
            Some(false) => 0,
            None => 1,
            Some(true) => 2,
        };
        (rank(a), &a.cluster, &a.service).cmp(&(rank(b), &b.cluster, &b.service))
    });
}
