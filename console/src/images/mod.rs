//! Missing entrypoints resolved from image registries: the image config's ENTRYPOINT and CMD (and
//! the manifest digest they came from), reached with the console's registry settings or ECR's
//! login, cached in SQLite by what answered. Only a task definition that validates is looked up,
//! one lookup per distinct image, all at once, each with a ceiling, and never more than
//! [`MAX_CONCURRENT_LOOKUPS`] across the console.

pub mod cache;
pub mod oci;
pub mod push;
pub mod reference;
pub mod registries;

use crate::aws::{ecr, Aws};
use crate::clock::UnixMs;
use crate::error::Result;
use palisade_taskdef::protect::{valid_plan_text, ImageArgv};
use palisade_taskdef::ProtectOptions;
use reference::ImageRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::time::Duration;

/// How long one image lookup may take.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Registry lookups under way at once, whoever asked: many users generating at once wait their
/// turn instead of opening connections without bound.
pub const MAX_CONCURRENT_LOOKUPS: usize = 16;

static LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT_LOOKUPS);

/// What the image runs, and where that was read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// The image as written in the task definition.
    pub image: String,
    /// `linux/amd64` or `linux/arm64`.
    pub platform: String,
    /// The digest of the (platform's) manifest the config came from.
    pub digest: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub resolved_at_ms: UnixMs,
}

impl ImageConfig {
    /// `repository@sha256:...`, what the UI shows as the source.
    pub fn pinned(&self) -> String {
        let name = self.image.split('@').next().unwrap_or(&self.image);
        let repository = match name.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => repository,
            _ => name,
        };
        format!("{repository}@{}", self.digest)
    }

    /// The image argv for the generator, or `None` when the image sets neither ENTRYPOINT nor CMD.
    pub fn argv(&self) -> Option<ImageArgv> {
        let entry_point = self.entrypoint.clone().unwrap_or_default();
        let command = self.cmd.clone().filter(|cmd| !cmd.is_empty());
        (!entry_point.is_empty() || command.is_some()).then_some(ImageArgv {
            entry_point,
            command,
        })
    }
}

/// Why an image could not be read. Never a guess.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "`{0}` is a placeholder, not an image: render the template first, or give the entrypoint"
    )]
    Placeholder(String),
    #[error("`{image}` is not an image reference: {reason}")]
    Invalid { image: String, reason: String },
    #[error("{image}: the registry refused access (unauthorized): give registry credentials, or the entrypoint")]
    Unauthorized { image: String },
    #[error("{image}: no ECR login (GetAuthorizationToken): {reason}")]
    NoEcrLogin { image: String, reason: String },
    #[error("{image}: not found in the registry (check the repository and tag)")]
    NotFound { image: String },
    /// No connection, a failed one, or no answer in time: said alike, so that lookups tell
    /// nobody which ports answer where (the console's log has the detail).
    #[error("{image}: the registry could not be reached or did not answer in time (the console's log has the details)")]
    Unreachable { image: String },
    #[error("{image}: the registry could not be reached or did not answer in time (the console's log has the details)")]
    Timeout { image: String, seconds: u64 },
    #[error("{image}: the index has no {platform} image")]
    NoPlatform { image: String, platform: String },
    #[error("{image}: {reason}")]
    Other { image: String, reason: String },
}

/// How to reach one image's registry: as whom, and where.
#[derive(Clone)]
pub struct Access {
    /// (user, password): the registry's own, or its ECR login.
    pub credentials: Option<(String, String)>,
    /// Where requests go: the registry's own API host, or the endpoint the admin set for it
    /// ([`oci::origin_for`]). Also what the cache is keyed by.
    pub origin: reqwest::Url,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a password in debug output or logs.
        f.debug_struct("Access")
            .field(
                "credentials",
                &self
                    .credentials
                    .as_ref()
                    .map(|(user, _)| (user, "<redacted>")),
            )
            .field("origin", &self.origin.as_str())
            .finish()
    }
}

/// What happened to one container's missing entrypoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub container: String,
    pub image: String,
    /// The config found, or why not.
    pub result: Result<ImageConfig, String>,
}

