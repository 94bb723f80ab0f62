//! A Lambda Runtime API emulator (`/2018-06-01/runtime/...`): it hands queued events to the function that polls it
//! and collects the function's answers, the way the Lambda service does, so the real gateway binary (or any
//! `lambda_runtime` function) runs locally unchanged.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::raw_http::read_request;
use crate::{WAIT, unique};

/// The answer to one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Whether the function reported an invocation error (`/error`) rather than a response.
    pub error: bool,
    /// The response or error document.
    pub body: Value,
}

struct Pending {
    payload: String,
    reply: Sender<Invocation>,
    /// Time the function gets (`Lambda-Runtime-Deadline-Ms`).
    timeout: Duration,
}

/// A minimal Lambda Runtime API (`/2018-06-01/runtime/...`) that hands queued events to the function and
/// collects its answers, the way the Lambda service does.
pub struct RuntimeApi {
    port: u16,
    queue: Sender<Pending>,
    first_poll: Arc<Mutex<Option<Instant>>>,
}

/// The function the Runtime API says was invoked: in the stand-ins' (moto's default) account, which the gateway
/// takes as its own.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:stop-gateway";

impl RuntimeApi {
    /// Listens on a free loopback port, as [`FUNCTION_ARN`].
    pub fn start() -> RuntimeApi {
        RuntimeApi::start_as(FUNCTION_ARN)
    }

    /// Listens on a free loopback port, telling the function it is `function_arn` (its account is the one the
    /// gateway acts in with its own credentials).
    pub fn start_as(function_arn: &str) -> RuntimeApi {
        let function_arn: Arc<str> = Arc::from(function_arn);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (queue, events) = channel::<Pending>();
        let events = Arc::new(Mutex::new(events));
        let waiting: Arc<Mutex<HashMap<String, Sender<Invocation>>>> = Arc::default();
        let first_poll: Arc<Mutex<Option<Instant>>> = Arc::default();
        let polled = first_poll.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (events, waiting, polled) = (events.clone(), waiting.clone(), polled.clone());
                let function_arn = function_arn.clone();
                thread::spawn(move || serve(stream, &events, &waiting, &polled, &function_arn));
            }
        });
        RuntimeApi { port, queue, first_poll }
    }

    /// When the function first asked for an event (the end of its init), if it has.
    pub fn first_poll(&self) -> Option<Instant> {
        *self.first_poll.lock().unwrap()
    }

    /// Queues an event without waiting; the answer arrives on the returned channel.
    pub fn send(&self, payload: &str) -> Receiver<Invocation> {
        self.send_with_timeout(payload, Duration::from_secs(60))
    }

    /// Queues an event that the function must answer within `timeout` (its deadline).
    pub fn send_with_timeout(&self, payload: &str, timeout: Duration) -> Receiver<Invocation> {
        let (reply, answer) = channel();
        self.queue.send(Pending { payload: payload.to_owned(), reply, timeout }).unwrap();
        answer
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Delivers one event and waits (bounded) for the function's answer.
    pub fn invoke(&self, payload: &str) -> Invocation {
        self.send(payload)
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("the gateway did not answer an invocation within {WAIT:?}"))
    }
}

/// Serves one keep-alive connection from the runtime client.
fn serve(
    stream: TcpStream,
    events: &Mutex<Receiver<Pending>>,
    waiting: &Mutex<HashMap<String, Sender<Invocation>>>,
    first_poll: &Mutex<Option<Instant>>,
    function_arn: &str,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let path = request.path().to_owned();
        let body = request.body;
        let response = if path.ends_with("/invocation/next") {
            first_poll.lock().unwrap().get_or_insert_with(Instant::now);
            let Ok(pending) = events.lock().unwrap().recv() else { return };
            let id = format!("req-{}", unique());
            waiting.lock().unwrap().insert(id.clone(), pending.reply);
            let deadline =
                SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + pending.timeout.as_millis();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: {function_arn}\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\nContent-Length: {}\r\n\r\n{}",
                pending.payload.len(),
                pending.payload
            )
        } else {
            let segments: Vec<&str> = path.split('/').collect();
            if let [.., "invocation", id, kind @ ("response" | "error")] = segments.as_slice() {
                let body =
                    serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into()));
                if let Some(reply) = waiting.lock().unwrap().remove(*id) {
                    let _ = reply.send(Invocation { error: *kind == "error", body });
                }
            } else if path.ends_with("/init/error") {
                eprintln!("gateway init error: {}", String::from_utf8_lossy(&body));
            }
            "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}".to_owned()
        };
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
