//! The `marquee` binary: configuration, wiring and the command line.
//!
//! `marquee` (or `marquee serve`) runs the service; `marquee migrate` applies migrations;
//! `marquee seed-demo` loads the demo catalog; `marquee admin create --email …` creates the
//! first admin; `marquee backup PATH` copies a running SQLite database and `marquee restore`
//! puts a copy back. Every flag also reads a `MARQUEE_*` variable.
//!
//! # Layout
//! - [`config`]: flags, environment variables and their validation.
//! - [`serve`]: the HTTP(S) server, the sweeper and graceful shutdown.
//! - [`admin`]: administration from the command line.
//! - [`backup`]: online SQLite backups and their restore.

mod admin;
mod backup;
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
    /// Load the demo catalog (movies, concerts, venues, showtimes) and exit. Does nothing if
    /// it is loaded already.
    SeedDemo {
        /// Load another copy even if the demo catalog is there already.
        #[arg(long)]
        force: bool,
    },
    /// Administration from the command line.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Write a consistent copy of the (SQLite) database to PATH while the server may run.
    /// Never overwrites a file. For PostgreSQL, use pg_dump.
    Backup { path: std::path::PathBuf },
    /// Check a backup and copy it to DATABASE, a path with no database yet; then start the
    /// server with --database-url sqlite://DATABASE.
    Restore { backup: std::path::PathBuf, database: std::path::PathBuf },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    config::init_logs(cli.config.log_json);
    // Copies work on the database file itself, before anything connects (or migrates).
    match &cli.command {
        Some(Command::Backup { path }) => {
            if backup::is_postgres(&cli.config.database_url) {
                eprintln!("{}", backup::postgres_instructions("backup"));
                std::process::exit(2);
            }
            return backup::backup(&cli.config.database_url, path).await;
        }
        Some(Command::Restore { backup, database }) => return backup::restore(backup, database).await,
        _ => {}
    }
    let store = config::connect(&cli.config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => tracing::info!("migrations applied"),
        Command::SeedDemo { force } => {
            if !force && marquee_api::demo::is_loaded(store.as_ref()).await? {
                println!("The demo catalog is already loaded; nothing changed (--force loads another copy).");
            } else {
                let summary = marquee_api::demo::load(store.as_ref(), clock.now()).await?;
                println!("Demo catalog loaded: {summary}.");
            }
        }
        Command::Admin(command) => admin::run(command, store.as_ref(), clock.now()).await?,
        Command::Serve => serve::run(cli.config, store, clock).await?,
        Command::Backup { .. } | Command::Restore { .. } => unreachable!("handled before connecting"),
    }
    Ok(())
}
