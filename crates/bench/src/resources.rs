//! What a sale costs the machine, read at its start and its end: CPU seconds of the server,
//! of the database and of the bench itself (from `/proc`), and durable syncs — `fsync` and
//! `fdatasync` calls machine-wide (perf's syscall tracepoints, when perf can count them) and,
//! on PostgreSQL, the WAL syncs the server reports itself (`pg_stat_wal`).
//!
//! Everything runs on the same two cores, so these say where the time of a purchase goes:
//! divided by the purchases, they are CPU seconds and syncs per purchase.

use serde_json::{Value, json};
use sqlx::Connection;
use std::process::Stdio;

/// Clock ticks per second of `/proc/<pid>/stat`'s times (`getconf CLK_TCK`, 100 on Linux).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;
/// The syscalls that make writes durable.
const SYNC_EVENTS: &str = "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync";

/// Where the database runs: in the server's process (SQLite), or as PostgreSQL's processes.
pub enum Database {
    Embedded,
    Postgres { url: String },
}

/// A reading of the counters at one moment.
#[derive(Clone, Copy, Default)]
struct Reading {
    server_cpu_s: f64,
    database_cpu_s: f64,
    bench_cpu_s: f64,
    wal_syncs: Option<i64>,
}

/// Counters started at the sale's opening.
pub struct Probe {
    server_pid: Option<u32>,
    database: Database,
    start: Reading,
    /// `perf stat` counting sync calls machine-wide until it is interrupted.
    perf: Option<tokio::process::Child>,
}

impl Probe {
    pub async fn start(server_pid: Option<u32>, database: Database) -> Self {
        let perf = tokio::process::Command::new("perf")
            .args(["stat", "-a", "-x", ",", "-e", SYNC_EVENTS])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .ok();
        let mut probe = Self { server_pid, database, start: Reading::default(), perf };
        probe.start = probe.read().await;
        probe
    }

    async fn read(&self) -> Reading {
        let database_cpu_s = match self.database {
            Database::Embedded => 0.0,
            Database::Postgres { .. } => {
                processes_named("postgres").iter().filter_map(|pid| cpu_seconds(*pid)).sum()
            }
        };
        let wal_syncs = match &self.database {
            Database::Embedded => None,
            Database::Postgres { url } => wal_syncs(url).await,
        };
        Reading {
            server_cpu_s: self.server_pid.and_then(cpu_seconds).unwrap_or(0.0),
            database_cpu_s,
            bench_cpu_s: cpu_seconds(std::process::id()).unwrap_or(0.0),
            wal_syncs,
        }
    }

    /// The costs since [`start`](Self::start), in total and per purchase.
    pub async fn finish(mut self, purchases: u64) -> Value {
        let end = self.read().await;
        let syncs = match self.perf.take() {
            Some(perf) => stop_perf(perf).await,
            None => None,
        };
        let per = |total: f64| {
            if purchases == 0 { Value::Null } else { json!(round(total / purchases as f64, 6)) }
        };
        let server = end.server_cpu_s - self.start.server_cpu_s;
        let database = end.database_cpu_s - self.start.database_cpu_s;
        let bench = end.bench_cpu_s - self.start.bench_cpu_s;
        let wal_syncs = end.wal_syncs.zip(self.start.wal_syncs).map(|(end, start)| end - start);
        json!({
            "cpu_s": {"server": round(server, 2), "database": round(database, 2), "bench": round(bench, 2)},
            "cpu_s_per_purchase": {"server": per(server), "database": per(database), "bench": per(bench)},
            "database_in_server_process": matches!(self.database, Database::Embedded),
            "syncs_machine_wide": syncs,
            "syncs_per_purchase": syncs.map_or(Value::Null, |syncs| per(syncs as f64)),
            "postgres_wal_syncs": wal_syncs,
            "postgres_wal_syncs_per_purchase": wal_syncs.map_or(Value::Null, |syncs| per(syncs as f64)),
        })
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// User and system CPU seconds a process (all its threads) has used.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15 (proc(5)).
    let ticks = |field: usize| fields.get(field - 3).and_then(|v| v.parse::<f64>().ok());
    Some((ticks(14)? + ticks(15)?) / CLOCK_TICKS_PER_SEC)
}

/// The ids of the processes whose command name is `name`.
fn processes_named(name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .collect()
}

/// PostgreSQL's count of WAL syncs (`pg_stat_wal.wal_sync`, cluster-wide).
async fn wal_syncs(url: &str) -> Option<i64> {
    let mut connection = sqlx::PgConnection::connect(url).await.ok()?;
    let syncs: i64 =
        sqlx::query_scalar("SELECT wal_sync FROM pg_stat_wal").fetch_one(&mut connection).await.ok()?;
    let _ = connection.close().await;
    Some(syncs)
}

/// Interrupts `perf stat` (as Ctrl-C would) and sums the sync calls it counted.
async fn stop_perf(perf: tokio::process::Child) -> Option<u64> {
    let pid = perf.id()?;
    std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().ok()?;
    let output = perf.wait_with_output().await.ok()?;
    let text = String::from_utf8_lossy(&output.stderr);
    // CSV lines: count,unit,event,...; "<not supported>" or "<not counted>" when perf cannot.
    let counts: Vec<u64> = text
        .lines()
        .filter(|line| line.contains("sys_enter_f"))
        .map(|line| line.split(',').next().and_then(|count| count.trim().parse().ok()))
        .collect::<Option<Vec<u64>>>()?;
    (!counts.is_empty()).then(|| counts.iter().sum())
}

/// The server's commit pipeline counters, from its `/metrics` (absent on a backend without
/// one): commits, commands, and committed batches by size.
#[derive(Clone, Default)]
pub struct CommitCounters {
    commits: f64,
    commands: f64,
    batches: std::collections::BTreeMap<String, f64>,
}

impl CommitCounters {
    /// Reads them from `{base}/metrics`; `None` when the server reports none.
    pub async fn read(client: &reqwest::Client, base: &str) -> Option<Self> {
        let text = client.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
        Self::parse(&text)
    }

