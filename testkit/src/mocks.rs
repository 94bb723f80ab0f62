//! A gateway whose SDK clients are aws-smithy-mocks clients (the same client code production runs), the example
//! policy, a sink that records audit events, and one way to invoke the real handler.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::operation::get_durable_execution::GetDurableExecutionOutput;
use aws_sdk_lambda::operation::stop_durable_execution::{StopDurableExecutionInput, StopDurableExecutionOutput};
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::operation::stop_execution::{StopExecutionInput, StopExecutionOutput};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use serde_json::value::RawValue;
use stop_gateway::aws::alarms::AlarmWatch;
use stop_gateway::aws::durable::DurableAdapter;
use stop_gateway::aws::executions::Executions;
use stop_gateway::aws::policy_source::PolicyStore;
use stop_gateway::aws::reach::{Accounts, Reach};
use stop_gateway::aws::regional::{Clients, ServiceClients};
use stop_gateway::aws::sfn::SfnAdapter;
use stop_gateway::config::BulkSettings;
use stop_gateway::config::{DoorTimeouts, ServedDoors};
use stop_gateway::handler::{App, handle};
use stop_gateway::service::StopFlow;
use stop_gateway::sink::AuditSink;
use stop_gateway_core::domain::alarm::AlarmRouting;
use stop_gateway_core::domain::audit::AuditEvent;
use stop_gateway_core::domain::outcome::{OutcomeCode, StopText};
use stop_gateway_core::domain::policy::{Policy, PolicyVersion};
use stop_gateway_core::domain::request::Door;
use stop_gateway_core::domain::text::{ErrorCode, Overflow, Reason};
use stop_gateway_core::policy_doc::LoadedPolicy;
use stop_gateway_core::policy_doc::{Format, PolicyDocument, parse_policy};

/// When the mocked executions started.
pub const STARTED: i64 = 1_795_230_000;
/// When the mocked stops happen.
pub const STOPPED: i64 = 1_795_230_765;

/// The committed example policy, which the samples in `events/` are written against.
pub fn example_policy() -> Policy {
    example_document().policy
}

/// The committed example policy document: the policy and its alarm routing.
pub fn example_document() -> PolicyDocument {
    parse_policy(include_str!("../../policy.example.toml"), Format::Toml).expect("example policy parses")
}

/// An SFN client from rules (no retries, so each rule answers exactly the calls made).
pub fn sfn_client(rules: &[&Rule]) -> aws_sdk_sfn::Client {
    mock_client!(aws_sdk_sfn, RuleMode::MatchAny, rules, |c| c
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled()))
}

/// A Lambda client from rules (no retries).
pub fn lambda_client(rules: &[&Rule]) -> aws_sdk_lambda::Client {
    mock_client!(aws_sdk_lambda, RuleMode::MatchAny, rules, |c| c
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled()))
}

/// A configuration with no credentials and no network: what the mocked clients are "built from".
pub fn offline_sdk() -> aws_types::SdkConfig {
    aws_types::SdkConfig::builder().build()
}

/// A Step Functions adapter whose every region (and account a request reaches) is served by `client`.
pub fn sfn_adapter(client: aws_sdk_sfn::Client) -> SfnAdapter {
    let clients = ServiceClients::new(&offline_sdk(), Arc::default(), move |_, _| Clients::same(client.clone()));
    SfnAdapter::new(clients)
}

/// A durable-execution adapter whose every region (and account a request reaches) is served by `client`.
pub fn durable_adapter(client: aws_sdk_lambda::Client) -> DurableAdapter {
    let clients = ServiceClients::new(&offline_sdk(), Arc::default(), move |_, _| Clients::same(client.clone()));
    DurableAdapter::new(clients)
}

/// What a request acting only in the function's own account ([`HOME_FUNCTION`]'s) reaches.
pub fn own_reach() -> Reach {
    Reach::own(stop_gateway_core::domain::aws_ids::AccountId::parse("111122223333").ok())
}

/// An alarm reader over `cloudwatch` in us-east-1, with a five-second cache.
pub fn alarm_watch(cloudwatch: aws_sdk_cloudwatch::Client) -> AlarmWatch {
    AlarmWatch::new(cloudwatch, "us-east-1", Arc::default(), Duration::from_secs(5))
}

