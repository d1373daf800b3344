//! The words of the admin API's task filters, parsed in one place: the HTTP API's query
//! parameters and request bodies, and `mcp-tasks admin` on a store no server holds, accept
//! exactly the same spellings and refuse the same mistakes with the same messages.
//!
//! Ages (`olderThan=10m`, `newerThan=2h`, `{"olderThan":"7d"}`) are jiff's friendly
//! durations, counted back from now with days of 24 hours: `30s`, `10m`, `2h`, `7d`,
//! `1w`, `1h30m`, or ISO 8601 `PT10M`. Months and years are refused, since their length
//! depends on the date.
//!
//! ```
//! use mcp_tasks_runtime::admin::query::{parse_age, TaskQuery};
//!
//! assert_eq!(parse_age("olderThan", "2h").unwrap().as_secs(), 7200);
//! let q = TaskQuery::from_pairs([("status", "working,input_required"), ("owner", "-")]).unwrap();
//! assert_eq!(q.statuses.len(), 2);
//! let err = TaskQuery::from_pairs([("limit", "lots")]).unwrap_err();
//! assert_eq!(err.parameter, "limit");
//! ```

use std::time::Duration;

use jiff::{Span, SpanRelativeTo, Timestamp};
use mcp_tasks_engine::{AdminFilter, Owner, OwnerFilter, TaskStatus};

/// How many tasks a page holds unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// The most tasks one page may hold.
pub const MAX_LIMIT: usize = 1000;

/// The `owner` value that asks for tasks without an owner (created without authentication).
pub const UNOWNED: &str = "-";

/// The parameters `/api/tasks` takes.
const PARAMETERS: [&str; 7] = [
    "status",
    "owner",
    "tool",
    "olderThan",
    "newerThan",
    "cursor",
    "limit",
];

/// A parameter (or body field) that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("parameter {parameter}: {message}")]
pub struct QueryError {
    /// The parameter or field, as spelled in the API.
    pub parameter: String,
    /// What is wrong, and what to send instead.
    pub message: String,
}

impl QueryError {
    fn new(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            parameter: parameter.into(),
            message: message.into(),
        }
    }
}

/// One `/api/tasks` request: the filters, the page's cursor and size.
#[derive(Clone, Debug)]
pub struct TaskQuery {
    /// Any of these statuses; empty is any status.
    pub statuses: Vec<TaskStatus>,
    /// One owner's tasks, or the unowned ones; `None` is every owner's.
    pub owner: Option<OwnerFilter>,
    /// One tool's tasks.
    pub tool: Option<String>,
    /// Created at least this long ago.
    pub older_than: Option<Duration>,
    /// Created at most this long ago.
    pub newer_than: Option<Duration>,
    /// The `nextCursor` of the page before, exactly as received.
    pub cursor: Option<String>,
    /// Tasks on the page, 1 to [`MAX_LIMIT`].
    pub limit: usize,
}

impl Default for TaskQuery {
    fn default() -> Self {
        Self {
            statuses: Vec::new(),
            owner: None,
            tool: None,
            older_than: None,
            newer_than: None,
            cursor: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl TaskQuery {
    /// Parses the query's `name=value` pairs (already URL-decoded). `status` may repeat or
    /// hold a comma-separated list; every other parameter may come once.
    ///
    /// # Errors
    ///
    /// The first parameter that is unknown, repeated or holds a value that does not parse.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, QueryError> {
        let mut query = Self::default();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            let Some(known) = PARAMETERS.iter().copied().find(|p| *p == name) else {
                return Err(QueryError::new(
                    name,
                    format!("unknown parameter; use {}", PARAMETERS.join(", ")),
                ));
            };
            if known != "status" && seen.contains(&known) {
                return Err(QueryError::new(known, "given twice; give it once"));
            }
            seen.push(known);
            match known {
                "status" => query.statuses.extend(parse_statuses(value)?),
                "owner" => query.owner = Some(parse_owner(value)?),
                "tool" if value.is_empty() => {
                    return Err(QueryError::new(
                        "tool",
                        "empty; name a tool, or leave it out",
                    ))
                }
                "tool" => query.tool = Some(value.to_owned()),
                "olderThan" => query.older_than = Some(parse_age("olderThan", value)?),
                "newerThan" => query.newer_than = Some(parse_age("newerThan", value)?),
                "cursor" => query.cursor = Some(value.to_owned()),
                _ => query.limit = parse_limit(value)?,
            }
        }
        Ok(query)
    }

    /// The pairs that ask for this query, for a client building a URL: what
    /// [`from_pairs`](Self::from_pairs) reads back into the same query.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if !self.statuses.is_empty() {
            let list: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
            pairs.push(("status", list.join(",")));
        }
        match &self.owner {
            Some(OwnerFilter::Owner(owner)) => pairs.push(("owner", owner.as_str().to_owned())),
            Some(OwnerFilter::Unowned) => pairs.push(("owner", UNOWNED.to_owned())),
            None => {}
        }
        if let Some(tool) = &self.tool {
            pairs.push(("tool", tool.clone()));
        }
        if let Some(age) = self.older_than {
            pairs.push(("olderThan", format!("{}s", age.as_secs())));
        }
        if let Some(age) = self.newer_than {
            pairs.push(("newerThan", format!("{}s", age.as_secs())));
        }
        if let Some(cursor) = &self.cursor {
            pairs.push(("cursor", cursor.clone()));
        }
        if self.limit != DEFAULT_LIMIT {
            pairs.push(("limit", self.limit.to_string()));
        }
        pairs
    }

    /// The store filter this query means at `now`: ages become creation times.
    pub fn filter(&self, now: Timestamp) -> AdminFilter {
        AdminFilter {
            statuses: self.statuses.clone(),
            owner: self.owner.clone(),
            tool: self.tool.clone(),
            created_after: self.newer_than.map(|age| back_from(now, age)),
            created_before: self.older_than.map(|age| back_from(now, age)),
        }
    }
}

