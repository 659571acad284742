//! ECS through aws-sdk-ecs: the standard credential chain (environment, profile, SSO, container and
//! instance roles), region, endpoint, retries with backoff and signing come from the SDK; the
//! request body of RegisterTaskDefinition is replaced by the JSON the user approved, so no field is
//! lost to an SDK that cannot model it, and describe answers are kept as the raw JSON ECS sent.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::{ContainerDefinition, TaskDefinitionField};
use aws_sdk_ecs::Client;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// Where and as whom to reach ECS; unset fields fall back to the SDK's standard chain
/// (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL_ECS`, ...).
#[derive(Clone, Debug, Default)]
pub struct EcsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

/// What went wrong talking to ECS, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum EcsError {
    #[error("no AWS credentials were found: {0} (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run `aws sso login`, or run with a task or instance role)")]
    NoCredentials(String),
    #[error("ECS refused the request: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("the ECS endpoint could not be reached: {0} (check the region, --endpoint-url and the network)")]
    Unreachable(String),
    #[error("no region is set: set it in Settings, give --region, or set AWS_REGION")]
    NoRegion,
    #[error("{0}")]
    Invalid(String),
    #[error("ECS call failed: {0}")]
    Other(String),
}

impl EcsError {
    fn from_sdk<E, R>(error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let detail = error_chain(&error);
        match &error {
            SdkError::ServiceError(service) => {
                let inner = service.err();
                EcsError::Refused {
                    code: inner.code().unwrap_or("Unknown").to_owned(),
                    message: inner.message().unwrap_or(&detail).to_owned(),
                }
            }
            SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
                EcsError::Unreachable(detail)
            }
            _ if detail.contains("credentials") || detail.contains("Credentials") => {
                EcsError::NoCredentials(detail)
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                EcsError::Unreachable(detail)
            }
            _ => EcsError::Other(detail),
        }
    }
}

/// An AWS call of another service the console uses (ECR, Secrets Manager) that failed, in the
/// words of [`EcsError`] with that service's name and the variable that moves its endpoint.
pub fn explain_other_service<E, R>(
    error: SdkError<E, R>,
    service: &str,
    endpoint_variable: &str,
) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match EcsError::from_sdk(error) {
        EcsError::Refused { code, message } => format!("{service} refused: {code}: {message}"),
        EcsError::Unreachable(detail) => format!(
            "the {service} endpoint could not be reached: {detail} (check the region, {endpoint_variable} and the network)"
        ),
        other => other.to_string(),
    }
}

/// An error and its sources, `: `-joined (the SDK's own rendering appends a page of Debug output).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// How many times one ECS call is tried when throttled or cut off.
pub const RETRY_ATTEMPTS: u32 = 4;

/// A client configured from `settings` and the standard chain.
pub async fn client(settings: &EcsSettings) -> Result<Client, EcsError> {
    Ok(Client::new(&sdk_config(settings).await?))
}

/// The AWS configuration every console call shares (ECS, and ECR for registry logins): `settings`
/// over the standard chain, standard retries, timeouts. Fails without a region.
pub async fn sdk_config(settings: &EcsSettings) -> Result<aws_config::SdkConfig, EcsError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    // Throttling and transient failures are retried with exponential backoff and jitter (the
    // SDK's standard mode); an endpoint that does not answer fails in seconds, not minutes.
    loader = loader
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(RETRY_ATTEMPTS))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .operation_attempt_timeout(std::time::Duration::from_secs(20))
                .operation_timeout(std::time::Duration::from_secs(60))
                .build(),
        );
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(EcsError::NoRegion);
    }
    Ok(config)
}

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

/// Registers `task` (RegisterTaskDefinition input) exactly as given: the SDK builds and signs the
/// call, but the body it sends is `task`'s JSON, so fields the SDK version cannot model reach ECS.
pub async fn register(client: &Client, task: &Map<String, Value>) -> Result<Registered, EcsError> {
    let family = task
        .get("family")
        .and_then(Value::as_str)
        .ok_or_else(|| EcsError::Invalid("the task definition has no family".into()))?
        .to_owned();
    let body = bytes_of(task)?;
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
        .map_err(EcsError::from_sdk)?;
    let registered = output
        .task_definition()
        .ok_or_else(|| EcsError::Other("ECS answered without a task definition".into()))?;
    Ok(Registered {
        arn: registered
            .task_definition_arn()
            .unwrap_or_default()
            .to_owned(),
        family: registered.family().unwrap_or(&family).to_owned(),
        revision: registered.revision(),
        region: client.config().region().map(|region| region.to_string()),
    })
}

fn bytes_of(task: &Map<String, Value>) -> Result<Vec<u8>, EcsError> {
    serde_json::to_vec(task).map_err(|error| {
        EcsError::Invalid(format!("the task definition cannot be serialized: {error}"))
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
            if let Ok(mut slot) = self.0.lock() {
                *slot = Some(bytes.to_vec());
            }
        }
        Ok(())
    }
}

impl CaptureResponseBody {
    fn json(&self) -> Result<Value, EcsError> {
        let bytes = self
            .0
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .ok_or_else(|| EcsError::Other("the response body was not captured".into()))?;
        serde_json::from_slice(&bytes).map_err(|error| {
            EcsError::Other(format!(
                "ECS answered with JSON that does not parse: {error}"
            ))
        })
    }
}

/// DescribeTaskDefinition (with tags) of `FAMILY`, `FAMILY:REVISION` or an ARN, as the raw JSON
/// ECS answered: `{"taskDefinition": {...}, "tags": [...]}`, what `aws ecs describe-task-definition` prints.
pub async fn describe(client: &Client, task_definition: &str) -> Result<Value, EcsError> {
    let capture = CaptureResponseBody::default();
    client
        .describe_task_definition()
        .task_definition(task_definition)
        .include(TaskDefinitionField::Tags)
        .customize()
        .interceptor(capture.clone())
        .send()
        .await
        .map_err(EcsError::from_sdk)?;
    capture.json()
}

/// Task definition families with an ACTIVE revision, sorted.
pub async fn list_families(client: &Client) -> Result<Vec<String>, EcsError> {
    let mut families = Vec::new();
    let mut pages = client
        .list_task_definition_families()
        .status(aws_sdk_ecs::types::TaskDefinitionFamilyStatus::Active)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        families.extend(page.map_err(EcsError::from_sdk)?.families().iter().cloned());
    }
    families.sort();
    Ok(families)
}

/// The revisions (ARNs) of one family, newest first.
pub async fn list_revisions(client: &Client, family: &str) -> Result<Vec<String>, EcsError> {
    let mut arns = Vec::new();
    let mut pages = client
        .list_task_definitions()
        .family_prefix(family)
        .sort(aws_sdk_ecs::types::SortOrder::Desc)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        arns.extend(
            page.map_err(EcsError::from_sdk)?
                .task_definition_arns()
                .iter()
                .cloned(),
        );
    }
    Ok(arns)
}
