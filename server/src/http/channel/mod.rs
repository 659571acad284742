//! The defender channel (`GET /api/v1/defenders/connect`, a WebSocket): the token is checked
//! before the upgrade, then `hello`, heartbeats and events as `protocol/` defines them. Presence and
//! events go to the console's database (so the dashboard, the CLI and a restarted console agree)
//! through the recorder, which batches them (`palisade_console::defenders::recorder`); only the
//! open sockets live here, in memory. Also the sweeper that marks silent defenders disconnected.
//!
//! After `welcome` the defender is sent its family's runtime-defense policy, and again whenever
//! the family's revision changes: each socket waits on its family's `watch` (the newest policy,
//! serialized once), so nothing queues per socket. A connection that ends without the defender
//! closing it (silent for three heartbeats, reset, no longer reading; a close code other than
//! 1000 or 1001) is reported to the console, which raises `defender-silent` unless the defender
//! comes back or ECS says its task stopped (`palisade_console::runtime::silent`).

mod live;

pub use live::{Closer, Live, ALL_MESSAGE_BYTES};

use super::listen::{ConnectionHandle, MessageMeter};
use super::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use live::{Slot, FREE_MESSAGE_BYTES, POLICY, SEND_DEADLINE, TRY_AGAIN};
use palisade_console::runtime::silent::Lost;
use palisade_console::runtime::PolicyMessage;
use palisade_protocol::{
    ConsoleMessage, DefenderMessage, Event, Hello, MAX_EVENTS_PER_MESSAGE, MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

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
    connection: Option<Extension<ConnectionHandle>>,
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
    let (token_id, family) = match state.console.defender_token(token).await {
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
    let mut meter_handle = None;
    let most = state.defenders.connections_per_token;
    let Some(slot) = state.live.reserve(token_id, most) else {
        tracing::warn!(token = token_id, %family, "a defender token is over its connection limit");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            format!("this token already has {most} open connections (PALISADE_DEFENDER_CONNECTIONS_PER_TOKEN)"),
        )
            .into_response();
    };
    // From here on, this socket's unfinished messages hold at most its token's share.
    if let Some(Extension(connection)) = connection {
        connection.0.meter(MessageMeter::new(
            FREE_MESSAGE_BYTES,
            MAX_MESSAGE_BYTES,
            slot.pool.clone(),
            state.message_bytes.clone(),
        ));
        meter_handle = Some(connection);
    }
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        // Defenders send small messages (a heartbeat is ~60 bytes, a batch a few KiB): buffers
        // sized for that, not tungstenite's 128 KiB each, which cost ~140 KB per connection.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            Session {
                state,
                family,
                socket,
                slot,
                budget: MessageBudget::new(),
                connection: meter_handle,
                peer_closed: None,
            }
            .run()
            .await;
        })
}

