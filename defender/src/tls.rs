//! How the sidecar reaches the console safely: `wss://` verified against the public roots plus a
//! CA of the operator's own (`PALISADE_CA_CERT`: PEM text, as ECS `secrets` inject it, or a PEM
//! file's path), and `ws://` only to loopback unless `PALISADE_ALLOW_INSECURE=1`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;

/// The TLS client setup for the console: the public roots, and `extra_ca` when given.
pub fn client_config(extra_ca: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = extra_ca {
        let pem = if ca.trim_start().starts_with("-----BEGIN") {
            ca.as_bytes().to_vec()
        } else {
            std::fs::read(ca).map_err(|error| format!("PALISADE_CA_CERT {ca}: {error}"))?
        };
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            let certificate =
                certificate.map_err(|error| format!("PALISADE_CA_CERT is not PEM: {error}"))?;
            roots.add(certificate).map_err(|error| {
                format!("PALISADE_CA_CERT holds an unusable certificate: {error}")
            })?;
            added += 1;
        }
        if added == 0 {
            return Err("PALISADE_CA_CERT holds no certificate".into());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why the console URL may not be dialled: a plain `ws://` (or `http://`) to a host that is not
/// loopback, where a network in between could read the token and forge the console.
pub fn refuse_insecure(url: &str, allow_insecure: bool) -> Option<String> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    (!loopback && !allow_insecure).then(|| {
        format!(
            "{url} is not encrypted and not on this host: give an https:// console URL (PALISADE_CA_CERT for a private CA), or set PALISADE_ALLOW_INSECURE=1"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_connections_only_to_loopback_unless_allowed() {
        for url in [
            "ws://127.0.0.1:3001/x",
            "http://localhost:3001",
            "ws://[::1]:3001/x",
        ] {
            assert_eq!(refuse_insecure(url, false), None, "{url}");
        }
        assert!(refuse_insecure("ws://10.0.0.5:3001/x", false)
            .unwrap()
            .contains("PALISADE_ALLOW_INSECURE"));
        assert!(refuse_insecure("http://console.internal", false).is_some());
        assert_eq!(refuse_insecure("ws://10.0.0.5:3001/x", true), None);
        assert_eq!(refuse_insecure("wss://console.example/x", false), None);
    }

    #[test]
    fn an_extra_ca_must_be_a_certificate() {
        assert!(client_config(None).is_ok());
        assert!(client_config(Some(
            "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
        ))
        .is_err());
        assert!(client_config(Some("/nonexistent/ca.pem"))
            .unwrap_err()
            .contains("/nonexistent/ca.pem"));
    }
}
