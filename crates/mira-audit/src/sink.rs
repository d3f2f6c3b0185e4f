//! [`AuditSink`]: how the edges (HTTP, DIMSE, the CLI) hand events to the log without
//! waiting on the database in the request's path.
//!
//! One writer task appends what the sinks send, in order. The queue is bounded: when the
//! database falls behind, requests wait for room (back-pressure) rather than events being
//! dropped. What is queued when the process is killed is lost (at most the queue's length,
//! usually milliseconds of events); a clean shutdown drains it.

use tokio::sync::mpsc;

use crate::{AuditEvent, AuditLog};

/// Events queued at most before senders wait.
const QUEUE: usize = 4096;

/// A cheap, cloneable handle that queues events for the log's writer task.
#[derive(Debug, Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<AuditEvent>,
}

impl AuditSink {
    /// Starts the writer task on `log`. It ends, after writing everything queued, when every
    /// sink is dropped; await the handle to know the log is complete.
    pub fn spawn(log: AuditLog) -> (AuditSink, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<AuditEvent>(QUEUE);
        let writer = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                // a failed append is retried once, then reported: the log must not stop the
                // archive, and the error says what was not recorded (never patient data)
                let mut attempts = 0;
                while let Err(e) = log.record(event.clone()).await {
                    attempts += 1;
                    if attempts >= 3 {
                        tracing::error!(
                            error = %e,
                            action = event.action.as_str(),
                            actor = event.actor.id(),
                            "audit: record lost"
                        );
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        });
        (AuditSink { tx }, writer)
    }

    /// Queues an event (waits for room when the queue is full).
    pub async fn record(&self, event: AuditEvent) {
        if let Err(e) = self.tx.send(event).await {
            tracing::error!(
                action = e.0.action.as_str(),
                "audit: the writer has stopped; record lost"
            );
        }
    }
}
