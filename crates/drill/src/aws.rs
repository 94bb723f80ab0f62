//! The drill's SDK clients, built once from one `SdkConfig`: Step Functions and Lambda for the canaries,
//! EventBridge for the door, SQS for the audit queue, CloudFormation for the first-deployment check. Endpoints,
//! credentials and retries are the SDK's (the standard `AWS_*` settings), so the same code runs in Lambda, on an
//! operator's machine and against the local stand-ins.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_types::error::display::DisplayErrorContext;

/// One client per service the drill calls.
#[derive(Debug, Clone)]
pub struct Aws {
    /// Starts canary executions, reads their status and history.
    pub sfn: aws_sdk_sfn::Client,
    /// Invokes the durable canary and reads its executions.
    pub lambda: aws_sdk_lambda::Client,
    /// Puts the `Stop Requested` events.
    pub events: aws_sdk_eventbridge::Client,
    /// Reads the audit queue.
    pub sqs: aws_sdk_sqs::Client,
    /// Reads a stack's outputs (the first-deployment check).
    pub cloudformation: aws_sdk_cloudformation::Client,
}

impl Aws {
    /// The clients for `sdk`.
    pub fn new(sdk: &SdkConfig) -> Aws {
        Aws {
            sfn: aws_sdk_sfn::Client::new(sdk),
            lambda: aws_sdk_lambda::Client::new(sdk),
            events: aws_sdk_eventbridge::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            cloudformation: aws_sdk_cloudformation::Client::new(sdk),
        }
    }
}

/// A client of `$service` built from `$sdk`, at the endpoint `$endpoint` gives for `$id`, if any.
macro_rules! client_at {
    ($service:ident, $sdk:expr, $endpoint:expr, $id:literal) => {{
        let mut conf = $service::config::Builder::from($sdk);
        conf.set_endpoint_url($endpoint($id));
        $service::Client::from_conf(conf.build())
    }};
}

impl Aws {
    /// The clients for `sdk`, each at the endpoint `endpoint` gives for its service (`sfn`, `lambda`,
    /// `eventbridge`, `sqs`, `cloudformation`) or, when it gives none, the SDK's: for stand-ins of several services
    /// at several addresses, configured without touching the process environment.
    pub fn with_endpoints(sdk: &SdkConfig, endpoint: impl Fn(&str) -> Option<String>) -> Aws {
        Aws {
            sfn: client_at!(aws_sdk_sfn, sdk, endpoint, "sfn"),
            lambda: client_at!(aws_sdk_lambda, sdk, endpoint, "lambda"),
            events: client_at!(aws_sdk_eventbridge, sdk, endpoint, "eventbridge"),
            sqs: client_at!(aws_sdk_sqs, sdk, endpoint, "sqs"),
            cloudformation: client_at!(aws_sdk_cloudformation, sdk, endpoint, "cloudformation"),
        }
    }
}

/// The SDK settings from the environment (and `region`, when the operator names one), over hyper and rustls
/// with the platform's trusted roots: the drill runs on operators' machines too, behind whatever CA they trust.
pub async fn load(region: Option<String>) -> SdkConfig {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http.build_https());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}

/// An SDK error with its whole chain (the service's error code and message, or why the call never got an answer),
/// for a failure's words.
pub fn error_text(what: &str, error: &impl std::error::Error) -> String {
    format!("{what}: {}", DisplayErrorContext(error))
}
