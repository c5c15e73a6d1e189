//! Injectable time.
//!
//! Hold expiry is a rule about time, so every operation that depends on "now" takes it from a
//! [`Clock`]. Production uses [`SystemClock`]; tests use [`ManualClock`] and move time forward
//! instead of sleeping.

use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

pub trait Clock: Send + Sync + 'static {
    /// The current instant, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self { now: Mutex::new(start) }
    }

    /// Moves time forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|poison| poison.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Milliseconds since the Unix epoch: how instants are stored in both databases, so that
/// comparisons are plain integer comparisons on either backend.
pub fn to_millis(instant: OffsetDateTime) -> i64 {
    (instant.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The inverse of [`to_millis`]. Out-of-range values (never written by Marquee) clamp to the epoch.
pub fn from_millis(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new(datetime!(2026-01-01 12:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-01-01 12:00 UTC));
        clock.advance(Duration::minutes(11));
        assert_eq!(clock.now(), datetime!(2026-01-01 12:11 UTC));
    }

    #[test]
    fn millis_round_trip() {
        let instant = datetime!(2026-11-24 10:15:30.123 UTC);
        assert_eq!(from_millis(to_millis(instant)), instant);
    }
}
