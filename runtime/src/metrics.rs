//! Per-session metrics, kept as plain counters by the session on every send and receive.

use std::time::Duration;

use crate::transport::SessionId;

/// Count, total, minimum and maximum of a series of durations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyStats {
    /// How many durations were recorded.
    pub count: u64,
    /// Their sum.
    pub total: Duration,
    /// The shortest (zero while `count` is 0).
    pub min: Duration,
    /// The longest.
    pub max: Duration,
}

impl LatencyStats {
    /// Adds one duration.
    #[inline]
    pub fn record(&mut self, sample: Duration) {
        if sample.is_zero() {
            // The common case of a receive that did not wait.
            self.min = Duration::ZERO;
            self.count += 1;
            return;
        }
        self.min = if self.count == 0 {
            sample
        } else {
            self.min.min(sample)
        };
        self.max = self.max.max(sample);
        self.total = self.total.saturating_add(sample);
        self.count += 1;
    }

    /// The mean, if anything was recorded.
    pub fn mean(&self) -> Option<Duration> {
        let count = u32::try_from(self.count).ok().filter(|c| *c > 0)?;
        Some(self.total / count)
    }
}

/// What one session did, as seen by one of its peers.
///
/// Times come from tokio's clock, so they follow `tokio::time::pause` in tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionMetrics {
    /// The session these figures belong to.
    pub session: SessionId,
    /// The protocol the session runs.
    pub protocol: &'static str,
    /// Messages handed to the transport.
    pub messages_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Bytes of the sent frames (header included).
    pub bytes_sent: u64,
    /// Bytes of the received frames (header included).
    pub bytes_received: u64,
    /// Per received message: time from the start of the receive until the
    /// message was there (zero if it was already waiting).
    pub receive_wait: LatencyStats,
    /// Receives that gave up after the session's timeout.
    pub timeouts: u64,
    /// Time since the session started (its whole length once it has ended).
    pub duration: Duration,
}

impl SessionMetrics {
    /// Zeroed metrics for a new session.
    pub fn new(session: SessionId, protocol: &'static str) -> Self {
        SessionMetrics {
            session,
            protocol,
            messages_sent: 0,
            messages_received: 0,
            bytes_sent: 0,
            bytes_received: 0,
            receive_wait: LatencyStats::default(),
            timeouts: 0,
            duration: Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_stats_track_min_max_and_mean() {
        let mut stats = LatencyStats::default();
        assert_eq!(stats.mean(), None);
        for ms in [30, 10, 20] {
            stats.record(Duration::from_millis(ms));
        }
        assert_eq!(stats.count, 3);
        assert_eq!(stats.min, Duration::from_millis(10));
        assert_eq!(stats.max, Duration::from_millis(30));
        assert_eq!(stats.mean(), Some(Duration::from_millis(20)));
    }
}