static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// What one read from a defender's socket takes at most (a bigger message takes several reads).
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Unsent messages one slow defender may pile up before its socket fails (acks are tiny; a
/// policy is at most one message, and a newer one may follow it).
const MAX_WRITE_BUFFER_BYTES: usize = 2 * MAX_MESSAGE_BYTES;

/// Messages a session may send: a burst, then a steady rate (a defender sends a heartbeat every
/// few seconds and events in batches of up to 200; a flood is not a defender).
struct MessageBudget {
    allowance: f64,
    last: tokio::time::Instant,
}

impl MessageBudget {
    const BURST: f64 = 200.0;
    const PER_SECOND: f64 = 50.0;

    fn new() -> Self {
        MessageBudget {
            allowance: Self::BURST,
            last: tokio::time::Instant::now(),
        }
    }

    /// Takes one message from the budget; false when it is spent.
    fn spend(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * Self::PER_SECOND;
        self.allowance = (self.allowance + refill).min(Self::BURST);
        self.last = now;
        if self.allowance < 1.0 {
            return false;
        }
        self.allowance -= 1.0;
        true
    }
}

struct Session {
    state: AppState,
    family: String,
    socket: WebSocket,
    /// Its place among the token's sessions; what closes it from outside.
    slot: Slot,
    budget: MessageBudget,
    /// Its connection, whose unfinished messages are metered.
    connection: Option<ConnectionHandle>,
    /// The close code the defender sent, once it closed (1005 for a close without one).
    peer_closed: Option<u16>,
}

/// Why a hello is refused.
fn check_hello(hello: &Hello, family: &str) -> Result<(), String> {
    if hello.protocol == 0 || hello.protocol > PROTOCOL_VERSION {
        return Err(format!(
            "protocol {} is not spoken here (this console speaks 1 to {PROTOCOL_VERSION})",
            hello.protocol
        ));
    }
    if let Some(reason) = hello.oversized() {
        return Err(reason.into());
    }
    if hello.task.family != family {
        return Err(format!(
            "this token is for family `{family}`, the task is of family `{}`: create a token for that family",
            hello.task.family
        ));
    }
    if hello.task.task_arn.is_empty() {
        return Err(
            "the hello has no task ARN (is ECS_CONTAINER_METADATA_URI_V4 reachable?)".into(),
        );
    }
    Ok(())
}

impl Session {
    /// The connection is over: no longer live, and disconnected unless a newer one took over.
    async fn end(&mut self, id: i64, connection: &str) {
        self.state.live.leave(id, connection);
        self.state.recorder.disconnected(id, connection).await;
    }

    /// Sends within [`SEND_DEADLINE`]: a peer that stopped reading does not hold the session.
    async fn send(&mut self, message: &ConsoleMessage) -> bool {
        match serde_json::to_string(message) {
            Ok(text) => self.send_frame(Message::text(text)).await,
            Err(_) => false,
        }
    }

    async fn send_frame(&mut self, frame: Message) -> bool {
        match tokio::time::timeout(SEND_DEADLINE, self.socket.send(frame)).await {
            Ok(sent) => sent.is_ok(),
            Err(_) => {
                tracing::info!(family = ?self.family, "a defender stopped reading: its session ends");
                if let Some(connection) = &self.connection {
                    connection.0.end();
                }
                false
            }
        }
    }

    async fn refuse(self, reason: String) {
        tracing::warn!(family = ?self.family, reason = ?reason, "defender refused");
        self.close(POLICY, reason).await;
    }

    /// Says why (`refused`), then closes with `code`.
    async fn close(mut self, code: u16, reason: String) {
        self.send(&ConsoleMessage::Refused {
            reason: reason.clone(),
        })
        .await;
        let _ = self
            .send_frame(Message::Close(Some(CloseFrame {
                code,
                reason: reason.chars().take(120).collect::<String>().into(),
            })))
            .await;
    }

    /// The next message and its size as it arrived.
    async fn next_message(&mut self) -> Option<Result<(DefenderMessage, usize), String>> {
        loop {
            // Done with the message before (stored and acknowledged, or a ping): what it took
            // goes back. Only now, so batches waiting for the database count against the
            // token's pool too.
            if let Some(connection) = &self.connection {
                connection.0.message_done();
            }
            let message = self.socket.recv().await?;
            if let Some(connection) = &self.connection {
                connection.0.message_received();
            }
            if !self.budget.spend() {
                return Some(Err(format!(
                    "more than {} messages a second",
                    MessageBudget::PER_SECOND
                )));
            }
            return match message {
                Ok(Message::Text(text)) => Some(
                    serde_json::from_str(text.as_str())
                        .map(|message| (message, text.len()))
                        .map_err(|error| format!("malformed message: {error}")),
                ),
                Ok(Message::Binary(_)) => {
                    Some(Err("binary messages are not part of the protocol".into()))
                }
                Ok(Message::Close(frame)) => {
                    self.peer_closed = Some(frame.map_or(1005, |frame| frame.code));
                    None
                }
                Err(_) => None,
                Ok(_) => continue,
            };
        }
    }

    async fn run(mut self) {
        let closer = self.slot.closer.clone();
        let hello = match self.hello(&closer).await {
            Ok(hello) => hello,
            Err(ending) => return self.finish(ending).await,
        };
        let connection = format!(
            "{}-{}",
            std::process::id(),
            CONNECTIONS.fetch_add(1, Ordering::Relaxed)
        );
        let (id, last_seq) = match self.welcome(&hello, &connection, &closer).await {
            Ok(welcomed) => welcomed,
            Err(ending) => return self.finish(ending).await,
        };
        let gone = match self
            .exchange(id, &connection, &hello, last_seq, &closer)
            .await
        {
            Ok(gone) => gone,
            Err(ending) => {
                self.end(id, &connection).await;
                return self.finish(ending).await;
            }
        };
        self.end(id, &connection).await;
        let _ = self.send_frame(Message::Close(None)).await;
        match gone {
            Gone::Closed => tracing::info!(defender = id, "defender disconnected"),
            Gone::Lost(how) => {
                tracing::info!(defender = id, how = ?how, "defender lost without closing its channel");
                self.state.console.incidents().defender_lost(Lost {
                    defender_id: id,
                    connection,
                    instance: hello.instance.clone(),
                    family: self.family.clone(),
                    task_arn: hello.task.task_arn.clone(),
                    cluster: hello.task.cluster.clone(),
                    how,
                    at: palisade_console::clock::now_ms(),
                });
            }
        }
    }

    /// Says how the session ended (refusing and closing take the session).
    async fn finish(self, ending: Ending) {
        match ending {
            Ending::Refuse(reason) => self.refuse(reason).await,
            Ending::Close(code, reason) => self.close(code, reason).await,
            Ending::Silent => {}
        }
    }

    /// The defender's hello, within 10 s, checked: its fields, and (when ECS can tell) that its
    /// task is of the token's family.
    async fn hello(&mut self, closer: &Closer) -> Result<Box<Hello>, Ending> {
        let first = tokio::select! {
            first = tokio::time::timeout(std::time::Duration::from_secs(10), self.next_message()) => first,
            () = closer.notify.notified() => {
                let (code, reason) = closer.why();
                return Err(Ending::Close(code, reason));
            }
        };
        let hello = match first {
            Ok(Some(Ok((DefenderMessage::Hello(hello), _)))) => hello,
            Ok(Some(Ok(_))) => {
                return Err(Ending::Refuse("the first message must be hello".into()))
            }
            Ok(Some(Err(reason))) => return Err(Ending::Refuse(reason)),
            Ok(None) => return Err(Ending::Silent),
            Err(_) => return Err(Ending::Refuse("no hello within 10 s".into())),
        };
        check_hello(&hello, &self.family).map_err(Ending::Refuse)?;
        // A task ARN is its family's: when ECS can tell, a token of another family is refused.
        self.state
            .console
            .check_task_family(&hello.task, &self.family)
            .await
            .map_err(Ending::Refuse)?;
        Ok(hello)
    }

    /// Records the hello (the defender's row, and the last event it stored) and takes the
    /// defender over from an older socket of it.
    async fn welcome(
        &mut self,
        hello: &Hello,
        connection: &str,
        closer: &Arc<Closer>,
    ) -> Result<(i64, u64), Ending> {
        let recorded = self
            .state
            .recorder
            .hello(self.slot.token_id, hello, connection)
            .await;
        let (id, last_seq) = match recorded {
            Ok(found) => found,
            Err(palisade_console::Error::Conflict(reason)) => return Err(Ending::Refuse(reason)),
            Err(error) => {
                // The defender reconnects with backoff; the log says why it had to.
                error.log("recording a defender");
                return Err(Ending::Silent);
            }
        };
        self.state.live.take_over(id, connection, closer);
        tracing::info!(defender = id, family = ?hello.task.family, task = ?hello.task.task_arn, version = ?hello.version, "defender connected");
        Ok((id, last_seq))
    }

    /// Welcome and the family's policy, then each message answered and each new policy sent,
    /// until the defender goes (`Ok`: how) or the session must end otherwise (`Err`: closed by
    /// the console, or a message refused).
    async fn exchange(
        &mut self,
        id: i64,
        connection: &str,
        hello: &Hello,
        mut last_seq: u64,
        closer: &Closer,
    ) -> Result<Gone, Ending> {
        let heartbeat = self.state.defenders.heartbeat;
        let welcome = ConsoleMessage::Welcome {
            defender_id: id,
            heartbeat_secs: heartbeat.as_secs(),
            last_seq,
        };
        if !self.send(&welcome).await {
            return Ok(self.lost("the connection failed"));
        }
        let mut policies = Self::policies(&self.state.console, &self.family).await;
        if let Some(current) = policies
            .as_mut()
            .map(|watch| watch.borrow_and_update().clone())
        {
            if !self.send_policy(&current).await {
                return Ok(self.lost("the connection failed"));
            }
        }
        loop {
            let message = tokio::select! {
                message = tokio::time::timeout(heartbeat * 3, self.next_message()) => message,
                policy = next_policy(&mut policies) => {
                    if !self.send_policy(&policy).await {
                        return Ok(self.lost("the connection failed"));
                    }
                    continue;
                }
                () = closer.notify.notified() => {
                    let (code, reason) = closer.why();
                    tracing::info!(defender = id, reason = ?reason, "closing a defender's connection");
                    return Err(Ending::Close(code, reason));
                }
            };
            let message = match message {
                Err(_) => {
                    tracing::info!(defender = id, "silent for 3 heartbeats");
                    let silent = format!("no message for {} s", (heartbeat * 3).as_secs());
                    return Ok(Gone::Lost(silent));
                }
                Ok(None) => return Ok(self.gone()),
                Ok(Some(Err(reason))) => return Err(Ending::Refuse(reason)),
                Ok(Some(Ok(message))) => message,
            };
            let answer = self
                .answer(id, connection, hello, &mut last_seq, message)
                .await?;
            if let Some(answer) = answer {
                if !self.send(&answer).await {
                    return Ok(self.lost("the connection failed"));
                }
            }
        }
    }

    /// What this socket waits on for its family's policy (`None`, logged, when it cannot be
    /// read: the defender keeps judging with the policy it has).
    async fn policies(
        console: &palisade_console::Console,
        family: &str,
    ) -> Option<watch::Receiver<Arc<PolicyMessage>>> {
        match console.policies().connect(family).await {
            Ok(watch) => Some(watch),
            Err(error) => {
                error.log("reading a family's policy for its defender");
                None
            }
        }
    }

    async fn send_policy(&mut self, policy: &PolicyMessage) -> bool {
        self.send_frame(Message::text(policy.text.to_string()))
            .await
    }

    /// How the defender went, by how its socket ended: a close with 1000 or 1001 (its task is
    /// stopping) is a goodbye; anything else, a loss.
    fn gone(&self) -> Gone {
        match self.peer_closed {
            Some(1000 | 1001) => Gone::Closed,
            Some(code) => Gone::Lost(format!("it closed the channel with code {code}")),
            None => Gone::Lost("the connection was reset".into()),
        }
    }

    /// A send failed: a close the defender sent meanwhile still counts as its goodbye.
    fn lost(&self, how: &str) -> Gone {
        match self.peer_closed {
            Some(_) => self.gone(),
            None => Gone::Lost(how.to_owned()),
        }
    }

    /// What one message of a welcomed defender gets back: heartbeats and stored events are
    /// acknowledged with the last event stored; events that could not be stored end the session
    /// (never a later ack over them: the defender would drop them).
    async fn answer(
        &mut self,
        id: i64,
        connection: &str,
        hello: &Hello,
        last_seq: &mut u64,
        (message, size): (DefenderMessage, usize),
    ) -> Result<Option<ConsoleMessage>, Ending> {
        match message {
            DefenderMessage::Heartbeat(beat) => {
                self.state.recorder.heartbeat(id, connection, &beat);
                Ok(Some(ConsoleMessage::Ack { seq: *last_seq }))
            }
            DefenderMessage::Events { mut events } => {
                if events.len() > MAX_EVENTS_PER_MESSAGE {
                    return Err(Ending::Refuse(format!(
                        "at most {MAX_EVENTS_PER_MESSAGE} events per message"
                    )));
                }
                // Cut to the protocol's bounds, whatever this defender did.
                events.iter_mut().for_each(Event::clamp);
                let stored = self
                    .state
                    .recorder
                    .store(id, &self.family, &hello.instance, events, size)
                    .await;
                // The socket ends when they were not stored: the defender resends them all.
                let stored = stored.ok_or_else(|| {
                    Ending::Close(
                        TRY_AGAIN,
                        "the console could not store these events: send them again".into(),
                    )
                })?;
                *last_seq = stored;
                Ok(Some(ConsoleMessage::Ack { seq: stored }))
            }
            DefenderMessage::Hello(_) => Ok(None),
            // A newer defender's message: skipped, so older consoles keep working.
            DefenderMessage::Unknown => Ok(None),
        }
    }
}

/// The next policy of the family, once its revision changed (never, without a family watch or
/// once its sender is gone).
async fn next_policy(
    policies: &mut Option<watch::Receiver<Arc<PolicyMessage>>>,
) -> Arc<PolicyMessage> {
    let Some(watch) = policies else {
        return std::future::pending().await;
    };
    if watch.changed().await.is_err() {
        return std::future::pending().await;
    }
    watch.borrow_and_update().clone()
}

/// How a welcomed defender went, when it went on its own.
enum Gone {
    /// It closed the channel (1000, or 1001: its task is stopping).
    Closed,
    /// Without closing it: what happened, in words.
    Lost(String),
}

/// How a session ends, decided by one of its phases and carried out by [`Session::finish`].
enum Ending {
    /// Refused: `refused` with the reason, then a policy close.
    Refuse(String),
    /// `refused` with the reason, then a close with the code.
    Close(u16, String),
    /// Nothing more to say: the socket is gone, or the log says why.
    Silent,
}

/// Closes the sessions of revoked tokens within a second, wherever they were revoked (REST, a
/// page, or `palisade token revoke` in another process): every half second, which of the tokens
/// with open sessions are revoked now. No time window: a revocation is found however long the
/// database was unreachable or a look was late.
pub async fn close_revoked_forever(state: AppState) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(500));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let live = state.live.token_ids();
        if live.is_empty() {
            continue;
        }
        match state.console.defender_tokens().revoked_among(&live).await {
            Ok(revoked) => {
                for token_id in revoked {
                    state
                        .live
                        .close_token(token_id, "this defender token was revoked");
                }
            }
            Err(error) => error.log("looking for revoked tokens"),
        }
    }
}
