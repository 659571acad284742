//! What every request to the people's listener passes, outermost first:
//! 1. the Host check: a name other than the public URL's is refused (DNS rebinding), IP addresses
//!    and `localhost` pass;
//! 2. authentication: a pipeline token (`Authorization: Bearer`) or the session cookie becomes the
//!    request's `Principal`; a token that is not valid is a 401 at once;
//! 3. the cross-site check: a state-changing request that is not from this origin is a 403
//!    (`Sec-Fetch-Site`, then `Origin`; without either, only a JSON body passes);
//! 4. authorization, on matched routes: the access table (`palisade_app::access`) decides, a route
//!    without a rule is refused to everyone.
//!
//! Security headers are added by tower-http layers in `http::people_router`.

use super::error::ErrorBody;
use super::tls::Peer;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use palisade_app::access::{check, Refusal, RULES};
use palisade_console::auth::sessions::SessionPolicy;
use palisade_console::auth::{ClientAddress, Principal};
use palisade_console::Console;
use std::sync::Arc;

/// The session cookie's name (under HTTPS with the `__Host-` prefix: see [`Guard::cookie_name`]).
pub const SESSION_COOKIE: &str = "palisade_session";
/// The device cookie's: a browser that signed in to an account before.
pub const DEVICE_COOKIE: &str = "palisade_device";
/// A single sign-on under way (signed by the console, so nothing is kept on the server).
pub const SIGN_ON_COOKIE: &str = "palisade_sign_on";

/// What the checks need to know.
pub struct Guard {
    pub console: Console,
    pub sessions: SessionPolicy,
    /// The public URL's host (lowercase), the one name the listener answers to.
    pub public_host: Option<String>,
    /// The public URL's origin (`https://palisade.example.com`), accepted as `Origin`.
    pub public_origin: Option<String>,
    /// People reach the console over HTTPS.
    pub https: bool,
    /// Load balancers whose `X-Forwarded-For` is believed (`PALISADE_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Guard {
    /// A cookie's name as this console sets and reads it: `__Host-` first under HTTPS, which
    /// browsers accept only from this exact host, `Secure`, `Path=/` and without `Domain`, so a
    /// sibling subdomain cannot plant or overwrite it. (Plain HTTP cannot have that protection.)
    pub fn cookie_name(&self, name: &str) -> String {
        if self.https {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        }
    }

    /// The value of this console's cookie `name` in the request.
    pub fn read_cookie(&self, headers: &HeaderMap, name: &str) -> Option<String> {
        cookie(headers, &self.cookie_name(name))
    }

    /// A `Set-Cookie` value for cookie `name`: `HttpOnly`, `Path=/`, `Secure` under HTTPS, for
    /// `lifetime` (`None`: expired now, which removes it).
    pub fn cookie(
        &self,
        name: &str,
        value: &str,
        lifetime: Option<std::time::Duration>,
        same_site: cookie::SameSite,
    ) -> HeaderValue {
        let max_age = lifetime.map_or(cookie::time::Duration::ZERO, |lifetime| {
            cookie::time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX))
        });
        let built = cookie::Cookie::build((self.cookie_name(name), value.to_owned()))
            .path("/")
            .http_only(true)
            .same_site(same_site)
            .secure(self.https)
            .max_age(max_age)
            .build();
        HeaderValue::from_str(&built.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("palisade_invalid=; Max-Age=0; Path=/"))
    }
}

/// Who sent the request: the peer, unless the peer is a trusted proxy; then the nearest address
/// in `X-Forwarded-For` that is not itself a trusted proxy. Proxies append, so entries left of
/// the first untrusted one may be anything the client wrote and are never read.
pub fn client_address(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |address: &std::net::IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect::<Vec<_>>();
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        match entry.trim().parse::<std::net::IpAddr>() {
            Ok(address) => {
                client = address;
                if !is_trusted(&address) {
                    break;
                }
            }
            // Garbage from the client's side: stop at the last address a proxy vouched for.
            Err(_) => break,
        }
    }
    client
}

fn refuse(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(ErrorBody::message(message.to_string()))).into_response()
}

/// The host of a `Host` header value (without the port; IPv6 literals keep their brackets).
fn host_of(value: &str) -> &str {
    if value.starts_with('[') {
        return value.split_inclusive(']').next().unwrap_or(value);
    }
    value.rsplit_once(':').map_or(value, |(host, _)| host)
}

/// Whether a request naming `host` may be served: an IP address or `localhost` (a page elsewhere
/// cannot make a browser send those for its own origin), or the public URL's host.
pub fn host_allowed(host: &str, public_host: Option<&str>) -> bool {
    let host = host_of(host).to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_ok()
        || host == "localhost"
        || public_host.is_some_and(|public| public == host)
}

