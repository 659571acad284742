//! AWS as the console uses it: one SDK configuration per distinct [`AwsSettings`], loaded once and
//! reused (credentials chain, region, retries, timeouts), the clients built from it, and AWS
//! failures turned into [`Upstream`] errors in words a user can act on.

pub mod ecr;
pub mod ecs;
pub mod secrets;

use crate::error::{Upstream, UpstreamFailure};
use crate::settings::AwsSettings;
use crate::text::error_chain;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How many times one AWS call is tried when throttled or cut off.
pub const RETRY_ATTEMPTS: u32 = 4;

/// At most this many configurations are kept; past it the cache starts again (settings change
/// rarely, so this only bounds a pathological caller).
const MAX_CONFIGS: usize = 32;

/// The console's AWS access: SDK configurations by settings, and ECR logins by region.
#[derive(Default)]
pub struct Aws {
    configs: Mutex<HashMap<AwsSettings, SdkConfig>>,
    pub(crate) ecr_logins: ecr::Logins,
}

impl Aws {
    /// The SDK configuration for `settings` over the standard chain, loaded on first use.
    pub async fn config(&self, settings: &AwsSettings) -> Result<SdkConfig, Upstream> {
        if let Some(config) = lock(&self.configs).get(settings) {
            return Ok(config.clone());
        }
        let config = load(settings).await?;
        let mut configs = lock(&self.configs);
        if configs.len() >= MAX_CONFIGS {
            configs.clear();
        }
        configs.insert(settings.clone(), config.clone());
        Ok(config)
    }

    /// An ECS client for `settings` (its endpoint setting included).
    pub async fn ecs(&self, settings: &AwsSettings) -> Result<aws_sdk_ecs::Client, Upstream> {
        Ok(aws_sdk_ecs::Client::new(&self.config(settings).await?))
    }
}

pub(crate) use crate::lock;

/// `settings` over the standard chain, standard retries, timeouts. Fails without a region.
async fn load(settings: &AwsSettings) -> Result<SdkConfig, Upstream> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &settings.ecs_endpoint_url {
        loader = loader.endpoint_url(url);
    }
    // Throttling and transient failures are retried with exponential backoff and jitter (the
    // SDK's standard mode); an endpoint that does not answer fails in seconds, not minutes.
    loader = loader
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(RETRY_ATTEMPTS))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        );
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(Upstream {
            failure: UpstreamFailure::NotConfigured,
            message: "no region is set: set it in Settings, give --region, or set AWS_REGION"
                .into(),
        });
    }
    Ok(config)
}

/// The AWS services the console calls, for their names in messages and the variable that moves
/// each one's endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Ecs,
    Ecr,
    SecretsManager,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Ecs => "ECS",
            Service::Ecr => "ECR",
            Service::SecretsManager => "Secrets Manager",
        }
    }

    /// What moves the endpoint, for "check ..." hints.
    fn endpoint_setting(self) -> &'static str {
        match self {
            Service::Ecs => "AWS_ENDPOINT_URL_ECS",
            Service::Ecr => "AWS_ENDPOINT_URL_ECR",
            Service::SecretsManager => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        }
    }
}

/// A failed SDK call of `service`, in words a user can act on.
pub fn explain<E, R>(service: Service, error: SdkError<E, R>) -> Upstream
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let detail = error_chain(&error);
    let name = service.name();
    let refused = |code: &str, message: &str| Upstream {
        failure: UpstreamFailure::Refused,
        message: match service {
            Service::Ecs => format!("ECS refused the request: {code}: {message}"),
            _ => format!("{name} refused: {code}: {message}"),
        },
    };
    let unreachable = |detail: String| {
        Upstream {
        failure: UpstreamFailure::Unreachable,
        message: format!(
            "the {name} endpoint could not be reached: {detail} (check the region, {} and the network)",
            service.endpoint_setting()
        ),
    }
    };
    match &error {
        SdkError::ServiceError(answer) => {
            let inner = answer.err();
            refused(
                inner.code().unwrap_or("Unknown"),
                inner.message().unwrap_or(&detail),
            )
        }
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
            unreachable(detail)
        }
        _ if detail.contains("credentials") || detail.contains("Credentials") => Upstream {
            failure: UpstreamFailure::NotConfigured,
            message: format!("no AWS credentials were found: {detail} (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run `aws sso login`, or run with a task or instance role)"),
        },
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => unreachable(detail),
        _ => Upstream {
            failure: UpstreamFailure::Refused,
            message: format!("{name} call failed: {detail}"),
        },
    }
}
