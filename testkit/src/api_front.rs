//! A stand-in for an API Gateway HTTP API in front of the real gateway binary: plain HTTP in, an HTTP API
//! (payload 2.0) event through the Lambda Runtime API, and the function's proxy response back out as HTTP, so an
//! HTTP client such as schemathesis can test the function as a caller would see it.
//!
//! It stands in for SigV4 the way API Gateway's `AWS_IAM` authorization would, with one fixed credential in
//! place of signature checking: a request whose `Authorization` header is that credential is attributed to a
//! fixed test principal; any other `Authorization` gets API Gateway's 403; a request without one reaches the
//! function with no identity, so that the function's own 401 is exercised. A function error becomes API Gateway's
//! 500, which the contract treats as a failure like any other 5xx.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::gateway_process::GatewayProcess;
use crate::raw_http::{Request, read_request};

/// The `Authorization` value the front accepts as a valid signature.
pub const CREDENTIAL: &str = "AWS4-HMAC-SHA256 Credential=ASIACONTRACTEXAMPLE/20261121/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0";

struct Identity {
    principal: String,
    org_id: String,
}

/// Lambda's limit on a synchronous invocation's payload; API Gateway answers 413 above it.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// The front; serves until it is dropped, which closes its listener and stops the gateway behind it.
pub struct ApiFront {
    port: u16,
    closing: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
    gateway: Arc<GatewayProcess>,
}

impl ApiFront {
    /// Serves on a free loopback port. `principal` is the IAM principal ARN signed requests are attributed to.
    pub fn start(gateway: Arc<GatewayProcess>, principal: String, org_id: String) -> ApiFront {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let identity = Arc::new(Identity { principal, org_id });
        let closing = Arc::new(AtomicBool::new(false));
        let (shared, closed) = (gateway.clone(), closing.clone());
        let accepting = thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if closed.load(Ordering::SeqCst) {
                    return; // drops the listener: no new connections
                }
                let (gateway, identity) = (shared.clone(), identity.clone());
                thread::spawn(move || serve(stream, &gateway, &identity));
            }
        });
        ApiFront { port, closing, accepting: Some(accepting), gateway }
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ApiFront {
    /// Closes the listener and kills the gateway now, not when the test binary exits: a gateway left polling its
    /// Runtime API until then prints an error between test binaries, in a green run. The gateway is killed rather
    /// than released because connection threads may still hold it.
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop, which sees `closing`
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
        self.gateway.stop();
    }
}

fn serve(stream: TcpStream, gateway: &GatewayProcess, identity: &Identity) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let json = || vec![("content-type".to_owned(), "application/json".to_owned())];
        let (status, headers, body) = match request.header("authorization") {
            Some(credential) if credential != CREDENTIAL => {
                (403, json(), br#"{"message":"The request signature we calculated does not match"}"#.to_vec())
            }
            _ if request.body.len() > MAX_PAYLOAD => {
                (413, json(), br#"{"message":"Request Entity Too Large"}"#.to_vec())
            }
            signed => {
                let identity = signed.map(|_| identity);
                let answer = gateway.invoke_within(&event(&request, identity).to_string(), Duration::from_secs(30));
                if answer.error {
                    eprintln!("api front: the function failed: {}", answer.body);
                    (500, json(), br#"{"message":"Internal Server Error"}"#.to_vec())
                } else {
                    response(&answer.body)
                }
            }
        };
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
        for (name, value) in &headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        if writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(&body)).is_err() {
            return;
        }
    }
}

/// The HTTP API (2.0) event API Gateway would send for `request`.
fn event(request: &Request, identity: Option<&Identity>) -> Value {
    let mut parts = request.line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("GET"), parts.next().unwrap_or("/"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = joined_headers(request);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let account = identity.map(|i| i.principal.split(':').nth(4).unwrap_or_default()).unwrap_or("111122223333");
    let mut context = json!({
        "accountId": account,
        "apiId": "contract",
        "domainName": "contract.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "contract",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": request.header("user-agent").unwrap_or_default(),
        },
        "requestId": format!("contract-{}", now.as_nanos()),
        "routeKey": "$default",
        "stage": "$default",
        "time": "21/Nov/2026:03:12:45 +0000",
        "timeEpoch": now.as_millis() as u64,
    });
    if let Some(Identity { principal, org_id }) = identity {
        context["authorizer"] = json!({"iam": {
            "accessKey": "ASIACONTRACTEXAMPLE",
            "accountId": account,
            "callerId": "AROACONTRACTEXAMPLE:contract",
            "cognitoIdentity": null,
            "principalOrgId": org_id,
            "userArn": principal,
            "userId": "AROACONTRACTEXAMPLE:contract",
        }});
    }
    let (body, encoded) = match std::str::from_utf8(&request.body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(&request.body), true)
        }
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": context,
        "body": if request.body.is_empty() { Value::Null } else { Value::String(body) },
        "isBase64Encoded": encoded,
    })
}

/// The request's headers as payload 2.0 carries them: names in lower case, repeated ones joined with commas.
fn joined_headers(request: &Request) -> serde_json::Map<String, Value> {
    let mut headers = serde_json::Map::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        let joined = match headers.get(&name).and_then(Value::as_str) {
            Some(previous) => format!("{previous},{value}"),
            None => value.clone(),
        };
        headers.insert(name, Value::String(joined));
    }
    headers
}

/// Status, headers and body of the function's HTTP API response.
fn response(answer: &Value) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let status = answer["statusCode"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(500);
    let headers = answer["headers"]
        .as_object()
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default();
    let text = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"].as_bool().unwrap_or(false) {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(text).unwrap()
    } else {
        text.as_bytes().to_vec()
    };
    (status, headers, body)
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
