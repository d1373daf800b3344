//! How `mcp-tasks admin` ends. Its own statuses, in the spirit of the client commands'
//! [`crate::cmd::exit::Exit`]: a script tells "no such task" (1) from "the server is down" (3).

use std::process::ExitCode;

/// The exit status of `mcp-tasks admin`; `--help` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdminExit {
    /// Done.
    Done = 0,
    /// Refused: an unknown task, a task already finished, a server that is not ready.
    Refused = 1,
    /// The command line is wrong: a flag, a duration, a date, the token file.
    Usage = 2,
    /// The server or store could not be reached, or answered with an error (a refused token
    /// among them).
    Unreachable = 3,
}

impl From<AdminExit> for ExitCode {
    fn from(exit: AdminExit) -> Self {
        Self::from(exit as u8)
    }
}

/// An admin command that ended early: the status, and what to tell the operator.
#[derive(Debug)]
pub(crate) struct AdminFailure {
    pub(crate) exit: AdminExit,
    /// Safe to print on a terminal: the server's and store's words in it have their control
    /// characters escaped ([`super::print::safe`]). Empty for an end with nothing to say.
    pub(crate) message: String,
}

impl AdminFailure {
    pub(crate) fn new(exit: AdminExit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: super::print::safe(&message.into()),
        }
    }

    /// Stdout was closed (`mcp-tasks admin list | head -1`): whoever reads has what they
    /// wanted, so the command ends with 0 and says nothing.
    pub(crate) fn stdout_closed() -> Self {
        Self {
            exit: AdminExit::Done,
            message: String::new(),
        }
    }

    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self::new(AdminExit::Refused, message)
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(AdminExit::Usage, message)
    }

    pub(crate) fn unreachable(message: impl Into<String>) -> Self {
        Self::new(AdminExit::Unreachable, message)
    }
}
