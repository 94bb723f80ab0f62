//! AWS Systems Manager Parameter Store: `GetParameter` for the policy document, with its version.
//!
//! A standard parameter holds 4 KB and an advanced one 8 KB, where the policy would otherwise share Lambda's
//! 4 KB environment with every other variable.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;

use crate::error::error_chain;

/// The parameter that holds the policy document.
pub struct PolicyParameter {
    client: Client,
    name: String,
}

/// A parameter's value and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterValue {
    /// The document text.
    pub text: String,
    /// SSM's version of the parameter (1, 2, …: bumped on every overwrite).
    pub version: i64,
}

impl PolicyParameter {
    /// The parameter `name` (a name or ARN), read with `client`.
    pub fn new(client: Client, name: String) -> Self {
        PolicyParameter { client, name }
    }

    /// The parameter's name, as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads the current value (decrypted, for a SecureString). The error says why, for the log and the
    /// audit record of a request that finds no policy.
    pub async fn fetch(&self) -> Result<ParameterValue, String> {
        let out = self
            .client
            .get_parameter()
            .name(&self.name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|err| describe(&self.name, &err))?;
        let parameter = out.parameter().ok_or_else(|| format!("parameter {} came back empty", self.name))?;
        let text = parameter.value().ok_or_else(|| format!("parameter {} has no value", self.name))?;
        Ok(ParameterValue { text: text.to_owned(), version: parameter.version() })
    }
}

fn describe(name: &str, err: &SdkError<GetParameterError>) -> String {
    match err.as_service_error() {
        Some(GetParameterError::ParameterNotFound(_)) => format!("parameter {name} does not exist"),
        Some(GetParameterError::InvalidKeyId(_)) => format!("parameter {name}: its KMS key cannot be used"),
        _ => format!("parameter {name} could not be read: {}", error_chain(err)),
    }
}
