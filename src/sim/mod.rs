//! A faithful in-memory Shoptet API simulator served over HTTP on loopback.
