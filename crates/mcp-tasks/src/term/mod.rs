//! The terminal side of `mcp-tasks call`: the live status of a running call, and answers to
//! a server's elicitations, from a person or from a file.
//!
//! - [`status::StatusLine`]: task status and progress on stderr, redrawn at a terminal, one
//!   line per change elsewhere.
//! - [`form::ask`]: an interactive form for `elicitation/create` (MCP 2025-11-25, form mode).
//! - [`answers::Answers`]: the same answers from `--answers FILE`, for runs without a person.
//! - [`form::validate`]: the check both use before anything is sent.
//! - [`tty::Tty`]: the person's terminal when stdout and stderr are both redirected, for the
//!   questions (line by line) and the live status line.
//!
//! Nothing here writes to stdout: that is where the call's result goes.

pub(crate) mod answers;
pub(crate) mod form;
mod schema;
pub(crate) mod status;
pub(crate) mod tty;
