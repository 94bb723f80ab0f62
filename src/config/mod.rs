//! Configuration, validated once at start-up: the environment (`env`), the policy document it names
//! (`policy_doc`), and the policy in force (`store`), which an SSM parameter can change while the function runs.
//! Every error names the variable or the document field at fault.

#[cfg(feature = "runtime")]
mod env;
pub mod policy_doc;
#[cfg(feature = "runtime")]
pub mod store;

#[cfg(feature = "runtime")]
pub use env::{Config, ConfigError, DEFAULT_AUDIT_SOURCE, PolicyConfig, parse_certificates};
