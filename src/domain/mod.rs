//! The domain: identifiers, targets, callers, requests, policy, alarm routing, outcomes and audit records.
//!
//! Must not depend on the AWS SDK, the Lambda runtime or any wire format. Within it, dependencies point one
//! way: `aws_ids` and `text` ← `target`, `caller`, `glob` ← `request`, `policy`, `alarm` ← `latch`, `outcome`, `audit`.

pub mod accounts;
pub mod alarm;
pub mod audit;
pub mod aws_ids;
pub mod caller;
pub mod glob;
pub mod latch;
pub mod outcome;
pub mod policy;
pub mod request;
pub mod target;
pub mod text;
