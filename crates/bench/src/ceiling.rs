//! The database ceilings: how many "purchases" the database alone can do, measured with the
//! same concurrency, so that Marquee's figures read as a fraction of what the storage allows.
//!
//! One purchase's writes, reduced to their core: a conditional update of a ticket row and the
//! insert of an order row, in one transaction.

use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use std::time::{Duration, Instant};

const ROWS: i64 = 2_000_000;

const PGBENCH_SCRIPT: &str = r"\set t random(1, 2000000)
BEGIN;
UPDATE bench_tickets SET status = 'sold', order_id = :client_id WHERE id = :t AND status = 'available';
INSERT INTO bench_orders (ticket_id, client_id, created_at) VALUES (:t, :client_id, now());
COMMIT;
";

pub async fn pgbench(url: &str, clients: usize, duration_secs: u64) -> anyhow::Result<Value> {
    let (admin_url, name) =
        url.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("the URL needs a database name"))?;
    let mut admin = PgConnection::connect(&format!("{admin_url}/postgres")).await?;
    let exists = sqlx::query(AssertSqlSafe(format!("SELECT 1 FROM pg_database WHERE datname = '{name}'")))
        .fetch_optional(&mut admin)
        .await?;
    if exists.is_none() {
        admin.execute(AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
    }
    let mut db = PgConnection::connect(url).await?;
    for statement in [
        "DROP TABLE IF EXISTS bench_orders".to_owned(),
        "DROP TABLE IF EXISTS bench_tickets".to_owned(),
        "CREATE TABLE bench_tickets (id BIGINT PRIMARY KEY, status TEXT NOT NULL, order_id BIGINT)".to_owned(),
        format!("INSERT INTO bench_tickets SELECT g, 'available', NULL FROM generate_series(1, {ROWS}) g"),
        "CREATE TABLE bench_orders (id BIGSERIAL PRIMARY KEY, ticket_id BIGINT NOT NULL, client_id BIGINT NOT NULL, created_at TIMESTAMPTZ NOT NULL)".to_owned(),
        "VACUUM ANALYZE bench_tickets".to_owned(),
    ] {
        db.execute(AssertSqlSafe(statement)).await?;
    }
    let script = std::env::temp_dir().join(format!("marquee-pgbench-{}.sql", std::process::id()));
    std::fs::write(&script, PGBENCH_SCRIPT)?;
    let output = tokio::process::Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &duration_secs.to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .await?;
    let _ = std::fs::remove_file(&script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "pgbench failed: {}", String::from_utf8_lossy(&output.stderr));
    let tps = stdout
        .lines()
        .find(|line| line.starts_with("tps = "))
        .and_then(|line| line.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|value| value.parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output: {stdout}"))?;
    let latency =
        stdout.lines().find(|line| line.starts_with("latency average")).unwrap_or_default().to_owned();
    Ok(json!({
        "scenario": "pgbench-ceiling",
        "clients": clients,
        "duration_s": duration_secs,
        "purchases_per_s": tps.round(),
        "latency": latency,
        "script": PGBENCH_SCRIPT,
    }))
}

pub async fn sqlite_loop(duration_secs: u64) -> anyhow::Result<Value> {
    tokio::task::spawn_blocking(move || sqlite_loop_blocking(duration_secs)).await?
}

/// One connection on this thread, as Marquee's SQLite writer runs (rusqlite, cached statements,
/// no hand-off per statement): the ceiling is the storage's, not a driver's.
fn sqlite_loop_blocking(duration_secs: u64) -> anyhow::Result<Value> {
    let dir = std::env::temp_dir().join(format!("marquee-sqlite-ceiling-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut db = rusqlite::Connection::open(dir.join("ceiling.db"))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    db.execute_batch(
        "CREATE TABLE bench_tickets (id INTEGER PRIMARY KEY, status TEXT NOT NULL, order_id INTEGER);
         CREATE TABLE bench_orders (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL, created_at INTEGER NOT NULL);
         WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 200000)
         INSERT INTO bench_tickets SELECT n, 'available', NULL FROM g;",
    )?;
    let deadline = Instant::now() + Duration::from_secs(duration_secs);
    let started = Instant::now();
    let mut purchases: i64 = 0;
    while Instant::now() < deadline {
        let ticket = purchases % 200_000 + 1;
        let tx = db.transaction()?;
        tx.prepare_cached(
            "UPDATE bench_tickets SET status = 'sold', order_id = ?1 WHERE id = ?2 AND status = 'available'",
        )?
        .execute((purchases, ticket))?;
        tx.prepare_cached("INSERT INTO bench_orders (ticket_id, created_at) VALUES (?1, ?2)")?
            .execute((ticket, purchases))?;
        tx.commit()?;
        purchases += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "scenario": "sqlite-ceiling",
        "duration_s": (elapsed * 100.0).round() / 100.0,
        "purchases_per_s": (purchases as f64 / elapsed).round(),
        "note": "one connection, WAL, synchronous=FULL, one purchase per transaction: one fsync per purchase",
    }))
}
