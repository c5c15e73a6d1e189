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
use config::{Config, DatabaseArgs};
use marquee_domain::clock::{Clock, SystemClock};
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(name = "marquee", version, about = "Ticket booking for movies and concerts")]
struct Cli {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The service's settings when no command is named (`marquee --listen …`).
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP service (the default).
    Serve(Box<Config>),
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
    Backup {
        /// Where the copy is written: a path where no file exists yet.
        path: std::path::PathBuf,
    },
    /// Check a backup and copy it to DATABASE, a path with no database yet; then start the
    /// server with --database-url sqlite://DATABASE.
    Restore {
        /// The backup to check and restore (made by `marquee backup`).
        backup: std::path::PathBuf,
        /// The new database file: a path where no file exists yet.
        database: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or_else(|| Command::Serve(Box::new(cli.config)));
    config::init_logs(cli.database.log_json, matches!(command, Command::Serve(_)));
    let database = &cli.database;
    // Copies work on the database file itself, before anything connects (or migrates).
    match &command {
        Command::Backup { path } => {
            if backup::is_postgres(&database.database_url) {
                eprintln!("{}", backup::postgres_instructions("backup"));
                std::process::exit(2);
            }
            return backup::backup(&database.database_url, path);
        }
        Command::Restore { backup, database } => return backup::restore(backup, database),
        _ => {}
    }
    let replica_url = match &command {
        Command::Serve(config) => config.database_replica_url.clone(),
        _ => None,
    };
    let store = config::connect(database, replica_url).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match command {
        Command::Migrate => println!("Migrations applied."),
        Command::SeedDemo { force } => {
            if !force && marquee_api::demo::is_loaded(store.as_ref()).await? {
                println!("The demo catalog is already loaded; nothing changed (--force loads another copy).");
            } else {
                let summary = marquee_api::demo::load(store.as_ref(), clock.now()).await?;
                println!("Demo catalog loaded: {summary}.");
            }
        }
        Command::Admin(command) => admin::run(command, store.as_ref(), clock.now()).await?,
        Command::Serve(config) => serve::run(*config, store, clock).await?,
        Command::Backup { .. } | Command::Restore { .. } => unreachable!("handled before connecting"),
    }
    Ok(())
}
