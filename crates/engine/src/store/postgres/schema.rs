//! The database's layout and its versioned migrations.
//!
//! Every applied version is a row of `mcp_tasks_schema`. Migrations run in one transaction
//! under an advisory lock, so instances that start together migrate once, and a failed
//! migration leaves the previous version whole. A database migrated by a newer build is refused
//! rather than misread.

use tokio_postgres::Client;

/// Any constant shared by every instance: the advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x4d43_5054_4d49_4752; // "MCPTMIGR"

/// Each entry moves the schema up one version.
///
/// As in the SQLite store, the columns beside `record` exist to be indexed: the record (JSON
/// text) is the truth and every write sets both from the same record. `version` counts writes,
/// for the compare-and-swap of transitions.
///
/// # Locks, and instances of an older version still running
///
/// Instances of several versions may share the database during a rolling upgrade: the first
/// to start migrates, and the others go on serving while it does, and after.
/// - Version 3 adds columns (`ALTER TABLE`), which takes an ACCESS EXCLUSIVE lock on
///   `mcp_tasks`, and fills them from every row's record in the same transaction: every
///   instance's reads and writes of tasks wait until the migration commits, about the time of
///   rewriting the whole table (seconds per million tasks). Migrate at a quiet time, or stop
///   the instances, if that pause matters.
/// - Version 4 creates triggers (a SHARE ROW EXCLUSIVE lock: writes wait, reads go on) and then
///   fills only the rows an instance of version 2 wrote since version 3.
/// - A version-2 instance still running afterwards writes rows without `name` and
///   `updated_at`, and updates records without `updated_at`; the triggers of version 4 fill
///   both from the record, so its tasks are listed by tool, counted and purged like the others.
///   Its writes leave no history: a task it created or changed has events missing from its
///   history.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE mcp_tasks (
        id         text PRIMARY KEY,
        owner      text,
        session    text,
        status     text NOT NULL,
        created_at bigint NOT NULL,  -- unix nanoseconds
        expires_at bigint,           -- unix nanoseconds; NULL is never
        runner     text,
        version    bigint NOT NULL DEFAULT 0,
        record     text NOT NULL     -- the whole TaskRecord as JSON
    );
    -- tasks/list of an owner (from any instance), and of an anonymous session.
    CREATE INDEX mcp_tasks_by_owner ON mcp_tasks (owner, created_at, id) WHERE owner IS NOT NULL;
    CREATE INDEX mcp_tasks_by_session ON mcp_tasks (session, created_at, id) WHERE owner IS NULL;
    -- The sweepers of every instance.
    CREATE INDEX mcp_tasks_by_expiry ON mcp_tasks (expires_at) WHERE expires_at IS NOT NULL;
    -- Per-requestor limits and orphan recovery look at unfinished tasks only.
    CREATE INDEX mcp_tasks_live_by_requestor ON mcp_tasks (owner, session)
        WHERE status IN ('working', 'input_required');
    CREATE INDEX mcp_tasks_live_by_age ON mcp_tasks (created_at, id)
        WHERE status IN ('working', 'input_required');

    -- One row per server instance (runner) that ever served this database. Times are the
    -- database's clock, so the instances' clocks need not agree.
    -- `taken` counts the runner's tasks recovered by others since its last renewal: the
    -- renewal reads and clears it under the row lock, so a runner always learns of a take-over,
    -- whatever the clocks of the two transactions said.
    CREATE TABLE mcp_tasks_instances (
        runner      text PRIMARY KEY,
        started_at  timestamptz NOT NULL DEFAULT now(),
        lease_until timestamptz NOT NULL,
        taken       integer NOT NULL DEFAULT 0,
        host        text
    );
",
    "
    -- Secrets every instance shares, such as the key of tasks/list cursors.
    CREATE TABLE mcp_tasks_meta (
        name  text PRIMARY KEY,
        value bytea NOT NULL
    );
