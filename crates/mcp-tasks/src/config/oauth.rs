//! `--oauth-*` and `[oauth]`: the HTTP endpoint as an OAuth 2.1 resource server.
//!
//! Flags win over the file's keys one by one, as everywhere else. What makes no sense together
//! is refused before anything listens (exit status 2): OAuth and the static tokens file at
//! once, OAuth without `--http`, an issuer or key URL in plain http off loopback (a token
//! checked against keys fetched in the clear proves nothing), a resource URL that cannot be
//! derived unambiguously, or introspection without its client credentials.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use mcp_tasks_runtime::transport::http::{IntrospectionConfig, JwksSource, OAuth, OAuthConfig};
use serde::Deserialize;

use crate::cli::OAuthArgs;

/// The largest client secret file read.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// `[oauth]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct OAuthSection {
    issuer: Option<String>,
    audience: Option<String>,
    jwks: Option<String>,
    required_scopes: Option<Vec<String>>,
    subject_claim: Option<String>,
    introspection: Option<String>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
}

/// The resource server the flags and `[oauth]` describe, or `None` when neither sets an issuer.
///
/// `http` is where the endpoint listens; `static_tokens` whether a tokens file is set too.
pub(super) fn resolve(
    args: &OAuthArgs,
    section: OAuthSection,
    http: Option<SocketAddr>,
    static_tokens: bool,
) -> anyhow::Result<Option<Arc<OAuth>>> {
    let issuer = args.oauth_issuer.clone().or(section.issuer);
    let audience = args.oauth_audience.clone().or(section.audience);
    let jwks = args.oauth_jwks.clone().or(section.jwks);
    let scopes = if args.oauth_required_scope.is_empty() {
        section.required_scopes.unwrap_or_default()
    } else {
        args.oauth_required_scope.clone()
    };
    let subject_claim = args.oauth_subject_claim.clone().or(section.subject_claim);
    let introspection = args.oauth_introspection.clone().or(section.introspection);
    let client_id = args.oauth_client_id.clone().or(section.client_id);
    let secret_file = args
        .oauth_client_secret_file
        .clone()
        .or(section.client_secret_file);

    let Some(issuer) = issuer else {
        let any = audience.is_some()
            || jwks.is_some()
            || !scopes.is_empty()
            || subject_claim.is_some()
            || introspection.is_some()
            || client_id.is_some()
            || secret_file.is_some();
        if any {
            anyhow::bail!(
                "the --oauth-* settings (or [oauth] keys) apply to OAuth, which --oauth-issuer \
                 URL (or [oauth] issuer) turns on; add it or drop them"
            );
        }
        return Ok(None);
    };
    if static_tokens {
        anyhow::bail!(
            "--oauth-issuer and --auth-tokens (or [oauth] and [http] auth_tokens) are two ways \
             to authenticate; choose one: OAuth for tokens of an identity provider, the tokens \
             file for a fixed list"
        );
    }
    let Some(addr) = http else {
        anyhow::bail!(
            "--oauth-issuer applies to --http: stdio serving has no tokens to check; serve with \
             --http ADDR (or [http] listen)"
        );
    };
    secure_url("--oauth-issuer", &issuer)?;
    let jwks_url = jwks
        .as_ref()
        .filter(|j| j.starts_with("http://") || j.starts_with("https://"));
    if let Some(url) = jwks_url {
        secure_url("--oauth-jwks", url)?;
    }
    if let Some(url) = &introspection {
        secure_url("--oauth-introspection", url)?;
    }
    let audience = match audience {
        Some(audience) => audience,
        None if addr.ip().is_loopback() && addr.port() != 0 => format!("http://{addr}/mcp"),
        None => anyhow::bail!(
            "--oauth-audience URL is needed: it is this server's resource URL as clients reach \
             it (tokens must be issued for it), and --http {addr} does not say it unambiguously; \
             for example --oauth-audience https://mcp.example.com/mcp"
        ),
    };
    let mut config = OAuthConfig::new(issuer, audience);
    config.required_scopes = scopes;
    if let Some(claim) = subject_claim {
        config.subject_claim = claim;
    }
    config.jwks = match jwks {
        None => None,
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Some(JwksSource::Url(url))
        }
        Some(path) => Some(JwksSource::File(
            std::path::absolute(&path)
                .with_context(|| format!("cannot make the JWKS path {path} absolute"))?,
        )),
    };
    config.introspection = match (introspection, client_id, secret_file) {
        (None, None, None) => None,
        (Some(endpoint), Some(client_id), Some(secret_file)) => Some(IntrospectionConfig {
            endpoint,
            client_id,
            client_secret: read_secret(&secret_file)?,
        }),
        (None, _, _) => anyhow::bail!(
            "--oauth-client-id and --oauth-client-secret-file are the credentials for \
             --oauth-introspection URL, which is not given"
        ),
        (Some(_), _, _) => anyhow::bail!(
            "--oauth-introspection needs this server's client credentials there: \
             --oauth-client-id ID and --oauth-client-secret-file FILE"
        ),
    };
    if config.jwks.is_none() && config.introspection.is_none() {
        anyhow::bail!(
            "OAuth needs a way to check tokens: --oauth-jwks URL|FILE (the issuer's jwks_uri, \
             for JWT access tokens) or --oauth-introspection URL (for opaque ones)"
        );
    }
    let oauth = OAuth::new(config).map_err(|e| anyhow::anyhow!("OAuth: {e}"))?;
    Ok(Some(Arc::new(oauth)))
}

