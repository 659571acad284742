//! Missing entrypoints resolved from the image registry: the image config's ENTRYPOINT and CMD
//! (and the manifest digest they came from) read over the OCI distribution API, anonymously or
//! with a registry's token flow; a multi-arch index picks the task's platform. Plain HTTP is used
//! only for loopback registries, as Docker does. Lookups run concurrently, each with a timeout,
//! and land in a SQLite cache.

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::ImageIndexEntry;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use palisade_taskdef::protect::{plan_text, ImageArgv};
use palisade_taskdef::ProtectOptions;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// How long one image lookup may take.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);

/// A tag's answer is reused for this long; a digest's forever (it cannot change).
const TAG_CACHE_MS: i64 = 10 * 60 * 1000;

/// What the image runs, and where that was read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// The image as written in the task definition.
    pub image: String,
    /// `linux/amd64` or `linux/arm64`.
    pub platform: String,
    /// The digest of the (platform's) manifest the config came from.
    pub digest: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// Unix milliseconds.
    pub resolved_at_ms: i64,
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
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "`{0}` is a placeholder, not an image: render the template first, or give the entrypoint"
    )]
    Placeholder(String),
    #[error("`{image}` is not an image reference: {reason}")]
    Invalid { image: String, reason: String },
    #[error("{image}: the registry refused access (unauthorized): give registry credentials, or the entrypoint")]
    Unauthorized { image: String },
    #[error("{image}: not found in the registry (check the repository and tag)")]
    NotFound { image: String },
    #[error("{image}: the registry could not be reached: {reason}")]
    Unreachable { image: String, reason: String },
    #[error("{image}: no answer within {seconds} s")]
    Timeout { image: String, seconds: u64 },
    #[error("{image}: the index has no {platform} image")]
    NoPlatform { image: String, platform: String },
    #[error("{image}: {reason}")]
    Other { image: String, reason: String },
}

/// Loopback registries are spoken to over plain HTTP, as Docker does; everything else over HTTPS.
fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(host, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            host
        } else {
            registry
        }
    });
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
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

fn classify(image: &str, error: OciDistributionError) -> ResolveError {
    let image = image.to_owned();
    match error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => ResolveError::Unauthorized { image },
        OciDistributionError::ImageManifestNotFoundError(_) => ResolveError::NotFound { image },
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| format!("{:?}", e.code))
                .collect();
            if codes.iter().any(|c| c.contains("Unknown")) {
                ResolveError::NotFound { image }
            } else if codes
                .iter()
                .any(|c| c.contains("Unauthorized") || c.contains("Denied"))
            {
                ResolveError::Unauthorized { image }
            } else {
                ResolveError::Other {
                    image,
                    reason: envelope.to_string(),
                }
            }
        }
        OciDistributionError::ServerError {
            code: 401 | 403, ..
        } => ResolveError::Unauthorized { image },
        OciDistributionError::ServerError { code: 404, .. } => ResolveError::NotFound { image },
        OciDistributionError::RequestError(error) if error.is_connect() || error.is_timeout() => {
            ResolveError::Unreachable {
                image,
                reason: error.to_string(),
            }
        }
        other => ResolveError::Other {
            image,
            reason: other.to_string(),
        },
    }
}

/// Reads one image's config. `credentials` are (user, password) for its registry.
pub async fn fetch(
    image: &str,
    platform: &str,
    credentials: Option<(String, String)>,
) -> Result<ImageConfig, ResolveError> {
    if palisade_taskdef::validate::looks_like_placeholder(image) {
        return Err(ResolveError::Placeholder(image.to_owned()));
    }
    let reference: Reference =
        image
            .parse()
            .map_err(|error: oci_client::ParseError| ResolveError::Invalid {
                image: image.to_owned(),
                reason: error.to_string(),
            })?;
    let registry = reference.resolve_registry().to_owned();
    let (os, arch) = platform.split_once('/').unwrap_or(("linux", "amd64"));
    let (os, arch) = (os.to_owned(), arch.to_owned());
    let resolver = move |entries: &[ImageIndexEntry]| {
        entries
            .iter()
            .find(|entry| {
                entry
                    .platform
                    .as_ref()
                    .is_some_and(|p| p.os.to_string() == os && p.architecture.to_string() == arch)
            })
            .map(|entry| entry.digest.clone())
    };
    let client = Client::new(ClientConfig {
        protocol: if is_loopback(&registry) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        platform_resolver: Some(Box::new(resolver)),
        connect_timeout: Some(Duration::from_secs(5)),
        read_timeout: Some(Duration::from_secs(10)),
        ..ClientConfig::default()
    });
    let auth = match credentials {
        Some((user, password)) => RegistryAuth::Basic(user, password),
        None => RegistryAuth::Anonymous,
    };
    let lookup = client.pull_manifest_and_config(&reference, &auth);
    let (_, digest, config) = match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
        Err(_) => {
            return Err(ResolveError::Timeout {
                image: image.to_owned(),
                seconds: LOOKUP_TIMEOUT.as_secs(),
            })
        }
        Ok(Err(OciDistributionError::ImageIndexParsingNoPlatformResolverError))
        | Ok(Err(OciDistributionError::GenericError(None))) => {
            return Err(ResolveError::NoPlatform {
                image: image.to_owned(),
                platform: platform.to_owned(),
            })
        }
        Ok(Err(error)) => return Err(classify(image, error)),
        Ok(Ok(found)) => found,
    };
    let config: Value = serde_json::from_str(&config).map_err(|error| ResolveError::Other {
        image: image.to_owned(),
        reason: format!("the image config is not JSON: {error}"),
    })?;
    let argv = |key: &str| -> Option<Vec<String>> {
        config
            .get("config")?
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    };
    Ok(ImageConfig {
        image: image.to_owned(),
        platform: platform.to_owned(),
        digest,
        entrypoint: argv("Entrypoint"),
        cmd: argv("Cmd"),
        resolved_at_ms: crate::defenders::store::now_ms(),
    })
}

