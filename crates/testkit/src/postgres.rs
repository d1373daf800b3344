//! Throw-away PostgreSQL databases, one per test: every test gets its own tables and its own
//! `LISTEN` channel, so tests run in parallel without seeing each other's tasks.
//!
//! The server is named by `MCP_TASKS_TEST_POSTGRES` (an address whose database the tests may
//! connect to in order to create others), by default the loopback server of the CI machine.
//! A server out of reach fails the test with a message saying so: these tests never skip.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::NoTls;

/// The variable naming the server.
pub const ENV: &str = "MCP_TASKS_TEST_POSTGRES";

/// The server used when [`ENV`] is unset.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Every throw-away database's name starts so, followed by its creation time in Unix seconds;
/// `.ci/run` drops leftovers of killed runs by that time.
pub const PREFIX: &str = "mcp_tasks_test_";

/// The administrative address.
pub fn admin_url() -> String {
    std::env::var(ENV).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A database that is dropped, with its connections, when this value is.
#[derive(Debug)]
pub struct TempDatabase {
    name: String,
    url: String,
    admin: String,
}

impl TempDatabase {
    /// Creates a fresh, empty database.
    ///
    /// # Panics
    ///
    /// When the server is out of reach or refuses, saying which server and how to name another.
    pub async fn create() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let admin = admin_url();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{PREFIX}{}_{}_{}_{}",
            now.as_secs(),
            std::process::id(),
            now.subsec_nanos(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        execute(&admin, &format!("CREATE DATABASE {name}")).await;
        let url = with_database(&admin, &name);
        Self { name, url, admin }
    }

    /// Creates a fresh database from synchronous code.
    ///
    /// # Panics
    ///
    /// As [`TempDatabase::create`].
    pub fn create_blocking() -> Self {
        on_own_runtime(Self::create())
    }

    /// The database's address, for a store or `mcp-tasks serve --store`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL in the database as the administrative user: for tests that must reach behind
    /// the store, such as dropping its connections.
    pub async fn execute(&self, sql: &str) {
        execute(&self.url, sql).await;
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop may run inside a runtime, which cannot block on another future.
        let _ = std::thread::spawn(move || {
            on_own_runtime(async move {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin, NoTls).await {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&sql).await;
                }
            })
        })
        .join();
    }
}

fn on_own_runtime<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the test database")
        .block_on(future)
}

async fn execute(url: &str, sql: &str) {
    let connect =
        tokio::time::timeout(Duration::from_secs(10), tokio_postgres::connect(url, NoTls));
    let (client, conn) = match connect.await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => panic!(
            "PostgreSQL is not reachable at {url}: {e} ({}). These tests need a server: start \
             one, or name one with {ENV}=postgres://USER@HOST:PORT/DB",
            std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default()
        ),
        Err(_) => panic!("PostgreSQL at {url} did not answer within 10 s; set {ENV} to another"),
    };
    tokio::spawn(conn);
    if let Err(e) = client.batch_execute(sql).await {
        panic!(
            "PostgreSQL at {url} refused `{sql}`: {}",
            e.as_db_error()
                .map(|d| d.message().to_owned())
                .unwrap_or(e.to_string())
        );
    }
}

/// The address with its database replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{database}?{q}"),
        None => format!("{root}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "t2"),
            "postgresql://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "t3"), "postgres://h:1/t3");
    }
}
