//! The reading side of the relay: a task that reads pages of committed events in commit
//! order and encodes them (Avro value, headers, publish spans) on a blocking thread, ahead of
//! the publisher, through a bounded channel. Caught up, it waits for a wake-up (`wake`: new
//! events were stored) or the poll interval, whichever comes first.
//!
//! It only ever reads ahead: what it has read is published (and checkpointed) by the
//! publisher, in the order it was read. When the publisher fails the relay steps down, this
//! task is stopped, and the next leader starts a new one from the committed checkpoint, so
//! whatever was read but not committed is read again.

use causeway_domain::EventStream;
use causeway_event_store::commit_order::{self, Position, StoredEvent};
use causeway_infra::avro::EventCodec;
use causeway_infra::kafka::headers::EventHeaders;
use causeway_infra::metrics::{EVENT_DELAY, label, stage};
use causeway_infra::topics::Topics;
use chrono::{DateTime, Utc};
use rdkafka::message::OwnedHeaders;
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Span;

use super::RelayError;
use super::publisher::OutgoingRecord;
use super::spans::PageSpans;
use super::wake::Wake;

/// While a notified event is held back (`Wake::held_back`), the reader looks this often, for
/// up to its poll interval after the wake-up: the event waits until every transaction older
/// than its own has ended (the commit order reads below `pg_snapshot_xmin`), which takes a
/// few milliseconds while other writers are busy.
const RETRY_EVERY: Duration = Duration::from_millis(2);

/// One event ready to produce, with its place in commit order and its publish span.
pub(super) struct Encoded {
    pub(super) record: OutgoingRecord,
    pub(super) position: Position,
    /// When it was stored.
    pub(super) recorded_at: DateTime<Utc>,
    /// Open until the event's transaction has committed (or failed).
    pub(super) span: Option<Span>,
}

/// Events read by one query, encoded, in commit order.
pub(super) struct Page {
    pub(super) events: Vec<Encoded>,
    /// The query returned as many events as it asked for: more are waiting.
    pub(super) full: bool,
    /// The page's `relay.batch` span, open while any of its events is unpublished.
    pub(super) span: Span,
}

impl Page {
    /// No events: the reader found nothing after a full page.
    fn caught_up() -> Self {
        Self {
            events: Vec::new(),
            full: false,
            span: Span::none(),
        }
    }
}

/// What the reader hands the publisher: a page, or the error that stopped it.
pub(super) type PageResult = Result<Page, RelayError>;

