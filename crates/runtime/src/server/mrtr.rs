//! `requestState`: the answers a multi round-trip request gathered, sealed so the client can
//! carry them but neither read nor change them (B-6).
//!
//! MCP 2026-07-28 leaves the state opaque to the client and says it is attacker-controlled: a
//! server that trusts it lets a client skip a question ("the user confirmed the deletion") or
//! replay someone else's answers. So the state is encrypted and authenticated with
//! XChaCha20-Poly1305, and its associated data binds it to what it was issued for: the request
//! (`tools/call` of that tool), a digest of its arguments, the requestor (its owner, or
//! "anonymous"), and an expiry. A state that fails any of these is refused with -32602, never
//! half-read.
//!
//! Only answers travel in the state, never the handler's progress: a handler runs again from
//! the start on each round, so what it did before its questions must be safe to repeat.
//!
//! The key is derived from the store's own secret (the one that signs `tasks/list` cursors),
//! under a label of its own, so every instance on one PostgreSQL opens the states any of them
//! sealed, and no second secret needs configuring. A memory store's secret lives as long as
//! the process, and so do its states.
//!
//! Layout of the base64url text: `version (1) | expiry, unix seconds (8) | nonce (24) |
//! ciphertext + tag`; the plaintext is the JSON object of answers by key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use mcp_tasks_engine::Requestor;
use mcp_tasks_wire::jsonrpc::ErrorObject;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// How long a client may take to answer before its state is refused: long enough for a person
/// to fill a form, short enough that a leaked state is soon worthless (the spec asks for "a
/// short expiry").
pub(crate) const STATE_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The longest state accepted or issued, in characters. Answers are small (a form's fields, a
/// model's message); a state above this is a client sending junk, refused before decoding.
pub(crate) const MAX_STATE_CHARS: usize = 64 * 1024;

/// The most answers one state carries: a tool asking more than this in one request should
/// become a task instead.
pub(crate) const MAX_ANSWERS: usize = 64;

const VERSION: u8 = 1;
const LABEL: &[u8] = b"mcp-tasks requestState xchacha20poly1305 v1";
const NONCE_BYTES: usize = 24;
const HEADER_BYTES: usize = 1 + 8 + NONCE_BYTES;

/// The AEAD key for states; its `Debug` never shows it.
pub(crate) struct StateKey(XChaCha20Poly1305);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

impl StateKey {
    /// The key for states, from the store's secret: HMAC-SHA256(secret, label), so it is
    /// independent of the cursor key it comes from.
    pub(crate) fn derive(store_secret: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(store_secret)
            .expect("HMAC takes a key of any length");
        mac.update(LABEL);
        let key = mac.finalize().into_bytes();
        Self(XChaCha20Poly1305::new_from_slice(&key).expect("SHA-256 gives the 32 bytes of a key"))
    }
}

/// What a state is issued for: one tool, one set of arguments, one requestor.
#[derive(Debug)]
pub(crate) struct Binding {
    aad: Vec<u8>,
}

impl Binding {
    /// The binding of a call of `tool` with `arguments` by `requestor`. The arguments are
    /// digested in a canonical form (keys sorted), so a client that re-serializes them in
    /// another order still matches. Only the owner counts: in MCP 2026-07-28 every request
    /// has a session of its own, so a session would bind a state to one request.
    pub(crate) fn new(tool: &str, arguments: &Map<String, Value>, requestor: &Requestor) -> Self {
        let mut aad = Vec::with_capacity(LABEL.len() + tool.len() + 96);
        aad.extend_from_slice(LABEL);
        put(&mut aad, b"tools/call");
        put(&mut aad, tool.as_bytes());
        let mut canonical = Vec::new();
        write_canonical(&mut canonical, &Value::Object(arguments.clone()));
        aad.extend_from_slice(&Sha256::digest(&canonical));
        match &requestor.owner {
            Some(owner) => {
                aad.push(b'o');
                put(&mut aad, owner.as_str().as_bytes());
            }
            None => aad.push(b'-'),
        }
        Self { aad }
    }

    fn with_expiry(&self, expiry: u64) -> Vec<u8> {
        let mut aad = self.aad.clone();
        aad.extend_from_slice(&expiry.to_be_bytes());
        aad
    }
}

/// Appends `bytes` length-prefixed, so no two fields run into each other.
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// JSON with object keys sorted at every level: the same value always gives the same bytes.
fn write_canonical(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, &Value::String(k.clone()));
                out.push(b':');
                write_canonical(out, v);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, v);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seals `answers` for `binding`, valid until [`STATE_LIFETIME`] after `now` (unix seconds).