/// Step 1: the Host check.
pub async fn check_host(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        });
    match host {
        Some(host) if host_allowed(host, guard.public_host.as_deref()) => next.run(request).await,
        Some(host) => {
            tracing::warn!(%host, "refused a request for an unknown host name");
            refuse(
                StatusCode::MISDIRECTED_REQUEST,
                "this console does not answer to that host name (set PALISADE_PUBLIC_URL to the name people use)",
            )
        }
        None => refuse(StatusCode::BAD_REQUEST, "the request names no host"),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// The bearer token of an `Authorization` header, when there is one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Whether a state-changing request comes from this console's own pages.
fn same_origin(headers: &HeaderMap, guard: &Guard) -> bool {
    if let Some(site) = headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
    {
        // `none`: typed or bookmarked by the user, not sent by another page.
        return matches!(site, "same-origin" | "none");
    }
    if let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let scheme = if guard.https { "https" } else { "http" };
        return origin == format!("{scheme}://{host}")
            || guard.public_origin.as_deref() == Some(origin);
    }
    // No browser sends a state-changing request without either header; a JSON body cannot be
    // sent across origins without a CORS preflight, which this console never allows.
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// Steps 2 and 3: who is calling, and whether a state change comes from this origin.
pub async fn authenticate(
    State(guard): State<Arc<Guard>>,
    mut request: Request,
    next: Next,
) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(peer)| {
            client_address(peer.0.ip(), request.headers(), &guard.trusted_proxies).to_string()
        })
        .unwrap_or_default();
    request
        .extensions_mut()
        .insert(ClientAddress(address.clone()));
    let principal = if let Some(token) = bearer(request.headers()) {
        match guard.console.api_token(token).await {
            Ok(Some(principal)) => Some(principal),
            Ok(None) => {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "unknown or revoked pipeline token",
                )
            }
            Err(error) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, error.public_message()),
        }
    } else {
        let unsafe_method = !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        if unsafe_method && !same_origin(request.headers(), &guard) {
            tracing::warn!(method = %request.method(), path = %request.uri().path(), %address, "refused a cross-site request");
            return refuse(
                StatusCode::FORBIDDEN,
                "cross-site request refused: state changes come from this console's own pages (or use a pipeline token)",
            );
        }
        match guard.read_cookie(request.headers(), SESSION_COOKIE) {
            Some(token) => match guard.console.session(&token, guard.sessions).await {
                Ok(principal) => principal,
                Err(error) => {
                    return refuse(StatusCode::INTERNAL_SERVER_ERROR, error.public_message())
                }
            },
            None => None,
        }
    };
    if let Some(principal) = principal {
        request.extensions_mut().insert(principal);
    }
    next.run(request).await
}

/// A page route (not the API, not the sign-in endpoints): refusals are pages, not JSON.
fn is_page(path: &str) -> bool {
    !path.starts_with("/api/") && !path.starts_with("/auth/")
}

/// Step 4: the access table, for a matched route.
pub async fn authorize(matched: MatchedPath, request: Request, next: Next) -> Response {
    let principal = request.extensions().get::<Principal>();
    let path = matched.as_str();
    match check(principal, request.method().as_str(), path) {
        Ok(()) => next.run(request).await,
        Err(Refusal::SignInFirst) if is_page(path) => {
            let wanted = request
                .uri()
                .path_and_query()
                .map_or("/", |path| path.as_str());
            let next = percent_encode(wanted);
            Redirect::to(&format!("/sign-in?next={next}")).into_response()
        }
        // A route served with other methods: 405 and what it takes, never its handler (axum
        // would answer HEAD with the GET handler, around the table).
        Err(Refusal::NoRule) if RULES.iter().any(|rule| rule.path == path) => {
            let allowed: Vec<&str> = RULES
                .iter()
                .filter(|rule| rule.path == path)
                .map(|rule| rule.method)
                .collect();
            let mut answer = refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} is not served at {path}: use {}",
                    request.method(),
                    allowed.join(" or ")
                ),
            );
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                answer.headers_mut().insert(header::ALLOW, value);
            }
            answer
        }
        Err(refusal) => {
            let status = match refusal {
                Refusal::SignInFirst => StatusCode::UNAUTHORIZED,
                Refusal::NotAllowed { .. } | Refusal::NoRule => StatusCode::FORBIDDEN,
            };
            if refusal == Refusal::NoRule {
                tracing::error!(method = %request.method(), path, "a route without an access rule was called");
            }
            if is_page(path) {
                (
                    status,
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    )],
                    format!("Not for you: {refusal}."),
                )
                    .into_response()
            } else {
                refuse(status, refusal)
            }
        }
    }
}

fn percent_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_localhost_and_the_public_name_are_served() {
        let public = Some("palisade.example.com");
        for host in [
            "127.0.0.1:3000",
            "10.1.2.3",
            "[::1]:3000",
            "localhost:3000",
            "palisade.example.com",
            "Palisade.Example.com:443",
        ] {
            assert!(host_allowed(host, public), "{host}");
        }
        for host in [
            "evil.example:3000",
            "palisade.example.com.evil.example",
            "localhost.evil.example",
        ] {
            assert!(!host_allowed(host, public), "{host}");
        }
        assert!(
            !host_allowed("palisade.example.com", None),
            "no public URL, no name"
        );
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/16".parse().unwrap()];
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
            headers
        };
        let ip = |text: &str| text.parse::<std::net::IpAddr>().unwrap();
        let balancer = ip("10.0.3.4");
        // Behind the load balancer: the address it saw.
        assert_eq!(
            client_address(balancer, &headers("203.0.113.9"), &trusted),
            ip("203.0.113.9")
        );
        // A client that writes its own header is still blamed under its real address.
        assert_eq!(
            client_address(balancer, &headers("1.1.1.1, 203.0.113.9"), &trusted),
            ip("203.0.113.9")
        );
        // Proxies in a chain are skipped; garbage stops the walk at the last vouched address.
        assert_eq!(
            client_address(balancer, &headers("203.0.113.9, 10.0.9.9"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(balancer, &headers("not-an-address"), &trusted),
            balancer
        );
        // Straight from the internet: the header means nothing.
        assert_eq!(
            client_address(ip("198.51.100.7"), &headers("10.0.0.1"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(balancer, &headers("203.0.113.9"), &[]),
            balancer,
            "no trusted proxies, no forwarding"
        );
    }
}
