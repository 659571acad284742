//! Defender tokens kept in AWS Secrets Manager, so a task definition carries the secret's ARN
//! (`secrets[].valueFrom`) instead of the token: one secret per family, named
//! `palisade/defender-token/<family>`, its value replaced when a new token is made for the family.
//! Region and profile are the console's AWS settings (where the task is registered);
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER` points the calls elsewhere.

use super::{explain, Aws, Service};
use crate::error::{Upstream, UpstreamFailure};
use crate::settings::AwsSettings;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;

/// The secret that holds `family`'s defender token.
pub fn secret_name(family: &str) -> String {
    format!("palisade/defender-token/{family}")
}

/// Stores `token` as `family`'s secret (created, or given a new value when it exists) and
/// answers its ARN.
#[tracing::instrument(skip(aws, settings, token))]
pub async fn store_token(
    aws: &Aws,
    settings: &AwsSettings,
    family: &str,
    token: &str,
) -> Result<String, Upstream> {
    let config = aws.config(&settings.without_ecs_endpoint()).await?;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let name = secret_name(family);
    let created = client
        .create_secret()
        .name(&name)
        .description(format!(
            "Palisade defender token of task family {family} (PALISADE_TOKEN)"
        ))
        .secret_string(token)
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("palisade:family")
                .value(family)
                .build(),
        )
        .send()
        .await;
    let arn = match created {
        Ok(created) => created.arn().map(str::to_owned),
        Err(error) if error.code() == Some("ResourceExistsException") => client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(token)
            .send()
            .await
            .map_err(|error| explain(Service::SecretsManager, error))?
            .arn()
            .map(str::to_owned),
        Err(error) => return Err(explain(Service::SecretsManager, error)),
    };
    arn.ok_or_else(|| Upstream {
        failure: UpstreamFailure::Refused,
        message: format!("Secrets Manager did not answer the ARN of {name}"),
    })
}
