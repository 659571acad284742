//! One image config read over the OCI distribution API, by hand on reqwest so that every hop obeys
//! the console's rules: anonymous or with the registry's token flow (Docker Hub, GHCR, Quay,
//! ECR) or basic auth; a multi-arch index resolved to the task's platform; plain HTTP only for
//! loopback registries (as Docker does) or an `http://` endpoint the admin set; redirects
//! followed by hand, never to link-local addresses (the metadata services) and never carrying
//! credentials to another origin; every body size-capped and checked against its digest; an
//! upstream's own words never echoed.

use super::reference::ImageRef;
use super::{Access, ImageConfig, ResolveError, LOOKUP_TIMEOUT};
use crate::clock::now_ms;
use crate::outbound::{http, is_forbidden_host, is_loopback_host};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use sha2::Digest;

/// The distribution spec's own bound for a manifest; image configs get the same.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;
/// A token service's answer (a JWT and its expiry) is a few KiB.
pub const MAX_TOKEN_BYTES: usize = 256 * 1024;
/// Redirects followed for one request (blobs are commonly redirected once, to a CDN).
pub const MAX_REDIRECTS: usize = 5;

pub(super) const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// Where `image`'s registry is asked: `access.endpoint` when the admin set one, else the
/// registry's own API host, over HTTPS (plain HTTP for loopback). This is also what the cache is
/// keyed by.
pub fn origin_for(image: &ImageRef, access_endpoint: Option<&str>) -> Result<Url, String> {
    let text = match access_endpoint {
        Some(endpoint) => endpoint.to_owned(),
        None => {
            let host = image.api_host();
            let parsed = Url::parse(&format!("https://{host}/"))
                .map_err(|error| format!("`{host}` is not a registry host: {error}"))?;
            let scheme = if is_loopback_host(parsed.host()) {
                "http"
            } else {
                "https"
            };
            format!("{scheme}://{host}")
        }
    };
    let origin =
        Url::parse(&text).map_err(|error| format!("`{text}` is not a registry URL: {error}"))?;
    if origin.host().as_ref().is_some_and(is_forbidden_host) {
        return Err(format!(
            "{text} is a link-local address (the metadata service), which the console never asks"
        ));
    }
    Ok(origin)
}

/// How a request proves who asks.
#[derive(Clone)]
pub(super) enum Auth {
    Basic(String, String),
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a password or token in debug output or logs.
        f.write_str(match self {
            Auth::Basic(..) => "Basic(<redacted>)",
            Auth::Bearer(_) => "Bearer(<redacted>)",
        })
    }
}

/// Requests to one registry for one image: its origin, the credentials that belong to it, what
/// it asks the token service for (`pull`, or `pull,push`), and the authorization it earned so far.
pub(super) struct Session<'a> {
    pub(super) image: &'a str,
    pub(super) repository: &'a str,
    pub(super) origin: Url,
    pub(super) credentials: Option<&'a (String, String)>,
    pub(super) actions: &'static str,
    pub(super) auth: Option<Auth>,
}

/// A request body and its content type.
pub(super) type Body<'b> = Option<(&'static str, &'b [u8])>;

