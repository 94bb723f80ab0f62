//! The domain: targets, requests, policy, outcomes and audit records.
//!
//! Must not depend on the AWS SDK, the Lambda runtime or any wire format.

pub mod alarm;
pub mod arn;
pub mod audit;
pub mod outcome;
pub mod policy;
pub mod request;
pub mod text;
