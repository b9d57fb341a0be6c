//! The outbox on both backends: a failed run's message is queued with its outcome, once per key,
//! and a message is claimed for delivery by one process at a time.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use workflows::Dag;
use workflows::executor::{RunMessages, RunSummary};
use workflows::store::OutboxMessage;

use crate::support::{Backend, Harness, date, on_both_backends};

struct OnFailure;

impl RunMessages for OnFailure {
    fn messages(&self, dag: &Dag, summary: &RunSummary) -> Vec<OutboxMessage> {
        let failed: Vec<&str> = summary.failed_tasks().map(|t| t.task.as_str()).collect();
        if failed.is_empty() {
            return Vec::new();
        }
        vec![OutboxMessage {
            dedup_key: format!(
                "failure:{}:{}:{}",
                dag.name,
                summary.run.logical_date,
                failed.join(",")
            ),
            dag: dag.name.clone(),
            logical_date: summary.run.logical_date.to_string(),
            kind: "failure".into(),
            subject: format!("FAILED {}", failed.join(", ")),
            envelope_from: "churnflow@localhost".into(),
            envelope_to: vec!["ops@example.com".into()],
            message: b"Subject: FAILED\r\n\r\nbody\r\n".to_vec(),
        }]
    }
}

const FAILING: &str = r#"
    [dags.fragile.tasks.load]
    kind = "shell"
    retries = 0
    params = { command = "exit 3" }
"#;

on_both_backends!(a_failed_run_queues_its_alert_once, async |h: &Harness| {
    let dags = h.dags(FAILING);
    let dag = Arc::new(dags.get("fragile").unwrap().clone());
    let executor = h.executor(2).with_messages(Arc::new(OnFailure));
    let cancel = tokio_util::sync::CancellationToken::new();
    for _ in 0..2 {
        let summary = executor
            .run(dag.clone(), date(), &Default::default(), &cancel)
            .await
            .unwrap();
        assert_eq!(summary.failed_tasks().count(), 1);
    }
    let queued = h.store.list_messages(false, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "the same failure queues one alert");
    assert_eq!(queued[0].message.subject, "FAILED load");
    assert_eq!(
        queued[0].message.message,
        b"Subject: FAILED\r\n\r\nbody\r\n"
    );
    assert_eq!(h.store.unsent_messages().await.unwrap(), 1);

    // Two processes claiming at once: one gets it.
    let lease = Duration::from_secs(60);
    let (a, b) = tokio::join!(
        h.store.claim_due_messages(Utc::now(), lease, false, 10),
        h.store.claim_due_messages(Utc::now(), lease, false, 10)
    );
    let mut both: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert_eq!(both.len(), 1);
    let claimed = both.remove(0);
    // Claimed: nobody else takes it, not even a resend that ignores the backoff.
    for ignore_backoff in [false, true] {
        let others = h
            .store
            .claim_due_messages(Utc::now(), lease, ignore_backoff, 10)
            .await
            .unwrap();
        assert!(others.is_empty());
    }
    let retry_at = Utc::now() - chrono::Duration::seconds(1);
    h.store
        .message_failed(&claimed, "connection refused", retry_at)
        .await
        .unwrap();
    let again = h
        .store
        .claim_due_messages(Utc::now(), lease, false, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    // Only the holder of the current claim records the outcome.
    let late = h.store.message_sent(&claimed, "smtp://late", Utc::now());
    assert!(!late.await.unwrap());
    let now = Utc::now();
    assert!(
        h.store
            .message_sent(&again[0], "smtp://mail", now)
            .await
            .unwrap()
    );
    assert_eq!(h.store.unsent_messages().await.unwrap(), 0);
    let sent = &h.store.list_messages(false, 10).await.unwrap()[0];
    assert_eq!(sent.sent_via.as_deref(), Some("smtp://mail"));
    assert_eq!(sent.last_error, None);
});
