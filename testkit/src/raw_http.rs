//! HTTP/1.1 by hand on a `TcpStream`: read one request off a connection, forward one upstream, and a tiny blocking
//! JSON client for the stand-ins' own endpoints (`/_recorded`, `/_finish`, ...).
//!
//! By hand because the emulators and proxies in this crate must see and shape the exact bytes (a fault proxy resets
//! a connection mid-request; the Runtime API holds a poll open), and a client crate would hide both. Every call
//! here uses a fresh connection with `Connection: close`, so a response ends where the stream does.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use crate::WAIT;

/// One HTTP/1.1 request as read off a connection.
pub struct Request {
    /// The request line.
    pub line: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The request method.
    pub fn method(&self) -> &str {
        self.line.split_whitespace().next().unwrap_or_default()
    }

    /// The request path.
    pub fn path(&self) -> &str {
        self.line.split_whitespace().nth(1).unwrap_or_default()
    }

    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one request (Content-Length or chunked body); `None` when the peer closed the connection.
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut request = Request { line: line.trim_end().to_owned(), headers, body: Vec::new() };
    let chunked = request.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = request.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    request.body = if chunked { read_chunked(reader) } else { read_exact(reader, length) };
    Some(request)
}

/// Sends one request upstream on a fresh connection and returns the raw response.
pub(crate) fn forward(upstream: &str, request: &Request) -> Vec<u8> {
    let mut stream = TcpStream::connect(upstream).unwrap();
    let mut head = format!("{}\r\n", request.line);
    for (k, v) in &request.headers {
        if !k.eq_ignore_ascii_case("connection")
            && !k.eq_ignore_ascii_case("transfer-encoding")
            && !k.eq_ignore_ascii_case("content-length")
        {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", request.body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&request.body).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    response
}

fn read_exact(reader: &mut impl Read, length: usize) -> Vec<u8> {
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    body
}

fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        let _ = reader.read_line(&mut size);
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let mut chunk = read_exact(reader, size + 2);
        chunk.truncate(size);
        body.extend(chunk);
        if size == 0 {
            return body;
        }
    }
}

/// Sends `method` to `url` (`http://HOST:PORT/PATH`) with `body` as JSON, and returns the status and the answer
/// parsed as JSON (`Null` when empty, a string when it is not JSON). Bounded by [`WAIT`]; panics naming the URL
/// when nothing answers, which is the test's failure report.
pub fn call(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("not a plain-HTTP URL: {url}"));
    let (address, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(payload.as_bytes())).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap_or_else(|e| panic!("{method} {url}: no answer within {WAIT:?}: {e}"));
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("{method} {url}: no head"));
    let status = String::from_utf8_lossy(&response[..split]).split_whitespace().nth(1).and_then(|s| s.parse().ok());
    let raw = &response[split + 4..];
    let answer = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(raw).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(raw).into_owned()))
    };
    (status.unwrap_or_else(|| panic!("{method} {url}: no status line")), answer)
}
