//! `mcp-tasks gateway`'s own settings: the upstream and the per-tool rules, from flags and the
//! config file's `[gateway]` section, on top of everything `serve` takes.
//!
//! ```toml
//! [gateway]
//! command = ["mcp-server-time", "--local-timezone", "UTC"]   # or: url = "http://…/mcp"
//! call_timeout = "10m"
//!
//! [[gateway.tools]]
//! match = "convert_*"
//! policy = "when-slow(500)"
//! timeout = "30s"
//! idempotent = true
//! ```
//!
//! Rules from flags come before the file's, and the first rule that matches a tool and sets a
//! setting wins, so a flag overrides the file for the tools it names.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use mcp_tasks_runtime::client::Protocol;
use mcp_tasks_runtime::gateway::{
    policy::parse_duration, GatewayConfig, Rules, TaskPolicy, ToolRule, UpstreamSpec,
};
use serde::Deserialize;

use super::ServeSettings;
use crate::cli::{GatewayArgs, ProtocolVersion, UpstreamArgs};

/// The gateway's SQLite file in the platform's data directory, beside `serve`'s.
const DEFAULT_FILE: &str = "gateway.sqlite3";

/// The `[gateway]` section, as written. Every key is optional; an unknown one is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct GatewaySection {
    command: Option<Vec<String>>,
    url: Option<String>,
    token_file: Option<PathBuf>,
    headers: Option<BTreeMap<String, String>>,
    protocol: Option<String>,
    call_timeout: Option<String>,
    tools: Vec<ToolSection>,
}

/// One `[[gateway.tools]]` rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolSection {
    #[serde(rename = "match")]
    glob: String,
    policy: Option<String>,
    timeout: Option<String>,
    idempotent: Option<bool>,
}

/// Everything `mcp-tasks gateway` runs with.
#[derive(Debug)]
pub(crate) struct GatewaySettings {
    /// What it shares with `serve`: store, transport, auth, limits, audit.
    pub(crate) serve: ServeSettings,
    /// The upstream and the rules.
    pub(crate) gateway: GatewayConfig,
    /// The upstream, for people (never a token).
    pub(crate) upstream: String,
}

impl GatewaySettings {
    /// Resolves the flags over the config file over the defaults.
    ///
    /// # Errors
    ///
    /// As [`ServeSettings::resolve`], and: no upstream or two, a bad rule, duration, header or
    /// token file, or a credential for a stdio upstream. All are usage errors (exit status 2).
    pub(crate) fn resolve(args: &GatewayArgs) -> anyhow::Result<Self> {
        // A file of its own: a SQLite file is served by one process, and `serve` may run too.
        let default_store = || {
            mcp_tasks_engine::store::default_sqlite_path()
                .map(|path| path.with_file_name(DEFAULT_FILE))
        };
        let (serve, section) = ServeSettings::resolve_with_gateway(&args.server, default_store)?;
        let upstream = upstream(&args.upstream, &section)?;
        let rules = rules(&args.upstream, &section)?;
        let protocol = match (args.upstream.upstream_protocol, &section.protocol) {
            (Some(ProtocolVersion::V2025_11_25), _) => Some(Protocol::V2025_11_25),
            (Some(ProtocolVersion::V2026_07_28), _) => Some(Protocol::V2026_07_28),
            (None, Some(text)) => Some(match text.as_str() {
                "2025-11-25" => Protocol::V2025_11_25,
                "2026-07-28" => Protocol::V2026_07_28,
                other => anyhow::bail!(
                    "[gateway] protocol = {other:?} in the config file is not a version the \
                     gateway speaks: use \"2025-11-25\" or \"2026-07-28\""
                ),
            }),
            (None, None) => None,
        };
        let mut gateway = GatewayConfig::new(upstream.clone()).rules(rules);
        if let Some(protocol) = protocol {
            gateway = gateway.protocol(protocol);
        }
        Ok(Self {
            serve,
            gateway,
            upstream: upstream.describe(),
        })
    }
}

