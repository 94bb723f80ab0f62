//! A proxy that keeps AWS Step Functions' default API quotas in front of a stand-in: each metered API is a token
//! bucket, a request that finds no token gets the ThrottlingException Step Functions answers and never reaches
//! the stand-in, and the proxy reports per API how close its callers came to the quota.
//!
//! The stand-in (moto) has no quotas, so a caller that outruns AWS's would pass every local test and be
//! throttled in AWS; this proxy makes that visible, and its report shows the headroom a caller kept. It also
//! keeps when each forwarded call arrived and was answered, so a benchmark can say where a run's time went
//! (listing, stopping, confirming) from what crossed the wire rather than from the caller's own account.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::raw_http::{Request, forward, read_request};

/// One API's quota: a bucket of `burst` tokens refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// The operation, as named after the `AWSStepFunctions.` prefix of `X-Amz-Target`.
    pub op: &'static str,
    /// Tokens available at once (the bucket's size).
    pub burst: u32,
    /// Tokens added per second.
    pub per_second: f64,
}

/// AWS Step Functions' default API quotas in us-east-1 (Standard workflows: "Quotas related to API action
/// throttling"); every other operation passes unmetered.
pub const STEP_FUNCTIONS_US_EAST_1: [Quota; 4] = [
    Quota { op: "StopExecution", burst: 1000, per_second: 200.0 },
    Quota { op: "DescribeExecution", burst: 250, per_second: 100.0 },
    Quota { op: "ListExecutions", burst: 100, per_second: 5.0 },
    Quota { op: "StartExecution", burst: 1300, per_second: 300.0 },
];

/// What one API's callers did against its quota since the proxy started (or was reset).
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaStat {
    /// The operation.
    pub op: String,
    /// The quota's burst.
    pub burst: u32,
    /// The quota's refill per second.
    pub per_second: f64,
    /// Requests that found a token and were forwarded.
    pub admitted: usize,
    /// Requests answered with ThrottlingException.
    pub throttled: usize,
    /// The fewest tokens left right after admitting a request: the headroom kept (0 means the burst was spent).
    /// The full burst when nothing was admitted.
    pub min_tokens_left: f64,
    /// The most requests admitted in any sliding one-second window.
    pub peak_per_second_window: usize,
}

/// One call the proxy forwarded: its operation, when it arrived and when its answer was written back.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSpan {
    /// The operation, as named after the `AWSStepFunctions.` prefix of `X-Amz-Target`.
    pub op: String,
    /// When the proxy read the request.
    pub arrived: Instant,
    /// When the proxy had the upstream's answer to send back.
    pub answered: Instant,
}

/// Renders stats as a Markdown table, one row per API.
pub fn quota_table(stats: &[QuotaStat]) -> String {
    let mut out = String::from(
        "| API | quota (burst, per s) | admitted | throttled | fewest tokens left (headroom) | peak in any 1 s |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for s in stats {
        let _ = writeln!(
            out,
            "| {} | {} / {} | {} | {} | {:.0} of {} | {} |",
            s.op,
            s.burst,
            s.per_second,
            s.admitted,
            s.throttled,
            s.min_tokens_left.floor(),
            s.burst,
            s.peak_per_second_window
        );
    }
    out
}

#[derive(Debug)]
struct Bucket {
    quota: Quota,
    tokens: f64,
    last: Instant,
    admitted: usize,
    throttled: usize,
    min_left: f64,
    /// Admission times within the last second, for the sliding-window peak.
    recent: VecDeque<Instant>,
    peak: usize,
}

impl Bucket {
    fn full(quota: Quota, now: Instant) -> Bucket {
        let burst = f64::from(quota.burst);
        Bucket {
            quota,
            tokens: burst,
            last: now,
            admitted: 0,
            throttled: 0,
            min_left: burst,
            recent: VecDeque::new(),
            peak: 0,
        }
    }

