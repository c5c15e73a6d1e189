//! The SQLite writer: one thread owns the one connection that writes, and runs the write
//! commands in batches — group commit.
//!
//! A command is a closure over the connection. The thread takes every command waiting (at
//! most [`MAX_BATCH_COMMANDS`]), opens one transaction, runs each command inside a savepoint of
//! its own — a command that fails is rolled back alone, the others keep their work — commits
//! once, and only then answers every caller. There is no timer: a batch is whatever arrived
//! while the previous one was committing, so a lone command commits at once and a rush shares
//! one `fsync` among many. With `synchronous = FULL` the commit returns only once the WAL is
//! on disk: an answer never reaches a caller before its batch is durable, and if the commit
//! fails, every command of the batch gets the error and nothing of it happened.
//!
//! Running whole commands on the thread that owns the connection costs no hand-off per
//! statement (the price of an async driver over SQLite): a statement is a function call, and
//! prepared statements are cached on the connection.

use super::db;
use crate::commit::{Answer, CommitCounters, MAX_BATCH_COMMANDS, MAX_QUEUED_COMMANDS, repeat};
use marquee_domain::{Error, Result};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the writer waits for a lock held by another connection (a backup, another process).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept per connection (every statement of the write path fits).
const STATEMENT_CACHE_CAPACITY: usize = 128;

/// A write waiting for the writer: run it in the open transaction, or refuse it unrun.
trait Command: Send {
    /// Runs inside its own savepoint; returns how to answer the caller after the commit.
    fn run(self: Box<Self>, connection: &Connection) -> Answer;
    /// Answers without running (the batch could not begin).
    fn refuse(self: Box<Self>, error: Error);
    /// Whether it must run alone, outside any transaction (see [`Writer::exclusive`]).
    fn exclusive(&self) -> bool {
        false
    }
}

/// Work that runs alone on the connection, no transaction open.
struct Exclusive<T, F> {
    work: F,
    answer: tokio::sync::oneshot::Sender<Result<T>>,
}

impl<T, F> Command for Exclusive<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    fn run(self: Box<Self>, connection: &Connection) -> Answer {
        let Exclusive { work, answer } = *self;
        let outcome = catch_unwind(AssertUnwindSafe(|| work(connection)))
            .unwrap_or_else(|_| Err(Error::internal("exclusive work on the writer panicked")));
        let _ = answer.send(outcome);
        Box::new(|_| {})
    }

    fn refuse(self: Box<Self>, error: Error) {
        let _ = self.answer.send(Err(error));
    }

    fn exclusive(&self) -> bool {
        true
    }
}

/// A command with its caller's answer channel, and the caller's tracing span (the request's):
/// what the command logs is logged as part of that request.
struct Pending<T, F> {
    command: F,
    answer: tokio::sync::oneshot::Sender<Result<T>>,
    span: tracing::Span,
}

impl<T, F> Command for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    fn run(self: Box<Self>, connection: &Connection) -> Answer {
        let Pending { command, answer, span } = *self;
        let _in_request = span.enter();
        let started = std::time::Instant::now();
        let outcome = in_savepoint(connection, command);
        tracing::debug!(
            target: "marquee_store::sqlite",
            elapsed_us = started.elapsed().as_micros() as u64,
            ok = outcome.is_ok(),
            "write command"
        );
        Box::new(move |commit_failure: Option<&Error>| {
            let _ = answer.send(match commit_failure {
                None => outcome,
                Some(error) => Err(repeat(error)),
            });
        })
    }

    fn refuse(self: Box<Self>, error: Error) {
        let _ = self.answer.send(Err(error));
    }
}

