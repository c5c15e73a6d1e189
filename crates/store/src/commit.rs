//! What both backends' group commit share: its bounds, its counters and how a failed batch
//! answers each of its callers.

use marquee_domain::Error;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most commands in one transaction: bounds how long the first caller of a batch waits.
pub const MAX_BATCH_COMMANDS: usize = 256;
/// Most commands waiting for the writer; beyond, a write is refused as contention (503) rather
/// than queued without bound.
pub const MAX_QUEUED_COMMANDS: usize = 8_192;
/// Upper bounds of the batch-size histogram's buckets (the last one takes the rest).
pub const BATCH_SIZE_BUCKETS: [usize; 9] = [1, 2, 4, 8, 16, 32, 64, 128, MAX_BATCH_COMMANDS];

/// What a command's caller is told once its batch's commit has returned (`Err` if it failed).
pub type Answer = Box<dyn FnOnce(Option<&Error>) + Send>;

/// The same error again, for each caller of a failed batch.
pub fn repeat(error: &Error) -> Error {
    match error {
        Error::Contention => Error::Contention,
        Error::DatabaseUnavailable(reason) => Error::DatabaseUnavailable(reason.clone()),
        other => Error::internal(other.to_string()),
    }
}

/// Counters of a writer since it started, read when metrics are scraped.
#[derive(Debug, Default)]
pub struct CommitCounters {
    /// Transactions committed (each one durable flush of the log).
    pub commits: AtomicU64,
    /// Commands run in committed transactions.
    pub commands: AtomicU64,
    /// Transactions whose commit failed: every command of theirs got an error.
    pub failed_commits: AtomicU64,
    /// Committed batches by size, one counter per [`BATCH_SIZE_BUCKETS`] entry.
    pub batch_sizes: [AtomicU64; BATCH_SIZE_BUCKETS.len()],
}

impl CommitCounters {
    /// A snapshot, with each bucket's range of sizes.
    pub fn snapshot(&self) -> crate::CommitStats {
        let mut low = 1;
        let batches = BATCH_SIZE_BUCKETS
            .iter()
            .zip(&self.batch_sizes)
            .map(|(&high, count)| {
                let bucket = (low, high, count.load(Ordering::Relaxed));
                low = high + 1;
                bucket
            })
            .collect();
        crate::CommitStats {
            commits: self.commits.load(Ordering::Relaxed),
            commands: self.commands.load(Ordering::Relaxed),
            failed_commits: self.failed_commits.load(Ordering::Relaxed),
            batches,
        }
    }

    /// A batch of `size` commands committed.
    pub fn record_commit(&self, size: usize) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commands.fetch_add(size as u64, Ordering::Relaxed);
        let bucket = BATCH_SIZE_BUCKETS
            .iter()
            .position(|&bound| size <= bound)
            .unwrap_or(BATCH_SIZE_BUCKETS.len() - 1);
        self.batch_sizes[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// A batch's commit failed.
    pub fn record_failure(&self) {
        self.failed_commits.fetch_add(1, Ordering::Relaxed);
    }
}
