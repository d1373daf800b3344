//! The gateway (REQUIREMENTS part G) in front of the real `mcp-server-everything` (npm
//! `@modelcontextprotocol/server-everything`, from `tests/interop`), a server that knows
//! nothing of our tasks: driven with our own client over the gateway's Streamable HTTP
//! listener and over an in-process stdio pipe, in both eras, with elicitation and sampling
//! handlers.
//!
//! Each test starts its own upstream process (about half a second) and gateway, on loopback.

mod gateway;
mod nodejs;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway::*;
use mcp_tasks_runtime::client::{
    handler_fn, in_scope, sampling_fn, Client, ClientBuilder, ClientError, Protocol, Scope,
    TaskEvent, TaskHandle, ToolCall,
};
use mcp_tasks_runtime::gateway::{
    Backoff, GatewayConfig, Health, Rules, TaskPolicy, ToolRule, UpstreamSpec,
};
use mcp_tasks_runtime::wire::v2025_11_25::{
    ClientCapabilities, CreateMessageResult, ElicitResult, ElicitationCapability, Empty,
    ProgressNotificationParams, Role, SamplingCapability, Task, TaskStatus, TaskSupport,
};
use mcp_tasks_runtime::wire::v2026_07_28::TASKS_EXTENSION;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// `mcp-server-everything stdio`.
fn everything() -> UpstreamSpec {
    UpstreamSpec::command(everything_bin(), ["stdio".into()])
}

/// The policy of the G-1 and G-2 tests: `echo=never`, `trigger-long-running-operation=always`,
/// every other tool `optional`.
fn policy() -> Rules {
    Rules::new(vec![
        ToolRule::parse_flag("echo=never").expect("a valid rule"),
        ToolRule::parse_flag("trigger-long-running-operation=always").expect("a valid rule"),
    ])
}

/// The tools everything registers only once a client that declared elicitation and sampling
/// initialized (the gateway declares both).
const CONDITIONAL: [&str; 3] = [
    "trigger-elicitation-request",
    "trigger-sampling-request",
    "trigger-url-elicitation",
];

/// What the gateway's own client declares upstream, for a direct client to see the same tools.
fn gateway_like_capabilities() -> ClientCapabilities {
    ClientCapabilities {
        elicitation: Some(ElicitationCapability {
            form: Some(Empty {}),
            url: Some(Empty {}),
        }),
        sampling: Some(SamplingCapability::default()),
        ..ClientCapabilities::default()
    }
}

/// A client of everything itself, without the gateway, declaring what the gateway declares:
/// what the gateway's answers are compared with.
async fn direct() -> Client {
    let mut command = tokio::process::Command::new(everything_bin());
    command.arg("stdio").stderr(Stdio::null());
    let builder = gateway::client(Protocol::V2025_11_25)
        .forward(Arc::new(Recorder::default()), gateway_like_capabilities());
    bounded("a direct client connects", builder.connect_stdio(command))
        .await
        .expect("everything starts and initializes")
}

