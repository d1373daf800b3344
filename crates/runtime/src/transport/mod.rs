//! Transports: newline-delimited JSON-RPC over stdio, and Streamable HTTP.

pub mod http;
pub mod stdio;

use std::sync::Arc;

use mcp_tasks_wire::jsonrpc::{decode, ErrorObject, Request, Response};
use tokio_util::sync::CancellationToken;

use crate::peer::Received;
use crate::server::era::{self, Era, RequestContext};
use crate::server::Server;
use crate::session::{Session, Sink};

/// Handles one decoded-or-not message of a connection whose answers all go to `sink`
/// (stdio). What arrives goes through the session's peer, as on the client: answers reach
/// their waiters and `notifications/cancelled` its request there. A request is first put to
/// `admit`: admitted, it runs concurrently and its answer is sent when ready, and the
/// admission (a guard) is let go only after that answer is queued; refused, it is answered
/// at once with the error `admit` gave.
///
/// Each request is served in its own era (B-8): one carrying the 2026-07-28 `_meta` runs
/// statelessly ([`stateless`]), any other belongs to `session`, the connection's. `stopping`
/// trips when the transport begins to stop: the stateless streams end then.
pub(crate) fn dispatch<G>(
    server: &Arc<Server>,
    session: &Arc<Session>,
    bytes: &[u8],
    sink: &Sink,
    stopping: &CancellationToken,
    admit: impl FnOnce(&Request) -> Result<G, ErrorObject>,
) where
    G: Send + 'static,
{
    let message = match decode(bytes) {
        Ok(message) => message,
        Err(e) => {
            tracing::debug!(error = %e, "undecodable message");
            let _ = sink.send(Response::error(e.id(), e.to_error_object()).into());
            return;
        }
    };
    match session.receive(message) {
        Some(Received::Request(request)) => match admit(&request) {
            Ok(admitted) => {
                let meta = match era::of(&request) {
                    Ok(Era::Session) => None,
                    Ok(Era::Stateless(meta)) => match era::check_version(&meta) {
                        Ok(()) => Some(meta),
                        Err(error) => {
                            let _ = sink.send(Response::error(Some(request.id), error).into());
                            return;
                        }
                    },
                    Err(error) => {
                        let _ = sink.send(Response::error(Some(request.id), error).into());
                        return;
                    }
                };
                if let Some(meta) = meta {
                    // Limited and counted as the connection's requestor, not afresh per
                    // request.
                    let cx =
                        RequestContext::new(*meta, session.requestor().clone(), stopping.clone());
                    stateless(server, session, cx, request, sink, admitted);
                    return;
                }
                let (server, session, sink) = (server.clone(), session.clone(), sink.clone());
                tokio::spawn(async move {
                    let response = server.handle_request(&session, request, &sink).await;
                    let _ = sink.send(response.into());
                    drop(sink);
                    drop(admitted);
                });
            }
            Err(error) => {
                let _ = sink.send(Response::error(Some(request.id), error).into());
            }
        },
        received => server.handle_received(session, received),
    }
}

/// Runs a request of the stateless era that came on a connection (stdio), in the context `cx`
/// of its own. The connection's `notifications/cancelled` naming it closes that context,
/// which cancels what it runs and ends a `subscriptions/listen`; a cancelled request is not
/// answered (MCP 2026-07-28, "Cancellation": nothing more is sent for it).
fn stateless<G>(
    server: &Arc<Server>,
    connection: &Arc<Session>,
    cx: RequestContext,
    request: Request,
    sink: &Sink,
    admitted: G,
) where
    G: Send + 'static,
{
    let (server, connection, sink) = (server.clone(), connection.clone(), sink.clone());
    let id = request.id.clone();
    let cancel = connection.track_inflight(&id);
    tokio::spawn(async move {
        let answer = {
            let handling = server.handle_stateless(&cx, request, &sink);
            tokio::pin!(handling);
            tokio::select! {
                answer = &mut handling => answer,
                () = cancel.cancelled() => {
                    cx.session.close();
                    handling.await
                }
            }
        };
        connection.untrack_inflight(&id);
        if let (Some(answer), false) = (answer, cancel.is_cancelled()) {
            let _ = sink.send(answer.into());
        }
        drop(sink);
        drop(admitted);
    });
}
