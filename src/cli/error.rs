//! The command line's one error type and its exit codes.
//!
//! Every command returns `Result<Done, CliError>`; `cli::main` prints the error once, as
//! `thetorrent: <message>`, and exits with its code. Per-file reports of bulk commands (a
//! rejected file of `add` or `import`) are output, not errors: they go to stderr where they
//! happen and make the command end in [`Done::SomeRejected`].
//!
//! Owns: the exit codes scripts rely on, and which failure gets which. Must never: print (only
//! `cli::main` does), or exit the process.

use std::fmt;

/// Everything asked was done (stored or already stored; verify found nothing wrong).
pub const EXIT_OK: i32 = 0;
/// Some inputs were rejected (the rest was done), `verify` found problems, or what was asked
/// is not so (`unblock` of a hash that is not blocked).
pub const EXIT_REJECTED: i32 = 1;
/// Bad arguments (clap's own code for the ones it refuses).
pub const EXIT_USAGE: i32 = 2;
/// The store cannot be used: the data directory (I/O error, permissions, missing parent,
/// read-only for a command that writes, disk full) or the bucket; or the server could not start.
pub const EXIT_STORAGE: i32 = 3;
/// `mirror`: the source cannot be used (unreachable, TLS failure, too many network failures in
/// a row, or it does not answer the feeds mirroring needs). Nothing is wrong here: run it again
/// later.
pub const EXIT_SOURCE: i32 = 4;

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Everything was done ([`EXIT_OK`]).
    All,
    /// Some inputs were rejected; the rest was done ([`EXIT_REJECTED`]).
    SomeRejected,
}

impl Done {
    /// `SomeRejected` when `rejected`, else `All`.
    pub fn unless(rejected: bool) -> Done {
        if rejected {
            Done::SomeRejected
        } else {
            Done::All
        }
    }

    pub fn code(self) -> i32 {
        match self {
            Done::All => EXIT_OK,
            Done::SomeRejected => EXIT_REJECTED,
        }
    }
}

/// Why a command stopped. The message is complete: it names what is wrong (and the path, for
/// files) and, where there is one, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// Bad arguments or options ([`EXIT_USAGE`]).
    Usage(String),
    /// What was asked is not so, and nothing was changed ([`EXIT_REJECTED`]).
    Refused(String),
    /// The data directory or bucket cannot be used, or the server cannot start
    /// ([`EXIT_STORAGE`]).
    Storage(String),
    /// The mirror's source cannot be used ([`EXIT_SOURCE`]).
    Source(String),
}

impl CliError {
    pub fn code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Refused(_) => EXIT_REJECTED,
            CliError::Storage(_) => EXIT_STORAGE,
            CliError::Source(_) => EXIT_SOURCE,
        }
    }

    /// `Storage` from anything that displays (a store's open or write error).
    pub fn storage(e: impl fmt::Display) -> CliError {
        CliError::Storage(e.to_string())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m)
            | CliError::Refused(m)
            | CliError::Storage(m)
            | CliError::Source(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_code() {
        let codes = [
            CliError::Usage(String::new()).code(),
            CliError::Refused(String::new()).code(),
            CliError::Storage(String::new()).code(),
            CliError::Source(String::new()).code(),
        ];
        assert_eq!(
            codes,
            [EXIT_USAGE, EXIT_REJECTED, EXIT_STORAGE, EXIT_SOURCE]
        );
        assert_eq!(Done::unless(false).code(), EXIT_OK);
        assert_eq!(Done::unless(true).code(), EXIT_REJECTED);
    }
}
