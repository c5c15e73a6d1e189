//! The `marquee` binary: configuration, wiring and the command line.
//!
//! `marquee` (or `marquee serve`) runs the service; `marquee migrate` applies migrations;
//! `marquee seed-demo` loads the demo catalog. Every flag also reads a `MARQUEE_*` variable.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use marquee_api::{ApiConfig, AppState};
use marquee_domain::clock::{Clock, SystemClock};
use marquee_domain::inventory::HoldPolicy;
use marquee_domain::payment::TestGateway;
use marquee_store::{SqlStore, Store, StoreOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(name = "marquee", version, about = "Ticket booking for movies and concerts")]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Load the demo catalog (movies, concerts, venues, showtimes) and exit.
    SeedDemo,
}

#[derive(Args, Debug)]
struct Config {
    /// Address to listen on.
    #[arg(long, env = "MARQUEE_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    listen: SocketAddr,
    /// `sqlite://PATH` (embedded, the default) or `postgres://USER@HOST/DB` (many nodes).
    #[arg(long, env = "MARQUEE_DATABASE_URL", default_value = "sqlite://data/marquee.db", global = true)]
    database_url: String,
    /// Database connections (PostgreSQL pool, or SQLite readers).
    #[arg(long, env = "MARQUEE_DATABASE_CONNECTIONS", default_value_t = 16, global = true)]
    database_connections: u32,
    /// Load the demo catalog when the database has no events.
    #[arg(long, env = "MARQUEE_DEMO_IF_EMPTY", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    demo_if_empty: bool,
    /// How long a hold keeps its tickets, in seconds.
    #[arg(long, env = "MARQUEE_HOLD_TTL_SECS", default_value_t = 600, global = true)]
    hold_ttl_secs: u32,
    /// Most tickets in one hold.
    #[arg(long, env = "MARQUEE_MAX_TICKETS_PER_HOLD", default_value_t = 10, global = true)]
    max_tickets_per_hold: u32,
    /// Most tickets of one showtime one user may hold at once.
    #[arg(long, env = "MARQUEE_MAX_HELD_TICKETS_PER_SHOWTIME", default_value_t = 20, global = true)]
    max_held_tickets_per_showtime: u32,
    /// How long a login token stays valid, in hours.
    #[arg(long, env = "MARQUEE_SESSION_TTL_HOURS", default_value_t = 168, global = true)]
    session_ttl_hours: u32,
    /// How often expired holds are tidied, in seconds.
    #[arg(long, env = "MARQUEE_SWEEP_INTERVAL_SECS", default_value_t = 30, global = true)]
    sweep_interval_secs: u64,
    /// Largest request body, in bytes.
    #[arg(long, env = "MARQUEE_MAX_BODY_BYTES", default_value_t = 65_536, global = true)]
    max_body_bytes: usize,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "MARQUEE_LOG_JSON", default_value_t = false, global = true)]
    log_json: bool,
}

impl Config {
    fn api(&self) -> anyhow::Result<ApiConfig> {
        anyhow::ensure!(self.hold_ttl_secs > 0, "--hold-ttl-secs must be positive");
        anyhow::ensure!(self.max_tickets_per_hold > 0, "--max-tickets-per-hold must be positive");
        Ok(ApiConfig {
            hold_policy: HoldPolicy {
                ttl: time::Duration::seconds(i64::from(self.hold_ttl_secs)),
                max_tickets: self.max_tickets_per_hold,
                max_held_per_user: self.max_held_tickets_per_showtime,
            },
            session_ttl: time::Duration::hours(i64::from(self.session_ttl_hours)),
            max_body_bytes: self.max_body_bytes,
            ..ApiConfig::default()
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logs(cli.config.log_json);
    let config = cli.config;
    let store = connect(&config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            tracing::info!("migrations applied");
        }
        Command::SeedDemo => {
            let summary = marquee_api::demo::load(store.as_ref(), clock.now()).await?;
            tracing::info!(?summary, "demo catalog loaded");
        }
        Command::Serve => serve(config, store, clock).await?,
    }
    Ok(())
}

fn init_logs(json: bool) {
    let filter = EnvFilter::try_from_env("MARQUEE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn connect(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let options = StoreOptions { max_connections: config.database_connections, ..StoreOptions::default() };
    let store = SqlStore::connect(&config.database_url, &options)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&config.database_url)))?;
    store.migrate().await?;
    tracing::info!(backend = store.backend().as_str(), "database ready");
    Ok(Arc::new(store))
}

async fn serve(config: Config, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    if config.demo_if_empty && store.catalog_is_empty().await? {
        let summary = marquee_api::demo::load(store.as_ref(), clock.now()).await?;
        tracing::info!(?summary, "empty database: demo catalog loaded");
    }
    // The built-in test gateway: `tok_visa` pays, `tok_chargeDeclined` is declined.
    let gateway = Arc::new(TestGateway::new());
    let state = AppState::new(store.clone(), gateway, clock.clone(), config.api()?);
    let sweeper = tokio::spawn(marquee_api::run_sweeper(
        store,
        clock,
        Duration::from_secs(config.sweep_interval_secs.max(1)),
    ));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(address = %listener.local_addr()?, "Marquee is serving; try GET /movie/list");
    axum::serve(listener, marquee_api::app(state)).with_graceful_shutdown(shutdown_signal()).await?;
    sweeper.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM: stop accepting, let in-flight requests finish.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
