//! Scratch SQLite stores for tests that restart the server on the same file.

use std::path::{Path, PathBuf};

/// A SQLite store file inside a fresh temporary directory, removed with the directory when this is
/// dropped. It outlives every server a test starts on it, so a test can kill a server and start
/// another on the same file.
#[derive(Debug)]
pub struct TempStore {
    dir: tempfile::TempDir,
    file: PathBuf,
}

impl Default for TempStore {
    fn default() -> Self {
        Self::new()
    }
}

impl TempStore {
    /// A new empty directory holding (once a server opens it) `tasks.sqlite3`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("mcp-tasks-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let file = dir.path().join("tasks.sqlite3");
        Self { dir, file }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The database file (it may not exist yet).
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The `--store` value: `sqlite:/abs/path/tasks.sqlite3`.
    pub fn store_arg(&self) -> String {
        format!("sqlite:{}", self.file.display())
    }

    /// The sizes of the database file and its `-wal` and `-shm` companions right now.
    pub fn sizes(&self) -> StoreSizes {
        StoreSizes {
            db: file_len(&self.file),
            wal: file_len(&companion(&self.file, "-wal")),
            shm: file_len(&companion(&self.file, "-shm")),
        }
    }
}

/// Bytes on disk of a SQLite store, per file. A missing file counts as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreSizes {
    /// The main database file.
    pub db: u64,
    /// The write-ahead log (`-wal`).
    pub wal: u64,
    /// The shared-memory index (`-shm`).
    pub shm: u64,
}

impl StoreSizes {
    /// Database plus write-ahead log: what the store holds.
    pub fn db_and_wal(&self) -> u64 {
        self.db + self.wal
    }
}

fn companion(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_sqlite_file_in_its_own_directory_and_sizes_missing_files_as_zero() {
        let store = TempStore::new();
        assert!(store.dir().is_dir());
        assert!(store.path().starts_with(store.dir()));
        assert_eq!(
            store.store_arg(),
            format!("sqlite:{}", store.path().display())
        );
        assert_eq!(store.sizes(), StoreSizes::default());
        std::fs::write(store.path(), b"1234").unwrap();
        std::fs::write(companion(store.path(), "-wal"), b"12").unwrap();
        assert_eq!(store.sizes().db_and_wal(), 6);
        let dir = store.dir().to_owned();
        drop(store);
        assert!(!dir.exists(), "the directory goes with the store");
    }
}
