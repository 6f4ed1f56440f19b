//! The control protocol over a Unix socket: request and response types shared by the daemon and
//! shoptetctl, the socket server, a client, and the shoptetctl command line.
//!
//! The daemon implements [`ControlHandler`] (routing each [`Request`] to the right actor) and runs
//! [`ControlServer`]; shoptetctl and tests use [`ControlClient`].

pub mod cli;
pub mod client;
pub mod floor_cli;
mod floor_render;
mod limits;
pub mod protocol;
pub mod render;
pub mod server;
mod sys;

pub use client::{ClientError, ControlClient};
pub use protocol::{
    Caller, ControlError, ControlHandler, ErrorCode, PROTOCOL_VERSION, Request, RequestEnvelope,
    RequestId, Response, ResponseEnvelope,
};
pub use server::{ControlServer, ServerConfig, serve};
