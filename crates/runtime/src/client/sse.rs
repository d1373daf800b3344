//! Server-sent events from a response body, for the HTTP client.
//!
//! `eventsource-stream` 0.2.3 drops a leading byte order mark by slicing one *byte* off the
//! first text it decodes; the mark is three bytes in UTF-8, so a stream that starts with one
//! panicked the reading task (found by `fuzz/fuzz_targets/sse.rs`). The SSE spec drops one
//! leading mark, so this does it before the parser sees the bytes, and starts the parser's
//! input with an empty comment line: the first text it decodes then never starts with a mark,
//! and its own stripping never runs. A second mark is part of the first field's name, as the
//! spec reads it.
//!
//! The parser keeps an event's lines until the blank line that ends it, so a server (or an
//! upstream of the gateway) that never sends one would grow the client's memory without end.
//! [`events`] counts the bytes of the event being read and ends the stream with
//! [`BodyError::EventTooLarge`] past a limit.

use std::fmt;

use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource as _};
use futures::{Stream, StreamExt as _};

/// U+FEFF in UTF-8.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What the parser reads first: a comment, which it ignores.
const LEAD: &[u8] = b":\n";

/// Why a body stopped before its end.
#[derive(Debug)]
pub(crate) enum BodyError<E> {
    /// The connection's own error.
    Transport(E),
    /// One event went past the limit before its blank line.
    EventTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl<E: fmt::Display> fmt::Display for BodyError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => e.fmt(f),
            Self::EventTooLarge { limit } => write!(
                f,
                "an SSE event of the server went past {limit} bytes without ending; the stream \
                 was closed"
            ),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for BodyError<E> {}

/// Counts the bytes of the event being read: line ends (CR, LF or CRLF) are not counted, and a
/// blank line, which ends an event, starts the count again.
#[derive(Debug, Default)]
struct EventSize {
    bytes: usize,
    at_line_start: bool,
    after_cr: bool,
}

impl EventSize {
    /// Takes a chunk; false once the event being read is above `limit`.
    fn take(&mut self, chunk: &[u8], limit: usize) -> bool {
        for &b in chunk {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            if b == b'\r' || b == b'\n' {
                if self.at_line_start {
                    self.bytes = 0;
                }
                self.at_line_start = true;
                self.after_cr = b == b'\r';
            } else {
                self.at_line_start = false;
                self.bytes += 1;
                if self.bytes > limit {
                    return false;
                }
            }
        }
        true
    }
}

/// The events of an SSE `body`, a leading byte order mark dropped; an event above
/// `max_event_bytes` ends the stream with [`BodyError::EventTooLarge`].
pub(crate) fn events<S, E>(
    body: S,
    max_event_bytes: usize,
) -> impl Stream<Item = Result<Event, EventStreamError<BodyError<E>>>>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    /// `head`: the first bytes, held until it is clear whether they start with a mark;
    /// `None` once they went out.
    struct State<S> {
        body: std::pin::Pin<Box<S>>,
        head: Option<Vec<u8>>,
        size: EventSize,
        ended: bool,
    }
    let state = State {
        body: Box::pin(body),
        head: Some(Vec::new()),
        size: EventSize {
            at_line_start: true,
            ..EventSize::default()
        },
        ended: false,
    };
    futures::stream::unfold(state, move |mut st| async move {
        if st.ended {
            return None;
        }
        loop {
            match st.body.next().await {
                Some(Ok(chunk)) => {
                    if !st.size.take(&chunk, max_event_bytes) {
                        st.ended = true;
                        let limit = max_event_bytes;
                        return Some((Err(BodyError::EventTooLarge { limit }), st));
                    }
                    let Some(mut head) = st.head.take() else {
                        return Some((Ok(chunk), st));
                    };
                    head.extend_from_slice(&chunk);
                    if head.len() < BOM.len() && BOM.starts_with(&head) {
                        st.head = Some(head);
                        continue;
                    }
                    return Some((Ok(lead(&head)), st));
                }
                Some(Err(e)) => return Some((Err(BodyError::Transport(e)), st)),
                None => return st.head.take().map(|head| (Ok(lead(&head)), st)),
            }
        }
    })
    .eventsource()
}