/// Waits until `client` lists every tool in `names` (everything registers some of its tools
/// after `initialized`, and the gateway follows its list).
async fn wait_for_tools(client: &Client, names: &[&str]) -> Vec<String> {
    bounded("the conditional tools are listed", async {
        loop {
            let tools = client.list_tools().await.expect("tools/list");
            let listed: Vec<String> = tools.into_iter().map(|t| t.name).collect();
            if names.iter().all(|n| listed.iter().any(|l| l == n)) {
                return listed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// What our handlers were asked: each question's message (or prompt) and related task.
#[derive(Debug, Default)]
struct Asked {
    elicitations: Mutex<Vec<(String, Option<String>)>>,
    samplings: Mutex<Vec<(String, Option<String>)>>,
}

impl Asked {
    fn elicitations(&self) -> Vec<(String, Option<String>)> {
        self.elicitations.lock().unwrap().clone()
    }

    fn samplings(&self) -> Vec<(String, Option<String>)> {
        self.samplings.lock().unwrap().clone()
    }
}

/// A client of `protocol` that answers every form with `name` and every sampling request with
/// "`name` sampled", recording what it was asked in `asked`.
fn answering(protocol: Protocol, name: &'static str, asked: &Arc<Asked>) -> ClientBuilder {
    let (forms, samples) = (asked.clone(), asked.clone());
    gateway::client(protocol)
        .elicitation(handler_fn(move |request, cx| {
            forms
                .elicitations
                .lock()
                .unwrap()
                .push((request.message, cx.related_task));
            async move {
                let content = json!({"name": name});
                Ok(ElicitResult::accept(
                    content.as_object().cloned().unwrap_or_default(),
                ))
            }
        }))
        .sampling(sampling_fn(move |request, cx| {
            let prompt = request
                .messages
                .first()
                .and_then(|m| serde_json::to_value(m).ok())
                .and_then(|m| m["content"]["text"].as_str().map(str::to_owned))
                .unwrap_or_default();
            samples
                .samplings
                .lock()
                .unwrap()
                .push((prompt, cx.related_task));
            async move {
                Ok(CreateMessageResult {
                    role: Role::Assistant,
                    content: json!({"type": "text", "text": format!("{name} sampled")}),
                    model: "test-model".into(),
                    stop_reason: Some("endTurn".into()),
                    meta: None,
                })
            }
        }))
}

/// Everything that happened to a task until it ended.
#[derive(Debug)]
struct Followed {
    statuses: Vec<Task>,
    progress: Vec<ProgressNotificationParams>,
    outcome: Result<Value, ClientError>,
}

impl Followed {
    fn saw(&self, status: TaskStatus) -> bool {
        self.statuses.iter().any(|t| t.status == status)
    }

    fn messages(&self) -> Vec<String> {
        self.statuses
            .iter()
            .filter_map(|t| t.status_message.clone())
            .collect()
    }

    fn text(&self) -> String {
        match &self.outcome {
            Ok(result) => text_of(result),
            Err(e) => panic!("the task failed: {e}"),
        }
    }
}

/// Follows `handle` to its end, for at most `limit`.
async fn follow(handle: &mut TaskHandle, limit: Duration) -> Followed {
    let mut statuses = vec![handle.task().clone()];
    let mut progress = Vec::new();
    within("the task ends", limit, async {
        loop {
            match handle.next_event().await.expect("following the task") {
                TaskEvent::Status(task) => statuses.push(task),
                TaskEvent::Progress(p) => progress.push(p),
                TaskEvent::Finished(outcome) => {
                    return Followed {
                        statuses,
                        progress,
                        outcome,
                    }
                }
            }
        }
    })
    .await
}

/// The result of a 2026-07-28 call that must become a task.
fn expect_task(call: ToolCall) -> TaskHandle {
    match call {
        ToolCall::Task(handle) => *handle,
        ToolCall::Finished(result) => panic!("the call did not become a task: {result}"),
    }
}

/// `value` without the keys only one side of a comparison adds (the 2026-07-28 framing).
fn unframed(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        for key in ["_meta", "resultType", "cacheScope", "ttlMs"] {
            map.remove(key);
        }
    }
    value
}

/// A task's status as `tasks/get` on the gateway shows it now.
async fn status_now(client: &Client, id: &str) -> Task {
    let mut handle = client.task(id).await.expect("tasks/get on the gateway");
    handle.refresh().await.expect("tasks/get").clone()
}

/// A statusMessage, or "" without one.
fn message_of(task: &Task) -> String {
    task.status_message.clone().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// G-1

/// G-1: the gateway's capabilities are the upstream's (resources with subscribe and
/// listChanged, prompts, completions, logging) plus tasks, at initialize (2025-11-25) and at
/// `server/discover` (2026-07-28, with the tasks extension); `tools/list` shows the upstream's
/// tools with `execution.taskSupport` rewritten by the policy (2025-11-25; 2026-07-28 has no
/// taskSupport); resources, templates, prompts and completion are answered as the upstream
/// answers them, errors included, in both eras.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g1_the_upstreams_offer_passes_through_in_both_eras() {
    let served = serve_http(
        GatewayConfig::new(everything()).rules(policy()),
        &Store::Memory,
    )
    .await;
    let direct = direct().await;
    let direct_tools = wait_for_tools(&direct, &CONDITIONAL).await;
    let asks = [
        ("resources/list", json!({})),
        ("resources/templates/list", json!({})),
        ("prompts/list", json!({})),
        (
            "prompts/get",
            json!({"name": "args-prompt", "arguments": {"city": "Paris"}}),
        ),
        (
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "completable-prompt"},
                   "argument": {"name": "department", "value": "E"}}),
        ),
        (
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "completable-prompt"},
                   "argument": {"name": "name", "value": ""},
                   "context": {"arguments": {"department": "Sales"}}}),
        ),
        (
            "completion/complete",
            json!({"ref": {"type": "ref/resource", "uri": "demo://resource/dynamic/text/{resourceId}"},
                   "argument": {"name": "resourceId", "value": "7"}}),
        ),
    ];
    let mut expected = Vec::new();
    for (method, params) in &asks {
        let answer = direct
            .request(method, params.clone())
            .await
            .unwrap_or_else(|e| panic!("everything answers {method}: {e}"));
        expected.push(unframed(answer));
    }
    let direct_error = direct
        .request("prompts/get", json!({"name": "nope"}))
        .await
        .expect_err("everything has no prompt nope");

    for era in ERAS {
        let asked = Arc::new(Asked::default());
        let client = connect_http(answering(era, "Ada", &asked), &served).await;
        let caps = match era {
            Protocol::V2025_11_25 => {
                let init = client.server().expect("a 2025-11-25 session");
                let caps = serde_json::to_value(&init.capabilities).unwrap();
                assert_eq!(
                    caps["tasks"]["requests"]["tools"]["call"],
                    json!({}),
                    "{caps}"
                );
                caps
            }
            Protocol::V2026_07_28 => {
                let discovered = client
                    .request("server/discover", json!({}))
                    .await
                    .expect("server/discover");
                let caps = discovered["capabilities"].clone();
                assert_eq!(caps["extensions"][TASKS_EXTENSION], json!({}), "{caps}");
                assert!(caps.get("tasks").is_none(), "{caps}");
                caps
            }
        };
        assert_eq!(
            caps["resources"],
            json!({"subscribe": true, "listChanged": true}),
            "{era:?}: {caps}"
        );
        assert_eq!(
            caps["prompts"],
            json!({"listChanged": true}),
            "{era:?}: {caps}"
        );
        assert_eq!(caps["completions"], json!({}), "{era:?}: {caps}");
        assert!(caps["logging"].is_object(), "{era:?}: {caps}");
        assert_eq!(
            caps["tools"]["listChanged"],
            json!(true),
            "{era:?}: the gateway follows the upstream's tools and says so: {caps}"
        );

        let listed = wait_for_tools(&client, &CONDITIONAL).await;
        let mut ours = listed.clone();
        let mut theirs = direct_tools.clone();
        ours.sort();
        theirs.sort();
        assert_eq!(
            ours, theirs,
            "{era:?}: the upstream's tools, no more, no less"
        );
        let tools = client.list_tools().await.unwrap();
        let support = |name: &str| {
            tools
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("{name} is listed"))
                .clone()
        };
        match era {
            Protocol::V2025_11_25 => {
                assert_eq!(support("echo").task_support(), TaskSupport::Forbidden);
                assert_eq!(
                    support("trigger-long-running-operation").task_support(),
                    TaskSupport::Required
                );
                assert_eq!(support("get-sum").task_support(), TaskSupport::Optional);
                // everything's own "required" is the gateway's to decide now.
                assert_eq!(
                    support("simulate-research-query").task_support(),
                    TaskSupport::Optional
                );
            }
            Protocol::V2026_07_28 => {
                assert!(tools.iter().all(|t| t.execution.is_none()), "{tools:?}");
            }
        }
        let get_sum = support("get-sum");
        assert_eq!(get_sum.input_schema["required"], json!(["a", "b"]));

        for ((method, params), want) in asks.iter().zip(&expected) {
            let got = client
                .request(method, params.clone())
                .await
                .unwrap_or_else(|e| panic!("{era:?}: the gateway answers {method}: {e}"));
            assert_eq!(&unframed(got), want, "{era:?}: {method} {params}");
        }
        let read = client
            .request(
                "resources/read",
                json!({"uri": "demo://resource/dynamic/text/3"}),
            )
            .await
            .expect("resources/read");
        let contents = &read["contents"][0];
        assert_eq!(contents["uri"], "demo://resource/dynamic/text/3", "{read}");
        assert_eq!(contents["mimeType"], "text/plain", "{read}");
        assert!(
            contents["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Resource 3: This is a plaintext resource")),
            "{read}"
        );
        let error = client
            .request("prompts/get", json!({"name": "nope"}))
            .await
            .expect_err("no prompt nope");
        match (&error, &direct_error) {
            (ClientError::Rpc { error: ours, .. }, ClientError::Rpc { error: theirs, .. }) => {
                assert_eq!(ours.code, theirs.code, "{era:?}");
                assert_eq!(ours.message, theirs.message, "{era:?}");
            }
            other => panic!("{era:?}: expected the upstream's own error, got {other:?}"),
        }
        let sum = client
            .call_tool("get-sum", json!({"a": 2, "b": 3}))
            .await
            .expect("get-sum");
        assert_eq!(
            text_of(&serde_json::to_value(&sum).unwrap()),
            "The sum of 2 and 3 is 5."
        );
        client.close().await;
    }
    direct.close().await;
    served.stop().await;
}

