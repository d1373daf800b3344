//! MCP 2026-07-28 `tools/call` against the real binary on Streamable HTTP: the server decides
//! whether a call becomes a task, and questions are answered within the request
//! (multi round-trip with a sealed `requestState`, B-6). Stateless requests: no `initialize`,
//! no session; each carries its version and capabilities in `_meta` and the `Mcp-Method`,
//! `Mcp-Name` and `MCP-Protocol-Version` headers. The demo tools serve:
//! `slow_echo` (optional, a task after 500 ms), `echo` (forbidden), `must_be_task` and
//! `ask_name` (required), `approve` (optional, asks with an elicitation).

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::{bin, bounded, INVALID_PARAMS};
use serde_json::{json, Value};
use testkit::http::HttpServer;
use testkit::schema::{self, Spec};

const VERSION: &str = "2026-07-28";
const TASKS: &str = "io.modelcontextprotocol/tasks";

/// A stateless 2026-07-28 client of one server.
struct Client {
    server: HttpServer,
    http: reqwest::Client,
    next_id: AtomicI64,
}

/// What a request declares it can do.
fn with_tasks() -> Value {
    json!({"elicitation": {}, "extensions": {TASKS: {}}})
}

fn without_tasks() -> Value {
    json!({"elicitation": {}})
}

impl Client {
    async fn start() -> Self {
        Self {
            server: HttpServer::spawn(bin(), &[]).await,
            http: reqwest::Client::new(),
            next_id: AtomicI64::new(1),
        }
    }

