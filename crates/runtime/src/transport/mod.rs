//! Transports: newline-delimited JSON-RPC over stdio, and Streamable HTTP.

pub mod http;
pub mod stdio;

use std::sync::Arc;

use mcp_tasks_wire::jsonrpc::{decode, ErrorObject, Request, Response};

use crate::peer::Received;
use crate::server::Server;
use crate::session::{Session, Sink};

/// Handles one decoded-or-not message of a connection whose answers all go to `sink`
/// (stdio). What arrives goes through the session's peer, as on the client: answers reach
/// their waiters and `notifications/cancelled` its request there. A request is first put to
/// `admit`: admitted, it runs concurrently and its answer is sent when ready, and the
/// admission (a guard) is let go only after that answer is queued; refused, it is answered
/// at once with the error `admit` gave.
pub(crate) fn dispatch<G>(
    server: &Arc<Server>,
    session: &Arc<Session>,
    bytes: &[u8],
    sink: &Sink,
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
