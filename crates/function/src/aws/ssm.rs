//! AWS Systems Manager Parameter Store: `GetParameter` for the policy document, with its version.
//!
//! A standard parameter holds 4 KB and an advanced one 8 KB, where the policy would otherwise share Lambda's
//! 4 KB environment with every other variable.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;

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

/// Why the parameter could not be read. The message is safe to show callers (it is the reason they are
/// answered `policy_unavailable`); Parameter Store's own error stays in `source()`, for the logs.
#[derive(Debug, thiserror::Error)]
pub enum ParameterError {
    /// No such parameter.
    #[error("parameter {name} does not exist")]
    NotFound {
        /// The parameter.
        name: String,
    },
    /// Its KMS key cannot be used to decrypt it.
    #[error("parameter {name}: its KMS key cannot be used")]
    KeyUnusable {
        /// The parameter.
        name: String,
    },
    /// Any other failure (permissions, throttling, an outage).
    #[error("parameter {name} could not be read")]
    Unreadable {
        /// The parameter.
        name: String,
        /// Parameter Store's error.
        #[source]
        source: Box<SdkError<GetParameterError>>,
    },
    /// The answer carried no value.
    #[error("parameter {name} came back without a value")]
    Empty {
        /// The parameter.
        name: String,
    },
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

    /// Reads the current value (decrypted, for a SecureString).
    pub async fn fetch(&self) -> Result<ParameterValue, ParameterError> {
        let name = || self.name.clone();
        let out =
            self.client.get_parameter().name(&self.name).with_decryption(true).send().await.map_err(|err| match err
                .as_service_error()
            {
                Some(GetParameterError::ParameterNotFound(_)) => ParameterError::NotFound { name: name() },
                Some(GetParameterError::InvalidKeyId(_)) => ParameterError::KeyUnusable { name: name() },
                _ => ParameterError::Unreadable { name: name(), source: Box::new(err) },
            })?;
        let parameter = out.parameter().ok_or_else(|| ParameterError::Empty { name: name() })?;
        let text = parameter.value().ok_or_else(|| ParameterError::Empty { name: name() })?;
        Ok(ParameterValue { text: text.to_owned(), version: parameter.version() })
    }
}