/// The reader task; dropping it stops the task.
pub(super) struct Reader {
    task: JoinHandle<()>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the reader needs, cloned into its task.
pub(super) struct ReaderConfig {
    pub(super) pool: PgPool,
    pub(super) codec: EventCodec,
    pub(super) topics: Topics,
    pub(super) page_size: u32,
    pub(super) poll: Duration,
    /// Pages read ahead of the publisher, at most.
    pub(super) ahead: usize,
    /// Wakes the reader when events are stored.
    pub(super) wake: Wake,
}

impl Reader {
    /// Starts reading after `after`; pages arrive on the returned receiver.
    pub(super) fn start(
        config: ReaderConfig,
        after: Position,
    ) -> (Self, mpsc::Receiver<PageResult>) {
        let (pages, received) = mpsc::channel(config.ahead.max(1));
        let task = tokio::spawn(read(config, after, pages));
        (Self { task }, received)
    }
}

async fn read(config: ReaderConfig, mut after: Position, pages: mpsc::Sender<PageResult>) {
    // The page being encoded on a blocking thread while the next one is read.
    let mut encoding: Option<JoinHandle<PageResult>> = None;
    let mut behind = false;
    // Set by a wake-up: until then, look again soon while a notified event is held back.
    let mut eager_until: Option<tokio::time::Instant> = None;
    loop {
        let read = commit_order::fetch_after(&config.pool, after, config.page_size).await;
        if let Some(page) = encoding.take() {
            let page = page
                .await
                .unwrap_or_else(|e| Err(RelayError::Reader(e.to_string())));
            let failed = page.is_err();
            if pages.send(page).await.is_err() || failed {
                return;
            }
        }
        let events = match read {
            Ok(events) => events,
            Err(error) => {
                let _ = pages.send(Err(error.into())).await;
                return;
            }
        };
        let Some(last) = events.last().map(StoredEvent::position) else {
            // Caught up: say so once, so that a transaction waiting for more commits now.
            if std::mem::take(&mut behind) && pages.send(Ok(Page::caught_up())).await.is_err() {
                return;
            }
            let now = tokio::time::Instant::now();
            let eager = eager_until.is_some_and(|until| now < until)
                && config.wake.held_back(after.transaction_id);
            let wait = if eager { RETRY_EVERY } else { config.poll };
            tokio::select! {
                () = config.wake.notified() => eager_until = Some(now + config.poll),
                () = tokio::time::sleep(wait) => {}
                () = pages.closed() => return,
            }
            continue;
        };
        after = last;
        behind = events.len() >= config.page_size as usize;
        record_read(&events);
        let codec = config.codec.clone();
        let topics = config.topics.clone();
        let runtime = tokio::runtime::Handle::current();
        // Encoding is CPU work: on a blocking thread it neither holds up the runtime's
        // workers nor the next read. It awaits only on a subject's first use (registering
        // its schema).
        encoding = Some(tokio::task::spawn_blocking(move || {
            runtime.block_on(encode_page(&codec, &topics, events, behind))
        }));
    }
}

/// The [`stage::READ`] delay of each event just read.
fn record_read(events: &[StoredEvent]) {
    let now = chrono::Utc::now();
    let read =
        metrics::histogram!(EVENT_DELAY, label::STAGE => stage::READ, label::CONSUMER => "relay");
    for event in events {
        read.record(
            (now - event.recorded_at)
                .to_std()
                .unwrap_or_default()
                .as_secs_f64(),
        );
    }
}

async fn encode_page(
    codec: &EventCodec,
    topics: &Topics,
    events: Vec<StoredEvent>,
    full: bool,
) -> Result<Page, RelayError> {
    let spans = PageSpans::new(events.len());
    let mut encoded = Vec::with_capacity(events.len());
    for event in &events {
        let (topic, value) = encode(codec, topics, event).await?;
        let mut traceparent = event.traceparent.clone();
        let span = spans.publish(event, &topic, &mut traceparent);
        encoded.push(Encoded {
            record: OutgoingRecord {
                headers: headers(event, traceparent.as_deref()),
                key: event.aggregate_id.clone(),
                topic,
                value,
            },
            position: event.position(),
            recorded_at: event.recorded_at,
            span,
        });
    }
    Ok(Page {
        events: encoded,
        full,
        span: spans.into_batch(),
    })
}

async fn encode(
    codec: &EventCodec,
    topics: &Topics,
    event: &StoredEvent,
) -> Result<(String, Vec<u8>), RelayError> {
    let encode_error = |reason: String| RelayError::Encode {
        event_type: event.event_type.clone(),
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence,
        reason,
    };
    let topic = EventStream::from_aggregate_type(&event.aggregate_type)
        .map(|stream| topics.events(stream.base_topic()))
        .map_err(|e| encode_error(e.to_string()))?;
    let value = codec
        .encode(&topic, &event.event_type, &event.data)
        .await
        .map_err(|e| encode_error(e.to_string()))?;
    Ok((topic, value))
}

/// The Kafka headers of one event (ADR 0006); `traceparent` is the publish span's context
/// when traces are exported, else the stored one.
fn headers(event: &StoredEvent, traceparent: Option<&str>) -> OwnedHeaders {
    EventHeaders {
        event_type: Some(event.event_type.clone()),
        event_id: Some(event.event_id().hyphenated().to_string()),
        aggregate_type: Some(event.aggregate_type.clone()),
        aggregate_id: Some(event.aggregate_id.clone()),
        sequence: Some(event.sequence),
        event_version: Some(event.event_version.clone()),
        recorded_at: Some(event.recorded_at),
        correlation_id: event.correlation_id.clone(),
        causation_id: event.causation_id.clone(),
        traceparent: traceparent.map(str::to_owned),
    }
    .write()
}