/// The account the mocked gateway runs in (the samples' account).
pub const HOME_FUNCTION: &str = "arn:aws:lambda:us-east-1:111122223333:function:stop-gateway";

/// A gateway and the policy it is to apply.
pub struct Armed {
    /// The stop flow over mocked clients.
    pub flow: StopFlow,
    /// The policy in force.
    pub policy: Policy,
}

/// A gateway over the given clients, every region served by the same mock, under `policy`. Its alarm reader
/// reports no alarm in ALARM ([`app_with`] gives it another); roles in other accounts cannot be assumed.
pub fn gateway(policy: Policy, sfn: aws_sdk_sfn::Client, lambda: aws_sdk_lambda::Client) -> Armed {
    let executions = Executions::new(sfn_adapter(sfn), durable_adapter(lambda));
    let alarms = alarm_watch(alarms_in_alarm(&[]).0);
    let flow = StopFlow::new(executions, alarms, Accounts::new(offline_sdk()), BulkSettings::default());
    Armed { flow, policy }
}

/// A deadline far enough away not to matter.
pub fn far_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(600)
}

/// Runs `f` with the stop text of an on-call stop (`Ops.Stop`, "OPS-1 because").
pub async fn with_text<T>(f: impl AsyncFnOnce(&StopText<'_>) -> T) -> T {
    let code = ErrorCode::parse("Ops.Stop").unwrap();
    let reason = Reason::parse("OPS-1 because", Overflow::Reject).unwrap();
    let text = StopText {
        error_code: &code,
        reason: &reason,
        caller: "caller",
        door: "apigw-http",
        audit_id: "a",
        rule_id: "r",
    };
    f(&text).await
}

/// Invokes the real handler over `gateway` once, as the runtime would, with `context`: the answer (or the
/// invocation error, as text) and every audit record the request emitted.
pub async fn invoke(armed: Armed, payload: &str, context: Context) -> (Result<Value, String>, Vec<AuditEvent>) {
    let app = app(armed);
    let raw: Box<RawValue> = serde_json::from_str(payload).unwrap();
    let result = handle(&app, LambdaEvent::new(raw, context)).await.map_err(|e| e.error_message);
    (result, app.sink.events())
}

/// A runtime context carrying `request_id`, as Lambda's would, for the function [`HOME_FUNCTION`].
pub fn context(request_id: &str) -> Context {
    let mut context = Context::default();
    context.request_id = request_id.to_owned();
    context.invoked_function_arn = HOME_FUNCTION.to_owned();
    context
}

/// Mocks where every execution is running and every stop succeeds, recording what the stops sent.
pub struct RunningWorld {
    pub sfn_describe: Rule,
    pub sfn_stop: Rule,
    pub sfn_list: Rule,
    pub durable_get: Rule,
    pub durable_stop: Rule,
    pub durable_list: Rule,
    /// Lists of ABORTED executions: those stopped so far (how a bulk stop confirms its stops).
    pub sfn_confirm: Rule,
    /// Lists of STOPPED durable executions: those stopped so far.
    pub durable_confirm: Rule,
    pub sfn_stops: Arc<Mutex<Vec<StopExecutionInput>>>,
    pub durable_stops: Arc<Mutex<Vec<StopDurableExecutionInput>>>,
}

impl Default for RunningWorld {
    fn default() -> Self {
        Self::new()
    }
}

impl RunningWorld {
    pub fn new() -> Self {
        let sfn_stops = Arc::new(Mutex::new(Vec::<StopExecutionInput>::new()));
        let durable_stops = Arc::new(Mutex::new(Vec::<StopDurableExecutionInput>::new()));
        let record_sfn = sfn_stops.clone();
        let record_durable = durable_stops.clone();
        let (stopped_sfn, stopped_durable) = (sfn_stops.clone(), durable_stops.clone());
        RunningWorld {
            sfn_confirm: aborted_list_rule(move || {
                stopped_sfn.lock().unwrap().iter().filter_map(|s| s.execution_arn().map(str::to_owned)).collect()
            }),
            durable_confirm: stopped_durable_list_rule(move || {
                stopped_durable
                    .lock()
                    .unwrap()
                    .iter()
                    .filter_map(|s| s.durable_execution_arn().map(str::to_owned))
                    .collect()
            }),
            sfn_describe: mock!(aws_sdk_sfn::Client::describe_execution)
                .then_compute_output(|input| running_sfn(input.execution_arn().unwrap_or_default())),
            sfn_stop: mock!(aws_sdk_sfn::Client::stop_execution)
                .match_requests(move |input| {
                    record_sfn.lock().unwrap().push(input.clone());
                    true
                })
                .then_output(|| {
                    StopExecutionOutput::builder().stop_date(DateTime::from_secs(STOPPED)).build().unwrap()
                }),
            sfn_list: mock!(aws_sdk_sfn::Client::list_executions)
                .then_compute_output(|input| running_list(input.state_machine_arn().unwrap_or_default())),
            durable_list: mock!(aws_sdk_lambda::Client::list_durable_executions_by_function)
                .then_compute_output(|input| durable_list(input.function_name().unwrap_or_default())),
            durable_get: mock!(aws_sdk_lambda::Client::get_durable_execution)
                .then_compute_output(|input| running_durable(input.durable_execution_arn().unwrap_or_default())),
            durable_stop: mock!(aws_sdk_lambda::Client::stop_durable_execution)
                .match_requests(move |input| {
                    record_durable.lock().unwrap().push(input.clone());
                    true
                })
                .then_output(|| {
                    StopDurableExecutionOutput::builder().stop_timestamp(DateTime::from_secs(STOPPED)).build().unwrap()
                }),
            sfn_stops,
            durable_stops,
        }
    }

    pub fn gateway(&self, policy: Policy) -> Armed {
        gateway(
            policy,
            sfn_client(&[&self.sfn_describe, &self.sfn_stop, &self.sfn_confirm, &self.sfn_list]),
            lambda_client(&[&self.durable_get, &self.durable_stop, &self.durable_confirm, &self.durable_list]),
        )
    }
}

pub fn running_sfn(arn: &str) -> DescribeExecutionOutput {
    sfn_status(arn, aws_sdk_sfn::types::ExecutionStatus::Running)
}

pub fn sfn_status(arn: &str, status: aws_sdk_sfn::types::ExecutionStatus) -> DescribeExecutionOutput {
    DescribeExecutionOutput::builder()
        .execution_arn(arn)
        .state_machine_arn("arn:aws:states:us-east-1:111122223333:stateMachine:orders-api")
        .status(status)
        .start_date(DateTime::from_secs(STARTED))
        .build()
        .unwrap()
}

pub fn running_durable(arn: &str) -> GetDurableExecutionOutput {
    durable_status(arn, "RUNNING")
}

pub fn durable_status(arn: &str, status: &str) -> GetDurableExecutionOutput {
    GetDurableExecutionOutput::builder()
        .durable_execution_arn(arn)
        .durable_execution_name("order-7731")
        .function_arn("arn:aws:lambda:us-east-1:111122223333:function:checkout")
        .status(aws_sdk_lambda::types::ExecutionStatus::from(status))
        .start_timestamp(DateTime::from_secs(STARTED))
        .build()
        .unwrap()
}

/// The name in a state machine ARN, without a version or alias.
fn machine_name(state_machine_arn: &str) -> &str {
    state_machine_arn.split(':').nth(6).unwrap_or_default()
}

/// How many RUNNING executions each mocked state machine (any version or alias) has: `orders-api` is over the
/// on-call cap of 10.
pub fn running_count(state_machine_arn: &str) -> usize {
    match Some(machine_name(state_machine_arn)) {
        Some("orders-api") => 12,
        Some("orders-batch") => 3,
        _ => 0,
    }
}

/// A single page listing `running_count` executions.
pub fn running_list(state_machine_arn: &str) -> aws_sdk_sfn::operation::list_executions::ListExecutionsOutput {
    let name = machine_name(state_machine_arn).to_owned();
    // Executions of a version or alias have the unqualified state machine's execution ARNs.
    let unqualified = state_machine_arn.splitn(8, ':').take(7).collect::<Vec<_>>().join(":");
    let prefix = unqualified.replace(":stateMachine:", ":execution:");
    let items = (0..running_count(state_machine_arn))
        .map(|i| sfn_list_item(&format!("{prefix}:run-{i}"), state_machine_arn, &format!("{name}-run-{i}"), None));
    sfn_list(items)
}

/// A `ListExecutions` item: RUNNING, or ABORTED at `stopped`.
fn sfn_list_item(arn: &str, machine: &str, name: &str, stopped: Option<i64>) -> aws_sdk_sfn::types::ExecutionListItem {
    use aws_sdk_sfn::types::ExecutionStatus;
    let status = if stopped.is_some() { ExecutionStatus::Aborted } else { ExecutionStatus::Running };
    aws_sdk_sfn::types::ExecutionListItem::builder()
        .execution_arn(arn)
        .state_machine_arn(machine)
        .name(name)
        .status(status)
        .start_date(DateTime::from_secs(STARTED))
        .set_stop_date(stopped.map(DateTime::from_secs))
        .build()
        .unwrap()
}

/// One `ListExecutions` page of `items`.
fn sfn_list(
    items: impl Iterator<Item = aws_sdk_sfn::types::ExecutionListItem>,
) -> aws_sdk_sfn::operation::list_executions::ListExecutionsOutput {
    aws_sdk_sfn::operation::list_executions::ListExecutionsOutput::builder()
        .set_executions(Some(items.collect()))
        .build()
        .unwrap()
}

/// Answers `ListExecutions` calls for ABORTED executions (how a bulk stop confirms its stops) with the
/// executions `stopped` returns, stopped at [`STOPPED`]. Put it before a rule answering every list.
pub fn aborted_list_rule(stopped: impl Fn() -> Vec<String> + Send + Sync + 'static) -> Rule {
    mock!(aws_sdk_sfn::Client::list_executions)
        .match_requests(|r| r.status_filter() == Some(&aws_sdk_sfn::types::ExecutionStatus::Aborted))
        .then_compute_output(move |r| {
            let machine = r.state_machine_arn().unwrap_or_default().to_owned();
            sfn_list(stopped().into_iter().map(|arn| sfn_list_item(&arn, &machine, "stopped", Some(STOPPED))))
        })
}

/// Answers `ListDurableExecutionsByFunction` calls for STOPPED executions with those `stopped` returns.
pub fn stopped_durable_list_rule(stopped: impl Fn() -> Vec<String> + Send + Sync + 'static) -> Rule {
    mock!(aws_sdk_lambda::Client::list_durable_executions_by_function)
        .match_requests(|r| r.statuses().iter().any(|s| s.as_str() == "STOPPED"))
        .then_compute_output(move |r| {
            let function = r.function_name().unwrap_or_default().to_owned();
            let items = stopped().into_iter().map(|arn| {
                aws_sdk_lambda::types::Execution::builder()
                    .durable_execution_arn(arn)
                    .durable_execution_name("stopped")
                    .function_arn(&function)
                    .status(aws_sdk_lambda::types::ExecutionStatus::Stopped)
                    .start_timestamp(DateTime::from_secs(STARTED))
                    .end_timestamp(DateTime::from_secs(STOPPED))
                    .build()
                    .unwrap()
            });
            aws_sdk_lambda::operation::list_durable_executions_by_function::ListDurableExecutionsByFunctionOutput::builder()
                .set_durable_executions(Some(items.collect()))
                .build()
        })
}

/// Two running durable executions for any function.
pub fn durable_list(
    function: &str,
) -> aws_sdk_lambda::operation::list_durable_executions_by_function::ListDurableExecutionsByFunctionOutput {
    let items = (0..2).map(|i| {
        aws_sdk_lambda::types::Execution::builder()
            .durable_execution_arn(format!("{function}:$LATEST/durable-execution/run-{i}/id-{i}"))
            .durable_execution_name(format!("run-{i}"))
            .function_arn(function)
            .status(aws_sdk_lambda::types::ExecutionStatus::Running)
            .start_timestamp(DateTime::from_secs(STARTED))
            .build()
            .unwrap()
    });
    aws_sdk_lambda::operation::list_durable_executions_by_function::ListDurableExecutionsByFunctionOutput::builder()
        .set_durable_executions(Some(items.collect()))
        .build()
}

/// Keeps audit records in memory, so a test can read back exactly what a request emitted.
#[derive(Debug, Default)]
pub struct RecordingSink {
    events: Mutex<Vec<AuditEvent>>,
}

impl RecordingSink {
    /// Everything recorded so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl AuditSink for RecordingSink {
    async fn emit(&self, events: &[AuditEvent], _deadline: tokio::time::Instant) {
        if let Ok(mut recorded) = self.events.lock() {
            recorded.extend_from_slice(events);
        }
    }
}

/// A CloudWatch client from rules (no retries).
pub fn cloudwatch_client(rules: &[&Rule]) -> aws_sdk_cloudwatch::Client {
    mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, rules, |c| c
        .retry_config(aws_sdk_cloudwatch::config::retry::RetryConfig::disabled()))
}

