//! Crash and restart on one SQLite file (DESIGN "Restart"; T-NEW-5, T-RES-1, T-LIFE-2), with the
//! real binary and SIGKILL:
//!
//! > kill -9 the server at any moment under load, start it again on the same file: every task
//! > whose CreateTaskResult reached a client is found by tasks/get; terminal results are intact and
//! > returned by tasks/result; tasks that were working or input_required in the dead process
//! > become failed with a statusMessage that says the server restarted, unless their tool is
//! > declared resumable, in which case they run again. Never stuck in working.
//!
//! Also: a SQLite file is served by one process at a time, and a second `serve` says so at once;
//! and a task's history (issue 15 item 1) says what the restart did to it.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use serde_json::{json, Value};
use testkit::http::{HttpServer, HttpSession};
use testkit::process::{assert_exit, run_to_exit, show, stdout_json, ServeOptions};
use testkit::stdio::RpcError;
use testkit::store::TempStore;

/// Client sessions creating tasks at once.
const WORKERS: usize = 8;
/// The server is killed once this many `CreateTaskResult`s have reached the workers: mid-load,
/// and the same count on every run.
const KILL_AFTER_CREATES: usize = 150;
/// Tasks that complete before the kill and whose result the client never reads.
const DONE_UNSEEN: usize = 16;
/// `ask_name` tasks seen input_required before the load starts.
const ASKING: usize = 4;
/// How long a task may take to become terminal after a restart.
const SETTLE: Duration = Duration::from_secs(20);
/// The JSON-RPC internal error, which `tasks/result` answers for a task the restart failed.
const INTERNAL_ERROR: i64 = -32603;

/// What a worker creates, in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// `slow_echo`, delay 0, completed before the load starts; only its status was seen.
    DoneUnseen,
    /// `must_be_task`, delay 0; the worker reads its result at once.
    Quick,
    /// `slow_echo`, a few ms; the worker reads its result at once.
    ShortEcho,
    /// `slow_echo`, 100–700 ms, never read before the kill: it may finish in the dead process or not.
    MediumEcho,
    /// `slow_echo`, 60 s: surely working when the server dies.
    LongEcho,
    /// `fail`: ends failed with an isError result; the worker reads every other one.
    Fail,
    /// `ask_name`: waits in input_required for an answer the client never gives (it never opens
    /// tasks/result).
    Ask,
    /// `resumable_wait`, 3–4.4 s: declared resumable, so it must run again after each restart.
    Resumable,
}

const SCHEDULE: [Kind; 7] = [
    Kind::Quick,
    Kind::LongEcho,
    Kind::ShortEcho,
    Kind::Resumable,
    Kind::MediumEcho,
    Kind::Fail,
    Kind::Ask,
];

impl Kind {
    /// The tool and arguments of the `n`-th task of this kind a worker creates.
    fn call(self, worker: usize, n: usize) -> (&'static str, Value) {
        let text = format!("w{worker} n{n} {self:?}");
        match self {
            Self::DoneUnseen => ("slow_echo", json!({ "text": text, "delay_ms": 0 })),
            Self::Quick => ("must_be_task", json!({ "delay_ms": 0 })),
            Self::ShortEcho => ("slow_echo", json!({ "text": text, "delay_ms": n % 10 })),
            Self::MediumEcho => (
                "slow_echo",
                json!({ "text": text, "delay_ms": 100 + (n * 50) % 600 }),
            ),
            Self::LongEcho => ("slow_echo", json!({ "text": text, "delay_ms": 60_000 })),
            Self::Fail => ("fail", json!({ "message": text })),
            Self::Ask => ("ask_name", json!({})),
            Self::Resumable => (
                "resumable_wait",
                json!({ "delay_ms": 3000 + (worker * 7 + n) % 8 * 200 }),
            ),
        }
    }

