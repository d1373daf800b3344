//! Test helpers shared by the workspace's tests: JSON Schema validation of what we emit against
//! `../shared/spec/*/schema.json`, and peers that drive the real `mcp-tasks` binary over stdio
//! and Streamable HTTP. Unpublished; never a dependency of shipped code.

pub mod http;
pub mod message;
pub mod schema;
pub mod stdio;