/// The latching alarm of the example policy (`orders-latch-*` → orders-api), which [`alarms_in_alarm`] reports
/// in ALARM.
pub const LATCHING_ALARM: &str = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders-latch-errors";

/// CloudWatch answering `DescribeAlarms` with these alarms in ALARM (actions enabled, no dimensions) and
/// `ListTagsForResource` with no tags; counts the `DescribeAlarms` calls.
pub fn alarms_in_alarm(arns: &[&str]) -> (aws_sdk_cloudwatch::Client, Arc<Mutex<usize>>) {
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput;
    let alarms: Vec<_> = arns
        .iter()
        .map(|arn| {
            aws_sdk_cloudwatch::types::MetricAlarm::builder()
                .alarm_arn(*arn)
                .alarm_name(arn.rsplit(':').next().unwrap_or_default())
                .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
                .state_reason("Threshold Crossed")
                .state_updated_timestamp(DateTime::from_secs(STARTED))
                .actions_enabled(true)
                .build()
        })
        .collect();
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let describe = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(move |_| {
            *counter.lock().unwrap() += 1;
            true
        })
        .then_compute_output(move |_| DescribeAlarmsOutput::builder().set_metric_alarms(Some(alarms.clone())).build());
    let tags = mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource)
        .then_output(|| ListTagsForResourceOutput::builder().build());
    (cloudwatch_client(&[&describe, &tags]), calls)
}

