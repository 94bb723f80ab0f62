//! The policy from Parameter Store: an instance that has no policy at all reads again within seconds (bounded
//! backoff), not after the refresh interval, while a failed refresh keeps the last good policy until then.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
use aws_sdk_ssm::types::Parameter;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use stop_gateway::aws::policy_source::PolicyStore;
use stop_gateway::aws::ssm::PolicyParameter;
use stop_gateway::metrics::Metrics;

const DOCUMENT: &str = include_str!("../../../../policy.example.toml");

fn answer(version: i64) -> GetParameterOutput {
    let parameter = Parameter::builder().name("/stop-gateway/policy").value(DOCUMENT).version(version).build();
    GetParameterOutput::builder().parameter(parameter).build()
}

#[tokio::test(start_paused = true)]
async fn an_instance_without_any_policy_reads_again_within_seconds() {
    // Parameter Store fails twice, then answers.
    let get = mock!(aws_sdk_ssm::Client::get_parameter)
        .sequence()
        .http_status(500, None)
        .times(2)
        .output(|| answer(1))
        .build();
    let client = mock_client!(aws_sdk_ssm, RuleMode::Sequential, &[&get], |c| c
        .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled()));
    let store = PolicyStore::parameter(
        PolicyParameter::new(client, "/stop-gateway/policy".into()),
        Duration::from_secs(3600),
        false,
        Metrics::new("StopGateway".into()),
    );
    assert!(store.current().await.is_err(), "the first read fails");
    assert_eq!(get.num_calls(), 1);
    assert!(store.current().await.is_err(), "a request right after it does not hammer Parameter Store");
    assert_eq!(get.num_calls(), 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(store.current().await.is_err(), "read again within seconds, not after the hour");
    assert_eq!(get.num_calls(), 2);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(store.current().await.is_ok(), "the backoff is bounded: a policy within seconds of the repair");
    assert_eq!(get.num_calls(), 3);
}
