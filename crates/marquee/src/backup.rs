//! `marquee backup PATH` and `marquee restore BACKUP DATABASE`: online copies of an SQLite
//! database, and putting one back.
//!
//! A backup is `VACUUM INTO`: SQLite writes a consistent snapshot of the database (one read
//! transaction, so the server keeps selling meanwhile; in WAL mode readers never wait for the
//! writer) into a new, compact file. It is written beside the target under a temporary name,
//! checked, and only then linked to the target name, which is never overwritten.
//!
//! A restore checks that the file is an intact Marquee database whose migrations this binary
//! knows (it may be older: the missing ones run at the next start), and copies it to a path
//! where no database (and no stale `-wal`/`-shm` journal) exists. The server must be stopped,
//! or pointed at the new path.
//!
//! PostgreSQL has its own tools for this (`pg_dump`/`pg_restore`); these commands say so.

use anyhow::{Context, anyhow, bail, ensure};
use marquee_store::sqlite::migrate;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a backup waits for a lock (only a checkpoint or a schema change takes one).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes a consistent copy of the SQLite database at `database_url` to `target`.
pub fn backup(database_url: &str, target: &Path) -> anyhow::Result<()> {
    let source = sqlite_path(database_url)?;
    ensure!(source.is_file(), "no SQLite database at {}", source.display());
    ensure!(!target.exists(), "{} exists; a backup never overwrites a file", target.display());
    let partial = partial_name(target);
    let result = (|| {
        let connection = open(&source)?;
        check_marquee_database(&connection, &source)?;
        let partial_text = partial.to_str().context("the backup path is not valid UTF-8")?;
        connection
            .execute("VACUUM INTO ?1", [partial_text])
            .with_context(|| format!("VACUUM INTO {}", partial.display()))?;
        close(connection)?;
        let copy = open(&partial)?;
        check_integrity(&copy, &partial)?;
        let migrations = check_marquee_database(&copy, &partial)?;
        close(copy)?;
        // A link, not a rename: it fails rather than replace a file created meanwhile.
        std::fs::hard_link(&partial, target)
            .with_context(|| format!("cannot create {}", target.display()))?;
        anyhow::Ok(migrations)
    })();
    let _ = std::fs::remove_file(&partial);
    let migrations = result?;
    println!(
        "backup of {} written to {} ({} bytes, schema version {migrations})",
        source.display(),
        target.display(),
        std::fs::metadata(target).map(|m| m.len()).unwrap_or_default()
    );
    Ok(())
}

/// Copies a backup made by [`backup`] to `database`, a path where no database exists.
pub fn restore(backup: &Path, database: &Path) -> anyhow::Result<()> {
    ensure!(backup.is_file(), "no backup at {}", backup.display());
    for existing in [database.to_path_buf(), journal(database, "-wal"), journal(database, "-shm")] {
        ensure!(
            !existing.exists(),
            "{} exists; stop the server and move the old database (with its -wal and -shm files) \
             aside first, or restore to a new path",
            existing.display()
        );
    }
    let connection = open(backup)?;
    check_integrity(&connection, backup)?;
    let migrations = check_marquee_database(&connection, backup)?;
    close(connection)?;

    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let partial = partial_name(database);
    let result = (|| {
        std::fs::copy(backup, &partial).with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::hard_link(&partial, database)
            .with_context(|| format!("cannot create {}", database.display()))
    })();
    let _ = std::fs::remove_file(&partial);
    result?;
    println!(
        "restored {} to {} (schema version {migrations}); start the server with \
         --database-url sqlite://{}",
        backup.display(),
        database.display(),
        database.display()
    );
    Ok(())
}

/// The message for a PostgreSQL database: its own tools make consistent online copies.
pub fn postgres_instructions(command: &str) -> String {
    format!(
        "marquee {command} copies SQLite databases only. For PostgreSQL use its own tools, e.g.\n  \
         pg_dump --format=custom --file=marquee.dump \"$MARQUEE_DATABASE_URL\"\n  \
         pg_restore --dbname=postgres://USER@HOST/NEW_DB --no-owner --exit-on-error marquee.dump\n\
         (see the operations guide)"
    )
}

/// Whether a database URL names PostgreSQL.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres:") || url.starts_with("postgresql:")
}

/// The file of a `sqlite://PATH` URL.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
        bail!("the database URL must be sqlite://PATH");
    };
    let path = rest.split('?').next().unwrap_or_default();
    ensure!(!path.is_empty() && path != ":memory:", "an in-memory database cannot be backed up");
    Ok(PathBuf::from(path))
}

/// Opens an existing database read-only (never creates one).
fn open(path: &Path) -> anyhow::Result<Connection> {
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_context(|| format!("cannot open {}", path.display()))?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    Ok(connection)
}

fn close(connection: Connection) -> anyhow::Result<()> {
    connection.close().map_err(|(_, error)| error).context("closing the database")
}

fn check_integrity(connection: &Connection, path: &Path) -> anyhow::Result<()> {
    let verdict: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .with_context(|| format!("{} is not an SQLite database", path.display()))?;
    ensure!(verdict == "ok", "{} is damaged: {verdict}", path.display());
    Ok(())
}

/// Checks that every migration the database ran is one of ours, unchanged; returns the latest.
fn check_marquee_database(connection: &Connection, path: &Path) -> anyhow::Result<i64> {
    migrate::check_history(connection).map_err(|problem| anyhow!("{} {problem}", path.display()))
}

/// `PATH.partial-PID` beside `path`: same folder, so linking it into place is cheap and atomic.
fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}

/// `PATH-wal` or `PATH-shm`: SQLite's journal files of the database at `path`.
fn journal(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_file_of_an_sqlite_url() {
        assert_eq!(sqlite_path("sqlite://data/marquee.db").unwrap(), PathBuf::from("data/marquee.db"));
        assert_eq!(sqlite_path("sqlite:///var/m.db?mode=rwc").unwrap(), PathBuf::from("/var/m.db"));
        assert!(sqlite_path("sqlite::memory:").is_err());
        assert!(sqlite_path("mysql://x").is_err());
        assert!(is_postgres("postgres://u@h/db") && is_postgres("postgresql://u@h/db"));
    }

    #[test]
    fn journal_and_partial_names_sit_beside_the_database() {
        let db = Path::new("/srv/marquee.db");
        assert_eq!(journal(db, "-wal"), PathBuf::from("/srv/marquee.db-wal"));
        assert!(partial_name(db).starts_with("/srv"));
        assert!(partial_name(db).to_string_lossy().contains("marquee.db.partial-"));
    }
}
