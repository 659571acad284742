//! Attacks from the network on the listeners themselves, written as the attacker runs them:
//! sockets that send nothing or half a request header, from one address or many, on both
//! listeners, while a person's health check must still answer; cleartext HTTP/2 (h2c).

use crate::common::Console;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection from `source` (any 127.0.0.0/8 address) to `target`.
async fn connect_from(source: &str, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.parse().unwrap(), 0))?;
    socket.connect(target).await
}

/// Waits until the server closes `stream` (EOF or reset), at most `within`; answers whether it did.
async fn closed_by_server(mut stream: TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // An answer (a 408, say) before the close: keep reading until it closes.
            Ok(Ok(_)) => continue,
        }
    }
}

fn address_of(base: &str) -> SocketAddr {
    base.rsplit_once("://")
        .map(|(_, address)| address)
        .unwrap()
        .parse()
        .unwrap()
}

/// The health check, as a load balancer asks it (from 127.0.0.1, a fresh connection each time).
async fn health(base: &str) -> (u16, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let status = client
        .get(format!("{base}/api/v1/health"))
        .send()
        .await
        .map(|response| response.status().as_u16())
        .unwrap_or(0);
    (status, started.elapsed())
}

#[tokio::test]
async fn a_thousand_silent_or_half_header_sockets_are_closed_while_the_health_check_answers() {
    let dir = tempfile::tempdir().unwrap();
    let header_timeout = Duration::from_secs(2);
    let console = Console::start_with(&dir.path().join("palisade.db"), |config| {
        config.people_limits.header_timeout = header_timeout;
        config.people_limits.idle_timeout = Duration::from_secs(4);
        config.people_limits.max_per_address = 64;
        config.defender_max_connections = 100_000;
    })
    .await;
    let people = address_of(&console.base);
    let defenders = address_of(&console.defender_base);
    // The attacker: 1,000 sockets on each listener, from 20 addresses, half of them sending half a
    // request header and then nothing.
    let mut sockets = Vec::new();
    for n in 0..2000usize {
        let source = format!("127.0.1.{}", 1 + n % 20);
        let target = if n % 2 == 0 { people } else { defenders };
        let Ok(mut stream) = connect_from(&source, target).await else {
            continue;
        };
        if n % 4 < 2 {
            let _ = stream
                .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .await;
        }
        sockets.push(stream);
    }
    assert!(
        sockets.len() >= 1900,
        "the attacker's connections: {}",
        sockets.len()
    );
    // The console still answers its health check while they are open.
    for _ in 0..3 {
        let (status, took) = health(&console.base).await;
        assert_eq!(
            status, 200,
            "health check during the flood (after {took:?})"
        );
    }
    // And closes every one of them within its header timeout (plus the sweep's slack).
    let started = Instant::now();
    let closes = sockets
        .into_iter()
        .map(|stream| closed_by_server(stream, header_timeout + Duration::from_secs(5)));
    let closed = futures::future::join_all(closes).await;
    let open = closed.iter().filter(|closed| !**closed).count();
    assert_eq!(
        open,
        0,
        "sockets the console still held {:?} after the flood",
        started.elapsed()
    );
    let (status, _) = health(&console.base).await;
    assert_eq!(status, 200);
    console.stop().await;
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_the_peoples_listener() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start_with(&dir.path().join("palisade.db"), |config| {
        config.people_limits.max_per_address = 8;
        config.people_limits.max_connections = 40;
    })
    .await;
    let people = address_of(&console.base);
    let mut held = Vec::new();
    for _ in 0..30 {
        held.push(connect_from("127.0.2.1", people).await.unwrap());
    }
    // The ninth and later are closed at once; the first eight stay until their timeout.
    let mut closed_at_once = 0;
    for stream in held.drain(8..) {
        if closed_by_server(stream, Duration::from_secs(2)).await {
            closed_at_once += 1;
        }
    }
    assert_eq!(closed_at_once, 22);
    // Another address is served meanwhile.
    let (status, _) = health(&console.base).await;
    assert_eq!(status, 200);
    // Over the listener's cap, from many addresses: refused at once, and the health check (from
    // 127.0.0.1, under its own share) waits only for places to free.
    for n in 0..40 {
        if let Ok(stream) = connect_from(&format!("127.0.3.{}", 1 + n), people).await {
            held.push(stream);
        }
    }
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = health(&console.base).await;
    assert_eq!(status, 200, "places are given back when sockets close");
    console.stop().await;
}

