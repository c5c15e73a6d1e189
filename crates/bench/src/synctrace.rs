//! The traced proof that no purchase is acknowledged before it is durable.
//!
//! A SIGKILL cannot prove an `fsync` (the page cache survives it), so this reads what the
//! kernel saw instead: `strace` of the server (its sockets, and on SQLite its syncs) and, on
//! PostgreSQL, of every database process (their syncs), all with absolute timestamps
//! (`strace -ff -ttt -T -o PREFIX`: one file per thread, so no call is split across lines).
//! See `scripts/trace-sync.sh`, which runs a short sale that way on both backends.
//!
//! The rule checked, for every write request the server acknowledged (a `2xx` answer to a
//! `POST` of a hold, an order or a seed-API purchase): some sync call *began after the request
//! was read* and *returned before the answer's first byte was written*. The batch that carried
//! the request's write can only have been committed after the request arrived, and its
//! commit's sync must have returned before the answer went out; an answer sent before its
//! batch's sync has no such call (unless an unrelated sync happened to fall in the same
//! window, which is why the script runs the sale on few connections).

use anyhow::Context;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Options {
    /// `strace -ff` output files (`PREFIX.TID`) of the server and, on PostgreSQL, of the
    /// database's processes. Folders are read whole.
    #[arg(required = true)]
    pub traces: Vec<PathBuf>,
}

/// The routes whose `2xx` answer acknowledges a write of inventory.
const ACKNOWLEDGED_ROUTES: [&str; 3] = ["POST /api/v1/holds", "POST /api/v1/orders", "POST /ticket/"];
const READS: [&str; 4] = ["read", "readv", "recvfrom", "recvmsg"];
const WRITES: [&str; 4] = ["write", "writev", "sendto", "sendmsg"];
const SYNCS: [&str; 2] = ["fsync", "fdatasync"];
/// What a request's first bytes start with (the bench and the browser send no others).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// One system call of a trace that matters here.
#[derive(Clone, Debug, PartialEq)]
enum Call {
    /// A read of a socket that began a request; `route` when its answer acknowledges a write.
    Request { file: String, fd: i64, at: f64, route: Option<String> },
    /// A write that began an answer; `success` for a `2xx`.
    Answer { file: String, fd: i64, at: f64, success: bool },
    /// A sync that succeeded, from its start to its return.
    Sync { start: f64, end: f64 },
}

/// The calls of one line of `strace -ttt -T` output (`1700000000.123456 name(args) = ret <dur>`).
fn parse_line(file: &str, line: &str) -> Option<Call> {
    let (at, rest) = line.split_once(' ')?;
    let at: f64 = at.parse().ok()?;
    let (name, args) = rest.split_once('(')?;
    if SYNCS.contains(&name) {
        // With `strace -y` the file is named (`fdatasync(7</…/pg_wal/0000…>)`): only a log's
        // sync (SQLite's `-wal`, PostgreSQL's `pg_wal`) makes a commit durable; a checkpoint's
        // sync of data files does not count.
        let (arguments, _) = args.rsplit_once(") = ")?;
        if let Some((_, file)) = arguments.split_once('<')
            && !file.contains("wal")
        {
            return None;
        }
        let (_, duration) = rest.rsplit_once(" = ")?;
        let (code, duration) = duration.split_once(' ')?;
        if code != "0" {
            return None;
        }
        let seconds: f64 = duration.trim().strip_prefix('<')?.strip_suffix('>')?.parse().ok()?;
        return Some(Call::Sync { start: at, end: at + seconds });
    }
    let is_read = READS.contains(&name);
    if !is_read && !WRITES.contains(&name) {
        return None;
    }
    // The descriptor, without what `strace -y` says of it (`12<TCP:[…]>`).
    let digits = args.find(|c: char| !c.is_ascii_digit()).unwrap_or(args.len());
    let fd: i64 = args[..digits].parse().ok()?;
    // The first string argument: what was read or written (strace shows its start).
    let (_, text) = args.split_once('"')?;
    if is_read {
        let (method, _) = text.split_once(' ')?;
        if !METHODS.contains(&method) {
            return None;
        }
        let route = ACKNOWLEDGED_ROUTES
            .iter()
            .find(|route| text.starts_with(*route))
            .map(|route| (*route).to_owned());
        Some(Call::Request { file: file.to_owned(), fd, at, route })
    } else {
        let status = text.strip_prefix("HTTP/1.1 ")?;
        Some(Call::Answer { file: file.to_owned(), fd, at, success: status.starts_with('2') })
    }
}

