//! One benchmark client: a connection, its session in MCP 2025-11-25, and the operations it
//! runs on them, each a few requests whose answers are checked as far as telling success
//! from each kind of failure needs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use mcp_tasks_wire::method;
use serde::de::IgnoredAny;
use serde::Deserialize;
use tokio::time::Instant;

use super::client::{Conn, Failure, Reply};
use super::plan::{Plan, Target};
use super::protocol::{
    self, Bodies, CallOf, Headers, InitializeView, ResultType, Status, View, SESSION_HEADER,
    VERSION_HEADER,
};
use crate::cli::{BenchKind, ProtocolVersion};

/// The JSON-RPC code of a cancelled request, which 2025-11-25's `tasks/result` answers for a
/// cancelled task.
const REQUEST_CANCELLED: i64 = -32800;

/// How long the setup of a `get` waits between two reads of its task (2026-07-28).
const SETUP_POLL: Duration = Duration::from_millis(5);

/// What every client of a run shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) plan: Plan,
    pub(crate) bodies: Bodies,
}

/// A connection that speaks MCP: its session (2025-11-25) and request ids.
#[derive(Debug)]
pub(crate) struct Speaker {
    pub(crate) conn: Conn,
    era: ProtocolVersion,
    timeout: Duration,
    next_id: u64,
    /// `Mcp-Session-Id` and `MCP-Protocol-Version` of the session, in 2025-11-25.
    pub(crate) session: Headers,
    /// Calls that became tasks so far.
    pub(crate) tasks_made: u64,
}

impl Speaker {
    pub(crate) fn new(target: &Target, plan: &Plan) -> Self {
        Self {
            conn: Conn::new(target, plan.authorization.as_ref()),
            era: plan.era,
            timeout: plan.timeout,
            next_id: 0,
            session: Vec::new(),
            tasks_made: 0,
        }
    }

    pub(crate) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Sends request `id` and reads its result; a JSON-RPC error is [`Failure::Rpc`].
    /// `headers` are the era's (2026-07-28); in 2025-11-25 the session's are sent.
    pub(crate) async fn rpc<R: for<'de> Deserialize<'de>>(
        &mut self,
        id: u64,
        body: Bytes,
        headers: &Headers,
    ) -> Result<R, Failure> {
        let headers = match self.era {
            ProtocolVersion::V2025_11_25 => &self.session,
            ProtocolVersion::V2026_07_28 => headers,
        };
        match self
            .conn
            .post::<R>(body, headers, Some(id), self.timeout)
            .await?
            .reply
        {
            Reply::Answer(Ok(r)) => Ok(r),
            Reply::Answer(Err(e)) => Err(Failure::Rpc(e.code, e.message)),
            Reply::Accepted => Err(Failure::Protocol("no answer to a request".into())),
        }
    }

    /// Opens a 2025-11-25 session: `initialize`, then `notifications/initialized`.
    pub(crate) async fn initialize(&mut self) -> Result<(), Failure> {
        self.session.clear();
        let id = self.id();
        let answered = self
            .conn
            .post::<InitializeView>(protocol::initialize(id), &[], Some(id), self.timeout)
            .await?;
        let init = match answered.reply {
            Reply::Answer(Ok(init)) => init,
            Reply::Answer(Err(e)) => return Err(Failure::Rpc(e.code, e.message)),
            Reply::Accepted => return Err(Failure::Protocol("no answer to initialize".into())),
        };
        let version = HeaderValue::from_str(&init.protocol_version).map_err(|_| {
            Failure::Protocol("initialize answered a protocolVersion no header can carry".into())
        })?;
        if let Some(session) = answered.session {
            self.session.push((SESSION_HEADER, session));
        }
        self.session.push((VERSION_HEADER, version));
        let done = self
            .conn
            .post::<IgnoredAny>(protocol::initialized(), &self.session, None, self.timeout)
            .await?;
        match done.reply {
            Reply::Accepted | Reply::Answer(Ok(_)) => Ok(()),
            Reply::Answer(Err(e)) => Err(Failure::Rpc(e.code, e.message)),
        }
    }

