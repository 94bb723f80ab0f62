//! The Lambda binary: logging, configuration, clients, then the runtime loop.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;
use stop_gateway::aws::alarms::AlarmWatch;
use stop_gateway::aws::audit_bus::{AuditBus, AuditPublisher};
use stop_gateway::aws::durable::DurableAdapter;
use stop_gateway::aws::reach::Accounts;
use stop_gateway::aws::regional::{Clients, ServiceClients};
use stop_gateway::aws::sdk::{load_sdk_config, single_attempt};
use stop_gateway::aws::sfn::SfnAdapter;
use stop_gateway::aws::ssm::PolicyParameter;
use stop_gateway::config::store::PolicyStore;
use stop_gateway::config::{Config, PolicyConfig};
use stop_gateway::handler::{App, handle};
use stop_gateway::service::Gateway;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    stop_gateway::logging::init();
    let config = Config::from_env().inspect_err(|err| tracing::error!("configuration error: {err}"))?;
    let sdk = load_sdk_config(config.trusted_roots.as_deref()).await;
    let pacer = std::sync::Arc::new(config.pacer);
    let home = config.region.as_str();

    // Each service's clients: a read client (the SDK retries) and a stop client (one attempt) per region, built
    // from the function's own configuration or from a request's role session in another account.
    let sfn = ServiceClients::new(&sdk, home, |sdk, region| {
        let conf = aws_sdk_sfn::config::Builder::from(sdk).region(aws_config::Region::new(region.to_owned()));
        Clients {
            read: aws_sdk_sfn::Client::from_conf(conf.clone().build()),
            stop: aws_sdk_sfn::Client::from_conf(conf.retry_config(single_attempt()).build()),
        }
    });
    let lambda = ServiceClients::new(&sdk, home, |sdk, region| {
        let conf = aws_sdk_lambda::config::Builder::from(sdk).region(aws_config::Region::new(region.to_owned()));
        Clients {
            read: aws_sdk_lambda::Client::from_conf(conf.clone().build()),
            stop: aws_sdk_lambda::Client::from_conf(conf.retry_config(single_attempt()).build()),
        }
    });
    let bus = (config.audit_bus.clone())
        .map(|bus| AuditBus::new(aws_sdk_eventbridge::Client::new(&sdk), bus, config.audit_source.clone()));
    let policies = match config.policy {
        PolicyConfig::Loaded(loaded) => {
            if let Err(why) = &loaded {
                tracing::error!("no policy is in force; every request will be answered policy_unavailable: {why}");
            }
            PolicyStore::fixed(loaded)
        }
        PolicyConfig::Parameter { name, refresh } => {
            let parameter = PolicyParameter::new(aws_sdk_ssm::Client::new(&sdk), name);
            PolicyStore::parameter(parameter, refresh, config.dry_run, config.metrics.clone())
        }
    };

    let alarms = AlarmWatch::new(aws_sdk_cloudwatch::Client::new(&sdk), home, pacer.clone(), config.latch_cache)
        .with_prefix(config.latch_alarm_prefix);
    let gateway = Gateway::new(
        SfnAdapter::new(sfn, pacer.clone()),
        DurableAdapter::new(lambda, pacer),
        alarms,
        Accounts::new(sdk.clone()),
        config.bulk,
    );
    let app = App { gateway, policies, doors: config.doors, sink: AuditPublisher::new(bus, config.metrics) };
    let app = &app;
    // The handler's future is boxed: its type nests deeply (SDK calls inside paced retries inside a bulk
    // stream), and erasing it keeps the runtime's own future within the compiler's layout depth.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| Box::pin(handle(app, event)))).await
}
