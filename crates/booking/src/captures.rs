//! Capture marks, written lazily: once the provider took a confirmed order's money, the
//! buyer is answered at once, and the attempt's `captured` mark joins the marks of other
//! purchases in one later write. Nothing depends on the mark being prompt: until it lands
//! the attempt reads `authorized` with its order confirmed, and if this node dies first the
//! reconciler asks the provider, learns the capture, and marks it.

use marquee_domain::clock::Clock;
use marquee_store::PaymentStore;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, watch};

/// Most marks written by one store call.
const MAX_MARKS_PER_WRITE: usize = 1_024;

/// The lazy writer of capture marks (one task per node).
pub struct CaptureMarks {
    /// The writer's queue, with the sequence number of the last mark queued (numbered and
    /// sent under one lock, so the queue holds them in order).
    queue: Mutex<(u64, mpsc::UnboundedSender<(u64, String)>)>,
    /// The sequence number up to which marks were written (or given up on).
    written: watch::Receiver<u64>,
}

impl CaptureMarks {
    /// Starts the writer task (on the current Tokio runtime).
    pub fn start(store: Arc<dyn PaymentStore>, clock: Arc<dyn Clock>) -> Self {
        let (queue, mut marks) = mpsc::unbounded_channel::<(u64, String)>();
        let (done, written) = watch::channel(0);
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while marks.recv_many(&mut batch, MAX_MARKS_PER_WRITE).await > 0 {
                let last = batch.last().map(|(sequence, _)| *sequence).unwrap_or_default();
                let ids: Vec<String> = batch.drain(..).map(|(_, id)| id).collect();
                if let Err(error) = store.mark_captured(&ids, clock.now()).await {
                    // Left to the reconciler, which learns the capture from the provider.
                    tracing::warn!(%error, marks = ids.len(), "could not mark payments captured");
                }
                done.send_replace(last);
            }
        });
        Self { queue: Mutex::new((0, queue)), written }
    }

    /// Queues the mark of a captured attempt.
    pub fn mark(&self, attempt_id: String) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.0 += 1;
        let sequence = queue.0;
        if queue.1.send((sequence, attempt_id)).is_err() {
            tracing::warn!("the capture mark writer has stopped; the reconciler will mark the payment");
        }
    }

    /// Waits until every mark queued before the call is written (or given up on).
    pub async fn flush(&self) {
        let target = self.queue.lock().unwrap_or_else(PoisonError::into_inner).0;
        let mut written = self.written.clone();
        // An error means the writer stopped: nothing more will be written.
        let _ = written.wait_for(|&done| done >= target).await;
    }
}