///
/// # Errors
///
/// -32602 when the answers are more than [`MAX_ANSWERS`] or seal to more than
/// [`MAX_STATE_CHARS`]: the client answered with more than a request carries.
pub(crate) fn seal(
    key: &StateKey,
    binding: &Binding,
    answers: &Map<String, Value>,
    now: u64,
) -> Result<String, ErrorObject> {
    if answers.len() > MAX_ANSWERS {
        return Err(ErrorObject::invalid_params(format!(
            "this request gathered {} answers, above the {MAX_ANSWERS} one request may carry \
             between rounds",
            answers.len()
        )));
    }
    let expiry = now.saturating_add(STATE_LIFETIME.as_secs());
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).expect("the operating system provides random bytes");
    let plaintext = serde_json::to_vec(answers).expect("a JSON map encodes");
    let aad = binding.with_expiry(expiry);
    let sealed = key
        .0
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| ErrorObject::internal("cannot seal the requestState"))?;
    let mut bytes = Vec::with_capacity(HEADER_BYTES + sealed.len());
    bytes.push(VERSION);
    bytes.extend_from_slice(&expiry.to_be_bytes());
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&sealed);
    let text = URL_SAFE_NO_PAD.encode(bytes);
    if text.len() > MAX_STATE_CHARS {
        return Err(ErrorObject::invalid_params(format!(
            "the answers this request gathered take {} characters once sealed, above the \
             {MAX_STATE_CHARS} a requestState may carry; answer with less",
            text.len()
        )));
    }
    Ok(text)
}

/// Opens a state sealed by [`seal`] for the same `binding`, at `now` (unix seconds).
///
/// # Errors
///
/// -32602 for anything else: too long, malformed, tampered with, sealed by another key
/// (another server), for another tool, arguments or requestor, or expired.
pub(crate) fn open(
    key: &StateKey,
    binding: &Binding,
    state: &str,
    now: u64,
) -> Result<Map<String, Value>, ErrorObject> {
    let refused = |why: &str| {
        ErrorObject::invalid_params(format!(
            "requestState is not one this server issued for this request{why}; call again \
             without requestState and inputResponses to start over"
        ))
    };
    if state.len() > MAX_STATE_CHARS {
        return Err(refused(""));
    }
    let bytes = URL_SAFE_NO_PAD.decode(state).map_err(|_| refused(""))?;
    if bytes.len() < HEADER_BYTES || bytes[0] != VERSION {
        return Err(refused(""));
    }
    let expiry = u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
    let nonce: [u8; NONCE_BYTES] = bytes[9..HEADER_BYTES].try_into().expect("24 bytes");
    let aad = binding.with_expiry(expiry);
    let plaintext = key
        .0
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &bytes[HEADER_BYTES..],
                aad: &aad,
            },
        )
        .map_err(|_| refused(""))?;
    // Authentic from here on: the expiry is the one this server wrote.
    if now > expiry {
        return Err(refused(" (it expired)"));
    }
    match serde_json::from_slice(&plaintext) {
        Ok(Value::Object(answers)) if answers.len() <= MAX_ANSWERS => Ok(answers),
        _ => Err(refused("")),
    }
}

