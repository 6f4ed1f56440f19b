//! The control protocol over a Unix socket: request and response types shared by the daemon and shoptetctl.
