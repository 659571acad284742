//! The sidecar's loopback endpoint (shared by every container of an awsvpc task): wrappers report
//! their workload's start and end, the health check asks for the status. One JSON object per line.

use crate::log::info;
use crate::shared::Shared;
use palisade_protocol::{EventKind, LocalMessage};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest line read from a client: reports and status requests are a few hundred bytes.
const MAX_LINE_BYTES: u64 = 64 * 1024;
/// Clients served at once; more wait in the listen backlog (a process of the task may connect and
/// say nothing, it must not stop a wrapper's report or the health check).
const MAX_CLIENTS: usize = 32;
/// How long one client may take, all its lines together.
const CLIENT_DEADLINE: Duration = Duration::from_secs(5);

/// Serves the loopback endpoint until the process ends: each client on a thread of its own (at
/// most [`MAX_CLIENTS`] at once, the next waits in the listen backlog for a free slot), lines
/// bounded, a deadline per client.
pub fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Slots::default());
    loop {
        slots.acquire();
        let Ok((stream, _)) = listener.accept() else {
            slots.release();
            continue;
        };
        let (shared, slot) = (shared.clone(), slots.clone());
        let spawned = std::thread::Builder::new()
            .name("loopback client".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                serve_client(stream, &shared);
                slot.release();
            });
        if spawned.is_err() {
            slots.release();
        }
    }
}

/// Clients being served; the accept loop waits while all [`MAX_CLIENTS`] slots are taken.
#[derive(Default)]
struct Slots {
    used: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn acquire(&self) {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        while *used >= MAX_CLIENTS {
            used = self
                .freed
                .wait(used)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *used += 1;
    }

    fn release(&self) {
        *self.used.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        self.freed.notify_one();
    }
}

fn serve_client(stream: TcpStream, shared: &Shared) {
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
        let mut line = Vec::new();
        match (&mut reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => break,
            Ok(_) if !line.ends_with(b"\n") && line.len() as u64 == MAX_LINE_BYTES => {
                info!("loopback: a line longer than {MAX_LINE_BYTES} bytes; closing");
                break;
            }
            Ok(_) => {}
        }
        match serde_json::from_slice::<LocalMessage>(&line) {
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

fn connect(addr: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let target = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr} is not an address")))?;
    let stream = TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// Tells the sidecar about the workload, within `budget`; silently gives up when no sidecar
/// listens (the workload runs the same without one).
pub fn report(container_id: Option<String>, kind: EventKind, budget: Duration) {
    let message = LocalMessage::Report { container_id, kind };
    let Ok(mut line) = serde_json::to_string(&message) else {
        return;
    };
    line.push('\n');
    if let Ok(mut stream) = connect(&crate::config::local_addr(), budget) {
        let _ = stream.write_all(line.as_bytes());
    }
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
}
