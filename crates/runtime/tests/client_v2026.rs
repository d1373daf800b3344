//! The client in MCP 2026-07-28 (the tasks extension on the stateless base protocol), against
//! fake servers that answer exactly what the spec and the extension's schema say a server sends:
//! an in-process transport for what the client asks and answers, and a loopback HTTP server for
//! the headers it sends. End-to-end runs against `mcp-tasks serve` live in
//! `crates/mcp-tasks/tests/cli_v2026.rs` and in the second half of this file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mcp_tasks_runtime::client::{
    handler_fn, ClientBuilder, ClientError, Inbound, Incoming, Protocol, Root, TaskEvent, ToolCall,
    Transport,
};
use mcp_tasks_wire::jsonrpc::{ErrorCode, ErrorObject, Message, Request, Response};
use mcp_tasks_wire::v2025_11_25::{ElicitResult, Implementation, TaskStatus};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(20);
const V2026: &str = "2026-07-28";
const TASKS: &str = "io.modelcontextprotocol/tasks";

/// What a fake server answers to one request: `None` leaves it unanswered.
type Answer = Option<Result<Value, ErrorObject>>;
type Script = Box<dyn Fn(&Request) -> Answer + Send + Sync>;

/// A transport whose server is a function of each request; it records every message and the
/// era the client told it about.
struct Fake {
    sent: Arc<Mutex<Vec<Message>>>,
    stateless: Arc<Mutex<Option<String>>>,
    /// How many `tasks/get` the connection loses (a transport error) before delivering again.
    lose_gets: Arc<Mutex<usize>>,
    inbound: mpsc::UnboundedSender<Incoming>,
    script: Script,
}

impl std::fmt::Debug for Fake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fake")
    }
}

#[async_trait]
impl Transport for Fake {
    async fn send(&self, message: Message) -> Result<(), ClientError> {
        if let Message::Request(r) = &message {
            let mut lose = self.lose_gets.lock().unwrap();
            if r.method == "tasks/get" && *lose > 0 {
                *lose -= 1;
                return Err(ClientError::Transport("the stream dropped".into()));
            }
        }
        if let Message::Request(r) = &message {
            if let Some(outcome) = (self.script)(r) {
                let response = match outcome {
                    Ok(v) => Response::result(r.id.clone(), v),
                    Err(e) => Response::error(Some(r.id.clone()), e),
                };
                let _ = self.inbound.send(Incoming::Message(response.into()));
            }
        }
        self.sent.lock().unwrap().push(message);
        Ok(())
    }

    async fn stateless(&self, protocol_version: &str) {
        *self.stateless.lock().unwrap() = Some(protocol_version.to_owned());
    }

    async fn close(&self) {}
}

/// What the client sent a fake, and the era it announced to the transport.
#[derive(Clone)]
struct Seen {
    sent: Arc<Mutex<Vec<Message>>>,
    stateless: Arc<Mutex<Option<String>>>,
    lose_gets: Arc<Mutex<usize>>,
}

impl Seen {
    fn requests(&self) -> Vec<Request> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| match m {
                Message::Request(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    fn methods(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.method).collect()
    }

    fn of(&self, method: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method)
            .map(|r| r.params.unwrap_or(Value::Null))
            .collect()
    }
}

impl Seen {
    /// Every message the client sent, checked against the MCP 2026-07-28 and tasks extension
    /// schemas (requests with their params: `_meta`, `inputResponses`, `tasks/update`…).
    #[track_caller]
    fn assert_schema_valid(&self) {
        let sent = self.sent.lock().unwrap().clone();
        assert!(!sent.is_empty());
        for message in sent {
            let value = serde_json::to_value(&message).unwrap();
            testkit::schema::assert_valid_message(testkit::schema::Spec::ExtTasks, &value);
        }
    }
}

fn fake(script: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> (Fake, Inbound, Seen) {
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = Seen {
        sent: Arc::default(),
        stateless: Arc::default(),
        lose_gets: Arc::default(),
    };
    let transport = Fake {
        sent: seen.sent.clone(),
        stateless: seen.stateless.clone(),
        lose_gets: seen.lose_gets.clone(),
        inbound: tx,
        script: Box::new(script),
    };
    (transport, rx, seen)
}

fn builder() -> ClientBuilder {
    ClientBuilder::new(Implementation::new("test-client", "1.0.0"))
}

/// Answers the elicitation of a form asking `name` with "Ada".
fn ada() -> ClientBuilder {
    builder().elicitation(handler_fn(|_request, _cx| async {
        let name = json!({"name": "Ada"});
        Ok(ElicitResult::accept(name.as_object().cloned().unwrap()))
    }))
}

fn discover_result() -> Value {
    json!({
        "resultType": "complete",
        "supportedVersions": [V2026, "2025-11-25"],
        "capabilities": {"tools": {}, "extensions": {TASKS: {}}},
        "ttlMs": 0, "cacheScope": "public",
        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "fake-2026", "version": "1"}}
    })
}

fn initialize_result() -> Value {
    json!({
        "protocolVersion": "2025-11-25",
        "capabilities": {"tools": {}, "tasks": {"list": {}, "requests": {"tools": {"call": {}}}}},
        "serverInfo": {"name": "fake-2025", "version": "1"}
    })
}

fn task(id: &str, status: &str) -> Value {
    json!({"taskId": id, "status": status, "createdAt": "2026-12-04T00:00:00Z",
           "lastUpdatedAt": "2026-12-04T00:00:00Z", "ttlMs": 60000, "pollIntervalMs": 10})
}

/// `tasks/get`'s answer: a DetailedTask with `resultType: "complete"` and `extra` inlined.
fn detailed(id: &str, status: &str, extra: Value) -> Value {
    let mut v = task(id, status);
    v["resultType"] = json!("complete");
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
    }
    v
}