/// `now - age`, or the earliest time when that is before it.
fn back_from(now: Timestamp, age: Duration) -> Timestamp {
    now.checked_sub(age).unwrap_or(Timestamp::MIN)
}

/// A list of statuses, comma-separated: `working,input_required`.
///
/// # Errors
///
/// A word that is not a status, naming the five there are.
pub fn parse_statuses(text: &str) -> Result<Vec<TaskStatus>, QueryError> {
    text.split(',')
        .map(str::trim)
        .map(|word| {
            TaskStatus::parse(word).ok_or_else(|| {
                let all: Vec<&str> = TaskStatus::ALL.iter().map(|s| s.as_str()).collect();
                QueryError::new(
                    "status",
                    format!("{word:?} is not a status; use {}", all.join(", ")),
                )
            })
        })
        .collect()
}

/// An owner's name, or [`UNOWNED`] for the tasks that have none.
///
/// # Errors
///
/// An empty name.
pub fn parse_owner(text: &str) -> Result<OwnerFilter, QueryError> {
    match text {
        "" => Err(QueryError::new(
            "owner",
            format!("empty; name an owner, or {UNOWNED} for tasks without one"),
        )),
        UNOWNED => Ok(OwnerFilter::Unowned),
        name => Ok(OwnerFilter::Owner(Owner::new(name))),
    }
}

/// An age such as `30s`, `10m`, `2h` or `7d` (see the module docs); `parameter` names the
/// parameter in the error.
///
/// # Errors
///
/// Text that is not a duration, a negative one, or one in months or years.
pub fn parse_age(parameter: &str, text: &str) -> Result<Duration, QueryError> {
    let wrong = |why: &str| {
        QueryError::new(
            parameter,
            format!("{text:?} {why}; give an age like 30s, 10m, 2h or 7d"),
        )
    };
    let span: Span = text
        .trim()
        .parse()
        .map_err(|_| wrong("is not a duration"))?;
    let signed = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| wrong("is in months or years, whose length depends on the date"))?;
    Duration::try_from(signed).map_err(|_| wrong("is negative"))
}

