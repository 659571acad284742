//! `palisade-loadgen`: simulated defenders speaking the real protocol (`palisade-protocol`) to a
//! console over loopback, bounded in count and time, ending with one JSON line of what happened.
//! Connections come from many 127.0.0.0/8 source addresses (each pair of addresses has only
//! ~28,000 ephemeral ports) and, past `--per-process` defenders, from several processes (one
//! process may open 20,000 files here): the first process starts the others as shards of itself
//! and merges their lines.

use clap::Parser;
use futures::{SinkExt, StreamExt};
use palisade_protocol::{
    ConsoleMessage, ContainerIdentity, DefenderMessage, Event, EventKind, Heartbeat, Hello,
    ProcessInfo, TaskIdentity, CONNECT_PATH, PROTOCOL_VERSION,
};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Clone, Debug)]
#[command(about = "Simulated Palisade defenders against a console, over loopback")]
struct Args {
    /// The console's defenders' listener: `ws://127.0.0.1:3001` (or `http://`).
    #[arg(long)]
    url: String,
    /// A defender token of `--family`.
    #[arg(long)]
    token: String,
    #[arg(long)]
    defenders: usize,
    /// How long the run lasts, in seconds, connecting included.
    #[arg(long)]
    duration: u64,
    /// The token's family.
    #[arg(long, default_value = "loadgen")]
    family: String,
    #[arg(long, default_value_t = 10)]
    heartbeat: u64,
    /// Events each defender sends per minute (one per message).
    #[arg(long, default_value_t = 6)]
    events_per_min: u32,
    /// New connections per second, all processes together.
    #[arg(long, default_value_t = 1000)]
    connect_rate: u32,
    /// Percent of the defenders that drop and reconnect each minute.
    #[arg(long, default_value_t = 0)]
    churn: u32,
    /// Halfway through, every connection drops and reconnects at once (what a console restart
    /// causes); `storm_secs` says how long until all were welcomed again.
    #[arg(long)]
    storm: bool,
    /// Defenders per process (each needs an open file).
    #[arg(long, default_value_t = 15_000)]
    per_process: usize,
    /// Internal: this process runs shard `i/n`.
    #[arg(long, hide = true)]
    shard: Option<String>,
}

/// Ack latencies in log buckets (8 per power of two of microseconds): mergeable across processes.
const BUCKETS: usize = 8 * 40;

fn bucket_of(micros: u64) -> usize {
    let value = micros.max(1) as f64;
    ((value.log2() * 8.0) as usize).min(BUCKETS - 1)
}

fn bucket_upper_ms(bucket: usize) -> f64 {
    2f64.powf((bucket + 1) as f64 / 8.0) / 1000.0
}

#[derive(Default)]
struct Stats {
    connected: AtomicU64,
    errors: AtomicU64,
    events_sent: AtomicU64,
    /// Unix-less: microseconds since the run started when the last first connection came.
    last_connect_us: AtomicU64,
    /// Microseconds since the run started when the last post-storm welcome came.
    last_storm_welcome_us: AtomicU64,
    histogram: Mutex<Vec<u64>>,
}

/// One process's (or the merged) result: the JSON line.
#[derive(Serialize, Deserialize, Default, Debug)]
struct Report {
    connected: u64,
    errors: u64,
    connect_secs: f64,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    ack_max_ms: f64,
    events_sent: u64,
    events_acked: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    storm_secs: Option<f64>,
    processes: usize,
    /// For merging shards; not part of the documented line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    histogram: Vec<u64>,
}

fn percentile(histogram: &[u64], fraction: f64) -> f64 {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let wanted = ((total as f64) * fraction).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (bucket, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= wanted {
            return (bucket_upper_ms(bucket) * 100.0).round() / 100.0;
        }
    }
    bucket_upper_ms(BUCKETS - 1)
}

impl Report {
    fn finish(mut self, histogram: Vec<u64>) -> Report {
        self.ack_p50_ms = percentile(&histogram, 0.50);
        self.ack_p99_ms = percentile(&histogram, 0.99);
        self.ack_max_ms = percentile(&histogram, 1.0);
        self.histogram = histogram;
        self
    }
}

/// The console's address and the request path from `--url`.
fn target(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("--url is ws://HOST:PORT or http://HOST:PORT (plain, loopback)")?;
    let host = rest.split('/').next().unwrap_or(rest);
    let addr: SocketAddr = host
        .parse()
        .map_err(|_| format!("`{host}` is not IP:PORT"))?;
    Ok((addr, format!("ws://{host}{CONNECT_PATH}")))
}

