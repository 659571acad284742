//! The administrator's REST routes: pipeline tokens, people, the audit log.

use super::error::{
    ApiError, AppJson, AppPath, AppQuery, BadRequest, BodyRefused, Conflict, Guarded, NotFound,
};
use super::{Caller, Routes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use palisade_console::auth::Role;
use palisade_console::Console;
use palisade_types::people::{ApiTokenView, AuditEntry, CreatedApiToken, UserView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

pub fn routes(routes: Routes) -> Routes {
    routes
        .route(routes!(list_api_tokens))
        .route(routes!(create_api_token))
        .route(routes!(revoke_api_token))
        .route(routes!(list_users))
        .route(routes!(add_user))
        .route(routes!(change_user))
        .route(routes!(remove_user))
        .route(routes!(list_audit))
}

#[utoipa::path(
    get, path = "/api/v1/api-tokens", tag = "people",
    responses(
        (status = 200, description = "pipeline tokens, never their values", body = ApiTokenList),
        Guarded,
    )
)]
pub(crate) async fn list_api_tokens(
    State(console): State<Console>,
) -> Result<Json<ApiTokenList>, ApiError> {
    let api_tokens = console.api_tokens().list().await?;
    Ok(Json(ApiTokenList { api_tokens }))
}

/// The pipeline tokens, newest first.
#[derive(Serialize, ToSchema)]
pub struct ApiTokenList {
    pub api_tokens: Vec<ApiTokenView>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewApiToken {
    role: String,
    #[serde(default)]
    label: String,
}

#[utoipa::path(
    post, path = "/api/v1/api-tokens", tag = "people", request_body = NewApiToken,
    responses(
        (status = 201, description = "the token, shown once", body = CreatedApiToken),
        Guarded,
        BodyRefused,
    )
)]
pub(crate) async fn create_api_token(
    State(console): State<Console>,
    caller: Caller,
    AppJson(request): AppJson<NewApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    let role = Role::parse(&request.role)?;
    let created = console
        .api_tokens()
        .create(&caller, role, &request.label)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    delete, path = "/api/v1/api-tokens/{id}", tag = "people", params(("id" = i64, Path, description = "token id")),
    responses(
        (status = 204, description = "revoked"),
        Guarded,
        BadRequest,
        NotFound,
    )
)]
pub(crate) async fn revoke_api_token(
    State(console): State<Console>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    console.api_tokens().revoke(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/api/v1/users", tag = "people",
    responses(
        (status = 200, description = "accounts and their roles", body = UserList),
        Guarded,
    )
)]
pub(crate) async fn list_users(State(console): State<Console>) -> Result<Json<UserList>, ApiError> {
    let users = console.users().list().await?;
    Ok(Json(UserList {
        users: users.into_iter().map(Into::into).collect(),
    }))
}

/// Every account, by name.
#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    username: String,
    password: String,
    role: String,
}

#[utoipa::path(
    post, path = "/api/v1/users", tag = "people", request_body = NewUser,
    responses(
        (status = 201, description = "created"),
        Guarded,
        BodyRefused,
        Conflict,
    )
)]
pub(crate) async fn add_user(
    State(console): State<Console>,
    caller: Caller,
    AppJson(request): AppJson<NewUser>,
) -> Result<StatusCode, ApiError> {
    let role = Role::parse(&request.role)?;
    console
        .users()
        .add(&caller, &request.username, &request.password, role)
        .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserChange {
    password: Option<String>,
    role: Option<String>,
}

#[utoipa::path(
    put, path = "/api/v1/users/{username}", tag = "people", request_body = UserChange, params(("username" = String, Path, description = "account name")),
    responses(
        (status = 204, description = "changed"),
        Guarded,
        BodyRefused,
        NotFound,
        Conflict,
    )
)]
pub(crate) async fn change_user(
    State(console): State<Console>,
    caller: Caller,
    AppPath(username): AppPath<String>,
    AppJson(change): AppJson<UserChange>,
) -> Result<StatusCode, ApiError> {
    let role = change.role.as_deref().map(Role::parse).transpose()?;
    let change = palisade_console::use_cases::UserChange {
        password: change.password,
        role,
    };
    console.users().change(&caller, &username, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete, path = "/api/v1/users/{username}", tag = "people", params(("username" = String, Path, description = "account name")),
    responses(
        (status = 204, description = "removed"),
        Guarded,
        NotFound,
        Conflict,
    )
)]
pub(crate) async fn remove_user(
    State(console): State<Console>,
    caller: Caller,
    AppPath(username): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    console.users().remove(&caller, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Entries older than this id.
    before: Option<i64>,
    /// At most this many (1 to 1000, default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/v1/audit", tag = "people", params(AuditQuery),
    responses(
        (status = 200, description = "audit entries, newest first", body = AuditPage),
        Guarded,
        BadRequest,
    )
)]
pub(crate) async fn list_audit(
    State(console): State<Console>,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = query.limit.unwrap_or(200);
    if !(1..=palisade_console::use_cases::AuditLog::MAX_PAGE).contains(&limit) {
        return Err(ApiError::malformed("limit is 1 to 1000"));
    }
    let entries = console.audit_log().list(limit, query.before).await?;
    Ok(Json(AuditPage { entries }))
}

/// Audit entries, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
}
