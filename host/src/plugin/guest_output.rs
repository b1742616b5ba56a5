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

/// Longest line kept before it is cut and logged.
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
        while let Some(end) = memchr::memchr(b'\n', &pending)
            .or((pending.len() > MAX_LINE_BYTES).then_some(MAX_LINE_BYTES))
        {
            let last = end.min(pending.len() - 1);
            let line: Vec<u8> = pending.drain(..=last).collect();
            let text = String::from_utf8_lossy(&line);
            if let Ok(mut log) = self.log.lock() {
                log.write(self.level, text.trim_end_matches(['\n', '\r']));
            }
        }
    }
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
