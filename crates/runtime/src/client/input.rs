//! Answering the input requests of MCP 2026-07-28: the questions a server puts in an
//! `InputRequiredResult` (B-6) or in a task's `inputRequests`, instead of sending them as
//! requests of its own (B-7). The same handlers answer them as answer a 2025-11-25 server's
//! requests, so a user sees the same form in both eras.
//!
//! The era has no way to send an error back for one question: an answer is a result. So an
//! elicitation the client cannot answer (no handler, or the handler failed) is answered
//! `cancel`, as the official requester does; a sampling request without a handler is an error
//! of the whole call, since no honest completion can be made up.

use std::sync::Arc;

use mcp_tasks_wire::jsonrpc::params_as;
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::{CreateMessageRequestParams, ElicitRequestParams, ElicitResult};
use mcp_tasks_wire::v2026_07_28::{InputRequest, InputRequests, InputResponses};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::connection::Handlers;
use super::error::{ClientError, Result};
use super::handler::RequestContext;

/// A root the client offers a server: a directory or file, by `file://` URI (MCP "Roots").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// The root's URI, `file://…`.
    pub uri: String,
    /// A name to show for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Root {
    /// A root at `uri`, without a name.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            name: None,
        }
    }
}

/// What answers input requests: the client's handlers and roots.
#[derive(Debug, Clone)]
pub(crate) struct Answerer {
    pub(crate) handlers: Handlers,
    pub(crate) roots: Option<Arc<Vec<Root>>>,
}

impl Answerer {
    /// Answers every request of `requests`, one at a time (a person answers one form at a
    /// time); `task` is the task that asks, if any.
    ///
    /// # Errors
    ///
    /// As [`Answerer::answer`].
    pub(crate) async fn answer_all(
        &self,
        requests: &InputRequests,
        task: Option<&str>,
    ) -> Result<InputResponses> {
        let mut responses = InputResponses::new();
        for (key, request) in requests {
            responses.insert(key.clone(), self.answer(request, task).await?);
        }
        Ok(responses)
    }

    /// The result for one input request.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unsupported`] for a sampling request without a sampling handler, or a
    /// method the era does not define; [`ClientError::Protocol`] for malformed params; the
    /// sampling handler's error.
    pub(crate) async fn answer(&self, request: &InputRequest, task: Option<&str>) -> Result<Value> {
        let cx = RequestContext {
            related_task: task.map(str::to_owned),
            hosted_task: None,
            cancellation: CancellationToken::new(),
            scope: super::forward::scope(),
        };
        if let Some(forwarder) = &self.handlers.forwarder {
            let params = Some(request.params.clone());
            return forwarder
                .request(&request.method, params, cx)
                .await
                .map_err(|e| ClientError::Rpc {
                    method: request.method.clone(),
                    error: Box::new(e),
                });
        }
        let params = Some(request.params.clone());
        let malformed = |e: mcp_tasks_wire::jsonrpc::ErrorObject| {
            ClientError::protocol(&request.method, format!("input request: {}", e.message))
        };
        match request.method.as_str() {
            method::ELICITATION_CREATE => {
                let p: ElicitRequestParams = params_as(params).map_err(malformed)?;
                let answer = match &self.handlers.elicitation {
                    Some(handler) => handler.elicit(p, cx).await.unwrap_or_else(|e| {
                        tracing::warn!(error = %e.message, "the elicitation handler failed; answering cancel");
                        ElicitResult::cancel()
                    }),
                    None => {
                        tracing::warn!(message = %p.message, "no elicitation handler; answering cancel");
                        ElicitResult::cancel()
                    }
                };
                to_value(&request.method, &answer)
            }
            method::SAMPLING_CREATE_MESSAGE => {
                let Some(handler) = &self.handlers.sampling else {
                    return Err(ClientError::Unsupported(
                        "the server asks for sampling (sampling/createMessage), which this client \
                         does not answer and did not declare"
                            .into(),
                    ));
                };
                let p: CreateMessageRequestParams = params_as(params).map_err(malformed)?;
                let answer = handler
                    .create_message(p, cx)
                    .await
                    .map_err(|e| ClientError::Rpc {
                        method: request.method.clone(),
                        error: Box::new(e),
                    })?;
                to_value(&request.method, &answer)
            }
            method::ROOTS_LIST => {
                let roots = self.roots.as_deref().map_or(&[][..], Vec::as_slice);
                Ok(json!({ "roots": roots }))
            }
            other => Err(ClientError::Unsupported(format!(
                "the server asks {other:?}, which is not an input request of MCP 2026-07-28 \
                 (elicitation/create, sampling/createMessage, roots/list)"
            ))),
        }
    }
}

