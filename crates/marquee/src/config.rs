//! Configuration: flags and `MARQUEE_*` environment variables, with safe defaults for a local
//! run, checked at start.

use anyhow::Context;
use clap::Args;
use marquee_api::auth::SecureCookies;
use marquee_api::security::LoginThrottle;
use marquee_api::{ApiConfig, PaymentClient};
use marquee_domain::inventory::HoldPolicy;
use marquee_domain::payment::{PaymentGateway, TestGateway};
use marquee_payments::StripeGateway;
use marquee_store::{Store, StoreOptions};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PaymentProvider {
    /// The built-in test provider: `tok_visa` pays, `tok_chargeDeclined` is declined, ...
    Test,
    /// Stripe PaymentIntents with manual capture.
    Stripe,
}

/// Whether the browser session's cookies are `Secure` (`__Host-` prefixed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SecureCookiesFlag {
    /// Secure, except for plain HTTP to localhost / 127.0.0.1 / [::1] (the local quick start).
    Auto,
    Always,
    /// Never: only for a plain-HTTP test network.
    Never,
}

/// Where the database is and how to reach it: every command that opens it takes these,
/// before or after its name (`marquee --database-url … migrate` or `marquee migrate --database-url …`).
#[derive(Args, Debug)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (embedded, the default) or `postgres://USER@HOST/DB` (many nodes).
    #[arg(long, env = "MARQUEE_DATABASE_URL", default_value = "sqlite://data/marquee.db", global = true)]
    pub database_url: String,
    /// Database connections (PostgreSQL pool, or SQLite readers).
    #[arg(long, env = "MARQUEE_DATABASE_CONNECTIONS", default_value_t = 16, global = true)]
    pub database_connections: u32,
    /// How long a request waits for a database connection before it is answered 503
    /// (`database_unavailable`), in seconds: bounds how long requests hang while the database
    /// is down or saturated.
    #[arg(long, env = "MARQUEE_DATABASE_ACQUIRE_TIMEOUT_SECS", default_value_t = 5, global = true)]
    pub database_acquire_timeout_secs: u64,
    /// PostgreSQL: commit pipelines run side by side on this node, each committing its batch
    /// of holds, payments and confirmations on a connection of its own (SQLite has one writer).
    #[arg(long, env = "MARQUEE_DATABASE_COMMIT_PIPELINES", default_value_t = marquee_store::DEFAULT_COMMIT_PIPELINES,
          value_parser = clap::value_parser!(u16).range(1..=i64::from(marquee_store::MAX_COMMIT_PIPELINES)),
          global = true)]
    pub database_commit_pipelines: u16,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "MARQUEE_LOG_JSON", default_value_t = false, global = true)]
    pub log_json: bool,
}