    /// Takes a token at `now` if there is one (refilling first); counts either way.
    fn take(&mut self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.last).as_secs_f64() * self.quota.per_second;
        self.tokens = (self.tokens + earned).min(f64::from(self.quota.burst));
        self.last = now;
        if self.tokens < 1.0 {
            self.throttled += 1;
            return false;
        }
        self.tokens -= 1.0;
        self.admitted += 1;
        self.min_left = self.min_left.min(self.tokens);
        // The window ending at each admission covers every window's maximum: a window's count only grows when
        // a request is admitted into it.
        while self.recent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.peak = self.peak.max(self.recent.len());
        true
    }

    fn stat(&self) -> QuotaStat {
        QuotaStat {
            op: self.quota.op.to_owned(),
            burst: self.quota.burst,
            per_second: self.quota.per_second,
            admitted: self.admitted,
            throttled: self.throttled,
            min_tokens_left: self.min_left,
            peak_per_second_window: self.peak,
        }
    }
}

/// The buckets, behind one lock: a decision is a few arithmetic operations, so contention is not worth more.
type Buckets = Arc<Mutex<Vec<Bucket>>>;

/// A quota-keeping proxy in front of a Step Functions endpoint (AWS JSON 1.0: the operation is in `X-Amz-Target`).
pub struct QuotaProxy {
    port: u16,
    quotas: Vec<Quota>,
    buckets: Buckets,
    calls: Calls,
}

/// The forwarded calls, in the order their answers came back.
type Calls = Arc<Mutex<Vec<CallSpan>>>;

impl QuotaProxy {
    /// Listens on a free loopback port in front of `upstream` (`http://127.0.0.1:PORT`), with AWS's default
    /// us-east-1 quotas; the buckets start full.
    pub fn start(upstream: &str) -> QuotaProxy {
        QuotaProxy::with_quotas(upstream, &STEP_FUNCTIONS_US_EAST_1)
    }

    /// As [`QuotaProxy::start`], with other quotas (tests).
    pub fn with_quotas(upstream: &str, quotas: &[Quota]) -> QuotaProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let now = Instant::now();
        let buckets: Buckets = Arc::new(Mutex::new(quotas.iter().map(|q| Bucket::full(*q, now)).collect()));
        let calls: Calls = Arc::default();
        let (shared, log) = (buckets.clone(), calls.clone());
        let ids = Arc::new(AtomicU64::new(0));
        thread::spawn(move || {
            // One thread per connection: the gateway keeps its (tens of) keep-alive connections open.
            for stream in listener.incoming().flatten() {
                let (upstream, buckets, log, ids) = (upstream.clone(), shared.clone(), log.clone(), ids.clone());
                thread::spawn(move || serve(stream, &upstream, (&buckets, &log), &ids));
            }
        });
        QuotaProxy { port, quotas: quotas.to_vec(), buckets, calls }
    }

    /// The proxy's endpoint URL (for `AWS_ENDPOINT_URL_SFN`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Refills every bucket and clears the stats and the calls, as if the proxy had just started.
    pub fn reset(&self) {
        let now = Instant::now();
        *self.buckets.lock().unwrap() = self.quotas.iter().map(|q| Bucket::full(*q, now)).collect();
        self.calls.lock().unwrap().clear();
    }

    /// Every call forwarded since the start or the last reset (throttled ones never were), in the order their
    /// answers came back.
    pub fn calls(&self) -> Vec<CallSpan> {
        self.calls.lock().unwrap().clone()
    }

    /// Per metered API, what its callers did since the start or the last reset.
    pub fn report(&self) -> Vec<QuotaStat> {
        self.buckets.lock().unwrap().iter().map(Bucket::stat).collect()
    }

    /// [`QuotaProxy::report`] as a Markdown table.
    pub fn table(&self) -> String {
        quota_table(&self.report())
    }
}

/// The metered operation a request calls, if any.
fn operation(request: &Request) -> Option<&str> {
    request.header("x-amz-target")?.strip_prefix("AWSStepFunctions.")
}

/// Whether the request may go upstream: unmetered, or metered and a token was there.
fn admit(buckets: &Mutex<Vec<Bucket>>, request: &Request) -> bool {
    let Some(op) = operation(request) else { return true };
    let mut buckets = buckets.lock().unwrap();
    match buckets.iter_mut().find(|b| b.quota.op == op) {
        Some(bucket) => bucket.take(Instant::now()),
        None => true,
    }
}

