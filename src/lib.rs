//! shoptet-sync: keeps a warehouse and its Shoptet e-shops in sync.
//!
//! Layers, each with its own error enum:
//! - [`domain`]: the business rules, pure and I/O free;
//! - [`store`]: persistence in sled, one atomic commit per domain step;
//! - [`shoptet`]: the Shoptet REST API client;
//! - [`sim`]: a faithful local Shoptet API simulator for tests, benches and the demo;
//! - [`actors`]: the supervisor and one integration actor per store;
//! - [`control`]: the Unix-socket protocol shared by the daemon and `shoptetctl`;
//! - [`config`]: the daemon's configuration file;
//! - [`metrics`]: Prometheus metrics and the probes' listener;
//! - [`service`]: running as a system service: sd_notify, logging, signals, exit codes.

pub mod actors;
pub mod config;
pub mod control;
pub mod domain;
pub mod metrics;
pub mod secrets;
pub mod service;
pub mod shoptet;
pub mod sim;
pub mod store;