fn form() -> Value {
    json!({"method": "elicitation/create", "params": {
        "message": "Your name?",
        "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    }})
}

fn text_result(text: &str) -> Value {
    json!({"resultType": "complete", "content": [{"type": "text", "text": text}]})
}

/// A 2026-07-28 server of one scripted tool call (`call`), answering discover, acknowledging
/// updates and cancels, and answering `tasks/get` from `get`.
fn modern(
    call: impl Fn(&Value) -> Answer + Send + Sync + 'static,
    get: impl Fn(&Value) -> Answer + Send + Sync + 'static,
) -> (Fake, Inbound, Seen) {
    fake(move |r| {
        let params = r.params.clone().unwrap_or(Value::Null);
        match r.method.as_str() {
            "server/discover" => Some(Ok(discover_result())),
            "tools/list" => Some(Ok(json!({
                "resultType": "complete", "ttlMs": 0, "cacheScope": "public",
                "tools": [{"name": "greet", "inputSchema": {"type": "object"}}]
            }))),
            "tools/call" => call(&params),
            "tasks/get" => get(&params),
            "tasks/update" | "tasks/cancel" => Some(Ok(json!({"resultType": "complete"}))),
            other => Some(Err(ErrorObject::method_not_found(other))),
        }
    })
}

fn never(_: &Value) -> Answer {
    Some(Err(ErrorObject::internal("not expected")))
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("bounded in time")
}

/// B-8, B-1, B-2, X-1: against a 2026-07-28 server the client asks `server/discover` (itself a
/// request of the era, with its `_meta`), never `initialize`s, tells the transport it is
/// stateless, and frames every later request with the version, its capabilities (the tasks
/// extension as exactly `{}`, elicitation because it has a handler) and its info.
#[tokio::test]
async fn discovery_picks_2026_and_every_request_carries_the_era_meta() {
    let (transport, inbound, seen) = modern(|_| Some(Ok(text_result("hi"))), never);
    let client = bounded(ada().connect(transport, inbound)).await.unwrap();
    assert_eq!(client.protocol(), Protocol::V2026_07_28);
    assert!(client.server().is_none());
    assert_eq!(client.server_info().unwrap().name, "fake-2026");
    assert!(client.discovery().unwrap().has_tasks_extension());
    assert!(client.server_runs_tool_tasks());
    assert_eq!(seen.stateless.lock().unwrap().as_deref(), Some(V2026));

    let tools = bounded(client.list_tools()).await.unwrap();
    assert_eq!(tools[0].name, "greet");
    let result = bounded(client.call_tool("greet", json!({}))).await.unwrap();
    assert_eq!(result.content.len(), 1);

    assert_eq!(
        seen.methods(),
        ["server/discover", "tools/list", "tools/call"]
    );
    for r in seen.requests() {
        let meta = &r.params.as_ref().unwrap()["_meta"];
        assert_eq!(
            meta["io.modelcontextprotocol/protocolVersion"], V2026,
            "{}",
            r.method
        );
        assert_eq!(
            meta["io.modelcontextprotocol/clientCapabilities"],
            json!({"elicitation": {"form": {}}, "extensions": {TASKS: {}}}),
            "{}",
            r.method
        );
        assert_eq!(
            meta["io.modelcontextprotocol/clientInfo"],
            json!({"name": "test-client", "version": "1.0.0"})
        );
    }
    seen.assert_schema_valid();
    // No notification either: no notifications/initialized in this era.
    assert!(seen
        .sent
        .lock()
        .unwrap()
        .iter()
        .all(|m| matches!(m, Message::Request(_))));
}

/// B-8: a server that answers `server/discover` with an error (as a 2025-11-25 server does) is
/// `initialize`d, and the session then speaks 2025-11-25 without the era's `_meta`.
#[tokio::test]
async fn an_error_to_discover_falls_back_to_initialize() {
    for refusal in [
        ErrorObject::method_not_found("server/discover"),
        ErrorObject::new(
            ErrorCode::INVALID_REQUEST,
            "Bad Request: Server not initialized",
        ),
        ErrorObject::new(ErrorCode::UNSUPPORTED_PROTOCOL_VERSION, "no")
            .with_data(json!({"supported": ["2025-11-25"], "requested": V2026})),
    ] {
        let (transport, inbound, seen) = fake(move |r| match r.method.as_str() {
            "server/discover" => Some(Err(refusal.clone())),
            "initialize" => Some(Ok(initialize_result())),
            "tools/list" => Some(Ok(json!({"tools": []}))),
            _ => None,
        });
        let client = bounded(builder().connect(transport, inbound))
            .await
            .unwrap();
        assert_eq!(client.protocol(), Protocol::V2025_11_25);
        assert_eq!(client.server().unwrap().server_info.name, "fake-2025");
        bounded(client.list_tools()).await.unwrap();
        assert_eq!(
            seen.methods(),
            ["server/discover", "initialize", "tools/list"]
        );
        assert!(seen.of("tools/list")[0].get("_meta").is_none());
        assert!(seen.stateless.lock().unwrap().is_none());
    }
}

/// B-8: a server that never answers `server/discover` is not taken for a 2025-11-25 server:
/// connecting fails once the probe times out, saying how to connect to one, and the abandoned
/// probe is not announced with notifications/cancelled.
#[tokio::test(start_paused = true)]
async fn silence_to_discover_is_a_connect_error() {
    let (transport, inbound, seen) = fake(|r| match r.method.as_str() {
        "initialize" => Some(Ok(initialize_result())),
        _ => None,
    });
    let err = builder().connect(transport, inbound).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err}");
    assert!(err.to_string().contains("protocol 2025-11-25"), "{err}");
    assert_eq!(seen.methods(), ["server/discover"]);
    assert!(seen
        .sent
        .lock()
        .unwrap()
        .iter()
        .all(|m| matches!(m, Message::Request(_))));
}

/// B-8: a server failing to answer `server/discover` (-32603, as at its stateless limit or
/// shutting down) is reported; `initialize` would silently downgrade the connection. An answer
/// that is no `DiscoverResult` at all is a 2025-11-25 server's, and falls back.
#[tokio::test]
async fn a_failing_discover_is_a_connect_error_and_a_foreign_answer_falls_back() {
    let (transport, inbound, seen) = fake(|r| match r.method.as_str() {
        "server/discover" => Some(Err(ErrorObject::internal("at the limit"))),
        _ => Some(Ok(initialize_result())),
    });
    let err = bounded(builder().connect(transport, inbound))
        .await
        .unwrap_err();
    assert_eq!(err.rpc().unwrap().code, ErrorCode::INTERNAL_ERROR);
    assert_eq!(seen.methods(), ["server/discover"]);

    let (transport, inbound, seen) = fake(|r| match r.method.as_str() {
        "server/discover" => Some(Ok(json!({}))),
        _ => Some(Ok(initialize_result())),
    });
    let client = bounded(builder().connect(transport, inbound))
        .await
        .unwrap();
    assert_eq!(client.protocol(), Protocol::V2025_11_25);
    assert_eq!(seen.methods(), ["server/discover", "initialize"]);
}

/// B-3, B-8: -32022 to `server/discover` naming only versions this client does not speak is
/// an error that names them, not an `initialize`.
#[tokio::test]
async fn a_version_refusal_naming_nothing_usable_is_a_connect_error() {
    let (transport, inbound, seen) = fake(|r| match r.method.as_str() {
        "server/discover" => Some(Err(ErrorObject::new(
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
            "no",
        )
        .with_data(json!({"supported": ["2027-03-01"], "requested": V2026})))),
        _ => Some(Ok(initialize_result())),
    });
    let err = bounded(builder().connect(transport, inbound))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("2027-03-01"), "{err}");
    assert_eq!(seen.methods(), ["server/discover"]);
}

/// B-8: -32020 and -32021 to `server/discover` come from a 2026-07-28 server refusing the
/// request; the client reports them instead of trying `initialize`.
#[tokio::test]
async fn a_modern_refusal_of_discover_is_an_error() {
    let (transport, inbound, seen) = fake(|r| match r.method.as_str() {
        "server/discover" => Some(Err(ErrorObject::new(
            ErrorCode::HEADER_MISMATCH,
            "bad header",
        ))),
        _ => Some(Ok(initialize_result())),
    });
    let err = bounded(builder().connect(transport, inbound))
        .await
        .unwrap_err();
    assert_eq!(err.rpc().unwrap().code, ErrorCode::HEADER_MISMATCH);
    assert_eq!(seen.methods(), ["server/discover"]);
}

/// B-3 (client side): -32022 for 2026-07-28 from a server that lists 2026-07-28 among its
/// supported versions is asked again once, with a new id (discovery and any later request);
/// -32022 listing only other versions is the server's answer.
#[tokio::test]
async fn a_refused_version_the_server_lists_is_retried_once() {
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let first = refused.clone();
    let (transport, inbound, seen) = fake(move |r| {
        let mut done = first.lock().unwrap();
        if !done.contains(&r.method) {
            done.push(r.method.clone());
            return Some(Err(ErrorObject::new(
                ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
                "retry",
            )
            .with_data(json!({"supported": [V2026], "requested": V2026}))));
        }
        Some(Ok(match r.method.as_str() {
            "server/discover" => discover_result(),
            "tools/call" => text_result("second time lucky"),
            _ => json!({"resultType": "complete"}),
        }))
    });
    let client = bounded(builder().connect(transport, inbound))
        .await
        .unwrap();
    assert_eq!(client.protocol(), Protocol::V2026_07_28);
    let result = bounded(client.call_tool("greet", json!({}))).await.unwrap();
    assert!(!result.is_error());
    let requests = seen.requests();
    assert_eq!(
        requests
            .iter()
            .map(|r| r.method.as_str())
            .collect::<Vec<_>>(),
        [
            "server/discover",
            "server/discover",
            "tools/call",
            "tools/call"
        ]
    );
    assert_ne!(requests[0].id, requests[1].id, "a new id for the retry");

    let (transport, inbound, seen) = modern(
        |_| {
            Some(Err(ErrorObject::new(
                ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
                "no",
            )
            .with_data(
                json!({"supported": ["2099-01-01"], "requested": V2026}),
            )))
        },
        never,
    );
    let client = bounded(builder().connect(transport, inbound))
        .await
        .unwrap();
    let err = bounded(client.call_tool("greet", json!({})))
        .await
        .unwrap_err();
    assert_eq!(
        err.rpc().unwrap().code,
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
    );
    assert_eq!(seen.of("tools/call").len(), 1);
}

/// `protocol` skips discovery: 2025-11-25 initializes at once, 2026-07-28 sends nothing until
/// asked; a preference decides among what the server lists.
#[tokio::test]
async fn a_given_protocol_skips_discovery() {
    let (transport, inbound, seen) = modern(never, never);
    let client = bounded(
        builder()
            .protocol(Protocol::V2026_07_28)
            .connect(transport, inbound),
    )
    .await
    .unwrap();
    assert_eq!(client.protocol(), Protocol::V2026_07_28);
    assert!(client.discovery().is_none() && client.server_info().is_none());
    assert!(seen.methods().is_empty());

    let (transport, inbound, seen) = fake(|r| match r.method.as_str() {
        "initialize" => Some(Ok(initialize_result())),
        _ => None,
    });
    let client = bounded(
        builder()
            .protocol(Protocol::V2025_11_25)
            .connect(transport, inbound),
    )
    .await
    .unwrap();
    assert_eq!(client.protocol(), Protocol::V2025_11_25);
    assert_eq!(seen.methods(), ["initialize"]);

    // Both, 2025-11-25 preferred: discovery sees it listed, so the client initializes.
    let (transport, inbound, seen) = fake(|r| match r.method.as_str() {
        "server/discover" => Some(Ok(discover_result())),
        "initialize" => Some(Ok(initialize_result())),
        _ => None,
    });
    let client = bounded(
        builder()
            .protocols([Protocol::V2025_11_25, Protocol::V2026_07_28])
            .connect(transport, inbound),
    )
    .await
    .unwrap();
    assert_eq!(client.protocol(), Protocol::V2025_11_25);
    assert_eq!(seen.methods(), ["server/discover", "initialize"]);

    let (transport, inbound, _) = modern(never, never);
    let err = bounded(builder().protocols([]).connect(transport, inbound))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unsupported(_)), "{err}");
}

