//! A wrapper's stream, on both ends. The wrapper sends its workload's start and end, every exec
//! its tracer saw (with what its judge found) and, when it has heard nothing for a second, a
//! status request; the sidecar sends `welcome` (its mode, the wrapper's container's name) and the
//! policy in force as soon as the stream opens and again whenever either changes, and answers
//! each status request. Lines from the wrapper are bounded as every loopback line is (64 KiB);
//! lines to it as the largest policy is.

use crate::log::info;
use crate::shared::Shared;
use palisade_protocol::LocalMessage;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The longest line the wrapper reads from the sidecar: a policy at its largest
/// ([`palisade_policy::MAX_POLICY_BYTES`]) and its envelope, as a channel message at most.
pub const MAX_LINE_TO_WRAPPER: usize = palisade_protocol::MAX_MESSAGE_BYTES;

/// Lines read from a socket that may time out between them (nothing read is lost then).
pub struct Lines {
    pending: Vec<u8>,
    max: usize,
}

/// What the next read gave.
pub enum Next {
    Line(Vec<u8>),
    /// The read timed out with no whole line.
    Idle,
    /// The end: closed, failed, or a line longer than the bound.
    End,
}

impl Lines {
    pub fn new(pending: Vec<u8>, max: usize) -> Self {
        Lines { pending, max }
    }

    pub fn next(&mut self, socket: &mut impl Read) -> Next {
        loop {
            if let Some(end) = self.pending.iter().position(|byte| *byte == b'\n') {
                return Next::Line(self.pending.drain(..=end).collect());
            }
            if self.pending.len() >= self.max {
                info!("loopback: a line longer than {} bytes; closing", self.max);
                return Next::End;
            }
            let mut chunk = [0u8; 16 * 1024];
            let room = chunk.len().min(self.max - self.pending.len());
            match socket.read(&mut chunk[..room]) {
                Ok(0) => return Next::End,
                Ok(read) => self.pending.extend_from_slice(&chunk[..read]),
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    return Next::Idle
                }
                Err(_) => return Next::End,
            }
        }
    }
}

/// What this stream last sent its wrapper.
#[derive(Default)]
struct Sent {
    container: Option<Option<String>>,
    generation: Option<u64>,
}

/// The sidecar's end of a wrapper's stream, until it closes or stays silent for `idle`. The
/// socket's read timeout is how often it looks for a new policy to send.
pub fn serve(
    mut socket: TcpStream,
    pending: Vec<u8>,
    container_id: Option<String>,
    shared: &Shared,
    idle: Duration,
) {
    let mut lines = Lines::new(pending, crate::local::MAX_LINE_BYTES as usize);
    let mut sent = Sent::default();
    let mut last_line = Instant::now();
    let mut dropped_before = 0;
    loop {
        if let Err(error) = push(&mut socket, shared, container_id.as_deref(), &mut sent) {
            info!("loopback: a wrapper's stream cannot be written: {error}");
            return;
        }
        let line = match lines.next(&mut socket) {
            Next::Line(line) => line,
            Next::Idle if last_line.elapsed() < idle => continue,
            Next::Idle | Next::End => return,
        };
        last_line = Instant::now();
        match serde_json::from_slice::<LocalMessage>(&line) {
            Ok(LocalMessage::Exec {
                container_id,
                start_time,
                process,
                alert,
            }) => shared.record_exec(container_id.as_deref(), start_time, process, alert),
            Ok(LocalMessage::Report { container_id, kind }) => {
                shared.record_workload(container_id.as_deref(), kind);
            }
            Ok(LocalMessage::ExecsDropped { count }) => {
                // A running total: what is new since the last one.
                shared.record_dropped(count.saturating_sub(dropped_before));
                dropped_before = dropped_before.max(count);
            }
            Ok(LocalMessage::StatusRequest) => {
                if socket
                    .write_all(line_of(&shared.status()).as_bytes())
                    .is_err()
                {
                    return;
                }
            }
            Ok(_) => {}
            Err(error) => {
                info!("loopback: ignoring a malformed stream message: {error}");
                return;
            }
        }
    }
}

/// Sends `welcome` and the policy when they changed since this stream last sent them.
fn push(
    socket: &mut TcpStream,
    shared: &Shared,
    container_id: Option<&str>,
    sent: &mut Sent,
) -> std::io::Result<()> {
    let (container, generation, in_force) = {
        let state = shared.lock();
        (
            state.container_name(container_id),
            state.policy_generation,
            state.policy.clone(),
        )
    };
    if sent.container.as_ref() != Some(&container) {
        let welcome = LocalMessage::Welcome {
            mode: shared.mode.as_str().into(),
            container: container.clone(),
        };
        socket.write_all(line_of(&welcome).as_bytes())?;
        sent.container = Some(container);
    }
    if sent.generation != Some(generation) {
        // Written as `LocalMessage::Policy` is, without copying the policy into one.
        let policy = serde_json::to_string(&*in_force.policy).map_err(std::io::Error::other)?;
        let line = format!(
            "{{\"type\":\"policy\",\"revision\":{},\"policy\":{policy}}}\n",
            in_force.revision
        );
        socket.write_all(line.as_bytes())?;
        sent.generation = Some(generation);
    }
    Ok(())
}

/// A message as one line.
pub fn line_of(message: &LocalMessage) -> String {
    let mut line = serde_json::to_string(message).unwrap_or_default();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use palisade_protocol::PolicyUpdate;
    use std::io::{BufRead, BufReader};
    use std::sync::Arc;

    #[test]
    fn a_stream_gets_welcome_and_the_policy_then_each_new_one_and_status_answers() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::new(Mode::Security, 100));
        let serving = shared.clone();
        std::thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            serve(socket, Vec::new(), None, &serving, Duration::from_secs(60));
        });
        let socket = TcpStream::connect(addr).unwrap();
        let mut reader = BufReader::new(socket.try_clone().unwrap());
        let mut next = || {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            serde_json::from_str::<LocalMessage>(&line).unwrap()
        };
        assert_eq!(
            next(),
            LocalMessage::Welcome {
                mode: "security".into(),
                container: None
            }
        );
        assert_eq!(next(), LocalMessage::Policy(Box::default()));
        let update = PolicyUpdate {
            revision: 2,
            policy: palisade_policy::Policy {
                mode: palisade_policy::Mode::Prevent,
                ..palisade_policy::Policy::default()
            },
        };
        shared.take_policy(update.clone());
        assert_eq!(next(), LocalMessage::Policy(Box::new(update)));
        (&socket)
            .write_all(b"{\"type\":\"status_request\"}\n")
            .unwrap();
        assert!(matches!(next(), LocalMessage::Status { .. }));
    }

    #[test]
    fn lines_survive_timeouts_and_a_long_one_ends_the_reading() {
        let mut lines = Lines::new(b"{\"a\":1}\n{\"b\"".to_vec(), 64);
        let mut empty: &[u8] = b"";
        assert!(matches!(lines.next(&mut empty), Next::Line(line) if line == b"{\"a\":1}\n"));
        let mut rest: &[u8] = b":2}\n";
        assert!(matches!(lines.next(&mut rest), Next::Line(line) if line == b"{\"b\":2}\n"));
        let mut long: &[u8] = &[b'x'; 100];
        assert!(matches!(lines.next(&mut long), Next::End));
    }
}
