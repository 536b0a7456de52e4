//! The relay: publishes every committed event from the event table to Kafka in per-aggregate
//! order, losing none (docs/architecture.md §1.3, ADR 0002, 0018).
//!
//! It reads the event store's commit order (`causeway_event_store::commit_order`: committed
//! events in commit order, never skipping a late commit) and owns the rest:
//!
//! - `wake`: `LISTEN causeway_events`, so the reader looks as soon as events are stored.
//! - `reader`: a task reading and encoding pages of events ahead of the publisher.
//! - `idempotent` (`relay.delivery = "idempotent"`, the default): an idempotent producer
//!   publishes pages as they come; the checkpoint follows Kafka's acknowledgements. A crash
//!   republishes the events after the checkpoint: a plain consumer may see that suffix twice,
//!   in order; every Causeway consumer applies each event once (ADR 0018).
//! - `transactional` (`"transactional"`) with [`publisher`]: each batch and its checkpoint
//!   share one Kafka transaction, exactly once for `read_committed` consumers (ADR 0006, 0016).
//! - [`checkpoint`]: the checkpoint topic, read back when a relay becomes leader.
//! - [`leader`]: the advisory lock that makes one relay active and the others standbys.
//! - `spans`: a span per published event, child of the command that stored it, linked
//!   to its batch; its context is the `traceparent` header consumers continue.

pub mod checkpoint;
mod error;
mod idempotent;
pub mod leader;
pub mod publisher;
mod reader;
mod spans;
mod transactional;
mod wake;

use std::time::Duration;

use causeway_domain::EventStream;
use causeway_event_store::commit_order;
use causeway_infra::avro::EventCodec;
use causeway_infra::health::roles::relay_leads;
use causeway_infra::kafka::{TopicSpec, ensure_topics, event_topic_specs};
use causeway_infra::metrics::{RELAY_LAG, RELAY_PUBLISHED};
use causeway_infra::settings::{DatabaseSettings, KafkaSettings, RelayDelivery, RelaySettings};
use causeway_infra::topics::Topics;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::time::Instant;

pub use error::RelayError;
use leader::Leadership;
use reader::ReaderConfig;
use wake::Wake;

const STEP_DOWN_PAUSE: Duration = Duration::from_secs(1);
const LOCK_CHECK_EVERY: Duration = Duration::from_secs(1);

/// One term as leader: what both delivery loops check between batches.
struct Term<'r> {
    relay: &'r Relay,
    leadership: &'r mut Leadership,
    stop: &'r mut watch::Receiver<bool>,
    lock_checked: Instant,
    /// The highest global position published this term (for the lag gauge).
    newest: i64,
}

impl Term<'_> {
    /// Whether the relay was told to stop.
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Every [`LOCK_CHECK_EVERY`]: fails when the leader lock is lost, and reports the lag.
    async fn check_lock(&mut self) -> Result<(), RelayError> {
        if self.lock_checked.elapsed() < LOCK_CHECK_EVERY {
            return Ok(());
        }
        if !self.leadership.still_held().await {
            return Err(RelayError::LostLeadership);
        }
        self.lock_checked = Instant::now();
        self.relay.report_lag(self.newest).await;
        Ok(())
    }

    /// Counts `events` published, the newest at global position `newest`.
    fn published(&mut self, events: usize, newest: i64) {
        metrics::counter!(RELAY_PUBLISHED).increment(events as u64);
        self.newest = self.newest.max(newest);
    }
}

/// The relay role.
pub struct Relay {
    settings: RelaySettings,
    kafka: KafkaSettings,
    /// Where the leader lock's own connection goes.
    database: DatabaseSettings,
    pool: PgPool,
    codec: EventCodec,
    topics: Topics,
}

impl Relay {
    /// A relay configured by the `relay` settings, over the event store in `pool` (whose
    /// `database` settings also open the leader lock's connection), Kafka and the registry.
    pub fn new(
        settings: &RelaySettings,
        kafka: &KafkaSettings,
        database: &DatabaseSettings,
        pool: PgPool,
        codec: EventCodec,
    ) -> Self {
        Self {
            settings: settings.clone(),
            kafka: kafka.clone(),
            database: database.clone(),
            pool,
            codec,
            topics: Topics::new(kafka),
        }
    }

