//! The defenders' and tokens' REST endpoints: the dashboard's list and a defender's page as JSON,
//! and defender tokens (create, list, revoke).

use super::error::{
    ApiError, AppJson, AppPath, AppQuery, BadRequest, BodyRefused, ErrorBody, Guarded, NotFound,
    Refused,
};
use super::{Caller, Routes, Stopping};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{self, Sse};
use axum::Json;
use palisade_app::api::defenders::TIMELINE_LENGTH;
use palisade_console::auth::Who;
use palisade_console::defenders::DefenderQuery;
use palisade_console::redact::Disclosure;
use palisade_console::text::printable;
use palisade_console::use_cases::TokenKept;
use palisade_console::Console;
use palisade_types::defenders::{
    CoverageView, DefenderDetail, DefenderFilter, DefenderHistoryView, DefenderList,
};
use palisade_types::settings::{CreatedToken, TokenView};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa_axum::routes;

/// The defenders' and defender tokens' REST routes.
pub fn routes(routes: Routes) -> Routes {
    routes
        .route(routes!(list))
        .route(routes!(detail))
        .route(routes!(export_csv))
        .route(routes!(history))
        .route(routes!(changes))
        .route(routes!(coverage))
        .route(routes!(list_tokens))
        .route(routes!(create_token))
        .route(routes!(revoke_token))
        .route(routes!(revoke_family_tokens))
}

#[utoipa::path(
    get, path = "/api/v1/defenders", tag = "defenders",
    responses(
        (status = 200, description = "a page of defenders with counts", body = DefenderList),
        Guarded,
        BadRequest,
    )
)]
pub(crate) async fn list(
    State(console): State<Console>,
    AppQuery(filter): AppQuery<DefenderFilter>,
) -> Result<Json<DefenderList>, ApiError> {
    // Words the query string cannot mean are a malformed request, not a refused one.
    let query = DefenderQuery::from_filter(&filter).map_err(ApiError::malformed)?;
    Ok(Json(console.defenders().list(&query).await?.into()))
}

#[utoipa::path(
    get, path = "/api/v1/defenders/{id}", tag = "defenders", params(("id" = i64, Path, description = "defender id")),
    responses(
        (status = 200, description = "one defender and its process timeline", body = DefenderDetail),
        Guarded,
        BadRequest,
        NotFound,
    )
)]
pub(crate) async fn detail(
    State(console): State<Console>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> Result<Json<DefenderDetail>, ApiError> {
    let found = console.defenders().get(id, TIMELINE_LENGTH).await?;
    let disclosure = Disclosure::for_principal(caller.principal.as_ref());
    Ok(Json(palisade_console::views::defender_detail(
        found, disclosure,
    )))
}

/// A cell as a spreadsheet will read it: control characters shown escaped (`\n`, `\u{1b}`: no
/// line breaks inside a cell, nothing for a terminal `cat`ing the file), then text that starts
/// like a formula (`=`, `+`, `-`, `@`) gets a leading `'`, so a task's reported names can never
/// run in the reader's spreadsheet (CSV injection).
fn cell(text: &str) -> String {
    let text = printable(text);
    match text.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{text}"),
        _ => text.into_owned(),
    }
}