/// G-1: what the upstream announces reaches the sessions it is for: a resource it adds
/// (`gzip-file-as-resource`) sends `notifications/resources/list_changed` to every 2025-11-25
/// session, and `notifications/resources/updated` reaches only the session that subscribed to
/// the resource, however many sessions share the one upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g1_upstream_notifications_reach_the_sessions_they_are_for() {
    let served = serve_http(GatewayConfig::new(everything()), &Store::Memory).await;
    let (seen_a, seen_b) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let a = recording_client(
        Protocol::V2025_11_25,
        &served,
        seen_a.clone(),
        ClientCapabilities::default(),
    )
    .await;
    let b = recording_client(
        Protocol::V2025_11_25,
        &served,
        seen_b.clone(),
        ClientCapabilities::default(),
    )
    .await;
    wait_standing(&served, 2).await;

    let added = a
        .call_tool(
            "gzip-file-as-resource",
            json!({"name": "hello.txt.gz", "data": "data:text/plain;base64,SGVsbG8sIGdhdGV3YXkh",
                   "outputType": "resourceLink"}),
        )
        .await
        .expect("gzip-file-as-resource");
    assert_ne!(added.is_error, Some(true), "{added:?}");
    for seen in [&seen_a, &seen_b] {
        seen.wait_for("resources/list_changed", WAIT, |n| {
            n.method == "notifications/resources/list_changed"
        })
        .await;
    }
    let resources = b.request("resources/list", json!({})).await.unwrap();
    assert!(
        resources["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["uri"] == "demo://resource/session/hello.txt.gz"),
        "{resources}"
    );

    let uri = "demo://resource/static/document/architecture.md";
    a.request("resources/subscribe", json!({"uri": uri}))
        .await
        .expect("resources/subscribe");
    let toggled = b
        .call_tool("toggle-subscriber-updates", json!({}))
        .await
        .expect("toggle-subscriber-updates");
    assert_ne!(toggled.is_error, Some(true), "{toggled:?}");
    let updated = seen_a
        .wait_for("resources/updated", WAIT, |n| {
            n.method == "notifications/resources/updated"
        })
        .await;
    assert_eq!(updated.params.as_ref().unwrap()["uri"], uri);
    // What goes to one session is sent together: a late copy to b would have come by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        seen_b.of("notifications/resources/updated").is_empty(),
        "only the subscribed session hears of updates: {:?}",
        seen_b.notifications()
    );
    b.call_tool("toggle-subscriber-updates", json!({}))
        .await
        .expect("toggle-subscriber-updates off");
    a.close().await;
    b.close().await;
    served.stop().await;
}

