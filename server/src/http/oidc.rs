//! Single sign-on with OpenID Connect: the authorization code flow with PKCE (openidconnect). The
//! provider is discovered from its issuer URL (again every hour, and at most every 30 s after a
//! failure: its keys rotate); `start` sends the browser there with everything the callback needs
//! (state, PKCE verifier, nonce, where to go next) in a cookie the console signed, so nothing is
//! kept on the server for an anonymous caller to fill; `callback` checks that cookie against the
//! state, exchanges the code, verifies the ID token (signature, issuer, audience, expiry, nonce),
//! maps a claim to a role, and opens a session for the identity (issuer and subject).
//!
//! Every request to the provider obeys the console's outbound rules (`palisade_console::outbound`):
//! never a link-local address, never this host's own services unless the issuer itself runs
//! here, never plain HTTP unless the issuer is plain, no proxy from the environment, no redirect
//! followed, answers of at most 256 KiB, 10 s each.

use super::guard::{Guard, SIGN_ON_COOKIE};
use super::session::session_cookie;
use super::Caller;
use crate::config::OidcConfig;
use anyhow::Context;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use cookie::SameSite;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use palisade_app::api::session::safe_next;
use palisade_console::auth::keys::Purpose;
use palisade_console::auth::users::SsoIdentity;
use palisade_console::auth::Role;
use palisade_console::clock::now_ms;
use palisade_console::outbound;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A sign-in must come back within this long.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// The provider's answers (discovery, keys, tokens) are a few KiB; more is not a provider.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Each request to the provider.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The provider's metadata and keys are read again after this long.
const METADATA_FOR: Duration = Duration::from_secs(3600);
/// After a failed discovery, sign-ins are refused at once for this long instead of each asking.
const RETRY_DISCOVERY_AFTER: Duration = Duration::from_secs(30);

/// A sign-in under way, carried by the browser in a cookie the console signed.
#[derive(Serialize, Deserialize)]
struct PendingSignOn {
    state: String,
    verifier: String,
    nonce: String,
    next: String,
    expires_at: i64,
}

/// What discovery knows.
enum Discovery {
    Unknown,
    Found {
        metadata: Box<CoreProviderMetadata>,
        at: Instant,
    },
    Failed {
        at: Instant,
    },
}

/// Where requests to the provider may go, decided by the issuer the operator configured.
#[derive(Clone, Copy)]
struct ProviderRules {
    /// The issuer is plain `http://` (a development provider): its endpoints may be too.
    plain: bool,
    /// The issuer runs on this host: its endpoints may be on loopback too.
    loopback: bool,
}

/// Why a request to the provider failed, as openidconnect reports it.
#[derive(Debug)]
struct ProviderHttpError(String);

impl std::fmt::Display for ProviderHttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProviderHttpError {}

impl ProviderRules {
    fn for_issuer(issuer: &url::Url) -> ProviderRules {
        ProviderRules {
            plain: issuer.scheme() == "http",
            loopback: outbound::is_loopback_host(issuer.host()),
        }
    }

    fn check(self, url: &url::Url) -> Result<(), ProviderHttpError> {
        let refuse = |why: &str| Err(ProviderHttpError(format!("{url}: {why}")));
        match url.scheme() {
            "https" => {}
            "http" if self.plain => {}
            "http" => return refuse("plain HTTP from an HTTPS provider"),
            _ => return refuse("not an http(s) URL"),
        }
        let host = url.host();
        if host.as_ref().is_some_and(outbound::is_forbidden_host) {
            return refuse(
                "a link-local address (the metadata services), which the console never asks",
            );
        }
        if !self.loopback && outbound::is_loopback_host(host) {
            return refuse("this host's own address, while the provider is elsewhere");
        }
        Ok(())
    }

