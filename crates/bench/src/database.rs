//! Reading a Marquee database back, for the checks that follow a sale: plain text rows and
//! counts, on each backend's own driver (rusqlite for SQLite, sqlx's PostgreSQL driver).

use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::path::PathBuf;

/// A database the bench reads (never writes).
pub enum Database {
    /// The file of a `sqlite://PATH?…` URL: opened read-only per query.
    Sqlite(PathBuf),
    Postgres(PgPool),
}

impl Database {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//").split('?').next().unwrap_or_default();
            anyhow::ensure!(!path.is_empty(), "a SQLite URL needs a file path: {url}");
            Ok(Database::Sqlite(PathBuf::from(path)))
        } else {
            Ok(Database::Postgres(PgPoolOptions::new().max_connections(2).connect(url).await?))
        }
    }

    /// Every row of `sql`, its first `columns` columns as text (all must be text).
    pub async fn text_rows(&self, sql: &'static str, columns: usize) -> anyhow::Result<Vec<Vec<String>>> {
        match self {
            Database::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let connection = open(&path)?;
                    let mut statement = connection.prepare(sql)?;
                    let rows = statement.query_map([], |row| {
                        (0..columns).map(|i| row.get::<_, String>(i)).collect::<Result<Vec<_>, _>>()
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await?
            }
            Database::Postgres(pool) => sqlx::query(sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| (0..columns).map(|i| Ok(row.try_get::<String, _>(i)?)).collect())
                .collect(),
        }
    }

    /// The one integer `sql` answers.
    pub async fn count(&self, sql: &'static str) -> anyhow::Result<i64> {
        match self {
            Database::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || Ok(open(&path)?.query_row(sql, [], |row| row.get(0))?))
                    .await?
            }
            Database::Postgres(pool) => Ok(sqlx::query(sql).fetch_one(pool).await?.try_get(0)?),
        }
    }

    pub async fn close(self) {
        if let Database::Postgres(pool) = self {
            pool.close().await;
        }
    }
}

fn open(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(connection)
}
