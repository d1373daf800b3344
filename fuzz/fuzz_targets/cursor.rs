//! `tasks/list` cursors (`mcp_tasks_engine::Position`): a client sends them back, so any text
//! may arrive where a cursor should be.
//!
//! Three inputs from one: the bytes as a cursor text (forged or mangled); the bytes as a
//! payload signed with the right key, which reaches the parsing behind the HMAC that forged
//! text never gets past; and a position made from the bytes, which must survive encode ->
//! decode and be refused for another requestor. Properties: no panic, every refusal is
//! `InvalidCursor`, round trips are exact.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use mcp_tasks_engine::{Error, Owner, Position, Requestor, TaskId};
use sha2::Sha256;

const KEY: &[u8] = b"fuzz cursor key, 32 bytes long!!";

fn alice() -> Requestor {
    Requestor {
        owner: Some(Owner::new("alice")),
        session: Some("s1".into()),
    }
}

/// A cursor over `payload` signed as the engine signs one for an owner; checked against the
/// engine's own encoding below, so a change of the format fails loudly instead of fuzzing
/// nothing.
fn sign(payload: &[u8], owner: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(KEY).expect("any key length");
    mac.update(b"o");
    mac.update(&(owner.len() as u64).to_be_bytes());
    mac.update(owner.as_bytes());
    mac.update(payload);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn decoded(cursor: &str, requestor: &Requestor) -> Option<Position> {
    match Position::decode(cursor, KEY, requestor) {
        Ok(p) => Some(p),
        Err(Error::InvalidCursor { cursor: shown }) => {
            assert!(
                shown.chars().count() <= 200,
                "the error repeats a long cursor"
            );
            None
        }
        Err(other) => panic!("a bad cursor gave {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let known = Position {
        created_at: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
        id: TaskId::from("t-1"),
    };
    let payload = format!("t2:{}:t-1", known.created_at.as_nanosecond());
    assert_eq!(
        sign(payload.as_bytes(), "alice"),
        known.encode(KEY, &alice()),
        "the cursor format changed: update sign() in this target"
    );

    let text = String::from_utf8_lossy(data);
    if let Some(p) = decoded(&text, &alice()) {
        // Only a cursor this key signed for alice gets through (the seed corpus holds some).
        let payload = text
            .split_once('.')
            .and_then(|(payload, _)| URL_SAFE_NO_PAD.decode(payload).ok())
            .expect("an accepted cursor has a payload");
        assert_eq!(
            sign(&payload, "alice"),
            text,
            "forged cursor accepted as {p:?}"
        );
    }

    if let Some(p) = decoded(&sign(data, "alice"), &alice()) {
        assert!(!p.id.as_str().is_empty());
        assert_eq!(decoded(&p.encode(KEY, &alice()), &alice()), Some(p.clone()));
    }

    if let Some((nanos, id)) = data.split_first_chunk::<16>() {
        let nanos = i128::from_le_bytes(*nanos);
        let id = String::from_utf8_lossy(id);
        if let (Ok(created_at), false) = (jiff::Timestamp::from_nanosecond(nanos), id.is_empty()) {
            let p = Position {
                created_at,
                id: TaskId::from(id.as_ref()),
            };
            let cursor = p.encode(KEY, &alice());
            assert_eq!(decoded(&cursor, &alice()), Some(p));
            let bob = Requestor {
                owner: Some(Owner::new("bob")),
                session: Some("s1".into()),
            };
            assert_eq!(decoded(&cursor, &bob), None, "bob walks alice's listing");
        }
    }
});
