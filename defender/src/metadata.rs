//! The task's identity from the ECS task metadata endpoint v4 (`$ECS_CONTAINER_METADATA_URI_V4/task`).

use palisade_protocol::{ContainerIdentity, TaskIdentity};
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TaskMetadata {
    #[serde(rename = "TaskARN", default)]
    task_arn: String,
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    family: String,
    #[serde(default)]
    revision: String,
    #[serde(default)]
    availability_zone: String,
    #[serde(default)]
    launch_type: String,
    #[serde(default)]
    containers: Vec<ContainerMetadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerMetadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    docker_id: String,
}

/// Reads the task metadata once.
pub fn fetch(uri: &str) -> Result<TaskIdentity, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let url = format!("{}/task", uri.trim_end_matches('/'));
    let task: TaskMetadata = agent
        .get(&url)
        .call()
        .map_err(|error| format!("{url}: {error}"))?
        .body_mut()
        .read_json()
        .map_err(|error| format!("{url}: not task metadata: {error}"))?;
    Ok(TaskIdentity {
        task_arn: task.task_arn,
        cluster: task.cluster,
        family: task.family,
        revision: task.revision,
        availability_zone: task.availability_zone,
        launch_type: task.launch_type,
        containers: task
            .containers
            .into_iter()
            .map(|c| ContainerIdentity {
                name: c.name,
                image: c.image,
                docker_id: c.docker_id,
            })
            .collect(),
    })
}
