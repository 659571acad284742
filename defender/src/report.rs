//! The wrapper's reports to the sidecar: one persistent loopback connection (a stream) held by a
//! thread of its own, fed by a queue the tracer never waits on. Exec records beyond [`QUEUE`]
//! waiting are counted as dropped and the count is sent (nothing is lost silently); the
//! workload's start and end are always queued. A sidecar that restarts is reconnected to. What
//! the sidecar says on the stream (its policy, its mode) is kept (`kept.rs`).

use crate::kept::Kept;
use crate::trace::ExecRecord;
use palisade_protocol::{
    truncate_chars, EventKind, LocalMessage, ProcessInfo, ProcessSource, MAX_COMMAND_LINE_CHARS,
};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Exec records waiting for the sidecar at most; more are dropped (and counted).
pub const QUEUE: usize = 10_000;
/// Lines written in one go.
const BATCH: usize = 512;
/// Connecting, and one write, give up after this.
const IO_TIMEOUT: Duration = Duration::from_millis(300);
/// Between attempts while the sidecar is away: doubling from the first to the second.
const RETRY: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(1));
/// How often the reporting thread wakes with nothing to send.
const TICK: Duration = Duration::from_millis(250);
/// A sidecar silent this long is asked for its status (it answers at once when it runs).
pub const ASK_AFTER: Duration = Duration::from_secs(1);

enum Item {
    Message(LocalMessage),
    /// The workload ended: deliver what waits, then stop.
    Finish,
}

/// The tracer's side: queue and count; never blocks.
pub struct Reporter {
    queue: Sender<Item>,
    counts: Arc<Counts>,
    done: Receiver<()>,
    container_id: Option<String>,
}

#[derive(Default)]
struct Counts {
    /// Exec records in the queue.
    queued: AtomicUsize,
    /// Exec records that found the queue full, since the start.
    dropped: AtomicU64,
    /// The wrapper is exiting: no more waiting for an absent sidecar.
    finishing: AtomicBool,
}

