//! A faithful in-memory Shoptet API simulator served over HTTP on loopback.

pub mod state;
pub mod wire;
pub mod seed;
pub mod auth;
pub mod faults;
pub mod limits;
