//! A local OAuth issuer to try `mcp-tasks serve --oauth-*` with (docs/auth.md, "Running behind
//! an identity provider"): the test suite's issuer (`testkit::oauth`), with a key generated at
//! start, its JWKS at `/jwks`, and an access token for each subject named, valid for an hour.
//!
//! ```sh
//! cargo run -p mcp-tasks --example oauth_issuer -- --port 8400 \
//!     --audience http://127.0.0.1:8080/mcp alice bob > issuer.env &
//! ```
//!
//! It prints `NAME=VALUE` lines (`ISSUER`, `JWKS`, then `TOKEN_<subject>`) a shell can source,
//! and serves until interrupted. For trying things out only: it grants tokens to anyone who
//! runs it.

use std::io::Write as _;
use std::net::SocketAddr;

use serde_json::json;
use testkit::oauth::Issuer;

const USAGE: &str = "usage: oauth_issuer [--port PORT] [--scope SCOPE] --audience URL SUBJECT...";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 0u16;
    let mut audience = None;
    let mut scope = "tasks".to_owned();
    let mut subjects = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or(USAGE)?.parse()?,
            "--audience" => audience = Some(args.next().ok_or(USAGE)?),
            "--scope" => scope = args.next().ok_or(USAGE)?,
            "-h" | "--help" => return Err(USAGE.into()),
            _ => subjects.push(arg),
        }
    }
    let audience = audience.ok_or(USAGE)?;
    let issuer = Issuer::start_on(SocketAddr::from(([127, 0, 0, 1], port))).await;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ISSUER={}", issuer.url())?;
    writeln!(out, "JWKS={}", issuer.jwks_url())?;
    for subject in &subjects {
        let mut claims = issuer.claims(subject, &audience);
        claims["exp"] = json!(testkit::oauth::now() + 3600);
        claims["scope"] = json!(scope);
        writeln!(out, "TOKEN_{subject}={}", issuer.sign(&claims))?;
    }
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