// ---------------------------------------------------------------------------------------------
// G-2

/// G-2: a slow upstream tool runs as a task of the gateway, on a SQLite store. 2025-11-25 over
/// HTTP: `trigger-long-running-operation` (policy `always`) is called as a task, `tasks/get`
/// shows it `working` then `completed` with the upstream's text; the upstream's progress
/// reaches the client as the task's progress, with the related-task `_meta` (T-PROG-1), and as
/// its statusMessage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g2_a_slow_tool_is_a_gateway_task_2025() {
    let db = sqlite_path("g2-2025");
    let served = serve_http(
        GatewayConfig::new(everything()).rules(policy()),
        &Store::Sqlite(db.clone()),
    )
    .await;
    let seen = Arc::new(Recorder::default());
    let client = recording_client(
        Protocol::V2025_11_25,
        &served,
        seen.clone(),
        ClientCapabilities::default(),
    )
    .await;
    let started = Instant::now();
    let mut handle = client
        .call_tool_as_task(
            "trigger-long-running-operation",
            json!({"duration": 2, "steps": 4}),
            None,
        )
        .await
        .expect("a task");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the task is answered at once"
    );
    let id = handle.id().to_owned();
    assert_eq!(status_now(&client, &id).await.status, TaskStatus::Working);
    let followed = follow(&mut handle, WAIT).await;
    assert!(
        followed
            .text()
            .contains("Long running operation completed. Duration: 2 seconds, Steps: 4."),
        "{followed:?}"
    );
    assert!(
        followed.progress.len() >= 3,
        "the upstream's progress reaches the task's requestor: {followed:?}"
    );
    assert_eq!(followed.progress.last().unwrap().total, Some(4.0));
    assert!(
        followed.messages().iter().any(|m| m.contains("of 4")),
        "the upstream's progress shows in the statusMessage: {followed:?}"
    );
    let progress = seen.of("notifications/progress");
    assert!(!progress.is_empty());
    for n in &progress {
        assert_eq!(
            n.params.as_ref().unwrap()["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
            json!(id),
            "{n:?}"
        );
    }
    let done = status_now(&client, &id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    let listed = client.list_tasks().await.expect("tasks/list");
    assert!(listed.iter().any(|t| t.task_id == id), "{listed:?}");
    client.close().await;
    served.stop().await;
    let _ = std::fs::remove_file(db);
}

/// G-2: in 2026-07-28, over an in-process stdio pipe, the server decides: with the policy
/// `when-slow(200)` the call of `trigger-long-running-operation` answers a task after about
/// 200 ms, which `tasks/get` shows working and then completed with the upstream's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g2_a_slow_call_becomes_a_task_2026() {
    let rules = Rules::new(vec![ToolRule::new("trigger-long-running-operation")
        .unwrap()
        .policy("when-slow(200)".parse::<TaskPolicy>().unwrap())]);
    let (served, transport, inbound) = serve_pipe(
        GatewayConfig::new(everything()).rules(rules),
        &Store::Memory,
    )
    .await;
    let client = bounded(
        "the client connects over the pipe",
        gateway::client(Protocol::V2026_07_28).connect(transport, inbound),
    )
    .await
    .expect("a 2026-07-28 client");
    let started = Instant::now();
    let call = client
        .start_tool_call(
            "trigger-long-running-operation",
            json!({"duration": 2, "steps": 4}),
            None,
        )
        .await
        .expect("tools/call");
    let answered = started.elapsed();
    let mut handle = expect_task(call);
    assert!(
        answered >= Duration::from_millis(150) && answered < Duration::from_millis(1500),
        "the call became a task after about 200 ms, not {answered:?}"
    );
    let id = handle.id().to_owned();
    assert_eq!(status_now(&client, &id).await.status, TaskStatus::Working);
    let followed = follow(&mut handle, WAIT).await;
    assert!(
        followed
            .text()
            .contains("Long running operation completed. Duration: 2 seconds, Steps: 4."),
        "{followed:?}"
    );
    assert_eq!(status_now(&client, &id).await.status, TaskStatus::Completed);
    // A fast tool stays a plain call.
    let echo = client
        .call_tool("echo", json!({"message": "plain"}))
        .await
        .expect("echo");
    assert_eq!(
        text_of(&serde_json::to_value(&echo).unwrap()),
        "Echo: plain"
    );
    client.close().await;
    served.stop().await;
}

