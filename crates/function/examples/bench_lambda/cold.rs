//! The headline: a cold kill, from the process's spawn to the first stop answered, the way a kill-switch is
//! nearly always invoked. The event waits in the Runtime API before the function starts (as Lambda's first
//! invocation does); the function describes, stops and publishes its audit event to an endpoint that answers
//! each call after the cold delay (10 ms by default), Step Functions and EventBridge on two hosts as in AWS.
//!
//! What it is made of comes from marks taken outside the function: the Runtime API's first `/next` poll, and the
//! endpoint's log of each connection's accept, the end of its TLS handshake and each request's arrival.

use std::time::{Duration, Instant};

use crate::endpoint::{Mark, What};
use crate::{Aws, Figure, Function, Lang, Setup};

/// The phases of one cold kill, in ms, in the order they happen.
pub const PHASES: [&str; 10] = [
    "init: spawn → first /next",
    "event → first connection accepted (parse, policy, credentials, endpoint rules, signing)",
    "TLS handshake, Step Functions host",
    "handshake done → DescribeExecution arrives",
    "describe answered → StopExecution arrives",
    "stop answered → EventBridge connection accepted",
    "TLS handshake, EventBridge host",
    "handshake done → PutEvents arrives",
    "PutEvents answered → answer at the Runtime API",
    "spawn → StopExecution arrives (the kill lands)",
];
/// Index of the total in a cold kill's figures (after the phases).
pub const TOTAL: usize = PHASES.len();

/// One cold kill's phases (see [`PHASES`]) and then its total, spawn → answer, in ms.
pub fn cold_kill(lang: Lang, tls: bool, setup: &Setup, stop_event: &str, delay: Duration) -> [f64; TOTAL + 1] {
    let log = &setup.endpoint.cold_log;
    log.take();
    let f = Function::spawn(lang, if tls { Aws::ColdTls } else { Aws::ColdHttp }, true, setup);
    let answer = f.api.send(stop_event);
    let answer = answer.recv_timeout(Duration::from_secs(120)).expect("a cold kill answered within 120 s");
    let done = Instant::now();
    let body = testkit::gateway_process::body(&answer);
    assert_eq!(body["outcome"], "stopped", "{lang:?} cold kill: {:?}", answer.body);
    let polled = f.api.first_poll().expect("the function polled");
    let marks = log.take();
    let ms = |from: Instant, to: Instant| to.saturating_duration_since(from).as_secs_f64() * 1e3;
    let d = delay.as_secs_f64() * 1e3;

    let request = |op: &str| find(&marks, |w| *w == What::Request(op.to_owned()));
    let (sfn, describe) = request("DescribeExecution");
    let (_, stop) = request("StopExecution");
    let (bus, put) = request("PutEvents");
    let accepted = |connection| at(&marks, connection, &What::Accepted);
    // Over HTTP there is no handshake: it "ends" when the connection is accepted.
    let ready = |connection| if tls { at(&marks, connection, &What::Handshaken) } else { accepted(connection) };
    [
        ms(f.spawned, polled),
        ms(polled, accepted(sfn)),
        ms(accepted(sfn), ready(sfn)),
        ms(ready(sfn), describe),
        ms(describe, stop) - d,
        ms(stop, accepted(bus)) - d,
        ms(accepted(bus), ready(bus)),
        ms(ready(bus), put),
        ms(put, done) - d,
        ms(f.spawned, stop),
        ms(f.spawned, done),
    ]
}

/// The first mark matching `what`: its connection and time.
fn find(marks: &[Mark], what: impl Fn(&What) -> bool) -> (usize, Instant) {
    let mark = marks.iter().find(|m| what(&m.what)).unwrap_or_else(|| panic!("no such mark in {marks:?}"));
    (mark.connection, mark.at)
}

fn at(marks: &[Mark], connection: usize, what: &What) -> Instant {
    let mark = marks.iter().find(|m| m.connection == connection && m.what == *what);
    mark.unwrap_or_else(|| panic!("no {what:?} on connection {connection} in {marks:?}")).at
}

