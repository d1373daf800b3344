//! Opaque, unforgeable `tasks/list` cursors (T-LIST-1, T-LIST-2).
//!
//! A cursor names the position after the last task of a page, as `(createdAt, taskId)`, the
//! order every store lists in. It survives the deletion of that task and works on any instance
//! that shares the store.
//!
//! It is signed: an HMAC-SHA256, under the store's [`cursor key`](crate::TaskStore::cursor_key),
//! over the position and the requestor it was issued to. So a well-formed cursor that this
//! store did not issue, or issued to another requestor, is refused with
//! [`Error::InvalidCursor`] instead of starting a listing anywhere the sender chose. The key is
//! kept by the store, so every instance on a shared database signs alike and a durable store's
//! cursors outlive a restart.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use sha2::Sha256;

use crate::task::{Requestor, TaskId};
use crate::Error;

const VERSION: &str = "t2";

/// How many bytes a fresh cursor key has.
pub(crate) const CURSOR_KEY_BYTES: usize = 32;

/// A position in the listing order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Creation time of the last task shown.
    pub created_at: Timestamp,
    /// Its id, which breaks ties.
    pub id: TaskId,
}

/// Whose walk a cursor belongs to: it is signed for it and honoured only for it.
#[derive(Clone, Copy, Debug)]
enum Scope<'a> {
    /// A requestor's `tasks/list`.
    Requestor(&'a Requestor),
    /// An operator's listing of every owner's tasks ([`Admin::list`](crate::Admin::list)).
    Admin,
}

impl Position {
    /// The opaque cursor text, signed with `key` for `requestor`.
    pub fn encode(&self, key: &[u8], requestor: &Requestor) -> String {
        self.encode_for(key, Scope::Requestor(requestor))
    }

    /// Reads a cursor made by [`Position::encode`] with the same `key` for the same
    /// `requestor`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCursor`] for anything else: malformed text, or a signature that another
    /// key or another requestor made.
    pub fn decode(cursor: &str, key: &[u8], requestor: &Requestor) -> Result<Self, Error> {
        Self::decode_for(cursor, key, Scope::Requestor(requestor))
    }

    /// The cursor text of an operator's listing, signed with `key`. No requestor's
    /// `tasks/list` takes it, and [`Position::decode_admin`] takes no requestor's cursor.
    pub(crate) fn encode_admin(&self, key: &[u8]) -> String {
        self.encode_for(key, Scope::Admin)
    }

    /// Reads a cursor made by [`Position::encode_admin`] with the same `key`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCursor`] for anything else.
    pub(crate) fn decode_admin(cursor: &str, key: &[u8]) -> Result<Self, Error> {
        Self::decode_for(cursor, key, Scope::Admin)
    }

