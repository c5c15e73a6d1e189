//! `marquee-bench`: drives a running Marquee over HTTP and prints a human summary and a JSON
//! result.
//!
//! # Layout
//! - [`load`]: fixed-concurrency, fixed-duration request loops (`healthz`, `browse`).
//! - [`flash`]: the flash sale — thousands of buyers racing for one big showtime, with the
//!   invariant check at the end.
//! - [`crash`]: the crash test — the flash sale while the server is killed and restarted,
//!   then every acknowledged purchase and the payments checked in the database.
//! - [`ceiling`]: the database ceilings the sale is compared with (`pgbench` with one
//!   purchase's writes; the same statements in a tight loop on SQLite).
//! - [`soak`]: a long run at moderate load, memory and latency per minute.
//! - [`resources`]: CPU seconds of the server, the database and the bench, and durable syncs,
//!   per purchase.
//! - [`stream`]: a showtime's event stream followed as the seat-map page does.
//! - [`report`]: latency histograms (HDR), summaries, JSON, and an SVG plot of the sale.

mod ceiling;
mod crash;
mod database;
mod flash;
mod load;
mod report;
mod resources;
mod soak;
mod stream;
mod synctrace;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "marquee-bench",
    about = "Load scenarios for Marquee; results are meant to be read as ratios to their ceilings"
)]
struct Cli {
    /// The Marquee server to drive.
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    base: String,
    /// Also write the result as JSON here.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// The HTTP ceiling: the trivial `/healthz` route at the same concurrency.
    Healthz {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
    },
    /// Catalog reads: movie list, movie detail, showtime, seat map of a cinema showtime.
    Browse {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
    },
    /// The flash sale on the biggest showtime (the demo arena: 20,800 seats + 2,500 GA).
    FlashSale(flash::Options),
    /// The PostgreSQL ceiling: pgbench running one purchase's writes (conditional ticket
    /// update + order insert) at the given concurrency.
    Pgbench {
        /// A database the bench may fill (its bench_* tables are recreated).
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/marquee_bench_ceiling")]
        url: String,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
    },
    /// The soak: moderate, steady holds, releases and purchases for minutes, with memory and
    /// latency per minute, to tell growth from warm-up.
    Soak(soak::Options),
    /// The crash test: runs `marquee` itself, kills it with SIGKILL at random moments during a
    /// flash sale (restarting it each time), then checks every acknowledged purchase, the
    /// inventory and the payments in the database. Exits with 1 if anything is wrong.
    CrashSale(crash::Options),
    /// The SQLite ceiling: the same statements in a tight loop on one connection (WAL,
    /// synchronous=FULL, as Marquee runs it).
    SqliteLoop {
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
    },
    /// Reads `strace` of a short sale (the server's sockets, the database's syncs) and checks
    /// that every acknowledged hold and purchase was answered only after a sync that began
    /// after its request returned (see `scripts/trace-sync.sh`). Exits with 1 if one was not.
    SyncTrace(synctrace::Options),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // reqwest is built with rustls and no default provider (see marquee-payments).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = cli.base.trim_end_matches('/').to_owned();
    let result = match cli.scenario {
        Scenario::Healthz { concurrency, duration_secs } => {
            load::run("healthz", &base, vec![format!("{base}/healthz")], concurrency, duration_secs).await?
        }
        Scenario::Browse { concurrency, duration_secs } => {
            let urls = load::catalog_urls(&base).await?;
            load::run("browse", &base, urls, concurrency, duration_secs).await?
        }
        Scenario::FlashSale(options) => flash::run(&base, options).await?,
        Scenario::CrashSale(options) => crash::run(options).await?,
        Scenario::Soak(options) => soak::run(&base, options).await?,
        Scenario::Pgbench { url, clients, duration_secs } => {
            ceiling::pgbench(&url, clients, duration_secs).await?
        }
        Scenario::SqliteLoop { duration_secs } => ceiling::sqlite_loop(duration_secs).await?,
        Scenario::SyncTrace(options) => synctrace::run(options)?,
    };
    println!("{}", report::human(&result));
    if let Some(path) = cli.json {
        std::fs::write(&path, serde_json::to_string_pretty(&result)?)?;
        println!("JSON written to {}", path.display());
    }
    if result["ok"] == false {
        std::process::exit(1);
    }
    Ok(())
}