/// The service's own settings: taken by `marquee` and `marquee serve` only, so that the other
/// commands' help shows just what they use.
#[derive(Args, Debug)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "MARQUEE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// PostgreSQL streaming replica (`postgres://…`) for the catalog listings, the reads that
    /// tolerate lag; seats, money and sessions always use the primary.
    #[arg(long, env = "MARQUEE_DATABASE_REPLICA_URL")]
    pub database_replica_url: Option<String>,
    /// Load the demo catalog when the database has no events.
    #[arg(long, env = "MARQUEE_DEMO_IF_EMPTY", default_value_t = true, action = clap::ArgAction::Set)]
    pub demo_if_empty: bool,
    /// How long a hold keeps its tickets, in seconds.
    #[arg(long, env = "MARQUEE_HOLD_TTL_SECS", default_value_t = 600)]
    pub hold_ttl_secs: u32,
    /// Most tickets in one hold (1 to 100).
    #[arg(long, env = "MARQUEE_MAX_TICKETS_PER_HOLD", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..=marquee_domain::money::MAX_TICKETS_PER_ORDER as i64))]
    pub max_tickets_per_hold: u32,
    /// Most tickets of one showtime one user may hold at once (1 to 1000).
    #[arg(long, env = "MARQUEE_MAX_HELD_TICKETS_PER_SHOWTIME", default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_held_tickets_per_showtime: u32,
    /// How long a login token stays valid, in hours.
    #[arg(long, env = "MARQUEE_SESSION_TTL_HOURS", default_value_t = 168)]
    pub session_ttl_hours: u32,
    /// How long a node reuses a session it read, in milliseconds (0 to 60,000; 0: every request
    /// reads its session): the longest a logout or a disabled account made through another
    /// node takes to reach this one.
    #[arg(long, env = "MARQUEE_SESSION_CACHE_TTL_MS", default_value_t = 2_000,
        value_parser = clap::value_parser!(u32).range(0..=60_000))]
    pub session_cache_ttl_ms: u32,
    /// How often expired holds are tidied (and their expiry shown on live seat maps), in seconds.
    #[arg(long, env = "MARQUEE_SWEEP_INTERVAL_SECS", default_value_t = 2)]
    pub sweep_interval_secs: u64,
    /// Largest request body, in bytes.
    #[arg(long, env = "MARQUEE_MAX_BODY_BYTES", default_value_t = 65_536)]
    pub max_body_bytes: usize,
    /// Largest total size of a request's headers, in bytes.
    #[arg(long, env = "MARQUEE_MAX_HEADER_BYTES", default_value_t = 16_384)]
    pub max_header_bytes: usize,
    /// Longest a request may take, in seconds (then 408).
    #[arg(long, env = "MARQUEE_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Write requests per minute per client address (0: no limit).
    #[arg(long, env = "MARQUEE_WRITES_PER_MINUTE_PER_IP", default_value_t = 600)]
    pub writes_per_minute_per_ip: u32,
    /// Write requests per minute per logged-in user (0: no limit).
    #[arg(long, env = "MARQUEE_WRITES_PER_MINUTE_PER_USER", default_value_t = 120)]
    pub writes_per_minute_per_user: u32,
    /// Failed logins per account before delays start.
    #[arg(long, env = "MARQUEE_LOGIN_FREE_FAILURES", default_value_t = 5)]
    pub login_free_failures: i64,
    /// Addresses of reverse proxies whose X-Forwarded-For is trusted (comma-separated).
    #[arg(long, env = "MARQUEE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
    /// Browser origins allowed to call the API (CORS), comma-separated; none by default.
    #[arg(long, env = "MARQUEE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Whether the web pages' session cookies are `Secure` (`__Host-` prefixed): `auto` makes
    /// them secure except for plain HTTP to a loopback address (the local quick start).
    #[arg(long, env = "MARQUEE_SECURE_COOKIES", value_enum, default_value_t = SecureCookiesFlag::Auto)]
    pub secure_cookies: SecureCookiesFlag,
    /// PEM certificate chain: serve HTTPS directly (with --tls-key).
    #[arg(long, env = "MARQUEE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "MARQUEE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Customers may cancel with a full refund until this many hours before the show.
    #[arg(long, env = "MARQUEE_CANCELLATION_CUTOFF_HOURS", default_value_t = 24)]
    pub cancellation_cutoff_hours: u32,
    /// Ed25519 seed (32 bytes, base64url) signing e-ticket codes. Unset: one is generated on
    /// first run and kept in the database (fine locally; configure it in production).
    #[arg(long, env = "MARQUEE_TICKET_SIGNING_KEY", hide_env_values = true)]
    pub ticket_signing_key: Option<String>,
    /// HMAC key (at least 32 bytes, base64url) signing waiting-room admission tokens. Unset:
    /// generated on first run and kept in the database (shared by every node of it).
    #[arg(long, env = "MARQUEE_ADMISSION_SIGNING_KEY", hide_env_values = true)]
    pub admission_signing_key: Option<String>,
    /// How long the inventory change feed is kept for resuming seat-map streams, in minutes.
    #[arg(long, env = "MARQUEE_FEED_RETENTION_MINUTES", default_value_t = 60)]
    pub feed_retention_minutes: u32,
    /// How often unfinished payments and refunds are reconciled with the provider, in seconds.
    #[arg(long, env = "MARQUEE_RECONCILE_INTERVAL_SECS", default_value_t = 30)]
    pub reconcile_interval_secs: u64,
    /// Payment provider: `test` (built-in test cards) or `stripe`.
    #[arg(long, env = "MARQUEE_PAYMENT_PROVIDER", value_enum, default_value_t = PaymentProvider::Test)]
    pub payment_provider: PaymentProvider,
    /// Stripe secret key (`sk_…`), required with `--payment-provider stripe`.
    #[arg(long, env = "MARQUEE_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// Stripe publishable key (`pk_…`) for the checkout page's card form (Stripe.js); unset
    /// with `--payment-provider stripe`: the pages cannot take cards (the API still can).
    #[arg(long, env = "MARQUEE_STRIPE_PUBLISHABLE_KEY")]
    pub stripe_publishable_key: Option<String>,
    /// Stripe API base URL (a test double's address in tests).
    #[arg(long, env = "MARQUEE_STRIPE_API_BASE", default_value = "https://api.stripe.com")]
    pub stripe_api_base: String,
    /// Secret of the provider's webhook endpoint (`whsec_…`); unset: the webhook route is off.
    #[arg(long, env = "MARQUEE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Deliver order and refund messages by SMTP, e.g. `smtps://user:pass@mail.example.com`;
    /// unset: they are written to the log.
    #[arg(long, env = "MARQUEE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of those messages.
    #[arg(long, env = "MARQUEE_MAIL_FROM", default_value = "Marquee <tickets@localhost>")]
    pub mail_from: String,
    /// Longest a seat-map snapshot is reused, in milliseconds (changes made on this node are
    /// seen at once; this bounds how long other nodes' changes can go unseen).
    #[arg(long, env = "MARQUEE_SEAT_MAP_MAX_AGE_MS", default_value_t = 1000)]
    pub seat_map_max_age_ms: u64,
    /// Under a rush, a seat-map snapshot younger than this (milliseconds) is served even after
    /// a change, so the map is rebuilt a few times a second at most (0: always exact).
    #[arg(long, env = "MARQUEE_SEAT_MAP_MIN_AGE_MS", default_value_t = 250)]
    pub seat_map_min_age_ms: u64,
    /// Bearer token that lets any client scrape `/metrics`. Unset: only loopback clients (after
    /// resolving trusted proxies) may.
    #[arg(long, env = "MARQUEE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// After SIGTERM or Ctrl-C, how long in-flight requests and background passes may take to
    /// finish before the process exits anyway, in seconds.
    #[arg(long, env = "MARQUEE_SHUTDOWN_TIMEOUT_SECS", default_value_t = 20)]
    pub shutdown_timeout_secs: u64,
}

