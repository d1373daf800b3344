//! Connecting a client command to the server it names (`--url` or `-- CMD ARGS...`), with the
//! terminal answering the server's questions, over HTTP with the `--token` if one is given, in
//! the era `--protocol` names or the server's discovered one.

use std::process::Stdio;
use std::sync::Arc;

use async_trait::async_trait;
use mcp_tasks_engine::{Engine, EngineConfig, MemoryStore};
use mcp_tasks_runtime::client::{
    Client, ClientBuilder, ElicitationHandler, Protocol, RequestContext,
};
use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::v2025_11_25::{ElicitKind, ElicitRequestParams, ElicitResult, Implementation};
use tokio::sync::Mutex;

use super::exit::{Exit, Failure};
use crate::cli::{AnswersArg, ProtocolVersion, Target};
use crate::term::answers::Answers;
use crate::term::form::{self, Answer};
use crate::term::status::StatusLine;
use crate::term::tty::Tty;

/// The eras a command may speak, the preferred first: the one `--protocol` names (then the
/// server is not asked), else both, `favour` first (B-8).
pub(crate) fn eras(target: &Target, favour: Protocol) -> Vec<Protocol> {
    match target.protocol {
        Some(ProtocolVersion::V2025_11_25) => vec![Protocol::V2025_11_25],
        Some(ProtocolVersion::V2026_07_28) => vec![Protocol::V2026_07_28],
        None if favour == Protocol::V2025_11_25 => {
            vec![Protocol::V2025_11_25, Protocol::V2026_07_28]
        }
        None => vec![Protocol::V2026_07_28, Protocol::V2025_11_25],
    }
}

/// Connects to the server `target` names, speaking the first of `eras` it speaks.
///
/// The client answers elicitation from `questions` and hosts elicitation tasks in memory, so
/// a 2025-11-25 server may also ask as a task (T-CAP-1, client side).
pub(crate) async fn connect(
    target: &Target,
    eras: Vec<Protocol>,
    questions: Questions,
) -> Result<Client, Failure> {
    let builder = ClientBuilder::new(Implementation::new("mcp-tasks", env!("CARGO_PKG_VERSION")))
        .protocols(eras)
        .elicitation(questions)
        .host_tasks(Engine::new(
            Arc::new(MemoryStore::new()),
            EngineConfig::default(),
        ));
    let connected =
        match (&target.url, target.command.split_first()) {
            (Some(url), None) => match &target.token {
                Some(token) => builder.bearer_token(token.as_str()).connect_http(url).await,
                None => builder.connect_http(url).await,
            },
            (None, Some(_)) if target.token.is_some() => return Err(Failure::usage(
                "--token (or MCP_TASKS_TOKEN) applies to --url: a server spawned after `--` takes \
                 no token; drop the flag or unset the variable",
            )),
            (None, Some((program, args))) => {
                let mut command = tokio::process::Command::new(program);
                command.args(args).stderr(Stdio::inherit());
                builder.connect_stdio(command).await
            }
            (Some(_), Some(_)) => {
                return Err(Failure::usage(
                    "name the server once: either --url URL or a command after `--`, not both",
                ))
            }
            (None, None) => return Err(Failure::usage(
                "name the server: --url URL (Streamable HTTP) or `-- CMD ARGS...` (a command to \
                 spawn over stdio), last on the line",
            )),
        };
    connected.map_err(|e| Failure::new(Exit::Protocol, format!("cannot connect: {e}")))
}

/// Answers the server's questions: from the `--answers` file when given, else with a form in
/// the terminal, else (nobody at the terminal) by cancelling with a warning.
#[derive(Debug)]
pub(crate) struct Questions {
    answers: Option<Mutex<Answers>>,
    bad_answers: BadAnswers,
    status: Arc<StatusLine>,
    asker: Asker,
    /// One form at a time: two questions at once would fight over the terminal.
    turn: Mutex<()>,
}

impl Questions {
    /// Questions for the person at `tty` (the controlling terminal, if the process has one)
    /// when no answers file is given.
    ///
    /// # Errors
    ///
    /// A usage failure when the answers file cannot be read.
    pub(crate) fn new(
        arg: &AnswersArg,
        status: Arc<StatusLine>,
        tty: Option<Tty>,
    ) -> Result<Self, Failure> {
        let answers = match &arg.answers {
            Some(path) => Some(Mutex::new(
                Answers::from_file(path).map_err(|e| Failure::usage(format!("{e:#}")))?,
            )),
            None => None,
        };
        Ok(Self {
            answers,
            bad_answers: BadAnswers::default(),
            status,
            asker: Asker::choose(tty),
            turn: Mutex::new(()),
        })
    }

    /// Where a question the `--answers` file could not answer is recorded, for the command
    /// to exit 2 once the server has its (cancelled) answer.
    pub(crate) fn bad_answers(&self) -> BadAnswers {
        self.bad_answers.clone()
    }
}

