//! The sidecar's loopback endpoint (shared by every container of an awsvpc task): wrappers report
//! their workload's start and end, the health check asks for the status. One JSON object per line.

use crate::log::info;
use crate::shared::Shared;
use palisade_protocol::{EventKind, LocalMessage};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Serves the loopback endpoint until the process ends. Connections are short and few, so they
/// are handled one after the other.
pub fn serve(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming().flatten() {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let Ok(reader_stream) = stream.try_clone() else {
            continue;
        };
        let mut writer = stream;
        for line in BufReader::new(reader_stream).lines().take(16) {
            let Ok(line) = line else { break };
            match serde_json::from_str::<LocalMessage>(&line) {
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
