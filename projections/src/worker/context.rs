//! The consumer context that seeks to the stored offsets whenever partitions are assigned.

use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sqlx::PgPool;
use tokio::runtime::Handle;

use crate::offsets;

/// Rebalance callbacks run inside `poll`, on the worker's blocking thread, so they may block
/// on the runtime to read the stored offsets.
pub(crate) struct SeekingContext {
    pub(crate) pool: PgPool,
    pub(crate) handle: Handle,
    pub(crate) projection: &'static str,
    revoked: AtomicBool,
    seek_failed: AtomicBool,
}

impl SeekingContext {
    pub(crate) fn new(pool: PgPool, handle: Handle, projection: &'static str) -> Self {
        Self {
            pool,
            handle,
            projection,
            revoked: AtomicBool::new(false),
            seek_failed: AtomicBool::new(false),
        }
    }

    /// Whether partitions were revoked since the last call (messages polled before are stale).
    pub(crate) fn take_revoked(&self) -> bool {
        self.revoked.swap(false, Ordering::SeqCst)
    }

    /// Whether an assignment could not be positioned at the stored offsets.
    pub(crate) fn seek_failed(&self) -> bool {
        self.seek_failed.load(Ordering::SeqCst)
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let stored = match self
            .handle
            .block_on(offsets::load(&self.pool, self.projection))
        {
            Ok(stored) => stored,
            Err(error) => {
                tracing::error!(projection = self.projection, %error, "could not read stored offsets");
                self.seek_failed.store(true, Ordering::SeqCst);
                return;
            }
        };
        let partitions: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        for (topic, partition) in partitions {
            let offset = stored
                .get(&(topic.clone(), partition))
                .map_or(Offset::Beginning, |next| Offset::Offset(*next));
            if tpl.set_partition_offset(&topic, partition, offset).is_err() {
                self.seek_failed.store(true, Ordering::SeqCst);
            }
        }
        tracing::info!(projection = self.projection, assignment = ?tpl, "partitions assigned");
        if let Err(error) = consumer.assign(tpl) {
            tracing::error!(projection = self.projection, %error, "assign failed");
            self.seek_failed.store(true, Ordering::SeqCst);
        }
    }
}

impl ClientContext for SeekingContext {}

impl ConsumerContext for SeekingContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.revoked.store(true, Ordering::SeqCst);
                if let Err(error) = consumer.unassign() {
                    tracing::warn!(projection = self.projection, %error, "unassign failed");
                }
            }
            other => {
                tracing::error!(projection = self.projection, ?other, "rebalance error");
                self.seek_failed.store(true, Ordering::SeqCst);
            }
        }
    }
}
