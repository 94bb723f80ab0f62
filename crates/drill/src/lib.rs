//! stop-gateway-drill: fire drills for stop-gateway. An outside client of the gateway that starts a canary
//! execution of its own, asks for it to be stopped through a real door (a `Stop Requested` event on the
//! stop-request bus), and proves within a deadline that it ended stopped, that exactly one audit record for it
//! reached the audit bus, and that the stop's cause names that record. It never calls the gateway's code and never
//! asks for any ARN but one it started itself.
//!
//! - [`config`]: settings from the environment, errors naming the variable;
//! - [`step`]: the steps of a drill and the verdict, the first step that failed;
//! - [`record`]: an audit record as read back from the bus, and the checks on it (pure);
//! - [`aws`]: the SDK clients, built once;
//! - [`canary`]: starting a canary execution, reading its status and the cause its stop left;
//! - [`door`]: the `Stop Requested` event, and sending it;
//! - [`audit_queue`]: reading one's own records from a queue that several drills share;
//! - [`drill`]: one drill, from start to verdict;
//! - [`report`]: what a drill reports: the summary, the log line, the metrics line, the table;
//! - [`stack`]: the first-deployment check's settings from a stack's outputs;
//! - [`cli`]: the command line.

pub mod audit_queue;
pub mod aws;
pub mod canary;
pub mod cli;
pub mod config;
pub mod door;
pub mod drill;
pub mod record;
pub mod report;
pub mod stack;
pub mod step;