/// The upstream: a command after `--` or --upstream-url, else the file's `command` or `url`.
fn upstream(args: &UpstreamArgs, section: &GatewaySection) -> anyhow::Result<UpstreamSpec> {
    let flags_name_one = !args.command.is_empty() || args.upstream_url.is_some();
    let (command, url) = if flags_name_one {
        (
            Some(args.command.clone()).filter(|c| !c.is_empty()),
            args.upstream_url.clone(),
        )
    } else {
        (section.command.clone(), section.url.clone())
    };
    // The file's credentials go with the file's upstream: flags that name another upstream
    // do not inherit them.
    let file_credentials = !flags_name_one;
    let token_file = args
        .upstream_token_file
        .as_ref()
        .or(section.token_file.as_ref().filter(|_| file_credentials));
    let mut headers = args
        .upstream_header
        .iter()
        .map(|h| parse_header(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.upstream_header.is_empty() && file_credentials {
        if let Some(file) = &section.headers {
            headers = file.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        }
    }
    match (command, url) {
        (Some(_), Some(_)) => anyhow::bail!(
            "name one upstream: a command after `--` or --upstream-url, not both ([gateway] \
             command or url in the config file)"
        ),
        (None, None) => anyhow::bail!(
            "name the upstream MCP server: a command after `--` (mcp-tasks gateway -- \
             npx -y @modelcontextprotocol/server-everything stdio), or --upstream-url URL, or \
             [gateway] command or url in the config file"
        ),
        (Some(command), None) => {
            if token_file.is_some() || !headers.is_empty() {
                anyhow::bail!(
                    "--upstream-token-file and --upstream-header apply to --upstream-url: a \
                     command spawned over stdio takes no credentials"
                );
            }
            let mut parts = command.into_iter();
            let program = parts
                .next()
                .filter(|p| !p.trim().is_empty())
                .context("[gateway] command in the config file is empty; give the program first")?;
            Ok(UpstreamSpec::Stdio {
                program: program.into(),
                args: parts.map(Into::into).collect(),
                cwd: None,
            })
        }
        (None, Some(url)) => {
            let parsed = http_url(&url)?;
            let bearer_token = match token_file {
                None => None,
                Some(path) => Some(read_token(path)?),
            };
            Ok(UpstreamSpec::Http {
                url: parsed,
                bearer_token,
                headers,
            })
        }
    }
}

/// An http(s) URL, checked before anything is started.
fn http_url(url: &str) -> anyhow::Result<String> {
    let lower = url.trim().to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        anyhow::bail!(
            "--upstream-url {url:?} is not an http:// or https:// URL (the upstream's MCP \
             endpoint, e.g. http://127.0.0.1:3001/mcp)"
        );
    }
    Ok(url.trim().to_owned())
}

fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the upstream token file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        anyhow::bail!("the upstream token file {} is empty", path.display());
    }
    Ok(token.to_owned())
}

/// `Name: value`.
fn parse_header(header: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = header.split_once(':').with_context(|| {
        format!("--upstream-header {header:?} is not `NAME: VALUE` (e.g. 'X-Api-Key: abc')")
    })?;
    if name.trim().is_empty() {
        anyhow::bail!("--upstream-header {header:?} has no header name before the colon");
    }
    Ok((name.trim().to_owned(), value.trim().to_owned()))
}

/// The rules: flags first (policies, timeouts, idempotent globs), then the file's.
fn rules(args: &UpstreamArgs, section: &GatewaySection) -> anyhow::Result<Rules> {
    let mut rules = Vec::new();
    for flag in &args.task_policy {
        rules.push(ToolRule::parse_flag(flag).context("invalid --task-policy")?);
    }
    for flag in &args.tool_timeout {
        let (glob, duration) = flag.split_once('=').with_context(|| {
            format!("--tool-timeout {flag:?} is not GLOB=DURATION (e.g. 'build_*=10m')")
        })?;
        let rule = ToolRule::new(glob.trim()).context("invalid --tool-timeout")?;
        rules.push(rule.timeout(duration_of(duration, "--tool-timeout")?));
    }
    for glob in &args.idempotent {
        rules.push(
            ToolRule::new(glob)
                .context("invalid --idempotent")?
                .idempotent(true),
        );
    }
    for tool in &section.tools {
        let mut rule = ToolRule::new(&tool.glob).context("invalid [[gateway.tools]] match")?;
        if let Some(policy) = &tool.policy {
            rule = rule.policy(
                policy
                    .parse::<TaskPolicy>()
                    .context("invalid [[gateway.tools]] policy")?,
            );
        }
        if let Some(timeout) = &tool.timeout {
            rule = rule.timeout(duration_of(timeout, "[[gateway.tools]] timeout")?);
        }
        if let Some(idempotent) = tool.idempotent {
            rule = rule.idempotent(idempotent);
        }
        rules.push(rule);
    }
    let call_timeout = match (&args.call_timeout, &section.call_timeout) {
        (Some(flag), _) => Some(duration_of(flag, "--call-timeout")?),
        (None, Some(key)) => Some(duration_of(key, "[gateway] call_timeout")?),
        (None, None) => None,
    };
    Ok(Rules::new(rules).default_timeout(call_timeout))
}