    /// Ends the 2025-11-25 session (`DELETE`), if there is one; best effort.
    pub(crate) async fn end_session(&mut self) {
        if self.session.iter().any(|(k, _)| *k == SESSION_HEADER) {
            let _ = self
                .conn
                .request_only(Method::DELETE, &self.session, self.timeout)
                .await;
            self.session.clear();
        }
    }

    /// A `tools/call` (`of` says which) and its result.
    pub(crate) async fn tool_call(&mut self, bodies: &Bodies, of: CallOf) -> Result<View, Failure> {
        let id = self.id();
        let (body, headers) = bodies.tool_call(id, of);
        self.rpc(id, body, headers).await
    }

    /// `tasks/get`, `tasks/result` or `tasks/cancel` of `task`.
    pub(crate) async fn task_request(
        &mut self,
        bodies: &Bodies,
        method: &str,
        task: &str,
    ) -> Result<View, Failure> {
        let id = self.id();
        let (body, headers) = bodies.task_request(id, method, task);
        self.rpc(id, body, &headers).await
    }

    /// Creates a task with a `tools/call` (`of`): its id, and whether it is already done.
    /// `Ok(None)` when a 2026-07-28 server answered the call at once, without a task (its
    /// result is then checked).
    pub(crate) async fn create_task(
        &mut self,
        bodies: &Bodies,
        of: CallOf,
    ) -> Result<Option<(String, Option<Status>)>, Failure> {
        let v = self.tool_call(bodies, of).await?;
        if self.era == ProtocolVersion::V2026_07_28 {
            match v.result_type {
                Some(ResultType::Task) => {}
                None | Some(ResultType::Complete) => {
                    return tool_result(&v).map(|()| None);
                }
                Some(ResultType::InputRequired) => return Err(Failure::InputRequired),
                Some(ResultType::Unknown) => {
                    return Err(Failure::Protocol(
                        "tools/call answered an unknown resultType".into(),
                    ))
                }
            }
        }
        match v.task() {
            Some((id, status)) => {
                self.tasks_made += 1;
                Ok(Some((id.to_owned(), status)))
            }
            None => Err(Failure::Protocol(
                "tools/call as a task was answered without a task".into(),
            )),
        }
    }
}

/// `Err` for a tool result with `isError: true`.
fn tool_result(v: &View) -> Result<(), Failure> {
    if v.is_error == Some(true) {
        Err(Failure::ToolError)
    } else {
        Ok(())
    }
}

/// One client of the run.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) index: usize,
    shared: Arc<Shared>,
    speaker: Speaker,
    /// The server forgot the session (HTTP 404): open another before the next operation.
    session_lost: bool,
    /// The finished task that `get` operations read.
    get_task: Option<String>,
}

impl Client {
    pub(crate) fn new(index: usize, shared: Arc<Shared>) -> Self {
        let plan = &shared.plan;
        let target = &plan.targets[index % plan.targets.len()];
        let speaker = Speaker::new(target, plan);
        Self {
            index,
            speaker,
            shared,
            session_lost: false,
            get_task: None,
        }
    }

    /// HTTP requests sent so far.
    pub(crate) fn requests(&self) -> u64 {
        self.speaker.conn.requests
    }

    /// Calls that became tasks so far.
    pub(crate) fn tasks_made(&self) -> u64 {
        self.speaker.tasks_made
    }

    /// Connects, opens the session (2025-11-25), and finishes the task `get` reads.
    pub(crate) async fn setup(&mut self) -> Result<(), Failure> {
        let timeout = self.shared.plan.timeout;
        self.speaker.conn.connect(timeout).await?;
        if self.shared.plan.era == ProtocolVersion::V2025_11_25 {
            self.speaker.initialize().await?;
        }
        if self.shared.plan.gets() {
            self.get_task = Some(self.finished_task().await?);
        }
        Ok(())
    }