impl Config {
    pub fn api(&self) -> anyhow::Result<ApiConfig> {
        anyhow::ensure!(self.hold_ttl_secs > 0, "--hold-ttl-secs must be positive");
        anyhow::ensure!(self.max_tickets_per_hold > 0, "--max-tickets-per-hold must be positive");
        anyhow::ensure!(self.session_ttl_hours > 0, "--session-ttl-hours must be positive");
        if let Some(token) = &self.metrics_token {
            anyhow::ensure!(token.len() >= 16, "--metrics-token must have at least 16 characters");
        }
        let limit = |per_minute: u32| (per_minute > 0).then_some(per_minute);
        Ok(ApiConfig {
            hold_policy: HoldPolicy {
                ttl: time::Duration::seconds(i64::from(self.hold_ttl_secs)),
                max_tickets: self.max_tickets_per_hold,
                max_held_per_user: self.max_held_tickets_per_showtime.max(self.max_tickets_per_hold),
            },
            session_ttl: time::Duration::hours(i64::from(self.session_ttl_hours)),
            session_cache_ttl: time::Duration::milliseconds(i64::from(self.session_cache_ttl_ms)),
            max_body_bytes: self.max_body_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            max_header_bytes: self.max_header_bytes,
            writes_per_minute_per_ip: limit(self.writes_per_minute_per_ip),
            writes_per_minute_per_user: limit(self.writes_per_minute_per_user),
            login_throttle: LoginThrottle {
                free_per_account: self.login_free_failures,
                ..LoginThrottle::default()
            },
            trusted_proxies: self.trusted_proxies.clone(),
            cors_origins: self.cors_origins.clone(),
            tls: self.tls_cert.is_some(),
            secure_cookies: match self.secure_cookies {
                SecureCookiesFlag::Auto => SecureCookies::Auto,
                SecureCookiesFlag::Always => SecureCookies::Always,
                SecureCookiesFlag::Never => SecureCookies::Never,
            },
            cancellation_cutoff: time::Duration::hours(i64::from(self.cancellation_cutoff_hours)),
            ticket_signing_key: self.ticket_signing_key.clone(),
            admission_signing_key: self.admission_signing_key.clone(),
            webhook_secret: self.webhook_secret.clone(),
            seat_map_max_age: Duration::from_millis(self.seat_map_max_age_ms),
            seat_map_min_age: Duration::from_millis(self.seat_map_min_age_ms.min(self.seat_map_max_age_ms)),
            metrics_token: self.metrics_token.clone(),
            payment_client: match self.payment_provider {
                PaymentProvider::Test => PaymentClient::Test,
                PaymentProvider::Stripe => {
                    PaymentClient::Stripe { publishable_key: self.stripe_publishable_key.clone() }
                }
            },
        })
    }
}