    /// Whether the worker reads the result right after creating the task.
    fn read_at_once(self, n: usize) -> bool {
        match self {
            Self::Quick | Self::ShortEcho => true,
            Self::Fail => n.is_multiple_of(2),
            _ => false,
        }
    }
}

/// A task whose `CreateTaskResult` reached a client, and what the client learnt of it before the
/// server died.
#[derive(Debug, Clone)]
struct Created {
    id: String,
    kind: Kind,
    tool: &'static str,
    arguments: Value,
    /// The answer `tasks/result` gave before the kill, if one was asked for and came.
    seen_result: Option<Result<Value, RpcError>>,
    /// The task as `tasks/get` showed it, terminal, before the kill.
    seen_terminal: Option<Value>,
}

impl Created {
    /// The text of the result the tool gives when it runs to the end.
    fn expected_text(&self) -> Option<String> {
        match self.tool {
            "slow_echo" => self.arguments["text"].as_str().map(str::to_owned),
            "fail" => self.arguments["message"].as_str().map(str::to_owned),
            "must_be_task" => Some("ok".to_owned()),
            "resumable_wait" => Some(format!("waited {} ms", self.arguments["delay_ms"])),
            _ => None,
        }
    }
}

fn store_options(store: &TempStore) -> ServeOptions {
    ServeOptions::default()
        .store(store.store_arg())
        .args(["--poll-interval-ms", "50"])
}

/// DESIGN "Restart", T-NEW-5, T-RES-1, T-LIFE-2, T-LIFE-3: SIGKILL the server in the middle of
/// concurrent load from 8 sessions (tasks completing, failing, working, input_required and
/// resumable), start it again on the same SQLite file, SIGKILL it again while the resumable tasks
/// run a second time, and start a third server. Every task whose CreateTaskResult reached a client
/// is found; results seen before the crash are returned again, identical; results completed but
/// unseen are there; every task that was working or input_required is failed with "server
/// restarted" (tasks/result: -32603), or, for the resumable tool, runs again and completes; none
/// stays working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_then_restart_on_the_same_file() {
    let store = TempStore::new();
    let options = store_options(&store);
    let first = HttpServer::spawn_with(bin(), &options).await;
    assert!(
        first
            .stderr()
            .contains(&format!("tasks are kept in {}", store.store_arg())),
        "the server names its store on stderr:\n{}",
        first.stderr()
    );

    // Tasks that complete in the first process (the client sees only their status), and tasks
    // waiting for input.
    let mut created = before_load(&first).await;

    // The load, and the kill in its middle.
    let load_started = Instant::now();
    let records = Arc::new(Mutex::new(Vec::new()));
    let creates = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let session = first.session().await;
        let records = Arc::clone(&records);
        let creates = Arc::clone(&creates);
        workers.push(tokio::spawn(async move {
            run_worker(worker, session, records, creates).await
        }));
    }
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while creates.load(Ordering::SeqCst) < KILL_AFTER_CREATES {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "the load made only {} tasks in 30 s\nserver stderr:\n{}",
        creates.load(Ordering::SeqCst),
        first.stderr()
    );
    let exit = first.kill9().await;
    let killed_after = load_started.elapsed();
    assert!(
        !exit.success(),
        "the server was killed, not ended: {exit:?}"
    );
    for worker in workers {
        bounded("a worker after the kill", worker)
            .await
            .expect("a worker panicked");
    }
    created.extend(records.lock().unwrap().drain(..));
    let by_kind = count_by(&created, |c| format!("{:?}", c.kind));
    eprintln!(
        "[restart] killed the first server {killed_after:?} into the load, after {} creates had \
         been answered; {} tasks known to clients: {by_kind:?}; {} seen terminal before the kill",
        creates.load(Ordering::SeqCst),
        created.len(),
        created.iter().filter(|c| c.seen_terminal.is_some()).count(),
    );
    for kind in SCHEDULE {
        assert!(
            created.iter().any(|c| c.kind == kind),
            "the load created no {kind:?} task before the kill: {by_kind:?}"
        );
    }

    // The second server: recovery has run before it serves.
    let second = HttpServer::spawn_with(bin(), &options).await;
    let sessions = sessions_on(&second).await;
    let after_first = check_after_restart(&sessions, &created, 1).await;
    let rerunning: Vec<&Created> = created
        .iter()
        .filter(|c| c.kind == Kind::Resumable && status(&after_first[&c.id]) == "working")
        .collect();
    assert!(
        !rerunning.is_empty(),
        "DESIGN Restart: no resumable task was running again after the restart (they take 3 s or \
         more and the load lasted {killed_after:?})"
    );
    if let Some(task) = rerunning.first() {
        eprintln!(
            "[restart] a re-run resumable task says: {}",
            after_first[&task.id]["statusMessage"]
        );
    }

    // Crash again while the resumable tasks run for the second time.
    let exit = second.kill9().await;
    assert!(
        !exit.success(),
        "the server was killed, not ended: {exit:?}"
    );
    drop(sessions);
    eprintln!(
        "[restart] killed the second server while {} resumable tasks ran again",
        rerunning.len()
    );

    // The third server: everything settles.
    let third = HttpServer::spawn_with(bin(), &options).await;
    let sessions = sessions_on(&third).await;
    let after_second = check_after_restart(&sessions, &created, 2).await;
    for c in &created {
        let before = &after_first[&c.id];
        if is_terminal(status(before)) {
            assert_same_terminal(
                &format!(
                    "T-LIFE-2: {} ({:?}) terminal on the second server",
                    c.id, c.kind
                ),
                before,
                &after_second[&c.id],
            );
        }
    }
    let settled = Instant::now();
    let finals = bounded(
        "settling every task on the third server",
        futures::stream::iter(created.iter().enumerate())
            .map(|(i, c)| settle(&sessions[i % sessions.len()], c))
            .buffer_unordered(32)
            .collect::<Vec<(String, String)>>(),
    )
    .await;
    let outcomes = count_by(&finals, |(_, outcome)| outcome.clone());
    eprintln!(
        "[restart] third server: every task terminal {:?} after it started: {outcomes:?}",
        settled.elapsed()
    );
    for session in &sessions {
        session.assert_clean();
    }
}

