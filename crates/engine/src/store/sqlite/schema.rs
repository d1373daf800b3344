//! The file's layout: connection settings and the versioned migrations.
//!
//! The schema version lives in `PRAGMA user_version`; migration `n` (1-based) moves a file from
//! version `n - 1` to `n` inside one transaction, so a crash mid-migration leaves the old
//! version intact. A file from a newer build is refused rather than misread.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::Synchronous;

/// Marks a file as ours (`PRAGMA application_id`), so another program's database is refused
/// instead of being migrated: "MCPT" in ASCII.
const APPLICATION_ID: i32 = 0x4d43_5054;

/// Each entry moves the schema up one version.
///
/// The columns beside `record` exist only to be indexed: the record (JSON) is the truth, and
/// every write sets both from the same [`TaskRecord`](crate::task::TaskRecord).
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE tasks (
        id         TEXT PRIMARY KEY NOT NULL,
        owner      TEXT,
        session    TEXT,
        status     TEXT NOT NULL,
        created_at INTEGER NOT NULL,  -- unix nanoseconds
        expires_at INTEGER,           -- unix nanoseconds; NULL is never
        runner     TEXT,
        record     TEXT NOT NULL      -- the whole TaskRecord as JSON
    );
    -- tasks/list of an owner, and of an anonymous session.
    CREATE INDEX tasks_by_owner ON tasks (owner, created_at, id) WHERE owner IS NOT NULL;
    CREATE INDEX tasks_by_session ON tasks (session, created_at, id) WHERE owner IS NULL;
    -- The sweeper.
    CREATE INDEX tasks_by_expiry ON tasks (expires_at) WHERE expires_at IS NOT NULL;
    -- Per-requestor limits and orphan recovery look at unfinished tasks only.
    CREATE INDEX tasks_live_by_requestor ON tasks (owner, session)
        WHERE status IN ('working', 'input_required');
    CREATE INDEX tasks_live_by_age ON tasks (created_at, id)
        WHERE status IN ('working', 'input_required');
",
    "
    -- Secrets of this store that outlive its process, such as the key of tasks/list cursors.
    CREATE TABLE meta (
        name  TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL
    );
",
    "
    -- Operators (issue 15): filter by tool, purge by age, and keep each task's history.
    ALTER TABLE tasks ADD COLUMN name TEXT;
    ALTER TABLE tasks ADD COLUMN updated_at INTEGER;  -- unix nanoseconds
    -- Tasks of older versions: millisecond precision is what SQLite's date functions give.
    UPDATE tasks SET
        name = json_extract(record, '$.name'),
        updated_at = CAST(unixepoch(json_extract(record, '$.last_updated_at'), 'subsec') * 1000
                          AS INTEGER) * 1000000;
    -- Every owner's tasks, newest first.
    CREATE INDEX tasks_by_age ON tasks (created_at, id);
    -- Counts by tool, owner and status (not led by status, which the live indexes serve).
    CREATE INDEX tasks_by_group ON tasks (name, owner, status);
    -- Purging finished tasks by the time they finished.
    CREATE INDEX tasks_finished_by_update ON tasks (updated_at)
        WHERE status IN ('completed', 'failed', 'cancelled');
    -- Each task's history: the events in order, deleted with the task.
    CREATE TABLE task_events (
        task_id TEXT NOT NULL,
        seq     INTEGER NOT NULL,  -- 1, 2, 3… per task
        at      INTEGER NOT NULL,  -- unix nanoseconds
        body    TEXT NOT NULL,     -- the whole TaskEvent as JSON
        PRIMARY KEY (task_id, seq)
    ) WITHOUT ROWID;
    CREATE TRIGGER tasks_delete_history AFTER DELETE ON tasks BEGIN
        DELETE FROM task_events WHERE task_id = OLD.id;
    END;
