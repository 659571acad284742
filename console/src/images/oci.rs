//! One image config read over the OCI distribution API (oci-client): anonymously or with the
//! registry's token flow, a multi-arch index resolved to the task's platform, plain HTTP only for
//! loopback registries (as Docker does) or an `http://` endpoint the admin set.

use super::{Access, ImageConfig, ResolveError, LOOKUP_TIMEOUT};
use crate::clock::now_ms;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::ImageIndexEntry;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;
use std::time::Duration;

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
pub(super) fn reached_at(reference: &Reference, endpoint: &str) -> (Reference, ClientProtocol) {
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
    let argv = |key: &str| {
        config_argv(&config, key).map_err(|reason| ResolveError::Other {
            image: image.to_owned(),
            reason,
        })
    };
    Ok(ImageConfig {
        image: image.to_owned(),
        platform: platform.to_owned(),
        digest,
        entrypoint: argv("Entrypoint")?,
        cmd: argv("Cmd")?,
        resolved_at_ms: now_ms(),
    })
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
}
