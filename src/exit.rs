//! Exit codes: the one place they are defined (README "Exit codes" documents them).

use std::process::ExitCode;

/// How a grantcheck run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every selected case met its MUSTs (warnings allowed); `serve` stopped cleanly.
    Success = 0,
    /// A bug or an unexpected failure inside grantcheck.
    Internal = 1,
    /// Bad command line, or an invalid config, client or scenario file.
    Usage = 2,
    /// No verdict possible: target unreachable, TLS failure, discovery failed, port in use.
    Runtime = 3,
    /// A MUST failed, or a snapshot drifted in check mode.
    Conformance = 4,
    /// Load thresholds were missed.
    LoadThreshold = 5,
    /// No case matched the filter.
    NoCases = 6,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// An error that knows which exit code it ends the run with.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Failure {
        Failure {
            exit: Exit::Internal,
            message: message.into(),
        }
    }

    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            exit: Exit::Runtime,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