impl Session<'_> {
    pub(super) fn other(&self, reason: impl Into<String>) -> ResolveError {
        ResolveError::Other {
            image: self.image.to_owned(),
            reason: reason.into(),
        }
    }

    /// `path` on the registry, read up to `limit` bytes, authenticating once when challenged.
    async fn get(
        &mut self,
        path: &str,
        accept: &str,
        limit: usize,
    ) -> Result<Vec<u8>, ResolveError> {
        let url = self
            .origin
            .join(path)
            .map_err(|error| self.other(format!("a request path: {error}")))?;
        let mut challenged = false;
        loop {
            let origin = self.origin.clone();
            let response = self
                .send(
                    Method::GET,
                    url.clone(),
                    Some(accept),
                    None,
                    self.auth.clone(),
                    &origin,
                )
                .await?;
            match response.status() {
                StatusCode::UNAUTHORIZED if !challenged => {
                    challenged = true;
                    self.answer_challenge(response.headers()).await?;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(ResolveError::Unauthorized {
                        image: self.image.to_owned(),
                    })
                }
                StatusCode::NOT_FOUND => {
                    return Err(ResolveError::NotFound {
                        image: self.image.to_owned(),
                    })
                }
                status if status.is_success() => return self.read(response, limit).await,
                // The body may say more, but it is the upstream's text: never shown.
                status => return Err(self.other(format!("the registry answered HTTP {status}"))),
            }
        }
    }

    /// `method` on `url` with `body`, authenticating once when challenged; any answer but a
    /// second `401` is the caller's to read.
    pub(super) async fn exchange(
        &mut self,
        method: Method,
        url: Url,
        accept: Option<&str>,
        body: Body<'_>,
    ) -> Result<reqwest::Response, ResolveError> {
        let origin = self.origin.clone();
        let response = self
            .send(
                method.clone(),
                url.clone(),
                accept,
                body,
                self.auth.clone(),
                &origin,
            )
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        self.answer_challenge(response.headers()).await?;
        self.send(method, url, accept, body, self.auth.clone(), &origin)
            .await
    }

    /// One request, redirects followed by hand (for reads; a write's redirect is answered as
    /// is): each target checked, `auth` sent only to `auth_origin` (never carried to another
    /// host, port or scheme), plain HTTP only where the first hop was plain or to loopback.
    async fn send(
        &self,
        method: Method,
        mut url: Url,
        accept: Option<&str>,
        body: Body<'_>,
        auth: Option<Auth>,
        auth_origin: &Url,
    ) -> Result<reqwest::Response, ResolveError> {
        // Plain HTTP only where the registry itself is plain (loopback, or an admin's http://
        // endpoint): an HTTPS registry cannot send its credentials to a plain token service.
        let plain_allowed = self.origin.scheme() == "http";
        for _ in 0..=MAX_REDIRECTS {
            self.check_target(&url, plain_allowed)?;
            let mut request = http().request(method.clone(), url.clone());
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            if let Some((content_type, bytes)) = body {
                request = request
                    .header(CONTENT_TYPE, content_type)
                    .body(bytes.to_vec());
            }
            if url.origin() == auth_origin.origin() {
                request = match &auth {
                    Some(Auth::Basic(user, password)) => request.basic_auth(user, Some(password)),
                    Some(Auth::Bearer(token)) => request.bearer_auth(token),
                    None => request,
                };
            }
            let response = request.send().await.map_err(|error| {
                crate::outbound::unreachable(url.as_str(), &error);
                ResolveError::Unreachable {
                    image: self.image.to_owned(),
                }
            })?;
            let reading = method == Method::GET || method == Method::HEAD;
            if !response.status().is_redirection() || !reading {
                return Ok(response);
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .ok_or_else(|| self.other("the registry redirected without a location"))?;
            url = url.join(location).map_err(|_| {
                self.other("the registry redirected to something that is not a URL")
            })?;
        }
        Err(self.other(format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// Refuses a request target the console must never reach.
    fn check_target(&self, url: &Url, plain_allowed: bool) -> Result<(), ResolveError> {
        let host = url.host();
        if host.as_ref().is_some_and(is_forbidden_host) {
            return Err(self.other(
                "the registry pointed at a link-local address (the metadata service), which the console never asks",
            ));
        }
        match url.scheme() {
            "https" => Ok(()),
            // Never lower: an HTTPS registry that redirects to plain HTTP, even on loopback, would
            // have what follows sent in clear or to another service of this host.
            "http" if plain_allowed => Ok(()),
            "http" => Err(self.other("the registry redirected from HTTPS to plain HTTP")),
            other => Err(self.other(format!("the registry pointed at a {other}: URL"))),
        }
    }

    /// Earns authorization from a `401`'s challenge: basic auth with the registry's credentials,
    /// or a bearer token from the token service it names (with the credentials, when there are
    /// some; anonymously otherwise).
    async fn answer_challenge(&mut self, headers: &HeaderMap) -> Result<(), ResolveError> {
        let unauthorized = || ResolveError::Unauthorized {
            image: self.image.to_owned(),
        };
        let challenge = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(unauthorized)?;
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let basic = self
            .credentials
            .map(|(user, password)| Auth::Basic(user.clone(), password.clone()));
        if scheme.eq_ignore_ascii_case("basic") {
            self.auth = Some(basic.ok_or_else(unauthorized)?);
            return Ok(());
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(unauthorized());
        }
        let params = challenge_params(params);
        let realm = params
            .iter()
            .find(|(name, _)| name == "realm")
            .map(|(_, value)| value.as_str())
            .ok_or_else(|| self.other("the registry's challenge names no token service"))?;
        let mut token_url = Url::parse(realm)
            .map_err(|_| self.other("the registry's token service is not a URL"))?;
        let scope = format!("repository:{}:{}", self.repository, self.actions);
        {
            let mut query = token_url.query_pairs_mut();
            if let Some((_, service)) = params.iter().find(|(name, _)| name == "service") {
                query.append_pair("service", service);
            }
            query.append_pair("scope", &scope);
        }
        // The token service speaks for the registry that named it: it gets the registry's
        // credentials, and nothing it redirects to does.
        let token_origin = token_url.clone();
        let response = self
            .send(Method::GET, token_url, None, None, basic, &token_origin)
            .await?;
        match response.status() {
            status if status.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(unauthorized()),
            status => {
                return Err(self.other(format!(
                    "the registry's token service answered HTTP {status}"
                )))
            }
        }
        let body = self.read(response, MAX_TOKEN_BYTES).await?;
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|_| self.other("the registry's token service did not answer JSON"))?;
        let token = ["token", "access_token"]
            .iter()
            .find_map(|key| answer.get(key).and_then(Value::as_str))
            .filter(|token| !token.is_empty())
            .ok_or_else(|| self.other("the registry's token service answered no token"))?;
        self.auth = Some(Auth::Bearer(token.to_owned()));
        Ok(())
    }

    /// The body, refused past `limit` bytes (announced or actual).
    async fn read(
        &self,
        response: reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, ResolveError> {
        crate::outbound::read_bounded(response, limit)
            .await
            .map_err(|error| match error {
                crate::outbound::BodyError::TooBig => self.other(format!(
                    "the registry answered more than {} KiB",
                    limit / 1024
                )),
                crate::outbound::BodyError::Failed => ResolveError::Unreachable {
                    image: self.image.to_owned(),
                },
            })
    }

    /// A manifest or blob, checked against the digest it was asked by (or, for a tag, answered
    /// with its computed digest).
    async fn get_verified(
        &mut self,
        path: &str,
        accept: &str,
        limit: usize,
        expected: Option<&str>,
    ) -> Result<(Vec<u8>, String), ResolveError> {
        let body = self.get(path, accept, limit).await?;
        let computed = match expected.and_then(|digest| digest.split_once(':')) {
            Some(("sha512", _)) => format!("sha512:{:x}", sha2::Sha512::digest(&body)),
            _ => format!("sha256:{:x}", sha2::Sha256::digest(&body)),
        };
        if let Some(expected) = expected {
            if computed != expected {
                return Err(self.other(format!(
                    "the registry answered content whose digest is not {expected}"
                )));
            }
        }
        Ok((body, computed))
    }
}

/// `realm="https://auth.example/token",service="registry.example"` as name/value pairs.
fn challenge_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let name = name
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((value, after)) => (value, after),
                None => (quoted, ""),
            },
            None => after.split_once(',').unwrap_or((after, "")),
        };
        params.push((name, value.to_owned()));
        rest = after.trim_start_matches([',', ' ']);
    }
    params
}

