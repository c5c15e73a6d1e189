//! SQLite migrations: the files of `migrations/sqlite`, embedded in the binary and applied in
//! order, each in its own transaction, on the writer's connection.
//!
//! What was applied is recorded in `_sqlx_migrations`, the table (and checksum, SHA-384 of the
//! file) sqlx's migrator used for these same files: a database made by an earlier Marquee is
//! recognised as it is, and `/readyz` can tell which migrations a database lacks.

use super::db;
use marquee_domain::{Error, Result};
use rusqlite::{Connection, params};
use sha2::{Digest, Sha384};

/// (version, file name, SQL), in order.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "0001_initial", include_str!("../../migrations/sqlite/0001_initial.sql")),
    (2, "0002_admin_and_security", include_str!("../../migrations/sqlite/0002_admin_and_security.sql")),
    (
        3,
        "0003_payments_refunds_checkin",
        include_str!("../../migrations/sqlite/0003_payments_refunds_checkin.sql"),
    ),
    (
        4,
        "0004_live_inventory_and_waiting_rooms",
        include_str!("../../migrations/sqlite/0004_live_inventory_and_waiting_rooms.sql"),
    ),
    (5, "0005_sales_by_showtime", include_str!("../../migrations/sqlite/0005_sales_by_showtime.sql")),
    (6, "0006_sale_functions", include_str!("../../migrations/sqlite/0006_sale_functions.sql")),
    (
        7,
        "0007_idempotency_claimed_by_the_write",
        include_str!("../../migrations/sqlite/0007_idempotency_claimed_by_the_write.sql"),
    ),
    (8, "0008_holds_never_wait", include_str!("../../migrations/sqlite/0008_holds_never_wait.sql")),
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// Applies every migration the database lacks. A migration applied with other content than
/// this binary's is refused (the database was changed by hand or by a different build).
pub fn run(connection: &Connection) -> Result<()> {
    connection.execute_batch(CREATE_TABLE).map_err(db)?;
    for &(version, name, sql) in MIGRATIONS {
        let applied: Option<(Vec<u8>, bool)> = connection
            .query_row(
                "SELECT checksum, success FROM _sqlx_migrations WHERE version = ?1",
                [version],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional_row()?;
        match applied {
            Some((checksum, true)) if checksum == Sha384::digest(sql).as_slice() => continue,
            Some((_, true)) => {
                return Err(Error::internal(format!(
                    "migration {name} was applied with other content than this build's"
                )));
            }
            Some((_, false)) => {
                return Err(Error::internal(format!("migration {name} failed earlier; restore a backup")));
            }
            None => apply(connection, version, name, sql)?,
        }
    }
    Ok(())
}

fn apply(connection: &Connection, version: i64, name: &str, sql: &str) -> Result<()> {
    let started = std::time::Instant::now();
    let description = name.split_once('_').map_or(name, |(_, rest)| rest).replace('_', " ");
    connection.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
    let applied = connection.execute_batch(sql).and_then(|()| {
        connection.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?1, ?2, TRUE, ?3, ?4)",
            params![
                version,
                description,
                Sha384::digest(sql).as_slice(),
                started.elapsed().as_nanos() as i64
            ],
        )
    });
    match applied {
        Ok(_) => connection.execute_batch("COMMIT").map_err(db),
        Err(error) => {
            let _ = connection.execute_batch("ROLLBACK");
            Err(Error::internal(format!("migration {name} failed: {error}")))
        }
    }
}

/// The versions of this binary's migrations that the database has not applied successfully.
pub fn unapplied(connection: &Connection) -> Result<Vec<i64>> {
    let exists: bool = connection
        .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')", [], |row| {
            row.get(0)
        })
        .map_err(db)?;
    let applied: Vec<i64> = if exists {
        let mut select =
            connection.prepare("SELECT version FROM _sqlx_migrations WHERE success").map_err(db)?;
        select.query_map([], |row| row.get(0)).and_then(Iterator::collect).map_err(db)?
    } else {
        Vec::new()
    };
    Ok(MIGRATIONS
        .iter()
        .map(|(version, _, _)| *version)
        .filter(|version| !applied.contains(version))
        .collect())
}

