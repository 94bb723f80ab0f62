//! Configuration, validated once at start-up: the environment (`env`) and the policy document it names
//! (`policy_doc`). Every error names the variable or the document field at fault.

#[cfg(feature = "runtime")]
mod env;
pub mod policy_doc;

#[cfg(feature = "runtime")]
pub use env::{Config, ConfigError, DEFAULT_AUDIT_SOURCE, parse_certificates};
