//! The defender channel (`GET /api/v1/defenders/connect`, a WebSocket) and the defenders' and
//! tokens' REST endpoints. Presence lives in SQLite (last seen, disconnected at) so the dashboard,
//! the CLI and a restarted console agree; only the open sockets live in memory.

use super::error::{ApiError, AppJson};
use super::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use palisade_app::defenders::store;
use palisade_app::defenders::{DefenderDetail, DefenderFilter, DefenderList};
use palisade_protocol::{
    ConsoleMessage, DefenderMessage, Event, Hello, MAX_EVENTS_PER_MESSAGE, MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The open defender sockets: defender id -> (connection, how to close it). A defender that
/// connects again supersedes its older socket.
#[derive(Clone, Default)]
pub struct Live(Arc<Mutex<HashMap<i64, OpenSocket>>>);

/// The current connection's id, and what closes it.
type OpenSocket = (String, Arc<Notify>);

impl Live {
    fn take_over(&self, id: i64, connection: &str) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        let previous = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, (connection.to_owned(), notify.clone()));
        if let Some((_, older)) = previous {
            older.notify_one();
        }
        notify
    }

    fn leave(&self, id: i64, connection: &str) {
        let mut live = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if live
            .get(&id)
            .is_some_and(|(current, _)| current == connection)
        {
            live.remove(&id);
        }
    }

    /// How many sockets are open.
    pub fn count(&self) -> usize {
        self.0.lock().map(|live| live.len()).unwrap_or(0)
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/defenders/connect", get(connect))
        .route("/defenders", get(list))
        .route("/defenders/{id}", get(detail))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Token checked before the upgrade: an unknown or revoked token gets a plain 401.
async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            "a defender token is required: Authorization: Bearer <token>",
        )
            .into_response();
    };
    let (token_id, family) = match store::token_family(&state.pool, token).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            tracing::warn!("a defender presented an unknown or revoked token");
            return (
                StatusCode::UNAUTHORIZED,
                "unknown or revoked defender token",
            )
                .into_response();
        }
        Err(error) => {
            tracing::error!(%error, "checking a defender token failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            Session {
                state,
                token_id,
                family,
                socket,
            }
            .run()
            .await;
        })
}

static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

struct Session {
    state: AppState,
    token_id: i64,
    family: String,
    socket: WebSocket,
}

/// Why a hello is refused.
fn check_hello(hello: &Hello, family: &str) -> Result<(), String> {
    if hello.protocol == 0 || hello.protocol > PROTOCOL_VERSION {
        return Err(format!(
            "protocol {} is not spoken here (this console speaks 1 to {PROTOCOL_VERSION})",
            hello.protocol
        ));
    }
    if hello.task.family != family {
        return Err(format!(
            "this token is for family `{family}`, the task is of family `{}`: create a token for that family",
            hello.task.family
        ));
    }
    let task = &hello.task;
    if task.task_arn.is_empty() {
        return Err(
            "the hello has no task ARN (is ECS_CONTAINER_METADATA_URI_V4 reachable?)".into(),
        );
    }
    let too_long = [
        &task.task_arn,
        &task.cluster,
        &task.revision,
        &task.availability_zone,
        &task.launch_type,
        &hello.version,
        &hello.instance,
        &hello.mode,
    ]
    .iter()
    .any(|field| field.len() > 2048);
    if too_long || task.containers.len() > 50 {
        return Err("the hello is larger than any task's".into());
    }
    Ok(())
}

impl Session {
    async fn send(&mut self, message: &ConsoleMessage) -> bool {
        match serde_json::to_string(message) {
            Ok(text) => self.socket.send(Message::text(text)).await.is_ok(),
            Err(_) => false,
        }
    }

    async fn refuse(mut self, reason: String) {
        tracing::warn!(family = %self.family, %reason, "defender refused");
        self.send(&ConsoleMessage::Refused {
            reason: reason.clone(),
        })
        .await;
        let _ = self
            .socket
            .send(Message::Close(Some(CloseFrame {
                code: 1008,
                reason: reason.chars().take(120).collect::<String>().into(),
            })))
            .await;
    }

    async fn next_message(&mut self) -> Option<Result<DefenderMessage, String>> {
        loop {
            return match self.socket.recv().await? {
                Ok(Message::Text(text)) => Some(
                    serde_json::from_str(text.as_str())
                        .map_err(|error| format!("malformed message: {error}")),
                ),
                Ok(Message::Binary(_)) => {
                    Some(Err("binary messages are not part of the protocol".into()))
                }
                Ok(Message::Close(_)) | Err(_) => None,
                Ok(_) => continue,
            };
        }
    }

