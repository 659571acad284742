//! Serving one listener with bounds an anonymous peer cannot exhaust (what `axum::serve` leaves
//! open): a cap on open connections per listener and per client address (a connection over
//! either cap is closed as soon as it is accepted), TLS handshakes done inside the connection's
//! own task under a deadline, a deadline to send a request's headers (which is also how long an
//! HTTP/1 connection may wait idle between requests), an idle timeout that closes a connection
//! on which no byte moved either way (upgraded WebSockets and event streams included, so a peer
//! that stops reading cannot hold a session in `send`), HTTP/2 only where TLS negotiated it, with
//! bounded streams and headers. Each request carries the peer's address (`ConnectInfo<Peer>`)
//! and its connection's [`ConnectionHandle`].
//!
//! Upgraded connections (the defenders' WebSockets) keep their place until the socket is
//! dropped: the place travels with the socket, not with the HTTP task that upgraded it.

use super::tls::Peer;
use axum::extract::ConnectInfo;
use axum::Router;
use futures::task::AtomicWaker;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower::Service;

mod meter;

pub use meter::{BytePool, MessageMeter, MID_MESSAGE_DEADLINE};

/// A TLS handshake not finished in this time is dropped.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// In-flight requests get this long to finish once the console stops.
const GRACEFUL_DEADLINE: Duration = Duration::from_secs(10);
/// How often idle connections are looked for.
const IDLE_SWEEP: Duration = Duration::from_millis(500);
/// A request's headers (hyper's own bound is its read buffer: this is it).
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Headers per request.
const MAX_HEADERS: usize = 100;
/// HTTP/2 streams open at once on one connection (browsers open at most ~6 per origin on
/// HTTP/1.1; 64 is generous and bounds what one connection can make the console do at once).
const MAX_H2_STREAMS: u32 = 64;

/// The bounds of one listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once (upgraded ones included).
    pub max_connections: usize,
    /// Connections open at once from one client address; 0: no such cap (behind a load balancer
    /// that does not keep the client's address, every connection comes from the balancer).
    pub max_per_address: usize,
    /// Time to send a request's headers, and to start the next request on a kept-alive HTTP/1
    /// connection.
    pub header_timeout: Duration,
    /// A connection on which no byte moved either way for this long is closed.
    pub idle_timeout: Duration,
    /// Peers never held to `max_per_address`: the load balancers in front
    /// (`PALISADE_TRUSTED_PROXIES`), whose connections carry many clients.
    pub exempt: Vec<ipnet::IpNet>,
}

impl Limits {
    /// Bounds for tests and a local console: generous counts, the default timeouts.
    pub fn local() -> Limits {
        Limits {
            max_connections: 4096,
            max_per_address: 0,
            header_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            exempt: Vec::new(),
        }
    }
}

/// Milliseconds since the listener started (an atomic-friendly clock for "last active").
#[derive(Clone, Copy)]
struct Epoch(tokio::time::Instant);

impl Epoch {
    fn now_ms(self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// One open connection's shared state: when a byte last moved, whether it must end, and (for a
/// defender's socket) what its unfinished message may hold.
pub struct ConnectionState {
    epoch: Epoch,
    last_active_ms: AtomicU64,
    ended: AtomicBool,
    read_waker: AtomicWaker,
    write_waker: AtomicWaker,
    meter: std::sync::OnceLock<Arc<MessageMeter>>,
}

impl ConnectionState {
    fn touch(&self) {
        self.last_active_ms
            .store(self.epoch.now_ms(), Ordering::Relaxed);
    }

    /// Ends the connection: its next read or write fails, and a pending one is woken to fail.
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.read_waker.wake();
        self.write_waker.wake();
    }

    fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// From now on, this socket's unfinished messages are metered (see [`MessageMeter`]).
    pub fn meter(&self, meter: Arc<MessageMeter>) {
        let _ = self.meter.set(meter);
    }

    /// A whole message was received on this (metered) socket.
    pub fn message_received(&self) {
        if let Some(meter) = self.meter.get() {
            meter.message_received();
        }
    }

    /// The session is done with the last message received on this (metered) socket.
    pub fn message_done(&self) {
        if let Some(meter) = self.meter.get() {
            meter.message_done();
        }
    }
}

/// What a handler can do about the connection its request came on (the defender channel ends a
/// socket that overstays this way, whatever task holds it).
#[derive(Clone)]
pub struct ConnectionHandle(pub Arc<ConnectionState>);

/// Counts per listener: what is open, from where, and the connections the idle sweep watches.
struct Admission {
    limits: Limits,
    epoch: Epoch,
    state: Mutex<AdmissionState>,
    /// Connections refused at once (over a cap), for the log and the tests.
    refused: AtomicU64,
}

#[derive(Default)]
struct AdmissionState {
    open: usize,
    per_address: HashMap<IpAddr, usize>,
    connections: HashMap<u64, Weak<ConnectionState>>,
    next_id: u64,
}

impl Admission {
    fn lock(&self) -> std::sync::MutexGuard<'_, AdmissionState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn exempt(&self, address: IpAddr) -> bool {
        self.limits.exempt.iter().any(|net| net.contains(&address))
    }

