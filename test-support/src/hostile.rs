//! A registry that is not one: an HTTP server on loopback that records every request it gets
//! (line and headers) and answers as its test scripts it (redirects to the metadata address,
//! a password challenge, huge or secret-bearing bodies). For the tests that check what the
//! console sends where, and what it shows of what it is told.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request as received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `GET /v2/x/manifests/1`.
    pub line: String,
    /// Lowercased names, values as sent.
    pub headers: Vec<(String, String)>,
    /// The body, when the request announced one with `Content-Length` (at most 1 MiB read).
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// What to answer: status, headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether `Content-Length` is sent (without it, the body ends when the connection closes).
    pub announce_length: bool,
}

impl Answer {
    pub fn new(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            announce_length: true,
        }
    }

    /// The body without `Content-Length`: read until the connection closes.
    pub fn unannounced(mut self) -> Answer {
        self.announce_length = false;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Answer {
        self.body = body.into();
        self
    }
}

/// The server: its `host:port` and everything it was sent so far.
pub struct Hostile {
    pub host: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Hostile {
    /// Serves on a free loopback port until the process ends, answering with `script`.
    pub fn start(script: impl Fn(&Seen) -> Answer + Send + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let host = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.trim_end().split_once(':') {
                        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                    }
                }
                let length = headers
                    .iter()
                    .find(|(name, _)| name == "content-length")
                    .and_then(|(_, value)| value.parse::<usize>().ok())
                    .unwrap_or(0)
                    .min(1 << 20);
                let mut body = vec![0u8; length];
                if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
                    body.clear();
                }
                let request = Seen {
                    line: line.trim_end().to_owned(),
                    headers,
                    body,
                };
                let answer = script(&request);
                recorded.lock().unwrap().push(request);
                let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", answer.status);
                if answer.announce_length {
                    head.push_str(&format!("Content-Length: {}\r\n", answer.body.len()));
                }
                for (name, value) in &answer.headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                let mut stream = &stream;
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&answer.body);
            }
        });
        Hostile { host, seen }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