",
    "
    -- The operator's listing filtered by status, owner (or none) or tool walks an index in its
    -- own order, newest first, instead of every task or a sort of every match. Unfinished
    -- tasks by status take tasks_live_by_age; finished ones one index per status, since an
    -- index led by status would take the plans of recovery and purge from their own indexes.
    CREATE INDEX tasks_completed_by_age ON tasks (created_at, id) WHERE status = 'completed';
    CREATE INDEX tasks_failed_by_age ON tasks (created_at, id) WHERE status = 'failed';
    CREATE INDEX tasks_cancelled_by_age ON tasks (created_at, id) WHERE status = 'cancelled';
    CREATE INDEX tasks_by_name ON tasks (name, created_at, id);
    -- Unowned tasks too (owner IS NULL), which the partial index of version 1 left out.
    DROP INDEX tasks_by_owner;
    CREATE INDEX tasks_by_owner ON tasks (owner, created_at, id);
",
    "
    -- Issue 14: the cost of a write is the pages it dirties, and each commit writes every
    -- dirtied page to the log (then, at the checkpoint, to the file). An index whose entries
    -- of a batch land at the end (a time) costs a page per commit; one whose entries land at
    -- random (a task id, a requestor) costs a page per write.
    --
    -- The history, in the order it is written: the events of a batch are appended, not
    -- spread over the file by their random task ids (which cost a page per event). A task's
    -- events are found by its creation time and id, which put a new task's events at the
    -- end of the index and an older one's next to its others. The old events are copied in
    -- that order, walking the tasks by age (an index dropped below) and each task's events
    -- by their key, so nothing is sorted (the order of rows is only locality: each task's
    -- events are numbered by seq).
    CREATE TABLE task_history (
        task_created INTEGER NOT NULL,  -- the task's created_at
        task_id      TEXT NOT NULL,
        seq          INTEGER NOT NULL,  -- 1, 2, 3… per task
        at           INTEGER NOT NULL,  -- unix nanoseconds
        body         TEXT NOT NULL      -- the whole TaskEvent as JSON
    );
    INSERT INTO task_history (task_created, task_id, seq, at, body)
        SELECT t.created_at, e.task_id, e.seq, e.at, e.body
        FROM tasks t INDEXED BY tasks_by_age JOIN task_events e ON e.task_id = t.id
        ORDER BY t.created_at, t.id;
    DROP TRIGGER tasks_delete_history;
    DROP TABLE task_events;
    ALTER TABLE task_history RENAME TO task_events;
    CREATE UNIQUE INDEX task_events_by_task ON task_events (task_created, task_id, seq);
    CREATE TRIGGER tasks_delete_history AFTER DELETE ON tasks BEGIN
        DELETE FROM task_events WHERE task_created = OLD.created_at AND task_id = OLD.id;
    END;
    -- Every status, in one index, newest first within each: a listing by status reads the
    -- range of each status it wants (merged), recovery the ranges of the unfinished ones, and
    -- an unfiltered listing merges all five. It replaces five indexes a write maintained one
    -- or two of, for the same work per write and fewer B-trees.
    DROP INDEX tasks_live_by_age;
    DROP INDEX tasks_by_age;
    DROP INDEX tasks_completed_by_age;
    DROP INDEX tasks_failed_by_age;
    DROP INDEX tasks_cancelled_by_age;
    CREATE INDEX tasks_by_status ON tasks (status, created_at, id);
",
];

/// The `tasks/list` cursor key: made at random the first time the file is opened, then read,
/// so cursors survive a restart.
pub(super) fn cursor_key(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    conn.execute(
        "INSERT OR IGNORE INTO meta (name, value) VALUES ('cursor_key', ?1)",
        [crate::cursor::random_key()],
    )?;
    conn.query_row(
        "SELECT value FROM meta WHERE name = 'cursor_key'",
        [],
        |r| r.get(0),
    )
}