/// The first bytes as the parser gets them: [`LEAD`], then `head` without a leading mark.
fn lead(head: &[u8]) -> Bytes {
    let rest = head.strip_prefix(BOM).unwrap_or(head);
    let mut out = Vec::with_capacity(LEAD.len() + rest.len());
    out.extend_from_slice(LEAD);
    out.extend_from_slice(rest);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let body = futures::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, std::convert::Infallible>(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        futures::executor::block_on(
            events(body, 1 << 20)
                .map(|e| {
                    let e = e.expect("the stream is valid");
                    (e.id, e.data)
                })
                .collect(),
        )
    }

    /// Found by fuzz/fuzz_targets/sse.rs: a stream that starts with a byte order mark panicked
    /// the client's reading task (a server, or anything between it and the client, chooses
    /// those bytes). The mark is dropped, however the first bytes are cut.
    #[test]
    fn a_leading_byte_order_mark_is_dropped_not_a_panic() {
        let event = b"id: 7\ndata: {}\n\n";
        let want = vec![("7".to_owned(), "{}".to_owned())];
        let whole = [BOM, event].concat();
        assert_eq!(parse(&[&whole]), want);
        assert_eq!(parse(&[b"\xEF", b"\xBB", b"\xBF", event]), want);
        assert_eq!(parse(&[b"\xEF\xBB", &whole[2..]]), want);
        assert_eq!(parse(&[event]), want);
        assert_eq!(parse(&[b"", event]), want);
    }

    /// Only one mark is the stream's; a second one starts a field name the parser does not
    /// know, so that line is ignored.
    #[test]
    fn a_second_mark_is_not_dropped() {
        let body = [BOM, BOM, b"data: x\n\ndata: y\n\n"].concat();
        assert_eq!(parse(&[&body]), vec![(String::new(), "y".to_owned())]);
    }

    /// Bytes held back while they might be a mark still go out when the body ends there.
    #[test]
    fn a_body_cut_inside_a_mark_is_still_read() {
        let body = futures::stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from_static(
            b"\xEF\xBB",
        ))]);
        let items: Vec<_> = futures::executor::block_on(events(body, 1 << 20).collect());
        assert!(
            matches!(items.as_slice(), [Err(EventStreamError::Utf8(_))]),
            "{items:?}"
        );
        assert!(parse(&[]).is_empty());
    }

    /// A server that sends data lines, or one endless line, and never the blank line that
    /// ends an event is cut at the limit instead of growing the client's memory; events below
    /// it, however many, pass.
    #[test]
    fn an_event_that_never_ends_is_cut_at_the_limit() {
        let run = |body: Vec<u8>, limit: usize| {
            let chunks: Vec<_> = body
                .chunks(7)
                .map(|c| Ok::<_, std::convert::Infallible>(Bytes::copy_from_slice(c)))
                .collect();
            futures::executor::block_on(
                events(futures::stream::iter(chunks), limit).collect::<Vec<_>>(),
            )
        };
        let many_lines = b"data: 0123456789\n".repeat(100);
        let items = run(many_lines, 1000);
        assert!(
            matches!(
                items.last(),
                Some(Err(EventStreamError::Transport(BodyError::EventTooLarge {
                    limit: 1000
                })))
            ),
            "{items:?}"
        );
        let one_line = vec![b'x'; 5000];
        assert!(matches!(
            run(one_line, 1000).last(),
            Some(Err(EventStreamError::Transport(
                BodyError::EventTooLarge { .. }
            )))
        ));
        let small_events = b"data: 0123456789\r\n\r\n".repeat(1000);
        let items = run(small_events, 100);
        assert_eq!(items.len(), 1000, "every event below the limit passes");
        assert!(items.iter().all(Result::is_ok));
    }
}
