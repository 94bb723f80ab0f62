//! The Lambda binary: configuration, clients and policy are built once, then the runtime loop starts.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;
use stop_gateway::aws::audit_bus::{AuditBus, AuditPublisher};
use stop_gateway::aws::direct::{self, Direct, Endpoint, Route};
use stop_gateway::aws::durable::DurableAdapter;
use stop_gateway::aws::sfn::SfnAdapter;
use stop_gateway::aws::{Clients, Regional, load_sdk_config, single_attempt};
use stop_gateway::config::Config;
use stop_gateway::handler::{App, handle};
use stop_gateway::service::Gateway;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    stop_gateway::logging::init();
    let config = Config::from_env().inspect_err(|err| tracing::error!("configuration error: {err}"))?;
    let sdk = load_sdk_config(config.trusted_roots.as_deref()).await;
    let pacer = std::sync::Arc::new(config.pacer);

    // The hot path's describe and stop are signed and sent directly (see `aws::direct`); lists and audit
    // events use the SDK clients.
    let caller = std::sync::Arc::new(Direct::new(&sdk, direct::connector(&sdk, config.trusted_roots.as_deref())));
    let (fips, dual_stack) = (sdk.use_fips().unwrap_or(false), sdk.use_dual_stack().unwrap_or(false));

    let sfn_conf = aws_sdk_sfn::config::Builder::from(&sdk);
    let (sdk_for_sfn, sfn_caller) = (sdk.clone(), caller.clone());
    let sfn = Regional::new(&config.region, move |region: &str| {
        let conf = sfn_conf.clone().region(aws_config::Region::new(region.to_owned()));
        let endpoint = Endpoint::resolve(&sdk_for_sfn, "SFN", "states", region, |url| {
            use aws_sdk_sfn::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
            let params = Params::builder().region(region).use_fips(fips).use_dual_stack(dual_stack).set_endpoint(url);
            let params = params.build()?;
            direct::resolve_now(DefaultResolver::new().resolve_endpoint(&params))
        });
        Clients {
            read: aws_sdk_sfn::Client::from_conf(conf.clone().build()),
            stop: aws_sdk_sfn::Client::from_conf(conf.retry_config(single_attempt()).build()),
            direct: route(&sfn_caller, endpoint, region),
        }
    });
    let lambda_conf = aws_sdk_lambda::config::Builder::from(&sdk);
    let (sdk_for_lambda, lambda_caller) = (sdk.clone(), caller);
    let lambda = Regional::new(&config.region, move |region: &str| {
        let conf = lambda_conf.clone().region(aws_config::Region::new(region.to_owned()));
        let endpoint = Endpoint::resolve(&sdk_for_lambda, "Lambda", "lambda", region, |url| {
            use aws_sdk_lambda::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
            let params = Params::builder().region(region).use_fips(fips).use_dual_stack(dual_stack).set_endpoint(url);
            let params = params.build()?;
            direct::resolve_now(DefaultResolver::new().resolve_endpoint(&params))
        });
        Clients {
            read: aws_sdk_lambda::Client::from_conf(conf.clone().build()),
            stop: aws_sdk_lambda::Client::from_conf(conf.retry_config(single_attempt()).build()),
            direct: route(&lambda_caller, endpoint, region),
        }
    });
    let bus = config
        .audit_bus
        .clone()
        .map(|bus| AuditBus::new(aws_sdk_eventbridge::Client::new(&sdk), bus, config.audit_source.clone()));

    let app = App {
        gateway: Gateway::new(
            config.policy,
            SfnAdapter::new(sfn, pacer.clone()),
            DurableAdapter::new(lambda, pacer),
            config.bulk,
        ),
        sink: AuditPublisher::new(bus),
    };
    let app = &app;
    // The handler's future is boxed: its type nests deeply (SDK calls inside paced retries inside a bulk
    // stream), and erasing it keeps the runtime's own future within the compiler's layout depth.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| Box::pin(handle(app, event)))).await
}

/// A region's direct route; without an endpoint (the rules gave none) its calls go through the SDK, which
/// then reports the same problem as an error of the call.
fn route(
    caller: &std::sync::Arc<Direct>,
    endpoint: Result<Endpoint, direct::DirectError>,
    region: &str,
) -> Option<Route> {
    match endpoint {
        Ok(endpoint) => Some(Route { caller: caller.clone(), endpoint: std::sync::Arc::new(endpoint) }),
        Err(err) => {
            tracing::warn!(region, error = %err, "no endpoint for direct calls; using the SDK for this region");
            None
        }
    }
}
