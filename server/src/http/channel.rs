//! The defender channel (`GET /api/v1/defenders/connect`, a WebSocket): the token is checked
//! before the upgrade, then `hello`, heartbeats and events as `protocol/` defines them. Presence and
//! events go to the console's database (so the dashboard, the CLI and a restarted console agree);
//! only the open sockets live here, in memory. Also the sweeper that marks silent defenders
//! disconnected.

use super::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use palisade_console::clock::millis;
use palisade_console::defenders::{events, presence, tokens};
use palisade_protocol::{
    ConsoleMessage, DefenderMessage, Event, Hello, MAX_EVENTS_PER_MESSAGE, MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
};
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
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
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
pub async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    // The token is checked first: nothing is said about the request to someone without one.
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            "a defender token is required: Authorization: Bearer <token>",
        )
            .into_response();
    };
    let (token_id, family) = match tokens::authenticate(state.console.db(), token).await {
        Ok(Some(grant)) => (grant.token_id, grant.family),
        Ok(None) => {
            tracing::warn!("a defender presented an unknown or revoked token");
            return (
                StatusCode::UNAUTHORIZED,
                "unknown or revoked defender token",
            )
                .into_response();
        }
        Err(error) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, error.public_message()).into_response();
        }
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
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
    /// The connection is over: no longer live, and disconnected unless a newer one took over.
    async fn end(&mut self, db: &sqlx::SqlitePool, id: i64, connection: &str) {
        self.state.live.leave(id, connection);
        if let Err(error) = presence::disconnected(db, id, connection).await {
            // The sweeper marks it disconnected once it has been silent long enough.
            error.log("recording a disconnection");
        }
    }

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
        let db = self.state.console.db().clone();
        let (id, mut last_seq) =
            match presence::connected(&db, self.token_id, &hello, &connection).await {
                Ok(found) => found,
                Err(error) => {
                    // The defender reconnects with backoff; the log says why it had to.
                    error.log("recording a defender");
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
                        self.end(&db, id, &connection).await;
                        return self.refuse(reason).await;
                    }
                    Ok(Some(Ok(DefenderMessage::Heartbeat(beat)))) => {
                        if let Err(error) = presence::heartbeat(&db, id, &connection, &beat).await {
                            // Presence catches up with the next heartbeat; nothing else is lost.
                            error.log("recording a heartbeat");
                        }
                        Some(ConsoleMessage::Ack { seq: last_seq })
                    }
                    Ok(Some(Ok(DefenderMessage::Events { events }))) => {
                        if events.len() > MAX_EVENTS_PER_MESSAGE {
                            self.end(&db, id, &connection).await;
                            return self
                                .refuse(format!(
                                    "at most {MAX_EVENTS_PER_MESSAGE} events per message"
                                ))
                                .await;
                        }
                        match store_events(&db, id, &hello, &events, events_kept).await {
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
        self.end(&db, id, &connection).await;
        let _ = self.socket.send(Message::Close(None)).await;
        tracing::info!(defender = id, "defender disconnected");
    }
}

/// Stores events; `None` when that failed, so they are not acknowledged and the defender keeps
/// them and sends them again.
async fn store_events(
    db: &sqlx::SqlitePool,
    id: i64,
    hello: &Hello,
    events: &[Event],
    keep: i64,
) -> Option<u64> {
    match events::store(db, id, &hello.instance, events, keep).await {
        Ok(stored) => Some(stored),
        Err(error) => {
            error.log("storing defender events");
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
        let silent = millis(settings.heartbeat * 3);
        let retention = millis(settings.retention);
        match presence::sweep(state.console.db(), silent, retention).await {
            Ok(swept) if swept == presence::Swept::default() => {}
            Ok(presence::Swept { marked, removed }) => {
                tracing::info!(marked, removed, "defenders swept")
            }
            // Tried again at the next tick.
            Err(error) => error.log("sweeping defenders"),
        }
    }
}
