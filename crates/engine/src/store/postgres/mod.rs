//! The PostgreSQL store: tasks shared by several server instances.
//!
//! ```no_run
//! use mcp_tasks_engine::{PostgresStore, TaskStore};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mcp_tasks_engine::Error> {
//! let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/tasks").await?;
//! assert!(store.is_shared());
//! # Ok(()) }
//! ```
//!
//! How it keeps its promises when many processes use one database:
//! - **Durable before answered** (T-NEW-5): every write is committed before it returns, and is
//!   visible to every instance from then on. Creations, transitions and history events go
//!   through the store's [writers](writer), many to a transaction (group commit), and each is
//!   answered when the transaction holding it commits.
//! - **Terminal is final** (T-LIFE-2): a transition locks the task's row (`FOR UPDATE`),
//!   applies the change to its record with [`TaskRecord::apply`] and writes it back, bumping a
//!   `version` column, in one transaction; of a cancel racing a completion on two instances,
//!   the second to lock the row sees the first's outcome, so exactly one wins. (A recovery
//!   also locks the row; older versions compare the `version` they read and re-read if it
//!   moved, which the bump makes them do.)
//! - **Wake-ups cross instances**: each write transaction sends its changes with `NOTIFY`
//!   (packed, several to a notification; see [`notes`]); every instance's [listener](listen)
//!   puts other instances' changes on its local feed, and its own changes go there directly,
//!   without the round trip.
//! - **Limits are exact**: creating under [`NewTask::active_limit`] takes a transaction-scoped
//!   advisory lock on the requestor before counting, so two instances cannot both take the
//!   last slot.
//! - **Orphans are recovered once, and only when dead** (see "Shared stores" on
//!   [`TaskStore`]): a recovery locks the task row and the dead runner's lease row, so it either
//!   sees a renewal that came first and backs off, or the renewal waits for it and the runner
//!   learns its lease had lapsed.

mod listen;
mod notes;
mod schema;
mod tls;
mod writer;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use jiff::Timestamp;
use tokio_postgres::config::Host;
use tokio_postgres::Config;

use self::listen::{Listener, CHANNEL};
use self::writer::{Write, Writers};
use super::row::{self, Deleted, Row};
use super::{
    AdminQuery, Change, ChangeEvent, ChangeFeed, ChangeSender, Lease, ListQuery, TaskCount,
    TaskStore, UnfinishedQuery,
};
use crate::history::{self, EventKind, TaskEvent};
use crate::task::{NewTask, Owner, TaskId, TaskRecord, TaskStatus, Transition};
use crate::{Error, Result};

/// Capacity of the change feed; a slower subscriber lags and re-reads.
const FEED_CAPACITY: usize = 4096;

/// The statuses of unfinished tasks, as the partial indexes name them.
const LIVE: &str = "status IN ('working', 'input_required')";

/// How a [`PostgresStore`] connects.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// The most connections the pool opens for reads and the rarer writes (the listener and
    /// the writers hold three more).
    pub pool_size: usize,
    /// How long connecting may take, unless the address sets `connect_timeout`.
    pub connect_timeout: Duration,
    /// How long a request waits for a free pooled connection before it fails.
    pub wait_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(10),
        }
    }
}

/// Tasks in a PostgreSQL database, shared by every instance that connects to it.
#[derive(Debug)]
pub struct PostgresStore {
    pool: Pool,
    /// One connection for lease renewals alone, so that a pool busy with requests never makes
    /// a live instance miss its renewal and look dead.
    lease_pool: Pool,
    /// Creations, transitions and events, batched ([`writer`]).
    writers: Writers,
    label: String,
    /// This handle's id, in its listening connection's `application_name`.
    origin: String,
    feed: ChangeSender,
    listener: Listener,
    /// Where this process runs, for operators reading `mcp_tasks_instances`.
    host: String,
    cursor_key: crate::cursor::CursorKey,
}