/// The VFS every connection of the store uses.
///
/// SQLite's default `unix` VFS keeps the write-ahead log's index in a `-shm` file that every
/// connection maps into memory, so that other processes can share it. A mapped file that
/// shrinks or turns immutable under the process kills it with SIGBUS on the next access: no
/// error, no log line. Only one process serves a file (`PATH.lock`), so nothing needs the
/// index shared across processes: `unix-excl` holds an exclusive lock on the database for
/// the process and keeps the index in heap memory that the process's connections share. No
/// `-shm` file exists, and the locking of each read is in memory, not a system call. The
/// price: no other process can read the file while a server holds it (`mcp-tasks admin
/// --store` is refused by `PATH.lock` first anyway; ask the server, `admin --url`).
pub(super) const VFS: &str = "unix-excl";

/// Opens a connection to the store's file, creating it if `create`.
pub(super) fn open(path: &Path, create: bool) -> rusqlite::Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags_and_vfs(path, flags, VFS)?;
    // SQLite opens a file it may not write read-only, without a word; every write would then
    // fail. Refused here, the server does not start on a store it cannot keep.
    if conn.is_readonly("main")? {
        return Err(failure(
            "the file is read-only for this process: make it and its directory writable \
             (chmod, chown, chattr -i, or a read-write mount)"
                .to_owned(),
        ));
    }
    Ok(conn)
}

/// The settings of every connection.
pub(super) fn configure(conn: &Connection, synchronous: Synchronous) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let sync = match synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    // mmap_size = 0: the database file is read with read(2), never mapped, for the reason of
    // [`VFS`]: a mapped file that shrinks under the process is a SIGBUS, not an error.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync};
         PRAGMA cache_size = -16384;
         PRAGMA temp_store = MEMORY;
         PRAGMA mmap_size = 0;"
    ))
}

/// Settings only the writer applies: journal mode, space reclaiming, and the size limit.
pub(super) fn configure_writer(conn: &Connection, max_bytes: Option<u64>) -> rusqlite::Result<()> {
    if let Some(max) = max_bytes {
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let pages = max / u64::try_from(page).unwrap_or(4096).max(1);
        conn.execute_batch(&format!("PRAGMA max_page_count = {};", pages.max(1)))?;
    }
    // auto_vacuum only takes effect on a file without tables, which is when it matters.
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(failure(format!(
            "the file cannot use write-ahead logging (journal mode stays {mode}); \
             put it on a local disk"
        )));
    }
    // Keep the log from staying large after a burst has been checkpointed.
    conn.execute_batch(&format!(
        "PRAGMA journal_size_limit = 67108864; PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES};"
    ))
}

/// How many pages the write-ahead log holds before a commit copies them into the file
/// (SQLite's default is 1,000).
///
/// A batch of creates writes a page or more per task, so at the default every fifth or so
/// commit also checkpointed: two more `fsync`s, and a copy of pages that the next commits
/// dirty again (the ends of the indexes by time, the history's last page). Four times as
/// many pages between checkpoints made 64 concurrent completers about 1.3× as fast on this
/// project's bench machine (docs/benchmarks.md). The price: up to 16 MiB more of log on
/// disk, and a checkpoint that takes longer when it comes, delaying the writes of that
/// batch. Readers look up pages in the log's in-memory index, which this size keeps to a
/// few hash tables.
pub(super) const CHECKPOINT_PAGES: u32 = 4000;

/// An error of ours in rusqlite's type, for code that speaks rusqlite results.
pub(super) fn failure(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
        Some(message),
    )
}