/// The cache in SQLite: by image reference and platform, with the digest it came from.
pub mod cache {
    use super::*;
    use sqlx::SqlitePool;

    /// platform, digest, entrypoint, cmd, resolved_at.
    type CachedRow = (String, String, Option<String>, Option<String>, i64);

    pub async fn get(
        pool: &SqlitePool,
        image: &str,
        platform: &str,
    ) -> Result<Option<ImageConfig>, sqlx::Error> {
        let row: Option<CachedRow> = sqlx::query_as(
            "SELECT platform, digest, entrypoint, cmd, resolved_at FROM image_configs WHERE image = ? AND platform = ?",
        )
        .bind(image)
        .bind(platform)
        .fetch_optional(pool)
        .await?;
        let pinned = image.contains("@sha256:");
        Ok(row
            .filter(|(.., at)| pinned || crate::defenders::store::now_ms() - at < TAG_CACHE_MS)
            .map(
                |(platform, digest, entrypoint, cmd, resolved_at_ms)| ImageConfig {
                    image: image.to_owned(),
                    platform,
                    digest,
                    entrypoint: entrypoint.and_then(|text| serde_json::from_str(&text).ok()),
                    cmd: cmd.and_then(|text| serde_json::from_str(&text).ok()),
                    resolved_at_ms,
                },
            ))
    }

    pub async fn put(pool: &SqlitePool, config: &ImageConfig) -> Result<(), sqlx::Error> {
        let json = |argv: &Option<Vec<String>>| {
            argv.as_ref()
                .map(|a| serde_json::to_string(a).unwrap_or_default())
        };
        sqlx::query(
            "INSERT INTO image_configs (image, platform, digest, entrypoint, cmd, resolved_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (image, platform) DO UPDATE SET digest = excluded.digest, entrypoint = excluded.entrypoint,
                 cmd = excluded.cmd, resolved_at = excluded.resolved_at",
        )
        .bind(&config.image)
        .bind(&config.platform)
        .bind(&config.digest)
        .bind(json(&config.entrypoint))
        .bind(json(&config.cmd))
        .bind(config.resolved_at_ms)
        .execute(pool)
        .await?;
        Ok(())
    }
}

/// Private registries' credentials: a user name and a reference to the password (`env:NAME` or
/// `file:/path`), read when needed, so the console never stores or shows a password.
pub mod credentials {
    use sqlx::SqlitePool;

    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
    pub struct RegistryCredential {
        /// `host[:port]` as in image references (`docker.io` for Docker Hub).
        pub registry: String,
        pub username: String,
        pub password_ref: String,
    }

    /// Why a credential is refused.
    pub fn check(credential: &RegistryCredential) -> Result<(), String> {
        let registry = &credential.registry;
        if registry.is_empty() || registry.contains('/') || registry.contains(char::is_whitespace) {
            return Err(format!(
                "`{registry}` is not a registry host like registry.example.com:5000"
            ));
        }
        if credential.username.is_empty() {
            return Err("a user name is needed".into());
        }
        match credential.password_ref.split_once(':') {
            Some(("env", name)) if !name.is_empty() => Ok(()),
            Some(("file", path)) if path.starts_with('/') => Ok(()),
            _ => Err("the password is given by reference: env:VARIABLE or file:/absolute/path (it is never stored)".into()),
        }
    }

    /// The password the reference points at, now.
    pub fn read_password(password_ref: &str) -> Result<String, String> {
        match password_ref.split_once(':') {
            Some(("env", name)) => std::env::var(name)
                .map_err(|_| format!("the environment variable {name} is not set")),
            Some(("file", path)) => std::fs::read_to_string(path)
                .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
                .map_err(|error| format!("{path}: {error}")),
            _ => Err(format!("`{password_ref}` is not env:NAME or file:/path")),
        }
    }

