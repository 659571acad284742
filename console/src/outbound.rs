//! Requests the console sends to places that settings, registries or identity providers name,
//! never trusted to choose where they go: addresses the console never asks (the metadata
//! services that hand out credentials), one shared client that resolves names through that
//! filter and ignores proxies from the environment, and bodies read with a bound. What a
//! failure says to the caller is only that the place could not be reached (the socket's own
//! words, "connection refused" against "reset", would make a port scanner of it); the console's
//! log keeps the detail.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Addresses the console never sends a request to, whoever names them: link-local (the EC2 and
/// ECS metadata services at 169.254.169.254 and 169.254.170.2 hand out credentials), AWS's IPv6
/// metadata address, unspecified, broadcast and multicast.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            let metadata = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == metadata
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.to_ipv4_mapped().is_some_and(forbidden_v4)
        }
    }
}

fn forbidden_v4(v4: Ipv4Addr) -> bool {
    v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()
}

/// [`is_forbidden_ip`] for a URL's host when it is an address (names are checked as they resolve).
pub fn is_forbidden_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(v4) => is_forbidden_ip(IpAddr::V4(*v4)),
        url::Host::Ipv6(v6) => is_forbidden_ip(IpAddr::V6(*v6)),
        url::Host::Domain(_) => false,
    }
}

/// A loopback address, IPv4-mapped IPv6 (`::ffff:127.0.0.1`) included.
pub fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

pub fn is_loopback_host(host: Option<url::Host<&str>>) -> bool {
    match host {
        Some(url::Host::Ipv4(v4)) => v4.is_loopback(),
        Some(url::Host::Ipv6(v6)) => is_loopback_ip(IpAddr::V6(v6)),
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// Resolves names as the system does, minus the forbidden addresses (and, for a client that
/// must not reach this host's own services, loopback): a name that points only there does not
/// resolve at all.
struct FilteredNames {
    loopback: bool,
}

impl reqwest::dns::Resolve for FilteredNames {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let loopback = self.loopback;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| {
                    !is_forbidden_ip(addr.ip()) && (loopback || !is_loopback_ip(addr.ip()))
                })
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{host} has no address the console may reach (link-local addresses, such as the metadata service's, are never asked)"
                )
                .into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn client(loopback: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(FilteredNames { loopback }))
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(10))
        .no_proxy()
        .user_agent(concat!("palisade-console/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a reqwest client with static settings builds")
}

/// One client for every request to a place a setting or an answer names (its connection pool is
/// shared): no automatic redirects (the callers follow them by hand under their rules), the
/// filtering resolver, timeouts per step, and no proxy from the environment (`HTTPS_PROXY`
/// would resolve the name itself, past the filter). Loopback is allowed (a registry on the
/// console's own host).
pub fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| client(true))
}

/// The same, for places that must never be this host's own services either (what an identity
/// provider's answers name, unless the provider itself runs here): names resolving to loopback
/// do not resolve.
pub fn http_off_host() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| client(false))
}

/// Logs why a request to `target` failed (for the operator) and answers what the caller is told.
pub fn unreachable(target: &str, error: &reqwest::Error) -> String {
    tracing::info!(target, error = %crate::text::error_chain(error), "an outbound request failed");
    "could not be reached or did not answer in time (the console's log has the details)".to_owned()
}

/// Why a bounded body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// More than the bound, announced or sent.
    TooBig,
    /// The connection failed while the body was read (logged).
    Failed,
}

/// The body of `response`, refused past `limit` bytes (announced or actual).
pub async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let announced = response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooBig);
    }
    let target = response.url().to_string();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(BodyError::TooBig);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(error) => {
                unreachable(&target, &error);
                return Err(BodyError::Failed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Url;

    #[test]
    fn the_metadata_services_are_forbidden_in_every_spelling() {
        for forbidden in [
            "169.254.169.254",
            "169.254.170.2",
            "0.0.0.0",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "224.0.0.1",
        ] {
            assert!(is_forbidden_ip(forbidden.parse().unwrap()), "{forbidden}");
        }
        for allowed in ["127.0.0.1", "10.0.0.5", "::1", "52.94.0.1"] {
            assert!(!is_forbidden_ip(allowed.parse().unwrap()), "{allowed}");
        }
        // The URL parser turns decimal and hex spellings into the address they mean.
        for spelled in [
            "http://2852039166/",
            "http://0xa9fea9fe/",
            "http://169.254.169.254./",
        ] {
            let url = Url::parse(spelled).unwrap();
            assert!(is_forbidden_host(&url.host().unwrap()), "{spelled}");
        }
    }
}
