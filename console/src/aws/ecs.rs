//! ECS through aws-sdk-ecs: the SDK signs, retries and answers with typed errors, but the body of
//! RegisterTaskDefinition is the JSON the user approved, so no field is lost to an SDK that cannot
//! model it, and describe answers are kept as the raw JSON ECS sent.

use super::{explain, Service};
use crate::error::{Error, Result, Upstream, UpstreamFailure};
use aws_sdk_ecs::types::{ContainerDefinition, TaskDefinitionField};
use aws_sdk_ecs::Client;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// A registered revision.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Registered {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    /// The region it was registered in, for the AWS console link.
    pub region: Option<String>,
}

/// The AWS console page of a task definition revision.
pub fn console_link(region: &str, family: &str, revision: i64) -> String {
    format!("https://{region}.console.aws.amazon.com/ecs/v2/task-definitions/{family}/{revision}/containers?region={region}")
}

fn answered_oddly(what: String) -> Error {
    Error::Upstream(Upstream {
        failure: UpstreamFailure::Refused,
        message: format!("ECS call failed: {what}"),
    })
}

/// Registers `task` (RegisterTaskDefinition input) exactly as given: the SDK builds and signs the
/// call, but the body it sends is `task`'s JSON, so fields the SDK version cannot model reach ECS.
#[tracing::instrument(skip_all)]
pub async fn register(client: &Client, task: &Map<String, Value>) -> Result<Registered> {
    let family = task
        .get("family")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid("the task definition has no family"))?
        .to_owned();
    let body = serde_json::to_vec(task).map_err(|error| {
        Error::invalid(format!("the task definition cannot be serialized: {error}"))
    })?;
    let output = client
        .register_task_definition()
        .family(&family)
        // Required by the SDK's builder; the body below replaces what it would serialize.
        .container_definitions(ContainerDefinition::builder().build())
        .customize()
        .mutate_request(move |request| {
            // Runs before signing, so the signature covers the body that is sent.
            request
                .headers_mut()
                .insert("content-length", body.len().to_string());
            *request.body_mut() = SdkBody::from(body.clone());
        })
        .send()
        .await
        .map_err(|error| explain(Service::Ecs, error))?;
    let registered = output
        .task_definition()
        .ok_or_else(|| answered_oddly("ECS answered without a task definition".into()))?;
    Ok(Registered {
        arn: registered
            .task_definition_arn()
            .ok_or_else(|| answered_oddly("ECS answered without the new revision's ARN".into()))?
            .to_owned(),
        family: registered.family().unwrap_or(&family).to_owned(),
        revision: registered.revision(),
        region: client.config().region().map(ToString::to_string),
    })
}

/// Keeps the raw body of the response an operation received (the SDK's types have no serde).
#[derive(Clone, Debug, Default)]
struct CaptureResponseBody(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for CaptureResponseBody {
    fn name(&self) -> &'static str {
        "CaptureResponseBody"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(bytes) = context
            .response()
            .and_then(|response| response.body().bytes())
        {
            *super::lock(&self.0) = Some(bytes.to_vec());
        }
        Ok(())
    }
}

impl CaptureResponseBody {
    fn json(&self) -> Result<Value> {
        let bytes = super::lock(&self.0)
            .take()
            .ok_or_else(|| answered_oddly("the response body was not captured".into()))?;
        serde_json::from_slice(&bytes).map_err(|error| {
            answered_oddly(format!(
                "ECS answered with JSON that does not parse: {error}"
            ))
        })
    }
}

/// DescribeTaskDefinition (with tags) of `FAMILY`, `FAMILY:REVISION` or an ARN, as the raw JSON
/// ECS answered: `{"taskDefinition": {...}, "tags": [...]}`, what `aws ecs describe-task-definition` prints.
#[tracing::instrument(skip(client))]
pub async fn describe(client: &Client, task_definition: &str) -> Result<Value> {
    let capture = CaptureResponseBody::default();
    client
        .describe_task_definition()
        .task_definition(task_definition)
        .include(TaskDefinitionField::Tags)
        .customize()
        .interceptor(capture.clone())
        .send()
        .await
        .map_err(|error| explain(Service::Ecs, error))?;
    capture.json()
}

/// DescribeTasks of `tasks` (at most 100) in `cluster`, as the raw JSON ECS answered
/// (`{"tasks": [...], "failures": [...]}`): coverage reads only ARNs and groups, and an answer the
/// SDK's model cannot hold (ECS-compatible endpoints send a container's `cpu` as a number) still
/// serves.
#[tracing::instrument(skip(client, tasks), fields(tasks = tasks.len()))]
pub async fn describe_tasks(client: &Client, cluster: &str, tasks: &[String]) -> Result<Value> {
    let capture = CaptureResponseBody::default();
    let sent = client
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(tasks.to_vec()))
        .customize()
        .interceptor(capture.clone())
        .send()
        .await;
    match sent {
        Ok(_) => capture.json(),
        // Answered, but not in the SDK's shape: the JSON itself is what is read.
        Err(aws_sdk_ecs::error::SdkError::ResponseError(_)) => capture.json(),
        Err(error) => Err(explain(Service::Ecs, error).into()),
    }
}

/// Task definition families with an ACTIVE revision, sorted.
#[tracing::instrument(skip_all)]
pub async fn list_families(client: &Client) -> Result<Vec<String>> {
    let mut families = Vec::new();
    let mut pages = client
        .list_task_definition_families()
        .status(aws_sdk_ecs::types::TaskDefinitionFamilyStatus::Active)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| explain(Service::Ecs, error))?;
        families.extend(page.families().iter().cloned());
    }
    families.sort();
    Ok(families)
}

/// The revisions (ARNs) of one family, newest first.
#[tracing::instrument(skip(client))]
pub async fn list_revisions(client: &Client, family: &str) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut pages = client
        .list_task_definitions()
        .family_prefix(family)
        .sort(aws_sdk_ecs::types::SortOrder::Desc)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| explain(Service::Ecs, error))?;
        arns.extend(page.task_definition_arns().iter().cloned());
    }
    Ok(arns)
}