/// The image config's `Entrypoint` or `Cmd`. Absent or null means unset; anything but a list of
/// strings is a broken config, said so rather than read as unset (which would end in a misleading
/// "neither ENTRYPOINT nor CMD").
fn config_argv(config: &Value, key: &str) -> Result<Option<Vec<String>>, String> {
    match config.get("config").and_then(|c| c.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|_| format!("the image config's {key} is not a list of strings")),
    }
}

/// Reads the config of `image` (already checked and parsed into `reference`), reaching its
/// registry as `access` says, within [`LOOKUP_TIMEOUT`].
pub async fn fetch(
    image: &str,
    reference: &ImageRef,
    platform: &str,
    access: &Access,
) -> Result<ImageConfig, ResolveError> {
    let mut session = Session {
        image,
        repository: &reference.repository,
        origin: access.origin.clone(),
        credentials: access.credentials.as_ref(),
        actions: "pull",
        auth: None,
    };
    match tokio::time::timeout(
        LOOKUP_TIMEOUT,
        read_config(&mut session, reference, platform),
    )
    .await
    {
        Ok(answer) => answer,
        Err(_) => Err(ResolveError::Timeout {
            image: image.to_owned(),
            seconds: LOOKUP_TIMEOUT.as_secs(),
        }),
    }
}

