//! Static bearer tokens: every request carries `Authorization: Bearer <token>` from a fixed
//! list, and the token's subject owns the session it opens and every task created in it
//! (T-SEC-1). For small setups; behind an identity provider, see [`super::OAuth`].
//!
//! An owner's tasks are visible to all of its sessions, whichever of its tokens opened them and
//! whichever server instance serves them (the store scopes `tasks/get|result|list|cancel` by
//! owner), and to nobody else: another subject's task answers exactly like an unknown one.
//!
//! Tokens come from `SUBJECT TOKEN` lines ([`BearerTokens::parse`]) or one pair at a time
//! ([`BearerTokens::insert`]). A subject may have several tokens (one per client, or an old and
//! a new one while rotating). Only the SHA-256 digest of each token is kept, and a presented
//! token is found by its digest: no comparison runs over the secret's bytes, and the table holds
//! no usable token.
//!
//! Refusals follow RFC 6750, section 3: `401` with `WWW-Authenticate: Bearer` when no bearer
//! token came, `Bearer error="invalid_token"` when one came that is not known. A session
//! belongs to the subject that opened it: a request on it with another subject's valid token
//! gets the `404` of an unknown session, so session ids tell nothing across subjects.
//!
//! These tokens are not issued, scoped or expired here, and a changed list takes a restart.

use std::collections::{HashMap, HashSet};
use std::fmt;

use axum::http::HeaderMap;
use mcp_tasks_engine::Owner;
use sha2::{Digest as _, Sha256};

use super::{bearer, Reason};

/// The fewest characters a token may have: shorter ones are guessable.
pub const MIN_TOKEN_CHARS: usize = 16;

/// A token's SHA-256 digest, the only form in which tokens are kept.
type TokenDigest = [u8; 32];

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// The bearer tokens a server accepts, each mapped to the subject it authenticates.
///
/// Its `Debug` shows counts only.
#[derive(Clone, Default)]
pub struct BearerTokens {
    owners: HashMap<TokenDigest, Owner>,
}

impl fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerTokens")
            .field("tokens", &self.len())
            .field("subjects", &self.subjects())
            .finish()
    }
}

impl BearerTokens {
    /// No tokens yet; a server given none refuses every request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `SUBJECT TOKEN` pairs, one per line, separated by spaces or tabs. Blank lines are
    /// skipped, and `#` starts a comment (at the start of a line, or as a field after the pair).
    ///
    /// ```
    /// # use mcp_tasks_runtime::transport::http::BearerTokens;
    /// let tokens = BearerTokens::parse(
    ///     "# who      token\n\
    ///      alice      3f9a1c5e7b2d4f6a8c0e1a3b5d7f9e2c   # laptop\n\
    ///      alice      b8e2d4f6a0c1e3a5b7d9f0e2c4a6b8d0   # CI\n\
    ///      bob        0c1e3a5b7d9f2e4c6a8b0d1f3e5a7c9b\n",
    /// )?;
    /// assert_eq!((tokens.len(), tokens.subjects()), (3, 2));
    /// # Ok::<(), mcp_tasks_runtime::transport::http::TokensError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first bad line, by number: not two fields, a token used twice, or a token
    /// [`BearerTokens::insert`] refuses; or [`TokensError::Empty`] when no line has a pair.
    pub fn parse(text: &str) -> Result<Self, TokensError> {
        let mut tokens = Self::new();
        let mut first_seen: HashMap<TokenDigest, usize> = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let fields: Vec<&str> = line
                .split_whitespace()
                .take_while(|field| !field.starts_with('#'))
                .collect();
            let [subject, token] = fields[..] else {
                if fields.is_empty() {
                    continue;
                }
                return Err(TokensError::Shape {
                    line: line_no,
                    found: fields.len(),
                });
            };
            if let Some(&first) = first_seen.get(&digest(token)) {
                return Err(TokensError::Duplicate {
                    line: line_no,
                    first,
                });
            }
            tokens
                .insert(subject, token)
                .map_err(|problem| TokensError::Token {
                    line: line_no,
                    problem,
                })?;
            first_seen.insert(digest(token), line_no);
        }
        if tokens.is_empty() {
            return Err(TokensError::Empty);
        }
        Ok(tokens)
    }

    /// Accepts `token` as `subject`.
    ///
    /// # Errors
    ///
    /// An empty subject; a token shorter than [`MIN_TOKEN_CHARS`], with a character a bearer
    /// token cannot have (RFC 6750 `b64token`: letters, digits, `-._~+/`, then `=` padding), or
    /// already accepted.
    pub fn insert(&mut self, subject: &str, token: &str) -> Result<(), TokenError> {
        if subject.trim().is_empty() {
            return Err(TokenError::EmptySubject);
        }
        if let Some(c) = bad_character(token) {
            return Err(TokenError::BadCharacter(c));
        }
        let chars = token.chars().count();
        if chars < MIN_TOKEN_CHARS {
            return Err(TokenError::TooShort(chars));
        }
        match self.owners.entry(digest(token)) {
            std::collections::hash_map::Entry::Occupied(_) => Err(TokenError::Duplicate),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Owner::new(subject));
                Ok(())
            }
        }
    }

    /// How many tokens are accepted.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// Whether no token is accepted.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// How many distinct subjects the tokens authenticate.
    pub fn subjects(&self) -> usize {
        self.owners.values().collect::<HashSet<_>>().len()
    }

    /// The subject of the request's bearer token.
    ///
    /// # Errors
    ///
    /// Why the request is refused; it is answered with 401.
    pub(super) fn authenticate(&self, headers: &HeaderMap) -> Result<Owner, Reason> {
        let token = bearer(headers)?;
        self.owners
            .get(&digest(token))
            .cloned()
            .ok_or(Reason::UnknownToken)
    }
}

