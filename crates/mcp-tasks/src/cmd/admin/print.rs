//! `mcp-tasks admin`'s text output, read from the admin API's JSON documents (which `--json`
//! prints as they are): a table of tasks, one task with its timeline, the health overview.
//!
//! Each function returns lines, so the layout is tested without a terminal; [`out`] writes them.
//!
//! Every text in those documents comes from a task's owner or a store (a status message, a
//! question, a failure, a tool name), so it may hold control characters or escape sequences
//! that would recolour, hide or retitle the operator's terminal. [`safe`] makes them visible;
//! [`clip`] and [`columns`] apply it to every cell, and [`out`] to every line, so no text
//! reaches the terminal without it. `--json` ([`json`]) stays exact JSON, with the same
//! characters as JSON escapes.

use std::fmt::Write as _;
use std::io::Write as _;

use jiff::Timestamp;
use serde_json::Value;

use super::exit::AdminFailure;

/// Writes `lines` on stdout, each made [`safe`].
pub(super) fn out(lines: &[String]) -> Result<(), AdminFailure> {
    let lines: Vec<String> = lines.iter().map(|line| safe(line)).collect();
    write_lines(&lines)
}

/// Prints a JSON document, pretty, with the characters [`safe`] escapes written as JSON
/// escapes (`\u202e`): the same document for a parser, nothing a terminal acts on.
pub(super) fn json(value: &Value) -> Result<(), AdminFailure> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    write_lines(&[json_safe(&text)])
}

fn write_lines(lines: &[String]) -> Result<(), AdminFailure> {
    let mut stdout = std::io::stdout().lock();
    lines
        .iter()
        .try_for_each(|line| writeln!(stdout, "{line}"))
        .and_then(|()| stdout.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => AdminFailure::stdout_closed(),
            _ => AdminFailure::unreachable(format!("cannot write to stdout: {e}")),
        })
}

/// Whether a terminal might act on `c` rather than show it: control characters (C0, DEL,
/// C1; ESC starts every escape sequence), and the bidirectional marks, embeddings, overrides
/// and isolates, which reorder what follows them on the line.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every character a terminal might act on written as a visible escape, `\u{1b}`.
/// Applying it twice changes nothing more.
pub(super) fn safe(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe(c) {
            let _ = write!(shown, "\\u{{{:x}}}", u32::from(c));
        } else {
            shown.push(c);
        }
    }
    shown
}

/// Serialized JSON with the unsafe characters serde leaves as they are (DEL, C1, the
/// bidirectional controls) written as `\uXXXX`. They can only stand inside strings, where
/// that escape means the same character; serde already escapes C0 there, so a raw newline is
/// the pretty layout's and stays.
fn json_safe(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe(c) && c > '\u{1f}' {
            let _ = write!(shown, "\\u{:04x}", u32::from(c));
        } else {
            shown.push(c);
        }
    }
    shown
}

