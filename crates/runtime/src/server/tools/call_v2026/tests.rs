//! MCP 2026-07-28 `tools/call` driven directly, as the era router calls it: an ephemeral
//! session per request carrying that request's capabilities (B-2), and a sink standing for
//! the POST's stream.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_tasks_engine::{
    Engine, EngineConfig, MemoryStore, Owner, Requestor, TaskId, TaskRecord, TaskStatus,
};
use mcp_tasks_wire::jsonrpc::{ErrorObject, Message, RequestId};
use mcp_tasks_wire::v2025_11_25::{
    CallToolResult, ElicitRequestParams, Implementation, TaskSupport,
};
use mcp_tasks_wire::v2026_07_28::{self as v2, InputRequest, InputRequests};
use schemars::JsonSchema;
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::handle;
use crate::server::tasks::input::close_answer;
use crate::server::{Server, ServerOptions, ToolContext, ToolDef, Tools};
use crate::session::{Outbound, PeerInfo, Session, Sink};

/// Bounds every wait, so a bug hangs no test.
const GUARD: Duration = Duration::from_secs(10);

#[derive(serde::Deserialize, JsonSchema)]
struct NoArgs {}

#[derive(serde::Deserialize, JsonSchema)]
struct Target {
    path: String,
}

/// A server whose optional tools become tasks after 20 ms.
fn server(tools: Tools) -> Arc<Server> {
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    Server::with_options(
        engine,
        tools,
        Implementation::new("t", "0"),
        ServerOptions {
            task_after: Some(Duration::from_millis(20)),
            ..ServerOptions::default()
        },
    )
}

fn with_tasks() -> Value {
    json!({"elicitation": {}, "sampling": {}, "extensions": {v2::TASKS_EXTENSION: {}}})
}

fn without_tasks() -> Value {
    json!({"elicitation": {}, "sampling": {}})
}

/// One request: its own session for `owner`, declaring `caps`.
struct Request {
    session: Arc<Session>,
    caps: v2::ClientCapabilities,
    sink: Sink,
    out: Outbound,
}

fn request(owner: Option<&str>, caps: Value) -> Request {
    let caps: v2::ClientCapabilities = serde_json::from_value(caps).unwrap();
    let session = Arc::new(Session::with_owner(
        uuid::Uuid::new_v4().to_string(),
        owner.map(Owner::new),
    ));
    session.set_peer_info(PeerInfo {
        protocol_version: Some(v2::PROTOCOL_VERSION.into()),
        capabilities: caps.as_v2025(),
    });
    let (sink, out) = Sink::channel(64);
    Request {
        session,
        caps,
        sink,
        out,
    }
}

impl Request {
    async fn call(&self, server: &Arc<Server>, params: Value) -> Result<Value, ErrorObject> {
        tokio::time::timeout(
            GUARD,
            handle(
                server,
                &self.session,
                &self.caps,
                &RequestId::Number(1),
                Some(params),
                &self.sink,
            ),
        )
        .await
        .expect("the call answers")
    }
}

async fn call(server: &Arc<Server>, caps: Value, params: Value) -> Result<Value, ErrorObject> {
    request(None, caps).call(server, params).await
}

fn anyone() -> Requestor {
    Requestor::anonymous("reader")
}

fn task_id(created: &Value) -> TaskId {
    TaskId::from(created["taskId"].as_str().expect("a CreateTaskResult"))
}

async fn wait_for(
    server: &Server,
    id: &TaskId,
    done: impl FnMut(&TaskRecord) -> bool,
) -> TaskRecord {
    tokio::time::timeout(GUARD, server.engine().wait_until(&anyone(), id, done))
        .await
        .expect("the task gets there")
        .unwrap()
}

async fn terminal(server: &Server, id: &TaskId) -> TaskRecord {
    wait_for(server, id, |r| r.status().is_terminal()).await
}

