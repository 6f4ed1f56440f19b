//! HTTP behaviour tests against a tiny in-test axum server.
