//! A minimal HTTP/1.0 client for the tests of weir's HTTP server (GET, and
//! reading Server-Sent Events), over a plain `TcpStream`: no client crate,
//! nothing mocked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `GET path` on `127.0.0.1:port`: the status code and the body.
pub fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// `GET path` that must answer 200 with JSON.
pub fn get_json(port: u16, path: &str) -> serde_json::Value {
    let (status, body) = get(port, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|error| panic!("GET {path}: {error}: {body}"))
}

/// Waits until something answers HTTP on `port`.
pub fn wait_for_http(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on port {port} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A subscription to `/api/v1/events`.
pub struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    /// Subscribes; returns once the response headers arrived.
    pub fn subscribe(port: u16) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "GET /api/v1/events HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => panic!("/api/v1/events closed before its headers ended"),
                Ok(_) if line == "\r\n" => return Self { reader },
                Ok(_) => {
                    if line.starts_with("HTTP/") {
                        assert!(line.contains(" 200 "), "/api/v1/events: {line}");
                    }
                }
                Err(_) => assert!(Instant::now() < deadline, "no headers from /api/v1/events"),
            }
        }
    }

    /// The next event named `name` whose data satisfies `wanted`, within
    /// `limit`; `None` if none came.
    pub fn next_matching(
        &mut self,
        name: &str,
        limit: Duration,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + limit;
        let mut event = String::new();
        let mut data = String::new();
        let mut line = String::new();
        while Instant::now() < deadline {
            match self.reader.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {
                    let text = std::mem::take(&mut line);
                    let text = text.trim_end_matches(['\r', '\n']);
                    if let Some(value) = text.strip_prefix("event:") {
                        event = value.trim().to_owned();
                    } else if let Some(value) = text.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    } else if text.is_empty() {
                        if event == name
                            && let Ok(json) = serde_json::from_str(&data)
                            && wanted(&json)
                        {
                            return Some(json);
                        }
                        event.clear();
                        data.clear();
                    }
                }
                // A read timeout keeps what the line had so far.
                Err(_) => {}
            }
        }
        None
    }
}
