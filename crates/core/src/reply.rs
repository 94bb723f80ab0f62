//! Answers: typed bodies that mirror `openapi/openapi.yaml` (`StopResult`, `ErrorResult`, `Decision`), rendered
//! in the shape the door expects. The API contract test checks them against the document.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlResponse;
use serde::Serialize;
use serde_json::Value;

use crate::domain::audit::{Coded, Facts, rfc3339};
use crate::domain::failure::StopError;
use crate::domain::outcome::{ExecutionResult, Handled, Outcome, OutcomeCode};
use crate::domain::policy::Decision;
use crate::domain::request::Door;
use crate::error::{Failure, HttpStatus};

/// `Decision`: the policy's answer as callers see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionBody<'a> {
    effect: &'static str,
    rule_id: Option<&'a str>,
    rationale: &'a str,
}

impl<'a> From<&'a Decision> for DecisionBody<'a> {
    fn from(decision: &'a Decision) -> Self {
        DecisionBody { effect: decision.effect_name(), rule_id: decision.rule_id(), rationale: decision.rationale() }
    }
}

/// `StopResult`: a request that was handled (stopped, already finished, dry run, incomplete, or ignored).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopResult<'a> {
    outcome: OutcomeCode,
    target_arn: Option<&'a str>,
    audit_id: &'a str,
    dry_run: bool,
    decision: Option<DecisionBody<'a>>,
    #[serde(flatten)]
    detail: Detail<'a>,
    /// Further targets an alarm resolved to (event doors only).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    additional_targets: &'a [String],
    /// How an alarm's targets were found (event doors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    resolution: Option<&'static str>,
}

/// What a `StopResult` says beyond the common fields, by kind of outcome.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Detail<'a> {
    Single(Stop<'a>),
    Bulk { counts: BTreeMap<&'static str, usize>, executions: Vec<ExecutionBody<'a>>, remaining: Vec<String> },
    Ignored { message: &'a str },
}

/// What one execution's outcome says of it, in a single stop's answer and in each execution of a bulk one.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Stop<'a> {
    previous_status: Option<&'a str>,
    stopped_at: Option<String>,
    /// Present (true) when the stop went without error and cause over the execution's KMS key.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    kms_fallback: bool,
}

impl<'a> From<&'a Outcome> for Stop<'a> {
    fn from(outcome: &'a Outcome) -> Self {
        Stop {
            previous_status: outcome.previous_status().map(|s| s.as_str()),
            stopped_at: outcome.stopped_at().map(rfc3339),
            kms_fallback: outcome.kms_fallback().is_some(),
        }
    }
}

/// One execution of a bulk stop.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ExecutionBody<'a> {
    Done {
        #[serde(rename = "executionArn")]
        execution_arn: String,
        outcome: OutcomeCode,
        #[serde(flatten)]
        stop: Stop<'a>,
    },
    Failed {
        #[serde(rename = "executionArn")]
        execution_arn: String,
        outcome: OutcomeCode,
        message: String,
    },
}

impl<'a> From<&'a ExecutionResult> for ExecutionBody<'a> {
    fn from(e: &'a ExecutionResult) -> Self {
        match &e.result {
            Ok(o) => {
                ExecutionBody::Done { execution_arn: e.target.to_string(), outcome: o.code(), stop: Stop::from(o) }
            }
            Err(err) => ExecutionBody::Failed {
                execution_arn: e.target.to_string(),
                outcome: err.code(),
                message: err.to_string(),
            },
        }
    }
}

/// `ErrorResult`: a request that failed, with a stable code and whether resending may help.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResult<'a> {
    error: ErrorBody,
    audit_id: &'a str,
    decision: Option<DecisionBody<'a>>,
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    code: OutcomeCode,
    message: String,
    retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<usize>,
}