fn text_of(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

fn completed_text(record: &TaskRecord) -> String {
    match &record.state {
        mcp_tasks_engine::TaskState::Completed(v) => text_of(v).to_owned(),
        other => panic!("not completed: {other:?}"),
    }
}

fn form(message: &str) -> Value {
    json!({"message": message, "requestedSchema": {"type": "object",
           "properties": {"name": {"type": "string"}}}})
}

fn accept(name: &str) -> Value {
    json!({"action": "accept", "content": {"name": name}})
}

/// A tool that counts its starts and waits for `release` before it answers.
fn held(
    support: TaskSupport,
    starts: Arc<AtomicUsize>,
    release: Arc<Notify>,
    answer: fn() -> CallToolResult,
) -> Tools {
    Tools::new().tool(
        ToolDef::new("held").task_support(support),
        move |_: NoArgs, _cx: ToolContext| {
            let (starts, release) = (starts.clone(), release.clone());
            async move {
                starts.fetch_add(1, Ordering::SeqCst);
                release.notified().await;
                Ok(answer())
            }
        },
    )
}

/// an optional tool that finishes within the threshold answers its plain result, with
/// `resultType: "complete"`, and no task exists.
#[tokio::test]
async fn a_fast_optional_call_answers_plainly() {
    let tools = Tools::new().tool(
        ToolDef::new("quick").task_support(TaskSupport::Optional),
        |_: NoArgs, _cx| async { Ok(CallToolResult::text("done")) },
    );
    let server = server(tools);
    let v = call(&server, with_tasks(), json!({"name": "quick"}))
        .await
        .unwrap();
    assert_eq!(v["resultType"], "complete");
    assert_eq!(text_of(&v), "done");
    assert!(v.get("taskId").is_none());
    assert_eq!(server.engine().running(), 0);
}

/// an optional tool still running at the threshold answers a flat
/// `CreateTaskResult` (`ttlMs` present; no `task` wrapper, requestState or inputRequests),
/// the task is readable before the answer is, and the same handler, never restarted,
/// completes it.
#[tokio::test]
async fn a_slow_optional_call_becomes_a_task_without_restarting() {
    let starts = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let server = server(held(
        TaskSupport::Optional,
        starts.clone(),
        release.clone(),
        || CallToolResult::text("slow but done"),
    ));
    let v = call(&server, with_tasks(), json!({"name": "held"}))
        .await
        .unwrap();
    assert_eq!(v["resultType"], "task");
    assert_eq!(v["status"], "working");
    let obj = v.as_object().unwrap();
    assert!(obj.contains_key("ttlMs") && obj.contains_key("createdAt"));
    for absent in ["task", "requestState", "inputRequests", "content"] {
        assert!(!obj.contains_key(absent), "{absent} in {v}");
    }
    let id = task_id(&v);
    let record = server.engine().get(&anyone(), &id).await.unwrap();
    assert_eq!(record.status(), TaskStatus::Working);
    release.notify_one();
    let done = terminal(&server, &id).await;
    assert_eq!(completed_text(&done), "slow but done");
    assert_eq!(starts.load(Ordering::SeqCst), 1);
}

/// a client that did not declare the extension on this request never gets a task: the
/// call runs plain to the end, 250 times its threshold (paused time). A forbidden tool never becomes a task either, even with
/// the extension and a legacy `params.task`.
#[tokio::test(start_paused = true)]
async fn without_the_extension_or_for_a_forbidden_tool_the_call_stays_plain() {
    let sleepy = |name: &str, support| ToolDef::new(name).task_support(support);
    let tools = Tools::new()
        .tool(
            sleepy("optional", TaskSupport::Optional),
            |_: NoArgs, _cx| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(CallToolResult::text("seconds later"))
            },
        )
        .tool(
            sleepy("forbidden", TaskSupport::Forbidden),
            |_: NoArgs, _cx| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(CallToolResult::text("still plain"))
            },
        );
    let server = server(tools);
    let v = call(&server, without_tasks(), json!({"name": "optional"}))
        .await
        .unwrap();
    assert_eq!(
        (v["resultType"].as_str(), text_of(&v)),
        (Some("complete"), "seconds later")
    );
    let v = call(
        &server,
        with_tasks(),
        json!({"name": "forbidden", "task": {"ttl": 60000}}),
    )
    .await
    .unwrap();
    assert_eq!(
        (v["resultType"].as_str(), text_of(&v)),
        (Some("complete"), "still plain")
    );
}

