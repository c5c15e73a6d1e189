//! The SQLite engine: the writes that touch inventory and money — holds, payments, their
//! confirmation, releases, the sweeper, idempotency keys — run as commands of the
//! [`writer::Writer`], one thread owning the write connection (rusqlite), in group-committed
//! batches. The commands ([`inventory`]) are plain synchronous functions over that connection:
//! SQLite's own locking model (one writer, WAL readers) needs no row locks, so none appear.
//!
//! The rest of the SQLite store (catalog, accounts, administration, reads) still runs on
//! sqlx's pool in [`crate::sql`]; its write transactions start `IMMEDIATE`, so they queue
//! behind the writer's batches for the file's write lock instead of failing on a stale
//! snapshot. Those move here in later steps, until sqlx is no longer needed for SQLite.

pub mod inventory;
pub mod writer;

use marquee_domain::Error;
use rusqlite::ErrorCode;

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
