//! The runnable examples (issue 11, item 4) work end to end: `task_client` spawns
//! `durable_server` over stdio, calls its slow tool and its elicitation tool as tasks, answers
//! the question, and prints each result.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/`, where cargo puts the example binaries beside this test's.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/examples-<hash> → target/<profile>/examples
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary sits in target/<profile>/deps")
        .join("examples")
}

/// Builds the examples (a no-op when `cargo test` already did), so this test runs alone too.
fn build_examples() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "mcp-tasks-runtime", "--examples"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building the examples failed: {status}");
}

#[test]
fn the_task_client_example_drives_the_durable_server_example() {
    build_examples();
    let output = Command::new(examples_dir().join("task_client"))
        .env("NAME", "Grace")
        .output()
        .expect("the task_client example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    for line in [
        "slow_add: result 6",
        "question: What is your name?",
        "greet: status input_required",
        "greet: result Hello, Grace!",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}\n{stderr}");
    }
}
