//! Single sign-on with OpenID Connect: the authorization code flow with PKCE (openidconnect). The
//! provider is discovered from its issuer URL on first use; `start` sends the browser there with a
//! state bound to a short-lived cookie, `callback` exchanges the code, verifies the ID token
//! (signature, issuer, audience, expiry, nonce), maps a claim to a role, and opens a session.

use super::guard::Guard;
use super::session::session_cookie;
use super::Caller;
use crate::config::OidcConfig;
use anyhow::Context;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use palisade_app::api::session::safe_next;
use palisade_console::auth::{sessions, users, Role};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The cookie that binds a sign-in under way to the browser that started it.
const STATE_COOKIE: &str = "palisade_oidc";
/// A sign-in must come back within this long.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Sign-ins under way kept at most (a flood of starts must not grow memory without bound).
const MAX_PENDING: usize = 10_000;

/// A sign-in under way: what the callback needs to finish it.
struct Pending {
    verifier: PkceCodeVerifier,
    nonce: Nonce,
    next: String,
    started: Instant,
}

/// The relying party: its settings, the provider's metadata once discovered, sign-ins under way.
pub struct Oidc {
    config: OidcConfig,
    client_secret: String,
    redirect: RedirectUrl,
    http: reqwest::Client,
    provider: tokio::sync::Mutex<Option<CoreProviderMetadata>>,
    pending: Mutex<HashMap<String, Pending>>,
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
        let http = reqwest::Client::builder()
            // The provider's answers are never followed elsewhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .context("making the HTTP client for single sign-on")?;
        Ok(Oidc {
            redirect: RedirectUrl::new(redirect.to_string()).context("the callback URL")?,
            config,
            client_secret,
            http,
            provider: tokio::sync::Mutex::default(),
            pending: Mutex::default(),
        })
    }

    /// The provider's metadata, discovered once (and again after a failure).
    async fn provider(&self) -> anyhow::Result<CoreProviderMetadata> {
        let mut cached = self.provider.lock().await;
        if let Some(metadata) = cached.as_ref() {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone()).context("the issuer URL")?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .with_context(|| format!("discovering {}", self.config.issuer))?;
        *cached = Some(metadata.clone());
        Ok(metadata)
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
    fn username(&self, claims: &serde_json::Value) -> Option<String> {
        [self.config.username_claim.as_str(), "email", "sub"]
            .into_iter()
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

fn state_cookie(guard: &Guard, state: Option<&str>) -> HeaderValue {
    let cookie = cookie::Cookie::build((STATE_COOKIE, state.unwrap_or_default().to_owned()))
        .path("/auth/oidc")
        .http_only(true)
        // Lax: the provider sends the browser back with a cross-site top-level navigation.
        .same_site(cookie::SameSite::Lax)
        .secure(guard.https)
        .max_age(cookie::time::Duration::seconds(if state.is_some() {
            i64::try_from(PENDING_FOR.as_secs()).unwrap_or(600)
        } else {
            0
        }))
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
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
    {
        let mut pending = palisade_console::lock(&oidc.pending);
        pending.retain(|_, sign_in| sign_in.started.elapsed() < PENDING_FOR);
        if pending.len() >= MAX_PENDING {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many sign-ins under way",
            )
                .into_response();
        }
        pending.insert(
            state.secret().clone(),
            Pending {
                verifier,
                nonce,
                next: safe_next(query.next),
                started: Instant::now(),
            },
        );
    }
    (
        [(
            header::SET_COOKIE,
            state_cookie(&guard, Some(state.secret())),
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
    let refuse = |reason: String| {
        let address = address.clone();
        async move {
            console
                .audit(None, &address, "sign-in-failed", "single sign-on", &reason)
                .await;
            back_to_sign_in(&format!("single sign-on failed: {reason}"))
        }
    };
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        return refuse(
            format!("the provider said {error} {description}")
                .trim()
                .to_owned(),
        )
        .await;
    }
    let (Some(code), Some(state)) = (query.code, query.state) else {
        return refuse("the provider sent no code".into()).await;
    };
    // The state must be the one this browser started with (login CSRF), and still pending.
    let bound = super::guard::cookie(&headers, STATE_COOKIE);
    if bound.as_deref() != Some(state.as_str()) {
        return refuse("this sign-in was not started by this browser".into()).await;
    }
    let Some(pending) = palisade_console::lock(&oidc.pending).remove(&state) else {
        return refuse("this sign-in expired: start again".into()).await;
    };
    let signed_in = finish(&oidc, code, pending.verifier, &pending.nonce).await;
    let (username, role) = match signed_in {
        Ok(found) => found,
        Err(reason) => return refuse(reason).await,
    };
    let user = match users::sign_in_sso(console.db(), &username, role).await {
        Ok(user) => user,
        Err(error) => return refuse(error.public_message()).await,
    };
    let session = match sessions::open(console.db(), user.id, &caller.address, guard.sessions).await
    {
        Ok(session) => session,
        Err(error) => return refuse(error.public_message()).await,
    };
    console
        .audit(
            Some(&user.username),
            &caller.address,
            "sign-in",
            "single sign-on",
            "ok",
        )
        .await;
    // A page, not a redirect: the session cookie is SameSite=Strict, and a browser does not send
    // it on a redirect that a cross-site navigation (the provider's) started.
    let next = html_escape(&pending.next);
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={next}\"><title>Palisade</title></head>\
         <body><p>Signed in. <a href=\"{next}\">Continue</a></p></body></html>"
    );
    let mut response = Html(page).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session_cookie(&guard, Some(&session.token)),
    );
    headers.append(header::SET_COOKIE, state_cookie(&guard, None));
    response
}

/// Exchanges the code and verifies the ID token; the username and role it gives.
async fn finish(
    oidc: &Oidc,
    code: String,
    verifier: PkceCodeVerifier,
    nonce: &Nonce,
) -> Result<(String, Role), String> {
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
        .request_async(&oidc.http)
        .await
        .map_err(|error| format!("the code was not accepted: {error}"))?;
    let id_token = tokens.id_token().ok_or("the provider sent no ID token")?;
    id_token
        .claims(&client.id_token_verifier(), nonce)
        .map_err(|error| format!("the ID token is not valid: {error}"))?;
    let claims = verified_payload(&id_token.to_string()).ok_or("the ID token cannot be read")?;
    let username = oidc.username(&claims).ok_or("the ID token names nobody")?;
    let role = oidc.role(&claims).ok_or_else(|| {
        format!(
            "{username} has no role here (their `{}` claim matches none of PALISADE_OIDC_ROLES)",
            oidc.config.role_claim
        )
    })?;
    Ok((username, role))
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
            oidc.username(&serde_json::json!({"email": "a@example.com", "sub": "1"}))
                .as_deref(),
            Some("a@example.com")
        );
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