/// A SQLite file is served by one process at a time: a second `serve` on it exits with status 1 at
/// once, saying the file is in use, and the first keeps serving.
#[tokio::test]
async fn a_second_server_on_the_same_file_fails_fast() {
    let store = TempStore::new();
    let options = store_options(&store);
    let first = HttpServer::spawn_with(bin(), &options).await;
    let finished = run_to_exit(
        bin(),
        &options.serve_args(&["--http", "127.0.0.1:0"]),
        Duration::from_secs(10),
    )
    .await;
    eprintln!(
        "[restart] the second serve exited with {:?} after {:?}: {}",
        finished.status,
        finished.elapsed,
        finished.stderr.trim()
    );
    assert_eq!(
        finished.status.code(),
        Some(1),
        "a second serve on a file in use must exit with status 1; stderr:\n{}",
        finished.stderr
    );
    assert!(
        finished.stderr.contains("in use"),
        "the second serve must say the file is in use; stderr:\n{}",
        finished.stderr
    );
    assert!(
        !finished.stderr.contains("listening on"),
        "the second serve must not serve; stderr:\n{}",
        finished.stderr
    );
    assert!(
        finished.elapsed < Duration::from_secs(5),
        "the second serve must fail fast, took {:?}",
        finished.elapsed
    );
    // The first one is unharmed.
    let session = first.session().await;
    let result = session
        .request(
            "tools/call",
            task_call(
                "slow_echo",
                json!({ "text": "still here", "delay_ms": 0 }),
                json!({}),
            ),
        )
        .await
        .expect("the first server still serves");
    let id = task_id(&check_create_result(&result));
    let result = result_on(&session, &id).await.expect("its result");
    assert_eq!(text(&result), "still here");
}