impl Config {
    /// The configured payment provider; secrets only from configuration.
    pub fn gateway(&self) -> anyhow::Result<Arc<dyn PaymentGateway>> {
        Ok(match self.payment_provider {
            PaymentProvider::Test => Arc::new(TestGateway::new()),
            PaymentProvider::Stripe => {
                let key = self.stripe_secret_key.as_deref().context(
                    "--payment-provider stripe needs --stripe-secret-key (MARQUEE_STRIPE_SECRET_KEY)",
                )?;
                Arc::new(StripeGateway::new(&self.stripe_api_base, key).map_err(anyhow::Error::msg)?)
            }
        })
    }
}

impl Config {
    /// Where queued messages go: SMTP when configured, else the log.
    pub fn sender(&self) -> anyhow::Result<Arc<dyn marquee_api::notify::Sender>> {
        Ok(match &self.smtp_url {
            Some(url) => Arc::new(
                marquee_api::notify::SmtpSender::new(url, &self.mail_from).map_err(anyhow::Error::msg)?,
            ),
            None => Arc::new(marquee_api::notify::LogSender),
        })
    }
}

/// Logs to standard output: `MARQUEE_LOG` if set, else informational lines for the service
/// (`serving`) and only warnings for the one-shot commands, whose output is their answer.
pub fn init_logs(json: bool, serving: bool) {
    let default = if serving { "info,tower_http=info,sqlx=warn" } else { "warn" };
    let filter = EnvFilter::try_from_env("MARQUEE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Opens (and migrates) the database; `replica_url` is the service's optional catalog replica.
pub async fn connect(config: &DatabaseArgs, replica_url: Option<String>) -> anyhow::Result<Arc<dyn Store>> {
    let options = StoreOptions {
        max_connections: config.database_connections,
        replica_url,
        acquire_timeout: Duration::from_secs(config.database_acquire_timeout_secs.max(1)),
        commit_pipelines: usize::from(config.database_commit_pipelines),
    };
    let store = marquee_store::connect(&config.database_url, &options).await.map_err(|error| {
        let reason = match error {
            marquee_domain::Error::DatabaseUnavailable(reason) => reason,
            other => other.to_string(),
        };
        anyhow::anyhow!("cannot open the database {}: {reason}", redact(&config.database_url))
    })?;
    store.migrate().await?;
    tracing::info!(backend = store.backend().as_str(), "database ready");
    Ok(store)
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(redact("postgres://app:s3cret@db/marquee"), "postgres://app:***@db/marquee");
        assert_eq!(redact("sqlite://data/marquee.db"), "sqlite://data/marquee.db");
    }

    #[test]
    fn zero_means_no_rate_limit_and_lists_are_comma_separated() {
        let cli = Cli::parse_from([
            "marquee",
            "--writes-per-minute-per-ip",
            "0",
            "--trusted-proxies",
            "10.0.0.1,10.0.0.2",
        ]);
        let api = cli.config.api().unwrap();
        assert_eq!(api.writes_per_minute_per_ip, None);
        assert_eq!(api.writes_per_minute_per_user, Some(120));
        assert_eq!(api.trusted_proxies.len(), 2);
        assert!(!api.tls);
    }

    #[test]
    fn the_operations_guide_documents_every_flag_and_variable() {
        use clap::CommandFactory;
        let guide = include_str!("../../../docs/OPERATIONS.md");
        for argument in Cli::command().get_arguments() {
            let Some(long) = argument.get_long() else { continue };
            assert!(guide.contains(&format!("`--{long}`")), "docs/OPERATIONS.md lacks --{long}");
            if let Some(variable) = argument.get_env() {
                let variable = variable.to_string_lossy();
                assert!(guide.contains(&format!("`{variable}`")), "docs/OPERATIONS.md lacks {variable}");
            }
        }
    }

    #[test]
    fn shutdown_waits_twenty_seconds_and_a_metrics_token_must_be_long() {
        let cli = Cli::parse_from(["marquee"]);
        assert_eq!(cli.config.shutdown_timeout_secs, 20);
        assert_eq!(cli.config.api().unwrap().metrics_token, None);
        let short = Cli::parse_from(["marquee", "--metrics-token", "short"]);
        assert!(short.config.api().is_err());
        let long = Cli::parse_from(["marquee", "--metrics-token", "a-token-of-24-characters"]);
        assert_eq!(long.config.api().unwrap().metrics_token.as_deref(), Some("a-token-of-24-characters"));
    }
}