/// A cold kill's figures across many cold starts: one [`Figure`] per phase, then the total.
#[derive(Clone, Default)]
pub struct ColdFigures(pub Vec<Figure>);

impl ColdFigures {
    pub fn push(&mut self, run: &[f64; TOTAL + 1]) {
        if self.0.is_empty() {
            self.0 = vec![Figure::default(); TOTAL + 1];
        }
        for (figure, v) in self.0.iter_mut().zip(run) {
            figure.push(*v);
        }
    }

    pub fn total(&self) -> Figure {
        self.0.get(TOTAL).cloned().unwrap_or_default()
    }

    pub fn phase(&self, i: usize) -> Figure {
        self.0.get(i).cloned().unwrap_or_default()
    }
}

/// The cold kills of one CPU share: gateway and Python, over TLS and over HTTP.
#[derive(Default)]
pub struct ColdShare {
    pub label: String,
    pub rust_tls: ColdFigures,
    pub python_tls: ColdFigures,
    pub rust_http: ColdFigures,
    pub python_http: ColdFigures,
}

/// `n` cold kills of each kind at each of `setups` (a label and a setup whose cap is the share), alternating
/// gateway and Python, TLS and HTTP, and the shares, so a burst of load on the machine falls on all alike.
pub fn run(setups: &[(String, Setup)], stop_event: &str, n: usize, delay: Duration) -> Vec<ColdShare> {
    let mut shares: Vec<ColdShare> =
        setups.iter().map(|(label, _)| ColdShare { label: label.clone(), ..ColdShare::default() }).collect();
    for i in 0..n {
        for ((_, setup), figures) in setups.iter().zip(shares.iter_mut()) {
            figures.rust_tls.push(&cold_kill(Lang::Rust, true, setup, stop_event, delay));
            figures.python_tls.push(&cold_kill(Lang::Python, true, setup, stop_event, delay));
            figures.rust_http.push(&cold_kill(Lang::Rust, false, setup, stop_event, delay));
            figures.python_http.push(&cold_kill(Lang::Python, false, setup, stop_event, delay));
        }
        println!("  cold kills: {} of {n} done ({})", i + 1, crate::load());
    }
    shares
}

/// The headline table (one row per share) and the breakdown table (one column pair per share).
pub fn tables(shares: &[ColdShare], n: usize, delay: Duration) -> String {
    let d = delay.as_millis();
    let mut out = format!(
        "**Cold kill**: spawn → first stop answered (describe, stop, audit event to the bus), endpoint answering \
         each call after {d} ms; median of {n} cold starts per cell (min–max).\n\n\
         | CPU | gateway, TLS (ms) | Python, TLS (ms) | Python ÷ gateway, TLS | gateway, HTTP (ms) | Python, HTTP (ms) | \
         gateway TLS − HTTP (ms) | Python TLS − HTTP (ms) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for s in shares {
        let (rt, pt, rh, ph) = (s.rust_tls.total(), s.python_tls.total(), s.rust_http.total(), s.python_http.total());
        out.push_str(&format!(
            "| {} | {} | {} | {:.1}× | {} | {} | {:.1} | {:.1} |\n",
            s.label,
            rt.show(1),
            pt.show(0),
            pt.median() / rt.median(),
            rh.show(1),
            ph.show(0),
            rt.median() - rh.median(),
            pt.median() - ph.median(),
        ));
    }
    out.push_str(&format!(
        "\n**What a cold kill over TLS is made of** (median ms of the same {n} cold starts; the endpoint's {d} ms per \
         call are taken out of the phases that contain it; the phases' medians need not add up to the total's).\n\n| phase |"
    ));
    for s in shares {
        out.push_str(&format!(" gateway, {} | Python, {} |", s.label, s.label));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(shares.len() * 2));
    out.push('\n');
    for (i, phase) in PHASES.iter().enumerate().chain([(TOTAL, &"spawn → answer (total)")]) {
        out.push_str(&format!("| {phase} |"));
        for s in shares {
            out.push_str(&format!(" {:.1} | {:.1} |", s.rust_tls.phase(i).median(), s.python_tls.phase(i).median()));
        }
        out.push('\n');
    }
    out
}
