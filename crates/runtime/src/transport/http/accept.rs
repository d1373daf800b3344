//! Whether a request's `Accept` header allows a media type (RFC 9110 §12.5.1).
//!
//! Clients write `Accept` in many shapes: `*/*` (curl), `text/*`, mixed case, several header
//! lines, and `q=0` to refuse a type outright. A substring test gets these wrong both ways:
//! it answers SSE to a client that refused it and 406 to one that takes anything. So each
//! media range is parsed, the most specific range that matches the wanted type decides, and
//! its weight must be above zero.

use axum::http::{header, HeaderMap};

/// Whether `headers` allow the media type `wanted` (lowercase `type/subtype`). No `Accept`
/// header states no preference and allows everything; an `Accept` header with no range that
/// matches allows nothing.
pub(super) fn accepts(headers: &HeaderMap, wanted: &str) -> bool {
    let mut values = headers.get_all(header::ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return true;
    }
    let (kind, subtype) = wanted.split_once('/').unwrap_or((wanted, ""));
    let mut best: Option<(u8, u16)> = None;
    for range in values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(MediaRange::parse)
    {
        let Some(specificity) = range.matches(kind, subtype) else {
            continue;
        };
        // The most specific range decides; among equally specific ones, the kindest weight.
        best = match best {
            Some((s, q)) if s > specificity || (s == specificity && q >= range.q) => Some((s, q)),
            _ => Some((specificity, range.q)),
        };
    }
    best.is_some_and(|(_, q)| q > 0)
}

/// One `type/subtype;params` element of an `Accept` list, its weight in thousandths.
#[derive(Debug, PartialEq, Eq)]
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: u16,
}

impl<'a> MediaRange<'a> {
    /// `None` for an element that is not a media range (it is ignored, as RFC 9110 lets a
    /// recipient ignore what it cannot parse).
    fn parse(element: &'a str) -> Option<Self> {
        let mut parts = element.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut q = 1000;
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("q") {
                q = weight(value.trim())?;
            }
        }
        Some(Self { kind, subtype, q })
    }

    /// How specifically this range names `kind/subtype` (2 exactly, 1 by `type/*`, 0 by
    /// `*/*`), or `None` when it does not match.
    fn matches(&self, kind: &str, subtype: &str) -> Option<u8> {
        if self.kind == "*" {
            return Some(0);
        }
        if !self.kind.eq_ignore_ascii_case(kind) {
            return None;
        }
        if self.subtype == "*" {
            return Some(1);
        }
        self.subtype.eq_ignore_ascii_case(subtype).then_some(2)
    }
}

/// A `qvalue` (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn weight(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(accept: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    const SSE: &str = "text/event-stream";
    const JSON: &str = "application/json";

    /// The matrix of what clients send: (Accept lines, allows SSE, allows JSON).
    #[test]
    fn media_ranges_wildcards_case_and_weights() {
        let cases: &[(&[&str], bool, bool)] = &[
            (&[], true, true),
            (&["application/json, text/event-stream"], true, true),
            (&["application/json"], false, true),
            (&["text/event-stream"], true, false),
            (&["*/*"], true, true),
            (&["text/*"], true, false),
            (&["application/*"], false, true),
            (&["Text/Event-Stream"], true, false),
            (&["APPLICATION/JSON; charset=utf-8"], false, true),
            (&["text/event-stream;q=0, */*"], false, true),
            (&["*/*;q=0"], false, false),
            (&["text/*;q=0, text/event-stream"], true, false),
            (&["text/event-stream; Q=0.0, application/json"], false, true),
            (&["text/event-stream;q=0.001"], true, false),
            (&["application/json", "text/event-stream"], true, true),
            (&[""], false, false),
            (&["event-stream, json"], false, false),
            (&["*/json"], false, false),
            (&["text/event-stream;q=2, application/json"], false, true),
        ];
        for (accept, sse, json) in cases {
            let headers = with(accept);
            assert_eq!(accepts(&headers, SSE), *sse, "{accept:?} allows SSE");
            assert_eq!(accepts(&headers, JSON), *json, "{accept:?} allows JSON");
        }
    }

    #[test]
    fn weights_parse_as_rfc_9110_qvalues() {
        assert_eq!(weight("0"), Some(0));
        assert_eq!(weight("0.5"), Some(500));
        assert_eq!(weight("0.125"), Some(125));
        assert_eq!(weight("1"), Some(1000));
        assert_eq!(weight("1.000"), Some(1000));
        for bad in ["1.5", "0.1234", "-1", "x", "", "0.a"] {
            assert_eq!(weight(bad), None, "{bad:?}");
        }
    }
}
