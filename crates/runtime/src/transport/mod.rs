//! Transports: newline-delimited JSON-RPC over stdio, and Streamable HTTP.

pub mod http;
pub mod stdio;

use std::sync::Arc;

use mcp_tasks_wire::jsonrpc::{decode, Message, Response};

use crate::server::Server;
use crate::session::{Session, Sink};

/// Handles one decoded-or-not message of a connection whose answers all go to `sink`
/// (stdio, or one HTTP POST). Requests run concurrently; the answer is sent when ready.
pub(crate) fn dispatch(server: &Arc<Server>, session: &Arc<Session>, bytes: &[u8], sink: &Sink) {
    match decode(bytes) {
        Ok(Message::Request(request)) => {
            let (server, session, sink) = (server.clone(), session.clone(), sink.clone());
            tokio::spawn(async move {
                let response = server.handle_request(&session, request, &sink).await;
                let _ = sink.send(response.into());
            });
        }
        Ok(Message::Notification(n)) => server.handle_notification(session, n),
        Ok(Message::Response(r)) => server.handle_response(session, r),
        Err(e) => {
            tracing::debug!(error = %e, "undecodable message");
            let _ = sink.send(Response::error(e.id(), e.to_error_object()).into());
        }
    }
}
