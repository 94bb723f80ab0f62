//! stop-gateway's core: everything the gateway decides without touching AWS. It reads top to bottom: [`inbound`]
//! recognises an event's door and builds a [`domain::request::StopRequest`]; the [`domain`] holds the targets,
//! callers, the [`domain::policy`] and what a request came to; [`policy_doc`] turns a policy document into the
//! domain; [`error`] decides what an outcome means for the door.
//!
//! This crate depends on no AWS SDK crate and no Lambda runtime, as a compile-time fact: the function crate
//! adds the adapters, the stop flow and the handler; the policy tool and the fuzz targets need nothing more.

pub mod domain;
pub mod error;
pub mod inbound;
#[cfg(feature = "oracles")]
pub mod oracles;
pub mod policy_doc;
pub mod reply;