// ---------------------------------------------------------------------------------------------
// G-3

/// G-3: an elicitation of the upstream during a task reaches the task's requestor as its era
/// does it. 2025-11-25 (over a stdio pipe): the task shows `input_required`, the question comes
/// on the `tasks/result` exchange with the related-task `_meta`, our handler answers, and the
/// result holds the answer. 2026-07-28 (over HTTP): the question is in the task's
/// `inputRequests`, our handle answers it with `tasks/update`, and the result holds the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g3_an_upstream_elicitation_reaches_the_tasks_requestor() {
    // 2025-11-25, over a pipe.
    let (served, transport, inbound) =
        serve_pipe(GatewayConfig::new(everything()), &Store::Memory).await;
    let asked = Arc::new(Asked::default());
    let client = bounded(
        "the client connects over the pipe",
        answering(Protocol::V2025_11_25, "Ada Lovelace", &asked).connect(transport, inbound),
    )
    .await
    .expect("a 2025-11-25 client");
    wait_for_tools(&client, &CONDITIONAL).await;
    let mut handle = client
        .call_tool_as_task("trigger-elicitation-request", json!({}), None)
        .await
        .expect("a task");
    let id = handle.id().to_owned();
    let followed = follow(&mut handle, WAIT).await;
    assert!(followed.text().contains("Ada Lovelace"), "{followed:?}");
    assert!(
        followed.saw(TaskStatus::InputRequired),
        "the task waited for its requestor: {followed:?}"
    );
    let elicitations = asked.elicitations();
    assert_eq!(elicitations.len(), 1, "{elicitations:?}");
    assert_eq!(
        elicitations[0].1.as_deref(),
        Some(id.as_str()),
        "the question names its task"
    );
    client.close().await;
    served.stop().await;

    // 2026-07-28, over HTTP.
    let served = serve_http(GatewayConfig::new(everything()), &Store::Memory).await;
    let asked = Arc::new(Asked::default());
    let client = connect_http(
        answering(Protocol::V2026_07_28, "Grace Hopper", &asked),
        &served,
    )
    .await;
    wait_for_tools(&client, &CONDITIONAL).await;
    let mut handle = expect_task(
        client
            .start_tool_call("trigger-elicitation-request", json!({}), None)
            .await
            .expect("tools/call"),
    );
    let id = handle.id().to_owned();
    let followed = follow(&mut handle, WAIT).await;
    assert!(followed.text().contains("Grace Hopper"), "{followed:?}");
    let elicitations = asked.elicitations();
    assert_eq!(elicitations.len(), 1, "{elicitations:?}");
    assert_eq!(elicitations[0].1.as_deref(), Some(id.as_str()));
    client.close().await;
    served.stop().await;
}

