//! Private ECR registries: credentials from GetAuthorizationToken with the standard AWS chain (and
//! the console's AWS profile), in the registry's region, kept until shortly before they expire
//! (ECR's logins last 12 hours). `AWS_ENDPOINT_URL_ECR` points the calls elsewhere.

use super::{explain, lock, Aws, Service};
use crate::error::{Upstream, UpstreamFailure};
use crate::settings::AwsSettings;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The region of a private ECR registry host such as
/// `123456789012.dkr.ecr.us-east-1.amazonaws.com` (also `dkr.ecr-fips` and `amazonaws.com.cn`).
pub fn region_of(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    let [account, "dkr", "ecr" | "ecr-fips", region, "amazonaws", "com", rest @ ..] =
        labels.as_slice()
    else {
        return None;
    };
    let is_account = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
    (is_account && !region.is_empty() && matches!(rest, [] | ["cn"])).then(|| (*region).to_owned())
}

/// A login is renewed this long before ECR says it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(10 * 60);

/// A registry user name and password, and when ECR stops accepting them.
#[derive(Clone)]
struct Login {
    user: String,
    password: String,
    expires: SystemTime,
}

/// Logins by (profile, region): one token opens every registry the AWS principal may read there.
#[derive(Default)]
pub(crate) struct Logins(Mutex<HashMap<(Option<String>, String), Login>>);

impl Aws {
    /// (user, password) for the ECR registries of `region`, as the principal of `profile`.
    pub async fn ecr_login(
        &self,
        profile: Option<String>,
        region: &str,
    ) -> Result<(String, String), Upstream> {
        let key = (profile.clone(), region.to_owned());
        if let Some(login) = lock(&self.ecr_logins.0).get(&key) {
            if SystemTime::now() + RENEW_BEFORE < login.expires {
                return Ok((login.user.clone(), login.password.clone()));
            }
        }
        let settings = AwsSettings {
            region: Some(region.to_owned()),
            profile,
            ecs_endpoint_url: None,
        };
        let config = self.config(&settings).await?;
        let answer = aws_sdk_ecr::Client::new(&config)
            .get_authorization_token()
            .send()
            .await
            .map_err(|error| explain(Service::Ecr, error))?;
        let odd = |what: &str| Upstream {
            failure: UpstreamFailure::Refused,
            message: format!("ECR {what}"),
        };
        let data = answer
            .authorization_data()
            .first()
            .ok_or_else(|| odd("answered without authorization data"))?;
        let token = data
            .authorization_token()
            .ok_or_else(|| odd("answered without a token"))?;
        let decoded = aws_smithy_types::base64::decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| odd("answered a token that is not base64 text"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| odd("answered a token that is not user:password"))?;
        let login = Login {
            user: user.to_owned(),
            password: password.to_owned(),
            // Without an expiry the login is used for this lookup only: the next one logs in again.
            expires: data
                .expires_at()
                .and_then(|at| SystemTime::try_from(*at).ok())
                .unwrap_or_else(SystemTime::now),
        };
        lock(&self.ecr_logins.0).insert(key, login);
        Ok((user.to_owned(), password.to_owned()))
    }
}

impl Aws {
    /// The host of the account's private registry where `settings` point (GetAuthorizationToken's
    /// proxy endpoint: `<account>.dkr.ecr.<region>.amazonaws.com`), the default home of the
    /// defender image.
    pub async fn ecr_registry_host(&self, settings: &AwsSettings) -> Result<String, Upstream> {
        let config = self.config(settings).await?;
        let answer = aws_sdk_ecr::Client::new(&config)
            .get_authorization_token()
            .send()
            .await
            .map_err(|error| explain(Service::Ecr, error))?;
        let endpoint = answer
            .authorization_data()
            .first()
            .and_then(|data| data.proxy_endpoint())
            .unwrap_or_default();
        url::Url::parse(endpoint)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .filter(|host| region_of(host).is_some())
            .ok_or_else(|| Upstream {
                failure: UpstreamFailure::Refused,
                message: format!(
                    "ECR answered a registry address that is not an ECR registry (`{endpoint}`)"
                ),
            })
    }

    /// Creates repository `name` in `region` (scan on push, immutable tags) unless it exists;
    /// answers whether it was created.
    pub async fn ecr_create_repository(
        &self,
        profile: Option<String>,
        region: &str,
        name: &str,
    ) -> Result<bool, Upstream> {
        use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability};
        let settings = AwsSettings {
            region: Some(region.to_owned()),
            profile,
            ecs_endpoint_url: None,
        };
        let config = self.config(&settings).await?;
        let created = aws_sdk_ecr::Client::new(&config)
            .create_repository()
            .repository_name(name)
            .image_tag_mutability(ImageTagMutability::Immutable)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(true)
                    .build(),
            )
            .send()
            .await;
        match created {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|inner| inner.is_repository_already_exists_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(explain(Service::Ecr, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_hosts_are_recognised_with_their_region() {
        assert_eq!(
            region_of("123456789012.dkr.ecr.eu-west-3.amazonaws.com").as_deref(),
            Some("eu-west-3")
        );
        assert_eq!(
            region_of("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com").as_deref(),
            Some("us-gov-west-1")
        );
        assert_eq!(
            region_of("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").as_deref(),
            Some("cn-north-1")
        );
        for other in [
            "public.ecr.aws",
            "12345.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
            "123456789012.dkr.ecr..amazonaws.com",
            "ghcr.io",
            "127.0.0.1:5000",
        ] {
            assert_eq!(region_of(other), None, "{other}");
        }
    }
}
