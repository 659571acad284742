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
    #[error("{image}: no ECR login (GetAuthorizationToken): {reason}")]
    NoEcrLogin { image: String, reason: String },
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

/// `reference` with its registry replaced by `endpoint`'s host (`http(s)://host[:port]`, checked
/// when saved), and the protocol that endpoint asks for.
fn reached_at(reference: &Reference, endpoint: &str) -> (Reference, ClientProtocol) {
    let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    let host = host.trim_end_matches('/').to_owned();
    let repository = reference.repository().to_owned();
    let moved = match (reference.tag(), reference.digest()) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(host.clone(), repository, tag.into(), digest.into())
        }
        (None, Some(digest)) => Reference::with_digest(host.clone(), repository, digest.into()),
        (tag, None) => {
            Reference::with_tag(host.clone(), repository, tag.unwrap_or("latest").into())
        }
    };
    let protocol = if scheme == "http" {
        ClientProtocol::HttpsExcept(vec![host])
    } else {
        ClientProtocol::Https
    };
    (moved, protocol)
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

/// Reads one image's config, reaching its registry as `access` says.
pub async fn fetch(
    image: &str,
    platform: &str,
    access: &Access,
) -> Result<ImageConfig, ResolveError> {
    // `$` never appears in an image reference: `$IMAGE`, `$ACCOUNT.dkr.ecr...` are shell variables.
    if palisade_taskdef::validate::looks_like_placeholder(image) || image.contains('$') {
        return Err(ResolveError::Placeholder(image.to_owned()));
    }
    let reference: Reference =
        image
            .parse()
            .map_err(|error: oci_client::ParseError| ResolveError::Invalid {
                image: image.to_owned(),
                reason: error.to_string(),
            })?;
    let (reference, protocol) = match &access.endpoint {
        Some(endpoint) => reached_at(&reference, endpoint),
        None => {
            let registry = reference.resolve_registry();
            let protocol = if is_loopback(registry) {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            };
            (reference, protocol)
        }
    };
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
        protocol,
        platform_resolver: Some(Box::new(resolver)),
        connect_timeout: Some(Duration::from_secs(5)),
        read_timeout: Some(Duration::from_secs(10)),
        ..ClientConfig::default()
    });
    let auth = match access.credentials.clone() {
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

/// Private registries: credentials by reference (a user name and where the password is read:
/// `env:NAME` or `file:/path`, so the console never stores or shows a password) and an endpoint of
/// their own (a mirror, a pull-through cache, a private endpoint), as containerd's `hosts.toml`.
pub mod registries {
    use sqlx::SqlitePool;

    #[derive(
        Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, sqlx::FromRow,
    )]
    pub struct RegistrySettings {
        /// `host[:port]` as in image references (`docker.io` for Docker Hub).
        pub registry: String,
        pub username: Option<String>,
        /// `env:NAME` or `file:/path`.
        pub password_ref: Option<String>,
        /// `https://host[:port]` or `http://host[:port]` to reach the registry at instead.
        pub endpoint: Option<String>,
    }

    impl RegistrySettings {
        /// Blank fields are unset ones (what an empty form field sends).
        pub fn normalized(mut self) -> Self {
            let blank_is_none = |field: Option<String>| {
                field.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
            };
            self.registry = self.registry.trim().to_owned();
            self.username = blank_is_none(self.username);
            self.password_ref = blank_is_none(self.password_ref);
            self.endpoint =
                blank_is_none(self.endpoint).map(|e| e.trim_end_matches('/').to_owned());
            self
        }
    }

    /// Why settings are refused, with how to fix them.
    pub fn check(settings: &RegistrySettings) -> Result<(), String> {
        let registry = &settings.registry;
        if registry.is_empty() || registry.contains('/') || registry.contains(char::is_whitespace) {
            return Err(format!(
                "`{registry}` is not a registry host like registry.example.com:5000"
            ));
        }
        match (&settings.username, &settings.password_ref) {
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err("give both a user name and a password reference, or neither".into())
            }
            (Some(_), Some(password_ref)) => match password_ref.split_once(':') {
                Some(("env", name)) if !name.is_empty() => {}
                Some(("file", path)) if path.starts_with('/') => {}
                _ => return Err("the password is given by reference: env:VARIABLE or file:/absolute/path (it is never stored)".into()),
            },
        }
        if let Some(endpoint) = &settings.endpoint {
            check_endpoint(endpoint)?;
        }
        if settings.username.is_none() && settings.endpoint.is_none() {
            return Err("give credentials, an endpoint, or both".into());
        }
        Ok(())
    }

    fn check_endpoint(endpoint: &str) -> Result<(), String> {
        let refuse = |why: &str| {
            Err(format!(
                "endpoint `{endpoint}` {why}: write it as https://host[:port] (http:// for a registry without TLS)"
            ))
        };
        let Ok(url) = url::Url::parse(endpoint) else {
            return refuse("is not a URL");
        };
        if !matches!(url.scheme(), "http" | "https") {
            return refuse("is neither http nor https");
        }
        if url.host_str().is_none_or(str::is_empty) {
            return refuse("has no host");
        }
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return refuse("has more than a host and port (the registry must answer at /v2/)");
        }
        Ok(())
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

    pub async fn save(pool: &SqlitePool, settings: &RegistrySettings) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO registries (registry, username, password_ref, endpoint, created_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (registry) DO UPDATE SET username = excluded.username,
                 password_ref = excluded.password_ref, endpoint = excluded.endpoint",
        )
        .bind(&settings.registry)
        .bind(&settings.username)
        .bind(&settings.password_ref)
        .bind(&settings.endpoint)
        .bind(crate::defenders::store::now_ms())
        .execute(pool)
        .await?;
        Ok(())
    }

    pub async fn list(pool: &SqlitePool) -> Result<Vec<RegistrySettings>, sqlx::Error> {
        sqlx::query_as(
            "SELECT registry, username, password_ref, endpoint FROM registries ORDER BY registry",
        )
        .fetch_all(pool)
        .await
    }

    pub async fn remove(pool: &SqlitePool, registry: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM registries WHERE registry = ?")
            .bind(registry)
            .execute(pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn get(
        pool: &SqlitePool,
        registry: &str,
    ) -> Result<Option<RegistrySettings>, sqlx::Error> {
        sqlx::query_as(
            "SELECT registry, username, password_ref, endpoint FROM registries WHERE registry = ?",
        )
        .bind(registry)
        .fetch_optional(pool)
        .await
    }
}

/// Private ECR registries: credentials from GetAuthorizationToken with the standard AWS chain
/// (and the console's AWS profile), cached until shortly before they expire (12 hours).
pub mod ecr {
    use crate::ecs::EcsSettings;
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
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
        (is_account && !region.is_empty() && matches!(rest, [] | ["cn"]))
            .then(|| (*region).to_owned())
    }

    /// A login is renewed this long before ECR says it expires.
    const RENEW_BEFORE: Duration = Duration::from_secs(10 * 60);

    type Login = (String, String, SystemTime);
    /// By (profile, region).
    static LOGINS: LazyLock<Mutex<HashMap<(String, String), Login>>> =
        LazyLock::new(Mutex::default);

    /// (user, password) for the ECR registries of `region` (one token opens every registry the
    /// AWS principal may read there).
    pub async fn login(profile: Option<String>, region: &str) -> Result<(String, String), String> {
        let key = (profile.clone().unwrap_or_default(), region.to_owned());
        if let Some((user, password, expires)) = LOGINS
            .lock()
            .ok()
            .and_then(|logins| logins.get(&key).cloned())
        {
            if SystemTime::now() + RENEW_BEFORE < expires {
                return Ok((user, password));
            }
        }
        let settings = EcsSettings {
            region: Some(region.to_owned()),
            profile,
            // The console's ECS endpoint is ECS's; ECR's comes from AWS_ENDPOINT_URL_ECR.
            endpoint_url: None,
        };
        let config = crate::ecs::sdk_config(&settings)
            .await
            .map_err(|error| error.to_string())?;
        let answer = aws_sdk_ecr::Client::new(&config)
            .get_authorization_token()
            .send()
            .await
            .map_err(|error| {
                crate::ecs::explain_other_service(error, "ECR", "AWS_ENDPOINT_URL_ECR")
            })?;
        let data = answer
            .authorization_data()
            .first()
            .ok_or("ECR answered without authorization data")?;
        let token = data
            .authorization_token()
            .ok_or("ECR answered without a token")?;
        let decoded = aws_smithy_types::base64::decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or("ECR's token is not base64 text")?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or("ECR's token is not user:password")?;
        let expires = data
            .expires_at()
            .and_then(|at| SystemTime::try_from(*at).ok())
            .unwrap_or_else(SystemTime::now);
        if let Ok(mut logins) = LOGINS.lock() {
            logins.insert(key, (user.to_owned(), password.to_owned(), expires));
        }
        Ok((user.to_owned(), password.to_owned()))
    }
}

