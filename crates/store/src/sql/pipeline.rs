//! The PostgreSQL commit pipeline: group commit for the writes that touch inventory.
//!
//! A node runs a few *lanes* side by side (`--database-commit-pipelines`, 2 by default), each
//! one task with a queue of its own. A lane takes every command waiting in its queue (at most
//! [`MAX_BATCH_COMMANDS`]), opens one transaction on a connection of the write pool, runs each
//! command inside a savepoint of its own — a command that fails is rolled back alone, the
//! others keep their work — commits once, and only then answers every caller. No timer: a
//! batch is whatever arrived while the lane's previous batch was committing. With
//! `synchronous_commit = on` the COMMIT returns once the WAL is flushed, so no caller hears of
//! a write before its batch is durable; if the COMMIT fails, every command of the batch gets
//! the error and nothing of it happened.
//!
//! # Batches side by side
//! A batch keeps every row lock its commands took until its COMMIT, so a command that waited
//! on a row of another batch would wait for that batch whole, and two batches that each
//! wanted a row of the other would meet in PostgreSQL's deadlock detector. So commands do not
//! wait on each other's rows:
//! - a hold locks the places it wants `SKIP LOCKED` (migration 0008): a place another batch is
//!   taking reads as taken at that moment;
//! - the one other row a hold locks is its buyer's, and a node sends every command of one
//!   buyer to the same lane ([`Pipeline::run_for`]), so only the same buyer's commands on
//!   two nodes can wait on each other;
//! - the rest (beginning a payment, confirming, releasing, recording an attempt) lock rows of
//!   one buyer's hold, order or attempt; refunds do not run in the pipeline.
//!
//! Batches of different lanes, and of different nodes, are just concurrent transactions: the
//! database stays the only arbiter of who gets a seat. Should two batches still meet in a
//! deadlock, PostgreSQL ends one *statement* with a deadlock error, which rolls back only that
//! command's savepoint: it answers `Contention` and its caller runs it again in a later batch,
//! while the rest of both batches commits.
//!
//! The payment provider is never called inside a batch: commands are database work only.

use super::db;
use crate::CommitStats;
use crate::commit::{Answer, CommitCounters, MAX_BATCH_COMMANDS, MAX_QUEUED_COMMANDS, repeat};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use marquee_domain::{Error, Result};
use sqlx::{Acquire, PgConnection, PgPool};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

/// A write waiting for the pipeline.
trait Command: Send {
    /// Runs inside the open transaction (in its own savepoint, see [`Pipeline::run`]).
    fn run<'c>(self: Box<Self>, connection: &'c mut PgConnection) -> BoxFuture<'c, (bool, Answer)>;
    /// Answers without running (the batch could not begin).
    fn refuse(self: Box<Self>, error: Error);
}

/// A command's work: database statements on the batch's connection.
pub type Work<T> = Box<dyn for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send>;

/// Boxes a closure as [`Work`] (and helps the compiler see its lifetimes).
pub fn work<T, F>(f: F) -> Work<T>
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
{
    Box::new(f)
}

struct Pending<T> {
    work: Work<T>,
    answer: oneshot::Sender<Result<T>>,
    /// The caller's (the request's) span: what the command logs belongs to that request.
    span: tracing::Span,
}

impl<T: Send + 'static> Command for Pending<T> {
    fn run<'c>(self: Box<Self>, connection: &'c mut PgConnection) -> BoxFuture<'c, (bool, Answer)> {
        let Pending { work, answer, span } = *self;
        Box::pin(async move {
            // A panic, whether in building the command's future or in running it, is that
            // command's error; the pipeline goes on.
            let panicked = || Error::internal("a write command panicked");
            let outcome =
                match std::panic::catch_unwind(AssertUnwindSafe(|| span.in_scope(|| work(connection)))) {
                    Ok(future) => AssertUnwindSafe(tracing::Instrument::instrument(future, span))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|_| Err(panicked())),
                    Err(_) => Err(panicked()),
                };
            let ok = outcome.is_ok();
            let answer: Answer = Box::new(move |commit_failure: Option<&Error>| {
                let _ = answer.send(match commit_failure {
                    None => outcome,
                    Some(error) => Err(repeat(error)),
                });
            });
            (ok, answer)
        })
    }

    fn refuse(self: Box<Self>, error: Error) {
        let _ = self.answer.send(Err(error));
    }
}

