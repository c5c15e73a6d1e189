//! The `marquee` binary: configuration, wiring and the command line.
//!
//! `marquee` (or `marquee serve`) runs the service; `marquee migrate` applies migrations;
//! `marquee seed-demo` loads the demo catalog; `marquee admin create --email …` creates the
//! first admin. Every flag also reads a `MARQUEE_*` variable.
//!
//! # Layout
//! - [`config`]: flags, environment variables and their validation.
//! - [`serve`]: the HTTP(S) server, the sweeper and graceful shutdown.
//! - [`admin`]: administration from the command line.

mod admin;
mod config;
mod serve;

use clap::{Parser, Subcommand};
use config::Config;
use marquee_domain::clock::{Clock, SystemClock};
use std::sync::Arc;

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
    /// Administration from the command line.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    config::init_logs(cli.config.log_json);
    let store = config::connect(&cli.config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => tracing::info!("migrations applied"),
        Command::SeedDemo => {
            let summary = marquee_api::demo::load(store.as_ref(), clock.now()).await?;
            tracing::info!(?summary, "demo catalog loaded");
        }
        Command::Admin(command) => admin::run(command, store.as_ref(), clock.now()).await?,
        Command::Serve => serve::run(cli.config, store, clock).await?,
    }
    Ok(())
}
