//! Signing in and out: the REST session (`POST|GET|DELETE /api/v1/session`) and the sign-in page's
//! plain forms (`POST /auth/sign-in`, `POST /auth/sign-out`). A sign-in sets the session cookie
//! (`HttpOnly`, `SameSite=Strict`, `Secure` under HTTPS); an unknown user and a wrong password
//! get the same answer; failures slow further attempts (per account and per address) and all of it
//! goes to the audit log.

use super::error::{ApiError, AppJson, BodyRefused, ErrorBody};
use super::guard::{Guard, DEVICE_COOKIE, SESSION_COOKIE};
use super::{Caller, Routes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use cookie::SameSite;
use palisade_app::api::session::safe_next;
use palisade_console::auth::sign_in::{self, PasswordSignIn, SignInRefused, SignedIn};
use palisade_console::auth::Principal;
use palisade_console::Console;
use palisade_types::people::{Me, Role};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::routes;

/// The REST session's routes (the sign-in page's forms are added beside them, undocumented).
pub fn routes(routes: Routes) -> Routes {
    routes
        .route(routes!(current))
        .route(routes!(create))
        .route(routes!(delete))
}

/// The cookie that carries `token` for the session's lifetime (empty and expired: sign-out).
pub fn session_cookie(guard: &Guard, token: Option<&str>) -> HeaderValue {
    let lifetime = token.map(|_| guard.sessions.absolute);
    guard.cookie(
        SESSION_COOKIE,
        token.unwrap_or_default(),
        lifetime,
        SameSite::Strict,
    )
}

/// The cookie that tells a later sign-in this browser signed in to its account before (the
/// throttle then charges it, not the account: see `palisade_console::auth::throttle`).
fn device_cookie(guard: &Guard, value: &str) -> HeaderValue {
    guard.cookie(
        DEVICE_COOKIE,
        value,
        Some(sign_in::DEVICE_LIFETIME),
        SameSite::Strict,
    )
}

/// Checks a password sign-in (throttled; see `Console::sign_in_with_password`).
async fn sign_in(
    guard: &Guard,
    headers: &HeaderMap,
    username: &str,
    password: &str,
    address: &str,
) -> Result<SignedIn, SignInRefused> {
    let device = guard.read_cookie(headers, DEVICE_COOKIE);
    guard
        .console
        .sign_in_with_password(
            PasswordSignIn {
                username,
                password,
                address,
                device: device.as_deref(),
            },
            guard.sessions,
        )
        .await
}

/// The cookies a sign-in sets: the session first, then the device.
fn signed_in_cookies(
    guard: &Guard,
    signed_in: &SignedIn,
) -> AppendHeaders<[(header::HeaderName, HeaderValue); 2]> {
    AppendHeaders([
        (
            header::SET_COOKIE,
            session_cookie(guard, Some(&signed_in.session.token)),
        ),
        (header::SET_COOKIE, device_cookie(guard, &signed_in.device)),
    ])
}

/// Ends the session the request's cookie names, if any; audited.
async fn sign_out(guard: &Guard, headers: &HeaderMap, caller: &Caller) {
    if let Some(token) = guard.read_cookie(headers, SESSION_COOKIE) {
        guard.console.sign_out(caller, &token).await;
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    username: String,
    password: String,
}

/// Who signed in, and until when (Unix milliseconds).
#[derive(Serialize, ToSchema)]
pub struct SignedInBody {
    pub name: String,
    pub role: Role,
    pub expires_at: i64,
}

/// `POST /api/v1/session`.
#[utoipa::path(
    post, path = "/api/v1/session", tag = "session", request_body = Credentials,
    responses(
        (status = 200, description = "signed in: the session cookie is set", body = SignedInBody),
        (status = 401, description = "unknown user or wrong password (one message for both)", body = ErrorBody),
        (status = 429, description = "too many failed sign-ins: wait and try again", body = ErrorBody),
        BodyRefused,
    )
)]
pub async fn create(
    State(guard): State<Arc<Guard>>,
    caller: Caller,
    headers: HeaderMap,
    AppJson(credentials): AppJson<Credentials>,
) -> Response {
    match sign_in(
        &guard,
        &headers,
        &credentials.username,
        &credentials.password,
        &caller.address,
    )
    .await
    {
        Ok(signed_in) => (
            StatusCode::OK,
            signed_in_cookies(&guard, &signed_in),
            Json(SignedInBody {
                name: signed_in.user.username,
                role: signed_in.user.role,
                expires_at: signed_in.session.expires_at,
            }),
        )
            .into_response(),
        Err(refused) => {
            let status = match &refused {
                SignInRefused::Wrong => StatusCode::UNAUTHORIZED,
                SignInRefused::Throttled(_) | SignInRefused::Busy(_) => {
                    StatusCode::TOO_MANY_REQUESTS
                }
                SignInRefused::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let mut response =
                (status, Json(ErrorBody::message(refused.message()))).into_response();
            if let Some(wait) = refused.retry_after() {
                if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            response
        }
    }
}

/// `GET /api/v1/session`: who is calling.
#[utoipa::path(
    get, path = "/api/v1/session", tag = "session",
    responses(
        (status = 200, description = "who is signed in, and their role", body = Me),
        (status = 400, description = "nobody is signed in", body = ErrorBody),
        (status = 401, description = "no valid pipeline token or session", body = ErrorBody),
    )
)]
pub async fn current(caller: Caller) -> Result<Json<Me>, ApiError> {
    let principal: &Principal = caller
        .principal
        .as_ref()
        .ok_or_else(|| ApiError::malformed("nobody is signed in"))?;
    Ok(Json(Me {
        name: principal.name(),
        role: principal.role,
    }))
}