/// Issue 15 items 1 and 3: SIGKILL a server while a task waits for input, one works and one
/// resumable task runs, then start it again on the same file with `--admin`. Each task's
/// history, as `mcp-tasks admin show --json` prints it from the restarted server and then from
/// the file alone (`--store`, once that server is gone too), is its events before the kill and
/// then `recovered`: failed, saying the server restarted, or, for the resumable tool, running
/// again, and then completed.
#[tokio::test]
async fn the_history_of_a_task_in_flight_at_a_kill_9_ends_with_its_recovery() {
    let store = TempStore::new();
    let options = store_options(&store);
    let first = HttpServer::spawn_with(bin(), &options).await;
    let session = first.session().await;
    let create = async |tool: &str, arguments: Value| {
        let result = session
            .request("tools/call", task_call(tool, arguments, json!({})))
            .await
            .unwrap_or_else(|e| panic!("creating a {tool} task failed: {e}"));
        task_id(&check_create_result(&result))
    };
    let asking = create("ask_name", json!({})).await;
    let working = create("slow_echo", json!({ "text": "lost", "delay_ms": 600_000 })).await;
    let resumable = create("resumable_wait", json!({ "delay_ms": 500 })).await;
    wait_status(&session, &asking, "input_required").await;
    let exit = first.kill9().await;
    assert!(!exit.success(), "the server was killed: {exit:?}");

    let second =
        HttpServer::spawn_with(bin(), &options.clone().args(["--admin", "127.0.0.1:0"])).await;
    let stderr = second.stderr();
    let login = stderr
        .lines()
        .filter(|l| l.contains("#token="))
        .find_map(|l| l.find("http://").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no admin login URL on stderr:\n{stderr}"))
        .to_owned();
    wait_status(&second.session().await, &resumable, "completed").await;
    let by_server = ["admin", "--url", login.as_str()];
    let mut shown = BTreeMap::new();
    for id in [&asking, &working, &resumable] {
        shown.insert(id.clone(), admin_show(&by_server, id).await);
    }

    let failed_by_restart = |id: &String, before: &[&str]| {
        let doc = &shown[id];
        let history = doc["history"].as_array().unwrap();
        let types: Vec<&str> = history
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        let mut wanted = before.to_vec();
        wanted.push("recovered");
        assert_eq!(types, wanted, "the history of {id}: {doc:#}");
        let recovered = history.last().unwrap();
        assert_eq!(
            (&recovered["rerun"], &recovered["status"]),
            (&json!(false), &json!("failed")),
            "{doc:#}"
        );
        let message = recovered["statusMessage"].as_str().unwrap_or_default();
        assert!(message.contains("server restarted"), "{doc:#}");
        assert_eq!(doc["task"]["status"], json!("failed"), "{doc:#}");
        assert_eq!(doc["task"]["statusMessage"], json!(message), "{doc:#}");
    };
    failed_by_restart(&asking, &["created", "message", "inputRequested"]);
    failed_by_restart(&working, &["created"]);
    let doc = &shown[&resumable];
    let history = doc["history"].as_array().unwrap();
    let types: Vec<&str> = history
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["created", "recovered", "completed"],
        "the history of the resumable {resumable}: {doc:#}"
    );
    assert_eq!(
        (&history[1]["rerun"], &history[1]["status"]),
        (&json!(true), &json!("working")),
        "{doc:#}"
    );
    assert_eq!(
        doc["task"]["result"]["content"][0]["text"],
        json!("waited 500 ms"),
        "{doc:#}"
    );
    for doc in shown.values() {
        let seqs: Vec<u64> = doc["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{doc:#}");
    }

    // The timeline says it in words.
    let text = run_admin(&[&by_server[..], &["show", asking.as_str()]].concat(), 0).await;
    assert!(
        text.stdout.contains("recovered after a restart: "),
        "{}",
        show(&text)
    );

    // Once no server holds the file, the store itself shows the same history.
    second.kill9().await;
    let store_arg = store.store_arg();
    let by_store = ["admin", "--store", store_arg.as_str()];
    for (id, doc) in &shown {
        assert_eq!(
            &admin_show(&by_store, id).await,
            doc,
            "--store prints what the server's admin API printed"
        );
    }
}