    /// A place for one more connection from `address`, unless a cap is reached. An IPv6 client
    /// is counted by its /64 (one host is handed a whole /64: counting single addresses would
    /// give it 2^64 shares).
    fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Place> {
        let address = match address {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(std::net::Ipv6Addr::from(segments))
            }
            IpAddr::V6(v6) => IpAddr::V4(
                v6.to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            ),
            v4 => v4,
        };
        let mut state = self.lock();
        if state.open >= self.limits.max_connections {
            return None;
        }
        let per_address = self.limits.max_per_address > 0 && !self.exempt(address);
        if per_address
            && state.per_address.get(&address).copied().unwrap_or(0) >= self.limits.max_per_address
        {
            return None;
        }
        state.open += 1;
        if per_address {
            *state.per_address.entry(address).or_default() += 1;
        }
        let id = state.next_id;
        state.next_id += 1;
        let connection = Arc::new(ConnectionState {
            epoch: self.epoch,
            last_active_ms: AtomicU64::new(self.epoch.now_ms()),
            ended: AtomicBool::new(false),
            read_waker: AtomicWaker::new(),
            write_waker: AtomicWaker::new(),
            meter: std::sync::OnceLock::new(),
        });
        state.connections.insert(id, Arc::downgrade(&connection));
        Some(Place {
            admission: self.clone(),
            id,
            address: per_address.then_some(address),
            connection,
        })
    }

    /// Ends every connection idle for longer than the timeout; forgets the ones that are gone.
    fn sweep_idle(&self) -> usize {
        let now = self.epoch.now_ms();
        let idle_ms = u64::try_from(self.limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut ended = 0;
        self.lock().connections.retain(|_, weak| {
            let Some(connection) = weak.upgrade() else {
                return false;
            };
            let last = connection.last_active_ms.load(Ordering::Relaxed);
            let overdue = connection
                .meter
                .get()
                .is_some_and(|meter| meter.overdue(now));
            if (now.saturating_sub(last) >= idle_ms || overdue) && !connection.is_ended() {
                connection.end();
                ended += 1;
            }
            true
        });
        ended
    }

    fn open(&self) -> usize {
        self.lock().open
    }
}

/// A connection's place in its listener's counts, given back when the socket is dropped.
struct Place {
    admission: Arc<Admission>,
    id: u64,
    address: Option<IpAddr>,
    connection: Arc<ConnectionState>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.admission.lock();
        state.open = state.open.saturating_sub(1);
        state.connections.remove(&self.id);
        if let Some(address) = self.address {
            if let Some(count) = state.per_address.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    state.per_address.remove(&address);
                }
            }
        }
    }
}

/// A socket that notes when bytes move and fails once its connection is ended (idle, or ended by
/// a handler). It owns the connection's place.
struct Tracked<T> {
    inner: T,
    place: Place,
}

