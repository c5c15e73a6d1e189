//! Running the service: HTTP, or HTTPS with rustls; the hold sweeper, reconciler, outbox and
//! feed pruner; graceful shutdown.

use crate::config::Config;
use anyhow::Context;
use marquee_api::AppState;
use marquee_domain::clock::Clock;
use marquee_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A payment attempt untouched for twice the request timeout belongs to no live request
/// (every request is cut off at the timeout), so the reconciler may settle it.
fn reconcile_grace(config: &Config) -> time::Duration {
    time::Duration::seconds(2 * config.request_timeout_secs.max(1) as i64)
}
/// How often the outbox is delivered.
const OUTBOX_INTERVAL: Duration = Duration::from_secs(5);

/// How often the inventory change feed is pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(300);

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn run(config: Config, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    if config.demo_if_empty && store.catalog_is_empty().await? {
        let summary = marquee_api::demo::load(store.as_ref(), clock.now()).await?;
        tracing::info!(?summary, "empty database: demo catalog loaded");
    }
    let gateway = config.gateway()?;
    tracing::info!(provider = gateway.name(), "payment provider");
    let state = AppState::new(store.clone(), gateway, clock.clone(), config.api()?).await?;
    // Background work: tidy expired holds, settle interrupted payments (first pass at start-up),
    // deliver queued messages.
    let sweep_every = Duration::from_secs(config.sweep_interval_secs.max(1));
    let reconcile_every = Duration::from_secs(config.reconcile_interval_secs.max(1));
    let sender = config.sender()?;
    let workers = [
        tokio::spawn(marquee_api::run_sweeper(store.clone(), clock.clone(), sweep_every)),
        tokio::spawn(marquee_api::run_reconciler(
            state.booking.clone(),
            reconcile_every,
            reconcile_grace(&config),
        )),
        tokio::spawn(marquee_api::notify::run_outbox(store.clone(), sender, clock.clone(), OUTBOX_INTERVAL)),
        tokio::spawn(marquee_api::live::run_pruner(
            store,
            clock,
            time::Duration::minutes(i64::from(config.feed_retention_minutes.max(1))),
            PRUNE_INTERVAL,
        )),
    ];
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => serve_tls(config.listen, state, cert, key).await?,
        _ => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            tracing::info!(address = %listener.local_addr()?, "Marquee is serving; try GET /movie/list");
            marquee_api::serve(listener, state, shutdown_signal()).await?;
        }
    }
    for worker in workers {
        worker.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

async fn serve_tls(
    listen: SocketAddr,
    state: AppState,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await.with_context(|| {
        format!("cannot load the TLS certificate {} and key {}", cert.display(), key.display())
    })?;
    let _feed = marquee_api::live::spawn(state.feed.clone(), state.store.clone());
    let handle = axum_server::Handle::new();
    let shutdown = handle.clone();
    let feed = state.feed.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        feed.close();
        shutdown.graceful_shutdown(Some(DRAIN_TIMEOUT));
    });
    tracing::info!(address = %listen, "Marquee is serving HTTPS; try GET /movie/list");
    axum_server::bind_rustls(listen, tls)
        .handle(handle)
        .serve(marquee_api::app(state).into_make_service_with_connect_info::<SocketAddr>())
        .await
        .context("HTTPS server failed")
}

/// Resolves on Ctrl-C or SIGTERM: stop accepting, let in-flight requests finish.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}
