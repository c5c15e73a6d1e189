//! Running the service: HTTP, or HTTPS with rustls; the hold sweeper, reconciler, outbox and
//! feed pruner; graceful shutdown.
//!
//! # Shutdown
//! On SIGTERM or Ctrl-C the node stops accepting connections, ends its live streams, tells
//! its background workers to start no new pass, and waits for in-flight requests and passes
//! under way to finish — at most `--shutdown-timeout-secs`, then it exits anyway. Exiting
//! with work unfinished is safe: it is what a crash does, and a crash is what the
//! write-ahead payment attempts and the reconciler are built for.

use crate::config::Config;
use anyhow::Context;
use marquee_api::wire::ProblemStream;
use marquee_api::{AppState, Shutdown};
use marquee_domain::clock::Clock;
use marquee_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// A payment attempt untouched for twice the request timeout belongs to no live request
/// (every request is cut off at the timeout), so the reconciler may settle it.
fn reconcile_grace(config: &Config) -> time::Duration {
    time::Duration::seconds(2 * config.request_timeout_secs.max(1) as i64)
}
/// How often the outbox is delivered.
const OUTBOX_INTERVAL: Duration = Duration::from_secs(5);

/// How often the inventory change feed is pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(300);

pub async fn run(config: Config, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    if config.demo_if_empty && store.catalog_is_empty().await? {
        let summary = marquee_api::demo::load(store.as_ref(), clock.now()).await?;
        tracing::info!("empty database: demo catalog loaded ({summary})");
    }
    let gateway = config.gateway()?;
    tracing::info!(provider = gateway.name(), "payment provider");
    let state = AppState::new(store.clone(), gateway, clock.clone(), config.api()?).await?;
    let drain_timeout = Duration::from_secs(config.shutdown_timeout_secs);
    let shutdown = Shutdown::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown_signal().await;
            tracing::info!(
                timeout_secs = drain_timeout.as_secs(),
                "shutting down: no new connections, draining in-flight requests"
            );
            shutdown.trigger();
        }
    });
    // Background work: tidy expired holds, settle interrupted payments (first pass at start-up),
    // deliver queued messages, prune the feed.
    let sweep_every = Duration::from_secs(config.sweep_interval_secs.max(1));
    let reconcile_every = Duration::from_secs(config.reconcile_interval_secs.max(1));
    let sender = config.sender()?;
    let mut workers: Vec<JoinHandle<()>> = vec![
        tokio::spawn(marquee_api::run_sweeper(state.booking.clone(), sweep_every, shutdown.wait())),
        tokio::spawn(marquee_api::run_reconciler(
            state.booking.clone(),
            reconcile_every,
            reconcile_grace(&config),
            shutdown.wait(),
        )),
        tokio::spawn(marquee_api::notify::run_outbox(
            store.clone(),
            sender,
            clock.clone(),
            OUTBOX_INTERVAL,
            shutdown.wait(),
        )),
        tokio::spawn(marquee_api::live::run_pruner(
            store,
            clock,
            time::Duration::minutes(i64::from(config.feed_retention_minutes.max(1))),
            PRUNE_INTERVAL,
            shutdown.wait(),
        )),
    ];
    let serving = async {
        match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                serve_tls(config.listen, state, cert, key, shutdown.clone(), drain_timeout).await?
            }
            _ => {
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", config.listen))?;
                let address = listener.local_addr()?;
                tracing::info!(%address, "Marquee is serving: open http://{address}/ in a browser (the API is under /api/v1)");
                marquee_api::serve(listener, state, shutdown.wait()).await?;
            }
        }
        // The server has drained; let the workers finish the pass they are in.
        for worker in &mut workers {
            let _ = worker.await;
        }
        anyhow::Ok(())
    };
    let deadline = async {
        shutdown.wait().await;
        tokio::time::sleep(drain_timeout).await;
    };
    tokio::select! {
        served = serving => served?,
        () = deadline => tracing::warn!(
            timeout_secs = drain_timeout.as_secs(),
            "requests or background passes still running after the shutdown timeout: exiting anyway"
        ),
    }
    for worker in &workers {
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
    shutdown: Shutdown,
    drain_timeout: Duration,
) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await.with_context(|| {
        format!("cannot load the TLS certificate {} and key {}", cert.display(), key.display())
    })?;
    let _feed = marquee_api::live::spawn(state.feed.clone(), state.store.clone());
    let handle = axum_server::Handle::new();
    let draining = handle.clone();
    let feed = state.feed.clone();
    tokio::spawn(async move {
        shutdown.wait().await;
        feed.close();
        draining.graceful_shutdown(Some(drain_timeout));
    });
    tracing::info!(address = %listen, "Marquee is serving HTTPS: open https://{listen}/ in a browser (the API is under /api/v1)");
    axum_server::bind(listen)
        .acceptor(ProblemAcceptor(axum_server::tls_rustls::RustlsAcceptor::new(tls)))
        .handle(handle)
        .serve(marquee_api::app(state).into_make_service_with_connect_info::<SocketAddr>())
        .await
        .context("HTTPS server failed")
}

/// Accepts TLS connections whose plain side is a [`ProblemStream`]: hyper's own answers to
/// requests it cannot parse carry problem documents over HTTPS too.
#[derive(Clone)]
struct ProblemAcceptor<A>(A);

impl<A, I, S> axum_server::accept::Accept<I, S> for ProblemAcceptor<A>
where
    A: axum_server::accept::Accept<I, S>,
    A::Future: Send + 'static,
{
    type Stream = ProblemStream<A::Stream>;
    type Service = A::Service;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = std::io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepting = self.0.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepting.await?;
            Ok((ProblemStream::new(stream), service))
        })
    }
}

/// Resolves on Ctrl-C or SIGTERM.
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
}
