//! Waiting rooms: a showtime that goes on sale through a queue.
//!
//! # Order
//! Everyone who joins *before* the queue opens is in the lobby: at opening they are all placed
//! ahead of later arrivals, in an order drawn at random (arriving a second after the
//! announcement gives no edge over arriving an hour early, and bots that hammer the join button
//! at the last millisecond gain nothing). After the opening, places follow arrival. Either way
//! the order is one number per entry (its *place key*), decided when joining and kept: joining
//! again returns the same place, and leaving and rejoining goes to the back.
//!
//! # Pace
//! Admission moves down the queue at `admit_per_minute` from the opening. The count of admitted
//! places only grows while someone is waiting for it: an empty queue does not bank admissions
//! for a crowd arriving later.

use crate::ids::ShowtimeId;
use time::{Duration, OffsetDateTime};

/// Place keys below this are lobby draws; at and above, arrival order.
pub const ARRIVAL_KEYS_FROM: i64 = 1 << 52;

/// The fastest pace of a queue, in places a minute: a million is more than any sale needs
/// and keeps the pace's arithmetic far from overflowing.
pub const MAX_ADMIT_PER_MINUTE: u32 = 1_000_000;
/// The longest an admission may last, in minutes: a day.
pub const MAX_ADMISSION_MINUTES: u32 = 24 * 60;

/// How a showtime's queue is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingRoom {
    pub showtime_id: ShowtimeId,
    pub opens_at: OffsetDateTime,
    pub admit_per_minute: u32,
    /// How long an admission stays valid for holding seats.
    pub admission_ttl: Duration,
    /// Places admitted so far (the first `admitted` places of the queue).
    pub admitted: i64,
    /// The instant `admitted` was counted up to.
    pub advanced_at: OffsetDateTime,
}

impl WaitingRoom {
    pub fn validate(&self) -> crate::Result<()> {
        if self.admit_per_minute == 0 || self.admit_per_minute > MAX_ADMIT_PER_MINUTE {
            return Err(crate::Error::invalid(format!(
                "admit_per_minute must be between 1 and {MAX_ADMIT_PER_MINUTE}"
            )));
        }
        let longest = Duration::minutes(i64::from(MAX_ADMISSION_MINUTES));
        if self.admission_ttl < Duration::minutes(1) || self.admission_ttl > longest {
            return Err(crate::Error::invalid(format!(
                "admission_minutes must be between 1 and {MAX_ADMISSION_MINUTES}"
            )));
        }
        Ok(())
    }

    /// Where admission stands at `now` with `queued` places in the queue: the new admitted count
    /// and the instant it is counted to, or `None` if nothing moved.
    pub fn advance(&self, queued: i64, now: OffsetDateTime) -> Option<(i64, OffsetDateTime)> {
        let from = self.advanced_at.max(self.opens_at);
        if now <= from {
            return None;
        }
        let per_place_ms = 60_000.0 / f64::from(self.admit_per_minute);
        let elapsed_ms = (now - from).whole_milliseconds() as f64;
        let steps = (elapsed_ms / per_place_ms).floor() as i64;
        if steps == 0 {
            return None;
        }
        if self.admitted >= queued {
            // Nobody waiting: move the clock on without banking admissions.
            return Some((self.admitted, now));
        }
        let admitted = (self.admitted + steps).min(queued);
        // Keep the fraction of a step already waited (unless the queue ran dry).
        let used = if admitted < queued {
            Duration::milliseconds((steps as f64 * per_place_ms).round() as i64)
        } else {
            now - from
        };
        Some((admitted, from + used))
    }

    /// The place key of someone joining at `now`; `random` breaks ties (and draws the lobby).
    pub fn place_key(&self, now: OffsetDateTime, random: u64) -> i64 {
        if now < self.opens_at {
            (random % ARRIVAL_KEYS_FROM as u64) as i64
        } else {
            let millis = (now - OffsetDateTime::UNIX_EPOCH).whole_milliseconds() as i64;
            ARRIVAL_KEYS_FROM + millis * 1024 + (random % 1024) as i64
        }
    }
}

/// One account's place in a queue, as seen at some instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueState {
    /// Joined before the opening; the order is drawn when the queue opens.
    Lobby,
    /// `ahead` places are still to be admitted before this one.
    Waiting { ahead: i64 },
    /// Admitted: may hold seats until `until`.
    Admitted { until: OffsetDateTime },
    /// Was admitted, but the admission ran out; join again (at the back) to come back.
    Expired,
}

