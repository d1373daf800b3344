//! The admin token check: `Authorization: Bearer TOKEN` on every route but `/healthz` and the
//! dashboard's files.
//!
//! The presented token and the admin token are compared by their SHA-256 digests, in constant
//! time (`subtle`): the time a refusal takes tells nothing about how much of a guess was
//! right, not even its length. A refusal is 401 with an RFC 6750 challenge, so `curl` and the
//! dashboard both learn a token is wanted.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::error::ApiError;
use super::AdminToken;

/// The realm every challenge names.
const CHALLENGE: &str = "Bearer realm=\"mcp-tasks admin\"";
const CHALLENGE_INVALID: &str = "Bearer realm=\"mcp-tasks admin\", error=\"invalid_token\"";

/// The admin token, kept as its digest.
#[derive(Clone)]
pub(super) struct TokenCheck {
    digest: [u8; 32],
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCheck").finish_non_exhaustive()
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Missing,
    NotBearer,
    Wrong,
}

impl TokenCheck {
    pub(super) fn new(token: &AdminToken) -> Self {
        Self {
            digest: Sha256::digest(token.as_str().as_bytes()).into(),
        }
    }

    fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or(Refusal::Missing)?
            .to_str()
            .map_err(|_| Refusal::NotBearer)?
            .trim();
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Refusal::NotBearer);
        }
        let presented: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        if bool::from(presented.ct_eq(&self.digest)) {
            Ok(())
        } else {
            Err(Refusal::Wrong)
        }
    }
}

/// Lets a request through only with the admin token.
pub(super) async fn require_token(
    State(check): State<Arc<TokenCheck>>,
    request: Request,
    next: Next,
) -> Response {
    let refusal = match check.check(request.headers()) {
        Ok(()) => return next.run(request).await,
        Err(refusal) => refusal,
    };
    let (message, challenge) = match refusal {
        Refusal::Missing => (
            "the admin API needs the admin token: send `Authorization: Bearer <token>` (the \
             token is in the file given with --admin-token-file, or was logged at start)",
            CHALLENGE,
        ),
        Refusal::NotBearer => (
            "the Authorization header is not `Bearer <token>`; the admin API takes the admin \
             token as a bearer token",
            CHALLENGE,
        ),
        Refusal::Wrong => (
            "the admin token is wrong; it is not an MCP bearer token but the one given with \
             --admin-token-file, or logged at start",
            CHALLENGE_INVALID,
        ),
    };
    let mut response = ApiError::unauthorized(message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        h
    }

    #[test]
    fn only_the_admin_token_as_bearer_passes() {
        let check = TokenCheck::new(&AdminToken::new("right-token-1234").unwrap());
        assert_eq!(check.check(&headers("Bearer right-token-1234")), Ok(()));
        assert_eq!(check.check(&headers("bearer  right-token-1234 ")), Ok(()));
        assert_eq!(check.check(&HeaderMap::new()), Err(Refusal::Missing));
        assert_eq!(
            check.check(&headers("Basic right-token-1234")),
            Err(Refusal::NotBearer)
        );
        for wrong in [
            "Bearer right-token-123",
            "Bearer right-token-12345",
            "Bearer",
        ] {
            assert_eq!(check.check(&headers(wrong)), Err(Refusal::Wrong), "{wrong}");
        }
    }
}
