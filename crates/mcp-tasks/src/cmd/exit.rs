//! The exit statuses of the client commands, and the error that carries one.

use std::process::ExitCode;

use mcp_tasks_runtime::client::ClientError;
use mcp_tasks_wire::jsonrpc::ErrorCode;

/// How a client command ended; `--help` of each lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The call succeeded.
    Success = 0,
    /// The tool reported an error (`isError`), as a plain call or a failed task.
    ToolError = 1,
    /// The command line or the `--answers` file is wrong, or asks for what the server does not
    /// offer (a task of a tool that cannot be one).
    Usage = 2,
    /// The connection failed or the server answered with a JSON-RPC error.
    Protocol = 3,
    /// The task ended `cancelled`.
    Cancelled = 4,
    /// Ctrl-C; a task being followed was cancelled first.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit as u8)
    }
}

/// A client command that ended badly: the status, and what to tell the user.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let exit = match &e {
            ClientError::Unsupported(_) => Exit::Usage,
            ClientError::Rpc { error, .. } if error.code == ErrorCode::REQUEST_CANCELLED => {
                Exit::Cancelled
            }
            _ => Exit::Protocol,
        };
        Self::new(exit, e.to_string())
    }
}