/// The first character of `token` outside RFC 6750's `b64token`, if any; a token of nothing
/// but `=` gives `=`.
fn bad_character(token: &str) -> Option<char> {
    let body = token.trim_end_matches('=');
    if body.is_empty() {
        return Some(token.chars().next().unwrap_or(' '));
    }
    body.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/')))
}

/// A `SUBJECT TOKEN` pair that is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The subject is empty or blank.
    #[error("the subject is empty; give each token the name of who uses it")]
    EmptySubject,
    /// The token is shorter than [`MIN_TOKEN_CHARS`]; it holds this many.
    #[error(
        "the token has {0} characters, fewer than {MIN_TOKEN_CHARS}; use a long random one, such \
         as the output of `openssl rand -hex 32`"
    )]
    TooShort(usize),
    /// The token holds a character a bearer token cannot carry.
    #[error(
        "the token holds {0:?}; a bearer token is letters, digits and -._~+/ (then = padding), \
         such as the output of `openssl rand -hex 32`"
    )]
    BadCharacter(char),
    /// The token is accepted already.
    #[error(
        "the token is given twice; each token must be unique (a subject may have several \
         tokens, a token only one subject)"
    )]
    Duplicate,
}

/// A list of `SUBJECT TOKEN` lines that is refused: the first problem, by line number
/// (counted from 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokensError {
    /// A line is not one `SUBJECT TOKEN` pair.
    #[error(
        "line {line}: expected `SUBJECT TOKEN` separated by whitespace, found {found} field{}",
        if *found == 1 { "" } else { "s" }
    )]
    Shape {
        /// The line.
        line: usize,
        /// How many fields it has.
        found: usize,
    },
    /// A line repeats the token of an earlier one.
    #[error(
        "line {line}: the token of line {first} again; each token must be unique (a subject may \
         have several tokens, a token only one subject)"
    )]
    Duplicate {
        /// The line.
        line: usize,
        /// The earlier line with the same token.
        first: usize,
    },
    /// A line's pair is refused.
    #[error("line {line}: {problem}")]
    Token {
        /// The line.
        line: usize,
        /// What is wrong with the pair.
        problem: TokenError,
    },
    /// No line holds a pair.
    #[error("no tokens: write one `SUBJECT TOKEN` pair per line")]
    Empty,
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    const ALICE: &str = "alice-token-0123456789";
    const ALICE_2: &str = "alice-second-token-0123";
    const BOB: &str = "bob-token-0123456789ab";

    fn tokens() -> BearerTokens {
        BearerTokens::parse(&format!(
            "# subject token\n\nalice {ALICE}\n\talice\t{ALICE_2}   # CI\nbob {BOB}\n"
        ))
        .unwrap()
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn a_file_maps_each_token_to_its_subject() {
        let t = tokens();
        assert_eq!((t.len(), t.subjects()), (3, 2));
        for (token, subject) in [(ALICE, "alice"), (ALICE_2, "alice"), (BOB, "bob")] {
            let owner = t
                .authenticate(&with_auth(&format!("Bearer {token}")))
                .unwrap();
            assert_eq!(owner, Owner::new(subject));
        }
        let lower = t.authenticate(&with_auth(&format!("bearer  {BOB} ")));
        assert_eq!(
            lower,
            Ok(Owner::new("bob")),
            "the scheme is case-insensitive"
        );
    }

    /// RFC 6750 §3: no credentials gets a bare challenge, a bad token `invalid_token`.
    #[test]
    fn refusals_say_why() {
        let t = tokens();
        assert_eq!(t.authenticate(&HeaderMap::new()), Err(Reason::Missing));
        assert_eq!(
            t.authenticate(&with_auth("Basic YWxpY2U6cHc=")),
            Err(Reason::OtherScheme)
        );
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer nope-nope-nope-nope",
            "Bearer alice",
        ] {
            assert_eq!(
                t.authenticate(&with_auth(bad)),
                Err(Reason::UnknownToken),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let cases = [
            (
                format!("alice {ALICE}\nbob\n"),
                "line 2: expected `SUBJECT TOKEN`",
            ),
            (format!("alice {ALICE} extra\n"), "found 3 fields"),
            (
                "alice short\n".to_owned(),
                "line 1: the token has 5 characters",
            ),
            (
                format!("alice {ALICE}\n\nbob {ALICE}\n"),
                "line 3: the token of line 1 again",
            ),
            ("alice tøken-0123456789abcdef\n".to_owned(), "holds 'ø'"),
            ("alice ================\n".to_owned(), "holds '='"),
            ("# only a comment\n\n".to_owned(), "no tokens"),
            (String::new(), "no tokens"),
        ];
        for (text, needle) in cases {
            let err = BearerTokens::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        assert!(BearerTokens::parse("alice abcdefghijklmnop==\n").is_ok());
    }

    #[test]
    fn insert_refuses_empty_subjects_and_repeated_tokens() {
        let mut t = BearerTokens::new();
        assert_eq!(t.insert(" ", ALICE), Err(TokenError::EmptySubject));
        t.insert("alice", ALICE).unwrap();
        assert_eq!(t.insert("bob", ALICE), Err(TokenError::Duplicate));
    }

    #[test]
    fn debug_shows_no_token() {
        let shown = format!("{:?}", tokens());
        assert_eq!(shown, "BearerTokens { tokens: 3, subjects: 2 }");
    }
}
