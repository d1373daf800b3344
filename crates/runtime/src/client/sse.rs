//! Server-sent events from a response body, for the HTTP client.
//!
//! `eventsource-stream` 0.2.3 drops a leading byte order mark by slicing one *byte* off the
//! first text it decodes; the mark is three bytes in UTF-8, so a stream that starts with one
//! panicked the reading task (found by `fuzz/fuzz_targets/sse.rs`). The SSE spec drops one
//! leading mark, so this does it before the parser sees the bytes, and starts the parser's
//! input with an empty comment line: the first text it decodes then never starts with a mark,
//! and its own stripping never runs. A second mark is part of the first field's name, as the
//! spec reads it.

use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource as _};
use futures::{Stream, StreamExt as _};

/// U+FEFF in UTF-8.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What the parser reads first: a comment, which it ignores.
const LEAD: &[u8] = b":\n";

/// The events of an SSE `body`, a leading byte order mark dropped.
pub(crate) fn events<S, E>(body: S) -> impl Stream<Item = Result<Event, EventStreamError<E>>>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    /// `head`: the first bytes, held until it is clear whether they start with a mark;
    /// `None` once they went out.
    struct State<S> {
        body: std::pin::Pin<Box<S>>,
        head: Option<Vec<u8>>,
    }
    let state = State {
        body: Box::pin(body),
        head: Some(Vec::new()),
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            match st.body.next().await {
                Some(Ok(chunk)) => {
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
                Some(Err(e)) => return Some((Err(e), st)),
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
            events(body)
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
        let items: Vec<_> = futures::executor::block_on(events(body).collect());
        assert!(
            matches!(items.as_slice(), [Err(EventStreamError::Utf8(_))]),
            "{items:?}"
        );
        assert!(parse(&[]).is_empty());
    }
}