/// The loopback source address of defender `index`: 250 defenders per address, far under the
/// ephemeral ports of one address pair.
fn source_of(index: usize) -> Ipv4Addr {
    let address = index / 250;
    Ipv4Addr::new(
        127,
        1 + (address / 62_500) as u8,
        ((address / 250) % 250) as u8,
        (address % 250 + 1) as u8,
    )
}

struct Defender {
    index: usize,
    args: Arc<Args>,
    addr: SocketAddr,
    url: String,
    stats: Arc<Stats>,
    started: Instant,
    deadline: Instant,
    storm_at: Option<Instant>,
}

fn hello(args: &Args, index: usize, instance: &str) -> DefenderMessage {
    DefenderMessage::Hello(Box::new(Hello {
        protocol: PROTOCOL_VERSION,
        version: "loadgen".into(),
        instance: instance.into(),
        mode: "availability".into(),
        task: TaskIdentity {
            task_arn: format!(
                "arn:aws:ecs:us-east-1:123456789012:task/loadgen/{}-{index:06}",
                args.family
            ),
            cluster: "loadgen".into(),
            family: args.family.clone(),
            revision: "1".into(),
            availability_zone: "us-east-1a".into(),
            launch_type: "FARGATE".into(),
            containers: vec![ContainerIdentity {
                name: "app".into(),
                image: "app:1".into(),
                docker_id: format!("d{index}"),
            }],
        },
    }))
}

fn event(seq: u64) -> Event {
    Event {
        seq,
        at_ms: 1_700_000_000_000 + seq as i64,
        kind: EventKind::ProcessStarted(ProcessInfo {
            pid: (seq % 60_000) as u32 + 2,
            ppid: 1,
            uid: 0,
            executable: "/usr/bin/app".into(),
            command_line: "app --serve".into(),
            ..ProcessInfo::default()
        }),
    }
}

enum Ended {
    Deadline,
    Dropped,
}

