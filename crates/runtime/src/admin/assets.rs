//! The dashboard's files, embedded in the binary: nothing to install or build on the
//! operator's side, and the page always matches the API of the server that serves it.
//!
//! They load without the token (they hold no data; the page asks for the token and sends it
//! on its API calls), with `Cache-Control: no-cache` so an upgraded server is not shown with
//! a stale script.
//!
//! Once logged in, the page holds the token and has a cancel button, so no other site may
//! frame it (a click there could be made to land on the button): `X-Frame-Options: DENY` and
//! the CSP's `frame-ancestors 'none'`. The CSP also lets the page load nothing but its own
//! files and talk to nothing but its own server (`default-src 'self'`; the page has no inline
//! script or style), and `nosniff` keeps each file the type it is served as.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// The page's content security policy; see the module docs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 5] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    (headers, body).into_response()
}

pub(super) async fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

pub(super) async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub(super) async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}
