//! The WebSocket to the console: `hello`, then events as they come and a heartbeat every
//! interval the console asked for; each acknowledged event leaves the buffer. On any failure the
//! channel reconnects after an exponential delay with full jitter, and the workload never notices.

use crate::config::Config;
use crate::log::info;
use crate::shared::Shared;
use palisade_protocol::{
    ConsoleMessage, DefenderMessage, Heartbeat, Hello, TaskIdentity, CONNECT_PATH,
    MAX_EVENTS_PER_MESSAGE, MAX_MESSAGE_BYTES, PROTOCOL_VERSION,
};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Connector, Message, WebSocket};

/// How long one read waits, which is also how quickly new events go out.
const POLL: Duration = Duration::from_millis(250);

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Why a session ended.
enum Ended {
    /// Stopping on SIGTERM.
    Stopped,
    /// It was up (welcomed) and then dropped: reconnect soon.
    Dropped(String),
    /// It never came up.
    Failed(String),
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

fn instance_id() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

/// The console URL as the WebSocket URL of the connect endpoint.
fn connect_url(console_url: &str) -> String {
    let base = console_url.trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    };
    format!("{base}{CONNECT_PATH}")
}

pub fn run(
    console_url: &str,
    token: &str,
    identity: TaskIdentity,
    config: &Config,
    shared: &Shared,
) {
    let url = connect_url(console_url);
    // Not worth retrying: the setting has to change. The sidecar keeps serving its workload.
    let refusal = crate::tls::refuse_insecure(&url, config.allow_insecure).map(Err);
    let tls = match refusal.unwrap_or_else(|| crate::tls::client_config(config.ca_cert.as_deref()))
    {
        Ok(tls) => tls,
        Err(reason) => {
            info!("not connecting to the console: {reason}");
            crate::run::idle_until_stopped(shared);
            return;
        }
    };
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        instance: instance_id(),
        mode: config.mode.as_str().into(),
        task: identity,
    };
    let mut attempt: u32 = 0;
    loop {
        let ended = session(&url, token, &hello, shared, &tls);
        shared.lock().connected = false;
        let failure = match ended {
            Ended::Stopped => return,
            Ended::Dropped(reason) => {
                attempt = 0;
                reason
            }
            Ended::Failed(reason) => reason,
        };
        // Full jitter: a console restart does not bring every defender back in the same second.
        let ceiling = config
            .reconnect_min
            .saturating_mul(1u32 << attempt.min(16))
            .min(config.reconnect_max);
        let delay = Duration::from_millis(random_u64() % (ceiling.as_millis() as u64 + 1))
            .max(config.reconnect_min / 2);
        info!(
            "console channel: {failure}; reconnecting in {} ms",
            delay.as_millis()
        );
        attempt = attempt.saturating_add(1);
        let until = Instant::now() + delay;
        while Instant::now() < until {
            if shared.stopping.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(POLL.min(until - Instant::now()));
        }
    }
}

fn send(socket: &mut Socket, message: &DefenderMessage) -> Result<(), String> {
    let text = serde_json::to_string(message).map_err(|error| error.to_string())?;
    socket
        .send(Message::text(text))
        .map_err(|error| error.to_string())
}

fn set_read_timeout(socket: &mut Socket, timeout: Duration) {
    let stream = match socket.get_mut() {
        MaybeTlsStream::Plain(stream) => stream,
        MaybeTlsStream::Rustls(stream) => stream.get_mut(),
        _ => return,
    };
    let _ = stream.set_read_timeout(Some(timeout));
}

/// The next message from the console, `None` when none arrived within the read timeout.
fn receive(socket: &mut Socket) -> Result<Option<ConsoleMessage>, String> {
    match socket.read() {
        Ok(Message::Text(text)) => serde_json::from_str(text.as_str())
            .map(Some)
            .map_err(|error| format!("the console sent a malformed message: {error}")),
        Ok(Message::Close(frame)) => Err(format!(
            "the console closed the channel{}",
            frame.map(|f| format!(": {}", f.reason)).unwrap_or_default()
        )),
        Ok(_) => Ok(None),
        Err(tungstenite::Error::Io(error))
            if matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
                    // SIGTERM lands during a read: the loop then sees `stopping`.
                    | std::io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        Err(error) => Err(error.to_string()),
    }
}

/// Opens the WebSocket: TCP, then TLS (verified with `tls`) for `wss://`, then the upgrade.
fn open(
    request: tungstenite::handshake::client::Request,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Socket, tungstenite::Error> {
    let uri = request.uri();
    let secure = uri.scheme_str() == Some("wss");
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let stream = TcpStream::connect((host.as_str(), port))?;
    let connector = if secure {
        Connector::Rustls(tls.clone())
    } else {
        Connector::Plain
    };
    match tungstenite::client_tls_with_config(request, stream, None, Some(connector)) {
        Ok((socket, _)) => Ok(socket),
        Err(HandshakeError::Failure(error)) => Err(error),
        Err(HandshakeError::Interrupted(_)) => Err(tungstenite::Error::Io(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            "the handshake was interrupted",
        ))),
    }
}

/// One connection to the console, from the upgrade to its end: hello, then events and
/// heartbeats out and acknowledgements in.
fn session(
    url: &str,
    token: &str,
    hello: &Hello,
    shared: &Shared,
    tls: &Arc<rustls::ClientConfig>,
) -> Ended {
    let mut socket = match connect(url, token, tls) {
        Ok(socket) => socket,
        Err(ended) => return ended,
    };
    match greet(&mut socket, hello, shared) {
        Ok(heartbeat) => exchange(&mut socket, shared, heartbeat),
        Err(ended) => ended,
    }
}

