//! The live inventory feed of this node: every change of every showtime's tickets, read from
//! the database's change feed in order and fanned out to the node's seat-map streams.
//!
//! One reader task per node (not one per client) reads the feed: it wakes when this node
//! changed inventory, when another node announced a change (PostgreSQL `NOTIFY`), and at least
//! every [`POLL_EVERY`] in any case. Streams subscribe to a bounded broadcast channel of
//! [`FeedEvent`]s, each change's JSON rendered once for all of them; a client that falls too far
//! behind is not buffered for, it gets a fresh snapshot (a resync).
//!
//! # Order and gaps
//! Event ids come from the database in insertion order, but on PostgreSQL two transactions can
//! commit out of id order: event 41 may become visible after event 42. The reader never skips
//! over a missing id at once; it waits up to [`GAP_PATIENCE`] for it (the transaction that holds
//! it is committing), then moves on (it rolled back). So every stream sees every change, in id
//! order, exactly once.

use marquee_domain::clock::Clock;
use marquee_domain::ids::ShowtimeId;
use marquee_store::{InventoryEvent, QueueSummary, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast};

/// Longest the feed goes unread while nothing wakes it (bounds the delay when a notification
/// is lost, or on databases without `NOTIFY`).
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// How long a missing event id is waited for before it is taken for a rolled-back insert.
pub const GAP_PATIENCE: Duration = Duration::from_secs(2);
/// Changes a stream may fall behind before it is resynced.
pub const STREAM_BUFFER: usize = 4096;
/// How old a queue summary shown on streams may be.
const QUEUE_VIEW_AGE: Duration = Duration::from_secs(1);
/// Most live streams one node serves at once; beyond, clients are told to poll the availability
/// view instead (503), so a flood of idle connections cannot exhaust the node.
pub const MAX_STREAMS: usize = 20_000;
/// Events read per query.
const BATCH: u32 = 1000;

/// A change as the node's streams send it: the event, with its `data` rendered once for all of
/// them (a rush fans every change out to thousands of streams).
#[derive(Debug)]
pub struct FeedEvent {
    pub event: InventoryEvent,
    pub data: String,
}

/// The `data` of a stream's `inventory` event (see `routes::stream`).
pub fn event_data(event: &InventoryEvent) -> String {
    serde_json::json!({
        "change": event.change.as_str(),
        "status": event.change.status(),
        "ticket_ids": event.ticket_ids,
        "at": event.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    })
    .to_string()
}

pub struct LiveFeed {
    /// Queue summaries for streams, looked up at most once a second per showtime and node.
    queues: std::sync::Mutex<HashMap<ShowtimeId, (Instant, Option<QueueSummary>)>>,
    sender: broadcast::Sender<Arc<FeedEvent>>,
    /// The id of the last event delivered; set *before* the event is sent, so a stream that
    /// subscribes and then reads the position misses nothing.
    position: AtomicI64,
    /// This node changed inventory.
    local: Notify,
    /// Another node did.
    remote: Arc<Notify>,
    started: AtomicBool,
    /// Set when the node shuts down: streams end so the server can drain.
    closing: tokio::sync::watch::Sender<bool>,
    /// One permit per open stream.
    streams: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for LiveFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFeed").field("position", &self.position()).finish_non_exhaustive()
    }
}

impl LiveFeed {
    /// A feed that starts after event `position` (the newest at start-up: history is replayed
    /// to clients that ask for it, from the database).
    pub fn new(position: i64) -> Self {
        Self {
            queues: std::sync::Mutex::new(HashMap::new()),
            sender: broadcast::channel(STREAM_BUFFER).0,
            position: AtomicI64::new(position),
            local: Notify::new(),
            remote: Arc::new(Notify::new()),
            started: AtomicBool::new(false),
            closing: tokio::sync::watch::channel(false).0,
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
        }
    }

    pub fn position(&self) -> i64 {
        self.position.load(Ordering::SeqCst)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEvent>> {
        self.sender.subscribe()
    }

    /// The showtime's queue as of at most a second ago (`None`: no waiting room), so that
    /// thousands of streams watching one queue cost one query a second.
    pub async fn queue_summary(
        &self,
        store: &dyn Store,
        showtime: &ShowtimeId,
        now: time::OffsetDateTime,
    ) -> marquee_domain::Result<Option<QueueSummary>> {
        if let Some((at, summary)) = self.queues.lock().unwrap_or_else(|p| p.into_inner()).get(showtime)
            && at.elapsed() < QUEUE_VIEW_AGE
        {
            return Ok(summary.clone());
        }
        let summary = store.queue_summary(showtime, now).await?;
        self.queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(showtime.clone(), (Instant::now(), summary.clone()));
        Ok(summary)
    }

    /// A place for one more stream, if the node has one; the stream keeps it while open.
    pub fn admit_stream(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.streams.clone().try_acquire_owned().ok()
    }

    /// Streams open on this node now.
    pub fn open_streams(&self) -> usize {
        MAX_STREAMS.saturating_sub(self.streams.available_permits())
    }

    /// Whether the node is shutting down.
    pub fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }

    /// Ends every stream (the node is shutting down).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once the node shuts down.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }

    /// This node changed inventory: read the feed now and tell the other nodes.
    pub fn changed(&self) {
        self.local.notify_one();
    }

    /// Reads the feed and fans it out until the task is dropped. Runs once per node: a second
    /// call returns at once.
    pub async fn run(self: Arc<Self>, store: Arc<dyn Store>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let listener = tokio::spawn({
            let store = store.clone();
            let remote = self.remote.clone();
            async move {
                if let Err(error) = store.listen_inventory_changes(remote).await {
                    tracing::warn!(%error, "not listening for other nodes' changes");
                }
            }
        });
        let _listener = AbortOnDrop(listener);
        let mut gap_since: Option<Instant> = None;
        loop {
            let wait = if gap_since.is_some() { Duration::from_millis(20) } else { POLL_EVERY };
            tokio::select! {
                () = self.local.notified() => {
                    if let Err(error) = store.announce_inventory_change().await {
                        tracing::warn!(%error, "could not announce an inventory change");
                    }
                }
                () = self.remote.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            match self.read(store.as_ref(), &mut gap_since).await {
                Ok(()) => {}
                Err(error) => tracing::warn!(%error, "reading the inventory feed failed"),
            }
        }
    }

    /// Delivers every event after the position, stopping at a gap until it fills or is stale.
    async fn read(&self, store: &dyn Store, gap_since: &mut Option<Instant>) -> marquee_domain::Result<()> {
        loop {
            let events = store.inventory_events(self.position(), BATCH).await?;
            let fetched = events.len();
            let ids: Vec<i64> = events.iter().map(|event| event.id).collect();
            let ready = deliverable(self.position(), &ids, gap_since, Instant::now());
            for event in events.into_iter().take(ready) {
                self.position.store(event.id, Ordering::SeqCst);
                // Nobody listening is fine, and then nothing is rendered (a node whose buyers
                // poll pays nothing for the feed but the read).
                if self.sender.receiver_count() > 0 {
                    let _ = self.sender.send(Arc::new(FeedEvent { data: event_data(&event), event }));
                }
            }
            if ready < fetched || fetched < BATCH as usize {
                return Ok(());
            }
        }
    }
}

/// How many of `ids` (ascending, after `position`) may be delivered at `now`: all up to the
/// first missing id, unless that gap has been open for [`GAP_PATIENCE`] (then the id is taken
/// for a rolled-back insert and skipped). `gap_since` remembers when the open gap was seen.
fn deliverable(mut position: i64, ids: &[i64], gap_since: &mut Option<Instant>, now: Instant) -> usize {
    for (n, &id) in ids.iter().enumerate() {
        if id > position + 1 {
            let since = *gap_since.get_or_insert(now);
            if now.duration_since(since) < GAP_PATIENCE {
                return n;
            }
            tracing::debug!(from = position + 1, to = id - 1, "skipping ids never committed");
        }
        *gap_since = None;
        position = id;
    }
    ids.len()
}

/// Aborts its task when dropped.
pub struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `feed` for as long as the returned guard lives.
pub fn spawn(feed: Arc<LiveFeed>, store: Arc<dyn Store>) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(feed.run(store)))
}

/// Drops feed entries older than `keep`, every `every`, until `stop` resolves. A client
/// resuming from a pruned event gets a fresh snapshot instead.
pub async fn run_pruner(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keep: time::Duration,
    every: Duration,
    stop: impl Future<Output = ()> + Send,
) {
    crate::periodically(every, stop, || async {
        match store.prune_inventory_events(clock.now() - keep).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned the inventory feed"),
            Err(error) => tracing::warn!(%error, "pruning the inventory feed failed"),
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_waits_for_a_late_commit_then_gives_up_on_a_rollback() {
        let start = Instant::now();
        let mut gap = None;
        assert_eq!(deliverable(0, &[1, 2, 3], &mut gap, start), 3, "no gap: everything");
        assert_eq!(deliverable(3, &[4, 6, 7], &mut gap, start), 1, "stops before the missing 5");
        assert_eq!(gap, Some(start));
        let soon = start + Duration::from_millis(50);
        assert_eq!(deliverable(4, &[6, 7], &mut gap, soon), 0, "still waiting for 5");
        assert_eq!(deliverable(4, &[5, 6, 7], &mut gap, soon), 3, "5 committed late: in order");
        assert_eq!(gap, None);
        assert_eq!(deliverable(7, &[9], &mut gap, soon), 0);
        assert_eq!(deliverable(7, &[9], &mut gap, soon + GAP_PATIENCE), 1, "8 rolled back: skipped");
        assert_eq!(gap, None);
    }

    #[test]
    fn a_node_serves_a_bounded_number_of_streams() {
        let feed = LiveFeed::new(0);
        let permits: Vec<_> = (0..MAX_STREAMS).map(|_| feed.admit_stream().expect("a place")).collect();
        assert!(feed.admit_stream().is_none(), "full");
        assert_eq!(feed.open_streams(), MAX_STREAMS);
        drop(permits);
        assert_eq!(feed.open_streams(), 0);
        assert!(feed.admit_stream().is_some(), "places come back when streams end");
    }
}