    /// One request to the provider under these rules.
    async fn fetch(self, request: HttpRequest) -> Result<HttpResponse, ProviderHttpError> {
        let url = url::Url::parse(&request.uri().to_string()).map_err(|_| {
            ProviderHttpError("the provider named something that is not a URL".into())
        })?;
        self.check(&url)?;
        let client = if self.loopback {
            outbound::http()
        } else {
            outbound::http_off_host()
        };
        let (parts, body) = request.into_parts();
        let mut sent = client
            .request(parts.method, url.clone())
            .timeout(REQUEST_TIMEOUT)
            .body(body);
        for (name, value) in &parts.headers {
            sent = sent.header(name, value);
        }
        let response = sent.send().await.map_err(|error| {
            ProviderHttpError(format!(
                "{}: {}",
                url.origin().ascii_serialization(),
                outbound::unreachable(url.as_str(), &error)
            ))
        })?;
        let mut answer = openidconnect::http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            answer = answer.header(name, value);
        }
        let body = outbound::read_bounded(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|error| {
                ProviderHttpError(match error {
                    outbound::BodyError::TooBig => format!(
                        "{url}: the provider answered more than {} KiB",
                        MAX_ANSWER_BYTES / 1024
                    ),
                    outbound::BodyError::Failed => format!("{url}: the answer was cut off"),
                })
            })?;
        answer
            .body(body)
            .map_err(|error| ProviderHttpError(error.to_string()))
    }
}

/// The relying party: its settings and the provider's metadata once discovered.
pub struct Oidc {
    config: OidcConfig,
    client_secret: String,
    redirect: RedirectUrl,
    rules: ProviderRules,
    provider: tokio::sync::Mutex<Discovery>,
    /// Codes being exchanged at once: anyone can start a sign-in and come back with a forged
    /// code, and each would cost a request to the provider.
    exchanging: tokio::sync::Semaphore,
}

/// A secret the deployment points at (`env:NAME` or `file:/path`): the operator who sets the
/// console's environment chose it, so any variable or path is allowed, unlike registry
/// passwords, which requests name.
fn read_deployment_secret(reference: &str) -> Result<String, String> {
    match reference.split_once(':') {
        Some(("env", name)) => {
            std::env::var(name).map_err(|_| format!("the environment variable {name} is not set"))
        }
        Some(("file", path)) => std::fs::read_to_string(path)
            .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|error| format!("{path}: {error}")),
        _ => Err(format!("`{reference}` is not env:NAME or file:/path")),
    }
}

impl Oidc {
    /// The relying party for `config`, its callback at `public_url`; the client secret is read now.
    pub fn new(config: OidcConfig, public_url: &url::Url) -> anyhow::Result<Oidc> {
        let client_secret = read_deployment_secret(&config.client_secret_ref)
            .map_err(|reason| anyhow::anyhow!("PALISADE_OIDC_CLIENT_SECRET_REF: {reason}"))?;
        let redirect = public_url
            .join("/auth/oidc/callback")
            .context("making the callback URL")?;
        let issuer = url::Url::parse(&config.issuer)
            .with_context(|| format!("PALISADE_OIDC_ISSUER `{}` is not a URL", config.issuer))?;
        Ok(Oidc {
            redirect: RedirectUrl::new(redirect.to_string()).context("the callback URL")?,
            rules: ProviderRules::for_issuer(&issuer),
            config,
            client_secret,
            provider: tokio::sync::Mutex::new(Discovery::Unknown),
            exchanging: tokio::sync::Semaphore::new(8),
        })
    }