/// The upgraded socket, the token in its `Authorization` header.
fn connect(url: &str, token: &str, tls: &Arc<rustls::ClientConfig>) -> Result<Socket, Ended> {
    let mut request = url
        .into_client_request()
        .map_err(|error| Ended::Failed(format!("{url} is not a console URL: {error}")))?;
    let Ok(value) = format!("Bearer {token}").parse() else {
        return Err(Ended::Failed(
            "PALISADE_TOKEN holds characters a header cannot carry".into(),
        ));
    };
    request.headers_mut().insert("authorization", value);
    let mut socket = match open(request, tls) {
        Ok(socket) => socket,
        Err(tungstenite::Error::Http(response)) if response.status() == 401 => {
            return Err(Ended::Failed(
                "the console refused the token (unknown or revoked)".into(),
            ))
        }
        Err(error) => return Err(Ended::Failed(format!("cannot connect to {url}: {error}"))),
    };
    set_read_timeout(&mut socket, POLL);
    Ok(socket)
}

/// Sends hello and waits for the console's answer, `welcome` (or `refused`) first: the buffer
/// rewinds to what the console last stored, and the heartbeat it asks for is answered.
fn greet(socket: &mut Socket, hello: &Hello, shared: &Shared) -> Result<Duration, Ended> {
    send(socket, &DefenderMessage::Hello(Box::new(hello.clone()))).map_err(Ended::Failed)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match receive(socket) {
            Ok(Some(ConsoleMessage::Welcome {
                heartbeat_secs,
                last_seq,
                defender_id,
            })) => {
                let mut state = shared.lock();
                state.buffer.rewind(last_seq);
                state.connected = true;
                info!("connected to the console as defender {defender_id}");
                // Whatever the console says: 1 s to an hour (three of them must fit in an
                // Instant, and a defender must never go silent for days).
                return Ok(Duration::from_secs(heartbeat_secs.clamp(1, 3600)));
            }
            Ok(Some(ConsoleMessage::Refused { reason })) => {
                return Err(Ended::Failed(format!(
                    "the console refused this defender: {reason}"
                )))
            }
            Ok(_) if Instant::now() < deadline => {}
            Ok(_) => return Err(Ended::Failed("the console did not answer hello".into())),
            Err(error) => return Err(Ended::Failed(error)),
        }
    }
}

/// Until the defender stops or the channel ends: what the buffer holds goes out in batches, a
/// heartbeat every `heartbeat`, and acknowledgements free the buffer.
fn exchange(socket: &mut Socket, shared: &Shared, heartbeat: Duration) -> Ended {
    let mut last_heartbeat = Instant::now() - heartbeat;
    let mut last_heard = Instant::now();
    loop {
        if shared.stopping.load(Ordering::Relaxed) {
            say_goodbye(socket, shared);
            return Ended::Stopped;
        }
        let (batch, beat) = next_out(shared);
        if !batch.is_empty() {
            if let Err(error) = send(socket, &DefenderMessage::Events { events: batch }) {
                return Ended::Dropped(error);
            }
        }
        if last_heartbeat.elapsed() >= heartbeat {
            if let Err(error) = send(socket, &DefenderMessage::Heartbeat(beat)) {
                return Ended::Dropped(error);
            }
            last_heartbeat = Instant::now();
        }
        match receive(socket) {
            Ok(Some(message)) => {
                last_heard = Instant::now();
                match message {
                    ConsoleMessage::Ack { seq } => shared.lock().buffer.ack(seq),
                    ConsoleMessage::Policy(update) => shared.take_policy(*update),
                    ConsoleMessage::Refused { reason } => {
                        return Ended::Dropped(format!("the console ended the channel: {reason}"))
                    }
                    _ => {}
                }
            }
            Ok(None) => {}
            Err(error) => return Ended::Dropped(error),
        }
        // The console answers every heartbeat: three unanswered ones mean it is gone.
        if last_heard.elapsed() > heartbeat * 3 {
            return Ended::Dropped("the console stopped answering".into());
        }
    }
}

/// What the sidecar says when it stops (SIGTERM): the events still waiting (one batch), then a
/// close frame "going away" (1001) saying so, so the console tells a clean stop from a defender
/// gone silent; its answer is awaited briefly.
fn say_goodbye(socket: &mut Socket, shared: &Shared) {
    let (batch, _) = next_out(shared);
    if !batch.is_empty() {
        let _ = send(socket, &DefenderMessage::Events { events: batch });
    }
    let _ = socket.close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: "sidecar stopping".into(),
    }));
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match socket.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(error))
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    let _ = socket.flush();
}

/// The next batch of events to send, and the heartbeat as of now.
fn next_out(shared: &Shared) -> (Vec<palisade_protocol::Event>, Heartbeat) {
    let mut state = shared.lock();
    // Room for the message's envelope beside the events.
    let batch = state
        .buffer
        .next_batch(MAX_EVENTS_PER_MESSAGE, MAX_MESSAGE_BYTES - 1024);
    let beat = Heartbeat {
        process_count: state.process_count,
        dropped_events: state.buffer.dropped,
    };
    (batch, beat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_urls_become_websocket_urls() {
        assert_eq!(
            connect_url("https://c.example/"),
            "wss://c.example/api/v1/defenders/connect"
        );
        assert_eq!(
            connect_url("http://127.0.0.1:3000"),
            "ws://127.0.0.1:3000/api/v1/defenders/connect"
        );
    }
}