async fn read_config(
    session: &mut Session<'_>,
    reference: &ImageRef,
    platform: &str,
) -> Result<ImageConfig, ResolveError> {
    let image = session.image;
    let (manifest, digest) = read_manifest(session, reference, platform).await?;
    let config_digest = config_digest(session, &manifest)?;
    let config = read_config_blob(session, &reference.repository, &config_digest).await?;
    let argv = |key: &str| config_argv(&config, key).map_err(|reason| session.other(reason));
    Ok(ImageConfig {
        image: image.to_owned(),
        platform: platform.to_owned(),
        digest,
        entrypoint: argv("Entrypoint")?,
        cmd: argv("Cmd")?,
        resolved_at_ms: now_ms(),
    })
}

/// Where manifest `wanted` (a tag or a digest) of `repository` is read.
fn manifest_path(repository: &str, wanted: &str) -> String {
    format!("/v2/{repository}/manifests/{wanted}")
}

/// The image's manifest and its digest; a multi-arch index is resolved to `platform`'s manifest.
async fn read_manifest(
    session: &mut Session<'_>,
    reference: &ImageRef,
    platform: &str,
) -> Result<(Value, String), ResolveError> {
    let repository = &reference.repository;
    let (body, digest) = session
        .get_verified(
            &manifest_path(repository, reference.manifest_reference()),
            MANIFEST_TYPES,
            MAX_MANIFEST_BYTES,
            reference.digest.as_deref(),
        )
        .await?;
    let manifest: Value = serde_json::from_slice(&body)
        .map_err(|_| session.other("the registry's manifest is not JSON"))?;
    match manifest.get("manifests").and_then(Value::as_array) {
        Some(entries) => platform_manifest(session, repository, entries, platform).await,
        None => Ok((manifest, digest)),
    }
}

/// The manifest an index's `entries` name for `platform` (`os/architecture`), and its digest.
async fn platform_manifest(
    session: &mut Session<'_>,
    repository: &str,
    entries: &[Value],
    platform: &str,
) -> Result<(Value, String), ResolveError> {
    let (os, arch) = platform.split_once('/').unwrap_or(("linux", "amd64"));
    let chosen = entries
        .iter()
        .find(|entry| {
            let field = |name: &str| {
                entry
                    .get("platform")
                    .and_then(|p| p.get(name))
                    .and_then(Value::as_str)
            };
            field("os") == Some(os) && field("architecture") == Some(arch)
        })
        .and_then(|entry| entry.get("digest").and_then(Value::as_str))
        .ok_or_else(|| ResolveError::NoPlatform {
            image: session.image.to_owned(),
            platform: platform.to_owned(),
        })?
        .to_owned();
    let wanted = ImageRef::parse(&format!("x@{chosen}")).map_err(|_| {
        session.other("the index names a manifest by something that is not a digest")
    })?;
    let chosen = wanted.digest.unwrap_or_default();
    let (body, found) = session
        .get_verified(
            &manifest_path(repository, &chosen),
            MANIFEST_TYPES,
            MAX_MANIFEST_BYTES,
            Some(&chosen),
        )
        .await?;
    let manifest = serde_json::from_slice(&body)
        .map_err(|_| session.other("the registry's manifest is not JSON"))?;
    Ok((manifest, found))
}