/// a required tool called without the extension is -32021 naming it, before its handler
/// runs.
#[tokio::test]
async fn a_required_tool_without_the_extension_is_missing_capability() {
    let starts = Arc::new(AtomicUsize::new(0));
    let server = server(held(
        TaskSupport::Required,
        starts.clone(),
        Arc::new(Notify::new()),
        || CallToolResult::text("never"),
    ));
    let e = call(&server, without_tasks(), json!({"name": "held"}))
        .await
        .unwrap_err();
    assert_eq!(e.code.0, -32021);
    assert_eq!(
        e.data.unwrap(),
        json!({"requiredCapabilities": {"extensions": {v2::TASKS_EXTENSION: {}}}})
    );
    assert_eq!(starts.load(Ordering::SeqCst), 0);
}

/// a required tool is always a task, even one that finishes in its first poll.
#[tokio::test]
async fn a_required_tool_is_always_a_task() {
    let tools = Tools::new().tool(
        ToolDef::new("instant").task_support(TaskSupport::Required),
        |_: NoArgs, _cx| async { Ok(CallToolResult::text("at once")) },
    );
    let server = server(tools);
    let v = call(&server, with_tasks(), json!({"name": "instant"}))
        .await
        .unwrap();
    assert_eq!(v["resultType"], "task");
    let done = terminal(&server, &task_id(&v)).await;
    assert_eq!(completed_text(&done), "at once");
}

/// a required tool whose handler fails before it ever waits answers its error (or
/// -32603 for a panic) directly, and no task is made.
#[tokio::test]
async fn a_required_tool_failing_at_once_answers_its_error() {
    let tools = Tools::new()
        .tool(
            ToolDef::new("refuses").task_support(TaskSupport::Required),
            |_: NoArgs, _cx| async { Err(ErrorObject::invalid_params("no such path")) },
        )
        .tool(
            ToolDef::new("panics").task_support(TaskSupport::Required),
            |_: NoArgs, _cx| async { panic!("at once") },
        );
    let server = server(tools);
    let caller = request(None, with_tasks());
    let e = caller
        .call(&server, json!({"name": "refuses"}))
        .await
        .unwrap_err();
    assert_eq!((e.code.0, e.message.as_str()), (-32602, "no such path"));
    let e = caller
        .call(&server, json!({"name": "panics"}))
        .await
        .unwrap_err();
    assert_eq!(e.code.0, -32603);
    let listed = server
        .engine()
        .list(caller.session.requestor(), None)
        .await
        .unwrap();
    assert!(
        listed.tasks.is_empty(),
        "no task was made: {:?}",
        listed.tasks
    );
}

/// A tool that asks for a name with `elicit` (not in-request) and greets.
fn asks_by_elicit(support: TaskSupport, starts: Arc<AtomicUsize>) -> Tools {
    Tools::new().tool(
        ToolDef::new("confirm")
            .task_support(support)
            .task_after(Duration::from_secs(3600)),
        move |_: NoArgs, cx: ToolContext| {
            let starts = starts.clone();
            async move {
                starts.fetch_add(1, Ordering::SeqCst);
                let params: ElicitRequestParams =
                    serde_json::from_value(form("Your name?")).unwrap();
                let answer = cx.elicit(params).await?;
                let name = answer.content.as_ref().and_then(|c| c.get("name")).cloned();
                Ok(CallToolResult::text(format!(
                    "Hello, {}!",
                    name.unwrap_or_default()
                )))
            }
        },
    )
}

/// a question asked (with `elicit`) by a call that may become a task makes it one at
/// once, long before its threshold; the question waits in the task's mailbox and its answer
/// reaches the same handler.
#[tokio::test]
async fn a_question_before_the_threshold_makes_the_call_a_task_at_once() {
    let starts = Arc::new(AtomicUsize::new(0));
    let server = server(asks_by_elicit(TaskSupport::Optional, starts.clone()));
    let v = call(&server, with_tasks(), json!({"name": "confirm"}))
        .await
        .unwrap();
    assert_eq!(v["resultType"], "task", "{v}");
    let id = task_id(&v);
    let waiting = wait_for(&server, &id, |r| r.status() == TaskStatus::InputRequired).await;
    let question = waiting.pending_inputs().next().unwrap().clone();
    assert_eq!(question.method, "elicitation/create");
    server
        .engine()
        .answer_input(
            &anyone(),
            &id,
            &question.key,
            close_answer(&Ok(accept("Ada"))),
        )
        .await
        .unwrap();
    let done = terminal(&server, &id).await;
    assert_eq!(completed_text(&done), "Hello, \"Ada\"!");
    assert_eq!(starts.load(Ordering::SeqCst), 1);
}