    async fn run(mut self) {
        let heartbeat = self.state.defenders.heartbeat;
        let hello =
            match tokio::time::timeout(std::time::Duration::from_secs(10), self.next_message())
                .await
            {
                Ok(Some(Ok(DefenderMessage::Hello(hello)))) => hello,
                Ok(Some(Ok(_))) => {
                    return self.refuse("the first message must be hello".into()).await
                }
                Ok(Some(Err(reason))) => return self.refuse(reason).await,
                Ok(None) => return,
                Err(_) => return self.refuse("no hello within 10 s".into()).await,
            };
        if let Err(reason) = check_hello(&hello, &self.family) {
            return self.refuse(reason).await;
        }
        let connection = format!(
            "{}-{}",
            std::process::id(),
            CONNECTIONS.fetch_add(1, Ordering::Relaxed)
        );
        let pool = self.state.pool.clone();
        let (id, mut last_seq) =
            match store::connected(&pool, self.token_id, &hello, &connection).await {
                Ok(found) => found,
                Err(error) => {
                    tracing::error!(%error, "recording a defender failed");
                    return;
                }
            };
        let superseded = self.state.live.take_over(id, &connection);
        tracing::info!(defender = id, family = %hello.task.family, task = %hello.task.task_arn, version = %hello.version, "defender connected");
        let welcome = ConsoleMessage::Welcome {
            defender_id: id,
            heartbeat_secs: heartbeat.as_secs(),
            last_seq,
        };
        if self.send(&welcome).await {
            let events_kept = self.state.defenders.events_kept;
            loop {
                let message = tokio::select! {
                    message = tokio::time::timeout(heartbeat * 3, self.next_message()) => message,
                    () = superseded.notified() => {
                        tracing::info!(defender = id, "superseded by a newer connection");
                        break;
                    }
                };
                let answer = match message {
                    Err(_) => {
                        tracing::info!(defender = id, "silent for 3 heartbeats");
                        break;
                    }
                    Ok(None) => break,
                    Ok(Some(Err(reason))) => {
                        self.state.live.leave(id, &connection);
                        let _ = store::disconnected(&pool, id, &connection).await;
                        return self.refuse(reason).await;
                    }
                    Ok(Some(Ok(DefenderMessage::Heartbeat(beat)))) => {
                        if let Err(error) = store::heartbeat(&pool, id, &connection, &beat).await {
                            tracing::error!(%error, "recording a heartbeat failed");
                        }
                        Some(ConsoleMessage::Ack { seq: last_seq })
                    }
                    Ok(Some(Ok(DefenderMessage::Events { events }))) => {
                        if events.len() > MAX_EVENTS_PER_MESSAGE {
                            self.state.live.leave(id, &connection);
                            let _ = store::disconnected(&pool, id, &connection).await;
                            return self
                                .refuse(format!(
                                    "at most {MAX_EVENTS_PER_MESSAGE} events per message"
                                ))
                                .await;
                        }
                        match store_events(&pool, id, &hello, &events, events_kept).await {
                            Some(stored) => {
                                last_seq = stored;
                                Some(ConsoleMessage::Ack { seq: last_seq })
                            }
                            None => None,
                        }
                    }
                    Ok(Some(Ok(DefenderMessage::Hello(_)))) => None,
                    // A newer defender's message: skipped, so older consoles keep working.
                    Ok(Some(Ok(DefenderMessage::Unknown))) => None,
                };
                if let Some(answer) = answer {
                    if !self.send(&answer).await {
                        break;
                    }
                }
            }
        }
        self.state.live.leave(id, &connection);
        if let Err(error) = store::disconnected(&pool, id, &connection).await {
            tracing::error!(%error, "recording a disconnection failed");
        }
        let _ = self.socket.send(Message::Close(None)).await;
        tracing::info!(defender = id, "defender disconnected");
    }
}

/// Stores events; `None` when that failed, so they are not acknowledged and the defender keeps
/// them and sends them again.
async fn store_events(
    pool: &sqlx::SqlitePool,
    id: i64,
    hello: &Hello,
    events: &[Event],
    keep: i64,
) -> Option<u64> {
    match store::store_events(pool, id, &hello.instance, events, keep).await {
        Ok(stored) => Some(stored),
        Err(error) => {
            tracing::error!(%error, "storing defender events failed");
            None
        }
    }
}

/// Marks silent defenders disconnected and removes long-disconnected ones, every heartbeat.
pub async fn sweep_forever(state: AppState) {
    let settings = state.defenders.clone();
    let mut ticker = tokio::time::interval(settings.heartbeat);
    loop {
        ticker.tick().await;
        let silent = i64::try_from((settings.heartbeat * 3).as_millis()).unwrap_or(i64::MAX);
        let retention = i64::try_from(settings.retention.as_millis()).unwrap_or(i64::MAX);
        match store::sweep(&state.pool, silent, retention).await {
            Ok((0, 0)) => {}
            Ok((marked, removed)) => tracing::info!(marked, removed, "defenders swept"),
            Err(error) => tracing::error!(%error, "sweeping defenders failed"),
        }
    }
}

async fn list(
    State(state): State<AppState>,
    Query(filter): Query<DefenderFilter>,
) -> Result<Json<DefenderList>, ApiError> {
    store::check_filter(&filter).map_err(|message| ApiError::BadRequest {
        status: StatusCode::BAD_REQUEST,
        message,
    })?;
    Ok(Json(
        store::list(&state.pool, &filter)
            .await
            .map_err(|error| ApiError::Internal(error.into()))?,
    ))
}

async fn detail(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<DefenderDetail>, ApiError> {
    match store::get(&state.pool, id, 500).await {
        Ok(Some(found)) => Ok(Json(found)),
        Ok(None) => Err(ApiError::NotFound),
        Err(error) => Err(ApiError::Internal(error.into())),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    family: String,
    #[serde(default)]
    label: String,
}

async fn create_token(
    State(state): State<AppState>,
    AppJson(request): AppJson<CreateToken>,
) -> Result<(StatusCode, Json<palisade_app::defenders::CreatedToken>), ApiError> {
    match store::create_token(&state.pool, request.family.trim(), request.label.trim()).await {
        Ok(created) => Ok((StatusCode::CREATED, Json(created))),
        Err(store::TokenError::Invalid(message)) => Err(ApiError::BadRequest {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message,
        }),
        Err(store::TokenError::Database(error)) => Err(ApiError::Internal(error.into())),
    }
}

async fn list_tokens(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let tokens = store::list_tokens(&state.pool)
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(Json(serde_json::json!({ "tokens": tokens })))
}

async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    match store::revoke_token(&state.pool, id).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::NotFound),
        Err(error) => Err(ApiError::Internal(error.into())),
    }
}
