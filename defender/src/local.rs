//! The sidecar's loopback endpoint (shared by every container of an awsvpc task): wrappers report
//! their workload's start and end and, on a persistent connection (a stream, `stream.rs`), every
//! exec their tracer sees, and get the policy in force back; the health check asks for the
//! status. One JSON object per line.
//!
//! Any process of the task may connect, so everything is bounded: lines, one-shot clients (at
//! most [`MAX_CLIENTS`] at once, [`CLIENT_DEADLINE`] each) and streams (at most [`MAX_STREAMS`],
//! each closed after [`STREAM_IDLE`] without a line; the wrapper reconnects when it has more).

use crate::log::info;
use crate::shared::Shared;
use palisade_protocol::LocalMessage;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest line read from a client: reports and status requests are a few hundred bytes.
pub(crate) const MAX_LINE_BYTES: u64 = 64 * 1024;
/// Clients served at once; more wait in the listen backlog (a process of the task may connect and
/// say nothing, it must not stop a wrapper's report or the health check).
const MAX_CLIENTS: usize = 32;
/// How long one client may take, all its lines together.
const CLIENT_DEADLINE: Duration = Duration::from_secs(5);
/// Wrapper streams served at once (a task has at most 10 containers); one more is refused, and
/// its wrapper counts what it could not deliver.
const MAX_STREAMS: usize = 32;
/// A stream silent this long is closed (it holds a thread). A wrapper asks for the status every
/// second it hears nothing, so only a wrapper gone silent is closed.
const STREAM_IDLE: Duration = Duration::from_secs(300);
/// How often a stream's thread wakes without a line: how soon a new policy reaches the wrapper.
const STREAM_TICK: Duration = Duration::from_millis(250);

/// Serves the loopback endpoint until the process ends: each client on a thread of its own (at
/// most [`MAX_CLIENTS`] at once, the next waits in the listen backlog for a free slot), lines
/// bounded, a deadline per client; a client that opens a stream moves to a stream slot.
pub fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let clients = Arc::new(Slots::new(MAX_CLIENTS));
    let streams = Arc::new(Slots::new(MAX_STREAMS));
    loop {
        let slot = clients.acquire();
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        let (shared, streams) = (shared.clone(), streams.clone());
        let _ = std::thread::Builder::new()
            .name("loopback client".into())
            .stack_size(128 * 1024)
            .spawn(move || serve_client(stream, &shared, slot, &streams));
    }
}

/// A bounded number of slots; a [`Slot`] gives its place back when dropped.
struct Slots {
    capacity: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.used.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        self.0.freed.notify_one();
    }
}