/// The widest a tool name is shown in the table.
const TOOL_WIDTH: usize = 24;
/// The widest an owner is shown in the table.
const OWNER_WIDTH: usize = 16;
/// The widest a statusMessage is shown in the table.
const MESSAGE_WIDTH: usize = 60;
/// The widest a value (a question, an answer, a result) is shown in the timeline.
const VALUE_WIDTH: usize = 120;

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// `text` on one line, [`safe`], at most `width` characters: whitespace runs become one
/// space, and a longer text ends with `…`.
pub(super) fn clip(text: &str, width: usize) -> String {
    let line = safe(&text.split_whitespace().collect::<Vec<_>>().join(" "));
    if line.chars().count() <= width {
        return line;
    }
    let mut clipped: String = line.chars().take(width.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// A JSON value on one line, clipped.
fn compact(value: &Value, width: usize) -> String {
    clip(&value.to_string(), width)
}

/// How long ago `at` was, in its largest whole unit: `42s`, `5m`, `3h`, `2d`.
pub(super) fn age(at: &str, now: Timestamp) -> String {
    let Ok(at) = at.parse::<Timestamp>() else {
        return "?".to_owned();
    };
    let secs = now.duration_since(at).as_secs().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// Milliseconds in the largest unit that divides them: `1h`, `90s`, `250ms`.
fn millis(ms: u64) -> String {
    match ms {
        0 => "0s".to_owned(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// A timestamp for people: `2026-12-05 04:50:00.123` (UTC), or the text as it came.
fn time(at: &str) -> String {
    match at.parse::<Timestamp>() {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        Err(_) => at.to_owned(),
    }
}

/// Lines of columns, each padded to its widest cell; the last column is not padded. Each
/// cell is made [`safe`] before it is measured.
fn columns(rows: &[Vec<String>]) -> Vec<String> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| safe(cell)).collect())
        .collect();
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// The owner as shown: `-` for a task without one.
fn owner(task: &Value) -> String {
    str_of(task, "owner").unwrap_or("-").to_owned()
}

/// The task list: a header and one row per task (TaskSummary), newest first as given.
pub(super) fn table(tasks: &[Value], now: Timestamp) -> Vec<String> {
    let mut rows = vec![["ID", "STATUS", "TOOL", "OWNER", "AGE", "MESSAGE"]
        .map(str::to_owned)
        .to_vec()];
    for task in tasks {
        rows.push(vec![
            str_of(task, "taskId").unwrap_or("?").to_owned(),
            str_of(task, "status").unwrap_or("?").to_owned(),
            clip(str_of(task, "tool").unwrap_or("-"), TOOL_WIDTH),
            clip(&owner(task), OWNER_WIDTH),
            str_of(task, "createdAt").map_or_else(|| "?".to_owned(), |at| age(at, now)),
            clip(str_of(task, "statusMessage").unwrap_or(""), MESSAGE_WIDTH),
        ]);
    }
    columns(&rows)
}

/// One task (the `/api/tasks/{id}` document): its fields, its questions, its outcome, and
/// the timeline of its history.
pub(super) fn task(detail: &Value, now: Timestamp) -> Vec<String> {
    let empty = Value::Null;
    let task = detail.get("task").unwrap_or(&empty);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |name: &str, value: String| rows.push(vec![name.to_owned(), value]);
    row("task", str_of(task, "taskId").unwrap_or("?").to_owned());
    let mut status = str_of(task, "status").unwrap_or("?").to_owned();
    if let Some(message) = str_of(task, "statusMessage") {
        status.push_str(&format!(": {}", clip(message, VALUE_WIDTH)));
    }
    row("status", status);
    let kind = str_of(task, "kind").unwrap_or("?");
    row(
        "request",
        match str_of(task, "tool") {
            Some(tool) => format!("{kind} {tool}"),
            None => kind.to_owned(),
        },
    );
    row("owner", owner(task));
    if let Some(session) = str_of(task, "session") {
        row("session", session.to_owned());
    }
    if let Some(runner) = str_of(task, "runner") {
        row("runner", runner.to_owned());
    }
    for (name, key) in [("created", "createdAt"), ("updated", "lastUpdatedAt")] {
        if let Some(at) = str_of(task, key) {
            row(name, format!("{} ({} ago)", time(at), age(at, now)));
        }
    }
    match (
        str_of(task, "expiresAt"),
        task.get("ttlMs").and_then(Value::as_u64),
    ) {
        (Some(at), Some(ttl)) => row("expires", format!("{} (ttl {})", time(at), millis(ttl))),
        (Some(at), None) => row("expires", time(at)),
        (None, _) => row("expires", "never".to_owned()),
    }
    if let Some(params) = task.get("params") {
        row("params", compact(params, VALUE_WIDTH));
    }
    if let Some(result) = task.get("result") {
        row("result", compact(result, VALUE_WIDTH));
    }
    if let Some(error) = task.get("error") {
        row("error", compact(error, VALUE_WIDTH));
    }
    let inputs = task.get("inputs").and_then(Value::as_array);
    for input in inputs.into_iter().flatten() {
        let asked = asked(
            str_of(input, "method").unwrap_or("?"),
            input.get("params").unwrap_or(&empty),
        );
        let answer = input
            .get("response")
            .map_or_else(|| "not answered".to_owned(), answered);
        row(
            "input",
            format!("{} {asked}; {answer}", str_of(input, "key").unwrap_or("?")),
        );
    }
    let mut lines = columns(&rows);
    lines.push(String::new());
    lines.push("history:".to_owned());
    let history = detail.get("history").and_then(Value::as_array);
    lines.extend(
        timeline(history.map_or(&[][..], Vec::as_slice))
            .into_iter()
            .map(|line| format!("  {line}")),
    );
    if detail.get("historyMore").and_then(Value::as_bool) == Some(true) {
        let last = history
            .and_then(|h| h.last())
            .and_then(|e| e.get("seq"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        lines.push(format!(
            "  (more events follow; the admin API gives them with \
             GET /api/tasks/{}?after={last})",
            safe(str_of(task, "taskId").unwrap_or("ID"))
        ));
    }
    lines
}

/// The history as a timeline: time, status after the event, what happened.
pub(super) fn timeline(history: &[Value]) -> Vec<String> {
    let rows: Vec<Vec<String>> = history
        .iter()
        .map(|event| {
            vec![
                str_of(event, "at").map_or_else(|| "?".to_owned(), time),
                str_of(event, "status").unwrap_or("?").to_owned(),
                event_words(event),
            ]
        })
        .collect();
    if rows.is_empty() {
        return vec!["(no events)".to_owned()];
    }
    columns(&rows)
}

/// A number as people write it: `3`, not `3.0`.
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

/// What one history event says, in a few words.
pub(super) fn event_words(event: &Value) -> String {
    let message = str_of(event, "statusMessage");
    let with_message = |words: String| match message {
        Some(m) => format!("{words}: {}", clip(m, VALUE_WIDTH)),
        None => words,
    };
    let by = |words: &str| match str_of(event, "by") {
        Some(by) => format!("{words} by {by}"),
        None => words.to_owned(),
    };
    match str_of(event, "type").unwrap_or("?") {
        "created" => {
            let mut words = format!("created: {}", str_of(event, "kind").unwrap_or("?"));
            if let Some(tool) = str_of(event, "tool") {
                words.push_str(&format!(" {tool}"));
            }
            if let Some(owner) = str_of(event, "owner") {
                words.push_str(&format!(", owner {owner}"));
            }
            words
        }
        "message" => format!("message: {}", clip(message.unwrap_or(""), VALUE_WIDTH)),
        "inputRequested" => asked(
            str_of(event, "method").unwrap_or("?"),
            event.get("params").unwrap_or(&Value::Null),
        ),
        "inputAnswered" => answered(event.get("response").unwrap_or(&Value::Null)),
        "progress" => {
            let mut words = "progress ".to_owned();
            words.push_str(
                &event
                    .get("progress")
                    .and_then(Value::as_f64)
                    .map_or_else(|| "?".to_owned(), number),
            );
            if let Some(total) = event.get("total").and_then(Value::as_f64) {
                words.push_str(&format!("/{}", number(total)));
            }
            if let Some(m) = str_of(event, "message") {
                words.push_str(&format!(": {}", clip(m, VALUE_WIDTH)));
            }
            words
        }
        "completed" => "completed".to_owned(),
        "failed" => format!(
            "failed: {}",
            event.get("error").map_or_else(String::new, failure)
        ),
        "cancelled" => with_message(by("cancelled")),
        "recovered" => with_message(
            if event.get("rerun").and_then(Value::as_bool) == Some(true) {
                "recovered after a restart, running again".to_owned()
            } else {
                "recovered after a restart".to_owned()
            },
        ),
        "resultRetrieved" => by("result retrieved"),
        other => with_message(other.to_owned()),
    }
}

/// A question: `asked elicitation/create: What is your name?`.
fn asked(method: &str, params: &Value) -> String {
    // An elicitation's message; a sampling request's last message's text.
    let text = str_of(params, "message").map(str::to_owned).or_else(|| {
        params
            .get("messages")?
            .as_array()?
            .last()?
            .get("content")
            .and_then(|c| str_of(c, "text"))
            .map(str::to_owned)
    });
    match text {
        Some(text) => format!("asked {method}: {}", clip(&text, VALUE_WIDTH)),
        None => format!("asked {method}: {}", compact(params, VALUE_WIDTH)),
    }
}

/// An answer: `answered: accept {"name":"Ada"}`, `answered: decline`, a sampling answer's
/// text, or the error the client answered with. The mailbox keeps the JSON-RPC outcome,
/// `{"result":…}` or `{"error":…}`.
fn answered(response: &Value) -> String {
    if let Some(error) = response.get("error") {
        return format!("answered with an error: {}", failure(error));
    }
    let result = response.get("result").unwrap_or(response);
    if let Some(action) = str_of(result, "action") {
        return match result.get("content") {
            Some(content) => format!("answered: {action} {}", compact(content, VALUE_WIDTH)),
            None => format!("answered: {action}"),
        };
    }
    match result.get("content").and_then(|c| str_of(c, "text")) {
        Some(text) => format!("answered: {}", clip(text, VALUE_WIDTH)),
        None => format!("answered: {}", compact(result, VALUE_WIDTH)),
    }
}

/// A failure: a JSON-RPC error's message, or the text of an `isError` result.
fn failure(error: &Value) -> String {
    if let Some(message) = str_of(error, "message") {
        return match error.get("code").and_then(Value::as_i64) {
            Some(code) => format!("{} ({code})", clip(message, VALUE_WIDTH)),
            None => clip(message, VALUE_WIDTH),
        };
    }
    let text = error
        .get("content")
        .and_then(Value::as_array)
        .and_then(|blocks| blocks.iter().find_map(|b| str_of(b, "text")));
    match text {
        Some(text) => clip(text, VALUE_WIDTH),
        None => compact(error, VALUE_WIDTH),
    }
}

/// The statuses in the order a task goes through them.
const STATUSES: [&str; 5] = [
    "working",
    "input_required",
    "completed",
    "failed",
    "cancelled",
];

/// The health overview (`/api/overview`, or the store's part of it with `--store`).
pub(super) fn overview(doc: &Value, now: Timestamp) -> Vec<String> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |name: &str, value: String| rows.push(vec![name.to_owned(), value]);
    if let Some(server) = doc.get("server").filter(|s| s.is_object()) {
        let mut words = format!(
            "{} {} ({})",
            str_of(server, "name").unwrap_or("?"),
            str_of(server, "version").unwrap_or("?"),
            str_of(server, "role").unwrap_or("?")
        );
        if let Some(runner) = str_of(server, "runner") {
            words.push_str(&format!(", runner {runner}"));
        }
        if let Some(at) = str_of(server, "startedAt") {
            words.push_str(&format!(", up {}", age(at, now)));
        }
        row("server", words);
    }
    let store = doc
        .get("server")
        .and_then(|s| str_of(s, "store"))
        .or_else(|| str_of(doc, "store"));
    if let Some(store) = store {
        let shared = doc
            .get("server")
            .and_then(|s| s.get("shared"))
            .and_then(Value::as_bool);
        row(
            "store",
            match shared {
                Some(true) => format!("{store} (shared)"),
                _ => store.to_owned(),
            },
        );
    }
    if let Some(ready) = doc.get("ready") {
        let mut words = str_of(ready, "status").unwrap_or("?").to_owned();
        if let Some(checks) = ready.get("checks").and_then(Value::as_object) {
            // The store first: it is what every other check depends on.
            let mut checks: Vec<(&String, &Value)> = checks.iter().collect();
            checks.sort_by_key(|(name, _)| *name != "store");
            let checks: Vec<String> = checks
                .into_iter()
                .map(|(name, v)| match v.as_str() {
                    Some(text) => format!("{name} {text}"),
                    None => format!("{name} {v}"),
                })
                .collect();
            words.push_str(&format!(": {}", checks.join(", ")));
        }
        row("ready", words);
    }
    let counts = doc.get("counts");
    if let Some(why) = str_of(doc, "countsError") {
        row("tasks", format!("unknown: {}", clip(why, VALUE_WIDTH)));
    } else if let Some(by_status) = counts.and_then(|c| c.get("byStatus")) {
        let words: Vec<String> = STATUSES
            .iter()
            .map(|s| {
                format!(
                    "{s} {}",
                    by_status.get(*s).and_then(Value::as_u64).unwrap_or(0)
                )
            })
            .collect();
        row("tasks", words.join(", "));
    }
    let live: Vec<String> = ["sessions", "openStreams", "waiters", "running"]
        .iter()
        .filter_map(|key| Some(format!("{} {}", words_of(key), doc.get(*key)?.as_u64()?)))
        .collect();
    if !live.is_empty() {
        row("now", live.join(", "));
    }
    if let Some(limits) = doc.get("limits").and_then(Value::as_object) {
        let words: Vec<String> = limits.iter().map(|(key, v)| limit(key, v)).collect();
        row("limits", words.join("; "));
    }
    if let Some(upstream) = doc.get("upstream").filter(|u| u.is_object()) {
        let mut words = format!(
            "{}, {} restarts",
            str_of(upstream, "state").unwrap_or("?"),
            upstream
                .get("restarts")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        );
        if let Some(error) = str_of(upstream, "lastError") {
            words.push_str(&format!(", last error: {}", clip(error, VALUE_WIDTH)));
        }
        row("upstream", words);
    }
    let mut lines = columns(&rows);
    let owners = counts
        .and_then(|c| c.get("byOwner"))
        .and_then(Value::as_array)
        .filter(|o| !o.is_empty());
    if let Some(owners) = owners {
        lines.push(String::new());
        let mut table = vec![std::iter::once("OWNER")
            .chain(STATUSES)
            .chain(["total"])
            .map(str::to_uppercase)
            .collect::<Vec<_>>()];
        for entry in owners {
            let mut cells = vec![clip(str_of(entry, "owner").unwrap_or("-"), OWNER_WIDTH)];
            cells.extend(STATUSES.iter().chain(&["total"]).map(|s| {
                entry
                    .get(*s)
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .to_string()
            }));
            table.push(cells);
        }
        lines.extend(columns(&table));
        if counts
            .and_then(|c| c.get("byOwnerMore"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            lines.push(format!(
                "(more owners have tasks: these are the {} with the most)",
                owners.len()
            ));
        }
    }
    lines
}

/// One of the overview's limits, for people: `default ttl 1h`, `max sessions unlimited`.
fn limit(key: &str, value: &Value) -> String {
    let shown = match value {
        Value::Null if key == "maxSessions" => "none (not serving HTTP)".to_owned(),
        Value::Null => "unlimited".to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (key.strip_suffix("Ms"), n.as_u64()) {
            (Some(_), Some(ms)) => millis(ms),
            _ => n.to_string(),
        },
        other => other.to_string(),
    };
    let name = match key {
        "maxActivePerRequestor" => "unfinished tasks per requestor",
        "maxResultBytes" => "result bytes",
        other => other.strip_suffix("Ms").unwrap_or(other),
    };
    format!("{} {shown}", words_of(name))
}

/// A camelCase key as words: `maxActivePerRequestor` → `max active per requestor`.
fn words_of(key: &str) -> String {
    let mut words = String::new();
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            words.push(' ');
            words.push(c.to_ascii_lowercase());
        } else {
            words.push(c);
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-12-05T05:00:00Z".parse().unwrap()
    }

    #[test]
    fn clip_keeps_one_line_and_marks_what_it_cut() {
        assert_eq!(clip("a\n  b\tc", 10), "a b c");
        assert_eq!(clip("abcdefghij", 10), "abcdefghij");
        assert_eq!(clip("abcdefghijk", 10), "abcdefghi…");
        assert_eq!(clip("ééééé", 3), "éé…");
    }

    #[test]
    fn ages_use_the_largest_whole_unit() {
        for (at, want) in [
            ("2026-12-05T04:59:18Z", "42s"),
            ("2026-12-05T04:55:00Z", "5m"),
            ("2026-12-05T01:59:00Z", "3h"),
            ("2026-12-03T04:00:00Z", "2d"),
            ("2026-12-05T05:00:03Z", "0s"),
            ("garbage", "?"),
        ] {
            assert_eq!(age(at, now()), want, "{at}");
        }
    }

    #[test]
    fn the_table_aligns_columns_and_clips_long_cells() {
        let long = "x".repeat(100);
        let tasks = [
            json!({"taskId":"t-1","status":"working","tool":"slow_echo","owner":"alice",
                   "createdAt":"2026-12-05T04:55:00Z","statusMessage":"step 1\nof 3"}),
            json!({"taskId":"t-22","status":"input_required","tool":null,"owner":null,
                   "createdAt":"2026-12-05T04:59:59Z","statusMessage":long}),
        ];
        let lines = table(&tasks, now());
        assert_eq!(
            lines[0],
            "ID    STATUS          TOOL       OWNER  AGE  MESSAGE"
        );
        assert_eq!(
            lines[1],
            "t-1   working         slow_echo  alice  5m   step 1 of 3"
        );
        assert!(lines[2].starts_with("t-22  input_required  -          -      1s   xxx"));
        assert!(lines[2].ends_with('…'), "{}", lines[2]);
        assert_eq!(
            lines[2].chars().count(),
            lines[1].len() - 11 + MESSAGE_WIDTH
        );
    }

    #[test]
    fn events_read_as_words() {
        for (event, want) in [
            (
                json!({"type":"created","kind":"tools/call","tool":"ask_name","owner":"alice"}),
                "created: tools/call ask_name, owner alice",
            ),
            (
                json!({"type":"inputRequested","key":"q1","method":"elicitation/create",
                       "params":{"message":"What is your name?","requestedSchema":{}}}),
                "asked elicitation/create: What is your name?",
            ),
            (
                json!({"type":"inputAnswered","key":"q1",
                       "response":{"result":{"action":"accept","content":{"name":"Ada"}}}}),
                r#"answered: accept {"name":"Ada"}"#,
            ),
            (
                json!({"type":"inputAnswered","key":"q1",
                       "response":{"error":{"code":-32600,"message":"no elicitation here"}}}),
                "answered with an error: no elicitation here (-32600)",
            ),
            (
                json!({"type":"inputAnswered","key":"q1","response":{"result":{"action":"decline"}}}),
                "answered: decline",
            ),
            (
                json!({"type":"progress","progress":3.0,"total":10.0,"message":"step 3"}),
                "progress 3/10: step 3",
            ),
            (json!({"type":"progress","progress":0.5}), "progress 0.5"),
            (
                json!({"type":"message","statusMessage":"halfway"}),
                "message: halfway",
            ),
            (json!({"type":"completed"}), "completed"),
            (
                json!({"type":"failed","error":{"code":-32603,"message":"boom"}}),
                "failed: boom (-32603)",
            ),
            (
                json!({"type":"failed","error":{"isError":true,"content":[{"type":"text","text":"bad input"}]}}),
                "failed: bad input",
            ),
            (
                json!({"type":"cancelled","by":"admin","statusMessage":"runaway"}),
                "cancelled by admin: runaway",
            ),
            (json!({"type":"cancelled"}), "cancelled"),
            (
                json!({"type":"recovered","rerun":true,"statusMessage":"restarted"}),
                "recovered after a restart, running again: restarted",
            ),
            (
                json!({"type":"resultRetrieved","by":"owner:alice"}),
                "result retrieved by owner:alice",
            ),
            (
                json!({"type":"inputRequested","key":"s","method":"sampling/createMessage",
                       "params":{"messages":[{"role":"user","content":{"type":"text","text":"Hi?"}}]}}),
                "asked sampling/createMessage: Hi?",
            ),
            (
                json!({"type":"inputAnswered","key":"s",
                       "response":{"result":{"role":"assistant","content":{"type":"text","text":"Hello"}}}}),
                "answered: Hello",
            ),
        ] {
            assert_eq!(event_words(&event), want, "{event}");
        }
    }

    #[test]
    fn a_task_shows_its_fields_then_its_timeline() {
        let detail = json!({
            "task": {"taskId":"t-1","status":"completed","owner":null,"session":"s-1",
                     "tool":"ask_name","kind":"tools/call","createdAt":"2026-12-05T04:50:00Z",
                     "lastUpdatedAt":"2026-12-05T04:51:00Z","ttlMs":null,"pendingInputs":0,
                     "params":{"name":"ask_name","arguments":{}},
                     "result":{"content":[{"type":"text","text":"Hello, Ada"}]},
                     "inputs":[{"key":"q1","method":"elicitation/create",
                                "params":{"message":"Name?"},
                                "response":{"action":"accept","content":{"name":"Ada"}}}]},
            "history": [
                {"seq":1,"at":"2026-12-05T04:50:00.000Z","status":"working","type":"created",
                 "kind":"tools/call","tool":"ask_name"},
                {"seq":2,"at":"2026-12-05T04:50:01.250Z","status":"input_required",
                 "type":"inputRequested","key":"q1","method":"elicitation/create",
                 "params":{"message":"Name?"}},
                {"seq":3,"at":"2026-12-05T04:51:00.000Z","status":"completed","type":"completed"}
            ]
        });
        let lines = task(&detail, now());
        let text = lines.join("\n");
        assert!(lines[0].starts_with("task     t-1"), "{text}");
        assert!(text.contains("request  tools/call ask_name"), "{text}");
        assert!(text.contains("owner    -"), "{text}");
        assert!(
            text.contains("created  2026-12-05 04:50:00.000 (10m ago)"),
            "{text}"
        );
        assert!(text.contains("expires  never"), "{text}");
        assert!(
            text.contains(
                r#"input    q1 asked elicitation/create: Name?; answered: accept {"name":"Ada"}"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "  2026-12-05 04:50:01.250  input_required  asked elicitation/create: Name?"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("  2026-12-05 04:51:00.000  completed       completed"),
            "{text}"
        );
        let mut longer = detail;
        longer["historyMore"] = json!(true);
        let text = task(&longer, now()).join("\n");
        assert!(
            text.ends_with(
                "  (more events follow; the admin API gives them with GET /api/tasks/t-1?after=3)"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_overview_shows_what_the_document_holds() {
        let doc = json!({
            "server": {"name":"mcp-tasks","version":"0.1.0","role":"serve","runner":"r-1",
                       "startedAt":"2026-12-05T04:00:00Z","store":"sqlite:/x.db","shared":false},
            "ready": {"status":"ready","checks":{"lease":"not shared","store":"ok"}},
            "counts": {"byStatus":{"working":2,"input_required":0,"completed":5,"failed":1,"cancelled":0},
                       "byOwner":[{"owner":"alice","working":2,"input_required":0,"completed":5,
                                   "failed":1,"cancelled":0,"total":8}]},
            "limits": {"maxActivePerRequestor":1000,"rateLimit":null,"defaultTtlMs":3600000,
                       "pollIntervalMs":250,"maxSessions":null},
            "sessions": 3, "openStreams": 1, "waiters": 0, "running": 2, "upstream": null
        });
        let text = overview(&doc, now()).join("\n");
        for want in [
            "server  mcp-tasks 0.1.0 (serve), runner r-1, up 1h",
            "store   sqlite:/x.db",
            "ready   ready: store ok, lease not shared",
            "tasks   working 2, input_required 0, completed 5, failed 1, cancelled 0",
            "now     sessions 3, open streams 1, waiters 0, running 2",
            "limits  unfinished tasks per requestor 1000; rate limit unlimited; default ttl 1h; \
             poll interval 250ms; max sessions none (not serving HTTP)",
            "OWNER  WORKING  INPUT_REQUIRED  COMPLETED  FAILED  CANCELLED  TOTAL",
            "alice  2        0               5          1       0          8",
        ] {
            assert!(text.contains(want), "no {want:?} in\n{text}");
        }
        assert!(!text.contains("upstream"), "{text}");
        let mut more = doc.clone();
        more["counts"]["byOwnerMore"] = json!(true);
        let text = overview(&more, now()).join("\n");
        assert!(
            text.ends_with("(more owners have tasks: these are the 1 with the most)"),
            "{text}"
        );
        let mut down = doc;
        down["countsError"] = json!("the store cannot count its tasks: connection refused");
        let text = overview(&down, now()).join("\n");
        assert!(
            text.contains("tasks   unknown: the store cannot count its tasks: connection refused"),
            "{text}"
        );
    }

    /// The characters of an attack: ESC sequences (colour, OSC title), BEL, DEL, an 8-bit
    /// CSI, a right-to-left override and an isolate.
    const HOSTILE: &str = "a\u{1b}[31mRED\u{1b}]0;title\u{7}b\u{7f}c\u{9b}d\u{202e}e\u{2066}f";

    fn assert_safe(lines: &[String]) {
        for line in lines {
            assert!(!line.chars().any(is_unsafe), "unsafe: {line:?}");
        }
    }

    /// Review-ux 2.1: no text of a task reaches the terminal with a character it acts on; each
    /// shows as a visible escape.
    #[test]
    fn hostile_texts_are_shown_escaped_everywhere() {
        assert_eq!(
            safe(HOSTILE),
            r"a\u{1b}[31mRED\u{1b}]0;title\u{7}b\u{7f}c\u{9b}d\u{202e}e\u{2066}f"
        );
        assert_eq!(safe(&safe(HOSTILE)), safe(HOSTILE));
        assert_eq!(clip("日本語 ok", 10), "日本語 ok");
        let task = json!({
            "taskId": HOSTILE, "status": "failed", "kind": HOSTILE, "tool": HOSTILE,
            "owner": HOSTILE, "session": HOSTILE, "runner": HOSTILE, "statusMessage": HOSTILE,
            "createdAt": HOSTILE, "params": {"x": HOSTILE}, "result": {"y": HOSTILE},
            "error": {"message": HOSTILE},
            "inputs": [{"key": HOSTILE, "method": HOSTILE, "params": {"message": HOSTILE},
                        "response": {"result": {"content": {"text": HOSTILE}}}}],
        });
        let events = json!([
            {"type": "created", "at": HOSTILE, "status": HOSTILE, "kind": HOSTILE,
             "tool": HOSTILE, "owner": HOSTILE},
            {"type": "failed", "error": {"content": [{"type": "text", "text": HOSTILE}]}},
            {"type": "cancelled", "by": HOSTILE, "statusMessage": HOSTILE},
            {"type": HOSTILE, "statusMessage": HOSTILE},
        ]);
        let detail = json!({"task": task, "history": events, "historyMore": true});
        let shown = super::task(&detail, now());
        assert_safe(&shown);
        assert!(shown.join("\n").contains(r"a\u{1b}[31mRED"), "{shown:?}");
        assert_safe(&table(std::slice::from_ref(&task), now()));
        let overview = json!({
            "server": {"name": HOSTILE, "version": HOSTILE, "role": HOSTILE, "runner": HOSTILE,
                       "store": HOSTILE},
            "ready": {"status": HOSTILE, "checks": {HOSTILE: HOSTILE}},
            "countsError": HOSTILE,
            "limits": {HOSTILE: HOSTILE},
            "upstream": {"state": HOSTILE, "lastError": HOSTILE},
            "counts": {"byOwner": [{"owner": HOSTILE}]},
        });
        assert_safe(&super::overview(&overview, now()));
    }

    /// Review-ux 2.1: `--json` stays the same document, with nothing raw a terminal acts on.
    #[test]
    fn json_output_escapes_what_serde_leaves_raw() {
        let doc = json!({"message": HOSTILE, HOSTILE: [HOSTILE]});
        let text = json_safe(&serde_json::to_string_pretty(&doc).unwrap());
        assert!(!text.chars().any(|c| c != '\n' && is_unsafe(c)), "{text:?}");
        assert!(text.contains(r"\u202e"), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), doc);
    }
}