/// The digest the manifest names its config by.
fn config_digest(session: &Session<'_>, manifest: &Value) -> Result<String, ResolveError> {
    let config_digest = manifest
        .get("config")
        .and_then(|config| config.get("digest"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            session
                .other("the manifest names no config (a schema 1 manifest?): give the entrypoint")
        })?;
    ImageRef::parse(&format!("x@{config_digest}"))
        .ok()
        .and_then(|parsed| parsed.digest)
        .ok_or_else(|| {
            session.other("the manifest names its config by something that is not a digest")
        })
}

/// The image config, the blob `config_digest` names.
async fn read_config_blob(
    session: &mut Session<'_>,
    repository: &str,
    config_digest: &str,
) -> Result<Value, ResolveError> {
    let (body, _) = session
        .get_verified(
            &format!("/v2/{repository}/blobs/{config_digest}"),
            "*/*",
            MAX_CONFIG_BYTES,
            Some(config_digest),
        )
        .await?;
    serde_json::from_slice(&body).map_err(|_| session.other("the image config is not JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_config_argv_is_a_list_of_strings_or_unset() {
        let config = serde_json::json!({"config": {
            "Entrypoint": ["/docker-entrypoint.sh"], "Cmd": null, "User": "app",
            "Shell": "/bin/sh -c",
        }});
        assert_eq!(
            config_argv(&config, "Entrypoint"),
            Ok(Some(vec!["/docker-entrypoint.sh".to_owned()]))
        );
        assert_eq!(config_argv(&config, "Cmd"), Ok(None));
        assert_eq!(config_argv(&config, "WorkingDir"), Ok(None));
        assert!(config_argv(&config, "Shell").unwrap_err().contains("Shell"));
        assert_eq!(config_argv(&serde_json::json!({}), "Cmd"), Ok(None));
    }

    #[test]
    fn an_endpoint_stands_in_for_the_registry_and_loopback_is_plain() {
        let origin = |image: &str, endpoint: Option<&str>| {
            origin_for(&ImageRef::parse(image).unwrap(), endpoint).map(|url| url.to_string())
        };
        assert_eq!(
            origin("nginx", None).unwrap(),
            "https://registry-1.docker.io/"
        );
        assert_eq!(
            origin("127.0.0.1:5000/a", None).unwrap(),
            "http://127.0.0.1:5000/"
        );
        assert_eq!(
            origin("localhost:5000/a", None).unwrap(),
            "http://localhost:5000/"
        );
        assert_eq!(
            origin("ghcr.io/o/a", Some("https://mirror.example:8443")).unwrap(),
            "https://mirror.example:8443/"
        );
        assert!(origin("169.254.169.254/latest/meta-data", None)
            .unwrap_err()
            .contains("link-local"));
        assert!(origin("[fe80::1]:80/a", None)
            .unwrap_err()
            .contains("link-local"));
    }

    #[test]
    fn an_https_registry_reaches_nothing_over_plain_http_not_even_on_loopback() {
        let session = Session {
            image: "registry.example/app:1",
            repository: "app",
            origin: Url::parse("https://registry.example/").unwrap(),
            credentials: None,
            actions: "pull",
            auth: None,
        };
        let plain = session.origin.scheme() == "http";
        let check = |url: &str| session.check_target(&Url::parse(url).unwrap(), plain);
        assert!(check("https://auth.registry.example/token").is_ok());
        assert!(check("http://auth.registry.example/token").is_err());
        assert!(
            check("http://127.0.0.1:5000/token").is_err(),
            "a redirect never lowers HTTPS to HTTP"
        );
        assert!(check("https://169.254.169.254/").is_err());
        assert!(check("ftp://registry.example/").is_err());
    }

    #[test]
    fn a_challenge_is_read_with_quoted_and_bare_values() {
        let params = challenge_params(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(
            params[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(params[1], ("service".into(), "registry.docker.io".into()));
        assert_eq!(params.len(), 3);
        let bare = challenge_params("realm=https://r.example/t, service=r");
        assert_eq!(bare[1], ("service".into(), "r".into()));
    }
}