    /// From a Prometheus text page.
    fn parse(text: &str) -> Option<Self> {
        let mut counters = Self::default();
        let mut found = false;
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            if series == "marquee_store_commits_total" {
                counters.commits = value;
                found = true;
            } else if series == "marquee_store_commands_total" {
                counters.commands = value;
            } else if let Some(size) = series
                .strip_prefix("marquee_store_commit_batches_total{batch_size=\"")
                .and_then(|rest| rest.strip_suffix("\"}"))
            {
                counters.batches.insert(size.to_owned(), value);
            }
        }
        found.then_some(counters)
    }

    /// What happened between `self` (at the start) and `end`, per purchase where it says so.
    pub fn since(&self, end: &Self, purchases: u64) -> Value {
        let commits = end.commits - self.commits;
        let commands = end.commands - self.commands;
        let batches: serde_json::Map<String, Value> = end
            .batches
            .iter()
            .map(|(size, count)| {
                (size.clone(), json!(count - self.batches.get(size).copied().unwrap_or(0.0)))
            })
            .collect();
        json!({
            "commits": commits,
            "commands": commands,
            "commands_per_commit": if commits > 0.0 { json!(round(commands / commits, 2)) } else { Value::Null },
            "commits_per_purchase": if purchases > 0 { json!(round(commits / purchases as f64, 3)) } else { Value::Null },
            "batches_by_size": batches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_counters_are_read_from_metrics_and_compared() {
        let page = |commits: u32, ones: u32| {
            format!(
                "# TYPE marquee_store_commits_total counter\nmarquee_store_commits_total {commits}\n\
                 marquee_store_commands_total {}\nmarquee_store_commit_batches_total{{batch_size=\"1\"}} {ones}\n",
                commits * 3
            )
        };
        let start = CommitCounters::parse(&page(10, 4)).unwrap();
        let end = CommitCounters::parse(&page(30, 5)).unwrap();
        let since = start.since(&end, 40);
        assert_eq!(since["commits"], 20.0);
        assert_eq!(since["commands_per_commit"], 3.0);
        assert_eq!(since["commits_per_purchase"], 0.5);
        assert_eq!(since["batches_by_size"]["1"], 1.0);
        assert!(CommitCounters::parse("marquee_db_pool_connections 3\n").is_none());
    }

    #[test]
    fn this_process_has_a_cpu_time_and_a_name() {
        let spent: u64 = (0..2_000_000u64).map(std::hint::black_box).sum();
        assert!(spent > 0);
        assert!(cpu_seconds(std::process::id()).is_some_and(|seconds| seconds >= 0.0));
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", std::process::id())).unwrap();
        assert!(processes_named(comm.trim()).contains(&std::process::id()));
    }
}
