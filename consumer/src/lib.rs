//! The Kafka consumer kit: what every consumer of the event topics shares, so that the
//! projection workers, the saga participants, the Kafka rebuild and the DLQ tooling consume
//! the same way.
//!
//! # Layout
//!
//! - [`config`]: [`ConsumerConfig`], a consumer's settings (group, `read_committed`, offset
//!   handling, session timeout, metadata refresh, end-of-partition events, prefetch cap),
//!   turned into librdkafka properties in one place, and [`subscribe`] to the topics of
//!   some event streams.
//! - [`decode`]: a message into an [`Envelope`] of a [`ShopEvent`](causeway_domain::ShopEvent)
//!   (key, `sequence`, Avro payload through the codec, headers through
//!   `causeway_infra::kafka::headers`), and [`classify`]: the one poison-or-transient policy
//!   for a codec error.
//! - [`dlq`]: [`DeadLetters`], the producer to `<topic>.dlq` that keeps the message and adds
//!   why, who and where (the `causeway.dlq.*` headers; the older `dlq_*` names still read),
//!   and counts it.
//! - [`delay`]: the `received` and `handled` stages of the per-hop latency breakdown.
//! - [`lag`]: [`ConsumerLag`], each consumer's lag per partition as a metric, and its
//!   running/restarting report to `/health/ready`.
//!
//! The kit knows the shop only through `causeway_domain` (the event it decodes into); the
//! plumbing underneath (client configuration, codec, topics, headers) is `causeway_infra`.

pub mod config;
pub mod decode;
pub mod delay;
pub mod dlq;
pub mod lag;

pub use config::{ConsumerConfig, subscribe};
pub use decode::{Envelope, Undecodable, classify, decode, decode_with};
pub use dlq::{DeadLetterHeaders, DeadLetters, Owner};
pub use lag::{ConsumerLag, Measuring};
