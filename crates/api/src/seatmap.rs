//! Seat-map snapshots: the serialized seat map of a showtime, shared by every request until
//! it may have changed.
//!
//! Building the map of a 23,000-ticket arena takes a large query and megabytes of JSON; during
//! a flash sale thousands of buyers ask for it at once. A snapshot is reused while
//! - no inventory change made through this node touched the showtime (the booking service
//!   invalidates it on every hold, release, sale and refund),
//! - no hold in it has expired yet (its earliest expiry is remembered), and
//! - it is younger than `max_age`, which bounds how long a change made on *another* node can
//!   go unseen.
//!
//! Under a rush, a snapshot younger than `min_age` is served even after a change, so the map is
//! rebuilt at most a few times a second however many buyers ask (`min_age` 0 gives exact
//! read-your-writes, as the tests use).
//!
//! Only one request rebuilds a given showtime's map at a time; the others wait for it. The map
//! is advisory anyway: taking a seat is decided by the database when the hold is made.

use axum::body::Bytes;
use marquee_domain::Result;
use marquee_domain::ids::ShowtimeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// A rendered map and the last inventory change it reflects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub body: Bytes,
    pub version: i64,
}

#[derive(Clone)]
struct Snapshot {
    rendered: Rendered,
    built: Instant,
    /// The snapshot is wrong from this instant on (a hold in it expires).
    valid_until: Option<OffsetDateTime>,
    generation: u64,
}

#[derive(Default)]
struct Entry {
    /// Bumped by every invalidation.
    generation: u64,
    /// Held while rebuilding (single flight).
    slot: Arc<tokio::sync::Mutex<Option<Snapshot>>>,
}

pub struct SeatMapCache {
    /// A snapshot younger than this is served even after a change (a flash sale changes the
    /// map many times a second; rebuilding it for every buyer would be the bottleneck).
    min_age: Duration,
    max_age: Duration,
    entries: Mutex<HashMap<ShowtimeId, Entry>>,
}

impl std::fmt::Debug for SeatMapCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeatMapCache").field("max_age", &self.max_age).finish_non_exhaustive()
    }
}

impl SeatMapCache {
    pub fn new(min_age: Duration, max_age: Duration) -> Self {
        Self { min_age, max_age, entries: Mutex::new(HashMap::new()) }
    }

    /// Marks a showtime's snapshot stale (after an inventory change).
    pub fn invalidate(&self, showtime: &ShowtimeId) {
        let mut entries = self.entries.lock().unwrap_or_else(|poison| poison.into_inner());
        entries.entry(showtime.clone()).or_default().generation += 1;
    }

    /// Marks every snapshot stale (after a change that may touch many showtimes).
    pub fn invalidate_all(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|poison| poison.into_inner());
        for entry in entries.values_mut() {
            entry.generation += 1;
        }
    }

    /// The showtime's serialized map: the snapshot if still right, else `build()`'s result
    /// (`build` returns the map and the earliest hold expiry in it).
    pub async fn get<F, Fut>(&self, showtime: &ShowtimeId, now: OffsetDateTime, build: F) -> Result<Rendered>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Rendered, Option<OffsetDateTime>)>>,
    {
        let (slot, generation) = {
            let mut entries = self.entries.lock().unwrap_or_else(|poison| poison.into_inner());
            let entry = entries.entry(showtime.clone()).or_default();
            (entry.slot.clone(), entry.generation)
        };
        let mut slot = slot.lock().await;
        if let Some(snapshot) = slot.as_ref()
            && (snapshot.generation == generation || snapshot.built.elapsed() < self.min_age)
            && snapshot.built.elapsed() < self.max_age
            && snapshot.valid_until.is_none_or(|until| now < until)
        {
            return Ok(snapshot.rendered.clone());
        }
        let (rendered, valid_until) = build().await?;
        *slot = Some(Snapshot { rendered: rendered.clone(), built: Instant::now(), valid_until, generation });
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    async fn get(
        cache: &SeatMapCache,
        builds: &AtomicU32,
        now: OffsetDateTime,
        expiry: Option<OffsetDateTime>,
    ) -> Bytes {
        cache
            .get(&ShowtimeId::from_raw("sho_1"), now, || async {
                let n = builds.fetch_add(1, Ordering::SeqCst);
                Ok((Rendered { body: Bytes::from(format!("map {n}")), version: 0 }, expiry))
            })
            .await
            .unwrap()
            .body
    }

    #[tokio::test]
    async fn a_snapshot_is_reused_until_a_change_an_expiry_or_its_age() {
        let cache = SeatMapCache::new(Duration::ZERO, Duration::from_secs(60));
        let builds = AtomicU32::new(0);
        let expiry = Some(NOW + time::Duration::minutes(10));
        assert_eq!(get(&cache, &builds, NOW, expiry).await, "map 0");
        assert_eq!(get(&cache, &builds, NOW, expiry).await, "map 0", "reused");
        cache.invalidate(&ShowtimeId::from_raw("sho_1"));
        assert_eq!(get(&cache, &builds, NOW, expiry).await, "map 1", "rebuilt after a change");
        assert_eq!(
            get(&cache, &builds, NOW + time::Duration::minutes(10), expiry).await,
            "map 2",
            "rebuilt once a hold expired"
        );
        let young = SeatMapCache::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(get(&young, &builds, NOW, None).await, "map 3");
        assert_eq!(get(&young, &builds, NOW, None).await, "map 4", "rebuilt once too old");
        let rushed = SeatMapCache::new(Duration::from_secs(60), Duration::from_secs(60));
        assert_eq!(get(&rushed, &builds, NOW, None).await, "map 5");
        rushed.invalidate(&ShowtimeId::from_raw("sho_1"));
        assert_eq!(
            get(&rushed, &builds, NOW, None).await,
            "map 5",
            "within min_age a change waits for the next rebuild"
        );
    }
}
