//! The daemon configuration file (TOML): data directory, socket, access control, logging, defaults.