/// The body of the answer to a handled request.
pub fn body(handled: &Handled<Failure>, facts: &Facts, audit_id: &str) -> Value {
    let decision = handled.decision.as_ref().map(DecisionBody::from);
    let body = match &handled.result {
        Ok(outcome) => serde_json::to_value(StopResult {
            outcome: outcome.code(),
            target_arn: facts.target.as_deref(),
            audit_id,
            dry_run: handled.dry_run,
            decision,
            detail: match outcome {
                Outcome::Bulk(report) => Detail::Bulk {
                    counts: report.counts(),
                    executions: report.executions.iter().map(ExecutionBody::from).collect(),
                    remaining: report.remaining.iter().map(ToString::to_string).collect(),
                },
                Outcome::Ignored { reason } => Detail::Ignored { message: reason },
                _ => Detail::Single(Stop::from(outcome)),
            },
            additional_targets: &facts.extra_targets,
            resolution: facts.resolution,
        }),
        Err(err) => serde_json::to_value(ErrorResult { error: ErrorBody::from(err), audit_id, decision }),
    };
    // The bodies hold only strings, numbers, booleans and maps with string keys; serialising cannot fail.
    body.unwrap_or(Value::Null)
}

impl From<&Failure> for ErrorBody {
    fn from(err: &Failure) -> Self {
        let (count, limit) = match err {
            Failure::Stop(StopError::BlastRadiusExceeded { count, limit }) => (Some(*count), Some(*limit)),
            _ => (None, None),
        };
        ErrorBody { code: err.code(), message: err.to_string(), retryable: err.is_retryable(), count, limit }
    }
}

/// Renders a JSON body as the response the door expects: HTTP doors their proxy response, every other door the
/// body alone.
pub fn render(door: Door, status: HttpStatus, body: Value) -> Value {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(allow) = status.allow {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    let code = i64::from(status.code);
    // The response types are `#[non_exhaustive]`, so each is built from its default.
    let rendered = match door {
        Door::RestApi => {
            let mut r = ApiGatewayProxyResponse::default();
            (r.status_code, r.headers, r.body) = (code, headers, Some(Body::Text(body.to_string())));
            serde_json::to_value(r)
        }
        Door::HttpApi => {
            let mut r = ApiGatewayV2httpResponse::default();
            (r.status_code, r.headers, r.body) = (code, headers, Some(Body::Text(body.to_string())));
            serde_json::to_value(r)
        }
        Door::FunctionUrl => {
            let mut r = LambdaFunctionUrlResponse::default();
            (r.status_code, r.headers, r.body) = (code, headers, Some(body.to_string()));
            serde_json::to_value(r)
        }
        Door::EventBridge | Door::AlarmEvent | Door::AlarmAction | Door::Latch | Door::Sweep | Door::Unknown => {
            return body;
        }
    };
    // The response types hold only strings, numbers and maps; serialising them cannot fail.
    rendered.unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OK: HttpStatus = HttpStatus { code: 200, allow: None };

    #[test]
    fn events_get_the_body_alone() {
        for door in [Door::EventBridge, Door::AlarmEvent, Door::Sweep, Door::Unknown] {
            assert_eq!(render(door, OK, json!({"x": 1})), json!({"x": 1}), "{door:?}");
        }
    }

    #[test]
    fn http_doors_get_status_headers_and_the_body_as_text() {
        let status = HttpStatus { code: 405, allow: Some("POST") };
        for reply in [Door::RestApi, Door::HttpApi, Door::FunctionUrl] {
            let r = render(reply, status, json!({"x": 1}));
            assert_eq!(r["statusCode"], 405, "{reply:?}");
            assert_eq!(r["headers"]["allow"], "POST", "{reply:?}");
            assert_eq!(r["headers"]["content-type"], "application/json", "{reply:?}");
            assert_eq!(r["body"], "{\"x\":1}", "{reply:?}");
        }
        let r = render(Door::HttpApi, OK, json!({}));
        assert!(r["headers"].get("allow").is_none(), "Allow only when the status carries it");
    }

    #[test]
    fn error_results_carry_the_cap_only_when_there_is_one() {
        let cap = Failure::Stop(StopError::BlastRadiusExceeded { count: 7, limit: 5 });
        let handled = Handled::without_decision(Err(cap), false);
        let b = body(&handled, &Facts::default(), "a");
        assert_eq!(b["error"]["code"], "blast_radius_exceeded");
        assert_eq!((b["error"]["count"].as_u64(), b["error"]["limit"].as_u64()), (Some(7), Some(5)));
        assert_eq!(b["decision"], Value::Null);
        let handled = Handled::without_decision(Err(Failure::Stop(StopError::Denied("no".into()))), false);
        let b = body(&handled, &Facts::default(), "a");
        assert!(b["error"].get("count").is_none());
    }
}
