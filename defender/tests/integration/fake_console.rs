//! A console stand-in for the defender's policy tests (the real console does not send policies
//! yet): a WebSocket server on loopback that answers `hello` with `welcome` and then the policy
//! it was given, acknowledges every batch and heartbeat, records everything the defenders send
//! (close frames too), pushes a new policy to connected defenders, and can stop (every socket
//! dropped, as a killed console) and come back on the same address.

use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

#[derive(Default)]
struct Recorded {
    /// Every event, once per (defender instance, seq).
    events: Vec<Value>,
    seen: std::collections::HashSet<(String, u64)>,
    /// The last sequence number stored per defender instance.
    last_seq: std::collections::HashMap<String, u64>,
    /// The policy message to send after `welcome`, and its generation.
    policy: Option<(u64, String)>,
    /// Close frames received: (code, reason).
    closes: Vec<(u16, String)>,
    hellos: usize,
}

pub struct FakeConsole {
    pub addr: SocketAddr,
    recorded: Arc<Mutex<Recorded>>,
    /// Changes on every stop: the threads of an earlier run end.
    run: Arc<AtomicU64>,
}

impl FakeConsole {
    pub fn start() -> FakeConsole {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let console = FakeConsole {
            addr: listener.local_addr().unwrap(),
            recorded: Arc::default(),
            run: Arc::new(AtomicU64::new(1)),
        };
        console.serve(listener);
        console
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let (recorded, run) = (self.recorded.clone(), self.run.clone());
        let this_run = run.load(Ordering::SeqCst);
        std::thread::spawn(move || {
            while run.load(Ordering::SeqCst) == this_run {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (recorded, run) = (recorded.clone(), run.clone());
                        std::thread::spawn(move || session(stream, &recorded, &run, this_run));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
    }

    /// Sends `message` (a `policy` message's JSON) after every `welcome` from now on, and to the
    /// defenders connected now.
    pub fn set_policy(&self, message: String) {
        let mut recorded = self.recorded.lock().unwrap();
        let generation = recorded.policy.as_ref().map_or(1, |(g, _)| g + 1);
        recorded.policy = Some((generation, message));
    }

    /// Gone, as a killed console: no close frame, nothing accepted.
    pub fn stop(&self) {
        self.run.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Back on the same address.
    pub fn restart(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => panic!("cannot listen on {} again: {error}", self.addr),
            }
        };
        self.serve(listener);
    }

    pub fn events(&self) -> Vec<Value> {
        self.recorded.lock().unwrap().events.clone()
    }

    pub fn closes(&self) -> Vec<(u16, String)> {
        self.recorded.lock().unwrap().closes.clone()
    }

    pub fn hellos(&self) -> usize {
        self.recorded.lock().unwrap().hellos
    }

    /// The `alert` events so far.
    pub fn alerts(&self) -> Vec<Value> {
        kind(&self.events(), "alert")
    }

    /// The events once `enough` says so (within `secs` seconds; the last seen then).
    pub fn events_once(&self, secs: u64, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let events = self.events();
            if enough(&events) || Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The events of one kind.
pub fn kind(events: &[Value], kind: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|event| event["event"] == kind)
        .cloned()
        .collect()
}

impl Drop for FakeConsole {
    fn drop(&mut self) {
        self.run.fetch_add(1, Ordering::SeqCst);
    }
}

/// One defender's connection, until it closes or the console stops.
fn session(stream: TcpStream, recorded: &Mutex<Recorded>, run: &AtomicU64, this_run: u64) {
    stream.set_nonblocking(false).unwrap();
    let Ok(mut socket) = tungstenite::accept(stream) else {
        return;
    };
    socket
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut instance = String::new();
    let mut policy_sent = 0;
    while run.load(Ordering::SeqCst) == this_run {
        if !instance.is_empty() {
            let policy = recorded.lock().unwrap().policy.clone();
            if let Some((generation, text)) = policy.filter(|(g, _)| *g != policy_sent) {
                if socket.send(Message::text(text)).is_err() {
                    return;
                }
                policy_sent = generation;
            }
        }
        let message = match socket.read() {
            Ok(Message::Text(text)) => serde_json::from_str::<Value>(text.as_str()).unwrap(),
            Ok(Message::Close(frame)) => {
                let frame = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                recorded
                    .lock()
                    .unwrap()
                    .closes
                    .push(frame.unwrap_or((0, String::new())));
                let _ = socket.flush();
                return;
            }
            Ok(_) => continue,
            Err(tungstenite::Error::Io(error))
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        };
        if answer(&mut socket, recorded, &mut instance, &message).is_err() {
            return;
        }
    }
}

/// Records a message and answers it as the console does.
fn answer(
    socket: &mut WebSocket<TcpStream>,
    recorded: &Mutex<Recorded>,
    instance: &mut String,
    message: &Value,
) -> tungstenite::Result<()> {
    let reply = {
        let mut recorded = recorded.lock().unwrap();
        match message["type"].as_str() {
            Some("hello") => {
                recorded.hellos += 1;
                *instance = message["instance"].as_str().unwrap_or("").to_owned();
                let last_seq = recorded
                    .last_seq
                    .get(instance.as_str())
                    .copied()
                    .unwrap_or(0);
                json!({"type": "welcome", "defender_id": 1, "heartbeat_secs": 1, "last_seq": last_seq})
            }
            Some("events") => {
                for event in message["events"].as_array().unwrap() {
                    let seq = event["seq"].as_u64().unwrap();
                    if recorded.seen.insert((instance.clone(), seq)) {
                        recorded.events.push(event.clone());
                    }
                    let last = recorded.last_seq.entry(instance.clone()).or_default();
                    *last = (*last).max(seq);
                }
                let seq = recorded
                    .last_seq
                    .get(instance.as_str())
                    .copied()
                    .unwrap_or(0);
                json!({"type": "ack", "seq": seq})
            }
            _ => {
                let seq = recorded
                    .last_seq
                    .get(instance.as_str())
                    .copied()
                    .unwrap_or(0);
                json!({"type": "ack", "seq": seq})
            }
        }
    };
    socket.send(Message::text(reply.to_string()))
}
