//! The defender image the console publishes itself (`palisade defender-image publish`, Settings,
//! `POST /api/v1/defender-image`): built from the console's own static defender binaries
//! ([`binaries`], [`build`]) and pushed over the OCI distribution API ([`crate::images::push`]) to
//! the account's ECR (the repository created when missing) or any registry the console has
//! credentials for. The pinned reference is then the console's default defender image.

pub mod binaries;
pub mod build;

use crate::aws::ecr;
use crate::error::{Context, Error, Result, Upstream, UpstreamFailure};
use crate::images::oci::origin_for;
use crate::images::push::{push, PushReport};
use crate::images::reference::ImageRef;
use crate::images::{Access, ResolveError};
use crate::Console;
use serde::Serialize;
use sqlx::SqlitePool;

/// The repository in the account's ECR when none is given.
pub const DEFAULT_REPOSITORY: &str = "palisade/defender";

/// The settings key holding the published reference.
const SETTING: &str = "defender_image";

/// What Generate says while the console has no defender image of its own to offer.
pub use palisade_taskdef::protect::NO_DEFENDER_IMAGE;

/// A published image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Published {
    /// `REGISTRY/REPOSITORY@sha256:...`: what task definitions name from now on.
    pub reference: String,
    /// The same image by its tag, for people.
    pub tagged: String,
    pub architectures: Vec<String>,
    /// Whether the ECR repository was created by this publication.
    pub repository_created: bool,
    #[serde(flatten)]
    pub report: PushReport,
}

/// The published reference, if any.
pub async fn published(db: &SqlitePool) -> Result<Option<String>> {
    let row = sqlx::query_scalar!("SELECT value FROM settings WHERE key = ?", SETTING)
        .fetch_optional(db)
        .await
        .context("reading the defender image")?;
    Ok(row.filter(|value| !value.trim().is_empty()))
}

async fn save(db: &SqlitePool, reference: &str) -> Result<()> {
    sqlx::query!(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        SETTING,
        reference
    )
    .execute(db)
    .await
    .context("saving the defender image")?;
    Ok(())
}

/// Where to push: `repository` as given (a tag in it is kept), checked.
fn parse_target(repository: &str) -> Result<ImageRef> {
    let target = ImageRef::parse(repository.trim())
        .map_err(|reason| Error::invalid(format!("repository `{repository}`: {reason}")))?;
    if target.digest.is_some() {
        return Err(Error::invalid(format!(
            "repository `{repository}` names a digest: give REGISTRY/REPOSITORY (optionally :TAG); the digest is the image's own"
        )));
    }
    if target.registry == "docker.io" && !repository.contains("docker.io") {
        return Err(Error::invalid(format!(
            "repository `{repository}` has no registry host: give REGISTRY/REPOSITORY, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/palisade/defender"
        )));
    }
    Ok(target)
}

fn failed(error: ResolveError) -> Error {
    Error::Upstream(Upstream {
        failure: match error {
            ResolveError::Unreachable { .. } | ResolveError::Timeout { .. } => {
                UpstreamFailure::Unreachable
            }
            _ => UpstreamFailure::Refused,
        },
        message: format!("publishing the defender image: {error}"),
    })
}

impl Console {
    /// The console's default defender image: the published one, if any.
    pub async fn defender_image(&self) -> Result<Option<String>> {
        published(&self.db).await
    }

    /// Builds the defender image from the binaries and pushes it to `repository` (default: the
    /// account's ECR, `palisade/defender`); it becomes the default defender image.
    #[tracing::instrument(skip(self))]
    pub(crate) async fn publish_defender_image(
        &self,
        repository: Option<&str>,
    ) -> Result<Published> {
        let dirs = binaries::search_dirs(self.deployment.defender_binaries.as_deref());
        let found = tokio::task::spawn_blocking(move || binaries::locate(&dirs))
            .await
            .context("reading the defender binaries")?
            .map_err(|missing| {
                Error::invalid(format!("the defender image cannot be built: {missing}"))
            })?;
        let image = tokio::task::spawn_blocking(move || build::build(&found))
            .await
            .context("building the defender image")?
            .context("building the defender image")?;
        let settings = self.aws_settings().await?.without_ecs_endpoint();
        let mut target = match repository.map(str::trim).filter(|text| !text.is_empty()) {
            Some(repository) => parse_target(repository)?,
            None => {
                let host = self.aws.ecr_registry_host(&settings).await?;
                ImageRef {
                    registry: host,
                    repository: DEFAULT_REPOSITORY.to_owned(),
                    tag: None,
                    digest: None,
                }
            }
        };
        let repository_created = match ecr::region_of(&target.registry) {
            Some(region) => {
                self.aws
                    .ecr_create_repository(settings.profile.clone(), &region, &target.repository)
                    .await?
            }
            None => false,
        };
        // A tag made of the version and the content: ECR's immutable tags never clash, and the
        // same binaries give the same tag.
        let hex = image.index.digest.trim_start_matches("sha256:");
        let tag = target
            .tag
            .take()
            .unwrap_or_else(|| format!("{}-{}", env!("CARGO_PKG_VERSION"), &hex[..12]));
        let images = self.images();
        let registry_settings = images.settings_for(&target).await?;
        let origin =
            origin_for(&target, registry_settings.endpoint.as_deref()).map_err(Error::invalid)?;
        let name = format!("{}/{}", target.registry, target.repository);
        let credentials = images
            .credentials_for(&name, &target, &registry_settings)
            .await?
            .map_err(failed)?;
        let access = Access {
            credentials,
            origin,
        };
        let report = push(
            &target,
            &access,
            &image.blobs,
            &image.manifests,
            &image.index,
            &tag,
        )
        .await
        .map_err(failed)?;
        let reference = format!("{name}@{}", image.index.digest);
        save(&self.db, &reference).await?;
        Ok(Published {
            reference,
            tagged: format!("{name}:{tag}"),
            architectures: binaries::ARCHITECTURES
                .iter()
                .map(|architecture| format!("linux/{}", architecture.as_str()))
                .collect(),
            repository_created,
            report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_is_a_registry_and_a_name_without_a_digest() {
        let target = parse_target("127.0.0.1:5000/palisade/defender").unwrap();
        assert_eq!(
            (target.registry.as_str(), target.repository.as_str()),
            ("127.0.0.1:5000", "palisade/defender")
        );
        assert_eq!(
            parse_target("ghcr.io/team/defender:edge")
                .unwrap()
                .tag
                .as_deref(),
            Some("edge")
        );
        let refused = |text: &str| parse_target(text).unwrap_err().to_string();
        assert!(refused("palisade/defender").contains("no registry host"));
        assert!(
            refused(&format!("ghcr.io/t/d@sha256:{}", "a".repeat(64))).contains("names a digest")
        );
        assert!(refused("ghcr.io/t/d e").contains("cannot appear"));
    }

    #[tokio::test]
    async fn nothing_is_published_until_an_image_is_pushed() {
        let (_dir, db) = crate::testing::database().await;
        assert_eq!(published(&db).await.unwrap(), None);
        save(&db, "r.example/p/d@sha256:00").await.unwrap();
        assert_eq!(
            published(&db).await.unwrap().as_deref(),
            Some("r.example/p/d@sha256:00")
        );
    }
}
