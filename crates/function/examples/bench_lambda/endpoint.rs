//! The local AWS endpoint the functions call: it answers `DescribeExecution` (RUNNING), `StopExecution` and
//! `PutEvents` with keep-alive, over HTTP or TLS (a local CA made per run), at once or after an injected delay.
//! The cold listeners also log when each connection was accepted, when its TLS handshake finished and when each
//! request arrived, so a cold start can be taken apart from outside the function, without instrumenting it.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testkit::raw_http::read_request;

/// What happened on a logged listener, and when.
#[derive(Clone, Debug)]
pub struct Mark {
    pub at: Instant,
    /// Which connection (numbered across every logged listener).
    pub connection: usize,
    pub what: What,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    Accepted,
    /// The TLS handshake is done (the server has the client's Finished).
    Handshaken,
    /// A request arrived in full; the operation from its `X-Amz-Target` (`DescribeExecution`, …).
    Request(String),
}

/// The marks of the logged listeners, shared by them.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Mark>>>);

impl Log {
    fn push(&self, connection: usize, what: What) {
        self.0.lock().unwrap().push(Mark { at: Instant::now(), connection, what });
    }

    /// Everything logged so far, and a fresh start.
    pub fn take(&self) -> Vec<Mark> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The listeners' ports.
pub struct Endpoint {
    /// HTTP, answering at once.
    pub http: u16,
    /// HTTP, answering after the injected delay.
    pub http_delayed: u16,
    /// TLS, answering at once.
    pub https: u16,
    /// The cold-kill listeners: [Step Functions, EventBridge], each answering after the cold delay and logged;
    /// two of them, because in AWS the two services are two hosts, so the audit bus costs its own connection.
    pub cold_http: [u16; 2],
    pub cold_https: [u16; 2],
    pub cold_log: Log,
    pub ca_file: PathBuf,
}

/// How one listener behaves.
#[derive(Clone)]
struct Listener {
    delay: Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
    log: Option<Log>,
}

/// Answers DescribeExecution (RUNNING), StopExecution and PutEvents.
fn answer(target: Option<&str>) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let body = match target {
        Some("AWSStepFunctions.DescribeExecution") => format!(
            r#"{{"executionArn":"arn:aws:states:us-east-1:111122223333:execution:orders-api:run","stateMachineArn":"arn:aws:states:us-east-1:111122223333:stateMachine:orders-api","status":"RUNNING","startDate":{}}}"#,
            now - 60
        ),
        Some("AWSStepFunctions.StopExecution") => format!(r#"{{"stopDate":{now}}}"#),
        Some("AWSEvents.PutEvents") => r#"{"FailedEntryCount":0,"Entries":[{"EventId":"e-1"}]}"#.to_owned(),
        _ => "{}".to_owned(),
    };
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: r-1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Serves one keep-alive connection; `delay` is slept, in this connection's thread, before each answer.
fn serve<S: Read + Write>(stream: S, delay: Duration, log: Option<(&Log, usize)>) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let target = request.header("x-amz-target");
        if let Some((log, connection)) = log {
            let operation = target.and_then(|t| t.split('.').nth(1)).unwrap_or("?");
            log.push(connection, What::Request(operation.to_owned()));
        }
        let response = answer(target);
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        if reader.get_mut().write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn accept(mut stream: TcpStream, how: Listener, connection: usize) {
    let log = how.log.as_ref().map(|log| (log, connection));
    if let Some((log, connection)) = log {
        log.push(connection, What::Accepted);
    }
    match how.tls {
        Some(config) => {
            let mut tls = rustls::ServerConnection::new(config).unwrap();
            // Drive the handshake to its end here, so its end can be logged apart from the first request.
            while tls.is_handshaking() {
                if tls.complete_io(&mut stream).is_err() {
                    return;
                }
            }
            if let Some((log, connection)) = log {
                log.push(connection, What::Handshaken);
            }
            serve(rustls::StreamOwned::new(tls, stream), how.delay, log);
        }
        None => serve(stream, how.delay, log),
    }
}

fn listen(listener: TcpListener, how: Listener) -> u16 {
    static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_nodelay(true);
            let how = how.clone();
            let connection = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
            thread::spawn(move || accept(stream, how, connection));
        }
    });
    port
}

/// A local CA (written to `dir/ca.pem`) and a server configuration for localhost signed by it.
fn tls_config(dir: &Path) -> (Arc<rustls::ServerConfig>, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    // OpenSSL (Python) wants a named CA with key usages and a server-auth leaf; rustls accepts either.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "stop-gateway benchmark CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf_params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    leaf_params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::KeyEncipherment];
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params.signed_by(&leaf_key, &rcgen::Issuer::new(ca_params, ca_key)).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    (Arc::new(config), ca_file)
}

/// Starts every listener: `delay` for the delayed HTTP one, `cold_delay` for the cold-kill ones.
pub fn start(dir: &Path, delay: Duration, cold_delay: Duration) -> Endpoint {
    let (config, ca_file) = tls_config(dir);
    let bind = || TcpListener::bind("127.0.0.1:0").unwrap();
    let plain = |delay| Listener { delay, tls: None, log: None };
    let cold_log = Log::default();
    let cold = |tls: Option<&Arc<rustls::ServerConfig>>| Listener {
        delay: cold_delay,
        tls: tls.cloned(),
        log: Some(cold_log.clone()),
    };
    Endpoint {
        http: listen(bind(), plain(Duration::ZERO)),
        http_delayed: listen(bind(), plain(delay)),
        https: listen(bind(), Listener { delay: Duration::ZERO, tls: Some(config.clone()), log: None }),
        cold_http: [listen(bind(), cold(None)), listen(bind(), cold(None))],
        cold_https: [listen(bind(), cold(Some(&config))), listen(bind(), cold(Some(&config)))],
        cold_log,
        ca_file,
    }
}
