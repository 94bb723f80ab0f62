//! The domain: identifiers, targets, callers, requests, policy, alarm routing, outcomes and audit records.
//!
//! Knows nothing of the AWS SDK, the Lambda runtime or a door's wire format (the audit record and the durable
//! stop's `ErrorData` derive `Serialize`, so every sink writes one shape, but nothing here reads or writes JSON).
//! Within it, dependencies point one way: `aws_ids` and `text` ← `target`, `caller`, `glob`, `status` ←
//! `request`, `policy`, `alarm`, `accounts` ← `latch`, `failure`, `outcome` ← `audit`.

pub mod accounts;
pub mod alarm;
pub mod audit;
pub mod aws_ids;
pub mod caller;
pub mod code;
pub mod failure;
pub mod glob;
pub mod latch;
pub mod outcome;
pub mod policy;
pub mod request;
pub mod status;
pub mod target;
pub mod text;
