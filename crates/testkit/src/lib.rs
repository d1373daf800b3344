//! Test helpers shared by the workspace's tests: JSON Schema validation of what we emit against
//! `../shared/spec/*/schema.json`, and peers that drive the real `mcp-tasks` binary over stdio
//! and Streamable HTTP. Unpublished; never a dependency of shipped code.
//!
//! - [`schema`]: validation against the official schemas.
//! - [`stdio`], [`http`]: peers driving the real binary; [`message`]: what they send.
//! - [`oauth`]: a local OAuth issuer (keys, JWKS, introspection) and the tokens it signs.
//! - [`process`]: which store and flags a server gets ([`process::ServeOptions`]), its memory,
//!   and commands expected to exit; [`store`]: scratch SQLite files that outlive a server, for
//!   kill-and-restart tests.

pub mod auth;
pub mod http;
pub mod message;
pub mod oauth;
pub mod postgres;
pub mod process;
pub mod relay;
pub mod schema;
pub mod stdio;
pub mod store;