#[cfg(test)]
mod tests {
    use mcp_tasks_engine::Owner;
    use serde_json::json;

    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test arguments are objects"),
        }
    }

    fn owned(o: &str) -> Requestor {
        Requestor {
            owner: Some(Owner::new(o)),
            session: Some(format!("request-of-{o}")),
        }
    }

    fn answers() -> Map<String, Value> {
        args(json!({"user_name": {"action": "accept", "content": {"name": "Ada"}}}))
    }

    /// B-6: a sealed state opens for the same request, whichever session (request) brings it
    /// back, and does not show its answers in the clear.
    #[test]
    fn a_state_opens_for_the_request_it_was_issued_for() {
        let key = StateKey::derive(b"store secret");
        let binding = Binding::new(
            "greet",
            &args(json!({"a": 1, "b": [1, 2]})),
            &owned("alice"),
        );
        let state = seal(&key, &binding, &answers(), 1_000).unwrap();
        assert!(!state.contains("Ada"));
        let again = Binding::new(
            "greet",
            &args(json!({"b": [1, 2], "a": 1})),
            &Requestor {
                owner: Some(Owner::new("alice")),
                session: Some("another request".into()),
            },
        );
        assert_eq!(open(&key, &again, &state, 1_001).unwrap(), answers());
        // Another instance on the same store derives the same key.
        assert_eq!(
            open(&StateKey::derive(b"store secret"), &binding, &state, 1_001).unwrap(),
            answers()
        );
    }

    /// B-6: a tampered, foreign, mismatched or expired state is -32602 with one message.
    #[test]
    fn a_tampered_foreign_mismatched_or_expired_state_is_refused() {
        let key = StateKey::derive(b"store secret");
        let who = Requestor::anonymous("r1");
        let binding = Binding::new("greet", &args(json!({"a": 1})), &who);
        let state = seal(&key, &binding, &answers(), 1_000).unwrap();
        let refused = |k: &StateKey, b: &Binding, s: &str, now: u64| {
            let e = open(k, b, s, now).unwrap_err();
            assert_eq!(e.code.0, -32602);
            assert!(
                e.message
                    .starts_with("requestState is not one this server issued for this request"),
                "{}",
                e.message
            );
        };
        // Tampered: the suite appends text; flipping any byte fails too.
        refused(&key, &binding, &format!("{state}-TAMPERED"), 1_001);
        let mut bytes = URL_SAFE_NO_PAD.decode(&state).unwrap();
        for i in [0, 3, 20, bytes.len() - 1] {
            bytes[i] ^= 1;
            refused(&key, &binding, &URL_SAFE_NO_PAD.encode(&bytes), 1_001);
            bytes[i] ^= 1;
        }
        for junk in ["", "not base64!", "AAAA", &"A".repeat(MAX_STATE_CHARS + 1)] {
            refused(&key, &binding, junk, 1_001);
        }
        // Foreign: another server's key.
        refused(
            &StateKey::derive(b"another secret"),
            &binding,
            &state,
            1_001,
        );
        // Mismatched: another tool, other arguments, another requestor.
        refused(
            &key,
            &Binding::new("other", &args(json!({"a": 1})), &who),
            &state,
            1_001,
        );
        refused(
            &key,
            &Binding::new("greet", &args(json!({"a": 2})), &who),
            &state,
            1_001,
        );
        refused(
            &key,
            &Binding::new("greet", &args(json!({"a": 1})), &owned("bob")),
            &state,
            1_001,
        );
        // Expired.
        let late = 1_000 + STATE_LIFETIME.as_secs() + 1;
        refused(&key, &binding, &state, late);
        assert!(open(&key, &binding, &state, late - 1).is_ok());
    }

    /// B-6: states stay bounded: too many answers, or too large ones, are refused when sealing.
    #[test]
    fn states_are_bounded() {
        let key = StateKey::derive(b"k");
        let binding = Binding::new("t", &Map::new(), &Requestor::anonymous("s"));
        let many: Map<String, Value> = (0..=MAX_ANSWERS)
            .map(|i| (format!("k{i}"), json!({})))
            .collect();
        assert_eq!(seal(&key, &binding, &many, 0).unwrap_err().code.0, -32602);
        let big = args(json!({"k": {"text": "x".repeat(MAX_STATE_CHARS)}}));
        assert_eq!(seal(&key, &binding, &big, 0).unwrap_err().code.0, -32602);
        let empty = seal(&key, &binding, &Map::new(), 0).unwrap();
        assert!(open(&key, &binding, &empty, 0).unwrap().is_empty());
    }
}
