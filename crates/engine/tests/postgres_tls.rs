//! TLS to PostgreSQL (issue 16 item 1), without reconfiguring the machine's server: each test
//! runs a proxy on loopback that answers PostgreSQL's `SSLRequest` as a TLS server would ('S',
//! then a handshake with a certificate the test made) or as a plain one does ('N'), and relays
//! to the test server in plain. The proxy counts the handshakes it completed, so a test knows
//! the store really spoke TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_tasks_engine::{
    CreateTask, Engine, EngineConfig, Owner, PostgresOptions, PostgresStore, RequestKind,
    Requestor, TaskStatus,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use testkit::postgres::TempDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// PostgreSQL's `SSLRequest`: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A CA, and the PEM file of its certificate, for `sslrootcert`.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem: PathBuf,
    _dir: tempfile::TempDir,
}

impl Ca {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "mcp-tasks test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(&pem, issuer.pem()).unwrap();
        Self {
            issuer,
            pem,
            _dir: dir,
        }
    }

    /// A TLS server configuration whose certificate, signed by this CA, names `names`.
    fn server(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap(),
        )
    }
}

/// How the proxy answers an `SSLRequest`.
#[derive(Clone)]
enum Answer {
    /// 'S', then a TLS handshake with this configuration.
    Tls(Arc<rustls::ServerConfig>),
    /// 'N': no TLS here; the client goes on in plain or gives up.
    Refuse,
}

/// A loopback proxy in front of the test server; stops when dropped.
struct Proxy {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    async fn start(answer: Answer, upstream: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = handshakes.clone();
        let task = tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                relays.spawn(relay(
                    client,
                    answer.clone(),
                    upstream.clone(),
                    counted.clone(),
                ));
            }
        });
        Self {
            addr,
            handshakes,
            task,
        }
    }

    fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

async fn relay(
    mut client: TcpStream,
    answer: Answer,
    upstream: (String, u16),
    handshakes: Arc<AtomicUsize>,
) {
    let mut first = [0u8; 8];
    if client.read_exact(&mut first).await.is_err() {
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    if first != SSL_REQUEST {
        // sslmode=disable: the startup message itself.
        if server.write_all(&first).await.is_ok() {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        return;
    }
    match answer {
        Answer::Refuse => {
            if client.write_all(b"N").await.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        }
        Answer::Tls(config) => {
            if client.write_all(b"S").await.is_err() {
                return;
            }
            let Ok(mut tls) = tokio_rustls::TlsAcceptor::from(config).accept(client).await else {
                return;
            };
            handshakes.fetch_add(1, Ordering::SeqCst);
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
        }
    }
}

/// Where the test database really is, and its user and name.
fn upstream(db: &TempDatabase) -> ((String, u16), String, String) {
    let config: tokio_postgres::Config = db.url().parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres").to_owned();
    let name = config.get_dbname().unwrap_or(&user).to_owned();
    ((host, port), user, name)
}

/// The store's address through the proxy, with a password the server ignores (trust auth) so
/// that messages can be checked for it.
fn through(db: &TempDatabase, host: &str, proxy: &Proxy, params: &str) -> String {
    let (_, user, name) = upstream(db);
    format!(
        "postgres://{user}:hunter2@{host}:{}/{name}?{params}",
        proxy.addr.port()
    )
}

fn quick() -> PostgresOptions {
    PostgresOptions {
        connect_timeout: Duration::from_secs(5),
        ..PostgresOptions::default()
    }
}

/// Opens the store, creates a task and reads it back: the whole path works over this link.
async fn works(url: &str) {
    let store = Arc::new(
        PostgresStore::connect_with(url, quick())
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}")),
    );
    let engine = Engine::new(store, EngineConfig::default());
    let alice = Requestor {
        owner: Some(Owner::new("alice")),
        session: None,
    };
    let task = engine
        .create(CreateTask {
            requestor: alice.clone(),
            kind: RequestKind::ToolsCall,
            name: Some("tls".into()),
            params: json!({"name": "tls", "arguments": {}}),
            ttl_ms: None,
            progress_token: None,
        })
        .await
        .unwrap();
    let read = engine.get(&alice, &task.id).await.unwrap();
    assert_eq!(read.status(), TaskStatus::Working);
}

async fn fails(url: &str) -> String {
    let err = PostgresStore::connect_with(url, quick())
        .await
        .expect_err(url)
        .to_string();
    assert!(!err.contains("hunter2"), "the password shows: {err}");
    err
}

/// verify-full and verify-ca accept a server whose certificate chains to the `sslrootcert` CA
/// and names the host connected to, by name or by IP address; every connection is TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_and_verify_ca_trust_the_named_ca() {
    let db = TempDatabase::create().await;
    let ca = Ca::new();
    let proxy = Proxy::start(
        Answer::Tls(ca.server(&["localhost", "127.0.0.1"])),
        upstream(&db).0,
    )
    .await;
    let root = ca.pem.display();
    for (host, mode) in [
        ("127.0.0.1", "verify-full"),
        ("localhost", "verify-full"),
        ("127.0.0.1", "verify-ca"),
        // libpq: require with a named root file checks the chain, as verify-ca.
        ("127.0.0.1", "require"),
    ] {
        let before = proxy.handshakes();
        works(&through(
            &db,
            host,
            &proxy,
            &format!("sslmode={mode}&sslrootcert={root}"),
        ))
        .await;
        assert!(proxy.handshakes() > before, "{mode} to {host} spoke TLS");
    }
}

