//! The daemon's webhook listener: an HTTP server (behind a TLS reverse proxy in production)
//! that answers each Shoptet delivery within milliseconds. Any path whose last segment is a
//! store's token is routed, so the proxy may keep or strip the public URL's prefix. The
//! checks live in [`crate::actors::webhook_routes::WebhookRoutes::deliver`].

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri};

use crate::actors::webhook_routes::{Verdict, WebhookRoutes};
use crate::domain::webhook::MAX_DELIVERY_BYTES;
use crate::shoptet::webhooks::SIGNATURE_HEADER;

/// Serves deliveries on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    routes: Arc<WebhookRoutes>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .fallback(deliver)
        // One byte over the cap reaches the check (413 from the routes' own rule).
        .layer(DefaultBodyLimit::max(MAX_DELIVERY_BYTES + 1))
        .with_state(routes);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn deliver(
    State(routes): State<Arc<WebhookRoutes>>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if method != axum::http::Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED;
    }
    let token = uri
        .path()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    match routes.deliver(token, signature, &body) {
        Verdict::Accepted => StatusCode::OK,
        Verdict::Unauthorized => StatusCode::UNAUTHORIZED,
        Verdict::Malformed => StatusCode::BAD_REQUEST,
        Verdict::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Verdict::UnknownPath => StatusCode::NOT_FOUND,
    }
}
