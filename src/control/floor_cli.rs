//! shoptetctl arguments of the warehouse-floor operations (error severity, price history, …)
//! and the requests they build; [`super::cli`] routes to them.

use clap::ValueEnum;

use crate::domain::ErrorSeverity;

/// Error severities as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Low,
    Medium,
    High,
    Critical,
}

impl From<SeverityArg> for ErrorSeverity {
    fn from(level: SeverityArg) -> Self {
        match level {
            SeverityArg::Low => ErrorSeverity::Low,
            SeverityArg::Medium => ErrorSeverity::Medium,
            SeverityArg::High => ErrorSeverity::High,
            SeverityArg::Critical => ErrorSeverity::Critical,
        }
    }
}
