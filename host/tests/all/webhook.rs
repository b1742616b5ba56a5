//! `[alerts] webhook_url`: every alert POSTed as JSON to a real HTTP server
//! started here, retried through failures with the same idempotency key.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::jobs::{alerts, job_log};
use crate::support::*;

/// One request the server received.
#[derive(Debug, Clone)]
struct Received {
    key: String,
    body: serde_json::Value,
}

/// An HTTP/1.1 server on a free loopback port that answers the first
/// `failures` requests with 503 and the rest with 200, recording each.
fn start_receiver(failures: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    std::thread::spawn(move || {
        let mut served = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut key) = (0, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("idempotency-key:") {
                    key = line["idempotency-key:".len()..].trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            served += 1;
            let status = if served <= failures {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            if served > failures {
                log.lock().unwrap().push(Received {
                    key,
                    body: serde_json::from_slice(&body).unwrap(),
                });
            }
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (url, received)
}

/// `errors` on a file with error bursts: the webhook receives each alert of
/// the stream once (after two failed tries), in stream order, with a stable
/// idempotency key; a second run delivers nothing again.
#[test]
fn alerts_reach_the_webhook_once_through_failures() {
    let dir = tempfile::tempdir().unwrap();
    let log = job_log(dir.path(), "errors", 3, 20_000);
    let (url, received) = start_receiver(2);
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["errors"]);
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        &format!(
            "[rules.errors]\nconfig = {{ threshold = 40 }}\n[alerts]\nwebhook_url = \"{url}\"\nmax_backoff_ms = 200\n"
        ),
    );
    run_to_end(&config);
    let stream = alerts(&redis, "errors");
    assert!(!stream.is_empty(), "the bursts fire alerts");
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), stream.len(), "{got:?}");
    for (alert, posted) in stream.iter().zip(&got) {
        assert_eq!(posted.body["rule"], "errors");
        assert_eq!(posted.body["group"], alert["group"].as_str());
        assert_eq!(
            posted.body["window_start"].to_string(),
            alert["window_start"]
        );
        assert_eq!(posted.body["value"], alert["value"].as_str());
        assert_eq!(posted.body["threshold"], "40");
        assert_eq!(posted.key.len(), 16, "{posted:?}");
    }
    let keys: BTreeSet<&str> = got.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys.len(), got.len(), "one key per alert");
    // Nothing new to say: a second run posts nothing.
    run_to_end(&config);
    assert_eq!(received.lock().unwrap().len(), got.len());
}