impl QueueState {
    /// The state of the entry at `index` (0-based place in the queue).
    pub fn of(
        room: &WaitingRoom,
        index: i64,
        admitted_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Self {
        if let Some(at) = admitted_at {
            let until = at + room.admission_ttl;
            return if now < until { Self::Admitted { until } } else { Self::Expired };
        }
        if now < room.opens_at {
            Self::Lobby
        } else if index < room.admitted {
            // Admitted from this instant (the store records it).
            Self::Admitted { until: now + room.admission_ttl }
        } else {
            Self::Waiting { ahead: index - room.admitted }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const OPENS: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn room(admit_per_minute: u32) -> WaitingRoom {
        WaitingRoom {
            showtime_id: ShowtimeId::from_raw("sho_1"),
            opens_at: OPENS,
            admit_per_minute,
            admission_ttl: Duration::minutes(10),
            admitted: 0,
            advanced_at: OPENS,
        }
    }

    #[test]
    fn admission_moves_at_the_configured_pace_and_keeps_the_fraction() {
        let r = room(60); // one per second
        assert_eq!(r.advance(100, OPENS - Duration::minutes(1)), None, "not before the opening");
        assert_eq!(r.advance(100, OPENS + Duration::milliseconds(999)), None);
        let (admitted, at) = r.advance(100, OPENS + Duration::milliseconds(2500)).unwrap();
        assert_eq!((admitted, at), (2, OPENS + Duration::seconds(2)), "half a step is kept");
        let r = WaitingRoom { admitted, advanced_at: at, ..r };
        assert_eq!(r.advance(100, OPENS + Duration::seconds(3)).unwrap().0, 3);
        assert_eq!(r.advance(3, OPENS + Duration::seconds(60)).unwrap().0, 3, "never past the queue");
    }

    #[test]
    fn an_empty_queue_banks_no_admissions() {
        let r = room(60);
        let (admitted, at) = r.advance(0, OPENS + Duration::hours(1)).unwrap();
        assert_eq!((admitted, at), (0, OPENS + Duration::hours(1)));
        // A crowd of 1000 arriving now is admitted at the pace, not all at once.
        let r = WaitingRoom { admitted, advanced_at: at, ..r };
        assert_eq!(r.advance(1000, at + Duration::seconds(10)).unwrap().0, 10);
    }

    #[test]
    fn the_lobby_comes_first_in_a_drawn_order_then_arrivals_in_order() {
        let r = room(60);
        let early = r.place_key(OPENS - Duration::hours(1), u64::MAX);
        let late_in_lobby = r.place_key(OPENS - Duration::seconds(1), 7);
        let first_after = r.place_key(OPENS, 1023);
        let second_after = r.place_key(OPENS + Duration::milliseconds(1), 0);
        assert!(early < ARRIVAL_KEYS_FROM && late_in_lobby < ARRIVAL_KEYS_FROM);
        assert!(late_in_lobby < early, "the lobby is ordered by the draw, not by arrival");
        assert!(first_after > early && second_after > first_after);
    }

    #[test]
    fn states_follow_the_admitted_count_and_the_admission_lifetime() {
        let mut r = room(60);
        assert_eq!(QueueState::of(&r, 0, None, OPENS - Duration::seconds(1)), QueueState::Lobby);
        r.admitted = 3;
        assert_eq!(QueueState::of(&r, 7, None, OPENS), QueueState::Waiting { ahead: 4 });
        assert!(matches!(QueueState::of(&r, 2, None, OPENS), QueueState::Admitted { .. }));
        let at = OPENS + Duration::seconds(5);
        assert_eq!(
            QueueState::of(&r, 2, Some(at), at + Duration::minutes(9)),
            QueueState::Admitted { until: at + Duration::minutes(10) }
        );
        assert_eq!(QueueState::of(&r, 2, Some(at), at + Duration::minutes(10)), QueueState::Expired);
    }

    #[test]
    fn validation_refuses_absurd_settings() {
        assert!(room(0).validate().is_err());
        assert!(WaitingRoom { admission_ttl: Duration::seconds(5), ..room(60) }.validate().is_err());
        assert!(room(600).validate().is_ok());
    }
}