/// verify-full refuses a certificate for another name, saying so; verify-ca, which checks only
/// the chain, accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_refuses_a_certificate_for_another_host() {
    let db = TempDatabase::create().await;
    let ca = Ca::new();
    let proxy = Proxy::start(
        Answer::Tls(ca.server(&["db.elsewhere.example"])),
        upstream(&db).0,
    )
    .await;
    let root = ca.pem.display();
    let err = fails(&through(
        &db,
        "127.0.0.1",
        &proxy,
        &format!("sslmode=verify-full&sslrootcert={root}"),
    ))
    .await;
    assert!(err.contains("not valid for name"), "{err}");
    assert!(err.contains("sslmode and sslrootcert"), "{err}");
    works(&through(
        &db,
        "127.0.0.1",
        &proxy,
        &format!("sslmode=verify-ca&sslrootcert={root}"),
    ))
    .await;
}

/// require (and prefer) encrypt without checking the certificate, as libpq: a certificate from
/// an unknown CA is taken. verify-ca and verify-full without `sslrootcert` check against the
/// public roots, which do not know the test CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_encrypts_without_checking_the_certificate() {
    let db = TempDatabase::create().await;
    let ca = Ca::new();
    let proxy = Proxy::start(Answer::Tls(ca.server(&["localhost"])), upstream(&db).0).await;
    for mode in ["require", "prefer"] {
        let before = proxy.handshakes();
        works(&through(
            &db,
            "127.0.0.1",
            &proxy,
            &format!("sslmode={mode}"),
        ))
        .await;
        assert!(proxy.handshakes() > before, "{mode} spoke TLS");
    }
    for mode in ["verify-ca", "verify-full"] {
        let err = fails(&through(
            &db,
            "localhost",
            &proxy,
            &format!("sslmode={mode}"),
        ))
        .await;
        assert!(err.contains("UnknownIssuer"), "{mode}: {err}");
    }
}

/// A server without TLS: require fails and says why; prefer goes on in plain; disable never
/// asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_tls_fails_require_and_serves_prefer_in_plain() {
    let db = TempDatabase::create().await;
    let proxy = Proxy::start(Answer::Refuse, upstream(&db).0).await;
    let err = fails(&through(&db, "127.0.0.1", &proxy, "sslmode=require")).await;
    assert!(err.contains("server does not support TLS"), "{err}");
    works(&through(&db, "127.0.0.1", &proxy, "sslmode=prefer")).await;
    works(&through(&db, "127.0.0.1", &proxy, "sslmode=disable")).await;
    assert_eq!(proxy.handshakes(), 0);
}

/// Bad TLS settings are refused before connecting, naming the parameter, without the password.
#[tokio::test]
async fn bad_tls_settings_name_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-ca.pem");
    for (params, words) in [
        (
            "sslmode=verify_full",
            "sslmode=\"verify_full\" is not a TLS mode",
        ),
        (
            &format!("sslmode=verify-full&sslrootcert={}", missing.display()),
            "sslrootcert=",
        ),
    ] {
        let url = format!("postgres://u:hunter2@127.0.0.1:1/db?{params}");
        let err = PostgresStore::check_url(&url).unwrap_err().to_string();
        assert!(err.contains(words), "{params}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

/// A Unix socket: no host name to check, and a server that declines TLS there, as PostgreSQL
/// does. The default (prefer) goes on in plain, as it did before TLS was supported.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_socket_connects_in_plain_under_prefer() {
    let db = TempDatabase::create().await;
    let (upstream, user, name) = upstream(&db);
    let dir = tempfile::tempdir().unwrap();
    let port = 5999;
    let listener =
        tokio::net::UnixListener::bind(dir.path().join(format!(".s.PGSQL.{port}"))).unwrap();
    let relays = tokio::spawn(async move {
        let mut relays = tokio::task::JoinSet::new();
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            relays.spawn(async move {
                let mut first = [0u8; 8];
                if client.read_exact(&mut first).await.is_err() {
                    return;
                }
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                if first == SSL_REQUEST {
                    if client.write_all(b"N").await.is_err() {
                        return;
                    }
                } else if server.write_all(&first).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    let socket = dir.path().display();
    works(&format!(
        "host={socket} port={port} user={user} dbname={name}"
    ))
    .await;
    works(&format!(
        "host={socket} port={port} user={user} dbname={name} sslmode=disable"
    ))
    .await;
    relays.abort();
}