/// The handle callers submit commands through.
pub struct Pipeline {
    /// One queue per lane.
    lanes: Vec<mpsc::Sender<Box<dyn Command>>>,
    stats: Arc<CommitCounters>,
    fail_next_commit: Arc<AtomicBool>,
}

/// Most lanes a node may run: each holds a connection of the write pool while it commits.
pub const MAX_LANES: u16 = 16;

impl Pipeline {
    /// Starts `lanes` lane tasks (at least one, at most [`MAX_LANES`]) on the current runtime;
    /// they end when the handle is dropped.
    pub fn start(pool: PgPool, lanes: usize) -> Self {
        let stats = Arc::new(CommitCounters::default());
        let fail_next_commit = Arc::new(AtomicBool::new(false));
        let lanes = (0..lanes.clamp(1, usize::from(MAX_LANES)))
            .map(|_| {
                let (sender, receiver) = mpsc::channel(MAX_QUEUED_COMMANDS);
                tokio::spawn(run(pool.clone(), receiver, stats.clone(), fail_next_commit.clone()));
                sender
            })
            .collect();
        Self { lanes, stats, fail_next_commit }
    }

    /// Runs `work` in the next batch of the lane with the shortest queue, and answers once that
    /// batch has committed.
    pub async fn run<T: Send + 'static>(&self, work: Work<T>) -> Result<T> {
        let lane = self.lanes.iter().max_by_key(|lane| lane.capacity());
        Self::submit(lane.ok_or_else(|| Error::internal("the commit pipeline has no lane"))?, work).await
    }

    /// Runs `work` in the next batch of the lane that takes every command of `buyer`, so
    /// that one buyer's commands never wait on each other's row locks across lanes.
    pub async fn run_for<T: Send + 'static>(&self, buyer: &str, work: Work<T>) -> Result<T> {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(buyer);
        let lane =
            usize::try_from(hash % self.lanes.len().max(1) as u64).ok().and_then(|n| self.lanes.get(n));
        Self::submit(lane.ok_or_else(|| Error::internal("the commit pipeline has no lane"))?, work).await
    }

    async fn submit<T: Send + 'static>(lane: &mpsc::Sender<Box<dyn Command>>, work: Work<T>) -> Result<T> {
        let (answer, answered) = oneshot::channel();
        let command = Box::new(Pending { work, answer, span: tracing::Span::current() });
        lane.try_send(command).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => Error::Contention,
            mpsc::error::TrySendError::Closed(_) => {
                Error::DatabaseUnavailable("the commit pipeline has stopped".into())
            }
        })?;
        answered.await.map_err(|_| Error::internal("the commit pipeline dropped a command"))?
    }

    /// Fault injection: the next batch's COMMIT, of whichever lane commits first, fails (it is
    /// rolled back instead), as a failed WAL flush would end it.
    pub fn fail_next_commit(&self) {
        self.fail_next_commit.store(true, Ordering::SeqCst);
    }

    pub fn stats(&self) -> CommitStats {
        self.stats.snapshot()
    }
}

async fn run(
    pool: PgPool,
    mut receiver: mpsc::Receiver<Box<dyn Command>>,
    stats: Arc<CommitCounters>,
    fail_next_commit: Arc<AtomicBool>,
) {
    let mut batch: Vec<Box<dyn Command>> = Vec::with_capacity(MAX_BATCH_COMMANDS);
    while receiver.recv_many(&mut batch, MAX_BATCH_COMMANDS).await > 0 {
        let size = batch.len();
        let mut answers = Vec::with_capacity(size);
        let outcome = run_batch(&pool, batch.drain(..), &mut answers, &fail_next_commit).await;
        match &outcome {
            Ok(()) => stats.record_commit(size),
            Err(error) => {
                stats.record_failure();
                tracing::warn!(%error, commands = size, "a commit batch failed: every command of it gets the error");
            }
        }
        for answer in answers {
            answer(outcome.as_ref().err());
        }
    }
}