/// `DELETE /api/v1/session`: signs out.
#[utoipa::path(
    delete, path = "/api/v1/session", tag = "session",
    responses(
        (status = 204, description = "signed out"),
        (status = 403, description = "a state change without credentials or from another site", body = ErrorBody),
    )
)]
pub async fn delete(
    State(guard): State<Arc<Guard>>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    sign_out(&guard, &headers, &caller).await;
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_cookie(&guard, None))],
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct SignInForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /auth/sign-in`: the sign-in page's form. Back to the page with the reason on failure.
pub async fn form_sign_in(
    State(guard): State<Arc<Guard>>,
    caller: Caller,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = safe_next(form.next);
    match sign_in(
        &guard,
        &headers,
        &form.username,
        &form.password,
        &caller.address,
    )
    .await
    {
        Ok(signed_in) => {
            (signed_in_cookies(&guard, &signed_in), Redirect::to(&next)).into_response()
        }
        Err(refused) => {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("error", &refused.message())
                .append_pair("next", &next)
                .finish();
            Redirect::to(&format!("/sign-in?{query}")).into_response()
        }
    }
}

/// `POST /auth/sign-out`: the navigation's sign-out button.
pub async fn form_sign_out(
    State(guard): State<Arc<Guard>>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    sign_out(&guard, &headers, &caller).await;
    (
        [(header::SET_COOKIE, session_cookie(&guard, None))],
        Redirect::to("/sign-in"),
    )
        .into_response()
}

/// At the first start, the `admin` account; a generated password is printed once, to the log.
pub async fn first_admin(console: &Console, password: Option<&str>) -> anyhow::Result<()> {
    if let Some(generated) = console
        .users()
        .ensure_first_admin(password)
        .await
        .map_err(|error| anyhow::anyhow!("creating the first admin: {error}"))?
    {
        // Shown once: only its hash is kept.
        tracing::warn!(
            "first start: created the account `admin` with the password {generated} (shown this once; change it with `palisade user passwd admin`)"
        );
    } else if password.is_some() {
        tracing::info!("PALISADE_ADMIN_PASSWORD is ignored: accounts exist already");
    }
    Ok(())
}
