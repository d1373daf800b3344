//! `mcp-tasks admin`: an operator's view of a deployment's tasks, every owner's.
//!
//! Two ways in, one output: the admin API of a running server ([`http`], with the admin
//! token), or a store no server holds, opened here ([`store`]). Both give the admin API's JSON
//! documents, so `--json` prints the same shapes either way and the text output
//! ([`mod@print`]) reads one format.

pub(crate) mod args;
mod exit;
mod http;
mod print;
mod store;

use std::path::Path;

use jiff::Timestamp;
use mcp_tasks_runtime::admin::query::{PurgeRequest, TaskQuery, MAX_LIMIT};
use mcp_tasks_runtime::admin::AdminToken;
use serde_json::{json, Value};

use self::args::Age;
pub(crate) use self::exit::{AdminExit, AdminFailure};
use self::http::HttpAdmin;
use self::store::StoreAdmin;
use crate::cli::{AdminAction, AdminCommand, AdminListArgs, AdminTarget};
use crate::output;

/// Tasks shown by `list` without `--limit` or `--all`.
const DEFAULT_LIMIT: usize = 50;
/// Tasks asked for per request while following pages: the most the API gives at once.
const PAGE: usize = MAX_LIMIT;

/// Which finished tasks `purge` deletes.
#[derive(Clone, Debug)]
enum PurgeWhen {
    /// Finished before this moment.
    Before(Timestamp),
    /// Finished longer ago than this.
    OlderThan(Age),
}

impl PurgeWhen {
    /// The admin API's purge request: the server's clock decides what an age means.
    fn request(&self) -> PurgeRequest {
        match self {
            Self::Before(at) => PurgeRequest {
                finished_before: Some(at.to_string()),
                older_than: None,
            },
            Self::OlderThan(age) => PurgeRequest {
                finished_before: None,
                older_than: Some(age.text.clone()),
            },
        }
    }
}

impl PurgeWhen {
    /// When, as the purge line says it. An age is said as given: the server's clock counted
    /// back from its own now, which this process does not know.
    fn shown(&self) -> String {
        match self {
            Self::Before(at) => format!("before {at:.0}"),
            Self::OlderThan(age) => format!("more than {} ago", age.text),
        }
    }
}

/// Where the tasks are.
enum Backend {
    Http(HttpAdmin),
    Store(StoreAdmin),
}

impl Backend {
    async fn open(target: &AdminTarget) -> Result<Self, AdminFailure> {
        // --store first: MCP_TASKS_ADMIN_URL may be set for everyday use, and naming a store
        // on the command line is the more deliberate choice.
        if let Some(url) = &target.store {
            return StoreAdmin::open(url).await.map(Self::Store);
        }
        let Some(url) = &target.url else {
            return Err(AdminFailure::usage(
                "say where the tasks are: --url http://ADDR, the admin address of a server \
                 started with --admin ADDR (or set MCP_TASKS_ADMIN_URL), or --store STORE for \
                 a store no server holds",
            ));
        };
        // --token-file first, for the same reason: MCP_TASKS_ADMIN_TOKEN may be set.
        let token = match &target.token_file {
            Some(path) => Some(read_token(path)?),
            None => target.token.clone(),
        };
        HttpAdmin::new(url, token).map(Self::Http)
    }

    async fn list(&self, query: &TaskQuery) -> Result<Value, AdminFailure> {
        match self {
            Self::Http(api) => api.list(query).await,
            Self::Store(store) => store.list(query).await,
        }
    }

    async fn task(&self, id: &str) -> Result<Value, AdminFailure> {
        match self {
            Self::Http(api) => api.task(id).await,
            Self::Store(store) => store.task(id).await,
        }
    }

    async fn cancel(&self, id: &str, message: Option<&str>) -> Result<Value, AdminFailure> {
        match self {
            Self::Http(api) => api.cancel(id, message).await,
            Self::Store(store) => store.cancel(id, message).await,
        }
    }

    async fn purge(&self, request: &PurgeRequest) -> Result<Value, AdminFailure> {
        match self {
            Self::Http(api) => api.purge(request).await,
            Self::Store(store) => store.purge(request).await,
        }
    }

    async fn overview(&self) -> Result<Value, AdminFailure> {
        match self {
            Self::Http(api) => api.overview().await,
            Self::Store(store) => store.overview().await,
        }
    }
}