    fn encode_for(&self, key: &[u8], scope: Scope<'_>) -> String {
        let payload = format!("{VERSION}:{}:{}", self.created_at.as_nanosecond(), self.id);
        let tag = mac(key, scope, payload.as_bytes()).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    fn decode_for(cursor: &str, key: &[u8], scope: Scope<'_>) -> Result<Self, Error> {
        let invalid = || Error::InvalidCursor {
            cursor: cursor.chars().take(200).collect(),
        };
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        mac(key, scope, &payload)
            .verify_slice(&tag)
            .map_err(|_| invalid())?;
        let raw = String::from_utf8(payload).map_err(|_| invalid())?;
        let mut parts = raw.splitn(3, ':');
        let (Some(VERSION), Some(nanos), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
        let created_at = Timestamp::from_nanosecond(nanos).map_err(|_| invalid())?;
        if id.is_empty() {
            return Err(invalid());
        }
        Ok(Self {
            created_at,
            id: TaskId::from(id),
        })
    }
}

/// The MAC over a payload for a scope. A requestor's scope is whose listing the cursor walks
/// (T-LIST-2): its owner, from any of its sessions; without one, its session. An operator's
/// listing has a tag of its own, so its cursors and the requestors' never pass for each other.
/// The input is written tagged and length-prefixed so that no two scopes produce the same one.
fn mac(key: &[u8], scope: Scope<'_>, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    let (tag, who) = match scope {
        Scope::Requestor(requestor) => match (&requestor.owner, &requestor.session) {
            (Some(owner), _) => (b'o', owner.as_str()),
            (None, Some(session)) => (b's', session.as_str()),
            (None, None) => (b'-', ""),
        },
        Scope::Admin => (b'a', ""),
    };
    mac.update(&[tag]);
    mac.update(&(who.len() as u64).to_be_bytes());
    mac.update(who.as_bytes());
    mac.update(payload);
    mac
}

/// A fresh random cursor key from the operating system's generator.
///
/// # Panics
///
/// When the operating system has no random source, which no supported platform lacks; a
/// server must not run with guessable keys.
pub(crate) fn random_key() -> Vec<u8> {
    let mut key = vec![0; CURSOR_KEY_BYTES];
    getrandom::fill(&mut key).expect("the operating system provides random bytes");
    key
}

/// A cursor key held by a store; its `Debug` does not show it, so logs never do.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CursorKey(pub(crate) Vec<u8>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// This process's cursor key, for stores that no other process reads: random, made once.
pub(crate) fn process_key() -> &'static [u8] {
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(random_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Owner;

    fn position() -> Position {
        Position {
            created_at: Timestamp::from_second(1_700_000_000).unwrap(),
            id: TaskId::generate(),
        }
    }

    /// T-LIST-1: cursors round-trip; malformed ones are refused.
    #[test]
    fn cursor_round_trips_and_refuses_malformed() {
        let key = random_key();
        let who = Requestor::anonymous("s1");
        let p = position();
        assert_eq!(
            Position::decode(&p.encode(&key, &who), &key, &who).unwrap(),
            p
        );
        for bad in [
            "",
            "abc",
            "not base64 !!",
            "a.b",
            &URL_SAFE_NO_PAD.encode("t1:1:x"),
        ] {
            assert!(
                matches!(
                    Position::decode(bad, &key, &who),
                    Err(Error::InvalidCursor { .. })
                ),
                "{bad}"
            );
        }
    }

    /// T-LIST-1, T-LIST-2: a well-formed cursor is refused unless this key signed it for this
    /// requestor: one made by another server, by hand, or for another requestor.
    #[test]
    fn cursors_cannot_be_forged_or_shared() {
        let key = random_key();
        let who = Requestor::anonymous("s1");
        let p = position();
        let cursor = p.encode(&key, &who);
        let refused = |c: &str, k: &[u8], r: &Requestor| {
            matches!(Position::decode(c, k, r), Err(Error::InvalidCursor { .. }))
        };
        // Another key: another server, or the old unsigned format with any tag.
        assert!(refused(&cursor, &random_key(), &who));
        let (payload, _) = cursor.split_once('.').unwrap();
        assert!(refused(
            &format!("{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 32])),
            &key,
            &who
        ));
        // Another requestor: another session, or an owner.
        assert!(refused(&cursor, &key, &Requestor::anonymous("s2")));
        let owned = Requestor {
            owner: Some(Owner::new("alice")),
            session: Some("s1".into()),
        };
        assert!(refused(&cursor, &key, &owned));
        // A position changed under a valid tag.
        let (_, tag) = cursor.split_once('.').unwrap();
        let moved = Position {
            id: TaskId::from("another"),
            ..p
        };
        let moved = moved.encode(&key, &who);
        let (moved_payload, _) = moved.split_once('.').unwrap();
        assert!(refused(&format!("{moved_payload}.{tag}"), &key, &who));
        // An owner's cursor is the owner's, whichever session brings it back, and no one
        // else's.
        let as_owner = |o: &str, s: &str| Requestor {
            owner: Some(Owner::new(o)),
            session: Some(s.into()),
        };
        let c = p.encode(&key, &as_owner("alice", "s1"));
        assert_eq!(
            Position::decode(&c, &key, &as_owner("alice", "s2")).unwrap(),
            p
        );
        assert!(refused(&c, &key, &as_owner("bob", "s1")));
    }

    /// Issue 15 item 3: an operator's cursor is no requestor's `tasks/list` cursor, and no
    /// requestor's cursor is an operator's, whatever the requestor.
    #[test]
    fn admin_cursors_are_their_own() {
        let key = random_key();
        let p = position();
        let admin = p.encode_admin(&key);
        assert_eq!(Position::decode_admin(&admin, &key).unwrap(), p);
        assert!(Position::decode_admin(&admin, &random_key()).is_err());
        let requestors = [
            Requestor::default(),
            Requestor::anonymous(""),
            Requestor::anonymous("s1"),
            Requestor {
                owner: Some(Owner::new("")),
                session: None,
            },
            Requestor {
                owner: Some(Owner::new("admin")),
                session: None,
            },
        ];
        for who in &requestors {
            assert!(
                matches!(
                    Position::decode(&admin, &key, who),
                    Err(Error::InvalidCursor { .. })
                ),
                "{who:?}"
            );
            let theirs = p.encode(&key, who);
            assert!(
                matches!(
                    Position::decode_admin(&theirs, &key),
                    Err(Error::InvalidCursor { .. })
                ),
                "{who:?}"
            );
        }
    }
}