/// Why a file cannot be migrated.
#[derive(Debug, thiserror::Error)]
pub(super) enum MigrateError {
    #[error("it is not an mcp-tasks store (another program's SQLite database); pick another file")]
    Foreign,
    #[error(
        "it was written by a newer mcp-tasks (schema version {found}; this build knows up to \
         {known}); upgrade mcp-tasks to open it"
    )]
    TooNew { found: i64, known: i64 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Brings the file to the latest schema version.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let known = MIGRATIONS.len() as i64;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let app: i32 = tx.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let has_tables: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table')",
        [],
        |r| r.get(0),
    )?;
    if app != APPLICATION_ID && (app != 0 || version != 0 || has_tables) {
        return Err(MigrateError::Foreign);
    }
    if version > known {
        return Err(MigrateError::TooNew {
            found: version,
            known,
        });
    }
    if version > 0 && version < known {
        // Upgrading a large file takes seconds; say so, or the start looks stuck.
        tracing::info!(
            from = version,
            to = known,
            "migrating the task store's schema"
        );
    }
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", done + 1))?;
    }
    tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
    }

    /// T-LIST-1: the cursor key is made once and then kept.
    #[test]
    fn cursor_key_is_made_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let first = cursor_key(&conn).unwrap();
        assert_eq!(first.len(), crate::cursor::CURSOR_KEY_BYTES);
        assert_eq!(cursor_key(&conn).unwrap(), first);
    }

    /// Issue 15 item 1: a file of the version before history gets the new columns filled from
    /// its records, and an empty history.
    #[test]
    fn older_files_gain_history_and_columns() {
        let mut conn = Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        for sql in &MIGRATIONS[..2] {
            tx.execute_batch(sql).unwrap();
        }
        tx.execute_batch("PRAGMA user_version = 2").unwrap();
        tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
            .unwrap();
        tx.execute(
            "INSERT INTO tasks (id, status, created_at, record) VALUES ('t', 'completed', 0, ?1)",
            [r#"{"name":"build","last_updated_at":"2026-12-05T04:50:00.123456789Z"}"#],
        )
        .unwrap();
        tx.commit().unwrap();
        migrate(&mut conn).unwrap();
        let (name, updated): (String, i64) = conn
            .query_row(
                "SELECT name, updated_at FROM tasks WHERE id = 't'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(name, "build");
        let want = "2026-12-05T04:50:00.123Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_nanosecond();
        assert_eq!(i128::from(updated), want);
        let events: i64 = conn
            .query_row("SELECT COUNT(*) FROM task_events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(events, 0);
    }

    /// Issue 14: the copy of a version 4 file's history walks tasks and events in the order it
    /// writes them, rather than sorting every event of a large file in memory.
    #[test]
    fn the_history_copy_sorts_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        for sql in &MIGRATIONS[..4] {
            tx.execute_batch(sql).unwrap();
        }
        let v5 = MIGRATIONS[4];
        let start = v5.find("SELECT t.created_at").unwrap();
        let copy = &v5[start..start + v5[start..].find(';').unwrap()];
        let mut stmt = tx.prepare(&format!("EXPLAIN QUERY PLAN {copy}")).unwrap();
        let plan: Vec<String> = stmt
            .query_map([], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(!plan.iter().any(|s| s.contains("TEMP B-TREE")), "{plan:?}");
        assert!(
            plan.iter()
                .any(|s| s.starts_with("SCAN t USING") && s.ends_with("INDEX tasks_by_age")),
            "{plan:?}"
        );
    }

    /// Issue 14: a file of version 4 (history filed by task id, twelve indexes) keeps every
    /// task and every event across the move to version 5: each task's history reads back in
    /// order through the store, new events number after the old ones, the operator's listing
    /// by status finds the tasks, and deleting a task still deletes its history.
    #[tokio::test]
    async fn version_4_files_keep_tasks_and_history() {
        use crate::store::row::{self, Row};
        use crate::store::{AdminQuery, TaskStore};
        use crate::task::{NewTask, RequestKind, Requestor, TaskId, TaskRecord, TaskStatus};
        use crate::{EventKind, TaskEvent};
        use rusqlite::params;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.sqlite3");
        let base = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let records: Vec<TaskRecord> = (0..3)
            .map(|i| {
                TaskRecord::new(NewTask {
                    id: TaskId::generate(),
                    requestor: Requestor::anonymous("s"),
                    kind: RequestKind::ToolsCall,
                    name: Some("build".into()),
                    params: serde_json::json!({"name": "build"}),
                    created_at: base + std::time::Duration::from_secs(i),
                    ttl: None,
                    poll_interval: None,
                    progress_token: None,
                    runner: Some("r".into()),
                    active_limit: None,
                })
            })
            .collect();
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..4] {
                tx.execute_batch(sql).unwrap();
            }
            tx.execute_batch("PRAGMA user_version = 4").unwrap();
            tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
                .unwrap();
            for record in &records {
                let r = Row::of(record).unwrap();
                tx.execute(
                    "INSERT INTO tasks (id, owner, session, status, name, created_at, \
                     updated_at, expires_at, runner, record) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        r.id,
                        r.owner,
                        r.session,
                        r.status,
                        r.name,
                        r.created_at,
                        r.updated_at,
                        r.expires_at,
                        r.runner,
                        r.record
                    ],
                )
                .unwrap();
                // Two events each, as version 4 filed them: by task id.
                for (seq, kind) in [(1, EventKind::created(record)), (2, EventKind::Message)] {
                    let event = TaskEvent::new(seq, record.created_at, record, kind);
                    tx.execute(
                        "INSERT INTO task_events (task_id, seq, at, body) VALUES (?1, ?2, ?3, ?4)",
                        params![
                            r.id,
                            i64::try_from(seq).unwrap(),
                            row::nanos(record.created_at),
                            row::encode_event(&event).unwrap()
                        ],
                    )
                    .unwrap();
                }
            }
            tx.commit().unwrap();
        }

        let store = super::super::SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .read(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(version, 5);
        let indexes: Vec<String> = store
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' \
                     AND sql IS NOT NULL ORDER BY name",
                )?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect()
            })
            .unwrap();
        assert_eq!(
            indexes,
            [
                "tasks_by_expiry",
                "tasks_by_group",
                "tasks_by_name",
                "tasks_by_owner",
                "tasks_by_session",
                "tasks_by_status",
                "tasks_finished_by_update",
                "tasks_live_by_requestor",
            ]
        );
        for record in &records {
            assert_eq!(
                store.inspect(&record.id).await.unwrap().as_ref(),
                Some(record)
            );
            let history = store.history(&record.id, None, 10).await.unwrap();
            let seqs: Vec<u64> = history.iter().map(|e| e.seq).collect();
            assert_eq!(seqs, [1, 2], "{}", record.id);
            assert_eq!(history[0].kind, EventKind::created(record));
        }
        let first = &records[0].id;
        store.record(first, base, EventKind::Message).await.unwrap();
        let seqs: Vec<u64> = store
            .history(first, None, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        let listed = store
            .admin_list(&AdminQuery {
                statuses: vec![TaskStatus::Working],
                ..AdminQuery::default()
            })
            .await
            .unwrap();
        let listed: Vec<&TaskId> = listed.iter().map(|r| &r.id).collect();
        let newest_first: Vec<&TaskId> = records.iter().rev().map(|r| &r.id).collect();
        assert_eq!(listed, newest_first);

        // Deleting a task takes its history with it (the trigger of version 5).
        store
            .read(|c| {
                c.execute_batch("PRAGMA query_only = OFF")?;
                c.execute("DELETE FROM tasks WHERE id = ?1", [first.as_str()])?;
                c.execute_batch("PRAGMA query_only = ON")
            })
            .unwrap();
        let left: i64 = store
            .read(|c| c.query_row("SELECT COUNT(*) FROM task_events", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(left, 4, "the two other tasks' events");
    }

    #[test]
    fn newer_and_foreign_files_are_refused() {
        let mut newer = Connection::open_in_memory().unwrap();
        migrate(&mut newer).unwrap();
        newer.execute_batch("PRAGMA user_version = 99").unwrap();
        let err = migrate(&mut newer).unwrap_err();
        assert!(err.to_string().contains("newer mcp-tasks"), "{err}");

        let mut foreign = Connection::open_in_memory().unwrap();
        foreign
            .execute_batch("CREATE TABLE invoices (n INTEGER)")
            .unwrap();
        assert!(matches!(
            migrate(&mut foreign).unwrap_err(),
            MigrateError::Foreign
        ));
    }
}