/// A page size, 1 to [`MAX_LIMIT`].
fn parse_limit(text: &str) -> Result<usize, QueryError> {
    match text.parse::<usize>() {
        Ok(n @ 1..=MAX_LIMIT) => Ok(n),
        _ => Err(QueryError::new(
            "limit",
            format!("{text:?} is not a page size; give a number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// An RFC 3339 time: `2026-01-31T00:00:00Z`; `parameter` names the parameter in the error.
///
/// # Errors
///
/// Text that is not such a time (one without an offset included).
pub fn parse_time(parameter: &str, text: &str) -> Result<Timestamp, QueryError> {
    text.trim().parse().map_err(|_| {
        QueryError::new(
            parameter,
            format!(
                "{text:?} is not an RFC 3339 time; give one with its offset, like \
                 2026-01-31T00:00:00Z"
            ),
        )
    })
}

/// The `POST /api/purge` body: exactly one of the two.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PurgeRequest {
    /// Purge tasks that finished before this RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_before: Option<String>,
    /// Purge tasks that finished at least this long ago (`7d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than: Option<String>,
}

impl PurgeRequest {
    /// The time before which finished tasks are purged, at `now`.
    ///
    /// # Errors
    ///
    /// Neither field or both, or one that does not parse.
    pub fn cutoff(&self, now: Timestamp) -> Result<Timestamp, QueryError> {
        match (&self.finished_before, &self.older_than) {
            (Some(time), None) => parse_time("finishedBefore", time),
            (None, Some(age)) => Ok(back_from(now, parse_age("olderThan", age)?)),
            (None, None) => Err(QueryError::new(
                "finishedBefore",
                "missing; send {\"finishedBefore\":\"2026-01-31T00:00:00Z\"} or \
                 {\"olderThan\":\"7d\"}",
            )),
            (Some(_), Some(_)) => Err(QueryError::new(
                "olderThan",
                "given with finishedBefore; send one of the two",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15 item 3: ages are jiff's friendly durations with days of 24 hours.
    #[test]
    fn ages_parse_with_days_of_24_hours() {
        for (text, secs) in [
            ("30s", 30),
            ("10m", 600),
            ("2h", 7200),
            ("7d", 7 * 86_400),
            ("1w", 7 * 86_400),
            ("1h30m", 5400),
            ("PT10M", 600),
        ] {
            assert_eq!(
                parse_age("olderThan", text).unwrap().as_secs(),
                secs,
                "{text}"
            );
        }
        for text in ["", "soon", "10", "-5m", "1y", "2mo"] {
            let e = parse_age("newerThan", text).unwrap_err();
            assert_eq!(e.parameter, "newerThan", "{text}");
            assert!(e.message.contains("like 30s"), "{}", e.message);
        }
    }

    /// Issue 15 item 3: each bad parameter is named; statuses repeat or list.
    #[test]
    fn queries_name_the_parameter_they_refuse() {
        let q = TaskQuery::from_pairs([
            ("status", "working"),
            ("status", "failed,cancelled"),
            ("owner", "alice"),
            ("tool", "slow"),
            ("olderThan", "10m"),
            ("limit", "5"),
        ])
        .unwrap();
        assert_eq!(
            q.statuses,
            [
                TaskStatus::Working,
                TaskStatus::Failed,
                TaskStatus::Cancelled
            ]
        );
        assert!(matches!(&q.owner, Some(OwnerFilter::Owner(o)) if o.as_str() == "alice"));
        assert_eq!(q.limit, 5);
        let again = TaskQuery::from_pairs(
            q.to_pairs()
                .iter()
                .map(|(name, value)| (*name, value.as_str())),
        )
        .unwrap();
        assert_eq!(again.to_pairs(), q.to_pairs());
        let now = Timestamp::from_second(1_000_000).unwrap();
        let filter = q.filter(now);
        assert_eq!(
            filter.created_before,
            Some(Timestamp::from_second(1_000_000 - 600).unwrap())
        );
        assert_eq!(filter.created_after, None);
        assert!(matches!(
            TaskQuery::from_pairs([("owner", "-")]).unwrap().owner,
            Some(OwnerFilter::Unowned)
        ));
        for (pairs, parameter) in [
            (vec![("status", "running")], "status"),
            (vec![("owner", "")], "owner"),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "1001")], "limit"),
            (vec![("newerThan", "yesterday")], "newerThan"),
            (vec![("sort", "asc")], "sort"),
            (vec![("tool", "a"), ("tool", "b")], "tool"),
        ] {
            let e = TaskQuery::from_pairs(pairs).unwrap_err();
            assert_eq!(e.parameter, parameter);
            assert!(e
                .to_string()
                .starts_with(&format!("parameter {parameter}: ")));
        }
    }

    #[test]
    fn a_purge_names_exactly_one_cutoff() {
        let now = Timestamp::from_second(10 * 86_400).unwrap();
        let by_age = PurgeRequest {
            older_than: Some("7d".into()),
            ..PurgeRequest::default()
        };
        assert_eq!(
            by_age.cutoff(now).unwrap(),
            Timestamp::from_second(3 * 86_400).unwrap()
        );
        let by_time = PurgeRequest {
            finished_before: Some("2026-01-31T00:00:00Z".into()),
            ..PurgeRequest::default()
        };
        assert_eq!(
            by_time.cutoff(now).unwrap(),
            "2026-01-31T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            PurgeRequest::default().cutoff(now).unwrap_err().parameter,
            "finishedBefore"
        );
        let both = PurgeRequest {
            finished_before: by_time.finished_before,
            older_than: by_age.older_than,
        };
        assert_eq!(both.cutoff(now).unwrap_err().parameter, "olderThan");
        let bad = PurgeRequest {
            finished_before: Some("yesterday".into()),
            ..PurgeRequest::default()
        };
        assert_eq!(bad.cutoff(now).unwrap_err().parameter, "finishedBefore");
    }
}
