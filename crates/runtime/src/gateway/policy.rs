//! Which upstream calls become tasks, how long they may run, and which may run again after a
//! restart: per tool, by glob.
//!
//! ```
//! use std::time::Duration;
//! use mcp_tasks_runtime::gateway::{Rules, TaskPolicy, ToolRule};
//!
//! let rules = Rules::new(vec![
//!     ToolRule::new("build_*").unwrap().policy("always".parse().unwrap()).idempotent(true),
//!     ToolRule::new("get_time").unwrap().policy(TaskPolicy::Never),
//! ]);
//! assert_eq!(rules.for_tool("build_docs").policy, TaskPolicy::Always);
//! assert!(rules.for_tool("build_docs").idempotent);
//! assert_eq!(rules.for_tool("search").policy, TaskPolicy::Optional);
//! assert_eq!(
//!     "when-slow(250ms)".parse::<TaskPolicy>().unwrap(),
//!     TaskPolicy::WhenSlow(Duration::from_millis(250))
//! );
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use globset::{Glob, GlobMatcher};

/// Whether a call of a tool becomes a task.
///
/// In MCP 2025-11-25 the client decides, within what the tool's `execution.taskSupport`
/// allows, so the policy is what `tools/list` shows: `never` is forbidden, `always` required,
/// `optional` and `when-slow` optional. In MCP 2026-07-28 the server decides (X-2): `never` is
/// a plain call, `always` a task at once, `optional` a task when the call outlasts the server's
/// default threshold, `when-slow(MS)` when it outlasts `MS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskPolicy {
    /// Never a task: a plain call, however long.
    Never,
    /// The client may ask for a task (2025-11-25); a task when slow (2026-07-28).
    #[default]
    Optional,
    /// Always a task.
    Always,
    /// Optional, and in 2026-07-28 a task once the call has run this long.
    WhenSlow(Duration),
}

impl fmt::Display for TaskPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Never => f.write_str("never"),
            Self::Optional => f.write_str("optional"),
            Self::Always => f.write_str("always"),
            Self::WhenSlow(after) => write!(f, "when-slow({}ms)", after.as_millis()),
        }
    }
}

/// Why a policy or rule does not parse; the message says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

impl FromStr for TaskPolicy {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || {
            PolicyError(format!(
                "{s:?} is not a task policy: use never, optional, always or when-slow(MS) \
                 (milliseconds, or with a unit: when-slow(2s))"
            ))
        };
        match s {
            "never" => return Ok(Self::Never),
            "optional" => return Ok(Self::Optional),
            "always" => return Ok(Self::Always),
            _ => {}
        }
        let inner = s
            .strip_prefix("when-slow(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(bad)?;
        parse_duration(inner).map(Self::WhenSlow).ok_or_else(bad)
    }
}

/// `500`, `500ms`, `2s`, `1m`: milliseconds unless a unit says otherwise.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => s.split_at(at),
        None => (s, "ms"),
    };
    let n: u64 = number.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

/// What the gateway does with the tools whose names match a glob. Unset fields fall through
/// to the next rule that matches, then to the defaults.
#[derive(Debug, Clone)]
pub struct ToolRule {
    glob: String,
    matcher: GlobMatcher,
    policy: Option<TaskPolicy>,
    timeout: Option<Duration>,
    idempotent: Option<bool>,
}

impl ToolRule {
    /// A rule for the tools whose names match `glob` (`*`, `?`, `[abc]`, `{a,b}`).
    ///
    /// # Errors
    ///
    /// A glob that does not parse.
    pub fn new(glob: &str) -> Result<Self, PolicyError> {
        let matcher = Glob::new(glob)
            .map_err(|e| PolicyError(format!("{glob:?} is not a tool name glob: {e}")))?
            .compile_matcher();
        Ok(Self {
            glob: glob.to_owned(),
            matcher,
            policy: None,
            timeout: None,
            idempotent: None,
        })
    }

    /// Parses `GLOB=POLICY`, the form of the `--task-policy` flag.
    ///
    /// # Errors
    ///
    /// No `=`, a bad glob or a bad policy.
    pub fn parse_flag(flag: &str) -> Result<Self, PolicyError> {
        let (glob, policy) = flag.split_once('=').ok_or_else(|| {
            PolicyError(format!(
                "{flag:?} is not GLOB=POLICY (for example 'build_*=always' or \
                 'search=when-slow(500)')"
            ))
        })?;
        Ok(Self::new(glob.trim())?.policy(policy.parse()?))
    }

