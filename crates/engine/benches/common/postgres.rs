//! PostgreSQL for the store bench: whether a server is there, throw-away databases holding a
//! [`PostgresStore`], the big database, and the rows of the plain tokio-postgres baseline.
//!
//! Only `crates/engine/benches/store.rs` includes this file (the runtime's bench includes
//! `common/mod.rs` alone, and has no PostgreSQL client).
//!
//! Every database is a [`TempDatabase`] (named `mcp_tasks_test_*`, dropped with its
//! connections when the value is; a killed run's leftovers are dropped by `.ci/run`), on the
//! server named by `MCP_TASKS_TEST_POSTGRES`, by default the loopback one.

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use mcp_tasks_engine::{NewTask, PostgresOptions, PostgresStore, TaskId, TaskRecord};
use testkit::postgres::{admin_url, TempDatabase, ENV};
use tokio::runtime::Runtime;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Config, NoTls, Statement};

use crate::common::{big_session, new_task, BIG_TTL};

/// The store's pool. The default (16) would let only 16 of the 64 concurrent creators talk to
/// the server at once and queue the rest in the pool, so the 64-creator case would measure the
/// pool rather than PostgreSQL; 32 keeps at least 32 commits in flight, which is what lets the
/// server flush many of them with one WAL `fsync`, while staying well under the server's
/// `max_connections` (100 by default, shared with the 64 connections of the baseline and with
/// whatever tests run on the same server) and not paying for 64 backend processes on 2 cores.
pub(crate) const POOL_SIZE: usize = 32;

/// How many tasks the big PostgreSQL database holds: `BENCH_PG_TASKS`, default 100,000.
pub(crate) fn big_count() -> usize {
    std::env::var("BENCH_PG_TASKS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(100_000)
}

/// Whether the server answers, within 2 s; `Err` says where it was looked for and why not.
///
/// Checked once per run, before anything else, so a machine without PostgreSQL loses two
/// seconds at most rather than a panic in the middle of the run.
pub(crate) fn reachable() -> Result<String, String> {
    let url = admin_url();
    let mut config: Config = url
        .parse()
        .map_err(|e| format!("{} (not a valid address: {e})", redact(&url)))?;
    let label = label(&config);
    config.connect_timeout(Duration::from_secs(2));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the reachability check");
    rt.block_on(async {
        // The connect timeout covers each address; the outer one the whole handshake.
        match tokio::time::timeout(Duration::from_secs(3), config.connect(NoTls)).await {
            Ok(Ok((client, connection))) => {
                drop(client);
                let _ = connection.await;
                Ok(label.clone())
            }
            Ok(Err(e)) => Err(format!("{label} ({})", describe(&e))),
            Err(_) => Err(format!("{label} (no answer within 3 s)")),
        }
    })
}

/// A fresh database holding a fresh store (schema migrated). Drop the store first: the
/// database's drop ends whatever connections are left anyway, but a live store's listener
/// would then spend the rest of the run trying to reconnect to a database that is gone.
pub(crate) fn open(rt: &Runtime) -> (Arc<PostgresStore>, TempDatabase) {
    let db = TempDatabase::create_blocking();
    let store = rt
        .block_on(PostgresStore::connect_with(
            db.url(),
            PostgresOptions {
                pool_size: POOL_SIZE,
                ..PostgresOptions::default()
            },
        ))
        .expect("connect the store to its fresh database");
    (Arc::new(store), db)
}

/// A plain connection, its driver spawned on the current runtime.
pub(crate) async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("a plain connection to the bench database");
    tokio::spawn(connection);
    client
}

/// The INSERT of the plain baseline: the store's columns, nothing else.
pub(crate) const INSERT: &str = "INSERT INTO mcp_tasks \
     (id, owner, session, status, created_at, expires_at, runner, record) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The statement `PostgresStore::create` runs (without a limit): the INSERT and, in the same
/// transaction, a `NOTIFY` to the other instances, on the store's channel.
pub(crate) const INSERT_NOTIFY: &str = "WITH i AS (INSERT INTO mcp_tasks \
     (id, owner, session, status, created_at, expires_at, runner, record) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING 1) \
     SELECT pg_notify('mcp_tasks_changes', $9) FROM i";

/// What the baseline runs per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Insert {
    /// [`INSERT`].
    Plain,
    /// [`INSERT_NOTIFY`], with a listening connection as a store has.
    Notify,
}

/// A row of `mcp_tasks` built from a new task as `PostgresStore::create` builds it:
/// `TaskRecord::new`, then the indexed columns and the record as JSON (`store/row.rs`).
pub(crate) struct Row {
    id: String,
    owner: Option<String>,
    session: Option<String>,
    status: &'static str,
    created_at: i64,
    expires_at: Option<i64>,
    runner: Option<String>,
    record: String,
}

impl Row {
    pub(crate) fn of(new: NewTask) -> Self {
        let record = TaskRecord::new(new);
        Self {
            id: record.id.as_str().to_owned(),
            owner: record.owner.as_ref().map(|o| o.as_str().to_owned()),
            session: record.session.clone(),
            status: record.status().as_str(),
            created_at: nanos(record.created_at),
            expires_at: record.expires_at.map(nanos),
            runner: record.runner.clone(),
            record: serde_json::to_string(&record).expect("encode the record"),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The values of [`INSERT`] (and of the big fill's `COPY`), in column order.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 8] {
        [
            &self.id,
            &self.owner,
            &self.session,
            &self.status,
            &self.created_at,
            &self.expires_at,
            &self.runner,
            &self.record,
        ]
    }
}

fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).expect("timestamp in range")
}

