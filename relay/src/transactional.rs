//! `relay.delivery = "transactional"`: each batch (one or more pages) and its checkpoint
//! share one Kafka transaction, so a `read_committed` consumer sees every event exactly once,
//! even across a relay crash (ADR 0006, 0016). A commit costs about 100 ms on one broker
//! here, and every saga hop waits for one.

use std::time::Duration;

use causeway_event_store::Position;
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::time::Instant;

use super::publisher::TransactionalPublisher;
use super::reader::{Page, PageResult, Reader};
use super::{RelayError, Term, checkpoint, reader_gone};

/// What one committed transaction published.
struct Published {
    events: usize,
    last: Position,
    /// The highest global position among its events.
    newest: i64,
}

/// Publishes in transactions until the term ends.
pub(super) async fn lead(term: &mut Term<'_>) -> Result<(), RelayError> {
    let relay = term.relay;
    let settings = &relay.settings;
    // Fence any earlier producer before reading the checkpoint it may still have written.
    let publisher = TransactionalPublisher::start(settings, &relay.kafka).await?;
    let position = checkpoint::read(settings, &relay.kafka).await?;
    tracing::info!(?position, "relay resumes after its checkpoint");
    term.newest = position.global_position;
    let page_size = settings.page_size.clamp(1, settings.batch_size.max(1));
    let ahead = (settings.batch_size / page_size) as usize + 1;
    let wake = super::wake::listen(&relay.pool).await;
    // The reader stops when it is dropped, on any return from here.
    let (_reader, mut pages) = Reader::start(relay.reader_config(page_size, ahead, wake), position);
    let mut carried = None;
    loop {
        if term.stopping() {
            return Ok(());
        }
        term.check_lock().await?;
        let first = match carried.take() {
            Some(page) => page,
            None => tokio::select! {
                page = pages.recv() => page.ok_or_else(reader_gone)??,
                changed = term.stop.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    continue;
                }
                () = tokio::time::sleep(super::LOCK_CHECK_EVERY) => continue,
            },
        };
        if first.events.is_empty() {
            continue;
        }
        publisher.begin().await?;
        let published = match transact(term, &publisher, &mut pages, first, &mut carried).await {
            Ok(published) => published,
            Err(error) => {
                publisher.abort_if_possible(&error).await;
                return Err(error);
            }
        };
        term.published(published.events, published.newest);
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
    term: &Term<'_>,
    publisher: &TransactionalPublisher,
    pages: &mut mpsc::Receiver<PageResult>,
    first: Page,
    carried: &mut Option<Page>,
) -> Result<Published, RelayError> {
    let settings = &term.relay.settings;
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