/// Polls `tasks/get` until the task has `wanted` (bounded by [`SETTLE`]).
async fn wait_status(session: &HttpSession, id: &str, wanted: &str) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let task = get_on(session, id).await;
        if status(&task) == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} did not become {wanted} within {SETTLE:?}: {task}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `mcp-tasks ARGS…` (bounded) and checks it exited with `want`.
async fn run_admin(args: &[&str], want: i32) -> testkit::process::Finished {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let done = run_to_exit(bin(), &args, Duration::from_secs(60)).await;
    assert_exit(&args.join(" "), &done, want);
    done
}

/// `mcp-tasks admin WHERE… show ID --json`.
async fn admin_show(place: &[&str], id: &str) -> Value {
    let done = run_admin(&[place, &["show", id, "--json"]].concat(), 0).await;
    stdout_json(&format!("admin show {id}"), &done)
}

/// Before the load: [`DONE_UNSEEN`] tasks that complete at once, polled (never their result)
/// until completed, and [`ASKING`] `ask_name` tasks polled until they are input_required, so
/// both cases are surely there when the server dies.
async fn before_load(server: &HttpServer) -> Vec<Created> {
    let session = server.session().await;
    let mut created = Vec::new();
    let prelude = (0..DONE_UNSEEN)
        .map(|n| (Kind::DoneUnseen, n))
        .chain((0..ASKING).map(|n| (Kind::Ask, n)));
    for (kind, n) in prelude {
        let (tool, arguments) = kind.call(WORKERS, n);
        let result = session
            .request("tools/call", task_call(tool, arguments.clone(), json!({})))
            .await
            .unwrap_or_else(|e| panic!("creating a {tool} task failed: {e}"));
        let task = check_create_result(&result);
        created.push(Created {
            id: task_id(&task),
            kind,
            tool,
            arguments,
            seen_result: None,
            seen_terminal: None,
        });
    }
    for c in &mut created {
        let wanted = if c.kind == Kind::Ask {
            "input_required"
        } else {
            "completed"
        };
        let deadline = Instant::now() + SETTLE;
        loop {
            let task = get_on(&session, &c.id).await;
            if status(&task) == wanted {
                if is_terminal(wanted) {
                    c.seen_terminal = Some(task);
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} ({:?}) did not become {wanted} within {SETTLE:?}: {task}",
                c.id,
                c.kind
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    created
}

/// Creates tasks in turn until the server goes away; records each one whose CreateTaskResult
/// arrived, and what it learnt of the ones whose result it read.
async fn run_worker(
    worker: usize,
    session: HttpSession,
    records: Arc<Mutex<Vec<Created>>>,
    creates: Arc<AtomicUsize>,
) {
    for n in 0.. {
        let kind = SCHEDULE[(worker + n) % SCHEDULE.len()];
        let (tool, arguments) = kind.call(worker, n);
        let answer = session
            .try_request("tools/call", task_call(tool, arguments.clone(), json!({})))
            .await;
        let Ok(answer) = answer else {
            return; // the server is gone
        };
        let result =
            answer.unwrap_or_else(|e| panic!("T-NEW-1: creating a {tool} task was refused: {e}"));
        let task = check_create_result(&result);
        let mut record = Created {
            id: task_id(&task),
            kind,
            tool,
            arguments,
            seen_result: None,
            seen_terminal: None,
        };
        records.lock().unwrap().push(record.clone());
        creates.fetch_add(1, Ordering::SeqCst);
        if !kind.read_at_once(n) {
            continue;
        }
        let Ok(outcome) = session
            .try_request("tasks/result", json!({ "taskId": record.id }))
            .await
        else {
            return; // the server is gone
        };
        if let Ok(result) = &outcome {
            check_task_result(result, &record.id);
        }
        let Ok(task) = session
            .try_request("tasks/get", json!({ "taskId": record.id }))
            .await
        else {
            // The result was seen; keep it even though the status was not.
            record.seen_result = Some(outcome);
            update(&records, record);
            return;
        };
        let task = task.unwrap_or_else(|e| panic!("tasks/get {} failed: {e}", record.id));
        check_get_result(&task, &record.id);
        assert!(
            is_terminal(status(&task)),
            "T-RES-2: tasks/result answered before {} was terminal: {task}",
            record.id
        );
        record.seen_result = Some(outcome);
        record.seen_terminal = Some(task);
        update(&records, record);
    }
    unreachable!("the loop ends when the server is gone")
}

fn update(records: &Mutex<Vec<Created>>, record: Created) {
    let mut records = records.lock().unwrap();
    let slot = records
        .iter_mut()
        .find(|r| r.id == record.id)
        .expect("the task was recorded when created");
    *slot = record;
}

async fn sessions_on(server: &HttpServer) -> Vec<HttpSession> {
    let mut sessions = Vec::new();
    for _ in 0..4 {
        sessions.push(server.session().await);
    }
    sessions
}

async fn get_on(session: &HttpSession, id: &str) -> Value {
    let task = session
        .request("tasks/get", json!({ "taskId": id }))
        .await
        .unwrap_or_else(|e| {
            panic!("T-NEW-5: tasks/get of {id}, whose CreateTaskResult reached us, failed: {e}")
        });
    check_get_result(&task, id);
    task
}

async fn result_on(session: &HttpSession, id: &str) -> Result<Value, RpcError> {
    let outcome = session
        .request("tasks/result", json!({ "taskId": id }))
        .await;
    if let Ok(result) = &outcome {
        check_task_result(result, id);
    }
    outcome
}

/// Right after a restart (`restart` counts them): every task is found; what was terminal before
/// the first kill is unchanged; nothing non-resumable is left working or input_required (recovery
/// runs before serving). Returns each task as `tasks/get` shows it now.
async fn check_after_restart(
    sessions: &[HttpSession],
    created: &[Created],
    restart: usize,
) -> BTreeMap<String, Value> {
    let tasks = bounded(
        "tasks/get of every known task",
        futures::stream::iter(created.iter().enumerate())
            .map(|(i, c)| async move {
                (
                    c.id.clone(),
                    get_on(&sessions[i % sessions.len()], &c.id).await,
                )
            })
            .buffer_unordered(32)
            .collect::<BTreeMap<String, Value>>(),
    )
    .await;
    for (i, c) in created.iter().enumerate() {
        let task = &tasks[&c.id];
        let what = format!(
            "after restart {restart}, {} ({:?} {})",
            c.id, c.kind, c.arguments
        );
        if let Some(before) = &c.seen_terminal {
            assert_same_terminal(&format!("T-LIFE-2: {what}"), before, task);
        }
        if let Some(Ok(before)) = &c.seen_result {
            // T-RES-1: the very same result, byte for byte.
            let now = result_on(&sessions[i % sessions.len()], &c.id)
                .await
                .unwrap_or_else(|e| panic!("T-RES-1: {what}: tasks/result failed: {e}"));
            assert_eq!(
                now.to_string(),
                before.to_string(),
                "T-RES-1: {what}: tasks/result differs from what it answered before the kill"
            );
        }
        match status(task) {
            "working" | "input_required" => assert!(
                c.kind == Kind::Resumable,
                "DESIGN Restart: {what} is still {} after the restart: {task}",
                status(task)
            ),
            "cancelled" => panic!("{what}: nobody cancelled it: {task}"),
            _ => {}
        }
    }
    tasks
}

/// Polls a task until terminal (bounded by [`SETTLE`]) and checks its end; returns its id and a
/// word for the outcome.
async fn settle(session: &HttpSession, c: &Created) -> (String, String) {
    let what = format!("{} ({:?} {})", c.id, c.kind, c.arguments);
    let deadline = Instant::now() + SETTLE;
    let mut statuses = Vec::new();
    let task = loop {
        let task = get_on(session, &c.id).await;
        statuses.push(status(&task).to_owned());
        if is_terminal(status(&task)) {
            break task;
        }
        assert!(
            Instant::now() < deadline,
            "DESIGN Restart: {what} is still {} {SETTLE:?} after the last restart: {task}",
            status(&task)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_valid_transitions(&what, &statuses);
    let outcome = result_on(session, &c.id).await;
    let message = task["statusMessage"].as_str().unwrap_or_default();
    let restarted = status(&task) == "failed" && message.contains("server restarted");

    if let Some(before) = &c.seen_terminal {
        assert_same_terminal(&format!("T-LIFE-2: {what}"), before, &task);
    }
    if let Some(Ok(before)) = &c.seen_result {
        let now = outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("T-RES-1: {what}: tasks/result failed: {e}"));
        assert_eq!(
            now.to_string(),
            before.to_string(),
            "T-RES-1: {what}: tasks/result differs from what it answered before the kills"
        );
    }

    let word = if restarted {
        // Lost work: failed, saying why, and tasks/result is an internal error.
        assert!(
            !matches!(c.kind, Kind::Resumable | Kind::DoneUnseen) && c.seen_terminal.is_none(),
            "DESIGN Restart: {what} must not be failed by the restart: {task}"
        );
        match &outcome {
            Err(e) if e.code == INTERNAL_ERROR => {}
            other => panic!(
                "T-RES-1: tasks/result of {what}, failed by the restart, must be a -32603 error, \
                 got {other:?}; task: {task}"
            ),
        }
        "failed: server restarted"
    } else {
        match c.kind {
            Kind::LongEcho | Kind::Ask => panic!(
                "DESIGN Restart: {what} was working or input_required when the server died and \
                 is not resumable: it must be failed with \"server restarted\", got {task}"
            ),
            Kind::Fail => {
                // It ran before the kill: failed by the tool, with its isError result (T-LIFE-3).
                assert_eq!(status(&task), "failed", "T-LIFE-3: {what}: {task}");
                let result = outcome.as_ref().unwrap_or_else(|e| {
                    panic!("T-LIFE-3: {what}: tasks/result of a tool-failed task failed: {e}")
                });
                assert_eq!(result["isError"], true, "T-LIFE-3: {what}: {result}");
                assert_eq!(Some(text(result).to_owned()), c.expected_text(), "{what}");
                "failed: isError result"
            }
            _ => {
                assert_eq!(status(&task), "completed", "{what}: {task}");
                let result = outcome
                    .as_ref()
                    .unwrap_or_else(|e| panic!("T-RES-1: {what}: tasks/result failed: {e}"));
                assert_eq!(
                    Some(text(result).to_owned()),
                    c.expected_text(),
                    "T-RES-1: {what}: the result of the completed task: {result}"
                );
                "completed"
            }
        }
    };
    (c.id.clone(), format!("{:?}: {word}", c.kind))
}

/// A terminal task is the same on every server that shows it (T-LIFE-2): status, statusMessage,
/// createdAt, lastUpdatedAt, ttl.
fn assert_same_terminal(what: &str, before: &Value, now: &Value) {
    for field in [
        "taskId",
        "status",
        "statusMessage",
        "createdAt",
        "lastUpdatedAt",
        "ttl",
    ] {
        assert_eq!(
            now.get(field),
            before.get(field),
            "{what}: {field} changed after it was terminal\n before: {before}\n now:    {now}"
        );
    }
}

fn count_by<T>(items: &[T], key: impl Fn(&T) -> String) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts.entry(key(item)).or_insert(0) += 1;
    }
    counts
}