/// `runtimePlatform.cpuArchitecture` as an OCI platform.
pub fn platform_of(task: &serde_json::Map<String, Value>) -> String {
    let arch = task
        .get("runtimePlatform")
        .and_then(|p| p.get("cpuArchitecture"))
        .and_then(Value::as_str)
        .unwrap_or("X86_64");
    if arch.eq_ignore_ascii_case("ARM64") {
        "linux/arm64"
    } else {
        "linux/amd64"
    }
    .to_owned()
}

/// Image lookups with what the console knows: its registry settings, AWS profile and cache when
/// it has a database (`db`), the standard chain and no cache when it has none (a CLI without
/// `PALISADE_DATABASE_URL`).
#[derive(Clone, Copy)]
pub struct Images<'a> {
    pub(crate) db: Option<&'a SqlitePool>,
    pub(crate) aws: &'a Aws,
    /// `PALISADE_SECRETS_DIR`: where `file:` password references may point.
    pub(crate) secrets_dir: Option<&'a std::path::Path>,
}

impl<'a> Images<'a> {
    /// Lookups without a console database.
    pub fn without_database(aws: &'a Aws) -> Self {
        Images {
            db: None,
            aws,
            secrets_dir: None,
        }
    }

    /// The settings saved for `image`'s registry (Docker Hub's under any of its names).
    pub(crate) async fn settings_for(
        &self,
        reference: &ImageRef,
    ) -> Result<registries::RegistrySettings> {
        if let Some(db) = self.db {
            for name in reference.settings_names() {
                if let Some(found) = registries::get(db, name).await? {
                    return Ok(found);
                }
            }
        }
        Ok(registries::RegistrySettings::default())
    }

    /// The credentials the console has for `image`'s registry: its settings, then ECR's login for
    /// an ECR host without credentials of its own. They go only to the registry itself, or to its
    /// endpoint when the admin confirmed that. The outer error is the console's own failure (its
    /// database); the inner one is about the image.
    pub(crate) async fn credentials_for(
        &self,
        image: &str,
        reference: &ImageRef,
        settings: &registries::RegistrySettings,
    ) -> Result<Result<Option<(String, String)>, ResolveError>> {
        let refuse = |reason: String| {
            Ok(Err(ResolveError::Other {
                image: image.to_owned(),
                reason,
            }))
        };
        if let (Some(endpoint), Some(whose)) = (&settings.endpoint, settings.credentials_leaving())
        {
            if !settings.credentials_to_endpoint {
                // Saved before the rule: say how to confirm rather than send or drop them.
                return refuse(format!(
                    "{whose} would go to {endpoint}: confirm it in Settings (send the credentials to the endpoint) or remove the endpoint"
                ));
            }
        }
        match (&settings.username, &settings.password_ref) {
            (Some(user), Some(password_ref)) => {
                match registries::read_password(password_ref, self.secrets_dir).await {
                    Ok(password) => Ok(Ok(Some((user.clone(), password)))),
                    Err(reason) => refuse(format!(
                        "the password of {} cannot be read: {reason}",
                        settings.registry
                    )),
                }
            }
            _ => match ecr::region_of(&reference.registry) {
                Some(region) => {
                    let profile = match self.db {
                        Some(db) => crate::settings::load(db).await?.profile,
                        None => None,
                    };
                    match self.aws.ecr_login(profile, &region).await {
                        Ok(login) => Ok(Ok(Some(login))),
                        Err(upstream) => Ok(Err(ResolveError::NoEcrLogin {
                            image: image.to_owned(),
                            reason: upstream.message,
                        })),
                    }
                }
                None => Ok(Ok(None)),
            },
        }
    }