/// Unix milliseconds as RFC 3339 (UTC).
fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The defenders the filter selects (every page, in the list's order) as CSV, one row a defender.
#[utoipa::path(
    get, path = "/api/v1/defenders.csv", tag = "defenders",
    responses(
        (status = 200, description = "CSV: id, status, family, revision, cluster, task_arn, availability_zone, launch_type, version, mode, containers, processes, dropped_events, first_seen, connected_since, last_seen, disconnected_at", content_type = "text/csv", body = String),
        Guarded,
        BadRequest,
    )
)]
pub(crate) async fn export_csv(
    State(console): State<Console>,
    AppQuery(filter): AppQuery<DefenderFilter>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let query = DefenderQuery::from_filter(&filter).map_err(ApiError::malformed)?;
    let rows = console.defenders().export(&query).await?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "status",
        "family",
        "revision",
        "cluster",
        "task_arn",
        "availability_zone",
        "launch_type",
        "version",
        "mode",
        "containers",
        "processes",
        "dropped_events",
        "first_seen",
        "connected_since",
        "last_seen",
        "disconnected_at",
    ];
    let failed = |error: csv::Error| {
        palisade_console::Error::internal("writing the defenders as CSV", error)
    };
    csv.write_record(header).map_err(failed)?;
    for defender in rows {
        let containers = defender
            .containers
            .iter()
            .map(|container| format!("{}={}", container.name, container.image))
            .collect::<Vec<_>>()
            .join(" ");
        let record = [
            defender.id.to_string(),
            defender.status().as_str().to_owned(),
            cell(&defender.family),
            cell(&defender.revision),
            cell(&defender.cluster),
            cell(&defender.task_arn),
            cell(&defender.availability_zone),
            cell(&defender.launch_type),
            cell(&defender.version),
            cell(&defender.mode),
            cell(&containers),
            defender.process_count.to_string(),
            defender.dropped_events.to_string(),
            rfc3339(defender.first_seen),
            rfc3339(defender.connected_since),
            rfc3339(defender.last_seen),
            defender.disconnected_at.map(rfc3339).unwrap_or_default(),
        ];
        csv.write_record(&record).map_err(failed)?;
    }
    let body = csv.into_inner().map_err(|error| {
        palisade_console::Error::internal("writing the defenders as CSV", error.into_error())
    })?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"palisade-defenders.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// Every ECS service in the account's clusters: the revision it runs, whether it is protected,
/// its running tasks with a connected defender; unprotected first (ECS is asked at most every 30 s).
#[utoipa::path(
    get, path = "/api/v1/defenders/history", tag = "defenders",
    responses(
        (status = 200, description = "the last 24 hours in 5-minute buckets: connected defenders by family (the biggest five, then the others summed) and events per minute", body = DefenderHistoryView),
        Guarded,
    )
)]
pub(crate) async fn history(
    State(console): State<Console>,
) -> Result<Json<DefenderHistoryView>, ApiError> {
    let history = console.defender_history().await?;
    Ok(Json(history.into()))
}

/// Pushes to an open dashboard at most this often (under load something changes every second; a
/// page then asks again no more often than it used to poll).
const PUSH_AT_MOST_EVERY: Duration = Duration::from_secs(2);