/// A database for the plain baseline: the store's schema (migrated by connecting a store once),
/// and `connections` plain connections, each with the statement of `insert` prepared.
pub(crate) struct Baseline {
    pub(crate) conns: Arc<Vec<(Client, Statement)>>,
    pub(crate) insert: Insert,
    /// For [`Insert::Notify`], a connection listening on the channel, as every store holds
    /// one: PostgreSQL queues notifications whether anyone listens or not, but this keeps
    /// the case the store's.
    _listener: Option<Client>,
    _db: TempDatabase,
}

impl Baseline {
    pub(crate) fn open(rt: &Runtime, connections: usize, insert: Insert) -> Self {
        let (store, db) = open(rt);
        drop(store);
        let sql = match insert {
            Insert::Plain => INSERT,
            Insert::Notify => INSERT_NOTIFY,
        };
        let (conns, listener) = rt.block_on(async {
            let mut conns = Vec::with_capacity(connections);
            for _ in 0..connections {
                let client = connect(db.url()).await;
                let stmt = client.prepare(sql).await.expect("prepare the INSERT");
                conns.push((client, stmt));
            }
            let listener = match insert {
                Insert::Plain => None,
                Insert::Notify => {
                    let client = connect(db.url()).await;
                    client
                        .batch_execute("LISTEN mcp_tasks_changes")
                        .await
                        .expect("LISTEN");
                    Some(client)
                }
            };
            (conns, listener)
        });
        Self {
            conns: Arc::new(conns),
            insert,
            _listener: listener,
            _db: db,
        }
    }
}

/// After a fill, what autovacuum would soon do anyway (`VACUUM ANALYZE`), done before the
/// measurements instead of in the middle of them, and so that the planner knows the table.
pub(crate) async fn settle(db: &TempDatabase) {
    db.execute("VACUUM ANALYZE mcp_tasks").await;
}

/// The big database and the ids it holds.
pub(crate) struct Big {
    pub(crate) store: Arc<PostgresStore>,
    pub(crate) ids: Vec<TaskId>,
    /// Declared after the store: fields drop in order, and the database goes last.
    _db: TempDatabase,
}

/// A fresh database holding `n` tasks, for `get` and the big `list` cases; dropped at the end
/// of the run (a fill takes seconds, so keeping it between runs is not worth a database that
/// outlives the process).
///
/// Filled with one binary `COPY` into `mcp_tasks`, not through the store's API (which commits
/// each create on its own and would take minutes per 100,000): the rows are built exactly as
/// the store builds them ([`Row::of`]: same ids, sessions, params and JSON as the big SQLite
/// file's tasks), into the table and indexes the store's migration made, with `version` left at
/// its default as a create leaves it. Then [`settle`], and a `CHECKPOINT`, so the load's dirty
/// pages are not written out in the middle of the measurements.
pub(crate) fn big(rt: &Runtime, n: usize) -> Big {
    let (store, db) = open(rt);
    eprintln!("filling a PostgreSQL database with {n} tasks by COPY...");
    let started = Instant::now();
    let ids: Vec<TaskId> = (0..n).map(|_| TaskId::generate()).collect();
    rt.block_on(async {
        let client = connect(db.url()).await;
        let sink = client
            .copy_in(
                "COPY mcp_tasks (id, owner, session, status, created_at, expires_at, runner, \
                 record) FROM STDIN (FORMAT binary)",
            )
            .await
            .expect("start the COPY");
        let types = [
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT8,
            Type::INT8,
            Type::TEXT,
            Type::TEXT,
        ];
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
        for (i, id) in ids.iter().enumerate() {
            let row = Row::of(new_task(id.clone(), &big_session(i), i, BIG_TTL));
            writer
                .as_mut()
                .write(&row.params())
                .await
                .expect("COPY a row");
        }
        let copied = writer.finish().await.expect("finish the COPY");
        assert_eq!(copied, n as u64);
        settle(&db).await;
        // Needs superuser or pg_checkpoint; without it the run only gets noisier.
        if let Err(e) = client.batch_execute("CHECKPOINT").await {
            eprintln!("  no CHECKPOINT after the fill ({})", describe(&e));
        }
        let count = store.count().await.expect("count the big database");
        assert_eq!(count, n as u64, "the store sees every copied row");
    });
    eprintln!("filled {n} tasks in {:.1?}", started.elapsed());
    Big {
        store,
        ids,
        _db: db,
    }
}

/// The server, for messages: `postgres://user@host:port/database`, never the password.
fn label(config: &Config) -> String {
    let user = config.get_user().unwrap_or("");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or(user);
    let at = if user.is_empty() { "" } else { "@" };
    format!("postgres://{user}{at}{host}:{port}/{db}")
}

/// An address that did not parse, without what could be a password.
fn redact(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((_, rest)) => format!("…@{rest} (from {ENV})"),
        None => url.to_owned(),
    }
}

/// What the server or the socket said, which `Display` alone leaves out.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}
