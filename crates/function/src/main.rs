//! The Lambda binary: logging, settings, the components built once from them, then the runtime loop.

use std::sync::Arc;

use aws_config::SdkConfig;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;
use stop_gateway::aws::alarms::AlarmWatch;
use stop_gateway::aws::audit_bus::{AuditBus, AuditPublisher};
use stop_gateway::aws::durable::DurableAdapter;
use stop_gateway::aws::executions::Executions;
use stop_gateway::aws::pacing::Pacer;
use stop_gateway::aws::policy_source::PolicyStore;
use stop_gateway::aws::reach::Accounts;
use stop_gateway::aws::regional::{Clients, ServiceClients};
use stop_gateway::aws::sdk::{load_sdk_config, single_attempt};
use stop_gateway::aws::sfn::SfnAdapter;
use stop_gateway::aws::ssm::PolicyParameter;
use stop_gateway::config::{PolicySource, Settings, invalid};
use stop_gateway::handler::{App, handle};
use stop_gateway::metrics::Metrics;
use stop_gateway::service::StopFlow;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    stop_gateway::logging::init();
    let settings = Settings::from_env().inspect_err(|err| tracing::error!("configuration error: {err}"))?;
    let sdk = load_sdk_config(settings.trusted_roots.as_deref()).await;
    let app = app(settings, &sdk).inspect_err(|err| tracing::error!("configuration error: {err}"))?;
    let app = &app;
    // The handler's future is boxed: its type nests deeply (SDK calls inside paced retries inside a bulk
    // stream), and erasing it keeps the runtime's own future within the compiler's layout depth.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| Box::pin(handle(app, event)))).await
}

/// A service's clients: a read client (the SDK retries) and a stop client (one attempt) per region, built from
/// the function's own configuration or from a request's role session in another account.
macro_rules! service_clients {
    ($sdk:expr, $pacer:expr, $service:ident) => {
        ServiceClients::new($sdk, $pacer, |sdk: &SdkConfig, region: &str| {
            let region = aws_config::Region::new(region.to_owned());
            let conf = $service::config::Builder::from(sdk).region(region);
            Clients {
                read: $service::Client::from_conf(conf.clone().build()),
                stop: $service::Client::from_conf(conf.retry_config(single_attempt()).build()),
            }
        })
    };
}

/// Everything an invocation needs, from the settings.
fn app(settings: Settings, sdk: &SdkConfig) -> Result<App<AuditPublisher>, stop_gateway::config::ConfigError> {
    let share = settings.pacing.per_instance();
    let pacer = Arc::new(Pacer::new(&settings.rate_limits, share).map_err(|e| invalid("RATE_LIMITS", e))?);
    let home = settings.region.as_str();
    tracing::info!(
        instances = settings.pacing.instances,
        share = settings.pacing.share_percent,
        "pacing: {}",
        pacer.describe(home)
    );
    let metrics = Metrics::new(settings.metrics_namespace);
    let executions = Executions::new(
        SfnAdapter::new(service_clients!(sdk, pacer.clone(), aws_sdk_sfn)),
        DurableAdapter::new(service_clients!(sdk, pacer.clone(), aws_sdk_lambda)),
    );
    let alarms = AlarmWatch::new(aws_sdk_cloudwatch::Client::new(sdk), home, pacer, settings.latch.cache)
        .with_prefix(settings.latch.alarm_prefix);
    let flow = StopFlow::new(executions, alarms, Accounts::new(sdk.clone()), settings.bulk);
    let policies = match settings.policy {
        PolicySource::Loaded(loaded) => {
            if let Err(why) = &loaded {
                tracing::error!("no policy is in force; every request will be answered policy_unavailable: {why}");
            }
            PolicyStore::fixed(loaded)
        }
        PolicySource::Parameter { name, refresh } => {
            let parameter = PolicyParameter::new(aws_sdk_ssm::Client::new(sdk), name);
            PolicyStore::parameter(parameter, refresh, settings.dry_run, metrics.clone())
        }
    };
    let bus = (settings.audit_bus)
        .map(|bus| AuditBus::new(aws_sdk_eventbridge::Client::new(sdk), bus, settings.audit_source.clone()));
    let sink = AuditPublisher::new(bus, metrics);
    Ok(App { flow, policies, doors: settings.doors, served: settings.served, sink })
}