    /// A task run to its end, for `get` to read.
    async fn finished_task(&mut self) -> Result<String, Failure> {
        let shared = self.shared.clone();
        let bodies = &shared.bodies;
        let Some((id, status)) = self.speaker.create_task(bodies, CallOf::GetSetup).await? else {
            return Err(Failure::Protocol(format!(
                "the server answered the call of {} at once, without a task, so there is no \
                 task for get to read: name a tool it runs as a task with --task-tool and \
                 --task-arguments",
                shared.plan.task_tool.name
            )));
        };
        match shared.plan.era {
            ProtocolVersion::V2025_11_25 => {
                // Its outcome, whatever it is, is what `tasks/get` will show.
                match self
                    .speaker
                    .task_request(bodies, method::TASKS_RESULT, &id)
                    .await
                {
                    Ok(_) | Err(Failure::Rpc(..)) => {}
                    Err(e) => return Err(e),
                }
            }
            ProtocolVersion::V2026_07_28 => {
                let deadline = Instant::now() + shared.plan.timeout;
                let mut status = status;
                while !status.is_some_and(Status::is_terminal) {
                    if Instant::now() > deadline {
                        return Err(Failure::Timeout);
                    }
                    tokio::time::sleep(SETUP_POLL).await;
                    status = self
                        .speaker
                        .task_request(bodies, method::TASKS_GET, &id)
                        .await?
                        .status;
                }
            }
        }
        Ok(id)
    }

    /// Runs one operation of `kind`.
    pub(crate) async fn op(&mut self, kind: BenchKind) -> Result<(), Failure> {
        if self.session_lost {
            self.speaker.initialize().await?;
            self.session_lost = false;
        }
        let outcome = self.run(kind).await;
        if let Err(Failure::Http(404, _)) = outcome {
            // A 2025-11-25 server answers 404 to a session it no longer knows (it restarted,
            // or reaped the session): the next operation opens another.
            self.session_lost = self.shared.plan.era == ProtocolVersion::V2025_11_25;
        }
        outcome
    }

    async fn run(&mut self, kind: BenchKind) -> Result<(), Failure> {
        let shared = self.shared.clone();
        let bodies = &shared.bodies;
        match kind {
            BenchKind::Call => {
                let v = self.speaker.tool_call(bodies, CallOf::Plain).await?;
                match v.result_type {
                    None | Some(ResultType::Complete) => tool_result(&v),
                    Some(ResultType::InputRequired) => Err(Failure::InputRequired),
                    Some(ResultType::Task) => Err(Failure::Protocol(
                        "a call that did not declare the tasks extension became a task".into(),
                    )),
                    Some(ResultType::Unknown) => Err(Failure::Protocol(
                        "tools/call answered an unknown resultType".into(),
                    )),
                }
            }
            BenchKind::Get => {
                let id = self
                    .get_task
                    .as_deref()
                    .expect("a client that runs get set its task up");
                let id = id.to_owned();
                let v = self
                    .speaker
                    .task_request(bodies, method::TASKS_GET, &id)
                    .await?;
                match v.status {
                    Some(Status::Unknown) | None => Err(Failure::Protocol(
                        "tasks/get answered without a known status".into(),
                    )),
                    Some(_) => Ok(()),
                }
            }
            BenchKind::Task | BenchKind::Poll => {
                let Some((id, status)) = self.speaker.create_task(bodies, CallOf::Task).await?
                else {
                    return Ok(());
                };
                match (shared.plan.era, kind) {
                    (ProtocolVersion::V2025_11_25, BenchKind::Task) => {
                        self.result_2025(bodies, &id).await?;
                    }
                    (ProtocolVersion::V2025_11_25, _) => {
                        self.follow(bodies, &id, status).await?;
                        self.result_2025(bodies, &id).await?;
                    }
                    (ProtocolVersion::V2026_07_28, _) => {
                        self.follow(bodies, &id, status).await?;
                    }
                }
                Ok(())
            }
        }
    }