/// G-3: a sampling request of the upstream during a task reaches the requestor's model, as
/// its era does it (2025-11-25 over HTTP through `tasks/result`, 2026-07-28 over a stdio pipe
/// through `inputRequests` and `tasks/update`); the upstream's prompt arrives unchanged and
/// the model's answer is in the upstream's result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g3_an_upstream_sampling_request_reaches_the_tasks_requestor() {
    for era in ERAS {
        let asked = Arc::new(Asked::default());
        let builder = answering(era, "Claude", &asked);
        let (served, client) = match era {
            Protocol::V2025_11_25 => {
                let served = serve_http(GatewayConfig::new(everything()), &Store::Memory).await;
                let client = connect_http(builder, &served).await;
                (served, client)
            }
            Protocol::V2026_07_28 => {
                let (served, transport, inbound) =
                    serve_pipe(GatewayConfig::new(everything()), &Store::Memory).await;
                let client = bounded("the client connects", builder.connect(transport, inbound))
                    .await
                    .expect("a client");
                (served, client)
            }
        };
        wait_for_tools(&client, &CONDITIONAL).await;
        let mut handle = match era {
            Protocol::V2025_11_25 => client
                .call_tool_as_task(
                    "trigger-sampling-request",
                    json!({"prompt": "a gateway"}),
                    None,
                )
                .await
                .expect("a task"),
            Protocol::V2026_07_28 => expect_task(
                client
                    .start_tool_call(
                        "trigger-sampling-request",
                        json!({"prompt": "a gateway"}),
                        None,
                    )
                    .await
                    .expect("tools/call"),
            ),
        };
        let id = handle.id().to_owned();
        let followed = follow(&mut handle, WAIT).await;
        assert!(
            followed.text().contains("Claude sampled"),
            "{era:?}: {followed:?}"
        );
        let samplings = asked.samplings();
        assert_eq!(samplings.len(), 1, "{era:?}: {samplings:?}");
        assert_eq!(
            samplings[0].0, "Resource trigger-sampling-request context: a gateway",
            "{era:?}"
        );
        assert_eq!(samplings[0].1.as_deref(), Some(id.as_str()), "{era:?}");
        client.close().await;
        served.stop().await;
    }
}

/// G-3, B-7: in a plain (not task) 2025-11-25 call, the upstream's elicitation is sent on the
/// call's own request stream (the POST's SSE stream), and the answer reaches the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g3_a_plain_calls_question_comes_on_its_request_stream() {
    let served = serve_http(GatewayConfig::new(everything()), &Store::Memory).await;
    let seen = Arc::new(Recorder::answering(|method, _params| {
        assert_eq!(method, "elicitation/create");
        Ok(json!({"action": "accept", "content": {"name": "Barbara Liskov"}}))
    }));
    let client = recording_client(
        Protocol::V2025_11_25,
        &served,
        seen.clone(),
        gateway_like_capabilities(),
    )
    .await;
    wait_for_tools(&client, &CONDITIONAL).await;
    let result = in_scope(
        Scope(42),
        client.call_tool("trigger-elicitation-request", json!({})),
    )
    .await
    .expect("a plain call");
    let text = text_of(&serde_json::to_value(&result).unwrap());
    assert!(text.contains("Barbara Liskov"), "{text}");
    let asked = seen.asked();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let scopes = seen.asked_scopes();
    assert_eq!(
        scopes,
        vec![Some(Scope(42))],
        "the question came on the call's request stream"
    );
    client.close().await;
    served.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Native upstream tasks

/// G-2, G-3: a tool the upstream runs as a task of its own (`simulate-research-query`,
/// taskSupport required upstream) runs through the gateway in both eras: the client follows
/// the gateway's task, never the upstream's (its id is not one the upstream knows), the
/// upstream's statusMessages ("Gathering sources...") show in the gateway's task, and it
/// completes with the upstream's report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_upstream_tasks_pass_under_the_gateways_ids() {
    let served = serve_http(GatewayConfig::new(everything()), &Store::Memory).await;
    for era in ERAS {
        let asked = Arc::new(Asked::default());
        let client = connect_http(answering(era, "Ada", &asked), &served).await;
        let mut handle = match era {
            Protocol::V2025_11_25 => client
                .call_tool_as_task("simulate-research-query", json!({"topic": "rust"}), None)
                .await
                .expect("a task"),
            Protocol::V2026_07_28 => expect_task(
                client
                    .start_tool_call("simulate-research-query", json!({"topic": "rust"}), None)
                    .await
                    .expect("tools/call"),
            ),
        };
        let id = handle.id().to_owned();
        let followed = follow(&mut handle, WAIT).await;
        assert!(
            followed.text().contains("# Research Report: rust"),
            "{era:?}: {followed:?}"
        );
        let stages = [
            "Gathering sources",
            "Analyzing content",
            "Synthesizing findings",
            "Generating report",
        ];
        let messages = followed.messages();
        match era {
            Protocol::V2025_11_25 => assert!(
                messages.iter().any(|m| m.contains("Gathering sources")),
                "{era:?}: {messages:?}"
            ),
            // The call is plain for its first second: the stages after it show.
            Protocol::V2026_07_28 => assert!(
                messages
                    .iter()
                    .any(|m| stages.iter().any(|s| m.contains(s))),
                "{era:?}: {messages:?}"
            ),
        }
        assert_eq!(status_now(&client, &id).await.status, TaskStatus::Completed);
        let Health::Up(upstream) = served.health() else {
            panic!("the upstream is up");
        };
        let upstream_tasks = upstream
            .list_tasks()
            .await
            .expect("the upstream's tasks/list");
        assert!(
            !upstream_tasks.is_empty(),
            "{era:?}: the upstream ran the call as its own task"
        );
        assert!(
            upstream_tasks.iter().all(|t| t.task_id != id),
            "{era:?}: the client sees the gateway's id, not the upstream's"
        );
        client.close().await;
    }
    served.stop().await;
}