    /// The task policy of the matching tools.
    #[must_use]
    pub fn policy(mut self, policy: TaskPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// How long a call may run upstream before the gateway cancels it and fails it.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether a call interrupted by a gateway restart runs again (true) or fails (false).
    #[must_use]
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// The glob, as given.
    pub fn glob(&self) -> &str {
        &self.glob
    }
}

/// What applies to one tool, all rules considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// Whether its calls become tasks.
    pub policy: TaskPolicy,
    /// The upstream call's time limit, if any.
    pub timeout: Option<Duration>,
    /// Whether a call cut by a restart runs again.
    pub idempotent: bool,
}

/// The rules, first match first; [`TaskPolicy::Optional`], no timeout and not idempotent when
/// none says otherwise.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<ToolRule>,
    default_timeout: Option<Duration>,
}

impl Rules {
    /// Rules in the order given: for each setting, the first rule that matches and sets it wins.
    pub fn new(rules: Vec<ToolRule>) -> Self {
        Self {
            rules,
            default_timeout: None,
        }
    }

    /// The time limit of the tools no rule gives one.
    #[must_use]
    pub fn default_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// What applies to `tool`.
    pub fn for_tool(&self, tool: &str) -> Resolved {
        let matching = || self.rules.iter().filter(|r| r.matcher.is_match(tool));
        Resolved {
            policy: matching().find_map(|r| r.policy).unwrap_or_default(),
            timeout: matching().find_map(|r| r.timeout).or(self.default_timeout),
            idempotent: matching().find_map(|r| r.idempotent).unwrap_or(false),
        }
    }

    /// The rules whose glob matched none of `tools`: most likely a typo, worth a warning.
    pub fn unmatched<'a>(&'a self, tools: &'a [String]) -> impl Iterator<Item = &'a str> + 'a {
        self.rules
            .iter()
            .filter(|r| !tools.iter().any(|t| r.matcher.is_match(t)))
            .map(ToolRule::glob)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print() {
        for (text, policy) in [
            ("never", TaskPolicy::Never),
            ("optional", TaskPolicy::Optional),
            (" always ", TaskPolicy::Always),
            (
                "when-slow(500)",
                TaskPolicy::WhenSlow(Duration::from_millis(500)),
            ),
            (
                "when-slow(2s)",
                TaskPolicy::WhenSlow(Duration::from_secs(2)),
            ),
        ] {
            assert_eq!(text.parse::<TaskPolicy>().unwrap(), policy, "{text}");
        }
        assert_eq!(
            TaskPolicy::WhenSlow(Duration::from_secs(2)).to_string(),
            "when-slow(2000ms)"
        );
        for bad in [
            "sometimes",
            "when-slow",
            "when-slow()",
            "when-slow(5 parsecs)",
            "",
        ] {
            let e = bad.parse::<TaskPolicy>().unwrap_err().to_string();
            assert!(
                e.contains("never, optional, always or when-slow(MS)"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn the_first_rule_that_sets_a_field_wins() {
        let rules = Rules::new(vec![
            ToolRule::new("slow_*")
                .unwrap()
                .timeout(Duration::from_secs(5)),
            ToolRule::parse_flag("slow_echo=always").unwrap(),
            ToolRule::new("*")
                .unwrap()
                .policy(TaskPolicy::Never)
                .idempotent(true),
        ])
        .default_timeout(Some(Duration::from_secs(60)));
        let echo = rules.for_tool("slow_echo");
        assert_eq!(echo.policy, TaskPolicy::Always);
        assert_eq!(echo.timeout, Some(Duration::from_secs(5)));
        assert!(echo.idempotent);
        let other = rules.for_tool("get_time");
        assert_eq!(other.policy, TaskPolicy::Never);
        assert_eq!(other.timeout, Some(Duration::from_secs(60)));
        assert_eq!(Rules::default().for_tool("x").policy, TaskPolicy::Optional);
    }

    #[test]
    fn bad_flags_say_what_is_expected_and_typos_are_found() {
        let e = ToolRule::parse_flag("build_*").unwrap_err().to_string();
        assert!(e.contains("GLOB=POLICY"), "{e}");
        assert!(ToolRule::parse_flag("[=always").is_err());
        let rules = Rules::new(vec![
            ToolRule::parse_flag("echo=never").unwrap(),
            ToolRule::parse_flag("ehco=always").unwrap(),
        ]);
        let tools = ["echo".to_owned()];
        assert_eq!(rules.unmatched(&tools).collect::<Vec<_>>(), ["ehco"]);
    }
}