/// Refuses plain http off loopback: keys or answers fetched in the clear could be anyone's.
fn secure_url(flag: &str, url: &str) -> anyhow::Result<()> {
    let parsed =
        reqwest::Url::parse(url).with_context(|| format!("{flag} {url:?} is not a URL"))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => anyhow::bail!(
            "{flag} {url:?} must be an https URL (http only on loopback, for tests): tokens \
             checked against what came in the clear prove nothing"
        ),
    }
}

/// The first line of `path`, trimmed.
fn read_secret(path: &Path) -> anyhow::Result<String> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read the client secret file {}", path.display()))?
        .len();
    if size > MAX_SECRET_FILE_BYTES {
        anyhow::bail!(
            "the client secret file {} has {size} bytes; a secret is one line",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the client secret file {}", path.display()))?;
    let secret = text.lines().next().unwrap_or_default().trim();
    if secret.is_empty() {
        anyhow::bail!(
            "the client secret file {} is empty; put the secret on its first line",
            path.display()
        );
    }
    Ok(secret.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(issuer: &str) -> OAuthArgs {
        OAuthArgs {
            oauth_issuer: Some(issuer.into()),
            oauth_jwks: Some("http://127.0.0.1:1/jwks".into()),
            ..OAuthArgs::default()
        }
    }

    /// The resource URL defaults to the endpoint only where that is unambiguous: a loopback
    /// address with a fixed port.
    #[test]
    fn the_audience_is_derived_from_a_fixed_loopback_address() {
        for (addr, audience) in [
            ("127.0.0.1:8080", "http://127.0.0.1:8080/mcp"),
            ("[::1]:8080", "http://[::1]:8080/mcp"),
        ] {
            let oauth = resolve(
                &args("http://localhost:8400"),
                OAuthSection::default(),
                Some(addr.parse().unwrap()),
                false,
            )
            .unwrap()
            .unwrap();
            assert_eq!(oauth.resource(), audience);
        }
    }

    /// Flags win over `[oauth]` keys one by one.
    #[test]
    fn flags_win_over_the_file() {
        let section: OAuthSection = toml::from_str(
            "issuer = \"https://file.example\"\naudience = \"https://mcp.example/mcp\"\n\
             required_scopes = [\"from-file\"]\n",
        )
        .unwrap();
        let oauth = resolve(
            &args("https://flag.example"),
            section,
            Some("0.0.0.0:8080".parse().unwrap()),
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(oauth.issuer(), "https://flag.example");
        assert_eq!(oauth.resource(), "https://mcp.example/mcp");
        assert_eq!(
            oauth.metadata()["scopes_supported"],
            serde_json::json!(["from-file"])
        );
    }

    #[test]
    fn nothing_set_is_no_oauth() {
        let none = resolve(&OAuthArgs::default(), OAuthSection::default(), None, true).unwrap();
        assert!(none.is_none());
    }
}