/// The process a `strace -ff` file belongs to: its name without the thread id (`server.1234` →
/// `server`), so that the threads of one process share their file descriptors.
fn process_of(path: &std::path::Path) -> String {
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    match name.rsplit_once('.') {
        Some((prefix, tid)) if tid.chars().all(|c| c.is_ascii_digit()) => prefix.to_owned(),
        _ => name,
    }
}

/// Checks the rule (see the module documentation) on parsed calls.
fn check(mut calls: Vec<Call>) -> Value {
    let at = |call: &Call| match call {
        Call::Request { at, .. } | Call::Answer { at, .. } => *at,
        Call::Sync { start, .. } => *start,
    };
    calls.sort_by(|a, b| at(a).total_cmp(&at(b)));
    // Syncs by start, with the earliest return among those starting at or after each one.
    let syncs: Vec<(f64, f64)> = calls
        .iter()
        .filter_map(|call| match call {
            Call::Sync { start, end } => Some((*start, *end)),
            _ => None,
        })
        .collect();
    let mut earliest_end = vec![f64::INFINITY; syncs.len() + 1];
    for index in (0..syncs.len()).rev() {
        earliest_end[index] = earliest_end[index + 1].min(syncs[index].1);
    }
    let mut open: HashMap<(String, i64), (f64, String)> = HashMap::new();
    let mut by_route: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let (mut acknowledged, mut violations, mut margins, mut only_own_sync) =
        (0u64, Vec::new(), Vec::new(), 0u64);
    for call in &calls {
        match call {
            // A connection's next answer is its latest request's (a client sends the next
            // request only after the answer: no pipelining).
            Call::Request { file, fd, at, route } => match route {
                Some(route) => {
                    open.insert((file.clone(), *fd), (*at, route.clone()));
                }
                None => {
                    open.remove(&(file.clone(), *fd));
                }
            },
            Call::Answer { file, fd, at, success } => {
                // Only successful answers to the routes that write count.
                let Some((asked, route)) = open.remove(&(file.clone(), *fd)) else { continue };
                if !success {
                    continue;
                }
                acknowledged += 1;
                by_route.entry(route.clone()).or_insert((0u64, 0u64)).0 += 1;
                let first = syncs.partition_point(|(start, _)| *start < asked);
                let durable = earliest_end[first];
                if durable <= *at {
                    margins.push(at - durable);
                    let in_window = syncs[first..]
                        .iter()
                        .take_while(|(start, _)| start < at)
                        .filter(|(_, end)| end <= at)
                        .count();
                    if in_window == 1 {
                        only_own_sync += 1;
                        by_route.entry(route.clone()).or_insert((0, 0)).1 += 1;
                    }
                } else {
                    violations.push(json!({
                        "route": route,
                        "fd": fd,
                        "asked_at": asked,
                        "answered_at": at,
                        "first_sync_after_asked_returned_at": durable.is_finite().then_some(durable),
                    }));
                }
            }
            Call::Sync { .. } => {}
        }
    }
    margins.sort_by(f64::total_cmp);
    let quantile = |q: f64| margins.get(((margins.len() as f64 - 1.0) * q).round() as usize).copied();
    json!({
        "scenario": "sync-trace",
        "ok": acknowledged > 0 && violations.is_empty(),
        "acknowledged_writes": acknowledged,
        "syncs": syncs.len(),
        "answered_after_a_sync": margins.len(),
        "answered_before_any_sync": violations.len(),
        // How sharp the check was: answers with exactly one sync between their request and
        // themselves. That sync was their own batch's; had such an answer been written before
        // it, its window would have held none.
        "answered_with_one_sync_in_window": only_own_sync,
        "by_route": by_route.iter().map(|(route, (acknowledged, one))| {
            (route.clone(), json!({ "acknowledged": acknowledged, "one_sync_in_window": one }))
        }).collect::<serde_json::Map<_, _>>(),
        "violations": violations.iter().take(20).collect::<Vec<_>>(),
        "ms_from_sync_return_to_answer": {
            "min": quantile(0.0).map(|s| s * 1e3),
            "p50": quantile(0.5).map(|s| s * 1e3),
            "max": quantile(1.0).map(|s| s * 1e3),
        },
    })
}