fn ended_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the connection was idle for too long",
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let connection = self.place.connection.clone();
        if connection.is_ended() {
            return Poll::Ready(Err(ended_error()));
        }
        // A metered socket past its free bytes without room reads nothing until room is given
        // back (see `MessageMeter`).
        if let Some(meter) = connection.meter.get() {
            if !meter.may_read(connection.epoch.now_ms(), cx.waker()) {
                // Waiting for room: `end()` must still be able to wake this read.
                connection.read_waker.register(cx.waker());
                if connection.is_ended() {
                    return Poll::Ready(Err(ended_error()));
                }
                return Poll::Pending;
            }
            let before = buf.filled().len();
            let read = Pin::new(&mut self.inner).poll_read(cx, buf);
            let got = buf.filled().len() - before;
            if got > 0 {
                meter.read(got);
                connection.touch();
            }
            if read.is_pending() {
                connection.read_waker.register(cx.waker());
                if connection.is_ended() {
                    return Poll::Ready(Err(ended_error()));
                }
            }
            return read;
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    connection.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                connection.read_waker.register(cx.waker());
                // Ended between the check and the registration: do not sleep through it.
                if connection.is_ended() {
                    return Poll::Ready(Err(ended_error()));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let connection = self.place.connection.clone();
        if connection.is_ended() {
            return Poll::Ready(Err(ended_error()));
        }
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    connection.touch();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Pending => {
                connection.write_waker.register(cx.waker());
                if connection.is_ended() {
                    return Poll::Ready(Err(ended_error()));
                }
                Poll::Pending
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.place.connection.is_ended() {
            return Poll::Ready(Err(ended_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let connection = self.place.connection.clone();
        if connection.is_ended() {
            return Poll::Ready(Err(ended_error()));
        }
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    connection.touch();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Pending => {
                connection.write_waker.register(cx.waker());
                if connection.is_ended() {
                    return Poll::Ready(Err(ended_error()));
                }
                Poll::Pending
            }
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A listener being served: what the tests and the shutdown ask of it.
#[derive(Clone)]
pub struct Served(Arc<Admission>);

impl Served {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.0.open()
    }

    /// Connections closed at once because a cap was reached.
    pub fn refused(&self) -> u64 {
        self.0.refused.load(Ordering::Relaxed)
    }
}

/// Serves `router` on `listener` (over TLS when `tls` is given) within `limits`, until
/// `stopping` turns true; then in-flight requests get a few seconds to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) -> io::Result<()> {
    let served = start(&limits);
    let admission = served.0.clone();
    let sweeper = tokio::spawn(sweep_forever(Arc::downgrade(&admission)));
    let protocols = Arc::new(protocols(&limits));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    // Each connection task holds a sender: once every one has ended, `recv` answers `None`.
    let (task_alive, mut tasks_done) = mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stopping) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, most likely: wait instead of spinning.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(place) = admission.admit(peer.ip()) else {
            // Over a cap: closed at once, so it holds nothing (the backlog keeps moving).
            if admission.refused.fetch_add(1, Ordering::Relaxed) % 1000 == 0 {
                tracing::warn!(%peer, open = admission.open(), "a connection over the listener's caps was closed at once");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let task = Connection {
            protocols: protocols.clone(),
            acceptor: acceptor.clone(),
            router: router.clone(),
            peer,
            stopping: stopping.clone(),
            _alive: task_alive.clone(),
        };
        tokio::spawn(task.run(stream, place));
    }
    drop(task_alive);
    let _ = tokio::time::timeout(GRACEFUL_DEADLINE, tasks_done.recv()).await;
    // Upgraded sockets outlive this: their idle bound still holds while they close.
    tokio::spawn(async move {
        tokio::time::sleep(GRACEFUL_DEADLINE).await;
        sweeper.abort();
    });
    Ok(())
}

/// Completes once `stopping` turns true (or its sender is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

fn start(limits: &Limits) -> Served {
    Served(Arc::new(Admission {
        limits: limits.clone(),
        epoch: Epoch(tokio::time::Instant::now()),
        state: Mutex::default(),
        refused: AtomicU64::new(0),
    }))
}

async fn sweep_forever(admission: Weak<Admission>) {
    let mut ticker = tokio::time::interval(IDLE_SWEEP);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(admission) = admission.upgrade() else {
            return;
        };
        let ended = admission.sweep_idle();
        if ended > 0 {
            tracing::debug!(ended, "idle connections closed");
        }
    }
}

/// How connections speak HTTP: HTTP/1.1 always; HTTP/2 only where TLS's ALPN chose it, never as
/// cleartext h2c (and never after sniffing the first bytes, a wait no deadline covers).
struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
}

fn protocols(limits: &Limits) -> Protocols {
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_pending_accept_reset_streams(Some(20))
        .max_local_error_reset_streams(Some(64))
        .enable_connect_protocol();
    Protocols { http1, http2 }
}

/// One accepted connection's task.
struct Connection {
    protocols: Arc<Protocols>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    peer: SocketAddr,
    stopping: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

impl Connection {
    async fn run(self, stream: TcpStream, place: Place) {
        let handle = ConnectionHandle(place.connection.clone());
        let tracked = Tracked {
            inner: stream,
            place,
        };
        let Some(acceptor) = self.acceptor.clone() else {
            return self.serve_http(tracked, handle, false).await;
        };
        let tls = match tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(tracked)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                tracing::debug!(%error, peer = %self.peer, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(peer = %self.peer, "TLS handshake took too long");
                return;
            }
        };
        let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        self.serve_http(tls, handle, http2).await;
    }

    async fn serve_http<I>(mut self, io: I, handle: ConnectionHandle, http2: bool)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = Peer(self.peer);
        let router = self.router.clone();
        let service = hyper::service::service_fn(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(handle.clone());
                // A router is always ready: `call` without `poll_ready` is what axum does too.
                router.clone().call(request.map(axum::body::Body::new))
            },
        );
        let io = TokioIo::new(io);
        // Serves `$connection` until it ends, or until the console stops: then what is under
        // way finishes (graceful shutdown). Both protocols' connections have the method, not a
        // shared trait.
        macro_rules! until_stopped {
            ($connection:expr) => {{
                let connection = $connection;
                tokio::pin!(connection);
                tokio::select! {
                    served = connection.as_mut() => served,
                    () = stopped(&mut self.stopping) => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                }
            }};
        }
        let served = if http2 {
            until_stopped!(self.protocols.http2.serve_connection(io, service))
        } else {
            until_stopped!(self
                .protocols
                .http1
                .serve_connection(io, service)
                .with_upgrades())
        };
        if let Err(error) = served {
            tracing::debug!(%error, peer = %self.peer, "connection ended with an error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, max_per_address: usize) -> Limits {
        Limits {
            max_connections,
            max_per_address,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_millis(200),
            exempt: vec!["10.0.0.0/16".parse().unwrap()],
        }
    }

    #[tokio::test]
    async fn places_are_bounded_per_listener_and_per_address_and_given_back() {
        let served = start(&limits(3, 2));
        let admission = &served.0;
        let attacker: IpAddr = "203.0.113.9".parse().unwrap();
        let first = admission.admit(attacker).unwrap();
        let _second = admission.admit(attacker).unwrap();
        assert!(admission.admit(attacker).is_none(), "two per address");
        // The load balancer carries many clients: not held to the per-address cap.
        let balancer: IpAddr = "10.0.3.4".parse().unwrap();
        let _third = admission.admit(balancer).unwrap();
        assert!(admission.admit(balancer).is_none(), "three in all");
        assert_eq!(served.open(), 3);
        drop(first);
        assert_eq!(served.open(), 2);
        assert!(
            admission.admit(attacker).is_some(),
            "a place given back is free"
        );
    }

    #[tokio::test]
    async fn an_idle_connection_is_ended_and_a_busy_one_is_not() {
        let served = start(&limits(10, 0));
        let admission = &served.0;
        let idle = admission.admit("127.0.0.2".parse().unwrap()).unwrap();
        let busy = admission.admit("127.0.0.3".parse().unwrap()).unwrap();
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            busy.connection.touch();
            admission.sweep_idle();
        }
        assert!(idle.connection.is_ended());
        assert!(!busy.connection.is_ended());
    }
}