/// How to reach one image's registry: as whom, and where.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// (user, password).
    pub credentials: Option<(String, String)>,
    /// `http(s)://host[:port]` instead of the registry's own host.
    pub endpoint: Option<String>,
}

/// The access the console has for `image`'s registry: its settings, then ECR's login for an ECR
/// host without credentials of its own. `pool` is `None` for a CLI without the console's database.
pub async fn access_for(
    pool: Option<&sqlx::SqlitePool>,
    image: &str,
) -> Result<Access, ResolveError> {
    let Ok(reference) = image.parse::<Reference>() else {
        return Ok(Access::default()); // fetch names the parse error
    };
    let mut found = None;
    if let Some(pool) = pool {
        // Docker Hub is `docker.io` to users and `index.docker.io` on the wire: either is found.
        for host in [reference.registry(), reference.resolve_registry()] {
            if found.is_none() {
                found = registries::get(pool, host).await.ok().flatten();
            }
        }
    }
    let settings = found.unwrap_or_default();
    let failed = |reason: String| ResolveError::Other {
        image: image.to_owned(),
        reason,
    };
    let credentials = match (&settings.username, &settings.password_ref) {
        (Some(user), Some(password_ref)) => {
            let password = registries::read_password(password_ref).map_err(|reason| {
                failed(format!(
                    "the password of {} cannot be read: {reason}",
                    settings.registry
                ))
            })?;
            Some((user.clone(), password))
        }
        _ => match ecr::region_of(reference.registry()) {
            Some(region) => {
                let profile = match pool {
                    Some(pool) => crate::registrations::load_settings(pool)
                        .await
                        .ok()
                        .and_then(|s| s.profile),
                    None => None,
                };
                let login = ecr::login(profile, &region).await.map_err(|reason| {
                    ResolveError::NoEcrLogin {
                        image: image.to_owned(),
                        reason,
                    }
                })?;
                Some(login)
            }
            None => None,
        },
    };
    Ok(Access {
        credentials,
        endpoint: settings.endpoint,
    })
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
    let access = access_for(pool, image).await?;
    let config = fetch(image, platform, &access).await?;
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
    // One lookup per distinct image, all at once: a task is as slow as its slowest registry.
    let mut images: Vec<&str> = wanted.iter().map(|plan| plan.image.as_str()).collect();
    images.sort_unstable();
    images.dedup();
    let lookups = images.iter().map(|image| resolve(pool, image, &platform));
    let found: std::collections::HashMap<&str, Result<ImageConfig, ResolveError>> = images
        .iter()
        .copied()
        .zip(futures::future::join_all(lookups).await)
        .collect();
    let mut resolutions = Vec::new();
    for plan in &wanted {
        let result = match found[plan.image.as_str()].clone() {
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
            container: plan.name.clone(),
            image: plan.image.clone(),
            result,
        });
    }
    resolutions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_hosts_are_recognised_with_their_region() {
        let region = |host| ecr::region_of(host);
        assert_eq!(
            region("123456789012.dkr.ecr.eu-west-3.amazonaws.com").as_deref(),
            Some("eu-west-3")
        );
        assert_eq!(
            region("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com").as_deref(),
            Some("us-gov-west-1")
        );
        assert_eq!(
            region("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").as_deref(),
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
            assert_eq!(region(other), None, "{other}");
        }
    }

    #[test]
    fn an_endpoint_moves_the_reference_and_keeps_tag_and_digest() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let moved = |image: &str, endpoint| {
            let (reference, protocol) = reached_at(&image.parse().unwrap(), endpoint);
            let http = matches!(&protocol, ClientProtocol::HttpsExcept(hosts) if hosts == &[reference.registry().to_owned()]);
            (reference.to_string(), http)
        };
        assert_eq!(
            moved("nginx", "https://mirror.example:5000"),
            ("mirror.example:5000/library/nginx:latest".into(), false)
        );
        assert_eq!(
            moved(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v2",
                "http://127.0.0.1:5000"
            ),
            ("127.0.0.1:5000/team/app:v2".into(), true)
        );
        assert_eq!(
            moved(
                &format!("ghcr.io/o/app:1@{digest}"),
                "https://ghcr.internal"
            ),
            (format!("ghcr.internal/o/app:1@{digest}"), false)
        );
        assert_eq!(
            moved(&format!("quay.io/o/app@{digest}"), "https://quay.internal"),
            (format!("quay.internal/o/app@{digest}"), false)
        );
    }

    #[test]
    fn registry_settings_are_checked_with_a_way_to_fix_them() {
        use registries::{check, RegistrySettings};
        let settings =
            |username: Option<&str>, password_ref: Option<&str>, endpoint: Option<&str>| {
                RegistrySettings {
                    registry: "registry.example:5000".into(),
                    username: username.map(Into::into),
                    password_ref: password_ref.map(Into::into),
                    endpoint: endpoint.map(Into::into),
                }
                .normalized()
            };
        assert_eq!(
            check(&settings(Some("ci"), Some("env:REG_PASSWORD"), None)),
            Ok(())
        );
        assert_eq!(
            check(&settings(None, None, Some("http://127.0.0.1:5000/"))),
            Ok(())
        );
        assert_eq!(
            check(&settings(
                Some("ci"),
                Some("file:/run/secrets/registry"),
                Some("https://mirror.example")
            )),
            Ok(())
        );
        let refused = |s: RegistrySettings| check(&s).unwrap_err();
        assert!(refused(settings(None, None, None)).contains("credentials, an endpoint"));
        assert!(refused(settings(Some("ci"), None, None)).contains("both"));
        assert!(refused(settings(Some("ci"), Some("hunter2"), None)).contains("env:VARIABLE"));
        assert!(refused(settings(None, None, Some("ftp://mirror"))).contains("https://host"));
        assert!(refused(settings(None, None, Some("https://mirror/v2/x"))).contains("/v2/"));
        assert!(refused(settings(None, None, Some("mirror.example"))).contains("not a URL"));
        assert!(refused(RegistrySettings {
            registry: "docker.io/library".into(),
            ..settings(Some("ci"), Some("env:X"), None)
        })
        .contains("registry host"));
        // Blank form fields are unset ones.
        assert_eq!(
            settings(Some(" "), Some(""), Some("http://h:1")).username,
            None
        );
    }
}
