//! Opaque `tasks/list` cursors (T-LIST-1).
//!
//! A cursor names the position after the last task of a page, as `(createdAt, taskId)`, the
//! order every store lists in. It survives the deletion of that task and works on any instance
//! that shares the store. It is base64url text so requestors treat it as opaque; anything that
//! does not decode to a position is refused with [`Error::InvalidCursor`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jiff::Timestamp;

use crate::task::TaskId;
use crate::Error;

const VERSION: &str = "t1";

/// A position in the listing order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Creation time of the last task shown.
    pub created_at: Timestamp,
    /// Its id, which breaks ties.
    pub id: TaskId,
}

impl Position {
    /// The opaque cursor text.
    pub fn encode(&self) -> String {
        let raw = format!("{VERSION}:{}:{}", self.created_at.as_nanosecond(), self.id);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads a cursor made by [`Position::encode`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCursor`] for anything else.
    pub fn decode(cursor: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidCursor {
            cursor: cursor.chars().take(200).collect(),
        };
        let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let raw = String::from_utf8(raw).map_err(|_| invalid())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// T-LIST-1: cursors round-trip; forged ones are refused.
    #[test]
    fn cursor_round_trips_and_refuses_forgeries() {
        let p = Position {
            created_at: Timestamp::from_second(1_700_000_000).unwrap(),
            id: TaskId::generate(),
        };
        assert_eq!(Position::decode(&p.encode()).unwrap(), p);
        for bad in [
            "",
            "abc",
            "not base64 !!",
            &URL_SAFE_NO_PAD.encode("t2:1:x"),
            &URL_SAFE_NO_PAD.encode("t1:nan:x"),
            &URL_SAFE_NO_PAD.encode("t1:1:"),
        ] {
            assert!(
                matches!(Position::decode(bad), Err(Error::InvalidCursor { .. })),
                "{bad}"
            );
        }
    }
}