    /// `tasks/result` of 2025-11-25: the tool's result, or the task's error.
    async fn result_2025(&mut self, bodies: &Bodies, id: &str) -> Result<(), Failure> {
        match self
            .speaker
            .task_request(bodies, method::TASKS_RESULT, id)
            .await
        {
            Ok(v) => tool_result(&v),
            Err(Failure::Rpc(REQUEST_CANCELLED, m)) => Err(Failure::TaskCancelled(m)),
            // tasks/result answers what the call would have: its error is the task's.
            Err(Failure::Rpc(code, m)) => Err(Failure::TaskFailed(format!("{code}: {m}"))),
            Err(e) => Err(e),
        }
    }

    /// Reads the task with `tasks/get`, every --poll-interval, until it ends (at most
    /// --timeout); `Ok` when it completed (in 2026-07-28 with a result that is no tool error).
    async fn follow(
        &mut self,
        bodies: &Bodies,
        id: &str,
        mut status: Option<Status>,
    ) -> Result<(), Failure> {
        let plan = &self.shared.plan;
        let interval = plan.poll_interval;
        let deadline = Instant::now() + plan.timeout;
        let era = plan.era;
        let mut last = None;
        // The create result's status is taken as it is in 2025-11-25 (tasks/result follows);
        // in 2026-07-28 the result is read from tasks/get, so it is read at least once.
        let mut read = era == ProtocolVersion::V2025_11_25;
        loop {
            match status {
                Some(s) if s.is_terminal() && read => break,
                Some(Status::InputRequired) => return Err(Failure::InputRequired),
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(Failure::Timeout);
            }
            if !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            let v = self
                .speaker
                .task_request(bodies, method::TASKS_GET, id)
                .await?;
            status = v.status;
            read = true;
            last = Some(v);
        }
        let message = |v: &Option<View>| {
            v.as_ref()
                .and_then(|v| {
                    v.error
                        .as_ref()
                        .map(|e| format!("{}: {}", e.code, e.message))
                        .or_else(|| v.status_message.clone())
                })
                .unwrap_or_default()
        };
        match status {
            Some(Status::Completed) => match (era, &last) {
                (ProtocolVersion::V2026_07_28, Some(v)) => match &v.result {
                    Some(r) if r.is_error == Some(true) => Err(Failure::ToolError),
                    Some(_) => Ok(()),
                    None => Err(Failure::Protocol(
                        "tasks/get shows the task completed without its result".into(),
                    )),
                },
                _ => Ok(()),
            },
            Some(Status::Failed) => Err(Failure::TaskFailed(message(&last))),
            Some(Status::Cancelled) => Err(Failure::TaskCancelled(message(&last))),
            _ => Err(Failure::Protocol(
                "tasks/get answered without a known status".into(),
            )),
        }
    }

    /// Ends the session (2025-11-25) and the connection.
    pub(crate) async fn close(&mut self) {
        self.speaker.end_session().await;
        self.speaker.conn.close();
    }
}

/// Whether `status` is a refusal worth a hint about the server's per-client limits.
pub(crate) fn limit_hint(failure: &Failure) -> Option<&'static str> {
    match failure {
        Failure::Http(s, _) if *s == StatusCode::TOO_MANY_REQUESTS.as_u16() => Some(
            "the server refused a client over its per-client limits; with mcp-tasks serve raise \
             --max-sessions-per-client, --max-streams-per-client and \
             --max-connections-per-client",
        ),
        Failure::Http(503, _) => Some(
            "the server is full (HTTP 503); with mcp-tasks serve raise --max-sessions, \
             --max-connections or --max-stateless-requests",
        ),
        _ => None,
    }
}