/// Why a database's migration history is not one this binary can run on.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForeignHistory {
    #[error("is not a Marquee database (no migration history)")]
    NoHistory,
    #[error("is not a Marquee database (no migrations ran)")]
    NothingRan,
    #[error("did not finish migration {0}")]
    Unfinished(i64),
    #[error("ran migration {0} differently from this version of Marquee")]
    Changed(i64),
    #[error("ran migration {0}, unknown to this (older?) version of Marquee")]
    Unknown(i64),
}

/// Checks that every migration the database ran is one of this binary's, unchanged, and
/// returns the latest version: a copy (`marquee backup`, `marquee restore`) this binary can
/// run on, maybe older (the missing migrations run at the next start).
pub fn check_history(connection: &Connection) -> std::result::Result<i64, ForeignHistory> {
    let rows: Vec<(i64, Vec<u8>, bool)> = connection
        .prepare("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
        .and_then(|mut select| {
            select.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?.collect()
        })
        .map_err(|_| ForeignHistory::NoHistory)?;
    let mut latest = None;
    for (version, checksum, success) in rows {
        if !success {
            return Err(ForeignHistory::Unfinished(version));
        }
        match MIGRATIONS.iter().find(|(known, _, _)| *known == version) {
            Some((_, _, sql)) if Sha384::digest(sql).as_slice() == checksum.as_slice() => {
                latest = Some(version)
            }
            Some(_) => return Err(ForeignHistory::Changed(version)),
            None => return Err(ForeignHistory::Unknown(version)),
        }
    }
    latest.ok_or(ForeignHistory::NothingRan)
}

/// `QueryReturnedNoRows` as `None`, other errors mapped.
trait OptionalRow<T> {
    fn optional_row(self) -> Result<Option<T>>;
}

impl<T> OptionalRow<T> for rusqlite::Result<T> {
    fn optional_row(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(error) => Err(db(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The migrations in a backend's folder, by name, in order.
    fn migration_files(backend: &str) -> Vec<String> {
        let folder = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().trim_end_matches(".sql").to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    #[test]
    fn both_backends_number_and_name_each_change_alike() {
        assert_eq!(migration_files("sqlite"), migration_files("postgres"));
    }

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        let files = migration_files("sqlite");
        let embedded: Vec<&str> = MIGRATIONS.iter().map(|(_, name, _)| *name).collect();
        assert_eq!(files, embedded);
        for (index, (version, name, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, index as i64 + 1);
            assert!(name.starts_with(&format!("{version:04}_")));
        }
    }

    #[test]
    fn migrating_twice_changes_nothing_and_a_fresh_database_lacks_them_all() {
        let connection = Connection::open_in_memory().unwrap();
        assert_eq!(unapplied(&connection).unwrap(), [1, 2, 3, 4, 5, 6, 7, 8]);
        run(&connection).unwrap();
        run(&connection).unwrap();
        assert!(unapplied(&connection).unwrap().is_empty());
        connection.execute("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 2", []).unwrap();
        assert!(run(&connection).is_err(), "a migration changed after it was applied is refused");
    }

    #[test]
    fn a_copy_is_runnable_only_with_this_binarys_migrations() {
        let connection = Connection::open_in_memory().unwrap();
        assert_eq!(check_history(&connection), Err(ForeignHistory::NoHistory));
        connection.execute_batch(CREATE_TABLE).unwrap();
        assert_eq!(check_history(&connection), Err(ForeignHistory::NothingRan));
        run(&connection).unwrap();
        let latest = MIGRATIONS.last().unwrap().0;
        assert_eq!(check_history(&connection), Ok(latest));
        // An older copy (its newest migrations not run yet) is still ours.
        connection.execute("DELETE FROM _sqlx_migrations WHERE version = ?1", [latest]).unwrap();
        assert_eq!(check_history(&connection), Ok(latest - 1));
        connection.execute("UPDATE _sqlx_migrations SET success = FALSE WHERE version = 3", []).unwrap();
        assert_eq!(check_history(&connection), Err(ForeignHistory::Unfinished(3)));
        connection
            .execute("UPDATE _sqlx_migrations SET success = TRUE, checksum = x'00' WHERE version = 3", [])
            .unwrap();
        assert_eq!(check_history(&connection), Err(ForeignHistory::Changed(3)));
        connection.execute("DELETE FROM _sqlx_migrations WHERE version = 3", []).unwrap();
        connection
            .execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (99, 'from a newer Marquee', TRUE, x'00', 0)",
                [],
            )
            .unwrap();
        assert_eq!(check_history(&connection), Err(ForeignHistory::Unknown(99)));
    }
}
