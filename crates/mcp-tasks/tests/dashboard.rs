//! The admin dashboard in a real browser (issue 15 items 4 and 5): the binary serves
//! `serve --http 127.0.0.1:0 --admin 127.0.0.1:0 --admin-token-file F --auth-tokens A` on a
//! scratch SQLite store, and `tests/browser/dashboard.test.mjs` drives Debian's headless
//! Chromium (`/usr/bin/chromium`) with `playwright-core` against it, making tasks with our own
//! `mcp-tasks call` as the users of the server would: the list updates when a task is created,
//! the timeline shows an elicitation asked and answered, the cancel button cancels, and the
//! `/#token=` login and a refused token behave.
//!
//! It needs Node.js 20+ and npm (`tests/browser` is installed with `npm ci` on first use) and
//! Chromium: without `/usr/bin/chromium` it fails saying to `apt-get install chromium`, unless
//! `MCP_TASKS_SKIP_BROWSER=1` says to skip it on purpose. With `DASHBOARD_SCREENSHOTS=1` the
//! script also rewrites the README's screenshots, `docs/img/dashboard-*.png`.

mod nodejs;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use testkit::http::HttpServer;
use testkit::process::without_terminal;
use testkit::store::TempStore;
use tokio::io::AsyncReadExt as _;

/// The browser the script launches: Debian's package, never a downloaded one.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long the whole browser script may take (a busy machine runs other builds beside it).
const SCRIPT_LIMIT: Duration = Duration::from_secs(300);
/// How long the server may take to say where its admin listener is.
const ADMIN_LINE_LIMIT: Duration = Duration::from_secs(30);
const ADMIN_TOKEN: &str = "dashboard-admin-7c1e94b2d05a6f38";
const ALICE_TOKEN: &str = "alice-dashboard-3f9a0c7e5b1d";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

/// Chromium must be there: a browser test that passes because nothing ran would hide a broken
/// dashboard. `None` only when the run asked to skip it.
fn chromium_or_skip() -> Option<&'static Path> {
    if std::env::var("MCP_TASKS_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("dashboard browser test skipped: MCP_TASKS_SKIP_BROWSER=1");
        return None;
    }
    let chromium = Path::new(CHROMIUM);
    assert!(
        chromium.exists(),
        "{CHROMIUM} is missing: the dashboard is tested in Debian's Chromium; run \
         `apt-get install chromium` (or set MCP_TASKS_SKIP_BROWSER=1 to skip this test on purpose)"
    );
    Some(chromium)
}

/// The admin address the server printed on stderr (`admin: http://ADDR/`), waited for.
async fn admin_url(server: &HttpServer) -> String {
    let found = tokio::time::timeout(ADMIN_LINE_LIMIT, async {
        loop {
            if let Some(url) = server.stderr().lines().find_map(|line| {
                let start = line.find("admin: http://")? + "admin: ".len();
                let url = line[start..].split_whitespace().next()?;
                Some(url.to_owned())
            }) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!(
            "the server did not print `admin: http://…` within {ADMIN_LINE_LIMIT:?}; stderr:\n{}",
            server.stderr()
        )
    })
}

/// Runs `node SCRIPT` with no controlling terminal (the client commands it starts must not
/// ask anyone), bounded; returns its exit success and everything it printed.
async fn run_script(script: &Path, env: &[(&str, String)]) -> (bool, String) {
    let mut child = without_terminal(Path::new("node"))
        .arg(script)
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `setsid node` ({e}); the test needs Node.js 20+"));
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let run = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (status, _, _) = tokio::join!(
            child.wait(),
            stdout.read_to_end(&mut out),
            stderr.read_to_end(&mut err)
        );
        (status, out, err)
    };
    let Ok((status, out, err)) = tokio::time::timeout(SCRIPT_LIMIT, run).await else {
        panic!(
            "node {} did not finish within {SCRIPT_LIMIT:?}",
            script.display()
        );
    };
    let status = status.unwrap_or_else(|e| panic!("cannot wait for node: {e}"));
    let output = format!(
        "node {} exited {status}\n--- stdout:\n{}\n--- stderr:\n{}",
        script.display(),
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    (status.success(), output)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_lists_shows_and_cancels_tasks_in_a_headless_chromium() {
    let Some(_chromium) = chromium_or_skip() else {
        return;
    };
    let browser_dir = nodejs::package_dir("browser");
    nodejs::ready(&browser_dir);

    let store = TempStore::new();
    let admin_token_file: PathBuf = store.dir().join("admin-token");
    std::fs::write(&admin_token_file, format!("{ADMIN_TOKEN}\n")).expect("write the admin token");
    let auth_tokens_file: PathBuf = store.dir().join("auth-tokens");
    std::fs::write(&auth_tokens_file, format!("alice {ALICE_TOKEN}\n"))
        .expect("write the MCP tokens");

    let args: Vec<String> = [
        "serve",
        "--store",
        &store.store_arg(),
        "--http",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--admin-token-file",
        &admin_token_file.display().to_string(),
        "--auth-tokens",
        &auth_tokens_file.display().to_string(),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let server = HttpServer::spawn_command(bin(), &args).await;
    let dashboard = admin_url(&server).await;

    let script = browser_dir.join("dashboard.test.mjs");
    let (passed, output) = run_script(
        &script,
        &[
            ("DASHBOARD_URL", dashboard),
            ("DASHBOARD_TOKEN", ADMIN_TOKEN.to_owned()),
            ("MCP_URL", server.url().to_owned()),
            ("MCP_TOKEN", ALICE_TOKEN.to_owned()),
            ("MCP_TASKS_BIN", bin().display().to_string()),
        ],
    )
    .await;
    assert!(
        passed,
        "the dashboard's browser tests failed:\n{output}\n--- server stderr:\n{}",
        server.stderr()
    );
}
