//! A fault-injecting proxy in front of a stand-in: throttling, server errors, slow answers, connection resets and
//! canned answers for the requests its rules match, everything else forwarded untouched, and a count of both.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::raw_http::{Request, forward, read_request};

/// What the [`FaultProxy`] does to a request a rule matches.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Answers with this status and AWS error type (and `Retry-After`, when given) without forwarding.
    Answer { status: u16, error_type: &'static str, retry_after: Option<&'static str> },
    /// Forwards, then holds the upstream's answer this long before passing it on.
    Slow(Duration),
    /// Reads the request and resets the connection (TCP RST) without forwarding or answering.
    Reset,
    /// Forwards, then resets the connection instead of answering: the call happened, the caller cannot know.
    ResetAfterForward,
    /// Answers 200 with this JSON body without forwarding: a shim for an answer the stand-in never gives (a list
    /// that leaves something out), named as such where a test uses it.
    Reply(&'static str),
}

impl Fault {
    /// 429 `ThrottlingException` with `Retry-After`.
    pub fn throttle(retry_after: &'static str) -> Fault {
        Fault::Answer { status: 429, error_type: "ThrottlingException", retry_after: Some(retry_after) }
    }

    /// A 5xx answer.
    pub fn server_error(status: u16) -> Fault {
        Fault::Answer { status, error_type: "ServiceUnavailable", retry_after: None }
    }
}

/// Which requests a fault applies to: those whose `X-Amz-Target` equals `target` or whose path ends with it;
/// of those, every `every`-th (the 1st, (every+1)th, ...), at most `times` of them.
#[derive(Debug, Clone, Copy)]
pub struct FaultRule {
    /// `X-Amz-Target` value or path suffix.
    pub target: &'static str,
    /// What to do.
    pub fault: Fault,
    /// Apply to every `every`-th matching request.
    pub every: usize,
    /// Apply at most this many times.
    pub times: usize,
}

impl FaultRule {
    /// Every matching request.
    pub fn always(target: &'static str, fault: Fault) -> FaultRule {
        FaultRule { target, fault, every: 1, times: usize::MAX }
    }

    /// The first `times` matching requests.
    pub fn first(times: usize, target: &'static str, fault: Fault) -> FaultRule {
        FaultRule { target, fault, every: 1, times }
    }

    /// Every `every`-th matching request.
    pub fn every(every: usize, target: &'static str, fault: Fault) -> FaultRule {
        FaultRule { target, fault, every, times: usize::MAX }
    }
}

#[derive(Default)]
struct FaultState {
    rules: Vec<(FaultRule, usize, usize)>, // rule, matching requests seen, faults applied
    faulted: usize,
    forwarded: usize,
}

impl FaultState {
    fn fault_for(&mut self, request: &Request) -> Option<Fault> {
        let target = request.header("x-amz-target");
        let path = request.path().split('?').next().unwrap_or_default().to_owned();
        for (rule, seen, applied) in &mut self.rules {
            if target == Some(rule.target) || path.ends_with(rule.target) {
                let hit = *seen % rule.every == 0 && *applied < rule.times;
                *seen += 1;
                if hit {
                    *applied += 1;
                    self.faulted += 1;
                    return Some(rule.fault);
                }
            }
        }
        self.forwarded += 1;
        None
    }
}

/// A proxy in front of a stand-in that injects faults into the requests its rules match (throttling, server
/// errors, slow answers, connection resets) and forwards everything else; it counts what it did.
pub struct FaultProxy {
    port: u16,
    state: Arc<Mutex<FaultState>>,
}

impl FaultProxy {
    /// Listens on a free loopback port in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, rules: &[FaultRule]) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let state = Arc::new(Mutex::new(FaultState::default()));
        state.lock().unwrap().rules = rules.iter().map(|r| (*r, 0, 0)).collect();
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (upstream, state) = (upstream.clone(), shared.clone());
                thread::spawn(move || proxy_connection(stream, &upstream, &state));
            }
        });
        FaultProxy { port, state }
    }

    /// The proxy's endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the rules (an empty list heals the path).
    pub fn set_rules(&self, rules: &[FaultRule]) {
        self.state.lock().unwrap().rules = rules.iter().map(|r| (*r, 0, 0)).collect();
    }

    /// Requests that got a fault.
    pub fn faulted(&self) -> usize {
        self.state.lock().unwrap().faulted
    }

    /// Requests passed through untouched.
    pub fn forwarded(&self) -> usize {
        self.state.lock().unwrap().forwarded
    }
}

fn proxy_connection(stream: TcpStream, upstream: &str, state: &Mutex<FaultState>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let fault = state.lock().unwrap().fault_for(&request);
        let response = match fault {
            None => forward(upstream, &request),
            Some(Fault::Answer { status, error_type, retry_after }) => {
                let body = format!(r#"{{"__type":"{error_type}","message":"injected by the fault proxy"}}"#);
                let retry_after = retry_after.map(|r| format!("Retry-After: {r}\r\n")).unwrap_or_default();
                format!(
                    "HTTP/1.1 {status} Injected\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-ErrorType: {error_type}\r\n{retry_after}Content-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            }
            Some(Fault::Reply(body)) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
            Some(Fault::Slow(hold)) => {
                let response = forward(upstream, &request);
                thread::sleep(hold);
                response
            }
            Some(fault @ (Fault::Reset | Fault::ResetAfterForward)) => {
                if matches!(fault, Fault::ResetAfterForward) {
                    forward(upstream, &request);
                }
                // Linger 0: closing sends RST rather than FIN, as a dropped connection does.
                let _ = socket2::SockRef::from(&writer).set_linger(Some(Duration::ZERO));
                return;
            }
        };
        if writer.write_all(&response).is_err() {
            return;
        }
    }
}