/// Who answers a question the `--answers` file does not.
#[derive(Debug)]
enum Asker {
    /// The full form on stderr, a terminal; keys come from stdin, or from the controlling
    /// terminal when stdin is redirected.
    Form,
    /// The line-by-line form on the controlling terminal: stderr is redirected (`2> err`),
    /// and a person is at the terminal all the same, as git and ssh assume for passwords.
    Tty(Tty),
    /// No terminal at all (a service, CI): questions are cancelled with a warning.
    Nobody,
}

impl Asker {
    fn choose(tty: Option<Tty>) -> Self {
        use std::io::IsTerminal as _;
        let stdin = std::io::stdin().is_terminal();
        match (std::io::stderr().is_terminal(), tty) {
            (true, tty) if stdin || tty.is_some() => Self::Form,
            (false, Some(tty)) => Self::Tty(tty),
            _ => Self::Nobody,
        }
    }
}

/// The first problem with the `--answers` file, if any: a usage error of the command, even
/// though the server already got `cancel` for that question.
#[derive(Debug, Clone, Default)]
pub(crate) struct BadAnswers(Arc<std::sync::Mutex<Option<String>>>);

impl BadAnswers {
    fn record(&self, problem: String) {
        let mut first = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        first.get_or_insert(problem);
    }

    /// # Errors
    ///
    /// A usage failure naming the problem, when one was recorded.
    pub(crate) fn check(&self) -> Result<(), Failure> {
        let first = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match first.as_ref() {
            Some(problem) => Err(Failure::usage(problem.clone())),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl ElicitationHandler for Questions {
    async fn elicit(
        &self,
        request: ElicitRequestParams,
        _cx: RequestContext,
    ) -> Result<ElicitResult, ErrorObject> {
        let ElicitKind::Form { requested_schema } = &request.kind else {
            return Err(ErrorObject::invalid_params(
                "mcp-tasks answers form-mode elicitation only (it did not declare url mode)",
            ));
        };
        let schema = requested_schema.clone();
        let _turn = self.turn.lock().await;
        if let Some(answers) = &self.answers {
            let next = answers.lock().await.next(&schema);
            return Ok(match next {
                Ok(answer) => answer.into(),
                Err(e) => {
                    // The question is answered `cancel`, so the server is not left waiting;
                    // the command still ends as the usage error it is.
                    self.status.note(&format!("{e:#}; answering cancel"));
                    self.bad_answers.record(format!("{e:#}"));
                    Answer::Cancel.into()
                }
            });
        }
        let status = self.status.clone();
        let message = request.message.clone();
        let asked = match &self.asker {
            Asker::Nobody => {
                self.status.note(&format!(
                    "the server asks {:?}, but nobody is at the terminal; answering cancel (use \
                     --answers FILE to answer from a file)",
                    request.message
                ));
                return Ok(Answer::Cancel.into());
            }
            Asker::Form => {
                tokio::task::spawn_blocking(move || status.suspend(|| form::ask(&message, &schema)))
                    .await
            }
            Asker::Tty(tty) => {
                let tty = tty.clone();
                tokio::task::spawn_blocking(move || status.suspend(|| tty.ask(&message, &schema)))
                    .await
            }
        }
        .map_err(|e| ErrorObject::internal(format!("the form stopped: {e}")))?;
        match asked {
            Ok(answer) => Ok(answer.into()),
            Err(e) => {
                self.status.note(&format!("cannot show the form: {e:#}"));
                Ok(Answer::Cancel.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn target_of(args: &[&str]) -> Target {
        let cli = Cli::try_parse_from(args).unwrap();
        match cli.command {
            Command::Tools(t) => t.target,
            other => panic!("not tools: {other:?}"),
        }
    }

    /// B-8 (client side): without --protocol both eras are offered, the favoured first, for
    /// discovery to settle; with it, only that one, and the server is not asked.
    #[test]
    fn protocol_flag_or_discovery() {
        let discover = target_of(&["mcp-tasks", "tools", "--url", "http://h/mcp"]);
        assert_eq!(
            eras(&discover, Protocol::V2026_07_28),
            [Protocol::V2026_07_28, Protocol::V2025_11_25]
        );
        assert_eq!(
            eras(&discover, Protocol::V2025_11_25),
            [Protocol::V2025_11_25, Protocol::V2026_07_28]
        );
        for (flag, only) in [
            ("2025-11-25", Protocol::V2025_11_25),
            ("2026-07-28", Protocol::V2026_07_28),
        ] {
            let forced = target_of(&["mcp-tasks", "tools", "--protocol", flag, "--url", "u"]);
            assert_eq!(eras(&forced, Protocol::V2026_07_28), [only]);
            assert_eq!(eras(&forced, Protocol::V2025_11_25), [only]);
        }
    }

    /// A version the client does not speak is a clap error naming the ones it does.
    #[test]
    fn a_bad_protocol_is_a_clear_usage_error() {
        let err =
            Cli::try_parse_from(["mcp-tasks", "tools", "--protocol", "2024-11-05"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        let text = err.to_string();
        assert!(
            text.contains("2024-11-05")
                && text.contains("2025-11-25")
                && text.contains("2026-07-28"),
            "{text}"
        );
    }
}