/// The handler's app over `armed`'s gateway and policy (with the example policy's alarm routing), and a
/// recording sink. CloudWatch reports the example policy's latching alarm in ALARM.
pub fn app(armed: Armed) -> App<RecordingSink> {
    app_with(armed, example_document().routing, alarms_in_alarm(&[LATCHING_ALARM]).0)
}

/// The handler's app over `armed`'s gateway and policy, `routing`, and a CloudWatch client for latch checks.
pub fn app_with(armed: Armed, routing: AlarmRouting, cloudwatch: aws_sdk_cloudwatch::Client) -> App<RecordingSink> {
    let version = PolicyVersion { sha256: "0".repeat(64), origin: "env", ssm_version: None };
    let loaded = LoadedPolicy { policy: armed.policy, routing, version };
    App {
        flow: armed.flow.with_alarms(alarm_watch(cloudwatch)),
        policies: PolicyStore::fixed(Ok(loaded)),
        doors: DoorTimeouts::default(),
        served: ServedDoors::all(),
        sink: RecordingSink::default(),
    }
}

/// A request audit record with `source`, `outcome` and bulk `counts`, the rest plain: for checking what is
/// derived from records (metrics lines) over every outcome.
pub fn request_record(
    source: Door,
    outcome: OutcomeCode,
    counts: Option<std::collections::BTreeMap<&'static str, usize>>,
) -> AuditEvent {
    AuditEvent {
        schema_version: stop_gateway_core::domain::audit::SCHEMA_VERSION,
        audit_id: format!("{}-{outcome}", source.as_str()),
        record_type: "request",
        parent_audit_id: None,
        time: "2026-12-01T00:00:00.000Z".into(),
        lambda_request_id: "r-1".into(),
        door_request_id: None,
        source,
        caller: None,
        target: stop_gateway_core::domain::audit::AuditTarget {
            arn: None,
            kind: None,
            account: None,
            additional: vec![],
        },
        reason: None,
        reason_truncated: false,
        error_code: None,
        decision: None,
        resolution: None,
        counts,
        outcome,
        message: None,
        previous_status: None,
        stopped_at: None,
        kms_fallback: false,
        kms_fallback_reason: None,
        policy: None,
        dry_run: false,
        duration_ms: 7,
    }
}
