//! The client runtime against real servers of this crate over Streamable HTTP on loopback,
//! and against fakes where a server must misbehave (dropped streams) or lack a capability.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mcp_tasks_engine::{Engine, EngineConfig, MemoryStore, TaskStatus as EngineStatus};
use mcp_tasks_runtime::client::{
    handler_fn, sampling_fn, ClientBuilder, ClientError, Inbound, Incoming, Peer, Protocol,
    TaskEvent, TaskHandle, Transport,
};
use mcp_tasks_runtime::server::{Server, ToolContext, ToolResult, Tools};
use mcp_tasks_runtime::transport::http::{self, HttpConfig};
use mcp_tasks_wire::jsonrpc::{Message, Response};
use mcp_tasks_wire::v2025_11_25::{
    CallToolResult, CreateMessageRequestParams, CreateMessageResult, CreateTaskResult,
    ElicitAction, ElicitRequestParams, ElicitResult, Implementation, Role, SamplingMessage,
    TaskStatus, Tool,
};
use mcp_tasks_wire::{meta, method};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(20);

fn tool(name: &str, support: &str) -> Tool {
    serde_json::from_value(json!({
        "name": name,
        "inputSchema": {"type": "object"},
        "execution": {"taskSupport": support}
    }))
    .unwrap()
}

#[derive(Deserialize)]
struct Sleep {
    ms: u64,
}

#[derive(Deserialize)]
struct NoArgs {}

async fn sleep(args: Sleep, _cx: ToolContext) -> ToolResult {
    tokio::time::sleep(Duration::from_millis(args.ms)).await;
    Ok(CallToolResult::text(format!("slept {}", args.ms)))
}

async fn ask_name(_args: NoArgs, cx: ToolContext) -> ToolResult {
    let answer = cx
        .elicit(ElicitRequestParams::form(
            "What is your name?",
            json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
        ))
        .await?;
    let name = answer
        .content
        .and_then(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "stranger".into());
    Ok(CallToolResult::text(format!("Hello, {name}!")))
}

async fn summarize(_args: NoArgs, cx: ToolContext) -> ToolResult {
    if !cx.client_hosts_sampling() {
        return Ok(CallToolResult::error_text(
            "the client does not host sampling tasks",
        ));
    }
    let request =
        CreateMessageRequestParams::new(vec![SamplingMessage::text(Role::User, "a long text")], 50);
    let answer = cx.create_message_as_task(request, Some(60_000)).await?;
    Ok(CallToolResult::text(
        answer.content["text"].as_str().unwrap_or("").to_owned(),
    ))
}

async fn approve(_args: NoArgs, cx: ToolContext) -> ToolResult {
    if !cx.client_hosts_elicitation() {
        return Ok(CallToolResult::error_text(
            "the client does not host elicitation tasks",
        ));
    }
    let answer = cx
        .elicit_as_task(
            ElicitRequestParams::form(
                "Approve?",
                json!({"type": "object", "properties": {"ok": {"type": "boolean"}}}),
            ),
            Some(60_000),
        )
        .await?;
    Ok(CallToolResult::text(format!("{:?}", answer.action)))
}

fn tools() -> Tools {
    Tools::new()
        .add(tool("sleep", "optional"), sleep)
        .add(tool("ask_name", "required"), ask_name)
        .add(tool("summarize", "optional"), summarize)
        .add(tool("approve", "optional"), approve)
        .add(
            serde_json::from_value(json!({"name": "plain", "inputSchema": {"type": "object"}}))
                .unwrap(),
            |_: NoArgs, _cx| async { Ok(CallToolResult::text("plain")) },
        )
}

