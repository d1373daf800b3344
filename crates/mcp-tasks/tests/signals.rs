//! The shutdown signals are caught from the moment they are asked for (issue 11, item 2).
//!
//! Its own test binary: it sends SIGTERM to its own process, which must not reach the tests
//! of another binary, and which kills this one if the handler is not registered yet.

use std::time::Duration;

use mcp_tasks_runtime::server::ctrl_c_or_sigterm;

/// `ctrl_c_or_sigterm()` registers its handlers when called, not when first polled: a SIGTERM
/// that arrives before the future is awaited (as when a service manager stops a server that
/// just started) completes it instead of killing the process by the default action.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_before_the_first_poll_is_caught() {
    let stop = ctrl_c_or_sigterm();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(10), stop)
        .await
        .expect("the SIGTERM sent before the first poll completes the future");
}
