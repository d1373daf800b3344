//! The shared store suite, mounted once per store.

use mcp_tasks_engine::MemoryStore;

mcp_tasks_engine::store_conformance!(memory, || async { MemoryStore::new() });
