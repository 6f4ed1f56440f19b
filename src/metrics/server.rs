//! The metrics listener: `/metrics`, `/healthz` and `/readyz` over HTTP, on a thread and
//! runtime of its own so a scrape never queues behind the actors' work.
//!
//! Off unless `[metrics] listen` is set; a non-loopback address is refused unless
//! `allow_remote` is set (the figures name the stores and are served without authentication).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::BoxFuture;
use tokio::sync::oneshot;

use super::{Metrics, MetricsError};

/// How long `/healthz` waits for the actor system.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The content type of the exposition text `prometheus-client` writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Asks the actor system whether it answers (for `/healthz`).
pub trait Probe: Send + Sync + 'static {
    /// Resolves once the actor system answered, or with why it could not.
    fn alive(&self) -> BoxFuture<'static, Result<(), String>>;
}

/// Refuses a non-loopback `address` unless `allow_remote`.
pub fn check_address(address: SocketAddr, allow_remote: bool) -> Result<(), MetricsError> {
    if address.ip().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(MetricsError::RemoteRefused(address))
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    probe: Arc<dyn Probe>,
}

/// A running metrics listener; stops when [`MetricsServer::stop`] is called or it is dropped.
pub struct MetricsServer {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Binds `listen` (refusing non-loopback addresses unless `allow_remote`) and serves on a
    /// thread of its own.
    pub fn start(
        listen: SocketAddr,
        allow_remote: bool,
        metrics: Metrics,
        probe: Arc<dyn Probe>,
    ) -> Result<Self, MetricsError> {
        check_address(listen, allow_remote)?;
        let bind_error = |source| MetricsError::Bind {
            address: listen,
            source,
        };
        let listener = std::net::TcpListener::bind(listen).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| MetricsError::Start(e.to_string()))?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let router = Router::new()
            .route("/metrics", get(scrape))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(AppState { metrics, probe });
        let thread = std::thread::Builder::new()
            .name("metrics".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(err) => {
                            tracing::error!(error = %err, "metrics listener failed");
                            return;
                        }
                    };
                    let served = axum::serve(listener, router)
                        .with_graceful_shutdown(async move {
                            let _ = stop_rx.await;
                        })
                        .await;
                    if let Err(err) = served {
                        tracing::error!(error = %err, "metrics listener failed");
                    }
                });
            })
            .map_err(|e| MetricsError::Start(e.to_string()))?;
        Ok(Self {
            address,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The bound address (the port is known here when 0 was configured).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn scrape(State(state): State<AppState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
    }
}

async fn healthz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(PROBE_TIMEOUT, state.probe.alive()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(why)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the actor system did not answer within {} s\n",
                PROBE_TIMEOUT.as_secs()
            ),
        )
            .into_response(),
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.metrics.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}
