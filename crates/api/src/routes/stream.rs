//! A showtime's live event stream (Server-Sent Events): seat changes as they happen, and the
//! progress of its queue.
//!
//! # Events
//! - `snapshot` (id: the version): the availability view (see the `availability` route); sent
//!   on connect without a usable `Last-Event-ID`, and as a **resync** whenever the client fell
//!   too far behind for the node to keep buffering for it.
//! - `inventory` (id: the change's id): `{"change": "held"|"released"|"expired"|"sold"|"refunded",
//!   "status": "held"|"available"|"sold", "ticket_ids": [...], "at": ...}`.
//! - `queue`: `{"opens_at", "admit_per_minute", "admitted", "queued"}` for a showtime sold
//!   through a waiting room, on connect and whenever it moves; your own place is `admitted`
//!   against the `place` the queue gave you.
//!
//! Reconnecting with `Last-Event-ID` (browsers do it by themselves) replays the changes since,
//! from the database, so nothing is lost across a reconnect, even to another node.

use super::catalog::availability_snapshot;
use crate::error::{ApiError, Problem};
use crate::extract::Path;
use crate::live::{FeedEvent, event_data};
use crate::seatmap::Rendered;
use crate::{AppState, TAG_CATALOG};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use marquee_domain::ids::ShowtimeId;
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

/// How often a queue's progress is looked at for its watchers.
const QUEUE_EVERY: Duration = Duration::from_secs(1);
/// Changes replayed per query on resumption.
const REPLAY_BATCH: u32 = 1000;

/// The showtime's live events (Server-Sent Events). See the module documentation for the
/// events; send `Last-Event-ID` to resume.
#[utoipa::path(get, path = "/api/v1/showtimes/{showtime_id}/stream", tag = TAG_CATALOG,
    params(
        ("showtime_id" = inline(ShowtimeId), Path, description = "Showtime id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event"),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such showtime", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node serves as many streams as it can: poll the availability view", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stream(
    State(state): State<AppState>,
    Path(showtime_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let showtime_id = ShowtimeId::from_raw(showtime_id);
    // The shared snapshot (404 for an unknown showtime): a crowd connecting at once costs one
    // seat-map query, not one each. Its changes since are replayed after subscribing.
    let first = availability_snapshot(&state, &showtime_id).await?;
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<i64>().ok());
    let Some(permit) = state.feed.admit_stream() else {
        return Err(ApiError::Rejected {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            detail: "this node serves as many live streams as it can; poll the availability view instead"
                .into(),
        });
    };
    // Subscribe before looking at the position: nothing delivered after it is missed.
    let changes = state.feed.subscribe();
    let (sender, receiver) = mpsc::channel(64);
    let watcher = Watcher { state, showtime_id, sender };
    tokio::spawn(async move {
        watcher.run(changes, resume, first).await;
        drop(permit);
    });
    let keep_alive = KeepAlive::new().interval(Duration::from_secs(15));
    Ok(Sse::new(ReceiverStream::new(receiver)).keep_alive(keep_alive).into_response())
}

struct Watcher {
    state: AppState,
    showtime_id: ShowtimeId,
    sender: mpsc::Sender<Result<Event, Infallible>>,
}

/// The client went away.
struct Gone;

impl Watcher {
    async fn run(
        self,
        mut changes: broadcast::Receiver<std::sync::Arc<FeedEvent>>,
        resume: Option<i64>,
        first: Rendered,
    ) {
        let _ = self.watch(&mut changes, resume, first).await;
    }

    async fn watch(
        &self,
        changes: &mut broadcast::Receiver<std::sync::Arc<FeedEvent>>,
        resume: Option<i64>,
        first: Rendered,
    ) -> Result<(), Gone> {
        let mut sent = match resume {
            Some(after) if self.can_resume(after).await => after,
            _ => self.send_snapshot(first).await?,
        };
        sent = self.replay(sent).await?;
        let mut queue = None;
        self.queue(&mut queue).await?;
        let closed = self.state.feed.closed();
        tokio::pin!(closed);
        let mut ticker = tokio::time::interval(QUEUE_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(feed) => {
                        let event = &feed.event;
                        if event.id > sent && event.showtime_id == self.showtime_id {
                            self.send(inventory_event(event.id, &feed.data)).await?;
                        }
                        sent = sent.max(event.id);
                    }
                    // Too far behind: start over from a fresh snapshot rather than buffer.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let fresh = availability_snapshot(&self.state, &self.showtime_id).await.map_err(|_| Gone)?;
                        sent = self.send_snapshot(fresh).await?;
                        sent = self.replay(sent).await?;
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = ticker.tick() => self.queue(&mut queue).await?,
                () = self.sender.closed() => return Err(Gone),
                () = &mut closed => return Ok(()),
            }
        }
    }

    async fn send(&self, event: Event) -> Result<(), Gone> {
        self.sender.send(Ok(event)).await.map_err(|_| Gone)
    }

    /// Whether the changes after `after` are all still in the database.
    async fn can_resume(&self, after: i64) -> bool {
        match self.state.store.inventory_event_bounds().await {
            Ok((oldest, newest)) => {
                after >= 0 && after <= newest.max(self.state.feed.position()) && after + 1 >= oldest
            }
            Err(_) => false,
        }
    }

    /// Sends the availability view as a `snapshot`; returns its version.
    async fn send_snapshot(&self, rendered: Rendered) -> Result<i64, Gone> {
        let data = String::from_utf8_lossy(&rendered.body).into_owned();
        self.send(Event::default().event("snapshot").id(rendered.version.to_string()).data(data)).await?;
        Ok(rendered.version)
    }

    /// Sends this showtime's changes after `after` up to the feed's position (those the
    /// broadcast delivered before this stream subscribed); returns the last id covered.
    async fn replay(&self, mut after: i64) -> Result<i64, Gone> {
        let upto = self.state.feed.position();
        while after < upto {
            let events = self
                .state
                .store
                .showtime_events(&self.showtime_id, after, REPLAY_BATCH)
                .await
                .map_err(|_| Gone)?;
            let done = events.len() < REPLAY_BATCH as usize;
            for event in events.iter().filter(|event| event.id <= upto) {
                self.send(inventory_event(event.id, &event_data(event))).await?;
                after = event.id;
            }
            if done || events.last().is_some_and(|event| event.id > upto) {
                break;
            }
        }
        Ok(after.max(upto))
    }

    /// Sends the queue's progress if it moved since `last`.
    async fn queue(&self, last: &mut Option<(i64, i64)>) -> Result<(), Gone> {
        let now = self.state.clock.now();
        let Ok(Some(summary)) =
            self.state.feed.queue_summary(self.state.store.as_ref(), &self.showtime_id, now).await
        else {
            return Ok(());
        };
        let progress = (summary.room.admitted, summary.queued);
        if *last == Some(progress) {
            return Ok(());
        }
        *last = Some(progress);
        let data = json!({
            "opens_at": summary.room.opens_at.format(&Rfc3339).unwrap_or_default(),
            "admit_per_minute": summary.room.admit_per_minute,
            "admitted": summary.room.admitted,
            "queued": summary.queued,
        });
        self.send(Event::default().event("queue").data(data.to_string())).await
    }
}

/// An `inventory` event of change `id` whose `data` is rendered ([`event_data`]).
fn inventory_event(id: i64, data: &str) -> Event {
    Event::default().event("inventory").id(id.to_string()).data(data)
}