/// B-6: a call answered `input_required` is answered with the client's handlers (the form of
/// an elicitation, the configured roots) and sent again with `inputResponses` and the echoed
/// `requestState`, round after round, until the result.
#[tokio::test]
async fn input_required_rounds_are_answered_and_retried() {
    let call = |p: &Value| -> Answer {
        let responses = p.get("inputResponses");
        let state = p.get("requestState").and_then(Value::as_str);
        Some(Ok(match (responses, state) {
            (None, None) => json!({
                "resultType": "input_required",
                "inputRequests": {"name": form(), "where": {"method": "roots/list", "params": {}}},
                "requestState": "round-1"
            }),
            (Some(r), Some("round-1")) => {
                assert_eq!(
                    r["name"],
                    json!({"action": "accept", "content": {"name": "Ada"}})
                );
                assert_eq!(
                    r["where"],
                    json!({"roots": [{"uri": "file:///work", "name": "work"}]})
                );
                json!({"resultType": "input_required",
                       "inputRequests": {"again": form()}, "requestState": "round-2"})
            }
            (Some(r), Some("round-2")) => {
                assert!(r.get("name").is_none(), "only this round's answers: {r}");
                text_result("Hello, Ada!")
            }
            other => panic!("unexpected retry {other:?}"),
        }))
    };
    let (transport, inbound, seen) = modern(call, never);
    let client = bounded(
        ada()
            .roots(vec![Root {
                uri: "file:///work".into(),
                name: Some("work".into()),
            }])
            .connect(transport, inbound),
    )
    .await
    .unwrap();
    let result = bounded(client.call_tool("greet", json!({"x": 1})))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&result.content).unwrap()[0]["text"],
        "Hello, Ada!"
    );
    let calls = seen.of("tools/call");
    assert_eq!(calls.len(), 3);
    for c in &calls {
        assert_eq!(c["name"], "greet");
        assert_eq!(c["arguments"], json!({"x": 1}));
        // Roots are declared once given.
        assert_eq!(
            c["_meta"]["io.modelcontextprotocol/clientCapabilities"]["roots"],
            json!({})
        );
    }
    seen.assert_schema_valid();
}