    pub async fn save(
        pool: &SqlitePool,
        credential: &RegistryCredential,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO registry_credentials (registry, username, password_ref, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (registry) DO UPDATE SET username = excluded.username, password_ref = excluded.password_ref",
        )
        .bind(&credential.registry)
        .bind(&credential.username)
        .bind(&credential.password_ref)
        .bind(crate::defenders::store::now_ms())
        .execute(pool)
        .await?;
        Ok(())
    }

    pub async fn list(pool: &SqlitePool) -> Result<Vec<RegistryCredential>, sqlx::Error> {
        sqlx::query_as(
            "SELECT registry, username, password_ref FROM registry_credentials ORDER BY registry",
        )
        .fetch_all(pool)
        .await
    }

    pub async fn remove(pool: &SqlitePool, registry: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM registry_credentials WHERE registry = ?")
            .bind(registry)
            .execute(pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn for_registry(
        pool: &SqlitePool,
        registry: &str,
    ) -> Result<Option<RegistryCredential>, sqlx::Error> {
        sqlx::query_as(
            "SELECT registry, username, password_ref FROM registry_credentials WHERE registry = ?",
        )
        .bind(registry)
        .fetch_optional(pool)
        .await
    }
}

/// The (user, password) to use for `image`'s registry, when the console has credentials for it.
async fn credentials_for(
    pool: &sqlx::SqlitePool,
    image: &str,
) -> Result<Option<(String, String)>, ResolveError> {
    let Ok(reference) = image.parse::<Reference>() else {
        return Ok(None); // fetch names the parse error
    };
    // Docker Hub is `docker.io` to users and `index.docker.io` on the wire: either is found.
    let mut found = credentials::for_registry(pool, reference.registry())
        .await
        .ok()
        .flatten();
    if found.is_none() {
        found = credentials::for_registry(pool, reference.resolve_registry())
            .await
            .ok()
            .flatten();
    }
    let Some(credential) = found else {
        return Ok(None);
    };
    let password = credentials::read_password(&credential.password_ref).map_err(|reason| {
        ResolveError::Other {
            image: image.to_owned(),
            reason: format!(
                "the password of {} cannot be read: {reason}",
                credential.registry
            ),
        }
    })?;
    Ok(Some((credential.username, password)))
}

/// One image, from the cache when it is fresh.
pub async fn resolve(
    pool: Option<&sqlx::SqlitePool>,
    image: &str,
    platform: &str,
) -> Result<ImageConfig, ResolveError> {
    if let Some(pool) = pool {
        if let Ok(Some(cached)) = cache::get(pool, image, platform).await {
            return Ok(cached);
        }
    }
    let credentials = match pool {
        Some(pool) => credentials_for(pool, image).await?,
        None => None,
    };
    let config = fetch(image, platform, credentials).await?;
    if let Some(pool) = pool {
        if let Err(error) = cache::put(pool, &config).await {
            tracing::warn!(%error, "caching an image config failed");
        }
    }
    Ok(config)
}

/// What happened to one container's missing entrypoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub container: String,
    pub image: String,
    /// The config found, or why not.
    pub result: Result<ImageConfig, String>,
}

/// Fills `options.image_argv` for every protected container without `entryPoint` whose argv the
/// user did not give, from its image; all lookups at once. Answers what was looked up.
pub async fn resolve_missing(
    pool: Option<&sqlx::SqlitePool>,
    text: &str,
    options: &mut ProtectOptions,
) -> Vec<Resolution> {
    let Ok(plans) = plan_text(text, options) else {
        return Vec::new(); // the generator will say what is wrong with the input
    };
    let platform = palisade_taskdef::normalize_text(text)
        .map(|n| platform_of(&n.task))
        .unwrap_or_else(|_| "linux/amd64".into());
    let wanted: Vec<_> = plans
        .into_iter()
        .filter(|plan| {
            plan.protect && plan.needs_image_argv && !options.image_argv.contains_key(&plan.name)
        })
        .collect();
    let lookups = wanted
        .iter()
        .map(|plan| resolve(pool, &plan.image, &platform));
    let results = futures::future::join_all(lookups).await;
    let mut resolutions = Vec::new();
    for (plan, result) in wanted.into_iter().zip(results) {
        let result = match result {
            Ok(config) => match config.argv() {
                Some(argv) => {
                    options.image_argv.insert(plan.name.clone(), argv);
                    Ok(config)
                }
                None => Err(format!(
                    "{}: the image sets neither ENTRYPOINT nor CMD: give the entrypoint",
                    plan.image
                )),
            },
            Err(error) => Err(error.to_string()),
        };
        resolutions.push(Resolution {
            container: plan.name,
            image: plan.image,
            result,
        });
    }
    resolutions
}
