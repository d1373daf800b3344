//! The values `mcp-tasks admin` reads from its command line. clap calls these parsers, so a bad
//! value is a usage error (exit status 2) naming the flag. Ages and owners are parsed by the
//! runtime's admin API code, so the command and the API accept the same words.

use std::time::Duration;

use jiff::civil::Date;
use jiff::Timestamp;
use mcp_tasks_engine::OwnerFilter;
use mcp_tasks_runtime::admin::query;

/// A length of time back from now, as `--older-than 7d` gives it: the text, sent to a server
/// as written (its clock decides what "7 days ago" is), and its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Age {
    pub(crate) text: String,
    pub(crate) duration: Duration,
}

/// clap's parser for an age: `30s`, `10m`, `2h`, `7d`, `1h30m`.
pub(crate) fn parse_age(text: &str) -> Result<Age, String> {
    let duration = query::parse_age("", text).map_err(|e| e.message)?;
    Ok(Age {
        text: text.trim().to_owned(),
        duration,
    })
}

/// clap's parser for `--owner`: a name, or `-` for tasks without an owner.
pub(crate) fn parse_owner(text: &str) -> Result<OwnerFilter, String> {
    query::parse_owner(text).map_err(|e| e.message)
}

/// clap's parser for a moment: RFC 3339 (`2026-12-01T00:00:00Z`, any offset), or a day
/// (`2026-12-01`), taken as its first moment in UTC.
pub(crate) fn parse_date(text: &str) -> Result<Timestamp, String> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    // jiff reads a date out of a datetime too; a datetime without an offset names no moment.
    let day = (text.len() == "2026-12-01".len())
        .then(|| text.parse::<Date>().ok())
        .flatten();
    if let Some(at) = day.and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok()) {
        return Ok(at.timestamp());
    }
    Err(format!(
        "{text:?} is not a date; use RFC 3339 with an offset, such as 2026-12-01T00:00:00Z, or a \
         day, such as 2026-12-01"
    ))
}

/// clap's parser for a task id: any text but an empty one, which would name the task list
/// rather than a task.
pub(crate) fn parse_id(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("a task id is not empty; `mcp-tasks admin list` shows the ids".to_owned());
    }
    Ok(text.to_owned())
}

/// clap's parser for `cancel --message`: an empty message would read as a dangling
/// `cancelled by admin:` in the history.
pub(crate) fn parse_message(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err(
            "give a message or leave out --message (the server's own words are used)".to_owned(),
        );
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_messages_are_not_empty() {
        assert_eq!(parse_id("t-1").unwrap(), "t-1");
        assert!(parse_id("").unwrap_err().contains("not empty"));
        assert!(parse_id("  ").is_err());
        assert_eq!(parse_message("runaway").unwrap(), "runaway");
        assert!(parse_message("")
            .unwrap_err()
            .contains("give a message or leave out --message"));
    }

    #[test]
    fn ages_are_the_admin_apis() {
        for (text, secs) in [("30s", 30), ("10m", 600), ("2h", 7200), ("7d", 604_800)] {
            let age = parse_age(text).unwrap();
            assert_eq!(age.duration, Duration::from_secs(secs), "{text}");
            assert_eq!(age.text, text);
        }
        for text in ["", "7", "d", "-3h", "yesterday", "1y"] {
            let err = parse_age(text).unwrap_err();
            assert!(err.contains("30s, 10m, 2h or 7d"), "{text:?}: {err}");
        }
    }

    #[test]
    fn owners_are_names_or_a_dash() {
        assert!(matches!(parse_owner("-"), Ok(OwnerFilter::Unowned)));
        assert!(matches!(parse_owner("alice"), Ok(OwnerFilter::Owner(o)) if o.as_str() == "alice"));
        assert!(parse_owner("").is_err());
    }

    #[test]
    fn dates_are_rfc3339_or_a_day_in_utc() {
        assert_eq!(
            parse_date("2026-12-01T10:00:00+02:00").unwrap(),
            "2026-12-01T08:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_date("2026-12-01").unwrap(),
            "2026-12-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-12-01T00:00:00",
            "12/01/2026",
        ] {
            let err = parse_date(bad).unwrap_err();
            assert!(err.contains("RFC 3339"), "{bad}: {err}");
        }
    }
}
