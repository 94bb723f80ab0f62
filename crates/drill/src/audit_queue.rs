//! The audit queue, shared by every drill of the stack: the audit bus's drill rule copies each record about a
//! canary execution to it. A drill takes (and deletes) only the records about its own execution, and makes every
//! other message visible again at once, so drills running side by side (both canaries, an operator's check next
//! to the schedule) each find theirs. Records nobody takes expire with the queue's retention.

use crate::aws::{Aws, error_text};
use crate::record::AuditRecord;

/// One drill's view of the shared audit queue.
#[derive(Debug, Clone)]
pub struct AuditQueue {
    url: String,
}

impl AuditQueue {
    /// The queue at `url`.
    pub fn new(url: &str) -> AuditQueue {
        AuditQueue { url: url.to_owned() }
    }

    /// One receive: the records about `execution_arn` that were waiting (deleted from the queue), within about a
    /// second of long polling.
    pub async fn take_own(&self, aws: &Aws, execution_arn: &str) -> Result<Vec<AuditRecord>, String> {
        let receive = aws.sqs.receive_message().queue_url(&self.url).max_number_of_messages(10);
        let received = receive.wait_time_seconds(1).visibility_timeout(30).send().await;
        let received = received.map_err(|e| error_text("ReceiveMessage", &e))?;
        let mut own = Vec::new();
        for message in received.messages() {
            let Some(handle) = message.receipt_handle() else { continue };
            let record = message.body().and_then(AuditRecord::from_event);
            match record {
                Some(record) if record.target_arn == execution_arn => {
                    let delete = aws.sqs.delete_message().queue_url(&self.url).receipt_handle(handle);
                    delete.send().await.map_err(|e| error_text("DeleteMessage", &e))?;
                    own.push(record);
                }
                // Another drill's record: back on the queue now, not after the visibility timeout.
                _ => {
                    let release = aws.sqs.change_message_visibility().queue_url(&self.url).receipt_handle(handle);
                    release
                        .visibility_timeout(0)
                        .send()
                        .await
                        .map_err(|e| error_text("ChangeMessageVisibility", &e))?;
                }
            }
        }
        Ok(own)
    }
}