/// A server of `tools()` on loopback; the URL of its endpoint.
async fn serve(config: EngineConfig) -> (String, CancellationToken) {
    let engine = Engine::new(Arc::new(MemoryStore::new()), config);
    let server = Server::new(engine, tools(), Implementation::new("test-server", "1.0.0"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let router = http::router(server, HttpConfig::default());
    let shutdown = stop.clone();
    tokio::spawn(async move { http::serve(listener, router, shutdown.cancelled_owned()).await });
    (format!("http://{addr}/mcp"), stop)
}

/// A client of MCP 2025-11-25, the era these tests prove: the server speaks 2026-07-28 too,
/// which the client would otherwise discover and prefer (`client_v2026.rs` tests that era).
fn builder() -> ClientBuilder {
    ClientBuilder::new(Implementation::new("test-client", "1.0.0")).protocol(Protocol::V2025_11_25)
}

/// Follows a task to its result: the statuses seen on the way, and the result.
async fn follow_to_end(handle: &mut TaskHandle) -> (Vec<TaskStatus>, Value) {
    let mut statuses = Vec::new();
    let result = tokio::time::timeout(LIMIT, async {
        loop {
            match handle.next_event().await.unwrap() {
                TaskEvent::Status(t) => statuses.push(t.status),
                TaskEvent::Progress(_) => {}
                TaskEvent::Finished(r) => break r.unwrap(),
            }
        }
    })
    .await
    .unwrap();
    (statuses, result)
}

/// A peer that records when each `tasks/get` went out.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn Peer>,
    gets: Mutex<Vec<Instant>>,
}

#[async_trait]
impl Peer for Counting {
    async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        if method == method::TASKS_GET {
            self.gets.lock().unwrap().push(Instant::now());
        }
        self.inner.call(method, params).await
    }
}

/// T-GET-2: the handle polls `tasks/get` no faster than the task's `pollInterval`, reports
/// each status change once, and ends with the result (T-RES-1).
#[tokio::test]
async fn polling_honours_poll_interval() {
    let interval = Duration::from_millis(150);
    let (url, _stop) = serve(EngineConfig::default().poll_interval(interval)).await;
    let client = builder().connect_http(&url).await.unwrap();
    let created = client
        .request(
            method::TOOLS_CALL,
            json!({"name": "sleep", "arguments": {"ms": 900}, "task": {"ttl": 60000}}),
        )
        .await
        .unwrap();
    let created: CreateTaskResult = serde_json::from_value(created).unwrap();
    assert_eq!(created.task.poll_interval, Some(150));
    let counting = Arc::new(Counting {
        inner: client.peer(),
        gets: Mutex::new(Vec::new()),
    });
    let start = Instant::now();
    let mut handle = TaskHandle::new(counting.clone(), created.task, None);
    let (statuses, result) = follow_to_end(&mut handle).await;
    assert_eq!(result["content"][0]["text"], "slept 900");
    assert_eq!(meta::related_task_id(&result).as_deref(), Some(handle.id()));
    assert_eq!(statuses, vec![TaskStatus::Completed]);
    let gets = counting.gets.lock().unwrap().clone();
    assert!(!gets.is_empty(), "the handle polled");
    let mut previous = start;
    for at in &gets {
        let gap = at.duration_since(previous);
        assert!(
            gap + Duration::from_millis(5) >= interval,
            "polled {gap:?} after the previous poll, below pollInterval {interval:?}"
        );
        previous = *at;
    }
    // 900 ms of work at 150 ms: at most 900/150 polls, plus the one that sees the end.
    assert!(gets.len() <= 7, "{} polls for 900 ms at 150 ms", gets.len());
    client.close().await;
}

/// T-NOTE-1: status notifications wake the handle long before a 30 s poll would; the handle
/// does not wait for its next poll to see the end.
#[tokio::test]
async fn status_notifications_wake_the_handle() {
    let (url, _stop) = serve(EngineConfig::default().poll_interval(Duration::from_secs(30))).await;
    let client = builder().connect_http(&url).await.unwrap();
    let handle = client
        .call_tool_as_task("sleep", json!({"ms": 300}), None)
        .await
        .unwrap();
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), handle.wait())
        .await
        .expect("the notification woke the handle")
        .unwrap();
    assert_eq!(result["content"][0]["text"], "slept 300");
    assert!(started.elapsed() < Duration::from_secs(10));
    client.close().await;
}