/// Runs one batch: `Err` if it could not begin or commit (then nothing of it happened and
/// every command gets that error; commands never run are refused here).
async fn run_batch(
    pool: &PgPool,
    commands: impl Iterator<Item = Box<dyn Command>>,
    answers: &mut Vec<Answer>,
    fail_next_commit: &AtomicBool,
) -> Result<()> {
    let mut commands = commands.peekable();
    let mut connection = match pool.acquire().await {
        Ok(connection) => connection,
        Err(error) => return refuse_rest(commands, db(error)),
    };
    let mut tx = match connection.begin().await {
        Ok(tx) => tx,
        Err(error) => return refuse_rest(commands, db(error)),
    };
    while let Some(command) = commands.next() {
        // A savepoint per command: its failure rolls back its own work only.
        let mut savepoint = match tx.begin().await {
            Ok(savepoint) => savepoint,
            Err(error) => {
                let error = db(error);
                command.refuse(repeat(&error));
                return refuse_rest(commands, error);
            }
        };
        let (ok, answer) = command.run(&mut savepoint).await;
        answers.push(answer);
        let ended = if ok { savepoint.commit().await } else { savepoint.rollback().await };
        if let Err(error) = ended {
            // The connection is gone or the transaction is broken: nothing of the batch holds.
            return refuse_rest(commands, db(error));
        }
    }
    if fail_next_commit.swap(false, Ordering::SeqCst) {
        let _ = tx.rollback().await;
        return Err(Error::DatabaseUnavailable("injected: the commit failed".into()));
    }
    tx.commit().await.map_err(db)
}

fn refuse_rest(commands: impl Iterator<Item = Box<dyn Command>>, error: Error) -> Result<()> {
    for command in commands {
        command.refuse(repeat(&error));
    }
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;

    fn insert(key: &'static str) -> Work<()> {
        work(move |tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO settings (key, value) VALUES ($1, 'x')")
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                Ok(())
            })
        })
    }

    /// A command that fails after writing, or panics, is rolled back alone: the commands
    /// around it (whichever batch they land in) commit, and the pipeline keeps serving.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_or_panicking_command_is_rolled_back_alone() {
        let Some(database) = TestDatabase::postgres().await else { return };
        let store = database.store().await;
        let pool = PgPool::connect(&database.url).await.unwrap();
        let pipeline = Pipeline::start(pool.clone(), 2);
        let fails = work(|tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO settings (key, value) VALUES ('failed', 'x')")
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                Err::<(), _>(Error::Contention)
            })
        });
        let panics = work(|_tx| -> BoxFuture<'_, Result<()>> { panic!("a bug building a command") });
        let panics_later: Work<()> = work(|_tx| Box::pin(async move { panic!("a bug running a command") }));
        let (before, failed, panicked, panicked_later, after) = tokio::join!(
            pipeline.run(insert("before")),
            pipeline.run(fails),
            pipeline.run(panics),
            pipeline.run(panics_later),
            pipeline.run(insert("after"))
        );
        assert!(matches!(panicked_later, Err(Error::Internal(_))), "{panicked_later:?}");
        assert!(before.is_ok() && after.is_ok(), "{before:?} {after:?}");
        assert!(matches!(failed, Err(Error::Contention)), "{failed:?}");
        assert!(matches!(panicked, Err(Error::Internal(_))), "{panicked:?}");
        pipeline.run(insert("later")).await.unwrap();
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM settings WHERE value = 'x' ORDER BY key")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(keys, ["after", "before", "later"]);
        assert_eq!(pipeline.stats().failed_commits, 0);
        pool.close().await;
        store.close().await;
        database.drop_database().await;
    }
}