    /// POSTs `method` with `params` plus the era's `_meta`, and `Mcp-Name` when given; returns
    /// the JSON-RPC `result` or `error` of the answer, from a JSON body or from the SSE stream.
    async fn send(
        &self,
        method: &str,
        name: Option<&str>,
        mut params: Value,
        caps: Value,
    ) -> Result<Value, Value> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientCapabilities": caps,
        });
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut post = self
            .http
            .post(self.server.url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-method", method)
            .header("mcp-protocol-version", VERSION)
            .body(body.to_string());
        if let Some(name) = name {
            post = post.header("mcp-name", name);
        }
        let reply = bounded(&format!("{method} answers"), async {
            let response = post.send().await.expect("the server takes the POST");
            let sse = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            let text = response.text().await.expect("the body reads");
            (sse, text)
        })
        .await;
        let messages: Vec<Value> = match reply {
            (true, text) => text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str(d.trim()).ok())
                .collect(),
            (false, text) => vec![serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method}: the body is not JSON ({e}): {text:?}"))],
        };
        let answer = messages
            .into_iter()
            .find(|m| m["id"] == json!(id))
            .unwrap_or_else(|| panic!("{method}: no answer to request {id}"));
        match answer.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(answer["result"].clone()),
        }
    }

    async fn call(&self, tool: &str, params: Value, caps: Value) -> Result<Value, Value> {
        let mut params = params;
        params["name"] = json!(tool);
        self.send("tools/call", Some(tool), params, caps).await
    }

    async fn get(&self, id: &str) -> Value {
        self.send("tasks/get", Some(id), json!({"taskId": id}), with_tasks())
            .await
            .unwrap_or_else(|e| panic!("tasks/get {id}: {e}"))
    }

    /// Polls `tasks/get` until `done` holds (bounded).
    async fn get_until(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        bounded("the task gets there", async {
            loop {
                let task = self.get(id).await;
                if done(&task) {
                    return task;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
    }
}

fn valid(spec: Spec, def: &str, value: &Value) {
    if let Err(e) = schema::validate(spec, def, value) {
        panic!("not a valid {def}: {e}\n{value:#}");
    }
}

fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

fn is_terminal(task: &Value) -> bool {
    matches!(
        task["status"].as_str(),
        Some("completed" | "failed" | "cancelled")
    )
}

/// a task-capable tool that finishes within its threshold answers its plain result
/// (`resultType: "complete"`), even to a client that declared the extension.
#[tokio::test]
async fn x2_a_fast_call_of_an_optional_tool_answers_plainly() {
    let c = Client::start().await;
    let r = c
        .call(
            "slow_echo",
            json!({"arguments": {"text": "hi", "delay_ms": 0}}),
            with_tasks(),
        )
        .await
        .unwrap();
    valid(Spec::Mcp20260728, "CallToolResult", &r);
    assert_eq!(
        (r["resultType"].as_str(), text(&r)),
        (Some("complete"), "hi")
    );
    assert!(r.get("taskId").is_none());
}

/// a slow call of an optional tool answers a flat `CreateTaskResult`; `tasks/get`
/// finds the task at once, and the same call completes it.
#[tokio::test]
async fn x2_x10_a_slow_call_becomes_a_task() {
    let c = Client::start().await;
    let created = c
        .call(
            "slow_echo",
            json!({"arguments": {"text": "later", "delay_ms": 1500}}),
            with_tasks(),
        )
        .await
        .unwrap();
    valid(Spec::ExtTasks, "CreateTaskResult", &created);
    assert_eq!(created["resultType"], "task");
    for absent in ["task", "requestState", "inputRequests"] {
        assert!(created.get(absent).is_none(), "{absent} in {created}");
    }
    assert!(created.as_object().unwrap().contains_key("ttlMs"));
    let id = created["taskId"].as_str().unwrap();
    let now = c.get(id).await;
    assert_eq!(now["taskId"], id);
    let done = c.get_until(id, is_terminal).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(text(&done["result"]), "later");
}

/// without the extension on the request, a slow call runs plain to the end; a
/// forbidden tool stays plain even with the extension and a legacy `params.task`.
#[tokio::test]
async fn x2_no_task_without_the_extension_or_for_a_forbidden_tool() {
    let c = Client::start().await;
    let r = c
        .call(
            "slow_echo",
            json!({"arguments": {"text": "plain", "delay_ms": 800}}),
            without_tasks(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r["resultType"].as_str(), text(&r)),
        (Some("complete"), "plain")
    );
    let r = c
        .call(
            "echo",
            json!({"arguments": {"text": "sync"}, "task": {"ttl": 60000}}),
            with_tasks(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r["resultType"].as_str(), text(&r)),
        (Some("complete"), "sync")
    );
}

/// a required tool from a client without the extension is -32021 naming it.
#[tokio::test]
async fn x2_a_required_tool_without_the_extension_is_32021() {
    let c = Client::start().await;
    let e = c
        .call("must_be_task", json!({"arguments": {}}), without_tasks())
        .await
        .unwrap_err();
    assert_eq!(e["code"], -32021);
    assert_eq!(
        e["data"]["requiredCapabilities"],
        json!({"extensions": {TASKS: {}}})
    );
}

/// a question asked by a call that may become a task makes it one at once; the
/// task shows the question in `inputRequests`, `tasks/update` answers it, and the same call
/// completes with the answer.
#[tokio::test]
async fn x2_a_question_makes_the_call_a_task_answered_by_tasks_update() {
    let c = Client::start().await;
    let created = c
        .call("ask_name", json!({"arguments": {}}), with_tasks())
        .await
        .unwrap();
    assert_eq!(created["resultType"], "task", "{created}");
    let id = created["taskId"].as_str().unwrap().to_owned();
    let waiting = c.get_until(&id, |t| t["status"] == "input_required").await;
    let (key, question) = waiting["inputRequests"]
        .as_object()
        .and_then(|q| q.iter().next())
        .expect("one open question");
    assert_eq!(question["method"], "elicitation/create");
    let ack = c
        .send(
            "tasks/update",
            Some(&id),
            json!({"taskId": id, "inputResponses": {key.as_str(): {"action": "accept", "content": {"name": "Ada"}}}}),
            with_tasks(),
        )
        .await
        .unwrap();
    assert_eq!(ack["resultType"], "complete");
    let done = c.get_until(&id, is_terminal).await;
    assert_eq!(text(&done["result"]), "Hello, Ada!");
}

/// B-6: a call that cannot become a task (no extension) asks within the request: an
/// `InputRequiredResult` with the question and a `requestState`; the retry with the answer and
/// the state completes.
#[tokio::test]
async fn b6_a_question_round_trips_within_the_request() {
    let c = Client::start().await;
    let args = json!({"action": "deploy"});
    let first = c
        .call("approve", json!({"arguments": args}), without_tasks())
        .await
        .unwrap();
    valid(Spec::Mcp20260728, "InputRequiredResult", &first);
    assert_eq!(first["resultType"], "input_required");
    assert_eq!(first["inputRequests"]["q1"]["method"], "elicitation/create");
    let state = first["requestState"].as_str().expect("a requestState");
    let done = c
        .call(
            "approve",
            json!({"arguments": args, "requestState": state,
                   "inputResponses": {"q1": {"action": "accept", "content": {"approve": true}}}}),
            without_tasks(),
        )
        .await
        .unwrap();
    assert_eq!(
        (done["resultType"].as_str(), text(&done)),
        (Some("complete"), "approved: deploy")
    );
}

/// B-6: a tampered `requestState`, or one replayed for other arguments, is -32602.
#[tokio::test]
async fn b6_a_tampered_or_replayed_request_state_is_refused() {
    let c = Client::start().await;
    let first = c
        .call(
            "approve",
            json!({"arguments": {"action": "deploy"}}),
            without_tasks(),
        )
        .await
        .unwrap();
    let state = first["requestState"].as_str().unwrap();
    let answer = json!({"q1": {"action": "accept", "content": {"approve": true}}});
    for (action, state) in [
        ("deploy", format!("{state}-TAMPERED")),
        ("delete everything", state.to_owned()),
    ] {
        let e = c
            .call(
                "approve",
                json!({"arguments": {"action": action}, "requestState": state, "inputResponses": answer}),
                without_tasks(),
            )
            .await
            .unwrap_err();
        assert_eq!(e["code"], INVALID_PARAMS, "{e}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .starts_with("requestState is not one this server issued for this request"),
            "{e}"
        );
    }
}
