//! One module per subcommand, and what the client commands share.

pub(crate) mod admin;
pub(crate) mod bench;
pub(crate) mod call;
mod connect;
pub(crate) mod exit;
mod follow;
pub(crate) mod gateway;
mod print;
pub(crate) mod serve;
pub(crate) mod tasks;
pub(crate) mod tools;
