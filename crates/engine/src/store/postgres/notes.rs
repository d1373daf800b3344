//! What travels on the notification channel: which tasks changed, and how.
//!
//! A note is `<event> <task id>`, where the event is `created`, `expired`, or the status after
//! an update. Two forms carry notes:
//! - **single**: the payload is one note. Every version writes and reads it; this one still
//!   writes it for deletions (expiry, purge), for an id a packed payload cannot carry, and
//!   while an instance that reads nothing else listens (see [`OLD_LISTENER`]).
//! - **packed**: the line [`PACKED`], then one note per line. A writer's batch sends all its
//!   notes in one or a few of these, so that the commit that holds them is one notifying
//!   transaction, not one per change (PostgreSQL serializes notifying commits). An older
//!   listener reads a packed payload as one malformed note and ignores it.
//!
//! PostgreSQL refuses a payload of 8000 bytes or more; packed payloads stay under
//! [`PAYLOAD_MAX`].

use crate::store::{Change, ChangeEvent};
use crate::task::{TaskId, TaskStatus};

/// The first line of a packed payload. No note starts so (`changes` is no event), so a single
/// note is never taken for a packed payload, nor the reverse.
const PACKED: &str = "changes";

/// The most bytes of a packed payload: under PostgreSQL's limit (8000 bytes with its default
/// block size), with room to spare.
const PAYLOAD_MAX: usize = 7900;

/// The `application_name` of a listener that reads only single notes, as every version before
/// packed notes named its listening connection (`mcp-tasks listener <32 hex digits>`), as a
/// PostgreSQL regular expression. While one is connected to the database, writers send single
/// notes ([`Form::Single`]), so that its waiters still wake during a rolling upgrade.
pub(super) const OLD_LISTENER: &str = "^mcp-tasks listener [0-9a-f]{32}$";

/// The `application_name` of this version's listening connection, which reads both forms: the
/// older listeners' name with a suffix that [`OLD_LISTENER`] does not match.
pub(super) fn listener_name(origin: &str) -> String {
    format!("mcp-tasks listener {origin} packed")
}

/// One note, in the single form.
pub(super) fn note(change: &Change) -> String {
    let mut text = prefix(&change.event);
    text.push_str(change.id.as_str());
    text
}

/// A note's event and the space after it, to which a deletion appends each id in SQL.
pub(super) fn prefix(event: &ChangeEvent) -> String {
    let event = match event {
        ChangeEvent::Created => "created",
        ChangeEvent::Expired => "expired",
        ChangeEvent::Updated(status) => status.as_str(),
    };
    format!("{event} ")
}

/// How a batch's notes are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Form {
    /// As few packed payloads as fit them.
    Packed,
    /// One payload per note, for listeners of older versions.
    Single,
}

/// The payloads that carry `changes`, to be sent in this order.
///
/// A note whose id holds a line break or a space cannot share a packed payload, and goes alone
/// in the single form, ahead of the packed ones. (A space leaves it unreadable to every
/// listener, as it always was; server-made ids hold neither.) Every note of one task goes the
/// same way, so a task's notes keep their order.
pub(super) fn payloads(changes: &[Change], form: Form) -> Vec<String> {
    let mut out = Vec::new();
    let mut packed = String::new();
    for change in changes {
        let note = note(change);
        let id = change.id.as_str();
        if form == Form::Single || id.contains(['\n', ' ']) {
            out.push(note);
            continue;
        }
        if !packed.is_empty() && packed.len() + 1 + note.len() > PAYLOAD_MAX {
            out.push(std::mem::take(&mut packed));
        }
        if packed.is_empty() {
            packed.push_str(PACKED);
        }
        packed.push('\n');
        packed.push_str(&note);
    }
    if !packed.is_empty() {
        out.push(packed);
    }
    out
}

/// The changes a payload reports, in either form. A note that is not ours is left out, and
/// a payload that holds none gives none.
pub(super) fn parse(payload: &str) -> Vec<Change> {
    match payload
        .strip_prefix(PACKED)
        .and_then(|p| p.strip_prefix('\n'))
    {
        Some(notes) => notes.split('\n').filter_map(parse_note).collect(),
        None => parse_note(payload).into_iter().collect(),
    }
}