/// A tool whose handler asks for a name (`elicit`) from a task it spawned, and greets; the
/// spawned task reports whether its question got an answer on `answered`.
fn asks_from_a_spawned_task(
    support: TaskSupport,
    answered: tokio::sync::mpsc::UnboundedSender<bool>,
) -> Tools {
    Tools::new().tool(
        ToolDef::new("spawned")
            .task_support(support)
            .task_after(Duration::from_secs(3600)),
        move |_: NoArgs, cx: ToolContext| {
            let answered = answered.clone();
            async move {
                let asking = tokio::spawn(async move {
                    let params: ElicitRequestParams =
                        serde_json::from_value(form("Your name?")).unwrap();
                    let answer = cx.elicit(params).await;
                    let _ = answered.send(answer.is_ok());
                    answer
                });
                let answer = asking.await.expect("the asking task ends")?;
                let name = answer.content.as_ref().and_then(|c| c.get("name")).cloned();
                Ok(CallToolResult::text(format!(
                    "Hello, {}!",
                    name.unwrap_or_default()
                )))
            }
        },
    )
}

/// B-6, X-2: a question asked from a task the handler spawned counts as one asked inline: it
/// ends the round of a call that cannot become a task (and the spawned question then ends
/// too, rather than wait for ever), and makes one that may a task at once (long before its
/// threshold), whose mailbox then holds it.
#[tokio::test]
async fn a_question_asked_from_a_spawned_task_is_seen() {
    let (answered, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let plain = server(asks_from_a_spawned_task(
        TaskSupport::Forbidden,
        answered.clone(),
    ));
    let v = call(&plain, with_tasks(), json!({"name": "spawned"}))
        .await
        .unwrap();
    assert_eq!(v["resultType"], "input_required", "{v}");
    assert_eq!(v["inputRequests"]["q1"]["method"], "elicitation/create");
    let outcome = tokio::time::timeout(GUARD, outcomes.recv()).await;
    assert_eq!(outcome.expect("the spawned question ends"), Some(false));

    let promotable = server(asks_from_a_spawned_task(TaskSupport::Optional, answered));
    let v = call(&promotable, with_tasks(), json!({"name": "spawned"}))
        .await
        .unwrap();
    assert_eq!(v["resultType"], "task", "{v}");
    let id = task_id(&v);
    let waiting = wait_for(&promotable, &id, |r| {
        r.status() == TaskStatus::InputRequired
    })
    .await;
    let question = waiting.pending_inputs().next().unwrap().clone();
    promotable
        .engine()
        .answer_input(
            &anyone(),
            &id,
            &question.key,
            close_answer(&Ok(accept("Ada"))),
        )
        .await
        .unwrap();
    let done = terminal(&promotable, &id).await;
    assert_eq!(completed_text(&done), "Hello, \"Ada\"!");
    assert_eq!(outcomes.recv().await, Some(true));
}

/// B-6: a call that cannot become a task (no extension on this request) asks `elicit` within
/// the request, keyed `q1`; the retry with the answer completes. Without the elicitation
/// capability on the request, the question is -32602.
#[tokio::test]
async fn a_plain_question_of_a_call_that_cannot_be_a_task_is_answered_in_the_request() {
    let starts = Arc::new(AtomicUsize::new(0));
    let server = server(asks_by_elicit(TaskSupport::Optional, starts.clone()));
    let first = call(&server, without_tasks(), json!({"name": "confirm"}))
        .await
        .unwrap();
    assert_eq!(first["resultType"], "input_required");
    assert_eq!(first["inputRequests"]["q1"]["method"], "elicitation/create");
    let state = first["requestState"].clone();
    let second = call(
        &server,
        without_tasks(),
        json!({"name": "confirm", "inputResponses": {"q1": accept("Ada")}, "requestState": state}),
    )
    .await
    .unwrap();
    assert_eq!(second["resultType"], "complete");
    assert_eq!(text_of(&second), "Hello, \"Ada\"!");
    assert_eq!(starts.load(Ordering::SeqCst), 2);

    let e = call(&server, json!({"sampling": {}}), json!({"name": "confirm"}))
        .await
        .unwrap_err();
    assert_eq!(e.code.0, -32602);
    assert!(e.message.contains("elicitation"), "{}", e.message);
}

/// A tool that asks `user_name` within the request and greets with it.
fn greets_in_request() -> Tools {
    Tools::new().tool(
        ToolDef::new("greet").task_support(TaskSupport::Forbidden),
        |_: NoArgs, cx: ToolContext| async move {
            let answer = cx
                .ask_in_request(
                    "user_name",
                    "elicitation/create",
                    form("What is your name?"),
                )
                .await?;
            let name = answer["content"]["name"].as_str().unwrap_or("?").to_owned();
            Ok(CallToolResult::text(format!("Hello, {name}!")))
        },
    )
}

/// B-6: round 1 answers `InputRequiredResult` with the question under the tool's key and a
/// requestState; round 2 with the answer completes. Extra answers are ignored, even without a
/// state.
#[tokio::test]
async fn an_in_request_question_round_trips() {
    let server = server(greets_in_request());
    let first = call(
        &server,
        with_tasks(),
        json!({"name": "greet", "arguments": {}}),
    )
    .await
    .unwrap();
    assert_eq!(first["resultType"], "input_required");
    assert_eq!(
        first["inputRequests"]["user_name"],
        json!({"method": "elicitation/create", "params": form("What is your name?")})
    );
    assert!(first["requestState"].is_string());
    assert!(first.get("taskId").is_none());
    let second = call(
        &server,
        with_tasks(),
        json!({"name": "greet", "arguments": {}, "inputResponses": {"user_name": accept("Alice")},
               "requestState": first["requestState"]}),
    )
    .await
    .unwrap();
    assert_eq!(
        (second["resultType"].as_str(), text_of(&second)),
        (Some("complete"), "Hello, Alice!")
    );
    let extra = call(
        &server,
        with_tasks(),
        json!({"name": "greet", "inputResponses": {"user_name": accept("Bo"),
               "unknown_extra_key": {"action": "accept"}}}),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&extra), "Hello, Bo!");
}