/// B-6: a server that never has enough is given up on after a bounded number of rounds.
#[tokio::test]
async fn endless_input_rounds_are_bounded() {
    let call = |_: &Value| -> Answer {
        Some(Ok(
            json!({"resultType": "input_required", "inputRequests": {"q": form()}}),
        ))
    };
    let (transport, inbound, seen) = modern(call, never);
    let client = bounded(ada().connect(transport, inbound)).await.unwrap();
    let err = bounded(client.call_tool("greet", json!({})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rounds"), "{err}");
    assert_eq!(
        seen.of("tools/call").len(),
        mcp_tasks_runtime::client::MAX_INPUT_ROUNDS
    );
}

/// A server whose one call becomes task `t-1`, which `tasks/get` shows working (once), then
/// `input_required` with the questions `a` and `b` until `tasks/update` answered each, then
/// completed. `answers` counts the answers it got per key.
fn walking_task(answers: Arc<Mutex<HashMap<String, usize>>>) -> (Fake, Inbound, Seen) {
    let polls = Arc::new(Mutex::new(0usize));
    fake(move |r| {
        let p = r.params.clone().unwrap_or(Value::Null);
        Some(Ok(match r.method.as_str() {
            "server/discover" => discover_result(),
            "tools/call" => {
                let mut t = task("t-1", "working");
                t["resultType"] = json!("task");
                t
            }
            "tasks/update" => {
                assert_eq!(p["taskId"], "t-1");
                let mut answers = answers.lock().unwrap();
                for (k, v) in p["inputResponses"].as_object().unwrap() {
                    assert_eq!(v, &json!({"action": "accept", "content": {"name": "Ada"}}));
                    *answers.entry(k.clone()).or_insert(0) += 1;
                }
                json!({"resultType": "complete"})
            }
            "tasks/get" => {
                assert_eq!(p["taskId"], "t-1");
                let n = {
                    let mut polls = polls.lock().unwrap();
                    *polls += 1;
                    *polls
                };
                let answers = answers.lock().unwrap();
                let open: serde_json::Map<String, Value> = ["a", "b"]
                    .into_iter()
                    .filter(|k| !answers.contains_key(*k))
                    .map(|k| (k.to_owned(), form()))
                    .collect();
                if n == 1 {
                    detailed("t-1", "working", json!({"statusMessage": "starting"}))
                } else if !open.is_empty() {
                    // Each open question shows on every poll until answered.
                    detailed("t-1", "input_required", json!({"inputRequests": open}))
                } else {
                    detailed(
                        "t-1",
                        "completed",
                        json!({"result": text_result("Hello, Ada and Ada!")}),
                    )
                }
            }
            other => return Some(Err(ErrorObject::method_not_found(other))),
        }))
    })
}

/// X-5 (client side): a call the server makes a task is followed by polling
/// `tasks/get` at `pollIntervalMs`; each open question is answered once, by the handler (which
/// knows the task that asks), in a `tasks/update`, however many polls show it; the inlined
/// result ends the task.
#[tokio::test]
async fn a_task_is_followed_and_its_questions_answered_with_tasks_update() {
    let answers: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let (transport, inbound, seen) = walking_task(answers.clone());
    let client = bounded(
        builder()
            .elicitation(handler_fn(|request, cx| async move {
                assert_eq!(cx.related_task.as_deref(), Some("t-1"));
                assert_eq!(request.message, "Your name?");
                // Slow, so that polls go on while the question is being answered.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let name = json!({"name": "Ada"});
                Ok(ElicitResult::accept(name.as_object().cloned().unwrap()))
            }))
            .connect(transport, inbound),
    )
    .await
    .unwrap();
    let ToolCall::Task(mut handle) = bounded(client.start_tool_call("greet", json!({}), Some(5)))
        .await
        .unwrap()
    else {
        panic!("the call should be a task")
    };
    assert_eq!(handle.protocol(), Protocol::V2026_07_28);
    assert_eq!(handle.id(), "t-1");
    assert_eq!(handle.task().ttl, Some(60000));
    assert_eq!(handle.poll_interval(), Duration::from_millis(10));
    let mut statuses = Vec::new();
    let outcome = bounded(async {
        loop {
            match handle.next_event().await.unwrap() {
                TaskEvent::Status(t) => statuses.push((t.status, t.status_message)),
                TaskEvent::Progress(_) => {}
                TaskEvent::Finished(r) => break r,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(outcome["content"][0]["text"], "Hello, Ada and Ada!");
    assert_eq!(
        statuses,
        [
            (TaskStatus::Working, Some("starting".to_owned())),
            (TaskStatus::InputRequired, None),
            (TaskStatus::Completed, None)
        ]
    );
    assert_eq!(
        *answers.lock().unwrap(),
        HashMap::from([("a".to_owned(), 1), ("b".to_owned(), 1)])
    );
    assert!(seen.of("tasks/get").len() > 3, "polled while answering");
    seen.assert_schema_valid();
    // No ttl is asked for in this era: the server chooses.
    assert!(seen.of("tools/call")[0].get("task").is_none());
    assert!(matches!(
        handle.next_event().await,
        Err(ClientError::Closed { .. })
    ));
}

/// a completed task whose result says `isError` is the tool's result, not an error;
/// a failed task ends with its inlined JSON-RPC error; `result()` reads both by polling.
#[tokio::test]
async fn completed_with_is_error_and_failed_tasks() {
    let make = |status: &'static str, extra: Value| {
        modern(
            |_| {
                Some(Ok({
                    let mut t = task("t-2", "working");
                    t["resultType"] = json!("task");
                    t
                }))
            },
            move |_| Some(Ok(detailed("t-2", status, extra.clone()))),
        )
    };
    let is_error = json!({"result": {"resultType": "complete", "isError": true,
                          "content": [{"type": "text", "text": "no such file"}]}});
    let (transport, inbound, _) = make("completed", is_error);
    let client = bounded(builder().connect(transport, inbound))
        .await
        .unwrap();
    let ToolCall::Task(handle) = bounded(client.start_tool_call("greet", json!({}), None))
        .await
        .unwrap()
    else {
        panic!("a task")
    };
    let result = bounded(handle.result()).await.unwrap();
    assert_eq!(result["isError"], true);
    // call_tool follows the task the call became and returns its result too.
    let plain = bounded(client.call_tool("greet", json!({}))).await.unwrap();
    assert!(plain.is_error());

    let failed = json!({"error": {"code": -32603, "message": "the disk is on fire"}});
    let (transport, inbound, _) = make("failed", failed);
    let client = bounded(builder().connect(transport, inbound))
        .await
        .unwrap();
    let err = bounded(client.call_tool("greet", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.rpc().unwrap().message, "the disk is on fire");
}

/// X-6 (client side): `cancel` is acknowledged only; the handle reads the task until it shows
/// `cancelled` and ends with -32800 as in 2025-11-25.
#[tokio::test]
async fn cancel_is_an_ack_then_the_task_shows_cancelled() {
    let cancelled = Arc::new(Mutex::new(false));
    let seen_cancel = cancelled.clone();
    let (transport, inbound, seen) = fake(move |r| {
        Some(Ok(match r.method.as_str() {
            "server/discover" => discover_result(),
            "tasks/cancel" => {
                *seen_cancel.lock().unwrap() = true;
                json!({"resultType": "complete"})
            }
            "tasks/get" => {
                if *seen_cancel.lock().unwrap() {
                    detailed(
                        "t-3",
                        "cancelled",
                        json!({"statusMessage": "cancelled by the requestor"}),
                    )
                } else {
                    detailed("t-3", "working", json!({}))
                }
            }
            other => return Some(Err(ErrorObject::method_not_found(other))),
        }))
    });
    let client = bounded(builder().connect(transport, inbound))
        .await
        .unwrap();
    let mut handle = bounded(client.task("t-3")).await.unwrap();
    assert_eq!(handle.task().status, TaskStatus::Working);
    let after = bounded(handle.cancel()).await.unwrap().clone();
    assert_eq!(after.status, TaskStatus::Cancelled);
    assert!(*cancelled.lock().unwrap());
    let TaskEvent::Finished(Err(e)) = bounded(handle.next_event()).await.unwrap() else {
        panic!("a cancelled task ends with an error")
    };
    assert_eq!(e.rpc().unwrap().code, ErrorCode::REQUEST_CANCELLED);
    assert_eq!(
        seen.of("tasks/cancel"),
        [seen.of("tasks/cancel")[0].clone()]
    );
    assert_eq!(seen.of("tasks/cancel")[0]["taskId"], "t-3");
    seen.assert_schema_valid();
}

/// X-6, X-5 (client side): cancelling a task that waits for input stops answering it: the
/// settle loop and later polls see its questions, but no handler is asked and no
/// `tasks/update` is sent to the task being cancelled.
#[tokio::test]
async fn cancel_answers_no_question_of_the_task_it_cancels() {
    let gets_after_cancel = Arc::new(Mutex::new(None::<usize>));
    let counter = gets_after_cancel.clone();
    let (transport, inbound, seen) = fake(move |r| {
        Some(Ok(match r.method.as_str() {
            "server/discover" => discover_result(),
            "tasks/cancel" => {
                *counter.lock().unwrap() = Some(0);
                json!({"resultType": "complete"})
            }
            "tasks/update" => json!({"resultType": "complete"}),
            "tasks/get" => {
                let mut after = counter.lock().unwrap();
                match after.as_mut() {
                    Some(n) if *n >= 3 => detailed("t-9", "cancelled", json!({})),
                    Some(n) => {
                        *n += 1;
                        detailed(
                            "t-9",
                            "input_required",
                            json!({"inputRequests": {"q": form()}}),
                        )
                    }
                    None => detailed("t-9", "working", json!({})),
                }
            }
            other => return Some(Err(ErrorObject::method_not_found(other))),
        }))
    });
    let asked = Arc::new(Mutex::new(0));
    let count = asked.clone();
    let client = bounded(
        builder()
            .elicitation(handler_fn(move |_request, _cx| {
                *count.lock().unwrap() += 1;
                async {
                    let name = json!({"name": "Ada"});
                    Ok(ElicitResult::accept(name.as_object().cloned().unwrap()))
                }
            }))
            .connect(transport, inbound),
    )
    .await
    .unwrap();
    let mut handle = bounded(client.task("t-9")).await.unwrap();
    let after = bounded(handle.cancel()).await.unwrap().clone();
    assert_eq!(after.status, TaskStatus::Cancelled);
    let TaskEvent::Finished(Err(e)) = bounded(handle.next_event()).await.unwrap() else {
        panic!("a cancelled task ends with an error")
    };
    assert_eq!(e.rpc().unwrap().code, ErrorCode::REQUEST_CANCELLED);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*asked.lock().unwrap(), 0);
    assert!(seen.of("tasks/update").is_empty());
}

/// X-2, X-6 (client side): a `call_tool` the server made a task cancels that task with
/// `tasks/cancel` when the caller drops the call, and when following fails (here a sampling
/// question no handler answers); a call that ends normally cancels nothing.
#[tokio::test]
async fn an_abandoned_call_tool_cancels_its_task() {
    let sampling = json!({"method": "sampling/createMessage", "params": {
        "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
        "maxTokens": 5
    }});
    let (transport, inbound, seen) = modern(
        |params| {
            let id = params["arguments"]["id"]
                .as_str()
                .unwrap_or("t-w")
                .to_owned();
            Some(Ok({
                let mut t = task(&id, "working");
                t["resultType"] = json!("task");
                t
            }))
        },
        move |params| {
            Some(Ok(match params["taskId"].as_str() {
                Some("t-ask") => detailed(
                    "t-ask",
                    "input_required",
                    json!({"inputRequests": {"s": sampling.clone()}}),
                ),
                Some("t-done") => {
                    detailed("t-done", "completed", json!({"result": text_result("ok")}))
                }
                _ => detailed("t-w", "working", json!({})),
            }))
        },
    );
    let client = bounded(builder().connect(transport, inbound))
        .await
        .unwrap();
    let cancels = || {
        seen.of("tasks/cancel")
            .iter()
            .map(|p| p["taskId"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    let done = bounded(client.call_tool("greet", json!({"id": "t-done"})))
        .await
        .unwrap();
    assert!(!done.is_error());
    let dropped = tokio::time::timeout(
        Duration::from_millis(100),
        client.call_tool("greet", json!({})),
    )
    .await;
    assert!(dropped.is_err(), "the task never ends");
    let err = bounded(client.call_tool("greet", json!({"id": "t-ask"})))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unsupported(_)), "{err}");
    bounded(async {
        while cancels().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let mut got = cancels();
    got.sort();
    assert_eq!(got, ["t-ask", "t-w"]);
}

/// X-3, T-GET-2 (client side): a task its `CreateTaskResult` shows terminal is read at once,
/// but when `tasks/get` then shows it still working (a terminal status never goes back,
/// T-LIFE-2) the handle polls at `pollIntervalMs`, not in a tight loop.
#[tokio::test]
async fn a_terminal_create_result_then_a_working_task_polls_at_the_interval() {
    let slow = |status: &str| {
        let mut t = task("t-6", status);
        t["pollIntervalMs"] = json!(200);
        t
    };
    let (transport, inbound, seen) = modern(
        move |_| {
            Some(Ok({
                let mut t = slow("completed");
                t["resultType"] = json!("task");
                t
            }))
        },
        move |_| {
            let mut t = slow("working");
            t["resultType"] = json!("complete");
            Some(Ok(t))
        },
    );
    let client = bounded(builder().connect(transport, inbound))
        .await
        .unwrap();
    let ToolCall::Task(mut handle) = bounded(client.start_tool_call("greet", json!({}), None))
        .await
        .unwrap()
    else {
        panic!("a task")
    };
    let followed = tokio::time::timeout(Duration::from_millis(500), async {
        handle.next_event().await
    })
    .await;
    assert!(followed.is_err(), "the task never shows its outcome");
    let gets = seen.of("tasks/get").len();
    assert!(
        (1..=4).contains(&gets),
        "{gets} tasks/get in 500 ms at 200 ms"
    );
}

/// X-5 (client side): a question whose answer could not be sent (`tasks/update` failed) is not
/// taken for answered: following fails, and following on asks it again and sends its answer.
#[tokio::test]
async fn a_question_whose_answer_failed_is_asked_again() {
    let updates = Arc::new(Mutex::new(0));
    let count = updates.clone();
    let (transport, inbound, seen) = fake(move |r| {
        let sent = *count.lock().unwrap();
        Some(Ok(match r.method.as_str() {
            "server/discover" => discover_result(),
            "tasks/update" => {
                *count.lock().unwrap() += 1;
                if sent == 0 {
                    return Some(Err(ErrorObject::internal("the store is busy")));
                }
                json!({"resultType": "complete"})
            }
            "tasks/get" if sent >= 2 => {
                detailed("t-7", "completed", json!({"result": text_result("hi")}))
            }
            "tasks/get" => detailed(
                "t-7",
                "input_required",
                json!({"inputRequests": {"q": form()}}),
            ),
            other => return Some(Err(ErrorObject::method_not_found(other))),
        }))
    });
    let client = bounded(ada().connect(transport, inbound)).await.unwrap();
    let mut handle = bounded(client.task("t-7")).await.unwrap();
    let (outcome, failures) = bounded(async {
        let mut failures = 0;
        loop {
            match handle.next_event().await {
                Ok(TaskEvent::Finished(r)) => break (r, failures),
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.rpc().unwrap().message, "the store is busy");
                    failures += 1;
                }
            }
        }
    })
    .await;
    assert_eq!(failures, 1, "the failed tasks/update is reported once");
    assert_eq!(outcome.unwrap()["content"][0]["text"], "hi");
    let sent = seen.of("tasks/update");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["inputResponses"]["q"]["content"]["name"], "Ada");
}

/// X-5 (client side): `result()` on a handle whose `next_event` already answered a question
/// does not answer it again, and dropping `result()` while it answers stops the answering: no
/// `tasks/update` goes out for it.
#[tokio::test]
async fn result_shares_the_handles_answers_and_stops_when_dropped() {
    // (tasks/get so far, the count when the first tasks/update came)
    let gets = Arc::new(Mutex::new((0, None::<usize>)));
    let count = gets.clone();
    let (transport, inbound, seen) = fake(move |r| {
        let mut state = count.lock().unwrap();
        Some(Ok(match r.method.as_str() {
            "server/discover" => discover_result(),
            "tasks/update" => {
                let at = state.0;
                state.1.get_or_insert(at);
                json!({"resultType": "complete"})
            }
            "tasks/get" => {
                state.0 += 1;
                let id = r.params.as_ref().unwrap()["taskId"].as_str().unwrap();
                match (id, *state) {
                    ("t-a", (1, _)) => detailed(id, "working", json!({})),
                    // The server takes its time to see the answer: `q` stays open a while.
                    ("t-a", (n, Some(at))) if n > at + 3 => {
                        detailed(id, "completed", json!({"result": text_result("hi")}))
                    }
                    _ => detailed(
                        id,
                        "input_required",
                        json!({"inputRequests": {"q": form()}}),
                    ),
                }
            }
            other => return Some(Err(ErrorObject::method_not_found(other))),
        }))
    });
    let client = bounded(
        builder()
            .elicitation(handler_fn(|request, _cx| async move {
                if request.message == "Your name?" {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                let name = json!({"name": "Ada"});
                Ok(ElicitResult::accept(name.as_object().cloned().unwrap()))
            }))
            .connect(transport, inbound),
    )
    .await
    .unwrap();
    let mut handle = bounded(client.task("t-a")).await.unwrap();
    let TaskEvent::Status(t) = bounded(handle.next_event()).await.unwrap() else {
        panic!("a status first")
    };
    assert_eq!(t.status, TaskStatus::InputRequired);
    let done = bounded(handle.result()).await.unwrap();
    assert_eq!(done["content"][0]["text"], "hi");
    assert_eq!(seen.of("tasks/update").len(), 1, "q is answered once");

    let other = bounded(client.task("t-b")).await.unwrap();
    let dropped = tokio::time::timeout(Duration::from_millis(10), other.result()).await;
    assert!(dropped.is_err(), "the handler is still answering");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let updates = seen.of("tasks/update");
    assert!(
        updates.iter().all(|u| u["taskId"] == "t-a"),
        "no answer for t-b after result() was dropped: {updates:?}"
    );
}

/// a poll whose answer the connection lost (the era resumes no stream) is asked again, a
/// few times in a row at most; more losses end the following with the transport's error.
#[tokio::test]
async fn lost_polls_are_asked_again_a_few_times() {
    let (transport, inbound, seen) = modern(
        |_| {
            Some(Ok({
                let mut t = task("t-5", "working");
                t["resultType"] = json!("task");
                t
            }))
        },
        |_| {
            Some(Ok(detailed(
                "t-5",
                "completed",
                json!({"result": text_result("done")}),
            )))
        },
    );
    let client = bounded(builder().connect(transport, inbound))
        .await
        .unwrap();
    let ToolCall::Task(handle) = bounded(client.start_tool_call("greet", json!({}), None))
        .await
        .unwrap()
    else {
        panic!("a task")
    };
    *seen.lose_gets.lock().unwrap() = 3;
    let done = bounded(handle.result()).await.unwrap();
    assert_eq!(done["content"][0]["text"], "done");

    let ToolCall::Task(mut handle) = bounded(client.start_tool_call("greet", json!({}), None))
        .await
        .unwrap()
    else {
        panic!("a task")
    };
    *seen.lose_gets.lock().unwrap() = 3;
    let outcome = bounded(async {
        loop {
            if let TaskEvent::Finished(r) = handle.next_event().await.unwrap() {
                break r;
            }
        }
    })
    .await;
    assert_eq!(outcome.unwrap()["content"][0]["text"], "done");

    *seen.lose_gets.lock().unwrap() = 4;
    let err = bounded(client.call_tool("greet", json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err}");
}

/// X-7 (client side): no `tasks/list` and no asking for a task in this era; both are refused
/// before anything is sent, saying why.
#[tokio::test]
async fn list_and_ask_for_a_task_are_2025_only() {
    let (transport, inbound, seen) = modern(never, never);
    let client = bounded(builder().connect(transport, inbound))
        .await
        .unwrap();
    let err = bounded(client.list_tasks()).await.unwrap_err();
    assert!(err.to_string().contains("no tasks/list"), "{err}");
    let err = bounded(client.call_tool_as_task("greet", json!({}), None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("server decides"), "{err}");
    assert_eq!(seen.methods(), ["server/discover"]);
}

/// a `tasks/get` answer about another task than the one asked is a protocol error.
#[tokio::test]
async fn a_tasks_get_answer_about_another_task_is_refused() {
    let (transport, inbound, _) =
        modern(never, |_| Some(Ok(detailed("other", "working", json!({})))));
    let client = bounded(builder().connect(transport, inbound))
        .await
        .unwrap();
    let err = bounded(client.task("t-4")).await.unwrap_err();
    assert!(matches!(err, ClientError::Protocol { .. }), "{err}");
}

mod http_headers {
    //! What the client puts on the wire over Streamable HTTP in this era (B-5, X-8), against a
    //! loopback server that records each request's headers.

    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode};
    use axum::response::IntoResponse;

    use super::*;

    /// Each request: HTTP method, the JSON-RPC method, and its headers.
    type Log = Arc<Mutex<Vec<(Method, Option<String>, HeaderMap)>>>;

    async fn serve(log: Log, answer: fn(&Value) -> axum::response::Response) -> String {
        let app = axum::Router::new()
            .route(
                "/mcp",
                axum::routing::any(
                    move |State(log): State<Log>,
                          method: Method,
                          headers: HeaderMap,
                          body: String| async move {
                        let msg: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        log.lock().unwrap().push((
                            method.clone(),
                            msg["method"].as_str().map(str::to_owned),
                            headers,
                        ));
                        if method != Method::POST {
                            return StatusCode::METHOD_NOT_ALLOWED.into_response();
                        }
                        answer(&msg)
                    },
                ),
            )
            .with_state(log);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn json_answer(id: &Value, result: Value) -> axum::response::Response {
        axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
    }

    fn modern_answer(msg: &Value) -> axum::response::Response {
        let id = &msg["id"];
        match msg["method"].as_str() {
            Some("server/discover") => json_answer(id, discover_result()),
            Some("tools/list") => json_answer(
                id,
                json!({"resultType": "complete", "ttlMs": 0, "cacheScope": "public", "tools": [
                    {"name": "greet", "inputSchema": {"type": "object"}},
                    {"name": "grüßen", "inputSchema": {"type": "object"}}
                ]}),
            ),
            Some("tools/call") => {
                let mut t = task(
                    &format!("tâche-{}", msg["params"]["name"].as_str().unwrap()),
                    "working",
                );
                t["resultType"] = json!("task");
                json_answer(id, t)
            }
            Some("tasks/get") => json_answer(
                id,
                detailed(
                    msg["params"]["taskId"].as_str().unwrap(),
                    "completed",
                    json!({"result": text_result("done")}),
                ),
            ),
            Some(_) => json_answer(id, json!({"resultType": "complete"})),
            None => StatusCode::ACCEPTED.into_response(),
        }
    }

    /// Whether the open SSE stream of `hanging_call` was dropped (the client closed it).
    static HANGING_CLOSED: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);

    /// Sets [`HANGING_CLOSED`] when the stream holding it goes.
    struct ClosedFlag;

    impl Drop for ClosedFlag {
        fn drop(&mut self) {
            HANGING_CLOSED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// `modern_answer`, but `tools/call` opens an SSE stream that never answers (comments
    /// every 20 ms, so the server notices a closed connection).
    fn hanging_call(msg: &Value) -> axum::response::Response {
        if msg["method"] != "tools/call" {
            return modern_answer(msg);
        }
        let stream = futures::stream::unfold(ClosedFlag, |flag| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Some((Ok::<_, std::io::Error>(": waiting\n\n".to_owned()), flag))
        });
        (
            [("content-type", "text/event-stream")],
            axum::body::Body::from_stream(stream),
        )
            .into_response()
    }

    /// B-7 (client side): a 2026-07-28 request the caller stops waiting for is cancelled the
    /// way the era does it over HTTP, by closing its stream; no `notifications/cancelled` is
    /// POSTed (the server would ignore it).
    #[tokio::test]
    async fn dropping_a_request_closes_its_stream() {
        let log = Log::default();
        let url = serve(log.clone(), hanging_call).await;
        let client = bounded(builder().connect_http(&url)).await.unwrap();
        let dropped = tokio::time::timeout(
            Duration::from_millis(200),
            client.call_tool("greet", json!({})),
        )
        .await;
        assert!(dropped.is_err(), "the call never ends");
        bounded(async {
            while !HANGING_CLOSED.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let methods: Vec<_> = log.lock().unwrap().iter().map(|e| e.1.clone()).collect();
        assert!(
            !methods.contains(&Some("notifications/cancelled".to_owned())),
            "{methods:?}"
        );
    }

    fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
        h.get(name).and_then(|v| v.to_str().ok())
    }

    /// B-5, X-8, B-2: every POST carries `MCP-Protocol-Version` and `Mcp-Method`; `tools/call`
    /// carries the tool's name and the tasks methods the task id in `Mcp-Name`, as the Base64
    /// sentinel when not plain ASCII; no session id, no GET stream, no DELETE on close.
    #[tokio::test]
    async fn every_post_carries_the_era_headers_and_no_session() {
        let log = Log::default();
        let url = serve(log.clone(), modern_answer).await;
        let client = bounded(builder().connect_http(&url)).await.unwrap();
        assert_eq!(client.protocol(), Protocol::V2026_07_28);
        for tool in ["greet", "grüßen"] {
            let ToolCall::Task(mut handle) = bounded(client.start_tool_call(tool, json!({}), None))
                .await
                .unwrap()
            else {
                panic!("a task")
            };
            let mut handle_cancel = bounded(client.task(handle.id())).await.unwrap();
            bounded(handle_cancel.cancel()).await.unwrap();
            let TaskEvent::Finished(Ok(done)) = bounded(async {
                loop {
                    if let e @ TaskEvent::Finished(_) = handle.next_event().await.unwrap() {
                        break e;
                    }
                }
            })
            .await
            else {
                panic!("finished")
            };
            assert_eq!(done["content"][0]["text"], "done");
        }
        client.close().await;

        let log = log.lock().unwrap().clone();
        assert!(
            log.iter().all(|(m, _, _)| m == Method::POST),
            "only POSTs: {log:?}"
        );
        // The Base64 sentinel, checked by decoding it.
        let b64 = |s: &str| {
            let encoded = mcp_tasks_wire::v2026_07_28::headers::encode_value(s);
            assert!(encoded.starts_with("=?base64?"), "{encoded}");
            assert_eq!(
                mcp_tasks_wire::v2026_07_28::headers::decode_value(&encoded).unwrap(),
                s
            );
            encoded
        };
        let mut names = Vec::new();
        for (_, rpc, h) in &log {
            let rpc = rpc.as_deref().unwrap();
            assert_eq!(header(h, "mcp-protocol-version"), Some(V2026), "{rpc}");
            assert_eq!(header(h, "mcp-method"), Some(rpc));
            assert!(h.get("mcp-session-id").is_none(), "{rpc}");
            names.push((rpc.to_owned(), header(h, "mcp-name").map(str::to_owned)));
        }
        assert_eq!(names[0], ("server/discover".to_owned(), None));
        assert!(names.contains(&("tools/call".into(), Some("greet".into()))));
        assert!(names.contains(&("tools/call".into(), Some(b64("grüßen")))));
        assert!(names.contains(&("tasks/cancel".into(), Some(b64("tâche-greet")))));
        assert!(names.contains(&("tasks/get".into(), Some(b64("tâche-grüßen")))));
    }

    fn mirroring_answer(msg: &Value) -> axum::response::Response {
        let id = &msg["id"];
        match msg["method"].as_str() {
            Some("server/discover") => json_answer(id, discover_result()),
            Some("tools/list") => json_answer(
                id,
                json!({"resultType": "complete", "ttlMs": 0, "cacheScope": "public", "tools": [
                    {"name": "query", "inputSchema": {"type": "object", "properties": {
                        "region": {"type": "string", "x-mcp-header": "Region"},
                        "limit": {"type": "integer", "x-mcp-header": "Limit"},
                        "verbose": {"type": "boolean", "x-mcp-header": "Verbose"},
                        "text": {"type": "string"}
                    }}},
                    {"name": "broken", "inputSchema": {"type": "object", "properties": {
                        "ratio": {"type": "number", "x-mcp-header": "Ratio"}
                    }}}
                ]}),
            ),
            Some("tools/call") => json_answer(id, text_result("ok")),
            _ => json_answer(id, json!({"resultType": "complete"})),
        }
    }

    /// B-5: the arguments a tool marks with `x-mcp-header` ride in `Mcp-Param-*` headers of its
    /// calls (converted, the Base64 sentinel for non-ASCII, none for an absent value); a tool
    /// whose marks are invalid is left out of the listed tools.
    #[tokio::test]
    async fn marked_arguments_ride_in_mcp_param_headers() {
        let log = Log::default();
        let url = serve(log.clone(), mirroring_answer).await;
        let client = bounded(builder().connect_http(&url)).await.unwrap();
        bounded(client.call_tool(
            "query",
            json!({"region": "Zürich", "limit": 5, "verbose": true, "text": "x"}),
        ))
        .await
        .unwrap();
        bounded(client.call_tool("query", json!({"limit": 7})))
            .await
            .unwrap();
        let listed = bounded(client.list_tools()).await.unwrap();
        assert_eq!(
            listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["query"]
        );
        let log = log.lock().unwrap().clone();
        let calls: Vec<_> = log
            .iter()
            .filter(|(_, rpc, _)| rpc.as_deref() == Some("tools/call"))
            .map(|(_, _, h)| h.clone())
            .collect();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            header(&calls[0], "mcp-param-region"),
            Some(mcp_tasks_wire::v2026_07_28::headers::encode_value("Zürich").as_str())
        );
        assert_eq!(header(&calls[0], "mcp-param-limit"), Some("5"));
        assert_eq!(header(&calls[0], "mcp-param-verbose"), Some("true"));
        assert!(calls[0].get("mcp-param-text").is_none());
        assert_eq!(header(&calls[1], "mcp-param-limit"), Some("7"));
        assert!(calls[1].get("mcp-param-region").is_none());
    }

    fn legacy_answer(msg: &Value) -> axum::response::Response {
        match msg["method"].as_str() {
            // A stateful 2025-11-25 server: an error with a null id, HTTP 400.
            Some("server/discover") => (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"jsonrpc": "2.0", "id": null,
                    "error": {"code": -32000, "message": "Bad Request: Server not initialized"}})),
            )
                .into_response(),
            Some("initialize") => (
                [("mcp-session-id", "s-1")],
                axum::Json(
                    json!({"jsonrpc": "2.0", "id": msg["id"], "result": initialize_result()}),
                ),
            )
                .into_response(),
            Some("tools/list") => {
                axum::Json(json!({"jsonrpc": "2.0", "id": msg["id"], "result": {"tools": []}}))
                    .into_response()
            }
            _ => StatusCode::ACCEPTED.into_response(),
        }
    }

    fn plain_400(msg: &Value) -> axum::response::Response {
        match msg["method"].as_str() {
            Some("server/discover") => {
                (StatusCode::BAD_REQUEST, "missing Mcp-Session-Id").into_response()
            }
            _ => legacy_answer(msg),
        }
    }

    fn unavailable(msg: &Value) -> axum::response::Response {
        match msg["method"].as_str() {
            Some("server/discover") => (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"jsonrpc": "2.0", "id": msg["id"],
                    "error": {"code": -32603, "message": "too many requests at once"}})),
            )
                .into_response(),
            _ => legacy_answer(msg),
        }
    }

    fn plain_503(msg: &Value) -> axum::response::Response {
        match msg["method"].as_str() {
            Some("server/discover") => {
                (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
            }
            _ => legacy_answer(msg),
        }
    }

    /// B-8 over HTTP: a server answering `server/discover` with HTTP 503 (with -32603, or
    /// plain) is failing, not old: connecting fails instead of opening a 2025-11-25 session.
    #[tokio::test]
    async fn an_unavailable_server_is_a_connect_error_over_http() {
        for answer in [unavailable as fn(&Value) -> _, plain_503] {
            let log = Log::default();
            let url = serve(log.clone(), answer).await;
            let err = bounded(builder().connect_http(&url)).await.unwrap_err();
            assert!(
                err.to_string().contains("too many") || err.to_string().contains("503"),
                "{err}"
            );
            let log = log.lock().unwrap().clone();
            assert_eq!(log.len(), 1, "only server/discover was sent");
        }
    }

    /// B-8 over HTTP: a 2025-11-25 server that refuses the sessionless `server/discover` (HTTP
    /// 400, with a JSON-RPC error whose id is null, or plain text) is `initialize`d; the session
    /// then carries its id and the 2025-11-25 version, and no era headers.
    #[tokio::test]
    async fn a_refused_discover_over_http_falls_back_to_a_session() {
        for answer in [legacy_answer as fn(&Value) -> _, plain_400] {
            let log = Log::default();
            let url = serve(log.clone(), answer).await;
            let client = bounded(builder().connect_http(&url)).await.unwrap();
            assert_eq!(client.protocol(), Protocol::V2025_11_25);
            bounded(client.list_tools()).await.unwrap();
            client.close().await;
            let log = log.lock().unwrap().clone();
            let list = log
                .iter()
                .find(|(_, rpc, _)| rpc.as_deref() == Some("tools/list"))
                .unwrap();
            assert_eq!(header(&list.2, "mcp-session-id"), Some("s-1"));
            assert_eq!(header(&list.2, "mcp-protocol-version"), Some("2025-11-25"));
            assert!(list.2.get("mcp-method").is_none());
            let discover = &log[0];
            assert_eq!(discover.1.as_deref(), Some("server/discover"));
            assert_eq!(header(&discover.2, "mcp-protocol-version"), Some(V2026));
        }
    }
}

mod end_to_end {
    //! The client against this crate's own server over Streamable HTTP on loopback: one
    //! endpoint that speaks both eras (B-8), the server deciding which calls become tasks.

    use mcp_tasks_engine::{Engine, EngineConfig, MemoryStore};
    use mcp_tasks_runtime::server::{Server, ToolContext, ToolDef, Tools};
    use mcp_tasks_runtime::transport::http::{self, HttpConfig};
    use mcp_tasks_runtime::{CallToolResult, ElicitRequestParams, JsonSchema, TaskSupport};
    use tokio_util::sync::CancellationToken;

    use super::*;

    #[derive(serde::Deserialize, JsonSchema)]
    #[schemars(crate = "mcp_tasks_runtime::schemars")]
    struct NoArgs {}

    #[derive(serde::Deserialize, JsonSchema)]
    #[schemars(crate = "mcp_tasks_runtime::schemars")]
    struct Sleep {
        ms: u64,
    }

    fn name_form() -> ElicitRequestParams {
        ElicitRequestParams::form(
            "Your name?",
            json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
        )
    }

    async fn greet_asked(cx: &ToolContext) -> Result<String, ErrorObject> {
        let answer = cx.elicit(name_form()).await?;
        Ok(answer
            .content
            .and_then(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "stranger".into()))
    }

    fn tools() -> Tools {
        let quick = Duration::from_millis(100);
        Tools::new()
            .tool(ToolDef::new("quick"), |_: NoArgs, _cx| async {
                Ok(CallToolResult::text("quick"))
            })
            .tool(
                ToolDef::new("sleep")
                    .task_support(TaskSupport::Optional)
                    .task_after(quick),
                |a: Sleep, _cx| async move {
                    tokio::time::sleep(Duration::from_millis(a.ms)).await;
                    Ok(CallToolResult::text(format!("slept {}", a.ms)))
                },
            )
            // Never a task: its question is asked within the request (B-6).
            .tool(
                ToolDef::new("ask_plain"),
                |_: NoArgs, cx: ToolContext| async move {
                    let name = greet_asked(&cx).await?;
                    Ok(CallToolResult::text(format!("Hello, {name}!")))
                },
            )
            // An in-request question first, then slow enough to become a task.
            .tool(
                ToolDef::new("ask_then_sleep")
                    .task_support(TaskSupport::Optional)
                    .task_after(quick),
                |_: NoArgs, cx: ToolContext| async move {
                    let form = serde_json::to_value(name_form()).unwrap();
                    let answer = cx
                        .ask_in_request("user_name", "elicitation/create", form)
                        .await?;
                    let name = answer["content"]["name"].as_str().unwrap_or("?").to_owned();
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    Ok(CallToolResult::text(format!("Slept on it, {name}.")))
                },
            )
            .tool(
                ToolDef::new("ask_task").task_support(TaskSupport::Required),
                |_: NoArgs, cx: ToolContext| async move {
                    let name = greet_asked(&cx).await?;
                    Ok(CallToolResult::text(format!("Hello, {name}!")))
                },
            )
            .tool(
                ToolDef::new("tool_error").task_support(TaskSupport::Required),
                |_: NoArgs, _cx| async { Ok(CallToolResult::error_text("no such file")) },
            )
            .tool(
                ToolDef::new("broken").task_support(TaskSupport::Required),
                // It waits first: a required tool failing before it ever waits is answered
                // with its error, no task made.
                |_: NoArgs, _cx| async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err::<CallToolResult, _>(ErrorObject::internal("the disk is on fire"))
                },
            )
            .tool(
                ToolDef::new("forever").task_support(TaskSupport::Required),
                |_: NoArgs, cx: ToolContext| async move {
                    cx.cancellation().cancelled().await;
                    Ok(CallToolResult::text("stopped"))
                },
            )
    }

    async fn serve() -> (String, CancellationToken) {
        let config = EngineConfig::default().poll_interval(Duration::from_millis(20));
        let engine = Engine::new(Arc::new(MemoryStore::new()), config);
        let server = Server::new(engine, tools(), Implementation::new("e2e-server", "1.0.0"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        let router = http::router(server, HttpConfig::default());
        tokio::spawn(
            async move { http::serve(listener, router, shutdown.cancelled_owned()).await },
        );
        (url, stop)
    }

    fn text(result: &Value) -> &str {
        result["content"][0]["text"].as_str().unwrap_or_default()
    }

    /// B-8, B-1, X-1: our server answers `server/discover` as a 2026-07-28 server declaring the
    /// tasks extension, so the client speaks that era; told 2025-11-25, the same endpoint
    /// opens a session.
    #[tokio::test]
    async fn one_endpoint_both_eras() {
        let (url, _stop) = serve().await;
        let modern = bounded(builder().connect_http(&url)).await.unwrap();
        assert_eq!(modern.protocol(), Protocol::V2026_07_28);
        let discovery = modern.discovery().unwrap();
        assert!(discovery.has_tasks_extension());
        assert!(discovery
            .supported_versions
            .iter()
            .any(|v| v == "2025-11-25"));
        assert_eq!(modern.server_info().unwrap().name, "e2e-server");
        assert_eq!(bounded(modern.list_tools()).await.unwrap().len(), 8);
        let quick = bounded(modern.call_tool("quick", json!({}))).await.unwrap();
        assert_eq!(quick, CallToolResult::text("quick").with_meta_of(&quick));

        let legacy = bounded(builder().protocol(Protocol::V2025_11_25).connect_http(&url))
            .await
            .unwrap();
        assert_eq!(legacy.protocol(), Protocol::V2025_11_25);
        let task = bounded(legacy.call_tool_as_task("sleep", json!({"ms": 10}), None))
            .await
            .unwrap();
        assert_eq!(task.protocol(), Protocol::V2025_11_25);
        assert_eq!(text(&bounded(task.result()).await.unwrap()), "slept 10");
        modern.close().await;
        legacy.close().await;
    }

    /// X-2 (client side): a quick call of a tool that may be a task comes back at once; a slow
    /// one comes back as a task, which the handle follows by polling to its inlined result.
    #[tokio::test]
    async fn the_server_decides_and_the_handle_follows() {
        let (url, _stop) = serve().await;
        let client = bounded(builder().connect_http(&url)).await.unwrap();
        let ToolCall::Finished(at_once) =
            bounded(client.start_tool_call("sleep", json!({"ms": 1}), None))
                .await
                .unwrap()
        else {
            panic!("a quick call is answered at once")
        };
        assert_eq!(text(&at_once), "slept 1");
        let ToolCall::Task(mut handle) =
            bounded(client.start_tool_call("sleep", json!({"ms": 600}), None))
                .await
                .unwrap()
        else {
            panic!("a slow call becomes a task")
        };
        assert_eq!(handle.protocol(), Protocol::V2026_07_28);
        let mut last = None;
        let outcome = bounded(async {
            loop {
                match handle.next_event().await.unwrap() {
                    TaskEvent::Status(t) => last = Some(t.status),
                    TaskEvent::Progress(_) => {}
                    TaskEvent::Finished(r) => break r,
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(text(&outcome), "slept 600");
        assert_eq!(last, Some(TaskStatus::Completed));
        // the same task read later, by id, inlines its result.
        let again = bounded(client.task(handle.id())).await.unwrap();
        assert_eq!(
            text(again.detailed().unwrap().result.as_ref().unwrap()),
            "slept 600"
        );
        // The plain API hides all of it.
        let plain = bounded(client.call_tool("sleep", json!({"ms": 300})))
            .await
            .unwrap();
        assert_eq!(
            plain,
            CallToolResult::text("slept 300").with_meta_of(&plain)
        );
    }

    /// B-6 against our server: a question of a tool that is never a task comes back as
    /// `input_required`; the client answers with its handler and calls again with the sealed
    /// `requestState`; an in-request question before the call becomes a task works the same
    /// way, and the task that follows carries the answer (MRTR then task).
    #[tokio::test]
    async fn input_required_then_result_or_task() {
        let (url, _stop) = serve().await;
        let client = bounded(ada().connect_http(&url)).await.unwrap();
        let result = bounded(client.call_tool("ask_plain", json!({})))
            .await
            .unwrap();
        assert_eq!(
            result,
            CallToolResult::text("Hello, Ada!").with_meta_of(&result)
        );
        let ToolCall::Task(task) =
            bounded(client.start_tool_call("ask_then_sleep", json!({}), None))
                .await
                .unwrap()
        else {
            panic!("slow after its question: a task")
        };
        assert_eq!(
            text(&bounded(task.result()).await.unwrap()),
            "Slept on it, Ada."
        );
    }

    /// against our server: a task's question shows in `inputRequests`, the handler
    /// answers it with `tasks/update`, the task completes with the answer.
    #[tokio::test]
    async fn a_task_question_is_answered_with_tasks_update() {
        let (url, _stop) = serve().await;
        let client = bounded(ada().connect_http(&url)).await.unwrap();
        let ToolCall::Task(mut handle) =
            bounded(client.start_tool_call("ask_task", json!({}), None))
                .await
                .unwrap()
        else {
            panic!("a required task")
        };
        let mut statuses = Vec::new();
        let outcome = bounded(async {
            loop {
                match handle.next_event().await.unwrap() {
                    TaskEvent::Status(t) => statuses.push(t.status),
                    TaskEvent::Progress(_) => {}
                    TaskEvent::Finished(r) => break r,
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(text(&outcome), "Hello, Ada!");
        assert!(
            statuses.contains(&TaskStatus::InputRequired),
            "{statuses:?}"
        );
        assert_eq!(statuses.last(), Some(&TaskStatus::Completed));
    }

    /// against our server: a tool error completes the task with `isError`; a JSON-RPC
    /// error fails it with that error; cancel is acknowledged and the task then shows
    /// `cancelled`, ending with -32800.
    #[tokio::test]
    async fn tool_errors_failures_and_cancel() {
        let (url, _stop) = serve().await;
        let client = bounded(builder().connect_http(&url)).await.unwrap();
        let is_error = bounded(client.call_tool("tool_error", json!({})))
            .await
            .unwrap();
        assert!(is_error.is_error());
        let ToolCall::Task(failed) = bounded(client.start_tool_call("broken", json!({}), None))
            .await
            .unwrap()
        else {
            panic!("a task")
        };
        let err = bounded(failed.result()).await.unwrap_err();
        assert!(err.rpc().unwrap().message.contains("on fire"), "{err}");

        let ToolCall::Task(mut forever) =
            bounded(client.start_tool_call("forever", json!({}), None))
                .await
                .unwrap()
        else {
            panic!("a task")
        };
        let after = bounded(forever.cancel()).await.unwrap().clone();
        assert_eq!(after.status, TaskStatus::Cancelled);
        let TaskEvent::Finished(Err(e)) = bounded(forever.next_event()).await.unwrap() else {
            panic!("cancelled ends with an error")
        };
        assert_eq!(e.rpc().unwrap().code, ErrorCode::REQUEST_CANCELLED);
    }

    /// Issue 12 item 7: one store, read from both eras: a task created in 2026-07-28 is read by
    /// id from a 2025-11-25 session (anonymous tasks are reachable by id).
    #[tokio::test]
    async fn a_2026_task_reads_in_2025() {
        let (url, _stop) = serve().await;
        let modern = bounded(builder().connect_http(&url)).await.unwrap();
        let ToolCall::Task(task) = bounded(modern.start_tool_call("tool_error", json!({}), None))
            .await
            .unwrap()
        else {
            panic!("a task")
        };
        let done = bounded(task.result()).await.unwrap();
        assert_eq!(done["isError"], true);
        let legacy = bounded(builder().protocol(Protocol::V2025_11_25).connect_http(&url))
            .await
            .unwrap();
        let seen = bounded(legacy.task(task.id())).await.unwrap();
        // the same record reads `failed` in 2025-11-25.
        assert_eq!(seen.task().status, TaskStatus::Failed);
        legacy.close().await;
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
}
