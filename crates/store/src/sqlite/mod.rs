//! The SQLite engine, on rusqlite: every write — holds, payments, their confirmation,
//! releases, the sweeper, idempotency keys (`keys`), administration — runs as a command of
//! the [`writer::Writer`], one thread owning the write connection, in group-committed batches;
//! reads run on a fixed set of reader connections ([`readers`]). The commands are plain
//! synchronous functions over their connection: SQLite's own locking model (one writer, WAL
//! readers) needs no row locks, so none appear.

mod admin;
pub mod inventory;
mod keys;
mod live;
pub mod migrate;
mod orders;
mod payments;
pub mod readers;
pub(crate) mod rows;
mod store;
pub(crate) mod tickets;
pub mod writer;

use crate::StoreOptions;
use marquee_domain::{Error, Result};
use readers::Readers;
use rusqlite::{Connection, ErrorCode};
use std::path::{Path, PathBuf};
use writer::Writer;

/// The SQLite store: one writer thread (every write is one of its commands) and a fixed set
/// of readers. See the module documentation.
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Readers,
}

impl SqliteStore {
    /// Opens (creating the file and its folder if needed) the database of a `sqlite://PATH`
    /// URL, with `options.max_connections` readers. Migrations are applied by [`migrate`](Self::migrate).
    pub fn open(url: &str, options: &StoreOptions) -> Result<Self> {
        if options.replica_url.is_some() {
            return Err(Error::invalid("a read replica needs PostgreSQL"));
        }
        let path = PathBuf::from(path_of(url)?);
        if let Some(folder) = path.parent().filter(|folder| !folder.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|error| {
                Error::DatabaseUnavailable(format!("cannot create {}: {error}", folder.display()))
            })?;
        }
        // The writer creates the file; readers open what it made.
        let writer = Writer::start(&path)?;
        let readers = Readers::open(&path, options.max_connections as usize, options.acquire_timeout)?;
        Ok(Self { path, writer, readers })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `command` as one of the writer's commands (see [`writer`]).
    async fn write<T, F>(&self, command: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.writer.write(command).await
    }

    /// Runs `query` on a reader.
    async fn read<T, F>(&self, query: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.readers.read(query).await
    }

    /// Fault injection: the writer's next commit fails as a failed `fsync` would.
    pub fn fail_next_commit(&self) {
        self.writer.fail_next_commit();
    }
}

/// The file path of a `sqlite://PATH?…` (or `sqlite:PATH`) URL; an in-memory database cannot
/// be shared by a writer and readers.
pub fn path_of(url: &str) -> Result<&str> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(Error::invalid(
            "SQLite needs a file path: sqlite://PATH (an in-memory database cannot have readers and a writer)",
        ));
    }
    Ok(path)
}

/// Maps rusqlite's errors into the domain's error story.
pub(crate) fn db(error: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(failure, _) = &error {
        match failure.code {
            // Another connection (a backup, a transitional sqlx writer) holds the lock past
            // the busy timeout: the caller may retry.
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => return Error::Contention,
            ErrorCode::CannotOpen | ErrorCode::NotADatabase | ErrorCode::ReadOnly => {
                return Error::DatabaseUnavailable(error.to_string());
            }
            _ => {}
        }
    }
    Error::internal(error)
}
