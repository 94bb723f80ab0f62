//! The Lambda binary: logging, configuration, clients, then the runtime loop.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;
use stop_gateway::aws::accounts::{AccountClients, RoleProviders};
use stop_gateway::aws::alarms::AlarmWatch;
use stop_gateway::aws::audit_bus::{AuditBus, AuditPublisher};
use stop_gateway::aws::durable::DurableAdapter;
use stop_gateway::aws::regional::Clients;
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

    // Clients per (account, region). Another account's clients take its role's session for the request being
    // handled on every call, so the SDK's identity cache (which would keep one request's session) is off there.
    let roles = std::sync::Arc::new(RoleProviders::new(sdk.clone()));
    let sfn = aws_sdk_sfn::config::Builder::from(&sdk);
    let sfn = AccountClients::new(home, roles.clone(), move |region: &str, role| {
        let mut conf = sfn.clone().region(aws_config::Region::new(region.to_owned()));
        if let Some(role) = role {
            conf = conf.credentials_provider(role).identity_cache(aws_sdk_sfn::config::IdentityCache::no_cache());
        }
        Clients {
            read: aws_sdk_sfn::Client::from_conf(conf.clone().build()),
            stop: aws_sdk_sfn::Client::from_conf(conf.retry_config(single_attempt()).build()),
        }
    });
    let lambda = aws_sdk_lambda::config::Builder::from(&sdk);
    let lambda = AccountClients::new(home, roles, move |region: &str, role| {
        let mut conf = lambda.clone().region(aws_config::Region::new(region.to_owned()));
        if let Some(role) = role {
            conf = conf.credentials_provider(role).identity_cache(aws_sdk_lambda::config::IdentityCache::no_cache());
        }
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
    let app = App {
        gateway: Gateway::new(SfnAdapter::new(sfn, pacer.clone()), DurableAdapter::new(lambda, pacer), config.bulk),
        alarms,
        policies,
        doors: config.doors,
        sink: AuditPublisher::new(bus, config.metrics),
    };
    let app = &app;
    // The handler's future is boxed: its type nests deeply (SDK calls inside paced retries inside a bulk
    // stream), and erasing it keeps the runtime's own future within the compiler's layout depth.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| Box::pin(handle(app, event)))).await
}