/// B-6: answers under the wrong key re-ask (a new `InputRequiredResult`, not an error);
/// malformed `inputResponses` (null, a number as an answer) are -32602.
#[tokio::test]
async fn missing_answers_are_asked_again_and_malformed_ones_refused() {
    let server = server(greets_in_request());
    let again = call(
        &server,
        with_tasks(),
        json!({"name": "greet", "inputResponses": {"wrong_key": accept("x")}}),
    )
    .await
    .unwrap();
    assert_eq!(again["resultType"], "input_required");
    assert!(again["inputRequests"].get("user_name").is_some());
    for bad in [json!(null), json!({"user_name": 12345}), json!([1])] {
        let e = call(
            &server,
            with_tasks(),
            json!({"name": "greet", "inputResponses": bad}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code.0, -32602, "{bad}");
    }
}

/// B-6: a tampered state, one issued for other arguments, or for another requestor, is
/// -32602 "requestState is not one this server issued for this request".
#[tokio::test]
async fn a_tampered_or_foreign_request_state_is_refused() {
    let tools = Tools::new().tool(
        ToolDef::new("delete"),
        |args: Target, cx: ToolContext| async move {
            cx.ask_in_request("confirm", "elicitation/create", form("Sure?"))
                .await?;
            Ok(CallToolResult::text(format!("deleted {}", args.path)))
        },
    );
    let server = server(tools);
    let alice = request(Some("alice"), without_tasks());
    let first = alice
        .call(
            &server,
            json!({"name": "delete", "arguments": {"path": "/tmp/a"}}),
        )
        .await
        .unwrap();
    let state = first["requestState"].as_str().unwrap().to_owned();
    let retry = |path: &str, state: &str| {
        json!({"name": "delete", "arguments": {"path": path},
               "inputResponses": {"confirm": {"action": "accept"}}, "requestState": state})
    };
    let refused = |r: Result<Value, ErrorObject>| {
        let e = r.unwrap_err();
        assert_eq!(e.code.0, -32602);
        assert!(
            e.message
                .starts_with("requestState is not one this server issued for this request"),
            "{}",
            e.message
        );
    };
    refused(
        alice
            .call(&server, retry("/tmp/a", &format!("{state}-TAMPERED")))
            .await,
    );
    refused(alice.call(&server, retry("/etc/passwd", &state)).await);
    refused(
        request(Some("bob"), without_tasks())
            .call(&server, retry("/tmp/a", &state))
            .await,
    );
    refused(
        request(None, without_tasks())
            .call(&server, retry("/tmp/a", &state))
            .await,
    );
    // Alice, from another request (another session), with the same arguments: accepted.
    let ok = request(Some("alice"), without_tasks())
        .call(&server, retry("/tmp/a", &state))
        .await
        .unwrap();
    assert_eq!(text_of(&ok), "deleted /tmp/a");
}

/// B-6: several questions asked together go out in one round; a partial answer re-asks only
/// what is missing, and the state carries what was answered. A question the client did not
/// declare it can answer is -32602, never an input request.
#[tokio::test]
async fn questions_asked_together_go_out_together() {
    let tools = Tools::new().tool(ToolDef::new("multi"), |_: NoArgs, cx: ToolContext| async move {
        let mut asks = InputRequests::new();
        asks.insert("user_name".into(), InputRequest { method: "elicitation/create".into(), params: form("Name?") });
        asks.insert("greeting".into(), InputRequest { method: "sampling/createMessage".into(),
            params: json!({"messages": [{"role": "user", "content": {"type": "text", "text": "Hi"}}], "maxTokens": 50}) });
        asks.insert("client_roots".into(), InputRequest { method: "roots/list".into(), params: json!({}) });
        let answers = cx.ask_all_in_request(asks).await?;
        Ok(CallToolResult::text(format!(
            "{} {}",
            answers["user_name"]["content"]["name"].as_str().unwrap_or("?"),
            answers["client_roots"]["roots"].as_array().map_or(0, Vec::len)
        )))
    });
    let server = server(tools);
    let caps = || json!({"elicitation": {}, "sampling": {}, "roots": {}});
    let first = call(&server, caps(), json!({"name": "multi"}))
        .await
        .unwrap();
    let keys: Vec<&String> = first["inputRequests"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["client_roots", "greeting", "user_name"]);
    let partial = call(
        &server,
        caps(),
        json!({"name": "multi", "requestState": first["requestState"],
               "inputResponses": {"user_name": accept("Ada")}}),
    )
    .await
    .unwrap();
    let keys: Vec<&String> = partial["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["client_roots", "greeting"]);
    let done = call(
        &server,
        caps(),
        json!({"name": "multi", "requestState": partial["requestState"],
               "inputResponses": {"greeting": {"role": "assistant", "content": {"type": "text", "text": "Hello"}, "model": "m"},
                                  "client_roots": {"roots": [{"uri": "file:///a"}]}}}),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&done), "Ada 1");
    // A client that cannot list its roots is not asked to.
    let e = call(
        &server,
        json!({"elicitation": {}, "sampling": {}}),
        json!({"name": "multi"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code.0, -32602);
    assert!(e.message.contains("roots/list"), "{}", e.message);
}

/// B-6: three rounds; the state grows with each answer, so round 3 has step 1 from the state
/// and step 2 from its `inputResponses`.
#[tokio::test]
async fn a_multi_round_call_carries_earlier_answers_in_its_state() {
    let tools = Tools::new().tool(
        ToolDef::new("steps"),
        |_: NoArgs, cx: ToolContext| async move {
            let name = cx
                .ask_in_request("step1", "elicitation/create", form("Step 1"))
                .await?;
            let color = cx
                .ask_in_request("step2", "elicitation/create", form("Step 2"))
                .await?;
            Ok(CallToolResult::text(format!(
                "{} likes {}",
                name["content"]["name"].as_str().unwrap_or("?"),
                color["content"]["name"].as_str().unwrap_or("?")
            )))
        },
    );
    let server = server(tools);
    let r1 = call(&server, with_tasks(), json!({"name": "steps"}))
        .await
        .unwrap();
    assert!(r1["inputRequests"].get("step1").is_some());
    let r2 = call(
        &server,
        with_tasks(),
        json!({"name": "steps", "inputResponses": {"step1": accept("Ada")}, "requestState": r1["requestState"]}),
    )
    .await
    .unwrap();
    assert_eq!(r2["resultType"], "input_required");
    assert!(
        r2["inputRequests"].get("step2").is_some() && r2["inputRequests"].get("step1").is_none()
    );
    assert_ne!(r2["requestState"], r1["requestState"]);
    let r3 = call(
        &server,
        with_tasks(),
        json!({"name": "steps", "inputResponses": {"step2": accept("blue")}, "requestState": r2["requestState"]}),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&r3), "Ada likes blue");
}

/// A tool that asks `user_name` within the request, then works until released.
fn asks_then_works(support: TaskSupport, release: Arc<Notify>) -> Tools {
    Tools::new().tool(
        ToolDef::new("test_tool_with_task").task_support(support),
        move |_: NoArgs, cx: ToolContext| {
            let release = release.clone();
            async move {
                let answer = cx
                    .ask_in_request("user_name", "elicitation/create", form("Name?"))
                    .await?;
                release.notified().await;
                Ok(CallToolResult::text(format!(
                    "Hello, {}!",
                    answer["content"]["name"].as_str().unwrap_or("?")
                )))
            }
        },
    )
}

/// B-6 with X-2 (tasks-mrtr-composition): round 1 asks within the request (no taskId); round 2
/// with the answer goes on, becomes a task (no requestState), and the task's result reflects
/// the answer. For an optional tool past its threshold and for a required one, whose in-request
/// question in its first poll ends the round rather than racing its zero threshold.
#[tokio::test]
async fn in_request_questions_then_a_task() {
    for support in [TaskSupport::Optional, TaskSupport::Required] {
        let release = Arc::new(Notify::new());
        let server = server(asks_then_works(support, release.clone()));
        let r1 = call(
            &server,
            with_tasks(),
            json!({"name": "test_tool_with_task", "arguments": {}}),
        )
        .await
        .unwrap();
        assert_eq!(r1["resultType"], "input_required", "{support:?}: {r1}");
        assert!(r1.get("taskId").is_none());
        let r2 = call(
            &server,
            with_tasks(),
            json!({"name": "test_tool_with_task", "arguments": {},
                   "inputResponses": {"user_name": accept("Alice")}, "requestState": r1["requestState"]}),
        )
        .await
        .unwrap();
        assert_eq!(r2["resultType"], "task", "{support:?}: {r2}");
        assert!(r2.get("requestState").is_none() && r2.get("inputRequests").is_none());
        let id = task_id(&r2);
        release.notify_one();
        assert_eq!(
            completed_text(&terminal(&server, &id).await),
            "Hello, Alice!"
        );
    }
}

/// X-6 through this path: `tasks/cancel` of a call that became a task settles it `cancelled`
/// and trips the token the handler took while it was still a plain call.
#[tokio::test]
async fn cancelling_a_promoted_call_trips_the_token_it_already_held() {
    let taken: Arc<Mutex<Option<CancellationToken>>> = Arc::default();
    let keep = taken.clone();
    let tools = Tools::new().tool(
        ToolDef::new("slow_compute").task_support(TaskSupport::Optional),
        move |_: NoArgs, cx: ToolContext| {
            let keep = keep.clone();
            async move {
                *keep.lock().unwrap() = Some(cx.cancellation().clone());
                std::future::pending::<()>().await;
                Ok(CallToolResult::text("never"))
            }
        },
    );
    let server = server(tools);
    let v = call(&server, with_tasks(), json!({"name": "slow_compute"}))
        .await
        .unwrap();
    let id = task_id(&v);
    let token = taken.lock().unwrap().clone().expect("the handler ran");
    assert!(!token.is_cancelled());
    server.engine().cancel(&anyone(), &id, None).await.unwrap();
    tokio::time::timeout(GUARD, token.cancelled())
        .await
        .expect("the handler's token trips");
    assert_eq!(terminal(&server, &id).await.status(), TaskStatus::Cancelled);
}

/// X-4 through this path: a tool result with `isError` from a call that became a task reads
/// `completed` (with the result) in the extension and `failed` in 2025-11-25; as a plain call
/// it is a `complete` result carrying `isError`.
#[tokio::test]
async fn an_is_error_result_completes_the_task_in_this_era() {
    let release = Arc::new(Notify::new());
    let server = server(held(
        TaskSupport::Optional,
        Arc::default(),
        release.clone(),
        || CallToolResult::error_text("the job failed"),
    ));
    let v = call(&server, with_tasks(), json!({"name": "held"}))
        .await
        .unwrap();
    release.notify_one();
    let done = terminal(&server, &task_id(&v)).await;
    assert_eq!(
        crate::ext_dialect::status(&done),
        mcp_tasks_wire::v2025_11_25::TaskStatus::Completed
    );
    assert_eq!(
        crate::dialect::status(done.status()),
        mcp_tasks_wire::v2025_11_25::TaskStatus::Failed
    );

    let quick = Tools::new().tool(ToolDef::new("oops"), |_: NoArgs, _cx| async {
        Ok(CallToolResult::error_text("bad input"))
    });
    let v = call(&server_of(quick), with_tasks(), json!({"name": "oops"}))
        .await
        .unwrap();
    assert_eq!(
        (v["resultType"].as_str(), v["isError"].as_bool()),
        (Some("complete"), Some(true))
    );
}

fn server_of(tools: Tools) -> Arc<Server> {
    server(tools)
}

/// A handler that panics answers -32603 as a plain call, and fails its task once it is one.
#[tokio::test]
async fn a_panicking_handler_is_an_internal_error_or_a_failed_task() {
    let release = Arc::new(Notify::new());
    let wait = release.clone();
    let tools = Tools::new()
        .tool(ToolDef::new("boom"), |_: NoArgs, _cx| async {
            panic!("boom");
        })
        .tool(
            ToolDef::new("late_boom").task_support(TaskSupport::Optional),
            move |_: NoArgs, _cx| {
                let wait = wait.clone();
                async move {
                    wait.notified().await;
                    panic!("late boom");
                }
            },
        );
    let server = server(tools);
    let e = call(&server, with_tasks(), json!({"name": "boom"}))
        .await
        .unwrap_err();
    assert_eq!(e.code.0, -32603);
    let v = call(&server, with_tasks(), json!({"name": "late_boom"}))
        .await
        .unwrap();
    release.notify_one();
    assert_eq!(
        terminal(&server, &task_id(&v)).await.status(),
        TaskStatus::Failed
    );
}

/// Progress of a plain call goes on the request's stream; once the call is a task that stream
/// is answered and let go (it may end while the task runs), and progress is dropped.
#[tokio::test]
async fn progress_goes_on_the_request_stream_until_the_call_is_a_task() {
    let release = Arc::new(Notify::new());
    let wait = release.clone();
    let tools = Tools::new().tool(
        ToolDef::new("report").task_support(TaskSupport::Optional),
        move |_: NoArgs, cx: ToolContext| {
            let wait = wait.clone();
            async move {
                cx.progress(1.0, Some(2.0), Some("plain"));
                wait.notified().await;
                cx.progress(2.0, Some(2.0), Some("task"));
                Ok(CallToolResult::text("reported"))
            }
        },
    );
    let server = server(tools);
    let req = request(None, with_tasks());
    let v = req
        .call(
            &server,
            json!({"name": "report", "_meta": {"progressToken": "p1"}}),
        )
        .await
        .unwrap();
    let id = task_id(&v);
    // The task still runs, yet it holds the request's stream no more: it can end.
    let Request { sink, mut out, .. } = req;
    drop(sink);
    let mut seen = Vec::new();
    while let Some(m) = tokio::time::timeout(GUARD, out.recv())
        .await
        .expect("the stream ends while the task runs")
    {
        seen.push(m);
    }
    let [Message::Notification(n)] = seen.as_slice() else {
        panic!("one progress notification expected, got {seen:?}");
    };
    assert_eq!(n.params.as_ref().unwrap()["message"], "plain");
    assert_eq!(n.params.as_ref().unwrap()["progressToken"], "p1");
    release.notify_one();
    let done = terminal(&server, &id).await;
    assert_eq!(completed_text(&done), "reported");
}
