//! Whether the store may still answer: its file is the one it opened, and writes commit.
//!
//! A process keeps writing to a database file that was deleted (or whose directory was)
//! without an error: the data lives on in the deleted inode, every answer looks fine, and the
//! next start finds an empty store. So the path is checked against the opened file's device
//! and inode before every write batch, by reads at most every [`READ_CHECK_EVERY`], and by
//! every readiness check. Once the file is found deleted or replaced the store is *lost*:
//! it refuses every read and write for the rest of the process's life (never opening or
//! creating another file in its place), says so once in the log at error level, and tells
//! the operator where the deleted file can still be copied from (`/proc/PID/fd/N`: the
//! process holds it open).
//!
//! A failed write transaction (a full disk, a read-only file, an I/O error) makes the store
//! *faulted* until a test write of 256 KiB commits (a smaller write committing proves little
//! on a nearly full disk). The writer tries one after each commit while faulted, and
//! readiness asks for one, so an idle server becomes ready again once the fault clears.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// How stale a read may let the last check of the file be. A check is a `stat` (about 2 µs
/// here), a read 5–10 µs: checking at most this often costs reads nothing measurable, and a
/// deleted file is noticed within this long even when nothing writes.
pub(super) const READ_CHECK_EVERY: Duration = Duration::from_millis(100);

/// What the store knows of its file and its writes; shared by the store, its readers and the
/// writer thread.
#[derive(Debug)]
pub(super) struct Health {
    path: PathBuf,
    label: String,
    /// The database file's device and inode when opened.
    file_id: (u64, u64),
    /// Its write-ahead log's, which the writer holds open for the store's life.
    wal_id: Option<(u64, u64)>,
    opened: Instant,
    /// When the file was last found in place, in nanoseconds since `opened`.
    verified: AtomicU64,
    /// Why the store stopped answering for good.
    lost: OnceLock<String>,
    /// Why the last write transaction failed, until one commits.
    fault: Mutex<Option<String>>,
}

impl Health {
    /// The health of the store whose file, at `path`, has `file_id`, and its log `wal_id`.
    pub(super) fn new(
        path: &Path,
        label: &str,
        file_id: (u64, u64),
        wal_id: Option<(u64, u64)>,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            label: label.to_owned(),
            file_id,
            wal_id,
            opened: Instant::now(),
            verified: AtomicU64::new(0),
            lost: OnceLock::new(),
            fault: Mutex::new(None),
        }
    }

    /// Checks that the path still names the opened file.
    ///
    /// # Errors
    ///
    /// [`Error::Store`]: the store is lost (for good), or the path cannot be checked now.
    pub(super) fn verify(&self) -> Result<()> {
        if let Some(why) = self.lost.get() {
            return Err(Error::store(why.clone()));
        }
        match std::fs::metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.file_id => {
                let now = u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.verified.store(now, Ordering::Relaxed);
                Ok(())
            }
            Ok(_) => Err(self.lose("was replaced by another file")),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Err(self.lose("was deleted (or its directory was, or was moved)"))
            }
            // Not a verdict on the file (a directory made unreadable, an I/O error): refuse
            // this operation, and look again next time.
            Err(e) => Err(Error::store(format!(
                "{}: cannot check that the database file is still in place ({e}); nothing is \
                 read or written until it can be: make {} and its directory readable again",
                self.label,
                self.path.display()
            ))),
        }
    }

    /// For reads: [`Health::verify`] when the last check is older than [`READ_CHECK_EVERY`];
    /// else only whether the store is lost.
    ///
    /// # Errors
    ///
    /// As [`Health::verify`].
    pub(super) fn verify_if_due(&self) -> Result<()> {
        if let Some(why) = self.lost.get() {
            return Err(Error::store(why.clone()));
        }
        let last = Duration::from_nanos(self.verified.load(Ordering::Relaxed));
        if self.opened.elapsed().saturating_sub(last) >= READ_CHECK_EVERY {
            self.verify()
        } else {
            Ok(())
        }
    }

    /// Marks the store lost, logging why once, and returns the error every caller gets.
    fn lose(&self, what: &str) -> Error {
        let pid = std::process::id();
        let held = held_copies(&self.path, self.file_id, self.wal_id);
        let rescue = if held.is_empty() {
            "The process holds no copy of it any more.".to_owned()
        } else {
            let copies: Vec<String> = held
                .iter()
                .map(|(fd, to)| format!("cp /proc/{pid}/fd/{fd} {}", to.display()))
                .collect();
            format!(
                "This process still holds the old file with every task it stored: to keep \
                 them, before stopping it, recreate the directory and run: {}; then restart \
                 the server.",
                copies.join("; ")
            )
        };
        let why = format!(
            "{}: the database file {what} while the server ran; this store no longer \
             answers, and no new file is made in its place. {rescue} A restart without the \
             file starts an empty store.",
            self.label
        );
        if self.lost.set(why.clone()).is_ok() {
            tracing::error!(store = %self.label, pid, "{why}");
        }
        Error::store(self.lost.get().cloned().unwrap_or(why))
    }

    /// Whether the store is lost.
    pub(super) fn is_lost(&self) -> bool {
        self.lost.get().is_some()
    }

    /// Why the last write transaction failed, while no other has committed since.
    pub(super) fn fault(&self) -> Option<String> {
        self.fault.lock().expect("sqlite health poisoned").clone()
    }

    /// Records a failed write transaction (or probe). Only the first failure of a fault is
    /// logged, not each failed batch: every failed request is logged by whoever answers it.
    pub(super) fn failed(&self, why: &str) {
        let mut fault = self.fault.lock().expect("sqlite health poisoned");
        if fault.is_none() {
            tracing::error!(store = %self.label, error = %why, "a write transaction failed; its writes were rolled back, and the store reports unready until a test write commits");
        }
        *fault = Some(why.to_owned());
    }

    /// Records that a test write committed after a fault.
    pub(super) fn recovered(&self) {
        if self
            .fault
            .lock()
            .expect("sqlite health poisoned")
            .take()
            .is_some()
        {
            tracing::warn!(store = %self.label, "writes commit again; the store is healthy");
        }
    }
}

/// The descriptors this process holds on the database file and on its write-ahead log
/// (found by device and inode, so a moved directory is found too), each with where its copy
/// belongs. Linux only: an empty list elsewhere.
fn held_copies(
    path: &Path,
    file_id: (u64, u64),
    wal_id: Option<(u64, u64)>,
) -> Vec<(String, PathBuf)> {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let mut db = None;
    let mut log = None;
    for fd in fds.flatten() {
        let Ok(meta) = std::fs::metadata(fd.path()) else {
            continue;
        };
        let id = Some((meta.dev(), meta.ino()));
        let name = fd.file_name().to_string_lossy().into_owned();
        if db.is_none() && id == Some(file_id) {
            db = Some((name, path.to_path_buf()));
        } else if log.is_none() && id == wal_id {
            log = Some((name, PathBuf::from(&wal)));
        }
    }
    db.into_iter().chain(log).collect()
}