impl PostgresStore {
    /// Connects with default options.
    ///
    /// # Errors
    ///
    /// As [`PostgresStore::connect_with`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, or
    /// the `key=value` form), brings its schema up to date and starts listening for other
    /// instances' changes. The database must exist; its tables are created.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] saying why: the address is malformed, its TLS settings are unknown or
    /// name a CA file that cannot be read, the TLS handshake or certificate check fails, the
    /// server is out of reach or refuses the credentials, the database does not exist, or it was migrated by
    /// a newer version.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self> {
        let (mut config, label, tls) = parse(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("mcp-tasks");
        }
        // A path that dies silently (no reset) fails a connection within about half a minute
        // instead of the kernel's quarter of an hour, so the pool and the listener replace it.
        config.keepalives_idle(Duration::from_secs(15));
        config.keepalives_interval(Duration::from_secs(5));
        config.keepalives_retries(3);
        config.tcp_user_timeout(Duration::from_secs(30));

        let cannot = |what: &str, e: &dyn std::fmt::Display| {
            Error::store(format!("cannot open the task store {label}: {what}{e}"))
        };
        let (mut client, connection) = config.connect(tls.clone()).await.map_err(|e| {
            let hint = if describe(&e).contains("TLS") {
                "check the address's sslmode and sslrootcert"
            } else {
                "is PostgreSQL running there, and does the database exist?"
            };
            cannot("", &format!("{}; {hint}", describe(&e)))
        })?;
        let driver = tokio::spawn(connection);
        let opened = match schema::migrate(&mut client).await {
            Ok(()) => schema::cursor_key(&client)
                .await
                .map_err(|e| cannot("reading its cursor key: ", &describe(&e))),
            Err(schema::MigrateError::Postgres(e)) => {
                Err(cannot("migrating its schema: ", &describe(&e)))
            }
            Err(too_new @ schema::MigrateError::TooNew { .. }) => Err(cannot("", &too_new)),
        };
        drop(client);
        let _ = driver.await;
        let cursor_key = crate::cursor::CursorKey(opened?);

        let connect_timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(options.connect_timeout);
        let pool_of = |size: usize| {
            let manager = Manager::from_config(
                config.clone(),
                tls.clone(),
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(options.wait_timeout))
                .create_timeout(Some(connect_timeout))
                .recycle_timeout(Some(connect_timeout))
                .build()
                .map_err(|e| cannot("", &e))
        };
        let pool = pool_of(options.pool_size.max(1))?;
        let lease_pool = pool_of(1)?;

