//! The init and latency floor behind `scripts/bench` (not part of the product): the smallest function the
//! `lambda_runtime` crate can run, which answers every event with its own payload. It runs on the same
//! single-threaded runtime as the gateway and is built with the same release profile, so what the gateway adds
//! on top of it is its own start-up (logging, configuration, SDK clients) and its own work per request.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|e: LambdaEvent<serde_json::Value>| async { Ok::<_, Error>(e.payload) })).await
}