#[tokio::test]
async fn cleartext_http2_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    for base in [&console.base, &console.defender_base] {
        let mut stream = TcpStream::connect(address_of(base)).await.unwrap();
        // The HTTP/2 connection preface with prior knowledge, then an empty SETTINGS frame.
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        // An HTTP/2 server answers with its own SETTINGS frame (type 4) first.
        let http2 = answer.len() >= 9 && answer[3] == 4;
        assert!(
            !http2,
            "{base} spoke HTTP/2 in clear: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    console.stop().await;
}

#[tokio::test]
async fn a_hundred_sign_ins_at_once_from_a_hundred_addresses_leave_memory_flat() {
    use crate::lifecycle::{fresh_database, Served};
    let dir = tempfile::tempdir().unwrap();
    let (database, _, _) = fresh_database(dir.path());
    // Behind a "load balancer" on loopback: each attempt comes from an address of its own, so the
    // throttle stops none of them and only the console's own bound on Argon2 is tried.
    let served = Served::start_with(
        &database,
        None,
        &[("PALISADE_TRUSTED_PROXIES", "127.0.0.0/8")],
    );
    let client = reqwest::Client::new();
    let attempt = |n: usize| {
        let (client, base) = (client.clone(), served.base.clone());
        async move {
            client
                .post(format!("{base}/api/v1/session"))
                .header("x-forwarded-for", format!("198.51.{}.{}", n / 250, n % 250))
                .json(&serde_json::json!({"username": format!("user{n}"), "password": "guess guess guess"}))
                .send()
                .await
                .map(|response| response.status().as_u16())
                .unwrap_or(0)
        }
    };
    // Warm up (the first answer builds what the console keeps for good), then measure.
    attempt(100_000).await;
    let before = crate::common::peak_memory(served.child.id());
    let statuses = futures::future::join_all((0..100).map(attempt)).await;
    let after = crate::common::peak_memory(served.child.id());
    let wrong = statuses.iter().filter(|status| **status == 401).count();
    let busy = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!(wrong + busy, 100, "{statuses:?}");
    assert!(
        busy > 0,
        "past the bound, sign-ins are told to try again at once"
    );
    let grown = after.saturating_sub(before);
    // Argon2 holds ~19 MiB a check: two at once, not a hundred (1.9 GB before the bound).
    assert!(
        grown < 120 << 20,
        "the console grew {} MiB during the flood",
        grown >> 20
    );
    served.signal("-TERM");
    served.wait(Duration::from_secs(20));
}

#[tokio::test]
async fn a_viewer_holds_at_most_sixteen_change_streams_whatever_it_asks() {
    use palisade_console::auth::Role;
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let viewer = crate::common::client_with(&console.token(Role::Viewer).await);
    let url = format!("{}/api/v1/defenders/changes", console.base);
    let opened = futures::future::join_all((0..1000).map(|_| viewer.get(&url).send())).await;
    let (streams, refused): (Vec<_>, Vec<_>) = opened
        .into_iter()
        .map(Result::unwrap)
        .partition(|response| response.status() == 200);
    assert_eq!(streams.len(), 16);
    assert!(
        refused
            .iter()
            .all(|response| response.status() == 429
                && response.headers().contains_key("retry-after"))
    );
    // Someone else still gets live updates.
    let other = crate::common::client_with(&console.token(Role::Viewer).await);
    assert_eq!(other.get(&url).send().await.unwrap().status(), 200);
    // Streams given up give their places back.
    drop(streams);
    let mut reopened = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let response = viewer.get(&url).send().await.unwrap();
        if response.status() == 200 {
            reopened = Some(response);
            break;
        }
    }
    assert!(reopened.is_some(), "a closed stream's place is free again");
    console.stop().await;
}
