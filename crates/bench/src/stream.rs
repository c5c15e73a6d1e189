//! Following a showtime's event stream as the seat-map page does: the snapshot it starts
//! with, then every change, kept as one status byte per ticket in seat-map order (`A`, `H`,
//! `S`, as the availability view spells them).

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a page knows of the showtime's seats.
pub struct LiveView {
    statuses: Mutex<Vec<u8>>,
    /// Each ticket's place in seat-map order.
    positions: Arc<HashMap<String, usize>>,
}

#[derive(Deserialize)]
struct Snapshot {
    statuses: String,
}

#[derive(Deserialize)]
struct Change {
    status: String,
    ticket_ids: Vec<String>,
}

impl LiveView {
    pub fn new(positions: Arc<HashMap<String, usize>>) -> Self {
        Self { statuses: Mutex::new(Vec::new()), positions }
    }

    /// The statuses now (empty until the first snapshot).
    pub fn statuses(&self) -> Vec<u8> {
        self.statuses.lock().unwrap().clone()
    }

    /// Applies one server-sent event; returns whether it was a snapshot.
    fn apply(&self, event: &str, data: &str) -> bool {
        match event {
            "snapshot" => {
                if let Ok(snapshot) = serde_json::from_str::<Snapshot>(data) {
                    *self.statuses.lock().unwrap() = snapshot.statuses.into_bytes();
                    return true;
                }
            }
            "inventory" => {
                if let Ok(change) = serde_json::from_str::<Change>(data) {
                    let status = match change.status.as_str() {
                        "available" => b'A',
                        "held" => b'H',
                        _ => b'S',
                    };
                    let mut statuses = self.statuses.lock().unwrap();
                    for id in &change.ticket_ids {
                        if let Some(slot) = self.positions.get(id).and_then(|&at| statuses.get_mut(at)) {
                            *slot = status;
                        }
                    }
                }
            }
            _ => {}
        }
        false
    }
}

/// Keeps `view` current from `url` (the showtime's stream) until `stop` is set, reconnecting
/// (and so resynchronising from a new snapshot) whenever the stream ends. `requests` counts
/// the connections made.
pub async fn follow(
    client: reqwest::Client,
    url: String,
    view: Arc<LiveView>,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
) {
    while !stop.load(Ordering::Relaxed) {
        requests.fetch_add(1, Ordering::Relaxed);
        let Ok(mut response) = client.get(&url).send().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut pending = String::new();
        while !stop.load(Ordering::Relaxed) {
            let Ok(Some(chunk)) = response.chunk().await else { break };
            pending.push_str(&String::from_utf8_lossy(&chunk));
            // Events end with a blank line; a partial one waits for the next chunk.
            while let Some(end) = pending.find("\n\n") {
                let block: String = pending.drain(..end + 2).collect();
                let (mut event, mut data) = ("message", String::new());
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event = name.trim();
                    } else if let Some(part) = line.strip_prefix("data:") {
                        data.push_str(part.strip_prefix(' ').unwrap_or(part));
                    }
                }
                view.apply(event, &data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_takes_its_snapshot_then_each_change() {
        let positions: HashMap<String, usize> =
            [("t0", 0), ("t1", 1), ("t2", 2)].into_iter().map(|(id, at)| (id.to_owned(), at)).collect();
        let view = LiveView::new(Arc::new(positions));
        assert!(view.apply("snapshot", r#"{"statuses": "AAA", "version": 3}"#));
        view.apply(
            "inventory",
            r#"{"change": "held", "status": "held", "ticket_ids": ["t0", "t2", "unknown"]}"#,
        );
        assert_eq!(view.statuses(), b"HAH");
        view.apply("inventory", r#"{"change": "sold", "status": "sold", "ticket_ids": ["t0"]}"#);
        view.apply("queue", r#"{"admitted": 1}"#);
        assert_eq!(view.statuses(), b"SAH");
    }
}