/// The change one note reports, or `None` for text that is not ours.
fn parse_note(text: &str) -> Option<Change> {
    let (event, id) = text.split_once(' ')?;
    let event = match event {
        "created" => ChangeEvent::Created,
        "expired" => ChangeEvent::Expired,
        status => ChangeEvent::Updated(TaskStatus::parse(status)?),
    };
    (!id.is_empty() && !id.contains(' ')).then(|| Change {
        id: TaskId::from(id),
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, event: ChangeEvent) -> Change {
        Change {
            id: TaskId::from(id),
            event,
        }
    }

    fn every_event(id: &TaskId) -> Vec<Change> {
        [
            ChangeEvent::Created,
            ChangeEvent::Expired,
            ChangeEvent::Updated(TaskStatus::Working),
            ChangeEvent::Updated(TaskStatus::InputRequired),
            ChangeEvent::Updated(TaskStatus::Completed),
            ChangeEvent::Updated(TaskStatus::Failed),
            ChangeEvent::Updated(TaskStatus::Cancelled),
        ]
        .into_iter()
        .map(|event| Change {
            id: id.clone(),
            event,
        })
        .collect()
    }

    #[test]
    fn single_notes_round_trip() {
        for change in every_event(&TaskId::generate()) {
            let text = note(&change);
            assert_eq!(parse(&text), vec![change]);
        }
        for foreign in [
            "",
            "created",
            "created ",
            "sleeping x",
            "created a b",
            "changes",
            "changes\n",
        ] {
            assert_eq!(parse(foreign), Vec::new(), "{foreign:?}");
        }
    }

    /// What versions before packed notes sent is read as it always was, including an id
    /// with a line break (which no packed payload holds).
    #[test]
    fn the_old_single_form_is_still_read() {
        let id = "0b0e1f4a-1c2d-4e5f-8a9b-0c0d0e0f1a2b";
        assert_eq!(
            parse(&format!("completed {id}")),
            vec![change(id, ChangeEvent::Updated(TaskStatus::Completed))]
        );
        assert_eq!(
            parse("created a\nb"),
            vec![change("a\nb", ChangeEvent::Created)]
        );
    }

    #[test]
    fn packed_payloads_round_trip_in_order() {
        let mut changes = Vec::new();
        for _ in 0..3 {
            changes.extend(every_event(&TaskId::generate()));
        }
        let payloads = payloads(&changes, Form::Packed);
        assert_eq!(payloads.len(), 1, "{payloads:?}");
        assert!(payloads[0].starts_with("changes\ncreated "), "{payloads:?}");
        let read: Vec<Change> = payloads.iter().flat_map(|p| parse(p)).collect();
        assert_eq!(read, changes);
    }

    /// Many notes fill several payloads, each under PostgreSQL's limit, and none is lost or
    /// split.
    #[test]
    fn packed_payloads_stay_under_the_limit() {
        let changes: Vec<Change> = (0..1000)
            .map(|_| change(TaskId::generate().as_str(), ChangeEvent::Created))
            .collect();
        let payloads = payloads(&changes, Form::Packed);
        assert!(payloads.len() > 1, "{} payloads", payloads.len());
        for p in &payloads {
            assert!(p.len() <= PAYLOAD_MAX && p.len() < 8000, "{}", p.len());
        }
        let read: Vec<Change> = payloads.iter().flat_map(|p| parse(p)).collect();
        assert_eq!(read, changes);
    }

    /// An id that cannot share a packed payload goes alone, in the single form, between the
    /// packed payloads; for older listeners every note goes alone.
    #[test]
    fn odd_ids_and_old_listeners_get_single_notes() {
        let a = change("a", ChangeEvent::Created);
        let odd = change("b\nc", ChangeEvent::Updated(TaskStatus::Working));
        let d = change("d", ChangeEvent::Updated(TaskStatus::Failed));
        let all = [a.clone(), odd.clone(), d.clone()];
        let packed = payloads(&all, Form::Packed);
        assert_eq!(
            packed,
            vec!["working b\nc", "changes\ncreated a\nfailed d"],
            "the odd one alone"
        );
        let read: Vec<Change> = packed.iter().flat_map(|p| parse(p)).collect();
        assert_eq!(read, vec![odd, a, d]);

        let single = payloads(&all, Form::Single);
        assert_eq!(single, vec!["created a", "working b\nc", "failed d"]);
        assert!(payloads(&[], Form::Packed).is_empty());
    }

    /// An older listener (whose parser is [`parse_note`] on the whole payload) ignores a
    /// packed payload of two or more notes instead of misreading it: that is why writers
    /// send single notes while one listens.
    #[test]
    fn older_listeners_ignore_packed_payloads() {
        let changes = every_event(&TaskId::generate());
        for payload in payloads(&changes[..2], Form::Packed) {
            assert_eq!(parse_note(&payload), None, "{payload:?}");
        }
        for payload in payloads(&changes[..1], Form::Packed) {
            assert_eq!(parse_note(&payload), None, "{payload:?}");
        }
    }

    #[test]
    fn listener_names_fit() {
        let origin = uuid::Uuid::new_v4().simple().to_string();
        assert!(
            listener_name(&origin).len() < 64,
            "PostgreSQL keeps 63 bytes of an application_name"
        );
    }
}