fn to_value(method: &str, v: &impl Serialize) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| ClientError::protocol(method, e))
}

#[cfg(test)]
mod tests {
    use mcp_tasks_wire::v2025_11_25::{CreateMessageResult, Role};

    use super::*;
    use crate::client::{handler_fn, sampling_fn};

    fn req(method: &str, params: Value) -> InputRequest {
        InputRequest {
            method: method.into(),
            params,
        }
    }

    fn form() -> Value {
        json!({"message": "name?", "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}})
    }

    /// B-6, X-5: the handlers answer; roots come from the configured list, empty when none;
    /// the task that asks reaches the handler.
    #[tokio::test]
    async fn handlers_answer_input_requests() {
        let answerer = Answerer {
            handlers: Handlers {
                elicitation: Some(Arc::new(handler_fn(|p, cx| async move {
                    let content = json!({"name": format!("{} {}", p.message, cx.related_task.unwrap_or_default())});
                    Ok(ElicitResult::accept(content.as_object().cloned().unwrap()))
                }))),
                sampling: Some(Arc::new(sampling_fn(|_p, _cx| async {
                    Ok(CreateMessageResult {
                        role: Role::Assistant,
                        content: json!({"type": "text", "text": "hi"}),
                        model: "m".into(),
                        stop_reason: None,
                        meta: None,
                    })
                }))),
                forwarder: None,
            },
            roots: None,
        };
        let mut all = InputRequests::new();
        all.insert("a".into(), req("elicitation/create", form()));
        all.insert("b".into(), req("roots/list", json!({})));
        all.insert(
            "c".into(),
            req(
                "sampling/createMessage",
                json!({"messages": [{"role": "user", "content": {"type": "text", "text": "x"}}], "maxTokens": 5}),
            ),
        );
        let answers = answerer.answer_all(&all, Some("t1")).await.unwrap();
        assert_eq!(
            answers["a"],
            json!({"action": "accept", "content": {"name": "name? t1"}})
        );
        assert_eq!(answers["b"], json!({"roots": []}));
        assert_eq!(answers["c"]["content"]["text"], "hi");
        let with_roots = Answerer {
            roots: Some(Arc::new(vec![Root::new("file:///w")])),
            ..answerer
        };
        assert_eq!(
            with_roots
                .answer(&req("roots/list", json!({})), None)
                .await
                .unwrap(),
            json!({"roots": [{"uri": "file:///w"}]})
        );
    }

    /// B-6: without handlers an elicitation is answered `cancel`; sampling and unknown
    /// methods are errors naming what was asked.
    #[tokio::test]
    async fn what_cannot_be_answered() {
        let none = Answerer {
            handlers: Handlers::default(),
            roots: None,
        };
        assert_eq!(
            none.answer(&req("elicitation/create", form()), None)
                .await
                .unwrap(),
            json!({"action": "cancel"})
        );
        let e = none
            .answer(&req("sampling/createMessage", json!({})), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("sampling"), "{e}");
        let e = none
            .answer(&req("ping", json!({})), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("\"ping\""), "{e}");
        let e = none
            .answer(&req("elicitation/create", json!({"message": 3})), None)
            .await
            .unwrap_err();
        assert!(matches!(e, ClientError::Protocol { .. }), "{e}");
    }
}