    /// One image, from the cache when it holds a fresh answer from the same origin.
    #[tracing::instrument(skip(self))]
    pub async fn resolve(
        &self,
        image: &str,
        platform: &str,
    ) -> Result<Result<ImageConfig, ResolveError>> {
        // `$` never appears in an image reference: `$IMAGE`, `$ACCOUNT.dkr.ecr...` are shell variables.
        if palisade_taskdef::validate::looks_like_placeholder(image) || image.contains('$') {
            return Ok(Err(ResolveError::Placeholder(image.to_owned())));
        }
        let reference = match ImageRef::parse(image) {
            Ok(reference) => reference,
            Err(reason) => {
                return Ok(Err(ResolveError::Invalid {
                    image: image.to_owned(),
                    reason,
                }))
            }
        };
        let settings = self.settings_for(&reference).await?;
        let origin = match oci::origin_for(&reference, settings.endpoint.as_deref()) {
            Ok(origin) => origin,
            Err(reason) => {
                return Ok(Err(ResolveError::Other {
                    image: image.to_owned(),
                    reason,
                }))
            }
        };
        let source = origin.origin().ascii_serialization();
        if let Some(db) = self.db {
            match cache::get(db, image, platform, &source).await {
                Ok(Some(cached)) => return Ok(Ok(cached)),
                Ok(None) => {}
                // The cache only saves a round trip: ask the registry instead.
                Err(error) => tracing::warn!(error = %error, "reading the image cache failed"),
            }
        }
        let credentials = match self.credentials_for(image, &reference, &settings).await? {
            Ok(credentials) => credentials,
            Err(error) => return Ok(Err(error)),
        };
        let access = Access {
            credentials,
            origin,
        };
        let config = {
            let _turn = LOOKUPS
                .acquire()
                .await
                .expect("the lookup semaphore is never closed");
            match oci::fetch(image, &reference, platform, &access).await {
                Ok(config) => config,
                Err(error) => return Ok(Err(error)),
            }
        };
        if let Some(db) = self.db {
            if let Err(error) = cache::put(db, &config, &source).await {
                // The answer is still right; the next lookup asks the registry again.
                tracing::warn!(error = %error, "caching an image config failed");
            }
        }
        Ok(Ok(config))
    }

    /// Fills `options.image_argv` for every protected container without `entryPoint` whose argv
    /// the user did not give, from its image; all lookups at once, one per distinct image.
    /// Answers what was looked up: an input that does not validate looks up nothing (the
    /// generator will say what is wrong with it), so at most one lookup per container of a valid
    /// task (ECS allows 10).
    pub async fn resolve_missing(
        &self,
        text: &str,
        options: &mut ProtectOptions,
    ) -> Result<Vec<Resolution>> {
        let Ok(plans) = valid_plan_text(text, options) else {
            return Ok(Vec::new());
        };
        let platform = palisade_taskdef::normalize_text(text)
            .map(|normalized| platform_of(&normalized.task))
            .unwrap_or_else(|_| "linux/amd64".into());
        let wanted: Vec<_> = plans
            .into_iter()
            .filter(|plan| {
                plan.protect
                    && plan.needs_image_argv
                    && !options.image_argv.contains_key(&plan.name)
            })
            .collect();
        // One lookup per distinct image, all at once: a task is as slow as its slowest registry.
        let mut images: Vec<&str> = wanted.iter().map(|plan| plan.image.as_str()).collect();
        images.sort_unstable();
        images.dedup();
        let lookups = images.iter().map(|image| self.resolve(image, &platform));
        let mut found: HashMap<&str, Result<ImageConfig, ResolveError>> = HashMap::new();
        for (image, answer) in images
            .iter()
            .copied()
            .zip(futures::future::join_all(lookups).await)
        {
            found.insert(image, answer?);
        }
        let mut resolutions = Vec::new();
        for plan in &wanted {
            let result = match found.get(plan.image.as_str()).cloned() {
                Some(Ok(config)) => match config.argv() {
                    Some(argv) => {
                        options.image_argv.insert(plan.name.clone(), argv);
                        Ok(config)
                    }
                    None => Err(format!(
                        "{}: the image sets neither ENTRYPOINT nor CMD: give the entrypoint",
                        plan.image
                    )),
                },
                Some(Err(error)) => Err(error.to_string()),
                // Every wanted image was looked up above; kept total rather than indexing.
                None => Err(format!("{}: not looked up", plan.image)),
            };
            resolutions.push(Resolution {
                container: plan.name.clone(),
                image: plan.image.clone(),
                result,
            });
        }
        Ok(resolutions)
    }
}