// ---------------------------------------------------------------------------------------------
// G-4

/// G-4: cancelling the gateway's task of a slow upstream call ends it `cancelled` at once
/// (the upstream call is cancelled with `notifications/cancelled`), and the upstream serves
/// the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g4_cancelling_a_task_ends_it_at_once() {
    let served = serve_http(
        GatewayConfig::new(everything()).rules(policy()),
        &Store::Memory,
    )
    .await;
    let client = connect_http(gateway::client(Protocol::V2025_11_25), &served).await;
    let mut handle = client
        .call_tool_as_task(
            "trigger-long-running-operation",
            json!({"duration": 30, "steps": 30}),
            None,
        )
        .await
        .expect("a task");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let cancelled = bounded("tasks/cancel", handle.cancel())
        .await
        .expect("tasks/cancel")
        .clone();
    assert_eq!(cancelled.status, TaskStatus::Cancelled, "{cancelled:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let id = handle.id().to_owned();
    assert_eq!(status_now(&client, &id).await.status, TaskStatus::Cancelled);
    let echo = bounded(
        "echo after the cancel",
        client.call_tool("echo", json!({"message": "next"})),
    )
    .await
    .expect("echo");
    assert_eq!(text_of(&serde_json::to_value(&echo).unwrap()), "Echo: next");
    client.close().await;
    served.stop().await;
}

/// G-4: a tool's time limit (`ToolRule::timeout`) ends a call that outlasts it: the task is
/// `failed` about when the limit passes, with a statusMessage naming the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g4_a_tool_time_limit_fails_the_task_saying_so() {
    let rules = Rules::new(vec![ToolRule::new("trigger-long-running-operation")
        .unwrap()
        .timeout(Duration::from_secs(1))]);
    let served = serve_http(
        GatewayConfig::new(everything()).rules(rules),
        &Store::Memory,
    )
    .await;
    let client = connect_http(gateway::client(Protocol::V2025_11_25), &served).await;
    let started = Instant::now();
    let mut handle = client
        .call_tool_as_task(
            "trigger-long-running-operation",
            json!({"duration": 10, "steps": 2}),
            None,
        )
        .await
        .expect("a task");
    let followed = follow(&mut handle, WAIT).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let error = followed.outcome.as_ref().expect_err("the call timed out");
    assert!(error.to_string().contains("timed out after 1s"), "{error}");
    let task = status_now(&client, handle.id()).await;
    assert_eq!(task.status, TaskStatus::Failed, "{task:?}");
    assert!(message_of(&task).contains("timed out after 1s"), "{task:?}");
    client.close().await;
    served.stop().await;
}

