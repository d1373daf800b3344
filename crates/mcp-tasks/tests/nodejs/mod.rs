//! The Node.js packages the cross-implementation tests run: `tests/conformance` (the official
//! conformance suite, and the Node 22 it needs, from the npm package `node`) and `tests/interop`
//! (the TypeScript SDK clients and server), shared by every test file that runs them.
//!
//! [`ready`] makes sure a package directory's `node_modules` holds the versions its
//! `package.json` pins, running `npm ci --no-audit --no-fund` there when it does not (once per
//! test process, under a file lock across processes, so test files running at once install once).
//! When that cannot be done (no npm, no network) the test fails saying which command to run.
// Each test file that includes this module uses part of it.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long `npm ci` may take (the `node` package downloads a Node.js build).
const NPM_LIMIT: Duration = Duration::from_secs(600);

/// The Node.js major version the conformance suite needs.
const SUITE_NODE_MAJOR: u32 = 22;

/// A package directory beside the workspace, `tests/<name>`, absolute.
pub(crate) fn package_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests")
        .join(name)
        .canonicalize()
        .unwrap_or_else(|e| panic!("cannot find tests/{name} beside the workspace: {e}"))
}

/// `tests/conformance/node_modules/.bin/node`: Node 22, installed and checked.
pub(crate) fn suite_node() -> PathBuf {
    let dir = package_dir("conformance");
    ready(&dir);
    let node = dir.join("node_modules/.bin/node");
    let version = Command::new(&node)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); {}",
                node.display(),
                install_hint(&dir)
            )
        });
    let major = version
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    assert_eq!(
        major,
        Some(SUITE_NODE_MAJOR),
        "{} says {version:?}, the suite needs Node {SUITE_NODE_MAJOR} (npm may have skipped the \
         `node` package's install script); {}",
        node.display(),
        install_hint(&dir)
    );
    node
}

/// What to run by hand when `dir`'s packages cannot be installed here.
fn install_hint(dir: &Path) -> String {
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    format!("run `npm ci --prefix tests/{name}` in the workspace (it needs npm and the network)")
}

/// Makes sure `dir/node_modules` holds every dependency at the version `dir/package.json` pins,
/// running `npm ci` if not. Panics with what is missing or what npm said.
pub(crate) fn ready(dir: &Path) {
    static DONE: Mutex<Vec<(PathBuf, Result<(), String>)>> = Mutex::new(Vec::new());
    let mut done = DONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let outcome = match done.iter().find(|(d, _)| d == dir) {
        Some((_, outcome)) => outcome.clone(),
        None => {
            let outcome = install(dir);
            done.push((dir.to_owned(), outcome.clone()));
            outcome
        }
    };
    drop(done);
    if let Err(e) = outcome {
        panic!("{e}; {}", install_hint(dir));
    }
}

fn install(dir: &Path) -> Result<(), String> {
    if installed(dir).is_ok() {
        return Ok(());
    }
    // Another test process may be installing too: take a lock in the target directory, then
    // look again.
    let name = dir
        .file_name()
        .map_or_else(|| "node".into(), |n| n.to_string_lossy().into_owned());
    let lock_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-npm-ci.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if installed(dir).is_ok() {
        return Ok(());
    }
    npm_ci(dir, &name)?;
    installed(dir).map_err(|e| format!("after `npm ci` in {}: {e}", dir.display()))
}

/// Every dependency `package.json` pins is in `node_modules` at that version.
fn installed(dir: &Path) -> Result<(), String> {
    let manifest = read_json(&dir.join("package.json"))?;
    let dependencies = manifest["dependencies"]
        .as_object()
        .ok_or_else(|| format!("{}/package.json has no dependencies", dir.display()))?;
    for (name, pinned) in dependencies {
        let path = dir.join("node_modules").join(name).join("package.json");
        let found = read_json(&path)?;
        if found["version"] != *pinned {
            return Err(format!(
                "{name} is {} in node_modules, package.json pins {pinned}",
                found["version"]
            ));
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

/// `npm ci --no-audit --no-fund` in `dir`, bounded by [`NPM_LIMIT`], its output in a log file.
fn npm_ci(dir: &Path, name: &str) -> Result<(), String> {
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-npm-ci.log"));
    let log = File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log_path.display()))?;
    let mut child = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("`npm ci` failed to start (is npm on PATH?): {e}"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > NPM_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`npm ci` in {} did not finish within {NPM_LIMIT:?}; its output:\n{}",
                    dir.display(),
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("cannot wait for `npm ci`: {e}")),
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`npm ci --no-audit --no-fund` in {} failed ({status}); its output:\n{}",
            dir.display(),
            std::fs::read_to_string(&log_path).unwrap_or_default()
        ))
    }
}

/// Output with the terminal colour codes (`ESC [ … m`) taken out, for reading and parsing.
pub(crate) fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