    /// The provider's HTTP client, under the console's rules.
    fn http(
        &self,
    ) -> impl Fn(
        HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, ProviderHttpError>> + Send>,
    > {
        let rules = self.rules;
        move |request| Box::pin(rules.fetch(request))
    }

    /// The provider's metadata: discovered at first use, again each hour, and not asked again
    /// for a while after a failure (a flood of anonymous sign-in starts must not become a flood
    /// of requests to the provider).
    async fn provider(&self) -> anyhow::Result<CoreProviderMetadata> {
        let mut discovery = self.provider.lock().await;
        match &*discovery {
            Discovery::Found { metadata, at } if at.elapsed() < METADATA_FOR => {
                return Ok((**metadata).clone())
            }
            Discovery::Failed { at } if at.elapsed() < RETRY_DISCOVERY_AFTER => {
                anyhow::bail!(
                    "the provider could not be discovered a moment ago (see the log above)"
                )
            }
            _ => {}
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone()).context("the issuer URL")?;
        match CoreProviderMetadata::discover_async(issuer, &self.http()).await {
            Ok(metadata) => {
                *discovery = Discovery::Found {
                    metadata: Box::new(metadata.clone()),
                    at: Instant::now(),
                };
                Ok(metadata)
            }
            Err(error) => {
                // A provider found before stays in use until it answers again.
                if let Discovery::Found { metadata, .. } = &*discovery {
                    tracing::warn!(error = %error, "single sign-on: rediscovering the provider failed; the metadata found before stays in use");
                    let metadata = (**metadata).clone();
                    *discovery = Discovery::Found {
                        metadata: Box::new(metadata.clone()),
                        at: Instant::now() - METADATA_FOR + RETRY_DISCOVERY_AFTER,
                    };
                    return Ok(metadata);
                }
                *discovery = Discovery::Failed { at: Instant::now() };
                Err(anyhow::Error::new(error))
                    .with_context(|| format!("discovering {}", self.config.issuer))
            }
        }
    }

    /// Forgets the metadata (an ID token signed by a key it did not list: the provider rotated).
    async fn rediscover_soon(&self) {
        let mut discovery = self.provider.lock().await;
        if let Discovery::Found { at, .. } = &mut *discovery {
            if at.elapsed() >= RETRY_DISCOVERY_AFTER {
                *discovery = Discovery::Unknown;
            }
        }
    }

    /// The role `claims` give, by the configured mapping: the strongest that matches.
    fn role(&self, claims: &serde_json::Value) -> Option<Role> {
        let values: Vec<&str> = match claims.get(&self.config.role_claim) {
            Some(serde_json::Value::String(value)) => vec![value.as_str()],
            Some(serde_json::Value::Array(values)) => values
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect(),
            _ => Vec::new(),
        };
        self.config
            .roles
            .iter()
            .filter(|(value, _)| value == "*" || values.contains(&value.as_str()))
            .map(|(_, role)| *role)
            .max()
    }

    /// The username `claims` give: the configured claim, then `email`, then `sub`.
    /// An address the provider does not say it verified is never a name here.
    fn username(&self, claims: &serde_json::Value) -> Option<String> {
        let unverified_email = claims.get("email_verified") != Some(&serde_json::Value::Bool(true));
        [self.config.username_claim.as_str(), "email", "sub"]
            .into_iter()
            .filter(|name| !(*name == "email" && unverified_email))
            .find_map(|name| claims.get(name)?.as_str())
            .map(str::to_owned)
    }
}

/// The payload of a JWT already verified by openidconnect, as JSON (for claims beyond the
/// standard ones, such as the role claim).
fn verified_payload(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn back_to_sign_in(message: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", message)
        .finish();
    Redirect::to(&format!("/sign-in?{query}")).into_response()
}

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// `GET /auth/oidc/start`: off to the provider.
pub async fn start(
    State(guard): State<Arc<Guard>>,
    State(oidc): State<Option<Arc<Oidc>>>,
    Query(query): Query<StartQuery>,
) -> Response {
    let Some(oidc) = oidc else {
        return (StatusCode::NOT_FOUND, "single sign-on is not configured").into_response();
    };
    let provider = match oidc.provider().await {
        Ok(provider) => provider,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "single sign-on: the provider cannot be reached"
            );
            return back_to_sign_in("the single sign-on provider cannot be reached: sign in with a password, or try again later");
        }
    };
    let keys = match guard.console.keys().await {
        Ok(keys) => keys,
        Err(error) => return back_to_sign_in(&error.public_message()),
    };
    let client = CoreClient::from_provider_metadata(
        provider,
        ClientId::new(oidc.config.client_id.clone()),
        Some(ClientSecret::new(oidc.client_secret.clone())),
    )
    .set_redirect_uri(oidc.redirect.clone());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    // `openid` is always asked for by the library itself.
    for scope in oidc.config.scopes.iter().filter(|scope| *scope != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.url();
    let pending = PendingSignOn {
        state: state.secret().clone(),
        verifier: verifier.secret().clone(),
        nonce: nonce.secret().clone(),
        next: safe_next(query.next),
        expires_at: now_ms().saturating_add(palisade_console::clock::millis(PENDING_FOR)),
    };
    let payload = serde_json::to_vec(&pending).unwrap_or_default();
    let signed = keys.sign(Purpose::PendingSignOn, &payload);
    (
        [(
            header::SET_COOKIE,
            // Lax: the provider sends the browser back with a cross-site top-level navigation.
            guard.cookie(SIGN_ON_COOKIE, &signed, Some(PENDING_FOR), SameSite::Lax),
        )],
        Redirect::to(url.as_str()),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The sign-in this browser started, when the console signed it, it has not expired, and its
/// state is the one the provider sent back (login CSRF).
async fn pending_sign_on(
    guard: &Guard,
    headers: &HeaderMap,
    state: &str,
) -> Result<PendingSignOn, String> {
    let not_ours = || {
        "this sign-in was not started by this browser, or took more than 10 minutes: start again"
            .to_owned()
    };
    let signed = guard
        .read_cookie(headers, SIGN_ON_COOKIE)
        .ok_or_else(not_ours)?;
    let keys = guard
        .console
        .keys()
        .await
        .map_err(|error| error.public_message())?;
    let pending: PendingSignOn = keys
        .verify(Purpose::PendingSignOn, &signed)
        .and_then(|payload| serde_json::from_slice(&payload).ok())
        .ok_or_else(not_ours)?;
    if pending.state != state || pending.expires_at < now_ms() {
        return Err(not_ours());
    }
    Ok(pending)
}

/// `GET /auth/oidc/callback`: back from the provider.
pub async fn callback(
    State(guard): State<Arc<Guard>>,
    State(oidc): State<Option<Arc<Oidc>>>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(oidc) = oidc else {
        return (StatusCode::NOT_FOUND, "single sign-on is not configured").into_response();
    };
    let console = &guard.console;
    let address = caller.address.clone();
    let back = |reason: &str| {
        let mut response = back_to_sign_in(&format!("single sign-on failed: {reason}"));
        response.headers_mut().append(
            header::SET_COOKIE,
            guard.cookie(SIGN_ON_COOKIE, "", None, SameSite::Lax),
        );
        response
    };
    let refuse = |reason: String| {
        let address = address.clone();
        async move {
            console.sign_on_refused(&address, &reason).await;
            back(&reason)
        }
    };
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        let said: String = format!("the provider said {error} {description}")
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        return refuse(said.trim().to_owned()).await;
    }
    let (Some(code), Some(state)) = (query.code, query.state) else {
        return refuse("the provider sent no code".into()).await;
    };
    let pending = match pending_sign_on(&guard, &headers, &state).await {
        Ok(pending) => pending,
        Err(reason) => return refuse(reason).await,
    };
    let Ok(_exchanging) = oidc.exchanging.try_acquire() else {
        return refuse("too many single sign-ons are being finished at once: try again".into())
            .await;
    };
    let signed_in = finish(
        &oidc,
        code,
        PkceCodeVerifier::new(pending.verifier),
        &Nonce::new(pending.nonce),
    )
    .await;
    let (identity, role) = match signed_in {
        Ok(found) => found,
        Err(reason) => return refuse(reason).await,
    };
    let session = match console
        .sign_in_with_identity(&address, &identity, role, guard.sessions)
        .await
    {
        Ok((_, session)) => session,
        // Audited by the console.
        Err(error) => return back(&error.public_message()),
    };
    signed_in_page(&guard, &pending.next, &session.token)
}

/// The answer to a finished sign-on: the session cookie, and a page that goes on to `next`. A
/// page, not a redirect: the session cookie is SameSite=Strict, and a browser does not send it
/// on a redirect that a cross-site navigation (the provider's) started. `next` is a path of this
/// console (`safe_next`): no scheme, no second slash, no control character.
fn signed_in_page(guard: &Guard, next: &str, session: &str) -> Response {
    let next = html_escape(next);
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={next}\"><title>Palisade</title></head>\
         <body><p>Signed in. <a href=\"{next}\">Continue</a></p></body></html>"
    );
    let mut response = Html(page).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session_cookie(guard, Some(session)));
    headers.append(
        header::SET_COOKIE,
        guard.cookie(SIGN_ON_COOKIE, "", None, SameSite::Lax),
    );
    response
}

