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
