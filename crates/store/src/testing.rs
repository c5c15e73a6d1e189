//! Fresh databases for tests, on either backend.
//!
//! Every test gets its own database: a new SQLite file in a temporary folder, or a new
//! PostgreSQL database created on the server named by `MARQUEE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Without a reachable PostgreSQL the PostgreSQL
//! half of a suite is skipped with a message, except under `CI=true`, where it must run.

use crate::{Backend, Store, StoreOptions};
use sqlx::{AssertSqlSafe, Connection};
use std::sync::atomic::{AtomicU64, Ordering};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Prefix of every test database, so that leftovers of crashed runs can be dropped.
pub const TEST_DATABASE_PREFIX: &str = "marquee_test_";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database that exists for one test.
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    /// Removed when the test calls [`TestDatabase::drop_database`] (or with the temp folder).
    postgres_name: Option<(String, String)>,
    _folder: Option<TempFolder>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> Self {
        let folder = TempFolder::new();
        let url = format!("sqlite://{}/marquee.db", folder.0.display());
        Self { backend: Backend::Sqlite, url, postgres_name: None, _folder: Some(folder) }
    }

    /// A new PostgreSQL database, or `None` (skip) when no server answers outside CI.
    pub async fn postgres() -> Option<Self> {
        let admin_url =
            std::env::var("MARQUEE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(error) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true but PostgreSQL at {admin_url} is unreachable: {error}")
            }
            Err(error) => {
                eprintln!("skipping the PostgreSQL half: {admin_url} is unreachable ({error})");
                return None;
            }
        };
        let name = format!(
            "{TEST_DATABASE_PREFIX}{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid_like()
        );
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let url = replace_database(&admin_url, &name);
        Some(Self { backend: Backend::Postgres, url, postgres_name: Some((admin_url, name)), _folder: None })
    }

    /// Connects and migrates.
    pub async fn store(&self) -> std::sync::Arc<dyn Store> {
        let store = crate::connect(&self.url, &Self::options()).await.expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        store
    }

    /// The options of [`store`](Self::store): a few connections.
    pub fn options() -> StoreOptions {
        StoreOptions { max_connections: 8, ..StoreOptions::default() }
    }

    /// Runs SQL on the database over a connection of its own (to break the schema, say).
    pub async fn execute_sql(&self, sql: &'static str) {
        match self.backend {
            Backend::Sqlite => {
                let path = crate::sqlite::path_of(&self.url).expect("a SQLite file").to_owned();
                tokio::task::spawn_blocking(move || {
                    let connection = rusqlite::Connection::open(path).expect("open the test database");
                    connection.busy_timeout(std::time::Duration::from_secs(10)).expect("a busy timeout");
                    connection.execute_batch(sql)
                })
                .await
                .expect("the SQL's thread")
                .expect("run the SQL");
            }
            Backend::Postgres => {
                let mut connection = sqlx::PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query(sql).execute(&mut connection).await.expect("run the SQL");
                connection.close().await.expect("close");
            }
        }
    }

    /// Every row of `sql` read over a connection of its own, its first `columns` columns as text.
    pub async fn text_rows(url: &str, sql: &'static str, columns: usize) -> Vec<Vec<String>> {
        if url.starts_with("sqlite:") {
            let path = crate::sqlite::path_of(url).expect("a SQLite file").to_owned();
            tokio::task::spawn_blocking(move || {
                let connection = rusqlite::Connection::open(path).expect("open the test database");
                let mut statement = connection.prepare(sql).expect("prepare");
                let rows = statement
                    .query_map([], |row| (0..columns).map(|i| row.get::<_, String>(i)).collect())
                    .expect("query");
                rows.collect::<Result<Vec<Vec<String>>, _>>().expect("text rows")
            })
            .await
            .expect("the SQL's thread")
        } else {
            use sqlx::Row;
            let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
            let rows = sqlx::query(sql).fetch_all(&mut connection).await.expect("query");
            let _ = connection.close().await;
            rows.iter()
                .map(|row| (0..columns).map(|i| row.try_get::<String, _>(i).expect("text")).collect())
                .collect()
        }
    }

    /// Drops a PostgreSQL test database (SQLite files go with their temporary folder).
    pub async fn drop_database(self) {
        self.drop_database_now().await;
    }

    /// Drops a PostgreSQL test database now, ending every connection to it (a database that
    /// went away under a running server); nothing on SQLite.
    pub async fn drop_database_now(&self) {
        if let Some((admin_url, name)) = &self.postgres_name
            && let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await
        {
            let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut admin)
                .await;
        }
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(slash) if slash > "postgres://".len() => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

fn uuid_like() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{:x}", nanos % 0xffff_ffff)
}

/// A temporary folder removed on drop.
struct TempFolder(std::path::PathBuf);

impl TempFolder {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "marquee-test-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid_like()
        ));
        std::fs::create_dir_all(&path).expect("create a temporary folder");
        Self(path)
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn swaps_the_database_name_of_a_url() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