#[utoipa::path(
    get, path = "/api/v1/defenders/changes", tag = "defenders",
    responses(
        (status = 200, description = "server-sent events: one message (data: a counter) when the stream opens and then whenever a defender connected, disconnected, reported or sent a heartbeat, at most one every 2 s; ends when the console stops", content_type = "text/event-stream", body = String),
        (status = 429, description = "too many live update streams open: the page polls instead", body = ErrorBody),
        Guarded,
    )
)]
pub(crate) async fn changes(
    State(console): State<Console>,
    State(Stopping(stopping)): State<Stopping>,
    State(streams): State<Arc<OpenStreams>>,
    caller: Caller,
) -> Result<Sse<impl futures::Stream<Item = Result<sse::Event, std::convert::Infallible>>>, ApiError>
{
    let slot = streams.take(&caller)?;
    let mut watcher = console.defender_changes().watch();
    watcher.mark_unchanged();
    // The first message at once: a page that (re)connects asks again, whatever it missed. The
    // stream's place is held as long as the stream lives.
    let stream = futures::stream::unfold(
        (watcher, stopping, true, slot),
        |(mut watcher, mut stopping, first, slot)| async move {
            if !first {
                let stopped = async {
                    let _ = stopping.wait_for(|stop| *stop).await;
                };
                let next = async {
                    tokio::time::sleep(PUSH_AT_MOST_EVERY).await;
                    watcher.changed().await
                };
                tokio::select! {
                    () = stopped => return None,
                    changed = next => changed.ok()?,
                }
            }
            let count = *watcher.borrow_and_update();
            let event = sse::Event::default().data(count.to_string());
            Some((Ok(event), (watcher, stopping, false, slot)))
        },
    );
    Ok(Sse::new(stream).keep_alive(sse::KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Change streams one caller (a person, whatever their sessions and tabs, or a pipeline token)
/// may hold open at once: a browser holds one per tab.
pub const STREAMS_PER_CALLER: usize = 16;
/// And all callers together.
pub const STREAMS_IN_ALL: usize = 1024;

/// The open change streams, per caller and in all: each holds a socket and a task for as long as
/// its client likes, so a signed-in viewer must not be able to open them without bound.
#[derive(Default)]
pub struct OpenStreams {
    open: std::sync::Mutex<(usize, std::collections::HashMap<String, usize>)>,
}

/// One stream's place, given back when the stream ends.
pub struct StreamSlot {
    streams: Arc<OpenStreams>,
    caller: String,
}

impl OpenStreams {
    /// A place for one more stream of `caller`, or why not (429: `Busy`).
    pub fn take(self: &Arc<Self>, caller: &Caller) -> Result<StreamSlot, palisade_console::Error> {
        let key = match caller.principal.as_ref().map(|principal| &principal.who) {
            Some(Who::User { id, .. }) => format!("user {id}"),
            Some(Who::ApiToken { id, .. }) => format!("token {id}"),
            None => format!("address {}", caller.address),
        };
        let mut open = palisade_console::lock(&self.open);
        if open.0 >= STREAMS_IN_ALL {
            return Err(palisade_console::Error::busy(
                format!("the console already serves {STREAMS_IN_ALL} live update streams: this page updates every 30 s instead"),
                Duration::from_secs(30),
            ));
        }
        let mine = open.1.entry(key.clone()).or_default();
        if *mine >= STREAMS_PER_CALLER {
            return Err(palisade_console::Error::busy(
                format!("you already have {STREAMS_PER_CALLER} live update streams open (one per tab): close some tabs; this page updates every 30 s instead"),
                Duration::from_secs(30),
            ));
        }
        *mine += 1;
        open.0 += 1;
        Ok(StreamSlot {
            streams: self.clone(),
            caller: key,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = palisade_console::lock(&self.streams.open);
        open.0 = open.0.saturating_sub(1);
        if let Some(mine) = open.1.get_mut(&self.caller) {
            *mine -= 1;
            if *mine == 0 {
                open.1.remove(&self.caller);
            }
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/coverage", tag = "defenders",
    responses(
        (status = 200, description = "services with their protection and connected defenders", body = CoverageView),
        (status = 502, description = "ECS refused, could not be reached, or AWS is not configured (no region or credentials)", body = ErrorBody),
        Guarded,
    )
)]
pub(crate) async fn coverage(
    State(console): State<Console>,
) -> Result<Json<CoverageView>, ApiError> {
    Ok(Json(console.coverage().await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    family: String,
    #[serde(default)]
    label: String,
}

#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "defenders", request_body = CreateToken,
    responses(
        (status = 201, description = "the token, shown once", body = CreatedToken),
        Guarded,
        BodyRefused,
    )
)]
pub(crate) async fn create_token(
    State(console): State<Console>,
    caller: Caller,
    AppJson(request): AppJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let new = console
        .defender_tokens()
        .create(&caller, &request.family, &request.label, TokenKept::Shown)
        .await?;
    Ok((StatusCode::CREATED, Json(new.created)))
}

#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "defenders",
    responses(
        (status = 200, description = "defender tokens, never their values", body = TokenList),
        Guarded,
    )
)]
pub(crate) async fn list_tokens(
    State(console): State<Console>,
) -> Result<Json<TokenList>, ApiError> {
    let tokens = console.defender_tokens().list().await?;
    Ok(Json(TokenList { tokens }))
}

/// The defender tokens, newest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "defenders", params(("id" = i64, Path, description = "token id")),
    responses(
        (status = 204, description = "revoked"),
        Guarded,
        BadRequest,
        NotFound,
    )
)]
pub(crate) async fn revoke_token(
    State(console): State<Console>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    console.defender_tokens().revoke(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many of a family's tokens were revoked.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RevokedTokens {
    family: String,
    revoked: usize,
}

/// Revokes every active token of a family at once (its token leaked, or it is retired).
#[utoipa::path(
    delete, path = "/api/v1/families/{family}/tokens", tag = "defenders", params(("family" = String, Path, description = "task definition family")),
    responses(
        (status = 200, description = "how many active tokens were revoked (0 when it had none)", body = RevokedTokens),
        Guarded,
        BadRequest,
        Refused,
    )
)]
pub(crate) async fn revoke_family_tokens(
    State(console): State<Console>,
    caller: Caller,
    AppPath(family): AppPath<String>,
) -> Result<Json<RevokedTokens>, ApiError> {
    let revoked = console
        .defender_tokens()
        .revoke_family(&caller, &family)
        .await?;
    Ok(Json(RevokedTokens { family, revoked }))
}