/// T-RES-4, T-META-1: a question the task asks reaches the client's elicitation handler over
/// the `tasks/result` exchange the handle opens when it sees `input_required`; the handler
/// knows the task it belongs to.
#[tokio::test]
async fn questions_of_a_task_reach_the_elicitation_handler() {
    let (url, _stop) =
        serve(EngineConfig::default().poll_interval(Duration::from_millis(50))).await;
    let seen = Arc::new(Mutex::new(None));
    let seen_by_handler = seen.clone();
    let client = builder()
        .elicitation(handler_fn(move |request: ElicitRequestParams, cx| {
            let seen = seen_by_handler.clone();
            async move {
                *seen.lock().unwrap() = Some((request.message, cx.related_task));
                Ok(ElicitResult::accept(
                    json!({"name": "Ada"}).as_object().cloned().unwrap(),
                ))
            }
        }))
        .connect_http(&url)
        .await
        .unwrap();
    let mut handle = client
        .call_tool_as_task("ask_name", json!({}), Some(60_000))
        .await
        .unwrap();
    let (statuses, result) = follow_to_end(&mut handle).await;
    let result: CallToolResult = serde_json::from_value(result).unwrap();
    assert_eq!(
        result,
        CallToolResult::text("Hello, Ada!").with_meta_of(&result)
    );
    let (message, related) = seen.lock().unwrap().clone().expect("the handler was asked");
    assert_eq!(message, "What is your name?");
    assert_eq!(related.as_deref(), Some(handle.id()));
    assert!(
        statuses.contains(&TaskStatus::InputRequired),
        "{statuses:?}"
    );
    client.close().await;
}

trait WithMeta {
    fn with_meta_of(self, other: &CallToolResult) -> Self;
}

impl WithMeta for CallToolResult {
    fn with_meta_of(mut self, other: &CallToolResult) -> Self {
        self.meta = other.meta.clone();
        self
    }
}

