//! TLS to PostgreSQL: libpq's `sslmode` and `sslrootcert`, over rustls.
//!
//! Managed databases refuse plain connections, so an address must be able to ask for TLS, with
//! the words operators already write for libpq (`psql`, every driver built on it):
//!
//! | `sslmode` | encrypts | checks the certificate |
//! | --- | --- | --- |
//! | `disable` | never | - |
//! | `prefer` (the default) | when the server offers TLS, else plain | no |
//! | `require` | always, or the connection fails | no (but as `verify-ca` when `sslrootcert` names a file, as libpq does) |
//! | `verify-ca` | always | chain to a trusted root |
//! | `verify-full` | always | chain to a trusted root, and the host name (or IP address) connected to |
//!
//! `require` protects against a passive eavesdropper only: anyone who can intercept the
//! connection can present a certificate of their own. The trusted roots are the PEM file that
//! `sslrootcert=PATH` names, or, without one (or with `sslrootcert=system`), the public web PKI's
//! roots compiled in from `webpki-roots`: the same set the server's HTTP client trusts, and
//! present in a container with no CA bundle. A database whose certificate comes from a private
//! CA (most managed services) is verified by naming that CA's file.
//!
//! tokio-postgres knows `disable`, `prefer` and `require` and no `sslrootcert`, so
//! [`split`] takes both off the address before tokio-postgres reads the rest, and the
//! certificate checks happen here, in the rustls configuration.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// What an address asks of TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    const WORDS: &'static str = "disable, prefer, require, verify-ca or verify-full";

    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            "allow" => {
                return Err(format!(
                    "sslmode=allow is not supported (it tries plain first); use {}",
                    Self::WORDS
                ))
            }
            other => {
                return Err(format!(
                    "sslmode={other:?} is not a TLS mode; use {}",
                    Self::WORDS
                ))
            }
        })
    }

    /// What tokio-postgres is told: whether to ask for TLS and whether to insist.
    pub(super) fn wire(self) -> SslMode {
        match self {
            Self::Disable => SslMode::Disable,
            Self::Prefer => SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => SslMode::Require,
        }
    }
}

/// Where the trusted roots come from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Roots {
    /// The public web PKI's, from `webpki-roots`.
    Public,
    /// A PEM file's.
    File(PathBuf),
}

/// The TLS parameters of an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Settings {
    pub(super) mode: Mode,
    roots: Option<Roots>,
}

/// Takes `sslmode` and `sslrootcert` off an address (URL or `key=value` form), returning the
/// rest for tokio-postgres and what they asked for. Errors name the parameter and never hold
/// the address.
pub(super) fn split(url: &str) -> Result<(String, Settings), String> {
    let mut mode = None;
    let mut roots = None;
    let mut take = |key: &str, value: &str| -> Result<bool, String> {
        match key {
            "sslmode" => mode = Some(Mode::parse(value)?),
            "sslrootcert" if value.is_empty() => {
                return Err("sslrootcert is empty; name a PEM file of CA certificates".to_owned())
            }
            "sslrootcert" if value == "system" => roots = Some(Roots::Public),
            "sslrootcert" => roots = Some(Roots::File(PathBuf::from(value))),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(&decode(key)?, &decode(value)?)? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for (key, value) in pairs(url)? {
            if !take(&key, &value)? {
                kept.push(format!(
                    "{key}='{}'",
                    value.replace('\\', "\\\\").replace('\'', "\\'")
                ));
            }
        }
        kept.join(" ")
    };
    // libpq: `sslrootcert=system` without an sslmode means verify-full, so naming the system
    // roots never silently means no check.
    let mode = match (mode, &roots) {
        (Some(mode), _) => mode,
        (None, Some(Roots::Public)) => Mode::VerifyFull,
        (None, _) => Mode::Prefer,
    };
    if roots == Some(Roots::Public) && mode != Mode::VerifyFull {
        return Err(
            "sslrootcert=system needs sslmode=verify-full (or no sslmode), as with libpq"
                .to_owned(),
        );
    }
    Ok((rest, Settings { mode, roots }))
}

/// A URL component with its `%XX` escapes undone.
fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "a %-escape in the address's parameters is cut short".to_owned())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the address's parameters are not UTF-8".to_owned())
}