pub fn run(options: Options) -> anyhow::Result<Value> {
    let mut files = Vec::new();
    for path in options.traces {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).with_context(|| format!("reading {}", path.display()))? {
                files.push(entry?.path());
            }
        } else {
            files.push(path);
        }
    }
    let mut calls = Vec::new();
    for path in &files {
        let process = process_of(path);
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        calls.extend(text.lines().filter_map(|line| parse_line(&process, line)));
    }
    let mut result = check(calls);
    result["trace_files"] = json!(files.len());
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(lines: &[&str]) -> Vec<Call> {
        lines.iter().filter_map(|line| parse_line("server", line)).collect()
    }

    const HOLD: &str = r#"1700000000.100000 recvfrom(12, "POST /api/v1/holds HTTP/1.1\r\nhost: 127.0.0.1"..., 8192, 0, NULL, NULL) = 300 <0.000010>"#;
    const SYNC: &str = "1700000000.101000 fdatasync(7) = 0 <0.002000>";
    const ANSWER: &str = r#"1700000000.104000 writev(12, [{iov_base="HTTP/1.1 201 Created\r\ncontent-type: a"..., iov_len=120}], 1) = 400 <0.000020>"#;
    const EARLY_ANSWER: &str =
        r#"1700000000.102000 write(12, "HTTP/1.1 201 Created\r\ncontent-type: a"..., 400) = 400 <0.000020>"#;
    const REFUSED: &str =
        r#"1700000000.100500 write(12, "HTTP/1.1 409 Conflict\r\n"..., 90) = 90 <0.000010>"#;
    const POLL: &str =
        r#"1700000000.100600 read(12, "GET /api/v1/showtimes/s/availability"..., 8192) = 90 <0.000010>"#;
    const POLLED: &str = r#"1700000000.100700 write(12, "HTTP/1.1 200 OK\r\n"..., 90) = 90 <0.000010>"#;

    #[test]
    fn strace_lines_become_requests_answers_and_syncs() {
        let hold = Call::Request {
            file: "server".into(),
            fd: 12,
            at: 1_700_000_000.1,
            route: Some("POST /api/v1/holds".into()),
        };
        assert_eq!(parse_line("server", HOLD), Some(hold));
        let answer = Call::Answer { file: "server".into(), fd: 12, at: 1_700_000_000.104, success: true };
        assert_eq!(parse_line("server", ANSWER), Some(answer));
        let Some(Call::Sync { start, end }) = parse_line("pg", SYNC) else { panic!("a sync") };
        assert!((end - start - 0.002).abs() < 1e-6, "microseconds survive the f64 sum");
        // A failed sync proves nothing; other data written is neither a request nor an answer.
        assert_eq!(parse_line("pg", "1700000000.1 fsync(7) = -1 EIO (Input/output error) <0.000100>"), None);
        assert_eq!(
            parse_line("server", r#"1700000000.1 write(3, "{\"level\":\"warn\"}"..., 90) = 90 <0.00001>"#),
            None
        );
        assert!(matches!(parse_line("server", POLL), Some(Call::Request { route: None, .. })));
        assert!(matches!(parse_line("server", REFUSED), Some(Call::Answer { success: false, .. })));
        assert_eq!(process_of(std::path::Path::new("/tmp/t/postgres.4242")), "postgres");
        // Named files (`strace -y`): a log's sync counts, a data file's does not.
        let wal = "1700000000.1 fdatasync(5</pg/pg_wal/000000010000000000000001>) = 0 <0.001000>";
        assert!(matches!(parse_line("pg", wal), Some(Call::Sync { .. })));
        assert_eq!(parse_line("pg", "1700000000.1 fsync(9</pg/base/16384/2619>) = 0 <0.001000>"), None);
        let named = r#"1700000000.1 recvfrom(12<TCP:[127.0.0.1:80->127.0.0.1:9]>, "POST /api/v1/orders HTTP/1.1"..., 8192, 0, NULL, NULL) = 300 <0.00001>"#;
        assert!(matches!(parse_line("server", named), Some(Call::Request { fd: 12, route: Some(_), .. })));
    }

    #[test]
    fn an_answer_after_its_sync_passes_and_one_before_fails() {
        let good = check(calls(&[HOLD, SYNC, ANSWER]));
        assert_eq!((good["ok"].as_bool(), good["acknowledged_writes"].as_u64()), (Some(true), Some(1)));
        assert_eq!(good["answered_with_one_sync_in_window"].as_u64(), Some(1));
        // The same sale with the answer written while the sync was still running.
        let bad = check(calls(&[HOLD, SYNC, EARLY_ANSWER]));
        assert_eq!((bad["ok"].as_bool(), bad["answered_before_any_sync"].as_u64()), (Some(false), Some(1)));
        // A sync that began before the request arrived does not cover it.
        let stale = check(calls(&[SYNC, HOLD.replace("100000", "101500").as_str(), ANSWER]));
        assert_eq!(stale["ok"].as_bool(), Some(false));
        // A refused hold's request is not carried over to the connection's next (read) answer.
        let after_refusal = check(calls(&[HOLD, REFUSED, POLL, POLLED, SYNC]));
        assert_eq!(after_refusal["acknowledged_writes"].as_u64(), Some(0));
        // Nothing acknowledged proves nothing.
        assert_eq!(check(calls(&[SYNC])).get("ok").and_then(Value::as_bool), Some(false));
    }
}