/// G-4: an upstream killed mid-task (SIGKILL) ends the task `failed` with a statusMessage
/// saying the upstream was killed by signal 9; the gateway starts the upstream again and the
/// next call is served by the new process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g4_a_killed_upstream_fails_the_task_and_is_restarted() {
    let pidfile = std::env::temp_dir().join(format!(
        "gateway-everything-{}-{}.pid",
        std::process::id(),
        uuid_like()
    ));
    let script = format!(
        "echo $$ > '{}'; exec '{}' stdio",
        pidfile.display(),
        everything_bin().display()
    );
    let upstream = UpstreamSpec::command("sh", ["-c".into(), script.into()]);
    let backoff = Backoff {
        first: Duration::from_millis(100),
        max: Duration::from_millis(500),
        call_wait: Duration::from_secs(10),
    };
    let served = serve_http(
        GatewayConfig::new(upstream)
            .rules(policy())
            .backoff(backoff),
        &Store::Memory,
    )
    .await;
    let client = connect_http(gateway::client(Protocol::V2025_11_25), &served).await;
    let first_pid = read_pid(&pidfile).await;
    let mut handle = client
        .call_tool_as_task(
            "trigger-long-running-operation",
            json!({"duration": 10, "steps": 10}),
            None,
        )
        .await
        .expect("a task");
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::remove_file(&pidfile).expect("remove the first pid file");
    let killed = std::process::Command::new("kill")
        .args(["-9", &first_pid.to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(killed.success());
    let followed = follow(&mut handle, WAIT).await;
    let error = followed.outcome.as_ref().expect_err("the upstream died");
    assert!(error.to_string().contains("killed by signal 9"), "{error}");
    let task = status_now(&client, handle.id()).await;
    assert_eq!(task.status, TaskStatus::Failed, "{task:?}");
    assert!(message_of(&task).contains("killed by signal 9"), "{task:?}");

    let second_pid = read_pid(&pidfile).await;
    assert_ne!(first_pid, second_pid, "a new upstream process");
    served.wait_up().await;
    let echo = bounded(
        "echo on the restarted upstream",
        client.call_tool("echo", json!({"message": "again"})),
    )
    .await
    .expect("echo");
    assert_eq!(
        text_of(&serde_json::to_value(&echo).unwrap()),
        "Echo: again"
    );
    client.close().await;
    served.stop().await;
    let _ = std::fs::remove_file(&pidfile);
}

// ---------------------------------------------------------------------------------------------
// An upstream over Streamable HTTP

/// `mcp-server-everything streamableHttp` on a free port, killed when dropped.
struct HttpUpstream {
    child: tokio::process::Child,
    url: String,
}

impl HttpUpstream {
    async fn start() -> Self {
        let port = free_port();
        let mut child = tokio::process::Command::new(everything_bin())
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("everything starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let wanted = format!("listening on port {port}");
        bounded("everything listens", async {
            while let Some(line) = lines.next_line().await.expect("everything's stderr") {
                if line.contains(&wanted) {
                    return;
                }
            }
            panic!("everything ended before it listened on {port}");
        })
        .await;
        // Keep draining its stderr, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        }
    }
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// G-3, G-1: an upstream over Streamable HTTP. Two clients start the elicitation tool as
/// tasks at the same time; each question arrives on the stream of the upstream call it belongs
/// to, so each client gets its OWN question and its own answer ends in its own result. A plain
/// call (echo) passes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_upstream_keeps_concurrent_questions_apart() {
    let upstream = HttpUpstream::start().await;
    let served = serve_http(
        GatewayConfig::new(UpstreamSpec::url(upstream.url.clone())),
        &Store::Memory,
    )
    .await;
    let (asked_a, asked_b) = (Arc::new(Asked::default()), Arc::new(Asked::default()));
    let a = connect_http(
        answering(Protocol::V2025_11_25, "Alan Turing", &asked_a),
        &served,
    )
    .await;
    let b = connect_http(
        answering(Protocol::V2025_11_25, "Alonzo Church", &asked_b),
        &served,
    )
    .await;
    wait_for_tools(&a, &CONDITIONAL).await;
    wait_for_tools(&b, &CONDITIONAL).await;
    let (ha, hb) = tokio::join!(
        a.call_tool_as_task("trigger-elicitation-request", json!({}), None),
        b.call_tool_as_task("trigger-elicitation-request", json!({}), None),
    );
    let (mut ha, mut hb) = (ha.expect("a's task"), hb.expect("b's task"));
    let (fa, fb) = tokio::join!(follow(&mut ha, WAIT), follow(&mut hb, WAIT));
    let (ta, tb) = (fa.text(), fb.text());
    assert!(ta.contains("Alan Turing") && !ta.contains("Alonzo"), "{ta}");
    assert!(tb.contains("Alonzo Church") && !tb.contains("Alan"), "{tb}");
    assert_eq!(
        asked_a.elicitations().len(),
        1,
        "{:?}",
        asked_a.elicitations()
    );
    assert_eq!(
        asked_b.elicitations().len(),
        1,
        "{:?}",
        asked_b.elicitations()
    );
    assert_eq!(asked_a.elicitations()[0].1.as_deref(), Some(ha.id()));
    assert_eq!(asked_b.elicitations()[0].1.as_deref(), Some(hb.id()));
    let echo = a
        .call_tool("echo", json!({"message": "over http"}))
        .await
        .expect("echo");
    assert_eq!(
        text_of(&serde_json::to_value(&echo).unwrap()),
        "Echo: over http"
    );
    a.close().await;
    b.close().await;
    served.stop().await;
    drop(upstream);
}

// ---------------------------------------------------------------------------------------------

/// A SQLite file for one test, in the target's scratch directory.
fn sqlite_path(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "gateway-everything-{name}-{}-{}.db",
        std::process::id(),
        uuid_like()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// A value unique enough for scratch file names.
fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
