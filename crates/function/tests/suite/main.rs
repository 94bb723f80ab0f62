//! The hermetic suite: nothing outside this process. The real handler and stop flow over the samples in
//! `events/`, with SDK clients from aws-smithy-mocks (the same client code production runs), plus hostile
//! inputs and property tests. One binary, so the SDK is linked once.

mod adapters;
mod bypass;
mod corpus;
mod flow;
mod handler;
mod latch;
mod metrics;
mod policy_source;
mod policy_tool;
mod properties;
