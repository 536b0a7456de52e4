//! Consumer lag: for every partition a consumer is assigned, the messages it has not consumed
//! yet (high watermark − next offset), reported as the [`CONSUMER_LAG`] gauge every few
//! seconds.
//!
//! The high watermark is asked of the broker (a `ListOffsets` round trip per partition, with
//! the consumer's `read_committed` isolation, so it is the last stable offset); the next
//! offset is the consumer's position, which librdkafka moves past transaction markers. The
//! calls block (up to a second per partition): [`ConsumerLag::measure_beside`] makes them on
//! a blocking thread of their own, beside the loop that consumes. Made inside that loop, the
//! round trips of a consumer of four topics (24 partitions) held every batch back for as
//! long as they took.
//!
//! While a [`ConsumerLag`] lives its consumer reports itself running to `/health/ready`
//! (`causeway_infra::health::roles`); dropped after a failure, restarting (not ready);
//! dropped because the platform stops, nothing (a later platform of the same scope in the
//! same process does not inherit it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use causeway_infra::health::roles::{self, RESTARTING, RUNNING};
use causeway_infra::metrics::{CONSUMER_LAG, label};
use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the lag is measured.
pub const REPORT_EVERY: Duration = Duration::from_secs(2);
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(1);

/// Measures one consumer's lag now and then.
#[derive(Debug)]
pub struct ConsumerLag {
    scope: String,
    consumer: String,
    stop: watch::Receiver<bool>,
    every: Duration,
    last: Option<Instant>,
}

impl ConsumerLag {
    /// Lag of `consumer` (the label, e.g. `projection.orders`), measured every
    /// [`REPORT_EVERY`]; reports the consumer running in `scope` (the Kafka topic prefix)
    /// until dropped, and restarting after, unless `stop` is true by then.
    pub fn new(scope: &str, consumer: impl Into<String>, stop: &watch::Receiver<bool>) -> Self {
        let consumer = consumer.into();
        roles::report(scope, &consumer, RUNNING, true);
        Self {
            scope: scope.to_owned(),
            consumer,
            stop: stop.clone(),
            every: REPORT_EVERY,
            last: None,
        }
    }

    /// Measures `consumer`'s lag now and every [`REPORT_EVERY`], on blocking threads of
    /// `runtime`, until the returned [`Measuring`] is dropped; the consumer is reported
    /// running meanwhile.
    pub fn measure_beside<K, C>(self, consumer: Arc<K>, runtime: &Handle) -> Measuring
    where
        K: Consumer<C> + Send + Sync + 'static,
        C: ConsumerContext + 'static,
    {
        Measuring(runtime.spawn(measure(self, consumer)))
    }

    /// Reports the lag if it was last reported long enough ago. Blocks for the broker's
    /// answers.
    pub fn tick<C: ConsumerContext>(&mut self, consumer: &impl Consumer<C>) {
        if self.last.is_some_and(|last| last.elapsed() < self.every) {
            return;
        }
        self.last = Some(Instant::now());
        // Again on every measure: a predecessor dropped late (after a restart) may have
        // reported the consumer restarting after this one reported it running.
        roles::report(&self.scope, &self.consumer, RUNNING, true);
        match consumer.position() {
            Ok(positions) => self.report(consumer, &positions),
            Err(error) => {
                tracing::debug!(consumer = %self.consumer, %error, "no consumer position")
            }
        }
    }

    fn report<C: ConsumerContext>(
        &self,
        consumer: &impl Consumer<C>,
        positions: &TopicPartitionList,
    ) {
        for entry in positions.elements() {
            let (topic, partition) = (entry.topic(), entry.partition());
            let (low, high) = match consumer.fetch_watermarks(topic, partition, WATERMARK_TIMEOUT) {
                Ok(watermarks) => watermarks,
                Err(error) => {
                    tracing::debug!(consumer = %self.consumer, topic, partition, %error, "no watermarks");
                    continue;
                }
            };
            let Some(lag) = lag(entry.offset(), low, high) else {
                continue;
            };
            metrics::gauge!(CONSUMER_LAG, label::CONSUMER => self.consumer.clone(),
                label::TOPIC => topic.to_owned(), label::PARTITION => partition.to_string())
            .set(lag as f64);
        }
    }
}

impl Drop for ConsumerLag {
    fn drop(&mut self) {
        if *self.stop.borrow() {
            roles::forget(&self.scope, &self.consumer);
        } else {
            roles::report(&self.scope, &self.consumer, RESTARTING, false);
        }
    }
}

/// Measuring a consumer's lag beside it; stops when dropped.
#[derive(Debug)]
pub struct Measuring(JoinHandle<()>);

impl Drop for Measuring {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn measure<K, C>(mut lag: ConsumerLag, consumer: Arc<K>)
where
    K: Consumer<C> + Send + Sync + 'static,
    C: ConsumerContext + 'static,
{
    loop {
        let consumer = Arc::clone(&consumer);
        match tokio::task::spawn_blocking(move || {
            lag.tick(consumer.as_ref());
            lag
        })
        .await
        {
            Ok(measured) => lag = measured,
            Err(_) => return,
        }
        tokio::time::sleep(REPORT_EVERY).await;
    }
}

/// The messages between `position` and `high`; unknown when nothing was consumed from a
/// partition that holds messages.
fn lag(position: Offset, low: i64, high: i64) -> Option<i64> {
    match position {
        Offset::Offset(next) => Some((high - next).max(0)),
        _ if high <= low => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_what_lies_between_the_position_and_the_high_watermark() {
        assert_eq!(lag(Offset::Offset(7), 0, 10), Some(3));
        assert_eq!(lag(Offset::Offset(10), 0, 10), Some(0));
        assert_eq!(lag(Offset::Invalid, 4, 4), Some(0));
        assert_eq!(lag(Offset::Invalid, 0, 4), None);
    }
}
