//! What a door refuses before there is a request: malformed payloads, the HTTP doors' route, method, size and
//! identity checks, and a door the function does not serve. One enum for this boundary; the stop flow's failures are `domain::failure::StopError`.

use crate::domain::outcome::OutcomeCode;

/// Why a payload is not a request. Messages are safe to show the sender.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// Malformed: not a known shape, a field that does not parse, an envelope that disagrees with itself.
    #[error("{0}")]
    Invalid(String),
    /// An HTTP request for a path other than `…/stop`.
    #[error("{0}")]
    RouteNotFound(String),
    /// An HTTP method other than the route's.
    #[error("{message}")]
    MethodNotAllowed {
        /// What to tell the caller.
        message: String,
        /// The methods the route accepts, for the `Allow` header.
        allow: &'static str,
    },
    /// An HTTP body larger than the gateway reads.
    #[error("request body is {len} bytes; the limit is {limit} bytes")]
    PayloadTooLarge {
        /// The body's size.
        len: usize,
        /// The most the gateway reads.
        limit: usize,
    },
    /// An HTTP request without an IAM identity.
    #[error("{0}")]
    Unauthenticated(String),
    /// A door this function does not serve: a deployment gives its automated doors and its HTTP doors a
    /// function each, so that neither can take the other's capacity.
    #[error("this function does not serve the {door} door; the deployment sends it to its other function")]
    DoorNotServed {
        /// The door's name.
        door: &'static str,
    },
}

impl IngressError {
    /// Stable machine-readable code.
    pub fn code(&self) -> OutcomeCode {
        match self {
            IngressError::Invalid(_) => OutcomeCode::InvalidRequest,
            IngressError::RouteNotFound(_) => OutcomeCode::RouteNotFound,
            IngressError::MethodNotAllowed { .. } => OutcomeCode::MethodNotAllowed,
            IngressError::PayloadTooLarge { .. } => OutcomeCode::PayloadTooLarge,
            IngressError::Unauthenticated(_) => OutcomeCode::Unauthenticated,
            IngressError::DoorNotServed { .. } => OutcomeCode::DoorNotServed,
        }
    }
}