    /// Stands by until it is the leader, then publishes until `stop` turns true. A leader
    /// that fails steps down (releasing the lock) and starts over.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            relay_leads(&self.kafka.topic_prefix, false);
            let Some(mut leadership) =
                Leadership::acquire(&self.settings, &self.database, &stop).await
            else {
                return;
            };
            relay_leads(&self.kafka.topic_prefix, true);
            tracing::info!("relay is the leader");
            match self.lead(&mut leadership, &mut stop).await {
                Ok(()) => {
                    relay_leads(&self.kafka.topic_prefix, false);
                    return;
                }
                Err(error) => {
                    tracing::error!(error = %causeway_infra::error::error_chain(&error), "relay stepped down");
                }
            }
            // No longer the leader from here: a standby may take the lock during the pause.
            relay_leads(&self.kafka.topic_prefix, false);
            drop(leadership);
            if sleep_or_stop(STEP_DOWN_PAUSE, &mut stop).await {
                return;
            }
        }
    }

    async fn lead(
        &self,
        leadership: &mut Leadership,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), RelayError> {
        ensure_topics(&self.kafka, &self.topic_specs()).await?;
        // Beside the term, not before it: the first events need not wait for every subject
        // (registering them all takes the registry most of a second).
        let _preparing = Preparing(tokio::spawn(prepare_schemas(
            self.codec.clone(),
            self.topics.clone(),
        )));
        let mut term = Term {
            relay: self,
            leadership,
            stop,
            lock_checked: Instant::now(),
            newest: 0,
        };
        match self.settings.delivery {
            RelayDelivery::Idempotent => idempotent::lead(&mut term).await,
            RelayDelivery::Transactional => transactional::lead(&mut term).await,
        }
    }

    /// The reader's configuration: pages of at most `page_size`, `ahead` of them read ahead,
    /// woken by `wake` when events are stored.
    fn reader_config(&self, page_size: u32, ahead: usize, wake: Wake) -> ReaderConfig {
        ReaderConfig {
            pool: self.pool.clone(),
            codec: self.codec.clone(),
            topics: self.topics.clone(),
            page_size,
            poll: Duration::from_millis(self.settings.poll_interval_ms),
            ahead,
            wake,
        }
    }

    /// Every topic the relay writes: the checkpoint, and each events topic with its DLQ.
    fn topic_specs(&self) -> Vec<TopicSpec> {
        let bases = EventStream::ALL.into_iter().map(|s| s.base_topic());
        std::iter::once(checkpoint::topic_spec(&self.settings))
            .chain(event_topic_specs(&self.kafka, bases))
            .collect()
    }

    /// Sets [`RELAY_LAG`]: the newest stored global position minus the newest published.
    async fn report_lag(&self, newest_published: i64) {
        match commit_order::head(&self.pool).await {
            Ok(head) => {
                let lag = (head.unwrap_or(0) - newest_published).max(0);
                metrics::gauge!(RELAY_LAG).set(lag as f64);
            }
            Err(error) => tracing::debug!(%error, "relay lag unknown: no event store head"),
        }
    }
}

/// The reader task ended without an error (it never does while its pages are wanted).
fn reader_gone() -> RelayError {
    RelayError::Reader("its channel closed".to_owned())
}

/// Registers every event type's schema under its topic before the first event needs it
/// (a subject's first use costs two registry round trips). A failure is only logged: the
/// first encode of that subject tries again.
async fn prepare_schemas(codec: EventCodec, topics: Topics) {
    let pairs = EventStream::ALL.into_iter().flat_map(|stream| {
        let topic = topics.events(stream.base_topic());
        stream
            .event_types()
            .iter()
            .map(move |&event_type| (topic.clone(), event_type))
    });
    let codec = &codec;
    let prepared = futures::future::join_all(pairs.map(|(topic, event_type)| async move {
        (event_type, codec.prepare(&topic, event_type).await)
    }))
    .await;
    for (event_type, result) in prepared {
        if let Err(error) = result {
            tracing::warn!(event_type, %error, "schema not registered ahead of use");
        }
    }
}

/// The task of [`prepare_schemas`], stopped when the term ends.
struct Preparing(tokio::task::JoinHandle<()>);

impl Drop for Preparing {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sleeps, waking early when `stop` turns true; answers whether to stop.
async fn sleep_or_stop(duration: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}
