//! Metrics lines (embedded metric format) over every outcome and door: the figures each line carries, and the
//! shape CloudWatch reads. The stand-in suite validates the real binary's lines with `scripts/check-metrics`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use stop_gateway::metrics::*;
use stop_gateway_core::domain::outcome::OutcomeCode;
use stop_gateway_core::domain::request::Door;
use testkit::mocks::request_record;

fn values(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

#[test]
fn every_outcome_counts_once_with_its_figures() {
    let metrics = Metrics::new("StopGateway".into());
    for name in ["apigw-http", "eventbridge", "alarm-event", "alarm-action", "unknown"] {
        let source = Door::from_name(name).unwrap();
        for outcome in OutcomeCode::ALL {
            let line = values(&metrics.line(&request_record(source, outcome, None), 0, 1_795_230_000_000));
            assert_eq!((line["Source"].as_str(), line["Outcome"].as_str()), (Some(name), Some(outcome.as_str())));
            assert_eq!(line[REQUESTS], 1);
            assert_eq!(line[STOPPED_EXECUTIONS], u64::from(outcome == OutcomeCode::Stopped), "{outcome}");
            let failed = name != "apigw-http"
                && name != "unknown"
                && !["stopped", "already_finished", "dry_run", "ignored"].contains(&outcome.as_str());
            assert_eq!(line[FAILED_AUTOMATED_STOPS], u64::from(failed), "{name} {outcome}");
            assert_eq!(line[DURATION], 7, "the record's duration");
            assert_eq!(line["_aws"]["Timestamp"], 1_795_230_000_000_i64);
        }
    }
}

#[test]
fn bulk_figures_come_from_the_counts_and_bus_failures_are_counted() {
    let metrics = Metrics::new("StopGateway".into());
    let counts = BTreeMap::from([("stopped", 7), ("already_finished", 2), ("remaining", 3)]);
    let line = values(&metrics.line(&request_record(Door::AlarmEvent, OutcomeCode::Incomplete, Some(counts)), 4, 0));
    assert_eq!((line[STOPPED_EXECUTIONS].as_u64(), line[REMAINING_EXECUTIONS].as_u64()), (Some(7), Some(3)));
    assert_eq!(line[AUDIT_BUS_DELIVERY_FAILURES], 4);
    assert_eq!(line[FAILED_AUTOMATED_STOPS], 1, "an incomplete kill-switch is not done yet");
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "StopGateway");
    assert_eq!(directive["Dimensions"], json!([["Source", "Outcome"], []]));
    let names: Vec<&str> =
        directive["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            REQUESTS,
            STOPPED_EXECUTIONS,
            REMAINING_EXECUTIONS,
            FAILED_AUTOMATED_STOPS,
            DRY_RUN_AUTOMATED_STOPS,
            AUDIT_BUS_DELIVERY_FAILURES,
            DURATION
        ]
    );
    for name in names {
        assert!(line[name].is_number(), "{name} is a number on the root node");
    }
    assert!(line.get("auditId").is_some() && line.as_object().unwrap().keys().all(|k| !k.contains("arn")));
}

#[test]
fn a_dry_run_answered_to_an_automated_door_is_counted_on_its_own() {
    let metrics = Metrics::new("StopGateway".into());
    for source in [Door::EventBridge, Door::AlarmEvent, Door::AlarmAction, Door::Latch, Door::Sweep] {
        let line = values(&metrics.line(&request_record(source, OutcomeCode::DryRun, None), 0, 0));
        assert_eq!(line["DryRunAutomatedStops"], 1, "{source:?}: a kill-switch that only reported");
        assert_eq!(line[FAILED_AUTOMATED_STOPS], 0, "{source:?}");
    }
    for (source, outcome) in [(Door::HttpApi, OutcomeCode::DryRun), (Door::AlarmEvent, OutcomeCode::Stopped)] {
        let line = values(&metrics.line(&request_record(source, outcome, None), 0, 0));
        assert_eq!(line["DryRunAutomatedStops"], 0, "{source:?} {outcome}");
    }
}