/// Exchanges the code and verifies the ID token; the identity and role it gives.
async fn finish(
    oidc: &Oidc,
    code: String,
    verifier: PkceCodeVerifier,
    nonce: &Nonce,
) -> Result<(SsoIdentity, Role), String> {
    let provider = oidc
        .provider()
        .await
        .map_err(|error| format!("{error:#}"))?;
    let client = CoreClient::from_provider_metadata(
        provider,
        ClientId::new(oidc.config.client_id.clone()),
        Some(ClientSecret::new(oidc.client_secret.clone())),
    )
    .set_redirect_uri(oidc.redirect.clone());
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|error| format!("the provider has no token endpoint: {error}"))?
        .set_pkce_verifier(verifier)
        .request_async(&oidc.http())
        .await
        .map_err(|error| format!("the code was not accepted: {error}"))?;
    let id_token = tokens.id_token().ok_or("the provider sent no ID token")?;
    let claims = match id_token.claims(&client.id_token_verifier(), nonce) {
        Ok(claims) => claims,
        Err(error) => {
            // Perhaps signed with a key published after discovery: look again next time.
            oidc.rediscover_soon().await;
            return Err(format!("the ID token is not valid: {error}"));
        }
    };
    let issuer = claims.issuer().to_string();
    let subject = claims.subject().to_string();
    let payload = verified_payload(&id_token.to_string()).ok_or("the ID token cannot be read")?;
    let username = oidc.username(&payload).ok_or("the ID token names nobody")?;
    let role = oidc.role(&payload).ok_or_else(|| {
        format!(
            "{username} has no role here (their `{}` claim matches none of PALISADE_OIDC_ROLES)",
            oidc.config.role_claim
        )
    })?;
    Ok((
        SsoIdentity {
            issuer,
            subject,
            username,
        },
        role,
    ))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relying_party(roles: &str) -> Oidc {
        std::env::set_var("PALISADE_TEST_OIDC_SECRET", "s3cret");
        Oidc::new(
            OidcConfig {
                issuer: "http://127.0.0.1:1".into(),
                client_id: "palisade".into(),
                client_secret_ref: "env:PALISADE_TEST_OIDC_SECRET".into(),
                role_claim: "groups".into(),
                roles: crate::config::role_map(roles).unwrap(),
                username_claim: "preferred_username".into(),
                scopes: vec!["openid".into()],
            },
            &url::Url::parse("https://palisade.example.com").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_strongest_matching_role_wins_and_no_match_is_no_role() {
        let oidc = relying_party("palisade-admins=admin,sre=operator");
        let claims =
            |groups: serde_json::Value| serde_json::json!({ "groups": groups, "sub": "x" });
        assert_eq!(
            oidc.role(&claims(serde_json::json!(["sre", "palisade-admins"]))),
            Some(Role::Admin)
        );
        assert_eq!(
            oidc.role(&claims(serde_json::json!("sre"))),
            Some(Role::Operator)
        );
        assert_eq!(oidc.role(&claims(serde_json::json!(["finance"]))), None);
        let everyone = relying_party("sre=operator,*=viewer");
        assert_eq!(
            everyone.role(&claims(serde_json::json!([]))),
            Some(Role::Viewer)
        );
        assert_eq!(
            oidc.redirect.as_str(),
            "https://palisade.example.com/auth/oidc/callback"
        );
        assert_eq!(
            oidc.username(
                &serde_json::json!({"email": "a@example.com", "email_verified": true, "sub": "1"})
            )
            .as_deref(),
            Some("a@example.com")
        );
        // An email the provider does not say it verified is not a name here.
        assert_eq!(
            oidc.username(&serde_json::json!({"email": "a@example.com", "sub": "1"}))
                .as_deref(),
            Some("1")
        );
    }

    #[test]
    fn the_providers_endpoints_never_lead_to_the_metadata_service_or_this_host() {
        let url = |text: &str| url::Url::parse(text).unwrap();
        let elsewhere = ProviderRules::for_issuer(&url("https://idp.example.com"));
        assert!(elsewhere
            .check(&url("https://keys.idp-cdn.example/jwks"))
            .is_ok());
        for refused in [
            "http://keys.idp-cdn.example/jwks",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fe80::1]/jwks",
            "https://127.0.0.1:3000/api/v1/health",
            "https://localhost/jwks",
            "https://[::1]/jwks",
            "https://[::ffff:127.0.0.1]/jwks",
            "https://app.localhost/jwks",
            "file:///etc/passwd",
        ] {
            assert!(elsewhere.check(&url(refused)).is_err(), "{refused}");
        }
        // A provider that runs on this host (a development one) may name this host.
        let here = ProviderRules::for_issuer(&url("http://127.0.0.1:8080/realms/dev"));
        assert!(here.check(&url("http://127.0.0.1:8080/certs")).is_ok());
        assert!(here
            .check(&url("http://169.254.170.2/v2/credentials"))
            .is_err());
    }

    #[test]
    fn a_verified_token_payload_is_read_as_json() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"groups":["sre"]}"#);
        assert_eq!(
            verified_payload(&format!("header.{payload}.signature")),
            Some(serde_json::json!({"groups": ["sre"]}))
        );
        assert_eq!(verified_payload("not a jwt"), None);
    }
}
