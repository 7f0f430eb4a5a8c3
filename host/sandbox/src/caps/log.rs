//! `chitin:plugin/log`: plugin log lines into the host's log, rate-limited and redacted.

use std::time::Instant;

use crate::bindings::host::chitin::plugin::log::{Host, Level};
use crate::state::PluginState;

/// Lines longer than this are cut: a log line is not a data channel.
const MAX_LINE_BYTES: usize = 4 << 10;
/// Token bucket: a burst of 50 lines, then 20 lines per second per plugin.
const BURST: f64 = 50.0;
const PER_SECOND: f64 = 20.0;

pub struct LogLimiter {
    tokens: f64,
    last: Instant,
    dropped: u64,
}

impl LogLimiter {
    pub fn new() -> LogLimiter {
        LogLimiter {
            tokens: BURST,
            last: Instant::now(),
            dropped: 0,
        }
    }

    /// `Some(dropped_before)` when this line may be written (with how many were dropped since
    /// the last written line), `None` when it must be dropped.
    pub fn admit(&mut self) -> Option<u64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * PER_SECOND).min(BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Some(std::mem::take(&mut self.dropped))
        } else {
            self.dropped += 1;
            None
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self::new()
    }
}

fn truncate(message: &str) -> &str {
    if message.len() <= MAX_LINE_BYTES {
        return message;
    }
    let mut end = MAX_LINE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

impl Host for PluginState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.host_call()?;
        let admitted = self
            .ctx
            .log_limiter
            .lock()
            .map(|mut limiter| limiter.admit())
            .unwrap_or(None);
        let Some(dropped) = admitted else {
            return Ok(());
        };
        let plugin = self.plugin_id().to_string();
        if dropped > 0 {
            tracing::warn!(plugin = %plugin, dropped, "plugin log lines dropped by the rate limit");
        }
        let line = self.ctx.redactor.redact(truncate(&message)).into_owned();
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin = %plugin, "{line}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin = %plugin, "{line}"),
            Level::Info => tracing::info!(target: "plugin", plugin = %plugin, "{line}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin = %plugin, "{line}"),
            Level::Error => tracing::error!(target: "plugin", plugin = %plugin, "{line}"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_admits_a_burst_then_drops() {
        let mut limiter = LogLimiter::new();
        let admitted = (0..1000).filter(|_| limiter.admit().is_some()).count();
        // The burst plus what refilled while the loop ran (well under a second).
        assert!((50..70).contains(&admitted), "admitted {admitted}");
        assert!(limiter.dropped() > 900);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let line = "é".repeat(MAX_LINE_BYTES);
        let cut = truncate(&line);
        assert!(cut.len() <= MAX_LINE_BYTES);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
