//! Feeds the command API's admission gate (`causeway_commands::api::Admission`,
//! docs/adr/0018-idempotent-relay.md): every `admission.measure_every_ms` it measures how
//! many messages the saga participants' groups have left to handle
//! (`causeway_infra::kafka::backlog`) and how fast they drain them, and reports both.
//!
//! A measurement that fails (Kafka unreachable) leaves the last one in force and is logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use causeway_commands::api::Admission;
use causeway_domain::EventStream;
use causeway_infra::kafka::backlog::{Backlog, GroupTopics, Measured};
use causeway_infra::settings::{AdmissionSettings, KafkaSettings};
use causeway_infra::topics::Topics;
use causeway_sagas::Participant;
use tokio::sync::watch;

/// How much each new drain-rate sample counts (an exponential moving average).
const RATE_WEIGHT: f64 = 0.3;

/// Every saga participant's group and topics.
pub fn saga_groups(kafka: &KafkaSettings) -> Vec<GroupTopics> {
    let topics = Topics::new(kafka);
    Participant::ALL
        .into_iter()
        .map(|participant| GroupTopics {
            group: causeway_sagas::worker::group_id(kafka, participant),
            topics: participant
                .streams()
                .into_iter()
                .map(|stream: EventStream| topics.events(stream.base_topic()))
                .collect(),
        })
        .collect()
}

/// Measures and reports to `admission` until `stop` turns true.
pub async fn run(
    admission: Admission,
    settings: AdmissionSettings,
    kafka: KafkaSettings,
    mut stop: watch::Receiver<bool>,
) {
    let probe = match Backlog::new(&kafka, &saga_groups(&kafka)) {
        Ok(probe) => Arc::new(probe),
        Err(error) => {
            tracing::error!(%error, "admission control cannot measure the saga backlog; every order is admitted");
            return;
        }
    };
    let every = Duration::from_millis(settings.measure_every_ms.max(10));
    let mut previous: Option<(Instant, Measured)> = None;
    let mut rate = 0.0;
    let mut failing = false;
    while !*stop.borrow() {
        let measuring = Arc::clone(&probe);
        match tokio::task::spawn_blocking(move || measuring.measure()).await {
            Ok(Ok(measured)) => {
                let now = Instant::now();
                if let Some((at, before)) = previous {
                    let drained = measured.committed.saturating_sub(before.committed) as f64;
                    let sample = drained / now.duration_since(at).as_secs_f64().max(1e-3);
                    rate = RATE_WEIGHT * sample + (1.0 - RATE_WEIGHT) * rate;
                }
                previous = Some((now, measured));
                admission.report(measured.backlog, rate);
                failing = false;
            }
            Ok(Err(error)) if !failing => {
                tracing::warn!(%error, "admission control could not measure the saga backlog");
                failing = true;
            }
            _ => {}
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}
