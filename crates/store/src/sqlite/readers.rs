//! The SQLite readers: a fixed set of read-only connections (WAL: they never wait for the
//! writer, nor it for them). A read takes one for a whole query function, run on tokio's
//! blocking pool: one hand-off per read, however many statements it runs.

use super::db;
use marquee_domain::{Error, Result};
use rusqlite::Connection;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct Readers {
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection: a read waits here for a free one.
    permits: Semaphore,
    size: usize,
    /// How long a read waits for a connection before the database counts as unavailable.
    acquire_timeout: Duration,
}

impl Readers {
    pub fn open(path: &Path, size: usize, acquire_timeout: Duration) -> Result<Self> {
        let size = size.max(1);
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            let connection = super::writer::open(path)?;
            connection.execute_batch("PRAGMA query_only = ON").map_err(db)?;
            idle.push(connection);
        }
        Ok(Self { idle: Mutex::new(idle), permits: Semaphore::new(size), size, acquire_timeout })
    }

    /// Runs `query` on a free reader.
    pub async fn read<T, F>(&self, query: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.acquire())
            .await
            .map_err(|_| Error::DatabaseUnavailable("no SQLite reader became free in time".into()))?
            .map_err(|_| Error::DatabaseUnavailable("the database is closed".into()))?;
        let connection = self
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .pop()
            .ok_or_else(|| Error::internal("a reader permit without a reader"))?;
        // What the read logs belongs to the caller's request.
        let span = tracing::Span::current();
        let (connection, answer) = tokio::task::spawn_blocking(move || {
            let _in_request = span.enter();
            let started = std::time::Instant::now();
            // A panicking query must not take its connection with it.
            let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| query(&connection)))
                .unwrap_or_else(|_| Err(Error::internal("a read panicked")));
            tracing::debug!(target: "marquee_store::sqlite", elapsed_us = started.elapsed().as_micros() as u64, "read");
            (connection, answer)
        })
        .await
        .map_err(|_| Error::internal("the reader's thread was lost"))?;
        self.idle.lock().unwrap_or_else(|poison| poison.into_inner()).push(connection);
        drop(permit);
        answer
    }

    /// (open, idle, most) connections.
    pub fn stats(&self) -> (u32, u32, u32) {
        let size = self.size as u32;
        (size, self.permits.available_permits() as u32, size)
    }

    /// Refuses further reads and closes the idle connections.
    pub fn close(&self) {
        self.permits.close();
        self.idle.lock().unwrap_or_else(|poison| poison.into_inner()).clear();
    }
}
