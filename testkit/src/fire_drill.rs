//! What a fire drill needs around the stand-ins, set up as the template sets it up in an account: a
//! stop-request bus whose `Stop Requested` events reach the gateway, an audit bus whose records about the
//! canaries reach the drill's queue (the template's `FireDrillAuditRule`, prefix pattern and all), and the two
//! canaries (a state machine that only waits; the stand-ins' durable function behind an alias `live`).
//!
//! One shim, named as such: the [`Forwarder`] stands in for the EventBridge rule whose target is the kill-switch
//! function (moto cannot invoke our binary). It reads the stop-request bus's events from a queue and hands each
//! to the gateway's Runtime API as an asynchronous invocation, adding the `account` field that EventBridge
//! always sets and moto leaves out. It does not retry a failed invocation as Lambda would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::{Value, json};

use crate::gateway_process::GatewayProcess;
use crate::raw_http::call;
use crate::standins::{Standins, must};
use crate::unique;

/// The buses, queues and canaries of one drill setup at the stand-ins.
#[derive(Debug, Clone)]
pub struct DrillStage {
    /// The stop-request bus the drill puts `Stop Requested` events on.
    pub stop_bus: String,
    /// The queue the stop-request bus's rule copies events to, for the [`Forwarder`].
    pub stop_queue_url: String,
    /// The gateway's audit bus (`AUDIT_EVENT_BUS`).
    pub audit_bus: String,
    /// The drill's audit queue: records about the canaries' executions only.
    pub audit_queue_url: String,
    /// The state machine canary.
    pub state_machine_arn: String,
    /// The durable canary, qualified by its alias.
    pub durable_function_arn: String,
}

impl Standins {
    fn events(&self) -> aws_sdk_eventbridge::Client {
        let conf = aws_sdk_eventbridge::config::Builder::from(&self.sdk(None)).endpoint_url(self.endpoint("moto"));
        aws_sdk_eventbridge::Client::from_conf(conf.build())
    }

    /// An SQS client with a connection pool of its own, for a caller that drives it on its own runtime.
    pub fn sqs_client(&self) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::config::Builder::from(&self.sdk_config()).endpoint_url(self.endpoint("moto"));
        aws_sdk_sqs::Client::from_conf(conf.build())
    }

    /// A new bus, and a queue its rule with `pattern` copies events to: (bus name, queue URL).
    pub fn bus_to_queue(&self, prefix: &str, pattern: &Value) -> (String, String) {
        let (events, sqs) = (self.events(), self.sqs_client());
        let name = format!("{prefix}-{:08x}", unique() as u32);
        self.block_on("bus-to-queue", async {
            must("CreateEventBus", events.create_event_bus().name(&name).send().await);
            let queue_url = must("CreateQueue", sqs.create_queue().queue_name(&name).send().await).queue_url.unwrap();
            let arn = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
            let attributes = sqs.get_queue_attributes().queue_url(&queue_url).attribute_names(arn.clone());
            let queue_arn = must("GetQueueAttributes", attributes.send().await).attributes().unwrap()[&arn].clone();
            let rule = format!("{name}-rule");
            let put = events.put_rule().name(&rule).event_bus_name(&name).event_pattern(pattern.to_string());
            must("PutRule", put.send().await);
            let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(queue_arn).build().unwrap();
            must("PutTargets", events.put_targets().rule(&rule).event_bus_name(&name).targets(target).send().await);
            (name, queue_url)
        })
    }

    /// The drill's setup at the stand-ins, with a state machine canary named `canary`.
    pub fn drill_stage(&self, canary: &str) -> DrillStage {
        let account = self.account();
        let state_machine_arn = self.canary_state_machine(canary);
        let function = self.state["durable_function_name"].as_str().unwrap().to_owned();
        let url = format!("{}/_aliases/{function}/live", self.endpoint("durable_adapter"));
        let (status, answer) = call("PUT", &url, Some(&json!({"FunctionVersion": "1"})));
        assert_eq!(status, 200, "alias live at the stand-in: {answer}");
        let stop_pattern = json!({"detail-type": ["Stop Requested"]});
        let (stop_bus, stop_queue_url) = self.bus_to_queue("fire-drill-stop-requests", &stop_pattern);
        // As the template's FireDrillAuditRule: the gateway's records about executions of either canary only.
        let audit_pattern = json!({
            "source": ["stop-gateway"],
            "detail-type": ["Stop Gateway Decision"],
            "detail": {"target": {"arn": [
                {"prefix": format!("arn:aws:states:us-east-1:{account}:execution:{canary}:")},
                {"prefix": format!("arn:aws:lambda:us-east-1:{account}:function:{function}:")},
            ]}},
        });
        let (audit_bus, audit_queue_url) = self.bus_to_queue("fire-drill-audit", &audit_pattern);
        let durable_function_arn = format!("arn:aws:lambda:us-east-1:{account}:function:{function}:live");
        DrillStage { stop_bus, stop_queue_url, audit_bus, audit_queue_url, state_machine_arn, durable_function_arn }
    }

    /// A Standard state machine named `name` whose executions only wait an hour (the template's canary).
    fn canary_state_machine(&self, name: &str) -> String {
        let conf = aws_sdk_sfn::config::Builder::from(&self.sdk(None)).endpoint_url(self.endpoint("moto"));
        let sfn = aws_sdk_sfn::Client::from_conf(conf.build());
        let definition = json!({"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": true}}});
        let role = format!("arn:aws:iam::{}:role/fire-drill-canary", self.account());
        let create = sfn.create_state_machine().name(name).definition(definition.to_string()).role_arn(role);
        must("CreateStateMachine", self.block_on("canary", create.send())).state_machine_arn().to_owned()
    }
}

/// The shim that stands in for the stop-request bus's rule targeting the gateway (see the module's comment).
pub struct Forwarder {
    stop: Arc<AtomicBool>,
    forwarded: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Forwards every event arriving on `queue_url` to `gateway`, until dropped.
    pub fn start(standins: &Standins, queue_url: &str, gateway: Arc<GatewayProcess>) -> Forwarder {
        let (stop, forwarded) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let (sqs, url, account) = (standins.sqs_client(), queue_url.to_owned(), standins.account());
        let (stopping, count) = (stop.clone(), forwarded.clone());
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            while !stopping.load(Ordering::Relaxed) {
                let receive = sqs.receive_message().queue_url(&url).max_number_of_messages(10).wait_time_seconds(1);
                let Ok(received) = runtime.block_on(receive.send()) else {
                    thread::sleep(Duration::from_millis(100));
                    continue;
                };
                for message in received.messages() {
                    let mut event: Value = serde_json::from_str(message.body().unwrap_or_default()).unwrap_or_default();
                    if event.get("account").is_none() {
                        event["account"] = Value::from(account.clone());
                    }
                    // Asynchronous, as EventBridge invokes a Lambda target: nobody waits for the answer.
                    drop(gateway.runtime().send(&event.to_string()));
                    count.fetch_add(1, Ordering::Relaxed);
                    let delete = sqs.delete_message().queue_url(&url).receipt_handle(message.receipt_handle().unwrap());
                    let _ = runtime.block_on(delete.send());
                }
            }
        });
        Forwarder { stop, forwarded, thread: Some(thread) }
    }

    /// How many events it handed to the gateway so far.
    pub fn forwarded(&self) -> usize {
        self.forwarded.load(Ordering::Relaxed)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