/// The admin token, the first line of `path`, read as the server reads its
/// `--admin-token-file`: one bounded line, no device.
fn read_token(path: &Path) -> Result<String, AdminFailure> {
    AdminToken::from_file(path)
        .map(|token| token.as_str().to_owned())
        .map_err(|e| AdminFailure::usage(e.to_string()))
}

pub(crate) async fn run(command: AdminCommand) -> Result<AdminExit, AdminFailure> {
    let backend = Backend::open(&command.target).await?;
    act(&backend, command.action, command.target.json).await
}

async fn act(
    backend: &Backend,
    action: AdminAction,
    json: bool,
) -> Result<AdminExit, AdminFailure> {
    let now = Timestamp::now();
    match action {
        AdminAction::List(args) => list(backend, args, json, now).await,
        AdminAction::Show { id } => {
            let detail = backend.task(&id).await?;
            if json {
                print::json(&detail)?;
            } else {
                print::out(&print::task(&detail, now))?;
            }
            Ok(AdminExit::Done)
        }
        AdminAction::Cancel { id, message } => {
            let answer = backend.cancel(&id, message.as_deref()).await?;
            if json {
                print::json(&answer)?;
            } else {
                let task = answer.get("task").cloned().unwrap_or(Value::Null);
                print::out(&print::table(&[task], now))?;
            }
            Ok(AdminExit::Done)
        }
        AdminAction::Purge { before, older_than } => {
            let when = before
                .map(PurgeWhen::Before)
                .or(older_than.map(PurgeWhen::OlderThan))
                .ok_or_else(|| {
                    AdminFailure::usage("say which tasks: --before DATE or --older-than DURATION")
                })?;
            let answer = backend.purge(&when.request()).await?;
            if json {
                print::json(&answer)?;
            } else {
                let purged = answer.get("purged").and_then(Value::as_u64).unwrap_or(0);
                print::out(&[format!(
                    "purged {purged} {} that finished {}",
                    if purged == 1 { "task" } else { "tasks" },
                    when.shown()
                )])?;
            }
            Ok(AdminExit::Done)
        }
        AdminAction::Health => {
            let overview = backend.overview().await?;
            if json {
                print::json(&overview)?;
            } else {
                print::out(&print::overview(&overview, now))?;
            }
            let ready = overview
                .get("ready")
                .and_then(|r| r.get("status"))
                .and_then(Value::as_str);
            if ready == Some("ready") {
                Ok(AdminExit::Done)
            } else {
                output::error("not ready: see the checks above");
                Ok(AdminExit::Refused)
            }
        }
    }
}

/// `list`: pages followed until the limit (or the end, with `--all`).
async fn list(
    backend: &Backend,
    args: AdminListArgs,
    json: bool,
    now: Timestamp,
) -> Result<AdminExit, AdminFailure> {
    let limit = if args.all {
        None
    } else {
        Some(args.limit.map_or(DEFAULT_LIMIT, |n| n as usize))
    };
    let mut query = TaskQuery {
        statuses: args.status.into_iter().map(Into::into).collect(),
        owner: args.owner,
        tool: args.tool,
        older_than: args.older_than.map(|age| age.duration),
        newer_than: args.newer_than.map(|age| age.duration),
        ..TaskQuery::default()
    };
    let mut tasks: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        query.limit = limit.map_or(PAGE, |l| (l - tasks.len()).min(PAGE));
        query.cursor = cursor.take();
        let page = backend.list(&query).await?;
        let got = page
            .get("tasks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let empty = got.is_empty();
        tasks.extend(got);
        if let Some(l) = limit {
            tasks.truncate(l);
        }
        cursor = page
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if cursor.is_none() || empty || limit.is_some_and(|l| tasks.len() >= l) {
            break;
        }
    }
    if json {
        print::json(&json!({ "tasks": tasks, "nextCursor": cursor }))?;
    } else if tasks.is_empty() {
        output::info("no tasks match");
    } else {
        print::out(&print::table(&tasks, now))?;
        if cursor.is_some() {
            output::info(&format!(
                "{} shown, more match: --limit N or --all shows more",
                tasks.len()
            ));
        }
    }
    Ok(AdminExit::Done)
}