impl Slots {
    fn new(capacity: usize) -> Self {
        Slots {
            capacity,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free slot.
    fn acquire(self: &Arc<Self>) -> Slot {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        while *used >= self.capacity {
            used = self
                .freed
                .wait(used)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *used += 1;
        Slot(self.clone())
    }

    /// A free slot, or `None` at once.
    fn try_acquire(self: &Arc<Self>) -> Option<Slot> {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if *used >= self.capacity {
            return None;
        }
        *used += 1;
        Some(Slot(self.clone()))
    }
}

/// One line, at most [`MAX_LINE_BYTES`]; `None` at the end, on a timeout or on a longer line.
fn read_line(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    match reader.take(MAX_LINE_BYTES).read_until(b'\n', &mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) if !line.ends_with(b"\n") && line.len() as u64 == MAX_LINE_BYTES => {
            info!("loopback: a line longer than {MAX_LINE_BYTES} bytes; closing");
            None
        }
        Ok(_) => Some(line),
    }
}

fn serve_client(stream: TcpStream, shared: &Shared, slot: Slot, streams: &Arc<Slots>) {
    let started = Instant::now();
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let Ok(reader_stream) = stream.try_clone() else {
        return;
    };
    let mut writer = stream;
    let mut reader = BufReader::new(reader_stream);
    for _ in 0..16 {
        if started.elapsed() > CLIENT_DEADLINE {
            break;
        }
        let Some(line) = read_line(&mut reader) else {
            break;
        };
        match serde_json::from_slice::<LocalMessage>(&line) {
            Ok(LocalMessage::Stream { container_id }) => {
                let Some(stream_slot) = streams.try_acquire() else {
                    info!("loopback: {MAX_STREAMS} wrapper streams already; refusing one more");
                    return;
                };
                drop(slot);
                let _ = writer.set_read_timeout(Some(STREAM_TICK));
                // What the wrapper sent after its `stream` line may be read already.
                let pending = reader.buffer().to_vec();
                drop(reader);
                crate::stream::serve(writer, pending, container_id, shared, STREAM_IDLE);
                drop(stream_slot);
                return;
            }
            Ok(LocalMessage::Report { container_id, kind }) => {
                shared.record_workload(container_id.as_deref(), kind);
            }
            Ok(LocalMessage::StatusRequest) => {
                let status = shared.status();
                let Ok(mut text) = serde_json::to_string(&status) else {
                    break;
                };
                text.push('\n');
                if writer.write_all(text.as_bytes()).is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(error) => {
                info!("loopback: ignoring a malformed message: {error}");
                break;
            }
        }
    }
}

pub fn connect(addr: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let target = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr} is not an address")))?;
    let stream = TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// `palisade-defender health`: 0 when the sidecar answers and says it is healthy.
pub fn health(addr: &str) -> i32 {
    let asked = connect(addr, Duration::from_secs(2)).and_then(|mut stream| {
        stream.write_all(b"{\"type\":\"status_request\"}\n")?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line)?;
        Ok(line)
    });
    match asked.map(|line| serde_json::from_str::<LocalMessage>(&line)) {
        Ok(Ok(LocalMessage::Status { healthy: true, .. })) => 0,
        Ok(Ok(LocalMessage::Status {
            binary_ready,
            connected,
            ..
        })) => {
            eprintln!(
                "unhealthy: binary in place: {binary_ready}, connected to the console: {connected}"
            );
            1
        }
        Ok(_) => {
            eprintln!("unhealthy: the sidecar answered something unexpected");
            1
        }
        Err(error) => {
            eprintln!("unhealthy: the sidecar does not answer on {addr}: {error}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use palisade_protocol::{EventKind, ProcessInfo};

    fn endpoint() -> (String, Arc<Shared>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared::new(Mode::Availability, 100));
        let serving = shared.clone();
        std::thread::spawn(move || serve(listener, serving));
        (addr, shared)
    }

    #[test]
    fn silent_clients_do_not_stop_the_health_check_or_a_report() {
        let (addr, shared) = endpoint();
        // Clients that connect and say nothing, as many as are served at once minus one.
        let silent: Vec<TcpStream> = (0..MAX_CLIENTS - 1)
            .map(|_| TcpStream::connect(&addr).unwrap())
            .collect();
        // The health check is answered (unhealthy: the binary is not in place in a test).
        assert_eq!(health(&addr), 1);
        let asked = connect(&addr, Duration::from_secs(2)).and_then(|mut stream| {
            stream.write_all(b"{\"type\":\"status_request\"}\n")?;
            let mut line = String::new();
            BufReader::new(stream).read_line(&mut line)?;
            Ok(line)
        });
        assert!(asked.unwrap().contains("\"type\":\"status\""));
        let report = LocalMessage::Report {
            container_id: None,
            kind: EventKind::WorkloadExited {
                container: None,
                pid: 7,
                code: Some(0),
                signal: None,
            },
        };
        let mut stream = TcpStream::connect(&addr).unwrap();
        let mut line = serde_json::to_string(&report).unwrap();
        line.push('\n');
        stream.write_all(line.as_bytes()).unwrap();
        drop(stream);
        let deadline = Instant::now() + Duration::from_secs(5);
        while shared.lock().buffer.next_batch(10, usize::MAX).is_empty() {
            assert!(Instant::now() < deadline, "the report was recorded");
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(silent);
    }

    #[test]
    fn an_endless_line_is_cut_off() {
        let (addr, _shared) = endpoint();
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        // The endpoint stops reading after its bound and closes: writing fails long before 64 MiB.
        let written = (0..1024)
            .take_while(|_| stream.write_all(&chunk).is_ok())
            .count();
        assert!(written < 1024, "the endpoint kept reading {written} chunks");
    }

    fn exec_line(pid: u32) -> String {
        let message = LocalMessage::Exec {
            container_id: None,
            start_time: 1,
            process: ProcessInfo {
                pid,
                command_line: format!("/bin/true {pid}"),
                ..ProcessInfo::default()
            },
            alert: None,
        };
        let mut line = serde_json::to_string(&message).unwrap();
        line.push('\n');
        line
    }

    fn traced_count(shared: &Shared) -> usize {
        shared.lock().traced.len()
    }

    #[test]
    fn a_wrapper_stream_carries_any_number_of_lines_past_the_client_deadline() {
        let (addr, shared) = endpoint();
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.write_all(b"{\"type\":\"stream\"}\n").unwrap();
        // Far more than the 16 lines of a one-shot client...
        let burst: String = (0..100).map(exec_line).collect();
        stream.write_all(burst.as_bytes()).unwrap();
        // ...and still read after a one-shot client's deadline.
        std::thread::sleep(CLIENT_DEADLINE + Duration::from_millis(500));
        stream.write_all(exec_line(100).as_bytes()).unwrap();
        stream
            .write_all(b"{\"type\":\"execs_dropped\",\"count\":7}\n")
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while traced_count(&shared) < 101 || shared.lock().buffer.dropped < 7 {
            assert!(Instant::now() < deadline, "{} execs", traced_count(&shared));
            std::thread::sleep(Duration::from_millis(20));
        }
        let traced = std::mem::take(&mut shared.lock().traced);
        assert_eq!(traced[100].process.command_line, "/bin/true 100");
        assert_eq!(
            traced[0].process.source,
            palisade_protocol::ProcessSource::Trace
        );
    }

    #[test]
    fn streams_are_bounded_and_the_health_check_still_answers() {
        let (addr, shared) = endpoint();
        let open = |addr: &str| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(b"{\"type\":\"stream\"}\n").unwrap();
            stream
        };
        let held: Vec<TcpStream> = (0..MAX_STREAMS).map(|_| open(&addr)).collect();
        // Every stream slot taken (each stream moved out of its client slot): the health check
        // is still answered.
        std::thread::sleep(Duration::from_millis(300));
        let mut asking = connect(&addr, Duration::from_secs(2)).unwrap();
        asking
            .write_all(b"{\"type\":\"status_request\"}\n")
            .unwrap();
        let mut answer = String::new();
        BufReader::new(asking).read_line(&mut answer).unwrap();
        assert!(answer.contains("\"type\":\"status\""), "{answer}");
        // One stream more is closed without being read.
        let mut extra = open(&addr);
        extra
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = extra.write_all(exec_line(1).as_bytes());
        let mut byte = [0u8; 1];
        assert!(matches!(extra.read(&mut byte), Ok(0) | Err(_)));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(traced_count(&shared), 0);
        // One stream goes: the next one is served.
        drop(held);
        std::thread::sleep(Duration::from_millis(200));
        let mut again = open(&addr);
        again.write_all(exec_line(2).as_bytes()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while traced_count(&shared) < 1 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