        let origin = uuid::Uuid::new_v4().simple().to_string();
        let feed = ChangeSender::new(FEED_CAPACITY);
        let mut listen_config = config.clone();
        listen_config.application_name(notes::listener_name(&origin));
        let listener = Listener::start(listen_config, tls.clone(), feed.clone(), label.clone())
            .await
            .map_err(|e| cannot("listening for changes: ", &describe(&e)))?;
        let writers = Writers::start(writer::WRITERS, config, tls, feed.clone(), label.clone());
        Ok(Self {
            pool,
            writers,
            lease_pool,
            label,
            origin,
            feed,
            listener,
            host: host(),
            cursor_key,
        })
    }

    /// Checks an address without connecting, for settings that must be refused before a
    /// server starts; returns it without its password, fit for messages and logs.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] saying what is wrong with it, as [`PostgresStore::connect_with`] would.
    pub fn check_url(url: &str) -> Result<String> {
        parse(url).map(|(_, label, _)| label)
    }

    /// The database, for messages: its address without the password.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// This handle's id. Its listening connection's `application_name` is
    /// `mcp-tasks listener <id> packed`, which is how an operator finds it in
    /// `pg_stat_activity` (`packed`: it reads the packed notes of batched writes).
    pub fn instance(&self) -> &str {
        &self.origin
    }

    /// How many times the listening connection was lost and made again.
    pub fn listener_reconnects(&self) -> u64 {
        self.listener.reconnects()
    }

    /// How many tasks the database holds, expired or not.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the database cannot be read.
    pub async fn count(&self) -> Result<u64> {
        let client = self.client().await?;
        let n: i64 = client
            .query_one("SELECT count(*) FROM mcp_tasks", &[])
            .await
            .map_err(|e| self.fail(&e))?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.client_of(&self.pool).await
    }

    async fn client_of(&self, pool: &Pool) -> Result<deadpool_postgres::Object> {
        pool.get().await.map_err(|e| {
            let why = match e {
                PoolError::Backend(e) => describe(&e),
                PoolError::Timeout(_) => format!(
                    "no database connection came free in time (all {} in use, or the server is \
                     out of reach)",
                    pool.status().max_size
                ),
                other => other.to_string(),
            };
            Error::store(format!("{}: {why}", self.label))
        })
    }

    fn fail(&self, e: &tokio_postgres::Error) -> Error {
        Error::store(format!("{}: {}", self.label, describe(e)))
    }

    async fn read_records(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<TaskRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.fail(&e))?;
        let rows = client
            .query(&stmt, params)
            .await
            .map_err(|e| self.fail(&e))?;
        rows.iter().map(|r| row::decode(r.get(0))).collect()
    }

    /// A recovery: under row locks on the task and on its dead runner's lease; see the module
    /// docs.
    async fn recover(&self, id: &TaskId, change: Transition, now: Timestamp) -> Result<TaskRecord> {
        let dead_runner = match &change {
            Transition::Recover { dead_runner, .. } => dead_runner.clone(),
            _ => None,
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.fail(&e))?;
        let row = tx
            .query_opt(
                "SELECT record, events FROM mcp_tasks WHERE id = $1 FOR UPDATE",
                &[&id.as_str()],
            )
            .await
            .map_err(|e| self.fail(&e))?
            .ok_or_else(|| Error::NotFound { id: id.clone() })?;
        let mut record = row::decode(row.get(0))?;
        let events: i64 = row.get(1);
        let event = history::apply(&mut record, change, now)?;
        if let Some(runner) = dead_runner {
            // Locked until commit: a renewal waits, then finds `taken` raised.
            let alive: Option<bool> = tx
                .query_opt(
                    "SELECT lease_until > now() FROM mcp_tasks_instances WHERE runner = $1 \
                     FOR UPDATE",
                    &[&runner],
                )
                .await
                .map_err(|e| self.fail(&e))?
                .map(|r| r.get(0));
            if alive == Some(true) {
                return Err(Error::RunnerAlive {
                    id: id.clone(),
                    runner: Some(runner),
                });
            }
            if event.is_some() && alive.is_some() {
                tx.execute(
                    "UPDATE mcp_tasks_instances SET taken = taken + 1 WHERE runner = $1",
                    &[&runner],
                )
                .await
                .map_err(|e| self.fail(&e))?;
            }
        }
        let Some(event) = event else {
            return Ok(record);
        };
        let written = Row::of(&record)?;
        let body = row::encode_event(&TaskEvent::new(seq(events), now, &record, event))?;
        let change = Change {
            id: id.clone(),
            event: ChangeEvent::Updated(record.status()),
        };
        tx.execute(
            "WITH u AS (UPDATE mcp_tasks SET status = $2, runner = $3, record = $4, \
             updated_at = $7, events = events + 1, version = version + 1 WHERE id = $1 \
             RETURNING id, events), \
             e AS (INSERT INTO mcp_tasks_events (task_id, seq, at, body) \
             SELECT id, events, $8, $9 FROM u) \
             SELECT pg_notify($5, $6) FROM u",
            &[
                &written.id,
                &written.status,
                &written.runner,
                &written.record,
                &CHANNEL,
                &notes::note(&change),
                &written.updated_at,
                &row::nanos(now),
                &body,
            ],
        )
        .await
        .map_err(|e| self.fail(&e))?;
        tx.commit().await.map_err(|e| self.fail(&e))?;
        self.feed.send(change);
        Ok(record)
    }
}

#[async_trait]
impl TaskStore for PostgresStore {
    fn cursor_key(&self) -> &[u8] {
        &self.cursor_key.0
    }

    async fn create(&self, new: NewTask) -> Result<TaskRecord> {
        crate::task::storable(&new.requestor, new.name.as_deref())?;
        if !new.id.can_exist() {
            return Err(Error::NulByte { field: "task id" });
        }
        let limit = new.active_limit;
        let record = TaskRecord::new(new);
        let row = Row::of(&record)?;
        let body = row::encode_event(&TaskEvent::new(
            1,
            record.created_at,
            &record,
            EventKind::created(&record),
        ))?;
        self.writers
            .write(Write::Create {
                record: Box::new(record),
                row: Box::new(row),
                body,
                limit,
            })
            .await
    }