",
    "
    -- Operators (issue 15): filter by tool, purge by age, and keep each task's history.
    -- `events` counts the task's history, so the next event's seq is known with the version
    -- that a write compares.
    ALTER TABLE mcp_tasks ADD COLUMN name text;
    ALTER TABLE mcp_tasks ADD COLUMN updated_at bigint;  -- unix nanoseconds
    ALTER TABLE mcp_tasks ADD COLUMN events bigint NOT NULL DEFAULT 0;
    -- Tasks of older versions: microsecond precision is what timestamptz keeps.
    UPDATE mcp_tasks SET
        name = record::json->>'name',
        updated_at = (extract(epoch FROM (record::json->>'last_updated_at')::timestamptz)
                      * 1000000)::bigint * 1000;
    -- Every owner's tasks, newest first.
    CREATE INDEX mcp_tasks_by_age ON mcp_tasks (created_at, id);
    -- Counts by tool, owner and status (not led by status, which the live indexes serve).
    CREATE INDEX mcp_tasks_by_group ON mcp_tasks (name, owner, status);
    -- Purging finished tasks by the time they finished.
    CREATE INDEX mcp_tasks_finished_by_update ON mcp_tasks (updated_at)
        WHERE status IN ('completed', 'failed', 'cancelled');
    -- Each task's history: the events in order, deleted with the task.
    CREATE TABLE mcp_tasks_events (
        task_id text NOT NULL REFERENCES mcp_tasks (id) ON DELETE CASCADE,
        seq     bigint NOT NULL,  -- 1, 2, 3… per task
        at      bigint NOT NULL,  -- unix nanoseconds
        body    text NOT NULL,    -- the whole TaskEvent as JSON
        PRIMARY KEY (task_id, seq)
    );
",
    "
    -- Instances of version 2 may still be running (see MIGRATIONS): their inserts leave name
    -- and updated_at NULL, and their updates change the record without updated_at. Every write
    -- of version 3 on sets updated_at, and bumps events whenever it changes the record, so
    -- these conditions single out the older writers' rows, which get both columns from their
    -- record (to the microsecond, as in version 3). The function is not even called otherwise.
    CREATE FUNCTION mcp_tasks_columns_from_record() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.name := NEW.record::json->>'name';
        NEW.updated_at := (extract(epoch FROM (NEW.record::json->>'last_updated_at')::timestamptz)
                           * 1000000)::bigint * 1000;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER mcp_tasks_columns_on_insert BEFORE INSERT ON mcp_tasks FOR EACH ROW
        WHEN (NEW.updated_at IS NULL)
        EXECUTE FUNCTION mcp_tasks_columns_from_record();
    CREATE TRIGGER mcp_tasks_columns_on_update BEFORE UPDATE ON mcp_tasks FOR EACH ROW
        WHEN (NEW.events = OLD.events AND NEW.record IS DISTINCT FROM OLD.record)
        EXECUTE FUNCTION mcp_tasks_columns_from_record();
    -- What version-2 instances wrote since version 3, now that no more can slip in: rows
    -- without the columns, and finished rows without the two events of a version-3 life
    -- (created, ended), whose updated_at may date from before they finished.
    UPDATE mcp_tasks SET
        name = record::json->>'name',
        updated_at = (extract(epoch FROM (record::json->>'last_updated_at')::timestamptz)
                      * 1000000)::bigint * 1000
    WHERE updated_at IS NULL
       OR (events < 2 AND status IN ('completed', 'failed', 'cancelled'));
",
];

/// The `tasks/list` cursor key every instance shares: the first instance to ask makes it at
/// random, and all read the one that won.
pub(super) async fn cursor_key(client: &Client) -> Result<Vec<u8>, tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO mcp_tasks_meta (name, value) VALUES ('cursor_key', $1) \
             ON CONFLICT (name) DO NOTHING",
            &[&crate::cursor::random_key()],
        )
        .await?;
    Ok(client
        .query_one(
            "SELECT value FROM mcp_tasks_meta WHERE name = 'cursor_key'",
            &[],
        )
        .await?
        .get(0))
}

/// Why the database cannot be migrated.
#[derive(Debug, thiserror::Error)]
pub(super) enum MigrateError {
    #[error(
        "it was migrated by a newer mcp-tasks (schema version {found}; this build knows up to \
         {known}); upgrade mcp-tasks to use it"
    )]
    TooNew { found: i32, known: i32 },
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// Brings the database to the latest schema version.
pub(super) async fn migrate(client: &mut Client) -> Result<(), MigrateError> {
    let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS mcp_tasks_schema (
            version    integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let found: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM mcp_tasks_schema",
            &[],
        )
        .await?
        .get(0);
    if found > known {
        return Err(MigrateError::TooNew { found, known });
    }
    if found > 0 && found < known {
        // Upgrading a large table takes a while, and holds its lock meanwhile (see MIGRATIONS).
        tracing::info!(
            from = found,
            to = known,
            "migrating the task store's schema"
        );
    }
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql).await?;
        let version = i32::try_from(done + 1).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO mcp_tasks_schema (version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The schema version this build writes.
#[cfg(test)]
pub(super) fn latest() -> i32 {
    MIGRATIONS.len() as i32
}