impl Defender {
    /// Connects, says hello, then heartbeats and events until the deadline; reconnects after a
    /// drop (churn, storm, a console that went away) with a short backoff.
    async fn run(self) {
        let instance = format!("lg-{}-{}", self.index, std::process::id());
        let mut seq = 0u64;
        let mut first = true;
        let mut stormed = false;
        while Instant::now() < self.deadline {
            match self
                .session(&instance, &mut seq, &mut first, &mut stormed)
                .await
            {
                Ok(Ended::Deadline) => return,
                Ok(Ended::Dropped) => {}
                Err(()) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(500 + (self.index % 500) as u64))
                        .await;
                }
            }
        }
    }

    /// One connection: hello, what the console misses sent again, then heartbeats and events
    /// until the deadline, a storm, or churn ends it.
    async fn session(
        &self,
        instance: &str,
        seq: &mut u64,
        first: &mut bool,
        stormed: &mut bool,
    ) -> Result<Ended, ()> {
        let (mut socket, last_seq) = self.connect(instance).await?;
        self.note_welcome(first, stormed);
        // What the console does not have yet is sent again (a real defender keeps it buffered).
        let mut pending: VecDeque<Instant> = VecDeque::new();
        if last_seq < *seq {
            let events: Vec<Event> = (last_seq + 1..=*seq).map(event).collect();
            for chunk in events.chunks(100) {
                let message = DefenderMessage::Events {
                    events: chunk.to_vec(),
                };
                socket.send(text(&message)).await.map_err(|_| ())?;
                pending.push_back(Instant::now());
            }
        }
        self.exchange(&mut socket, &mut pending, seq, stormed).await
    }

    /// The upgraded socket from this defender's source address, and the `last_seq` of its
    /// welcome.
    async fn connect(&self, instance: &str) -> Result<(Socket, u64), ()> {
        let socket = TcpSocket::new_v4().map_err(|_| ())?;
        socket
            .bind(SocketAddr::new(source_of(self.index).into(), 0))
            .map_err(|_| ())?;
        let stream = socket.connect(self.addr).await.map_err(|_| ())?;
        let mut request = self.url.as_str().into_client_request().map_err(|_| ())?;
        let bearer = format!("Bearer {}", self.args.token)
            .parse()
            .map_err(|_| ())?;
        request.headers_mut().insert("authorization", bearer);
        let (mut socket, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(|_| ())?;
        socket
            .send(text(&hello(&self.args, self.index, instance)))
            .await
            .map_err(|_| ())?;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(answer))) => match serde_json::from_str(answer.as_str()) {
                    Ok(ConsoleMessage::Welcome { last_seq, .. }) => return Ok((socket, last_seq)),
                    Ok(ConsoleMessage::Refused { .. }) => return Err(()),
                    _ => {}
                },
                Some(Ok(_)) => {}
                _ => return Err(()),
            }
        }
    }

    /// Counts a first connection, or when a reconnection after the storm was welcomed.
    fn note_welcome(&self, first: &mut bool, stormed: &bool) {
        let since_start = self.started.elapsed().as_micros() as u64;
        if *first {
            *first = false;
            self.stats.connected.fetch_add(1, Ordering::Relaxed);
            self.stats
                .last_connect_us
                .fetch_max(since_start, Ordering::Relaxed);
        } else if *stormed {
            self.stats
                .last_storm_welcome_us
                .fetch_max(since_start, Ordering::Relaxed);
        }
    }

    /// Heartbeats and events out, acknowledgements in (timed), until the deadline, the storm or
    /// this defender's churn.
    async fn exchange(
        &self,
        socket: &mut Socket,
        pending: &mut VecDeque<Instant>,
        seq: &mut u64,
        stormed: &mut bool,
    ) -> Result<Ended, ()> {
        let mut heartbeat = tokio::time::interval(Duration::from_secs(self.args.heartbeat.max(1)));
        heartbeat.tick().await;
        let every = Duration::from_secs_f64(60.0 / f64::from(self.args.events_per_min.max(1)));
        let mut events = tokio::time::interval_at(
            tokio::time::Instant::now() + every.mul_f64((self.index % 97) as f64 / 97.0),
            every,
        );
        // Churn: this defender drops once a minute with probability churn%.
        let churn_in = (self.index as u64 * 7919 % 100) < u64::from(self.args.churn);
        let churn_at = tokio::time::Instant::now() + Duration::from_secs(60);
        let storm_at = self
            .storm_at
            .filter(|_| !*stormed)
            .map(tokio::time::Instant::from_std);
        let deadline = tokio::time::Instant::from_std(self.deadline);
        // The last two seconds are quiet (heartbeats only), so every event sent can be
        // acknowledged before the run ends: `events_acked` then equals `events_sent` unless
        // something was lost.
        let quiet =
            deadline - Duration::from_secs(2).min(Duration::from_secs(self.args.duration / 2));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    self.drain(socket, pending).await;
                    let _ = socket.close(None).await;
                    return Ok(Ended::Deadline);
                }
                _ = tokio::time::sleep_until(storm_at.unwrap_or(deadline)), if storm_at.is_some() => {
                    *stormed = true;
                    return Ok(Ended::Dropped);
                }
                _ = tokio::time::sleep_until(churn_at), if churn_in => {
                    let _ = socket.close(None).await;
                    return Ok(Ended::Dropped);
                }
                _ = heartbeat.tick() => {
                    let beat = DefenderMessage::Heartbeat(Heartbeat { process_count: 3, dropped_events: 0 });
                    socket.send(text(&beat)).await.map_err(|_| ())?;
                    pending.push_back(Instant::now());
                }
                _ = events.tick(), if self.args.events_per_min > 0 && tokio::time::Instant::now() < quiet => {
                    *seq += 1;
                    self.stats.events_sent.fetch_add(1, Ordering::Relaxed);
                    let message = DefenderMessage::Events { events: vec![event(*seq)] };
                    socket.send(text(&message)).await.map_err(|_| ())?;
                    pending.push_back(Instant::now());
                }
                answer = socket.next() => match answer {
                    Some(Ok(Message::Text(answer))) => self.acknowledged(answer.as_str(), pending),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(Ended::Dropped),
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    /// An `ack`: the oldest message still owed one is answered (its round trip counted).
    fn acknowledged(&self, answer: &str, pending: &mut VecDeque<Instant>) {
        if let Ok(ConsoleMessage::Ack { seq: acked }) = serde_json::from_str(answer) {
            if let Some(sent) = pending.pop_front() {
                let micros = sent.elapsed().as_micros() as u64;
                if let Ok(mut histogram) = self.stats.histogram.lock() {
                    histogram[bucket_of(micros)] += 1;
                }
            }
            ACKED.with_max(self.index, acked);
        }
    }

    /// Waits (5 s at most) for the acks still owed: leaving with unread data would reset the
    /// connection, and the console would drop frames it had not read yet, which a real defender
    /// resends but a finished run cannot.
    async fn drain(&self, socket: &mut Socket, pending: &mut VecDeque<Instant>) {
        let drain = tokio::time::Instant::now() + Duration::from_secs(5);
        while !pending.is_empty() {
            match tokio::time::timeout_at(drain, socket.next()).await {
                Ok(Some(Ok(Message::Text(answer)))) => {
                    if let Ok(ConsoleMessage::Ack { seq: acked }) =
                        serde_json::from_str(answer.as_str())
                    {
                        pending.pop_front();
                        ACKED.with_max(self.index, acked);
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
    }
}

/// A simulated defender's socket.
type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A message as the channel carries it: JSON text.
fn text(message: &DefenderMessage) -> Message {
    Message::text(serde_json::to_string(message).unwrap_or_default())
}

/// The highest `ack` each defender of this process got.
struct Acked(Mutex<Vec<u64>>);

impl Acked {
    fn with_max(&self, index: usize, seq: u64) {
        if let Ok(mut acked) = self.0.lock() {
            if index >= acked.len() {
                acked.resize(index + 1, 0);
            }
            acked[index] = acked[index].max(seq);
        }
    }

    fn total(&self) -> u64 {
        self.0.lock().map(|acked| acked.iter().sum()).unwrap_or(0)
    }
}

static ACKED: Acked = Acked(Mutex::new(Vec::new()));

/// Runs defenders `range` of this process.
async fn run_shard(
    args: Arc<Args>,
    range: std::ops::Range<usize>,
    rate: f64,
) -> Result<Report, String> {
    let (addr, url) = target(&args.url)?;
    let stats = Arc::new(Stats {
        histogram: Mutex::new(vec![0; BUCKETS]),
        ..Stats::default()
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let storm_at = args
        .storm
        .then(|| started + Duration::from_secs(args.duration / 2));
    let mut tasks = Vec::new();
    for (position, index) in range.enumerate() {
        let defender = Defender {
            index,
            args: args.clone(),
            addr,
            url: url.clone(),
            stats: stats.clone(),
            started,
            deadline,
            storm_at,
        };
        let start = started + Duration::from_secs_f64(position as f64 / rate.max(1.0));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
            defender.run().await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let histogram = stats
        .histogram
        .lock()
        .map(|h| h.clone())
        .unwrap_or_default();
    let storm_us = stats.last_storm_welcome_us.load(Ordering::Relaxed);
    Ok(Report {
        connected: stats.connected.load(Ordering::Relaxed),
        errors: stats.errors.load(Ordering::Relaxed),
        connect_secs: stats.last_connect_us.load(Ordering::Relaxed) as f64 / 1e6,
        events_sent: stats.events_sent.load(Ordering::Relaxed),
        events_acked: ACKED.total(),
        storm_secs: args
            .storm
            .then(|| (storm_us as f64 / 1e6 - (args.duration / 2) as f64).max(0.0)),
        processes: 1,
        ..Report::default()
    }
    .finish(histogram))
}

/// Starts `processes` shards of this program and merges their reports.
async fn run_processes(processes: usize) -> Result<Report, String> {
    let program = std::env::current_exe().map_err(|error| error.to_string())?;
    let forwarded: Vec<String> = std::env::args().skip(1).collect();
    let mut children = Vec::new();
    for shard in 0..processes {
        let mut command = tokio::process::Command::new(&program);
        command
            .args(&forwarded)
            .arg("--shard")
            .arg(format!("{shard}/{processes}"))
            .stdout(std::process::Stdio::piped());
        children.push(command.spawn().map_err(|error| error.to_string())?);
    }
    let mut merged = Report {
        processes,
        ..Report::default()
    };
    let mut histogram = vec![0; BUCKETS];
    for child in children {
        let output = child
            .wait_with_output()
            .await
            .map_err(|error| error.to_string())?;
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text.lines().last().unwrap_or_default();
        let report: Report = serde_json::from_str(line)
            .map_err(|error| format!("a shard answered `{line}`: {error}"))?;
        merged.connected += report.connected;
        merged.errors += report.errors;
        merged.connect_secs = merged.connect_secs.max(report.connect_secs);
        merged.events_sent += report.events_sent;
        merged.events_acked += report.events_acked;
        merged.storm_secs = match (merged.storm_secs, report.storm_secs) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (total, count) in histogram.iter_mut().zip(&report.histogram) {
            *total += count;
        }
    }
    Ok(merged.finish(histogram))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let processes = args.defenders.div_ceil(args.per_process.max(1)).max(1);
    let outcome = match &args.shard {
        Some(shard) => {
            let (i, n) = shard
                .split_once('/')
                .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
                .unwrap_or((0, 1));
            let range = (args.defenders * i / n)..(args.defenders * (i + 1) / n);
            let rate = f64::from(args.connect_rate) / n as f64;
            run_shard(Arc::new(args.clone()), range, rate).await
        }
        None if processes > 1 => run_processes(processes).await,
        None => {
            let rate = f64::from(args.connect_rate);
            run_shard(Arc::new(args.clone()), 0..args.defenders, rate).await
        }
    };
    match outcome {
        Ok(mut report) => {
            if args.shard.is_none() {
                report.histogram.clear();
            }
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
        }
        Err(error) => {
            eprintln!("palisade-loadgen: {error}");
            std::process::exit(2);
        }
    }
}