    async fn get(&self, owner: Option<&Owner>, id: &TaskId) -> Result<Option<TaskRecord>> {
        if !id.can_exist() || owner.is_some_and(|o| has_nul(o.as_str())) {
            return Ok(None);
        }
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT record FROM mcp_tasks WHERE id = $1 AND owner IS NOT DISTINCT FROM $2",
            )
            .await
            .map_err(|e| self.fail(&e))?;
        let row = client
            .query_opt(&stmt, &[&id.as_str(), &owner.map(Owner::as_str)])
            .await
            .map_err(|e| self.fail(&e))?;
        row.map(|r| row::decode(r.get(0))).transpose()
    }

    async fn transition(
        &self,
        id: &TaskId,
        change: Transition,
        now: Timestamp,
    ) -> Result<TaskRecord> {
        if !id.can_exist() {
            return Err(Error::NotFound { id: id.clone() });
        }
        if matches!(change, Transition::Recover { .. }) {
            return self.recover(id, change, now).await;
        }
        self.writers
            .write(Write::Transition {
                id: id.clone(),
                change,
                now,
            })
            .await
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<TaskRecord>> {
        let (after_at, after_id) = row::after(query.after.as_ref());
        let limit = limit(query.limit);
        if query.owner.as_ref().is_some_and(|o| has_nul(o.as_str()))
            || query.session.as_deref().is_some_and(has_nul)
        {
            return Ok(Vec::new());
        }
        match (&query.owner, &query.session) {
            // Every session of an owner, on every instance, reads the same index in the same
            // order: the listing is one, wherever it is asked for.
            (Some(owner), _) => {
                self.read_records(
                    "SELECT record FROM mcp_tasks WHERE owner = $1 AND (created_at, id) > ($2, $3) \
                     ORDER BY created_at, id LIMIT $4",
                    &[&owner.as_str(), &after_at, &after_id, &limit],
                )
                .await
            }
            (None, Some(session)) => {
                self.read_records(
                    "SELECT record FROM mcp_tasks WHERE owner IS NULL AND session = $1 \
                     AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $4",
                    &[session, &after_at, &after_id, &limit],
                )
                .await
            }
            // Nothing tells an anonymous requestor without a session apart (T-LIST-2).
            (None, None) => Ok(Vec::new()),
        }
    }

    async fn delete_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
        let client = self.client().await?;
        // SKIP LOCKED: the sweepers of several instances share the work instead of queueing.
        let stmt = client
            .prepare_cached(
                "WITH d AS (DELETE FROM mcp_tasks WHERE id IN \
                 (SELECT id FROM mcp_tasks WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 \
                 FOR UPDATE SKIP LOCKED) RETURNING id, record) \
                 SELECT d.record, d.id, pg_notify($3, $4 || d.id)::text FROM d",
            )
            .await
            .map_err(|e| self.fail(&e))?;
        let prefix = notes::prefix(&ChangeEvent::Expired);
        let rows = client
            .query(
                &stmt,
                &[&row::nanos(now), &self::limit(limit), &CHANNEL, &prefix],
            )
            .await
            .map_err(|e| self.fail(&e))?;
        let mut gone = Deleted::default();
        for r in &rows {
            gone.push(r.get(1), r.get(0));
        }
        Ok(gone.publish(&self.label, &self.feed))
    }

    async fn unfinished(&self, query: &UnfinishedQuery) -> Result<Vec<TaskRecord>> {
        let (after_at, after_id) = row::after(query.after.as_ref());
        let sql = format!(
            "SELECT record FROM mcp_tasks t WHERE {LIVE} \
             AND ($1::text IS NULL OR t.runner IS DISTINCT FROM $1) \
             AND NOT EXISTS (SELECT 1 FROM mcp_tasks_instances i \
                             WHERE i.runner = t.runner AND i.lease_until > now()) \
             AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $4"
        );
        self.read_records(
            &sql,
            &[
                &query.except_runner,
                &after_at,
                &after_id,
                &limit(query.limit),
            ],
        )
        .await
    }

    fn changes(&self) -> ChangeFeed {
        self.feed.subscribe()
    }

    async fn record(&self, id: &TaskId, at: Timestamp, kind: EventKind) -> Result<()> {
        if !id.can_exist() {
            return Err(Error::NotFound { id: id.clone() });
        }
        self.writers
            .write(Write::Record {
                id: id.clone(),
                at,
                kind,
            })
            .await
            .map(drop)
    }

    async fn history(
        &self,
        id: &TaskId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskEvent>> {
        if !id.can_exist() {
            return Ok(Vec::new());
        }
        let after = after.map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX));
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT body FROM mcp_tasks_events WHERE task_id = $1 AND seq > $2 \
                 ORDER BY seq LIMIT $3",
            )
            .await
            .map_err(|e| self.fail(&e))?;
        let rows = client
            .query(&stmt, &[&id.as_str(), &after, &self::limit(limit)])
            .await
            .map_err(|e| self.fail(&e))?;
        rows.iter().map(|r| row::decode_event(r.get(0))).collect()
    }

    async fn inspect(&self, id: &TaskId) -> Result<Option<TaskRecord>> {
        if !id.can_exist() {
            return Ok(None);
        }
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT record FROM mcp_tasks WHERE id = $1")
            .await
            .map_err(|e| self.fail(&e))?;
        let row = client
            .query_opt(&stmt, &[&id.as_str()])
            .await
            .map_err(|e| self.fail(&e))?;
        row.map(|r| row::decode(r.get(0))).transpose()
    }

    async fn admin_list(&self, query: &AdminQuery) -> Result<Vec<TaskRecord>> {
        let owner = match &query.owner {
            Some(super::OwnerFilter::Owner(owner)) => Some(owner.as_str()),
            _ => None,
        };
        if owner.is_some_and(has_nul) || query.tool.as_deref().is_some_and(has_nul) {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new("SELECT record FROM mcp_tasks WHERE true");
        if !query.statuses.is_empty() {
            let statuses: Vec<String> = query
                .statuses
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            sql.text(" AND status = ANY(").arg(statuses).text(")");
        }
        row::admin_filters(&mut sql, query);
        sql.text(" ORDER BY created_at DESC, id DESC LIMIT ")
            .arg(limit(query.limit));
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            sql.args.iter().map(|a| a.as_ref() as _).collect();
        self.read_records(&sql.text, &params).await
    }

    async fn purge(&self, finished_before: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
        let client = self.client().await?;
        // As the sweep: instances purging at once share the work; the history goes by cascade.
        let stmt = client
            .prepare_cached(
                "WITH d AS (DELETE FROM mcp_tasks WHERE id IN \
                 (SELECT id FROM mcp_tasks WHERE status IN ('completed', 'failed', 'cancelled') \
                 AND updated_at < $1 ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, record) \
                 SELECT d.record, d.id, pg_notify($3, $4 || d.id)::text FROM d",
            )
            .await
            .map_err(|e| self.fail(&e))?;
        let prefix = notes::prefix(&ChangeEvent::Expired);
        let rows = client
            .query(
                &stmt,
                &[
                    &row::nanos(finished_before),
                    &self::limit(limit),
                    &CHANNEL,
                    &prefix,
                ],
            )
            .await
            .map_err(|e| self.fail(&e))?;
        let mut gone = Deleted::default();
        for r in &rows {
            gone.push(r.get(1), r.get(0));
        }
        Ok(gone.publish(&self.label, &self.feed))
    }

    async fn counts(&self) -> Result<Vec<TaskCount>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT status, name, owner, count(*) FROM mcp_tasks GROUP BY name, owner, status",
            )
            .await
            .map_err(|e| self.fail(&e))?;
        let rows = client.query(&stmt, &[]).await.map_err(|e| self.fail(&e))?;
        rows.iter()
            .map(|r| {
                let status: &str = r.get(0);
                Ok(TaskCount {
                    status: TaskStatus::parse(status).ok_or_else(|| {
                        Error::store(format!(
                            "{}: a task has the unknown status {status:?}; the database was \
                             changed by something else",
                            self.label
                        ))
                    })?,
                    tool: r.get(1),
                    owner: r.get::<_, Option<String>>(2).map(Owner::new),
                    count: u64::try_from(r.get::<_, i64>(3)).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn check(&self) -> Result<()> {
        let client = self.client().await?;
        client
            .query_one("SELECT 1", &[])
            .await
            .map_err(|e| self.fail(&e))?;
        Ok(())
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn renew_lease(&self, runner: &str, ttl: Duration) -> Result<Lease> {
        let mut client = self.client_of(&self.lease_pool).await?;
        let tx = client.transaction().await.map_err(|e| self.fail(&e))?;
        let before = tx
            .query_opt(
                "SELECT lease_until > now(), taken FROM mcp_tasks_instances WHERE runner = $1 \
                 FOR UPDATE",
                &[&runner],
            )
            .await
            .map_err(|e| self.fail(&e))?
            .map(|r| (r.get::<_, bool>(0), r.get::<_, i32>(1)));
        tx.execute(
            "INSERT INTO mcp_tasks_instances (runner, lease_until, host) \
             VALUES ($1, now() + make_interval(secs => $2), $3) \
             ON CONFLICT (runner) DO UPDATE SET lease_until = EXCLUDED.lease_until, taken = 0",
            &[&runner, &ttl.as_secs_f64(), &self.host],
        )
        .await
        .map_err(|e| self.fail(&e))?;
        let lease = match before {
            Some((true, 0)) => Lease::Kept,
            Some(_) => Lease::Regained,
            None => {
                // Rows of instances gone for a day help nobody; a runner without one is dead
                // all the same.
                tx.execute(
                    "DELETE FROM mcp_tasks_instances WHERE lease_until < now() - interval '1 day'",
                    &[],
                )
                .await
                .map_err(|e| self.fail(&e))?;
                Lease::Started
            }
        };
        tx.commit().await.map_err(|e| self.fail(&e))?;
        Ok(lease)
    }

    async fn release_lease(&self, runner: &str) -> Result<()> {
        let client = self.client_of(&self.lease_pool).await?;
        client
            .execute(
                "UPDATE mcp_tasks_instances SET lease_until = now() WHERE runner = $1",
                &[&runner],
            )
            .await
            .map_err(|e| self.fail(&e))?;
        Ok(())
    }
}

/// Whether a string holds a NUL byte, which PostgreSQL's text refuses. No stored task has one
/// in its id, owner, session or tool name ([`crate::task::storable`] refuses them), so a lookup
/// by one finds nothing, and is answered so without asking the database, which would fail it.
fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The seq of the event that follows `events` events.
fn seq(events: i64) -> u64 {
    u64::try_from(events).unwrap_or(0) + 1
}

/// A statement put together from optional parts, with its numbered parameters.
struct Sql {
    text: String,
    args: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>>,
}

impl Sql {
    fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    fn text(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a parameter's placeholder, and the parameter.
    fn arg(
        &mut self,
        value: impl tokio_postgres::types::ToSql + Sync + Send + 'static,
    ) -> &mut Self {
        self.args.push(Box::new(value));
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }
}

impl row::Statement for Sql {
    fn text(&mut self, text: &str) -> &mut Self {
        Self::text(self, text)
    }

    fn text_arg(&mut self, value: String) -> &mut Self {
        self.arg(value)
    }

    fn int_arg(&mut self, value: i64) -> &mut Self {
        self.arg(value)
    }
}

/// The address parsed, its label, and its TLS as `sslmode` and `sslrootcert` ask (see [`tls`]).
/// The `sslrootcert` file is read here, so a missing or unreadable one is refused before a
/// server starts.
fn parse(url: &str) -> Result<(Config, String, tls::Tls)> {
    let invalid = |e: &dyn std::fmt::Display| {
        Error::store(format!(
            "the PostgreSQL address is not valid ({e}); write it as \
             postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE&sslrootcert=PATH]"
        ))
    };
    let (rest, settings) = tls::split(url).map_err(|e| invalid(&e))?;
    let mut config: Config = rest.parse().map_err(|e| invalid(&e))?;
    config.ssl_mode(settings.mode.wire());
    let label = label(&config);
    let tls = tls::Tls::new(&settings).map_err(|e| Error::store(format!("{label}: {e}")))?;
    Ok((config, label, tls))
}

/// The address without its password: `postgres://user@host:port/database`.
fn label(config: &Config) -> String {
    let user = config.get_user().unwrap_or("");
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or(user);
    let at = if user.is_empty() { "" } else { "@" };
    format!("postgres://{user}{at}{host}:{port}/{db}")
}

/// A PostgreSQL error with what the server said, which `Display` alone leaves out.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{} ({})", db.message(), db.code().code());
        if let Some(hint) = db.hint() {
            text.push_str("; ");
            text.push_str(hint);
        }
        return text;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("{name} pid {}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_leave_out_the_password() {
        let config: Config = "postgres://alice:secret@db.example:6543/tasks"
            .parse()
            .unwrap();
        assert_eq!(label(&config), "postgres://alice@db.example:6543/tasks");
        let config: Config = "host=localhost user=bob".parse().unwrap();
        assert_eq!(label(&config), "postgres://bob@localhost:5432/bob");
    }

    #[test]
    fn the_schema_has_a_version() {
        assert!(schema::latest() >= 1);
    }
}
