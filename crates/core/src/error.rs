//! The one place that decides what an outcome means for the door it came through: an HTTP status, a plain
//! answer, or a failed invocation that Lambda retries.
//!
//! A request fails at the door ([`IngressError`]) or in the stop flow ([`StopError`]); [`Failure`] is either.
//! [`disposition`] alone turns (door, result) into an HTTP answer or a Lambda retry; nothing else looks at
//! outcomes to decide either.

use crate::domain::audit::Coded;
use crate::domain::failure::StopError;
use crate::domain::outcome::{OutcomeCode, Progress};
use crate::domain::request::Door;
use crate::inbound::error::IngressError;

/// How a request failed: at the door, or in the stop flow.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Refused at the door.
    #[error(transparent)]
    Ingress(IngressError),
    /// Failed in the stop flow.
    #[error(transparent)]
    Stop(StopError),
}

impl Failure {
    /// Whether an asynchronous invocation should fail so Lambda retries it: only transient upstream trouble.
    pub fn is_retryable(&self) -> bool {
        match self {
            Failure::Ingress(_) => false,
            Failure::Stop(err) => err.is_retryable(),
        }
    }
}

impl Coded for Failure {
    fn code(&self) -> OutcomeCode {
        match self {
            Failure::Ingress(err) => err.code(),
            Failure::Stop(err) => err.code(),
        }
    }
}

impl From<IngressError> for Failure {
    fn from(err: IngressError) -> Failure {
        Failure::Ingress(err)
    }
}

impl From<StopError> for Failure {
    fn from(err: StopError) -> Failure {
        Failure::Stop(err)
    }
}

/// An HTTP answer's status line and the headers that depend on the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpStatus {
    /// The HTTP status code.
    pub code: u16,
    /// The `Allow` header, for a method the route does not take.
    pub allow: Option<&'static str>,
}

/// What one invocation ends in.
#[derive(Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Answer: with this status for HTTP doors; events get the body alone and the status is informative.
    Answer(HttpStatus),
    /// Fail the invocation so Lambda retries the (asynchronous) event.
    Retry(RetryableFailure),
}

/// Decides how an invocation ends. Automated doors (EventBridge, alarms, the latch) fail the invocation only
/// when a retry can do better: transient upstream trouble, or a bulk stop with work left. Everything else
/// (denials, bad input, finished executions) is a handled, audited answer, because retrying would give the same.
pub fn disposition(door: Door, result: Result<Progress, &Failure>, audit_id: &str) -> Disposition {
    let retry = door.is_automated();
    let err = match result {
        Ok(Progress::Done) => return Disposition::Answer(HttpStatus { code: 200, allow: None }),
        Ok(Progress::Incomplete) if retry => {
            return Disposition::Retry(RetryableFailure {
                code: OutcomeCode::Incomplete,
                message: "executions are left (deadline reached or transient failures); a retry continues".into(),
                audit_id: audit_id.to_owned(),
            });
        }
        // HTTP callers read `remaining` and resend.
        Ok(Progress::Incomplete) => return Disposition::Answer(HttpStatus { code: 503, allow: None }),
        // The answer lists what failed and why; a retry would give the same one.
        Ok(Progress::Failed) => return Disposition::Answer(HttpStatus { code: 502, allow: None }),
        Err(err) => err,
    };
    if retry && err.is_retryable() {
        let (code, message, audit_id) = (err.code(), err.to_string(), audit_id.to_owned());
        return Disposition::Retry(RetryableFailure { code, message, audit_id });
    }
    Disposition::Answer(match err {
        Failure::Ingress(err) => ingress_status(err),
        Failure::Stop(err) => HttpStatus { code: stop_status(err), allow: None },
    })
}

fn ingress_status(err: &IngressError) -> HttpStatus {
    let (code, allow) = match err {
        IngressError::Invalid(_) => (400, None),
        IngressError::Unauthenticated(_) => (401, None),
        IngressError::DoorNotServed { .. } => (403, None),
        IngressError::RouteNotFound(_) => (404, None),
        IngressError::MethodNotAllowed { allow, .. } => (405, Some(*allow)),
        IngressError::PayloadTooLarge { .. } => (413, None),
    };
    HttpStatus { code, allow }
}

fn stop_status(err: &StopError) -> u16 {
    match err {
        StopError::InvalidRequest(_) => 400,
        StopError::Denied(_) | StopError::Refused(_) | StopError::AccountNotConfigured(_) => 403,
        StopError::NotFound(_) => 404,
        StopError::NotStoppable(_) | StopError::BlastRadiusExceeded { .. } => 409,
        StopError::Throttled { .. } => 429,
        StopError::PolicyUnavailable(_) => 503,
        // A transient upstream failure asks the caller to come back (503, `retryable`); a final one is the
        // upstream's answer to fix (502).
        StopError::Upstream { .. } | StopError::AssumeRoleFailed { .. } | StopError::LatchUnreadable { .. }
            if err.is_retryable() =>
        {
            503
        }
        StopError::KmsKeyUnusable { .. }
        | StopError::Upstream { .. }
        | StopError::AssumeRoleFailed { .. }
        | StopError::LatchUnreadable { .. } => 502,
    }
}

/// An invocation error that asks Lambda to retry an asynchronous event.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message} (audit id {audit_id})")]
pub struct RetryableFailure {
    code: OutcomeCode,
    message: String,
    audit_id: String,
}