fn duration_of(text: &str, what: &str) -> anyhow::Result<std::time::Duration> {
    match parse_duration(text) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => anyhow::bail!(
            "{what} {text:?} is not a duration: a number of milliseconds, or with a unit: \
             500ms, 90s, 10m, 2h"
        ),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(flags: &[&str]) -> GatewayArgs {
        let cli = Cli::try_parse_from(["mcp-tasks", "gateway"].iter().chain(flags))
            .unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        match cli.command {
            Command::Gateway(args) => *args,
            other => panic!("parsed as another command: {other:?}"),
        }
    }

    fn section(text: &str) -> GatewaySection {
        #[derive(Deserialize)]
        struct File {
            gateway: GatewaySection,
        }
        toml::from_str::<File>(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .gateway
    }

    #[test]
    fn the_upstream_is_a_command_or_a_url() {
        let a = args(&["--", "mcp-server-time", "--local-timezone", "UTC"]);
        let spec = upstream(&a.upstream, &GatewaySection::default()).unwrap();
        assert_eq!(spec.describe(), "mcp-server-time --local-timezone UTC");
        let a = args(&[
            "--upstream-url",
            "http://127.0.0.1:3001/mcp",
            "--upstream-header",
            "X-Api-Key: abc",
        ]);
        match upstream(&a.upstream, &GatewaySection::default()).unwrap() {
            UpstreamSpec::Http { url, headers, .. } => {
                assert_eq!(url, "http://127.0.0.1:3001/mcp");
                assert_eq!(headers, [("X-Api-Key".to_owned(), "abc".to_owned())]);
            }
            other @ UpstreamSpec::Stdio { .. } => panic!("{other:?}"),
        }
        let from_file = section("[gateway]\ncommand = [\"srv\", \"--flag\"]\n");
        let spec = upstream(&args(&[]).upstream, &from_file).unwrap();
        assert_eq!(spec.describe(), "srv --flag");
    }

    /// The file's credentials belong to the file's upstream: a command on the command line
    /// does not inherit them (and so is not refused for credentials nobody gave it).
    #[test]
    fn flags_naming_the_upstream_leave_the_files_credentials_behind() {
        let file = section(
            "[gateway]\nurl = \"http://h/mcp\"\ntoken_file = \"/nonexistent\"\n\
             headers = { X-Key = \"v\" }\n",
        );
        let spec = upstream(&args(&["--", "srv"]).upstream, &file).unwrap();
        assert_eq!(spec.describe(), "srv");
    }

    #[test]
    fn a_missing_double_or_misdressed_upstream_is_refused_saying_what_to_do() {
        for (flags, says) in [
            (vec![], "name the upstream MCP server"),
            (
                vec!["--upstream-url", "http://h/mcp", "--", "srv"],
                "not both",
            ),
            (vec!["--upstream-url", "ftp://h/mcp"], "not an http://"),
            (
                vec!["--upstream-header", "X-Key: v", "--", "srv"],
                "apply to --upstream-url",
            ),
            (
                vec![
                    "--upstream-url",
                    "http://h/mcp",
                    "--upstream-header",
                    "nocolon",
                ],
                "NAME: VALUE",
            ),
        ] {
            let e = upstream(&args(&flags).upstream, &GatewaySection::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{flags:?}: {e}");
        }
    }

    #[test]
    fn flag_rules_come_before_the_files() {
        let a = args(&[
            "--task-policy",
            "get_*=never",
            "--tool-timeout",
            "get_time=5s",
            "--idempotent",
            "get_*",
            "--call-timeout",
            "1m",
            "--",
            "srv",
        ]);
        let file = section(
            "[gateway]\n[[gateway.tools]]\nmatch = \"*\"\npolicy = \"when-slow(250)\"\n\
             timeout = \"10m\"\n",
        );
        let rules = rules(&a.upstream, &file).unwrap();
        let time = rules.for_tool("get_time");
        assert_eq!(time.policy, TaskPolicy::Never);
        assert_eq!(time.timeout, Some(std::time::Duration::from_secs(5)));
        assert!(time.idempotent);
        let other = rules.for_tool("convert");
        assert_eq!(
            other.policy,
            TaskPolicy::WhenSlow(std::time::Duration::from_millis(250))
        );
        assert_eq!(other.timeout, Some(std::time::Duration::from_secs(600)));
        assert!(!other.idempotent);
    }

    #[test]
    fn bad_rules_and_durations_name_the_flag() {
        for (flags, says) in [
            (vec!["--task-policy", "x=sometimes"], "--task-policy"),
            (vec!["--tool-timeout", "x"], "GLOB=DURATION"),
            (vec!["--tool-timeout", "x=soon"], "not a duration"),
            (vec!["--call-timeout", "0"], "not a duration"),
        ] {
            let e = format!(
                "{:#}",
                rules(&args(&flags).upstream, &GatewaySection::default()).unwrap_err()
            );
            assert!(e.contains(says), "{flags:?}: {e}");
        }
        let bad = section("[gateway]\n[[gateway.tools]]\nmatch = \"x\"\npolicy = \"maybe\"\n");
        let e = format!("{:#}", rules(&args(&[]).upstream, &bad).unwrap_err());
        assert!(e.contains("[[gateway.tools]] policy"), "{e}");
        let unknown = toml::from_str::<super::super::FileConfig>(
            "[gateway]\n[[gateway.tools]]\nglob = \"x\"\n",
        );
        assert!(unknown.is_err());
    }
}