impl Reporter {
    /// Starts the reporting thread towards `addr` (the sidecar's loopback endpoint).
    pub fn start(addr: String, container_id: Option<String>, kept: Arc<Kept>) -> Reporter {
        let (queue, items) = mpsc::channel();
        let (finished, done) = mpsc::channel();
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        let to = Sidecar {
            addr,
            container_id: container_id.clone(),
            kept,
        };
        let spawned = std::thread::Builder::new()
            .name("reporter".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                deliver_until_finished(&to, &items, &shared);
                let _ = finished.send(());
            });
        if let Err(error) = spawned {
            crate::log::info!("exec: reports to the sidecar are off: {error}");
        }
        Reporter {
            queue,
            counts,
            done,
            container_id,
        }
    }

    /// The workload's start or end: always queued.
    pub fn workload(&self, kind: EventKind) {
        let report = LocalMessage::Report {
            container_id: self.container_id.clone(),
            kind,
        };
        let _ = self.queue.send(Item::Message(report));
    }

    /// An exec: queued unless [`QUEUE`] records already wait, else counted as dropped.
    pub fn exec(&self, record: ExecRecord) {
        if self.counts.queued.load(Ordering::Relaxed) >= QUEUE {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.counts.queued.fetch_add(1, Ordering::Relaxed);
        let message = LocalMessage::Exec {
            container_id: self.container_id.clone(),
            start_time: record.start_time,
            process: ProcessInfo {
                pid: record.pid,
                ppid: record.ppid,
                uid: record.uid,
                user: None,
                executable: record.executable,
                command_line: truncate_chars(&record.argv.join(" "), MAX_COMMAND_LINE_CHARS),
                container: None,
                source: ProcessSource::Trace,
                killed: record.killed,
            },
            alert: record.alert,
        };
        if self.queue.send(Item::Message(message)).is_err() {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Exec records dropped so far.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Delivers what waits, within `budget` (the most the wrapper's exit is delayed when the
    /// sidecar hangs or is away).
    pub fn finish(self, budget: Duration) {
        self.counts.finishing.store(true, Ordering::Relaxed);
        let _ = self.queue.send(Item::Finish);
        let _ = self.done.recv_timeout(budget);
    }
}

/// The reporting thread: takes a batch only once the previous one is delivered (so what waits
/// for an absent sidecar stays in the bounded queue), and retries with a growing delay. With
/// nothing to send it keeps the stream open (the sidecar's policies come on it) and, when the
/// sidecar has been silent for [`ASK_AFTER`], asks for its status: an answer shows it is alive.
fn deliver_until_finished(to: &Sidecar, items: &Receiver<Item>, counts: &Counts) {
    let mut link = None;
    let mut retry = Retry::default();
    let mut dropped_sent = 0;
    keep_watch(&mut link, to, &mut retry);
    loop {
        let batch = match items.recv_timeout(TICK) {
            Ok(first) => {
                let mut batch = vec![first];
                batch.extend(items.try_iter().take(BATCH));
                batch
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Vec::new(),
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let finish = batch.iter().any(|item| matches!(item, Item::Finish));
        let mut text = lines(&batch, counts);
        let dropped = counts.dropped.load(Ordering::Relaxed);
        if dropped != dropped_sent {
            text.push_str(&line(&LocalMessage::ExecsDropped { count: dropped }));
        }
        if text.is_empty() {
            keep_watch(&mut link, to, &mut retry);
            continue;
        }
        let mut delay = RETRY.0;
        while deliver(&mut link, to, &text).is_err() {
            // Exiting without a sidecar: the workload runs the same without one.
            if counts.finishing.load(Ordering::Relaxed) {
                return;
            }
            pause(delay, counts);
            delay = (delay * 2).min(RETRY.1);
        }
        dropped_sent = dropped;
        if finish {
            return;
        }
    }
}

/// Where the reports go, and what the wrapper keeps of what the sidecar says.
struct Sidecar {
    addr: String,
    container_id: Option<String>,
    kept: Arc<Kept>,
}

/// One stream to the sidecar; shut down when dropped, which ends its listener.
struct Link {
    socket: TcpStream,
    /// False once the listener saw the stream end.
    alive: Arc<AtomicBool>,
    /// When the wrapper last asked for the status.
    asked: Instant,
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

/// When to try again to open a stream while there is nothing to send.
struct Retry {
    at: Instant,
    delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            at: Instant::now(),
            delay: RETRY.0,
        }
    }
}

/// Opens a stream: the `stream` line with the container's Docker ID, and a listener for what
/// the sidecar says on it.
fn open(to: &Sidecar) -> std::io::Result<Link> {
    let opened = crate::local::connect(&to.addr, IO_TIMEOUT).and_then(|mut socket| {
        let stream = LocalMessage::Stream {
            container_id: to.container_id.clone(),
        };
        socket.write_all(line(&stream).as_bytes())?;
        Ok(socket)
    });
    let socket = opened.inspect_err(|_| to.kept.first_attempt_failed())?;
    let alive = Arc::new(AtomicBool::new(true));
    to.kept.set_connected(true);
    crate::kept::listen(&socket, to.kept.clone(), alive.clone());
    Ok(Link {
        socket,
        alive,
        asked: Instant::now(),
    })
}

/// With nothing to send: reopens a stream that ended (with a growing delay), and asks a
/// silent sidecar for its status.
fn keep_watch(link: &mut Option<Link>, to: &Sidecar, retry: &mut Retry) {
    if link
        .as_ref()
        .is_some_and(|link| !link.alive.load(Ordering::Relaxed))
    {
        *link = None;
    }
    let Some(open_link) = link else {
        if Instant::now() >= retry.at {
            match open(to) {
                Ok(opened) => {
                    *link = Some(opened);
                    *retry = Retry::default();
                }
                Err(_) => {
                    retry.at = Instant::now() + retry.delay;
                    retry.delay = (retry.delay * 2).min(RETRY.1);
                }
            }
        }
        return;
    };
    let silent = to
        .kept
        .silent_for()
        .is_some_and(|silent| silent >= ASK_AFTER);
    if silent && open_link.asked.elapsed() >= ASK_AFTER {
        open_link.asked = Instant::now();
        let asking = line(&LocalMessage::StatusRequest);
        if open_link.socket.write_all(asking.as_bytes()).is_err() {
            *link = None;
        }
    }
}

/// The batch as JSON lines; its exec records leave the queue's count.
fn lines(batch: &[Item], counts: &Counts) -> String {
    let mut text = String::new();
    for item in batch {
        if let Item::Message(message) = item {
            if matches!(message, LocalMessage::Exec { .. }) {
                counts.queued.fetch_sub(1, Ordering::Relaxed);
            }
            text.push_str(&line(message));
        }
    }
    text
}

fn line(message: &LocalMessage) -> String {
    crate::stream::line_of(message)
}

/// Sleeps `delay`, or less when the wrapper starts exiting.
fn pause(delay: Duration, counts: &Counts) {
    let until = Instant::now() + delay;
    while Instant::now() < until && !counts.finishing.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10).min(until - Instant::now()));
    }
}

/// Writes `text` on the stream, opening one first when there is none or the sidecar closed it
/// (a restarted sidecar is a new stream).
fn deliver(link: &mut Option<Link>, to: &Sidecar, text: &str) -> std::io::Result<()> {
    if link
        .as_ref()
        .is_some_and(|link| !link.alive.load(Ordering::Relaxed))
    {
        *link = None;
    }
    let open_link = match link {
        Some(open_link) => open_link,
        None => link.insert(open(to)?),
    };
    let written = open_link.socket.write_all(text.as_bytes());
    if written.is_err() {
        *link = None;
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    fn record(pid: u32) -> ExecRecord {
        ExecRecord {
            pid,
            argv: vec!["/bin/true".into(), pid.to_string()],
            ..ExecRecord::default()
        }
    }

    /// Reads JSON lines from each connection `listener` accepts, until `count` arrived.
    fn collect(listener: &TcpListener, count: usize) -> Vec<serde_json::Value> {
        let mut seen = Vec::new();
        while seen.len() < count {
            let (stream, _) = listener.accept().unwrap();
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                seen.push(serde_json::from_str(&line).unwrap());
                if seen.len() == count {
                    break;
                }
            }
        }
        seen
    }

    #[test]
    fn records_go_out_in_order_on_one_connection_after_its_stream_line() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let reporter = Reporter::start(
            listener.local_addr().unwrap().to_string(),
            None,
            Arc::default(),
        );
        for pid in 0..100 {
            reporter.exec(record(pid));
        }
        reporter.finish(Duration::from_secs(5));
        let (stream, _) = listener.accept().unwrap();
        let lines: Vec<serde_json::Value> = BufReader::new(stream)
            .lines()
            .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
            .collect();
        assert_eq!(lines[0]["type"], "stream");
        let pids: Vec<u64> = lines[1..]
            .iter()
            .map(|line| line["process"]["pid"].as_u64().unwrap())
            .collect();
        assert_eq!(pids, (0..100).collect::<Vec<u64>>());
        assert_eq!(lines[1]["process"]["command_line"], "/bin/true 0");
        assert_eq!(lines[1]["process"]["source"], "trace");
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_the_count_is_sent() {
        // Nothing listens yet: everything waits in the queue.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let reporter = Reporter::start(addr.clone(), None, Arc::default());
        let sent = QUEUE + 2000;
        for pid in 0..sent as u32 {
            reporter.exec(record(pid));
        }
        // The thread may hold one batch it took before the sidecar came, besides the queue.
        let dropped = reporter.dropped();
        assert!(
            (2000 - BATCH as u64 - 1..=2000).contains(&dropped),
            "{dropped}"
        );
        // The sidecar comes: every record queued arrives, and the count.
        let listener = TcpListener::bind(&addr).unwrap();
        let finishing = std::thread::spawn(move || reporter.finish(Duration::from_secs(20)));
        let lines = collect(&listener, 1 + sent - dropped as usize + 1);
        finishing.join().unwrap();
        let counts: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|line| line["type"] == "execs_dropped")
            .map(|line| &line["count"])
            .collect();
        assert_eq!(counts, [dropped]);
        let execs = lines.iter().filter(|line| line["type"] == "exec").count();
        assert_eq!(execs as u64, sent as u64 - dropped);
    }

    #[test]
    fn a_restarted_sidecar_gets_a_new_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let reporter = Reporter::start(
            listener.local_addr().unwrap().to_string(),
            None,
            Arc::default(),
        );
        reporter.exec(record(1));
        let first = collect(&listener, 2);
        assert_eq!(first[1]["process"]["pid"], 1);
        // The accepted connection was dropped (the sidecar went); the next record reconnects
        // (once the wrapper saw the stream end: a restart takes longer than that).
        std::thread::sleep(Duration::from_millis(200));
        reporter.exec(record(2));
        let second = collect(&listener, 2);
        assert_eq!(second[0]["type"], "stream");
        assert_eq!(second[1]["process"]["pid"], 2);
        reporter.finish(Duration::from_secs(1));
    }
}