/// The `key=value` form's pairs, read as libpq reads them: values may be `'quoted'`, and a
/// backslash escapes the next character.
fn pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("{key} has no value in the connection string"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => return Err(format!("the value of {key} has no closing quote")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// Makes tokio-postgres's TLS sessions as the [`Settings`] ask.
#[derive(Clone)]
pub(super) struct Tls {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Builds the rustls configuration, reading the `sslrootcert` file if one is named.
    pub(super) fn new(settings: &Settings) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let file = match &settings.roots {
            Some(Roots::File(path)) => Some(path.as_path()),
            _ => None,
        };
        let check = match (settings.mode, file) {
            (Mode::VerifyFull, _) => Check::Full,
            (Mode::VerifyCa, _) | (Mode::Require, Some(_)) => Check::Chain,
            (Mode::Disable | Mode::Prefer | Mode::Require, _) => Check::None,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::None => Arc::new(Unchecked(provider.clone())),
            Check::Chain | Check::Full => {
                let roots = match file {
                    Some(path) => roots_from(path)?,
                    None => RootCertStore {
                        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                    },
                };
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| format!("sslrootcert: {e}"))?;
                if check == Check::Full {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // PostgreSQL 17's direct TLS (sslnegotiation=direct) insists on this ALPN name.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Chain,
    Full,
}

fn roots_from(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("sslrootcert={shown} cannot be read: {}", pem_error(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("sslrootcert={shown} is not a PEM file: {}", pem_error(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "sslrootcert={shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("sslrootcert={shown} holds a certificate rustls refuses: {e}"))?;
    }
    Ok(roots)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the name is not compared.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain first and the name last, so a name error means the chain
        // was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `sslmode=prefer|require`: any certificate, as libpq; the handshake's signatures are still
/// checked, so the session is with whoever holds the presented certificate's key.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl<S> MakeTlsConnect<S> for Tls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    /// Never fails here: tokio-postgres asks for a connector before every connection, with
    /// `""` for a Unix socket, where the server declines TLS and the connection goes on in
    /// plain. A name TLS cannot check fails the handshake, if one is attempted.
    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Connect> {
        Ok(Connect {
            config: self.config.clone(),
            name: ServerName::try_from(domain.to_owned())
                .map_err(|_| format!("{domain:?} is not a host name TLS can check")),
        })
    }
}

/// One connection's handshake.
pub(super) struct Connect {
    config: Arc<ClientConfig>,
    name: Result<ServerName<'static>, String>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = self
                .name
                .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(name, stream)
                .await?;
            Ok(Stream(tls))
        })
    }
}

/// A TLS session to the server.
pub(super) struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> TlsStream for Stream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// None: SCRAM then authenticates without channel binding (`channel_binding=prefer`, the
    /// default, accepts that); `channel_binding=require` is refused by the server's answer.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_come_off_the_address() {
        let (rest, s) = split(
            "postgres://u:p@h/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p@h/db?connect_timeout=3");
        assert_eq!(s.mode, Mode::VerifyFull);
        assert_eq!(s.roots, Some(Roots::File("/tmp/ca.pem".into())));
        let (rest, s) = split("postgres://h/db?sslmode=require").unwrap();
        assert_eq!((rest.as_str(), s.mode), ("postgres://h/db", Mode::Require));
        let (rest, s) = split("postgres://h/db").unwrap();
        assert_eq!(
            (rest.as_str(), s.mode, s.roots),
            ("postgres://h/db", Mode::Prefer, None)
        );
        let (rest, s) =
            split("host=h user=u password='a b\\'c' sslmode = verify-ca sslrootcert='/x y/ca.pem'")
                .unwrap();
        assert_eq!(rest, "host='h' user='u' password='a b\\'c'");
        assert_eq!(s.mode, Mode::VerifyCa);
        assert_eq!(s.roots, Some(Roots::File("/x y/ca.pem".into())));
        let (_, s) = split("postgres://h/db?sslrootcert=system").unwrap();
        assert_eq!(s.mode, Mode::VerifyFull);
        assert_eq!(s.roots, Some(Roots::Public));
    }

    #[test]
    fn bad_tls_parameters_are_named() {
        for (url, words) in [
            (
                "postgres://h/db?sslmode=verify",
                "sslmode=\"verify\" is not a TLS mode",
            ),
            (
                "postgres://h/db?sslmode=allow",
                "sslmode=allow is not supported",
            ),
            ("postgres://h/db?sslrootcert=", "sslrootcert is empty"),
            (
                "postgres://h/db?sslmode=require&sslrootcert=system",
                "sslrootcert=system needs sslmode=verify-full",
            ),
            ("host=h sslmode", "sslmode has no value"),
            ("host='h", "no closing quote"),
            ("postgres://h/db?sslrootcert=%2", "cut short"),
        ] {
            let err = split(url).unwrap_err();
            assert!(err.contains(words), "{url}: {err}");
        }
    }

    #[test]
    fn a_missing_or_empty_root_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let settings = |path: &Path| Settings {
            mode: Mode::VerifyFull,
            roots: Some(Roots::File(path.to_owned())),
        };
        let err = Tls::new(&settings(&missing)).unwrap_err();
        assert!(
            err.starts_with("sslrootcert=") && err.contains("cannot be read"),
            "{err}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = Tls::new(&settings(&empty)).unwrap_err();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        // The public roots need no file.
        Tls::new(&Settings {
            mode: Mode::VerifyFull,
            roots: None,
        })
        .unwrap();
    }
}