/// T-CAP-1 (client side), both ends ours: the client declares `tasks.requests` for sampling
/// and elicitation, runs those requests as tasks of its own engine, and the server's tools
/// follow them to their results with `tasks/get` and `tasks/result`.
#[tokio::test]
async fn client_hosted_sampling_and_elicitation_tasks() {
    let (url, _stop) =
        serve(EngineConfig::default().poll_interval(Duration::from_millis(50))).await;
    let hosted = Engine::new(
        Arc::new(MemoryStore::new()),
        EngineConfig::default().poll_interval(Duration::from_millis(40)),
    );
    let ids = Arc::new(Mutex::new(Vec::new()));
    let (ids_s, ids_e) = (ids.clone(), ids.clone());
    let client = builder()
        .sampling(sampling_fn(move |_request, cx| {
            let ids = ids_s.clone();
            async move {
                ids.lock().unwrap().push(
                    cx.hosted_task
                        .clone()
                        .expect("sampling runs as a hosted task"),
                );
                // The model takes its time; the server polls meanwhile.
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(CreateMessageResult {
                    role: Role::Assistant,
                    content: json!({"type": "text", "text": "a summary"}),
                    model: "test-model".into(),
                    stop_reason: Some("endTurn".into()),
                    meta: None,
                })
            }
        }))
        .elicitation(handler_fn(
            move |_request, cx: mcp_tasks_runtime::client::RequestContext| {
                let ids = ids_e.clone();
                async move {
                    ids.lock().unwrap().push(
                        cx.hosted_task
                            .clone()
                            .expect("elicitation runs as a hosted task"),
                    );
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    Ok(ElicitResult::accept(
                        json!({"ok": true}).as_object().cloned().unwrap(),
                    ))
                }
            },
        ))
        .host_tasks(hosted.clone())
        .connect_http(&url)
        .await
        .unwrap();

    for (tool, expected) in [("summarize", "a summary"), ("approve", "Accept")] {
        let handle = client
            .call_tool_as_task(tool, json!({}), None)
            .await
            .unwrap();
        let result = tokio::time::timeout(LIMIT, handle.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(result["content"][0]["text"], expected, "{tool}: {result}");
        assert_ne!(result["isError"], true, "{tool}: {result}");
    }
    // Both requests became tasks of the client's engine, and both completed.
    let mut kinds = Vec::new();
    let found = records(&hosted, &ids).await;
    assert_eq!(found.len(), 2);
    for record in found {
        assert_eq!(record.status(), EngineStatus::Completed, "{record:?}");
        kinds.push(record.kind);
    }
    kinds.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(
        kinds,
        vec![
            mcp_tasks_engine::RequestKind::ElicitationCreate,
            mcp_tasks_engine::RequestKind::SamplingCreateMessage
        ]
    );
    client.close().await;
}

/// The hosted tasks with these ids, as the client's engine holds them.
async fn records(engine: &Engine, ids: &Mutex<Vec<String>>) -> Vec<mcp_tasks_engine::TaskRecord> {
    let ids = ids.lock().unwrap().clone();
    let mut out = Vec::new();
    for id in ids {
        let id = mcp_tasks_engine::TaskId::from(id);
        out.extend(engine.store().get(None, &id).await.unwrap());
    }
    out
}

/// Cancelling a server task whose tool waits on a client-hosted elicitation cancels the
/// client's task too (T-CAN-1 across the two directions).
#[tokio::test]
async fn cancelling_the_tool_cancels_the_client_hosted_task() {
    let (url, _stop) =
        serve(EngineConfig::default().poll_interval(Duration::from_millis(50))).await;
    let hosted = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let ids = Arc::new(Mutex::new(Vec::new()));
    let ids_e = ids.clone();
    let client = builder()
        .elicitation(handler_fn(
            move |_request, cx: mcp_tasks_runtime::client::RequestContext| {
                let ids = ids_e.clone();
                async move {
                    ids.lock().unwrap().extend(cx.hosted_task.clone());
                    // Nobody answers; only cancellation ends this.
                    cx.cancellation.cancelled().await;
                    Ok(ElicitResult::cancel())
                }
            },
        ))
        .host_tasks(hosted.clone())
        .connect_http(&url)
        .await
        .unwrap();
    let handle = client
        .call_tool_as_task("approve", json!({}), None)
        .await
        .unwrap();
    let id = handle.id().to_owned();
    // Following the task opens tasks/result, which carries the server's question.
    let follower = tokio::spawn(handle.wait());
    // Wait until the client hosts the question.
    let hosted_id = tokio::time::timeout(LIMIT, async {
        loop {
            if let Some(r) = records(&hosted, &ids).await.into_iter().next() {
                break r.id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let mut handle = client.task(&id).await.unwrap();
    let task = handle.cancel().await.unwrap();
    assert_eq!(task.status, TaskStatus::Cancelled);
    let outcome = tokio::time::timeout(LIMIT, follower)
        .await
        .unwrap()
        .unwrap();
    assert!(
        outcome.is_err(),
        "a cancelled task has no result: {outcome:?}"
    );
    tokio::time::timeout(LIMIT, async {
        loop {
            let record = records(&hosted, &ids)
                .await
                .into_iter()
                .find(|r| r.id == hosted_id)
                .unwrap();
            if record.status() == EngineStatus::Cancelled {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the server cancelled the client's task");
    client.close().await;
}

/// A transport whose server is a script: it records what the client sends and answers from
/// canned results.
#[derive(Debug)]
struct Scripted {
    sent: Arc<Mutex<Vec<Message>>>,
    inbound: mpsc::UnboundedSender<Incoming>,
    answers: Vec<(&'static str, Value)>,
}

#[async_trait]
impl Transport for Scripted {
    async fn send(&self, message: Message) -> Result<(), ClientError> {
        if let Message::Request(r) = &message {
            if let Some((_, answer)) = self.answers.iter().find(|(m, _)| *m == r.method) {
                let response = Response::result(r.id.clone(), answer.clone());
                let _ = self.inbound.send(Incoming::Message(response.into()));
            }
        }
        self.sent.lock().unwrap().push(message);
        Ok(())
    }

    async fn close(&self) {}
}

fn scripted(capabilities: Value, tools: Value) -> (Scripted, Inbound, Arc<Mutex<Vec<Message>>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let transport = Scripted {
        sent: sent.clone(),
        inbound: tx,
        answers: vec![
            (
                method::INITIALIZE,
                json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": capabilities,
                    "serverInfo": {"name": "scripted", "version": "1"}
                }),
            ),
            (method::TOOLS_LIST, json!({"tools": tools})),
        ],
    };
    (transport, rx, sent)
}

fn sent_methods(sent: &Mutex<Vec<Message>>) -> Vec<String> {
    sent.lock()
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            Message::Request(r) => Some(r.method.clone()),
            _ => None,
        })
        .collect()
}

/// T-CAP-3, T-CAP-5: the client never sends a task-augmented `tools/call` to a server that
/// did not declare `tasks.requests.tools.call`, nor for a tool whose taskSupport forbids it,
/// and never a plain call of a tool that requires a task.
#[tokio::test]
async fn the_client_only_augments_what_the_server_declared() {
    let tools = json!([
        {"name": "forbidden", "inputSchema": {"type": "object"}},
        {"name": "required", "inputSchema": {"type": "object"}, "execution": {"taskSupport": "required"}},
        {"name": "optional", "inputSchema": {"type": "object"}, "execution": {"taskSupport": "optional"}}
    ]);
    // No tasks capability at all: no task is ever asked for.
    let (transport, inbound, sent) = scripted(json!({"tools": {}}), tools.clone());
    let client = builder().connect(transport, inbound).await.unwrap();
    assert!(!client.server_runs_tool_tasks());
    let err = client
        .call_tool_as_task("optional", json!({}), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("tasks"), "{err}");
    assert!(!sent_methods(&sent).contains(&method::TOOLS_CALL.to_string()));

    // Tasks declared: the tool's own taskSupport decides.
    let caps = json!({"tools": {}, "tasks": {"requests": {"tools": {"call": {}}}}});
    let (transport, inbound, sent) = scripted(caps, tools);
    let client = builder().connect(transport, inbound).await.unwrap();
    let err = client
        .call_tool_as_task("forbidden", json!({}), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("forbidden"), "{err}");
    let err = client.call_tool("required", json!({})).await.unwrap_err();
    assert!(err.to_string().contains("required"), "{err}");
    let err = client
        .call_tool_as_task("missing", json!({}), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unsupported(_)), "{err}");
    assert!(!sent_methods(&sent).contains(&method::TOOLS_CALL.to_string()));
    // And the client declared no tasks of its own: it hosts none.
    let init = sent.lock().unwrap().iter().find_map(|m| match m {
        Message::Request(r) if r.method == method::INITIALIZE => r.params.clone(),
        _ => None,
    });
    assert!(init.unwrap()["capabilities"].get("tasks").is_none());
}

/// What the fake server of the resumption tests saw.
#[derive(Debug, Default)]
struct Seen {
    resumed_from: Vec<String>,
    deleted: Vec<String>,
    results_asked: usize,
}

/// Over HTTP, a `tasks/result` stream that drops before its answer is resumed with `GET` and
/// `Last-Event-ID`, and the answer arrives; a stream without event ids cannot be resumed, so
/// the handle asks `tasks/result` again. `close` sends `DELETE` with the session id.
#[tokio::test]
async fn dropped_streams_are_resumed_and_close_deletes_the_session() {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    type Shared = Arc<Mutex<Seen>>;
    let seen: Shared = Arc::default();

    fn sse(body: String) -> axum::response::Response {
        (
            [
                ("content-type", "text/event-stream"),
                ("mcp-session-id", "s-1"),
            ],
            body,
        )
            .into_response()
    }

    async fn post(State(seen): State<Shared>, body: String) -> axum::response::Response {
        let msg: Value = serde_json::from_str(&body).unwrap();
        let Some(id) = msg.get("id").cloned() else {
            return StatusCode::ACCEPTED.into_response();
        };
        match msg["method"].as_str() {
            Some("initialize") => sse(format!(
                "id: 0-1\ndata: {}\n\n",
                json!({"jsonrpc": "2.0", "id": id, "result": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {"tasks": {"requests": {"tools": {"call": {}}}}},
                    "serverInfo": {"name": "fake", "version": "1"}
                }})
            )),
            Some("tasks/result") => {
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.results_asked += 1;
                    seen.results_asked
                };
                let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                    "params": {"progressToken": "p", "progress": 1}});
                if n == 1 {
                    // An event id, then the stream ends before the answer: resumable.
                    sse(format!("id: 7-1\ndata: {progress}\n\n"))
                } else {
                    // No ids at all: the client cannot resume and must ask again.
                    sse(format!("data: {progress}\n\n"))
                }
            }
            Some("tasks/get") => sse(format!(
                "data: {}\n\n",
                json!({"jsonrpc": "2.0", "id": id, "result": {
                    "taskId": "t-1", "status": "completed", "createdAt": "2026-01-01T00:00:00Z",
                    "lastUpdatedAt": "2026-01-01T00:00:00Z", "ttl": null
                }})
            )),
            _ => StatusCode::BAD_REQUEST.into_response(),
        }
    }

    async fn get(State(seen): State<Shared>, headers: HeaderMap) -> axum::response::Response {
        let Some(last) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) else {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        };
        seen.lock().unwrap().resumed_from.push(last.to_owned());
        // The rest of stream 7: the answer to the first tasks/result (request id 2... whatever
        // id the client used is echoed from the pending one, so answer every id it may be).
        let mut body = String::new();
        for id in 1..=10 {
            body.push_str(&format!(
                "id: 7-{}\ndata: {}\n\n",
                id + 1,
                json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": "resumed"}]}})
            ));
        }
        sse(body)
    }

    async fn delete(State(seen): State<Shared>, headers: HeaderMap) -> StatusCode {
        let session = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        seen.lock().unwrap().deleted.push(session);
        StatusCode::OK
    }

    let app = axum::Router::new()
        .route("/mcp", axum::routing::post(post).get(get).delete(delete))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = builder().connect_http(&url).await.unwrap();
    let first = tokio::time::timeout(
        LIMIT,
        client.request(method::TASKS_RESULT, json!({"taskId": "t-1"})),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(first["content"][0]["text"], "resumed");
    assert_eq!(seen.lock().unwrap().resumed_from, vec!["7-1".to_string()]);

    // Second exchange: no event ids, so the raw request fails as a transport error...
    let lost = tokio::time::timeout(
        LIMIT,
        client.request(method::TASKS_RESULT, json!({"taskId": "t-1"})),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(lost, ClientError::Transport(_)), "{lost}");
    assert!(lost.to_string().contains("no event ids"), "{lost}");
    client.close().await;
    assert_eq!(seen.lock().unwrap().deleted, vec!["s-1".to_string()]);
}

/// A failed handler's error reaches the server as its JSON-RPC error, and a plain call of a
/// tool without taskSupport needs no task at all.
#[tokio::test]
async fn plain_calls_work_without_tasks() {
    let (url, _stop) = serve(EngineConfig::default()).await;
    let client = builder().connect_http(&url).await.unwrap();
    let result = client.call_tool("plain", json!({})).await.unwrap();
    assert_eq!(result, CallToolResult::text("plain").with_meta_of(&result));
    let tools = client.list_tools().await.unwrap();
    assert_eq!(tools.len(), 5);
    let _ = ElicitAction::Accept;
    client.close().await;
}