/// What Step Functions answers a throttled call: 400 with the error type in the header and the body.
fn throttled(id: u64) -> Vec<u8> {
    let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-ErrorType: ThrottlingException\r\nx-amzn-RequestId: quota-proxy-{id}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn serve(
    stream: TcpStream,
    upstream: &str,
    (buckets, calls): (&Mutex<Vec<Bucket>>, &Mutex<Vec<CallSpan>>),
    ids: &AtomicU64,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let arrived = Instant::now();
        let response = if admit(buckets, &request) {
            let response = forward(upstream, &request);
            let op = operation(&request).unwrap_or_default().to_owned();
            calls.lock().unwrap().push(CallSpan { op, arrived, answered: Instant::now() });
            response
        } else {
            throttled(ids.fetch_add(1, Ordering::Relaxed))
        };
        if writer.write_all(&response).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const STOP: &str = "StopExecution";

    fn quota(burst: u32, per_second: f64) -> Quota {
        Quota { op: STOP, burst, per_second }
    }

    /// A stand-in upstream: answers every request 200 `{}` and closes, counting what reached it.
    fn upstream() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let count = count.clone();
                thread::spawn(move || {
                    if read_request(&mut BufReader::new(stream.try_clone().unwrap())).is_some() {
                        count.fetch_add(1, Ordering::SeqCst);
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n\r\n{}");
                    }
                });
            }
        });
        (url, seen)
    }

    /// A keep-alive client connection to the proxy.
    struct Client {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    impl Client {
        fn connect(proxy: &QuotaProxy) -> Client {
            let stream = TcpStream::connect(proxy.endpoint().trim_start_matches("http://")).unwrap();
            Client { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream }
        }

        /// Calls `op` and returns the status line, the `x-amzn-ErrorType` header and the body.
        fn call(&mut self, op: &str) -> (String, Option<String>, String) {
            let body = r#"{"executionArn":"arn:aws:states:us-east-1:123456789012:execution:m:e"}"#;
            let request = format!(
                "POST / HTTP/1.1\r\nHost: sfn\r\nX-Amz-Target: AWSStepFunctions.{op}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            self.writer.write_all(request.as_bytes()).unwrap();
            // A response has the shape of a request as far as reading goes: a first line, headers, a
            // Content-Length body.
            let response = read_request(&mut self.reader).expect("an answer");
            let error = response.header("x-amzn-ErrorType").map(str::to_owned);
            (response.line, error, String::from_utf8(response.body).unwrap())
        }
    }

    #[test]
    fn a_burst_one_over_the_bucket_gets_exactly_one_throttle_and_never_reaches_upstream() {
        let (url, seen) = upstream();
        let proxy = QuotaProxy::with_quotas(&url, &[quota(5, 1.0)]);
        let mut client = Client::connect(&proxy);
        let answers: Vec<_> = (0..6).map(|_| client.call(STOP)).collect();
        assert!(
            answers[..5]
                .iter()
                .all(|(line, error, body)| line.starts_with("HTTP/1.1 200") && error.is_none() && body == "{}")
        );
        let (line, error, body) = &answers[5];
        assert!(line.starts_with("HTTP/1.1 400"), "{line}");
        assert_eq!(error.as_deref(), Some("ThrottlingException"));
        assert_eq!(body, r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#);
        assert_eq!(seen.load(Ordering::SeqCst), 5, "the throttled request was not forwarded");
        let [stat] = proxy.report().try_into().unwrap();
        assert_eq!((stat.admitted, stat.throttled, stat.peak_per_second_window), (5, 1, 5));
        let calls = proxy.calls();
        assert_eq!(calls.len(), 5, "only forwarded calls are kept: {calls:?}");
        assert!(calls.iter().all(|c| c.op == STOP && c.arrived <= c.answered));
        assert!(calls.windows(2).all(|w| w[0].answered <= w[1].arrived), "one connection, one call at a time");
        assert!(stat.min_tokens_left < 0.5, "the burst was spent: {}", stat.min_tokens_left);
    }

    #[test]
    fn after_the_refill_time_requests_pass_again() {
        let (url, _) = upstream();
        let proxy = QuotaProxy::with_quotas(&url, &[quota(2, 1.0)]);
        let mut client = Client::connect(&proxy);
        let statuses =
            |client: &mut Client, n| (0..n).map(|_| client.call(STOP).0[9..12].to_owned()).collect::<Vec<_>>();
        assert_eq!(statuses(&mut client, 3), ["200", "200", "400"]);
        thread::sleep(Duration::from_millis(1100));
        assert_eq!(statuses(&mut client, 2), ["200", "400"], "one second refilled one token");
        let [stat] = proxy.report().try_into().unwrap();
        assert_eq!((stat.admitted, stat.throttled), (3, 2));
        proxy.reset();
        assert!(proxy.calls().is_empty(), "reset forgets the calls");
        assert_eq!(statuses(&mut client, 2), ["200", "200"], "reset refills the bucket");
        let [stat] = proxy.report().try_into().unwrap();
        assert_eq!((stat.admitted, stat.throttled), (2, 0), "and clears the stats");
    }

    #[test]
    fn unmetered_operations_pass_and_each_api_has_its_own_bucket() {
        let (url, seen) = upstream();
        let proxy =
            QuotaProxy::with_quotas(&url, &[quota(1, 0.0), Quota { op: "ListExecutions", burst: 1, per_second: 0.0 }]);
        let mut client = Client::connect(&proxy);
        let ops = [STOP, STOP, "ListExecutions", "ListExecutions", "GetExecutionHistory", "GetExecutionHistory"];
        let statuses: Vec<_> = ops.iter().map(|op| client.call(op).0[9..12].to_owned()).collect();
        assert_eq!(statuses, ["200", "400", "200", "400", "200", "200"]);
        assert_eq!(seen.load(Ordering::SeqCst), 4);
        let ops: Vec<_> = proxy.report().into_iter().map(|s| (s.op, s.admitted, s.throttled)).collect();
        assert_eq!(ops, [(STOP.to_owned(), 1, 1), ("ListExecutions".to_owned(), 1, 1)]);
    }

    #[test]
    fn many_keep_alive_connections_at_once_share_one_bucket() {
        let (url, seen) = upstream();
        let proxy = QuotaProxy::with_quotas(&url, &[quota(100, 0.0)]);
        let endpoint = Arc::new(proxy);
        let workers: Vec<_> = (0..64)
            .map(|_| {
                let proxy = endpoint.clone();
                thread::spawn(move || {
                    let mut client = Client::connect(&proxy);
                    (0..5).filter(|_| client.call(STOP).0.starts_with("HTTP/1.1 200")).count()
                })
            })
            .collect();
        let admitted: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(admitted, 100);
        assert_eq!(seen.load(Ordering::SeqCst), 100);
        let [stat] = endpoint.report().try_into().unwrap();
        assert_eq!((stat.admitted, stat.throttled, stat.min_tokens_left), (100, 220, 0.0));
    }

    #[test]
    fn the_bucket_refills_at_its_rate_up_to_its_burst_and_tracks_headroom_and_the_peak_window() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut bucket = Bucket::full(quota(10, 4.0), t0);
        // 6 at once: 4 tokens left.
        assert!((0..6).all(|_| bucket.take(t0)));
        assert_eq!(bucket.min_left, 4.0);
        // Half a second later 2 more tokens (6); 3 requests leave 3, the fewest so far.
        assert!((0..3).all(|_| bucket.take(at(500))));
        assert_eq!(bucket.min_left, 3.0);
        assert_eq!(bucket.peak, 9, "9 admitted within one second");
        // Long idle: refills to the burst, not past it.
        assert!((0..10).all(|_| bucket.take(at(60_000))));
        assert!(!bucket.take(at(60_000)));
        assert_eq!(bucket.min_left, 0.0);
        assert_eq!(bucket.peak, 10, "the earlier 9 are out of the window");
        // A quarter second earns one token.
        assert!(bucket.take(at(60_250)));
        assert!(!bucket.take(at(60_250)));
        let stat = bucket.stat();
        assert_eq!((stat.admitted, stat.throttled, stat.peak_per_second_window), (20, 2, 11));
    }

    #[test]
    fn the_table_names_every_api_with_its_headroom() {
        let stat = QuotaStat {
            op: STOP.to_owned(),
            burst: 1000,
            per_second: 200.0,
            admitted: 1000,
            throttled: 0,
            min_tokens_left: 0.4,
            peak_per_second_window: 1000,
        };
        let table = quota_table(&[stat]);
        assert!(table.contains("| StopExecution | 1000 / 200 | 1000 | 0 | 0 of 1000 | 1000 |"), "{table}");
    }
}