/// The writer thread's handle: send it commands, read its counters.
pub struct Writer {
    commands: Mutex<Option<SyncSender<Box<dyn Command>>>>,
    stats: Arc<CommitCounters>,
    /// Fault injection: the next commit fails as a failed `fsync` would (tests only).
    fail_next_commit: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Opens a connection to the database file as Marquee uses them: WAL (readers never wait for
/// the writer), `synchronous = FULL` (a commit is on disk when it returns), foreign keys.
pub fn open(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path).map_err(db)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    connection
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(db)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(connection)
}

impl Writer {
    /// Starts the writer thread on a new connection to the database at `path`.
    pub fn start(path: &Path) -> Result<Self> {
        let connection = open(path)?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(MAX_QUEUED_COMMANDS);
        let stats = Arc::new(CommitCounters::default());
        let fail_next_commit = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn({
                let (stats, fail_next_commit) = (stats.clone(), fail_next_commit.clone());
                move || run(connection, receiver, &stats, &fail_next_commit)
            })
            .map_err(|error| Error::internal(format!("cannot start the SQLite writer: {error}")))?;
        Ok(Self {
            commands: Mutex::new(Some(sender)),
            stats,
            fail_next_commit,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `command` in the next batch and answers once that batch is committed. An error
    /// from the command rolls back its own work only; an error of the commit fails it too.
    pub async fn write<T, F>(&self, command: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T>>();
        self.send(Box::new(Pending { command, answer, span: tracing::Span::current() }))?;
        answered.await.map_err(|_| Error::internal("the SQLite writer dropped a command"))?
    }

    /// Runs `work` on the writer's connection outside any batch, with no transaction open
    /// (for work that manages its own, such as migrations).
    pub async fn exclusive<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Box<dyn Command> = Box::new(Exclusive { work, answer });
        self.send(job)?;
        answered.await.map_err(|_| Error::internal("the SQLite writer dropped a command"))?
    }

    fn send(&self, command: Box<dyn Command>) -> Result<()> {
        let sent = match self.commands.lock().unwrap_or_else(|poison| poison.into_inner()).as_ref() {
            Some(sender) => sender.try_send(command),
            None => return Err(Error::DatabaseUnavailable("the database is closed".into())),
        };
        match sent {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Error::Contention),
            Err(TrySendError::Disconnected(_)) => {
                Err(Error::DatabaseUnavailable("the SQLite writer has stopped".into()))
            }
        }
    }

    pub fn stats(&self) -> &CommitCounters {
        &self.stats
    }

    /// Makes the next commit fail (the batch is rolled back, every caller gets an error), as a
    /// failed `fsync` would. For tests of what a failed commit does.
    pub fn fail_next_commit(&self) {
        self.fail_next_commit.store(true, Ordering::SeqCst);
    }

    /// Stops taking commands, lets the writer finish what it has, and waits for it.
    pub async fn close(&self) {
        drop(self.commands.lock().unwrap_or_else(|poison| poison.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|poison| poison.into_inner()).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Runs `command` inside a savepoint: kept if it succeeds, rolled back if it fails or panics.
fn in_savepoint<T>(connection: &Connection, command: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    connection.execute_batch("SAVEPOINT command").map_err(db)?;
    let outcome = catch_unwind(AssertUnwindSafe(|| command(connection)))
        .unwrap_or_else(|_| Err(Error::internal("a write command panicked")));
    let end = if outcome.is_ok() { "RELEASE command" } else { "ROLLBACK TO command; RELEASE command" };
    connection.execute_batch(end).map_err(db)?;
    outcome
}

/// The writer thread: batches until every sender is gone.
fn run(
    connection: Connection,
    commands: Receiver<Box<dyn Command>>,
    stats: &CommitCounters,
    fail_next_commit: &AtomicBool,
) {
    let mut next = None;
    while let Some(first) = next.take().or_else(|| commands.recv().ok()) {
        if first.exclusive() {
            first.run(&connection)(None);
            continue;
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_COMMANDS {
            match commands.try_recv() {
                // Exclusive work waits for the batch, then runs alone.
                Ok(command) if command.exclusive() => {
                    next = Some(command);
                    break;
                }
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let size = batch.len();
        if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE").map_err(db) {
            // Nothing ran: every caller learns why.
            for command in batch {
                command.refuse(repeat(&error));
            }
            continue;
        }
        let answers: Vec<Answer> = batch.into_iter().map(|command| command.run(&connection)).collect();
        let committed = if fail_next_commit.swap(false, Ordering::SeqCst) {
            let _ = connection.execute_batch("ROLLBACK");
            Err(Error::internal("injected commit failure: the batch was not written"))
        } else {
            connection.execute_batch("COMMIT").map_err(db).inspect_err(|_| {
                let _ = connection.execute_batch("ROLLBACK");
            })
        };
        match &committed {
            Ok(()) => stats.record_commit(size),
            Err(error) => {
                stats.record_failure();
                tracing::error!(%error, commands = size, "SQLite commit failed; every command of the batch failed");
            }
        }
        for answer in answers {
            answer(committed.as_ref().err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    /// A writer on a fresh file with one table `t (n)`.
    fn writer() -> (Writer, std::path::PathBuf) {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let folder = std::env::temp_dir().join(format!(
            "marquee-writer-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join("w.db");
        open(&path).unwrap().execute_batch("CREATE TABLE t (n INTEGER NOT NULL)").unwrap();
        (Writer::start(&path).unwrap(), path)
    }

    fn numbers(path: &Path) -> Vec<i64> {
        let connection = open(path).unwrap();
        let mut select = connection.prepare("SELECT n FROM t ORDER BY n").unwrap();
        select.query_map([], |row| row.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
    }

    fn insert(n: i64) -> impl FnOnce(&Connection) -> Result<()> + Send + 'static {
        move |connection| {
            connection.execute("INSERT INTO t (n) VALUES (?1)", params![n]).map(drop).map_err(db)
        }
    }

    /// Holds the writer thread for half a second, so that the commands sent meanwhile (50 ms in)
    /// form one batch, even on a loaded machine.
    async fn with_the_writer_busy<T>(writer: &Writer, then: impl Future<Output = T>) -> T {
        let busy = writer.write(|_| {
            std::thread::sleep(Duration::from_millis(500));
            Ok(())
        });
        let (_, result) = tokio::join!(busy, async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            then.await
        });
        result
    }

    #[tokio::test]
    async fn commands_waiting_together_share_one_commit_and_each_failure_stays_its_own() {
        let (writer, path) = writer();
        let outcomes = with_the_writer_busy(&writer, async {
            tokio::join!(
                writer.write(insert(1)),
                writer.write(|connection: &Connection| {
                    insert(2)(connection)?;
                    Err::<(), _>(Error::Conflict("the second command fails after writing".into()))
                }),
                writer.write(|_: &Connection| -> Result<()> { panic!("a command that panics") }),
                writer.write(insert(3)),
            )
        })
        .await;
        assert!(outcomes.0.is_ok() && outcomes.3.is_ok());
        assert!(matches!(outcomes.1, Err(Error::Conflict(_))));
        assert!(matches!(outcomes.2, Err(Error::Internal(_))));
        assert_eq!(numbers(&path), [1, 3], "the failed command's write was rolled back alone");
        let stats = writer.stats();
        assert_eq!(stats.commits.load(Ordering::Relaxed), 2, "the busy command, then one batch of four");
        assert_eq!(stats.commands.load(Ordering::Relaxed), 5);
        assert_eq!(stats.batch_sizes[2].load(Ordering::Relaxed), 1, "one batch of 3 to 4 commands");
        writer.close().await;
    }

    #[tokio::test]
    async fn a_failed_commit_answers_every_command_of_its_batch_with_an_error_and_writes_nothing() {
        let (writer, path) = writer();
        writer.write(insert(1)).await.unwrap();
        // Exclusive work holds the writer (it commits nothing itself) and arms the failure as it
        // ends: the two writes sent meanwhile form the next batch, whose commit fails.
        let arm = writer.fail_next_commit.clone();
        let hold_then_arm = writer.exclusive(move |_| {
            std::thread::sleep(Duration::from_millis(500));
            arm.store(true, Ordering::SeqCst);
            Ok(())
        });
        let (held, (second, third)) = tokio::join!(hold_then_arm, async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tokio::join!(writer.write(insert(2)), writer.write(insert(3)))
        });
        held.unwrap();
        assert!(second.is_err() && third.is_err(), "no answer says done for an undurable write");
        assert_eq!(numbers(&path), [1]);
        assert_eq!(writer.stats().failed_commits.load(Ordering::Relaxed), 1);
        // The next batch starts afresh.
        writer.write(insert(4)).await.unwrap();
        assert_eq!(numbers(&path), [1, 4]);
        writer.close().await;
        assert!(matches!(writer.write(insert(6)).await, Err(Error::DatabaseUnavailable(_))));
    }
}