impl RetryableFailure {
    /// The outcome code, for the invocation error's type.
    pub fn code(&self) -> OutcomeCode {
        self.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::failure::{BoxError, Fault, Sent, error_chain};

    fn boxed() -> BoxError {
        "boom".into()
    }

    /// How each door ends for one result: HTTP doors by status, events by answer (`A`) or retry (`R`).
    struct Row {
        result: Result<Progress, Failure>,
        code: Option<OutcomeCode>,
        http: u16,
        event: char,
    }

    fn row(result: Result<Progress, Failure>, http: u16, event: char) -> Row {
        let code = result.as_ref().err().map(Coded::code);
        Row { result, code, http, event }
    }

    fn stop(err: StopError, http: u16, event: char) -> Row {
        row(Err(Failure::Stop(err)), http, event)
    }

    fn ingress(err: IngressError, http: u16) -> Row {
        row(Err(Failure::Ingress(err)), http, 'A')
    }

    fn upstream(transient: bool) -> StopError {
        let sent = if transient { Sent::Unknown } else { Sent::Refused };
        StopError::Upstream { service: "s", fault: Fault { transient, sent }, source: boxed() }
    }

    fn assume(transient: bool) -> StopError {
        StopError::AssumeRoleFailed { role: "r".into(), account: "a".into(), transient, source: boxed() }
    }

    fn table() -> Vec<Row> {
        vec![
            row(Ok(Progress::Done), 200, 'A'),
            row(Ok(Progress::Incomplete), 503, 'R'),
            row(Ok(Progress::Failed), 502, 'A'),
            ingress(IngressError::Invalid("x".into()), 400),
            ingress(IngressError::RouteNotFound("x".into()), 404),
            ingress(IngressError::MethodNotAllowed { message: "x".into(), allow: "POST" }, 405),
            ingress(IngressError::PayloadTooLarge { len: 2, limit: 1 }, 413),
            ingress(IngressError::Unauthenticated("x".into()), 401),
            ingress(IngressError::DoorNotServed { door: "apigw-http" }, 403),
            stop(StopError::InvalidRequest("x".into()), 400, 'A'),
            stop(StopError::Denied("x".into()), 403, 'A'),
            stop(StopError::Refused("x".into()), 403, 'A'),
            stop(StopError::AccountNotConfigured("x".into()), 403, 'A'),
            stop(assume(false), 502, 'A'),
            stop(assume(true), 503, 'R'),
            stop(StopError::LatchUnreadable { alarm: "a".into(), transient: true, source: boxed() }, 503, 'R'),
            stop(StopError::NotFound("x".into()), 404, 'A'),
            stop(StopError::NotStoppable("x".into()), 409, 'A'),
            stop(StopError::BlastRadiusExceeded { count: 2, limit: 1 }, 409, 'A'),
            stop(StopError::Throttled { service: "s", retry_after: None, source: boxed() }, 429, 'R'),
            stop(upstream(true), 503, 'R'),
            stop(upstream(false), 502, 'A'),
            stop(StopError::PolicyUnavailable("x".into()), 503, 'R'),
            stop(StopError::KmsKeyUnusable { service: "s", source: boxed() }, 502, 'A'),
        ]
    }

    #[test]
    fn one_table_decides_every_door_and_outcome() {
        let http = [Door::RestApi, Door::HttpApi, Door::FunctionUrl, Door::Unknown];
        let automated = [Door::EventBridge, Door::AlarmEvent, Door::AlarmAction, Door::Latch, Door::Sweep];
        let mut codes = std::collections::BTreeSet::new();
        for Row { result, code, http: status, event } in &table() {
            if let Err(err) = result {
                assert_eq!(err.is_retryable(), *event == 'R', "{err}");
                codes.extend(*code);
            }
            let result = result.as_ref().map(|p| *p);
            for door in http {
                let Disposition::Answer(answer) = disposition(door, result, "a") else {
                    panic!("{door:?} retried {result:?}")
                };
                assert_eq!(answer.code, *status, "{door:?} {result:?}");
                assert_eq!(answer.allow.is_some(), *status == 405, "Allow only on 405");
            }
            for door in automated {
                let got = match disposition(door, result, "a") {
                    Disposition::Answer(_) => 'A',
                    Disposition::Retry(_) => 'R',
                };
                assert_eq!(got, *event, "{door:?} {result:?}");
            }
        }
        // Every failure code but the bulk ones (which come from a report, not an error) is in the table.
        let bulk = [OutcomeCode::Incomplete, OutcomeCode::StopFailed];
        let failures = OutcomeCode::ALL.into_iter().filter(|c| !c.is_success() && !bulk.contains(c));
        assert_eq!(codes, failures.collect(), "every failure code has a row");
    }

    #[test]
    fn the_allow_header_comes_from_the_variant() {
        let err = Failure::Ingress(IngressError::MethodNotAllowed { message: "m".into(), allow: "POST" });
        let answer = disposition(Door::HttpApi, Err(&err), "a");
        assert_eq!(answer, Disposition::Answer(HttpStatus { code: 405, allow: Some("POST") }));
    }

    #[test]
    fn retryable_failures_name_their_code() {
        let err = Failure::Stop(StopError::Throttled { service: "s", retry_after: None, source: boxed() });
        let Disposition::Retry(failure) = disposition(Door::EventBridge, Err(&err), "a") else { panic!() };
        assert_eq!(failure.code(), OutcomeCode::Throttled);
        assert_eq!(failure.to_string(), "throttled: s is throttling requests; retry later (audit id a)");
    }

    #[test]
    fn upstream_detail_stays_out_of_the_message() {
        let fault = Fault { transient: true, sent: Sent::Unknown };
        let err = StopError::Upstream { service: "Step Functions", fault, source: "secret detail".into() };
        assert_eq!(err.to_string(), "Step Functions request failed");
        assert_eq!(std::error::Error::source(&err).map(ToString::to_string).as_deref(), Some("secret detail"));
        assert_eq!(error_chain(&err), "Step Functions request failed: secret detail");
    }
}
