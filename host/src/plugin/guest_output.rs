//! A rule's stdout and stderr, captured into the host log line by line with
//! the rule's name, under the same rate limit as its `host.log` calls.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::host_log::RuleLog;
use crate::contract::Level;

/// Longest piece of a line logged at once; a longer line is logged in pieces.
const MAX_LINE_BYTES: usize = 4096;

/// One of a rule's output streams.
#[derive(Clone)]
pub struct GuestOutput {
    log: Arc<Mutex<RuleLog>>,
    level: Level,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl GuestOutput {
    /// A stream whose lines go to `log` at `level` (info for stdout, warn for stderr).
    pub fn new(log: Arc<Mutex<RuleLog>>, level: Level) -> Self {
        Self {
            log,
            level,
            pending: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn take(&self, bytes: &[u8]) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        pending.extend_from_slice(bytes);
        while let Some(piece) = next_piece(&mut pending) {
            let text = String::from_utf8_lossy(&piece);
            if let Ok(mut log) = self.log.lock() {
                log.write(self.level, text.trim_end_matches(['\n', '\r']));
            }
        }
    }
}

/// Takes the next complete piece off `pending`: a line with its newline
/// (at most [`MAX_LINE_BYTES`] before it), or that much of a longer one, however the rule's writes split
/// it; `None` while the last line is incomplete and short.
fn next_piece(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let end = match memchr::memchr(b'\n', pending) {
        Some(newline) if newline <= MAX_LINE_BYTES => newline + 1,
        _ if pending.len() >= MAX_LINE_BYTES => MAX_LINE_BYTES,
        _ => return None,
    };
    Some(pending.drain(..end).collect())
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.take(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.take(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_come_in_pieces_whatever_the_writes() {
        let mut line = vec![b'a'; MAX_LINE_BYTES * 2 + 10];
        line.push(b'\n');
        for write in [line.len(), 1000, 1] {
            let mut pending = Vec::new();
            let mut pieces = Vec::new();
            for chunk in line.chunks(write) {
                pending.extend_from_slice(chunk);
                while let Some(piece) = next_piece(&mut pending) {
                    pieces.push(piece.len());
                }
            }
            assert_eq!(
                pieces,
                [MAX_LINE_BYTES, MAX_LINE_BYTES, 11],
                "writes of {write}"
            );
            assert!(pending.is_empty());
        }
        let mut pending = vec![b'a'; MAX_LINE_BYTES];
        pending.push(b'\n');
        assert_eq!(
            next_piece(&mut pending).map(|piece| piece.len()),
            Some(MAX_LINE_BYTES + 1)
        );
        let mut pending = b"one\ntwo".to_vec();
        assert_eq!(next_piece(&mut pending).as_deref(), Some(&b"one\n"[..]));
        assert_eq!(next_piece(&mut pending), None);
        assert_eq!(pending, b"two");
    }
}
