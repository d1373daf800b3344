//! Origin checks against DNS rebinding: a browser page from another origin must not reach a
//! server bound to loopback.

use http::header::ORIGIN;
use http::HeaderMap;

/// Which `Origin` headers are let through.
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// Loopback origins (`localhost`, `127.0.0.1`, `[::1]`, any port) plus these exact
    /// origins, such as `https://app.example.com`.
    pub fn new(allowed: impl IntoIterator<Item = String>) -> Self {
        Self {
            allowed: allowed
                .into_iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether the request may go on. Requests without `Origin` (not from a browser) may.
    ///
    /// # Errors
    ///
    /// The reason, for the 403 answer.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(origin) = headers.get(ORIGIN) else {
            return Ok(());
        };
        let origin = origin
            .to_str()
            .map_err(|_| "the Origin header is not visible ASCII".to_owned())?
            .trim_end_matches('/')
            .to_ascii_lowercase();
        if self.allowed.contains(&origin) {
            return Ok(());
        }
        let uri: http::Uri = origin
            .parse()
            .map_err(|_| format!("the Origin header {origin:?} is not an origin"))?;
        match uri.host() {
            Some("localhost" | "127.0.0.1" | "[::1]") => Ok(()),
            _ => Err(format!(
                "origin {origin:?} is not allowed; start the server with --allowed-origin {origin} to allow it"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_origin(o: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ORIGIN, o.parse().unwrap());
        h
    }

    #[test]
    fn loopback_and_listed_origins_pass_others_fail() {
        let p = OriginPolicy::new(["https://app.example.com".to_owned()]);
        assert!(p.check(&HeaderMap::new()).is_ok());
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "http://[::1]:8080",
            "https://app.example.com/",
        ] {
            assert!(p.check(&with_origin(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "null",
            "http://localhost.evil.example",
            "https://app.example.com.evil",
        ] {
            assert!(p.check(&with_origin(bad)).is_err(), "{bad}");
        }
    }
}
