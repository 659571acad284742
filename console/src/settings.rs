//! The console's AWS settings (Settings page, `PUT /api/v1/settings/ecs`): region and profile. An
//! unset field leaves the decision to the AWS SDK's standard chain (`AWS_REGION`, `AWS_PROFILE`,
//! roles...). The ECS endpoint is never a setting: signed requests and every task definition go
//! there, so only the deployment moves it (`AWS_ENDPOINT_URL_ECS`, read by the SDK itself), or
//! the CLI user's own `--endpoint-url`.

use crate::error::{Context, Error, Result};
use crate::text::non_blank;
use sqlx::SqlitePool;

/// Where and as whom the console reaches AWS. Checked when made: a value the SDK would only
/// reject at the first call is refused where it was typed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// ECS only, and only from the command line (`--endpoint-url`): never loaded or saved.
    pub ecs_endpoint_url: Option<String>,
}

const REGION: &str = "aws_region";
const PROFILE: &str = "aws_profile";

impl AwsSettings {
    /// Settings from form fields; blank means unset.
    pub fn parse(region: &str, profile: &str, ecs_endpoint_url: &str) -> Result<Self> {
        let settings = AwsSettings {
            region: non_blank(Some(region)),
            profile: non_blank(Some(profile)),
            ecs_endpoint_url: non_blank(Some(ecs_endpoint_url)),
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<()> {
        if let Some(region) = &self.region {
            if !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(Error::invalid(format!(
                    "region `{region}` is not a region name like eu-west-1"
                )));
            }
        }
        if let Some(endpoint) = &self.ecs_endpoint_url {
            let has_scheme = endpoint.starts_with("http://") || endpoint.starts_with("https://");
            if !has_scheme || endpoint.contains(char::is_whitespace) {
                return Err(Error::invalid(format!(
                    "endpoint URL `{endpoint}` must start with https:// (or http:// for a local endpoint), or be empty to use AWS's"
                )));
            }
        }
        if self
            .profile
            .as_deref()
            .is_some_and(|profile| profile.contains(char::is_whitespace))
        {
            return Err(Error::invalid("a profile name has no spaces"));
        }
        Ok(())
    }

    /// The same settings for a service other than ECS (the endpoint setting is ECS's own).
    pub fn without_ecs_endpoint(&self) -> Self {
        AwsSettings {
            ecs_endpoint_url: None,
            ..self.clone()
        }
    }
}

/// Why a request may not move the ECS endpoint, and what to do instead.
pub const ENDPOINT_FROM_DEPLOYMENT: &str = "the ECS endpoint is not a setting: it comes from the console's deployment (AWS_ENDPOINT_URL_ECS in its environment); leave endpoint_url empty";

/// The saved settings.
#[tracing::instrument(skip_all)]
pub async fn load(db: &SqlitePool) -> Result<AwsSettings> {
    let rows = sqlx::query!(
        r#"SELECT key AS "key!", value FROM settings WHERE key IN ('aws_region', 'aws_profile')"#
    )
    .fetch_all(db)
    .await
    .context("reading the AWS settings")?;
    let get = |wanted: &str| {
        rows.iter()
            .find(|row| row.key == wanted)
            .and_then(|row| non_blank(Some(&row.value)))
    };
    Ok(AwsSettings {
        region: get(REGION),
        profile: get(PROFILE),
        ecs_endpoint_url: None,
    })
}

/// Saves the settings (an unset field is saved empty: the standard chain decides). An ECS endpoint
/// is refused: it comes from the deployment.
#[tracing::instrument(skip_all)]
pub async fn save(db: &SqlitePool, settings: &AwsSettings) -> Result<()> {
    settings.check()?;
    if settings.ecs_endpoint_url.is_some() {
        return Err(Error::invalid(ENDPOINT_FROM_DEPLOYMENT));
    }
    let mut transaction = db.begin().await.context("saving the AWS settings")?;
    for (key, value) in [(REGION, &settings.region), (PROFILE, &settings.profile)] {
        let value = value.as_deref().unwrap_or_default();
        sqlx::query!(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value
        )
        .execute(&mut *transaction)
        .await
        .context("saving the AWS settings")?;
    }
    transaction
        .commit()
        .await
        .context("saving the AWS settings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_aws_would_refuse_later_are_refused_now() {
        assert_eq!(
            AwsSettings::parse(" eu-west-1 ", "", "").unwrap(),
            AwsSettings {
                region: Some("eu-west-1".into()),
                ..AwsSettings::default()
            }
        );
        assert!(AwsSettings::parse("", "", "").unwrap() == AwsSettings::default());
        let refused = |region, profile, endpoint| {
            AwsSettings::parse(region, profile, endpoint)
                .unwrap_err()
                .to_string()
        };
        assert!(refused("EU West", "", "").contains("region"));
        assert!(refused("", "my profile", "").contains("profile"));
        assert!(refused("", "", "localhost:4566").contains("https://"));
    }

    #[tokio::test]
    async fn the_ecs_endpoint_is_never_saved_or_loaded() {
        let (_dir, db) = crate::testing::database().await;
        let moved = AwsSettings::parse("eu-west-1", "", "https://attacker.example").unwrap();
        let refused = save(&db, &moved).await.unwrap_err().to_string();
        assert!(refused.contains("AWS_ENDPOINT_URL_ECS"), "{refused}");
        // A value saved by an older console is not read either.
        sqlx::query("INSERT INTO settings (key, value) VALUES ('ecs_endpoint_url', 'https://attacker.example')")
            .execute(&db)
            .await
            .unwrap();
        save(&db, &AwsSettings::parse("eu-west-1", "", "").unwrap())
            .await
            .unwrap();
        assert_eq!(load(&db).await.unwrap().ecs_endpoint_url, None);
    }
}
