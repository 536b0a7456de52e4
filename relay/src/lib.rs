//! The relay: publishes every committed event from the event table to Kafka, exactly once
//! as seen by `read_committed` consumers, in per-aggregate order (docs/architecture.md §1.3, ADR 0002).
//!
//! It reads the event store's commit order (`causeway_event_store::commit_order`: committed
//! events in commit order, never skipping a late commit) and owns the rest:
//!
//! - `reader`: a task reading and encoding pages of events ahead of the publisher.
//! - [`publisher`]: a transactional producer; each batch (one or more pages) and its
//!   checkpoint share one Kafka transaction.
//! - [`checkpoint`]: the checkpoint topic, read back when a relay becomes leader.
//! - [`leader`]: the advisory lock that makes one relay active and the others standbys.
//! - `spans`: a span per published event, child of the command that stored it, linked
//!   to its batch; its context is the `traceparent` header consumers continue.
//!
//! Delivery guarantee: exactly once for `read_committed` consumers. A crash before a Kafka
//! commit aborts the transaction (events and checkpoint together); the next leader fences the
//! old producer, reads the last committed checkpoint and publishes from there.

pub mod checkpoint;
mod error;
pub mod leader;
pub mod publisher;
mod reader;
mod spans;

use std::time::Duration;

use causeway_domain::EventStream;
use causeway_event_store::Position;
use causeway_event_store::commit_order;
use causeway_infra::avro::EventCodec;
use causeway_infra::health::roles::relay_leads;
use causeway_infra::kafka::{TopicSpec, ensure_topics};
use causeway_infra::metrics::{RELAY_LAG, RELAY_PUBLISHED};
use causeway_infra::settings::{DatabaseSettings, KafkaSettings, RelaySettings};
use causeway_infra::topics::Topics;
use sqlx::PgPool;
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::sync::watch;
use tokio::time::Instant;

pub use error::RelayError;
use leader::Leadership;
use publisher::TransactionalPublisher;
use reader::{Page, PageResult, Reader, ReaderConfig};

const STEP_DOWN_PAUSE: Duration = Duration::from_secs(1);
const LOCK_CHECK_EVERY: Duration = Duration::from_secs(1);

/// What one committed transaction published.
struct Published {
    events: usize,
    last: Position,
    /// The highest global position among its events.
    newest: i64,
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
        // Fence any earlier producer before reading the checkpoint it may still have written.
        let publisher = TransactionalPublisher::start(&self.settings, &self.kafka).await?;
        let position = checkpoint::read(&self.settings, &self.kafka).await?;
        tracing::info!(?position, "relay resumes after its checkpoint");
        let settings = &self.settings;
        let page_size = settings.page_size.clamp(1, settings.batch_size.max(1));
        // The reader stops when it is dropped, on any return from here.
        let (_reader, mut pages) = Reader::start(
            ReaderConfig {
                pool: self.pool.clone(),
                codec: self.codec.clone(),
                topics: self.topics.clone(),
                page_size,
                poll: Duration::from_millis(settings.poll_interval_ms),
                ahead: (settings.batch_size / page_size) as usize + 1,
            },
            position,
        );
        let mut lock_checked = Instant::now();
        let mut newest = position.global_position;
        let mut carried = None;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if lock_checked.elapsed() >= LOCK_CHECK_EVERY {
                if !leadership.still_held().await {
                    return Err(RelayError::LostLeadership);
                }
                lock_checked = Instant::now();
                self.report_lag(newest).await;
            }
            let first = match carried.take() {
                Some(page) => page,
                None => tokio::select! {
                    page = pages.recv() => page.ok_or_else(reader_gone)??,
                    changed = stop.changed() => {
                        if changed.is_err() || *stop.borrow() {
                            return Ok(());
                        }
                        continue;
                    }
                    () = tokio::time::sleep(LOCK_CHECK_EVERY) => continue,
                },
            };
            if first.events.is_empty() {
                continue;
            }
            publisher.begin().await?;
            let published = match self
                .transact(&publisher, &mut pages, first, &mut carried)
                .await
            {
                Ok(published) => published,
                Err(error) => {
                    publisher.abort_if_possible(&error).await;
                    return Err(error);
                }
            };
            metrics::counter!(RELAY_PUBLISHED).increment(published.events as u64);
            newest = newest.max(published.newest);
            tracing::debug!(events = published.events, last = ?published.last, "relay published a batch");
        }
    }

    /// Fills the open transaction, starting with `first`: pages already read go in, and while
    /// the reader is behind (its last page was full) the transaction waits for the next one,
    /// until it holds `batch_size` events or is `transaction_max_ms` old. Then it commits
    /// with the checkpoint of its last event. A page that does not fit whole is split: its
    /// rest is left in `carried`, first in the next transaction.
    ///
    /// Caught up, it commits as soon as the waiting events are in, so each saga step waits
    /// for the relay no longer than before; behind, the ~50 ms each commit costs the broker
    /// (its transaction markers) is spread over many pages, and the reader reads and encodes
    /// the next pages meanwhile.
    async fn transact(
        &self,
        publisher: &TransactionalPublisher,
        pages: &mut mpsc::Receiver<PageResult>,
        first: Page,
        carried: &mut Option<Page>,
    ) -> Result<Published, RelayError> {
        let settings = &self.settings;
        let limit = settings.batch_size.max(1) as usize;
        let deadline = Instant::now() + Duration::from_millis(settings.transaction_max_ms);
        let mut published = Published {
            events: 0,
            last: Position::default(),
            newest: 0,
        };
        // Open until the transaction has committed (or failed).
        let mut spans = Vec::new();
        let mut page = first;
        loop {
            let room = limit - published.events;
            if page.events.len() > room {
                *carried = Some(Page {
                    events: page.events.split_off(room),
                    full: page.full,
                    span: page.span.clone(),
                });
            }
            let behind = page.full;
            let mut records = Vec::with_capacity(page.events.len());
            for event in page.events {
                published.last = event.position;
                published.newest = published.newest.max(event.position.global_position);
                records.push(event.record);
                spans.extend(event.span);
            }
            spans.push(page.span);
            published.events += records.len();
            publisher.produce(records).await?;
            if carried.is_some() || published.events >= limit || Instant::now() >= deadline {
                break;
            }
            page = match pages.try_recv() {
                Ok(next) => next?,
                Err(TryRecvError::Empty) if behind => {
                    match tokio::time::timeout_at(deadline, pages.recv()).await {
                        Ok(next) => next.ok_or_else(reader_gone)??,
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(reader_gone()),
            };
        }
        publisher.commit(published.last).await?;
        drop(spans);
        Ok(published)
    }

    /// Every topic the relay writes: the checkpoint, and each events topic with its DLQ.
    fn topic_specs(&self) -> Vec<TopicSpec> {
        let partitions = self.kafka.event_partitions;
        let streams = EventStream::ALL.into_iter();
        let names = streams.flat_map(|s| {
            let base = s.base_topic();
            [self.topics.events(base), self.topics.dlq(base)]
        });
        let events = names.map(|name| TopicSpec {
            name,
            partitions,
            compacted: false,
        });
        std::iter::once(checkpoint::topic_spec(&self.settings))
            .chain(events)
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

/// Sleeps, waking early when `stop` turns true; answers whether to stop.
async fn sleep_or_stop(duration: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}
