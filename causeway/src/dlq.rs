//! `causeway dlq list|redrive`: the dead-letter topics (`<topic>.dlq`, docs/architecture.md §6).
//!
//! A dead-lettered message keeps its key, bytes and headers, plus why (`causeway.dlq.error`),
//! the consumer that gave up (`causeway.dlq.consumer`) and where it was read
//! (`causeway.dlq.source_*`); see `causeway_consumer::dlq`, which also reads the names older
//! versions wrote (`dlq_error`, `dlq_projection`, `dlq_source_*`). `redrive` produces every
//! message not redriven yet back to its source topic (without the dead-letter headers, old or
//! new, with `causeway.dlq.redriven_from`), waits until Kafka has them, then records how far
//! it got as the committed offsets of the consumer group `<prefix>causeway.dlq.redrive`;
//! `list` marks the
//! messages below those offsets as redriven. A crash between the two redrives a message
//! again, which every consumer tolerates (projections by sequence, sagas by idempotent
//! commands). A redriven event reaches every consumer of its topic: a projection that already
//! applied later events of the same aggregate ignores it (ADR 0013).

use std::time::Duration;

use anyhow::Context;
use causeway_consumer::ConsumerConfig;
use causeway_consumer::dlq::{DeadLetterHeaders, is_dead_letter_header};
use causeway_domain::EventStream;
use causeway_infra::Settings;
use causeway_infra::kafka::headers::EventHeaders;
use causeway_infra::kafka::{client_config, header};
use causeway_infra::topics::Topics;
use clap::Subcommand;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// Header naming the DLQ position a redriven message came from.
pub const REDRIVEN_FROM_HEADER: &str = "causeway.dlq.redriven_from";

const TIMEOUT: Duration = Duration::from_secs(10);

/// `causeway dlq …`.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Print every dead-lettered message: where it came from, who gave up, and why.
    List {
        /// Only this stream's DLQ: customers, orders, inventory or payments.
        #[arg(long)]
        stream: Option<String>,
    },
    /// Send every message not redriven yet back to its source topic, to be handled again.
    Redrive {
        /// Only this stream's DLQ: customers, orders, inventory or payments.
        #[arg(long)]
        stream: Option<String>,
    },
}

/// One dead-lettered message.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The DLQ topic, partition and offset.
    pub position: (String, i32, i64),
    /// Whether `redrive` already sent it back.
    pub redriven: bool,
    /// The message as stored in the DLQ.
    pub message: OwnedMessage,
}

impl DeadLetter {
    /// A header of the message as text.
    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.message, name)
    }

    /// The event headers the relay wrote.
    pub fn event(&self) -> EventHeaders {
        EventHeaders::read(&self.message)
    }

    /// Why, who and where, under the current header names or the legacy ones.
    pub fn dead_letter(&self) -> DeadLetterHeaders {
        DeadLetterHeaders::read(&self.message)
    }
}

/// Runs a `dlq` subcommand, printing what it did.
#[allow(clippy::print_stdout)]
pub async fn run(command: DlqCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        DlqCommand::List { stream } => {
            let letters = list(settings, &streams(stream.as_deref())?)?;
            for letter in &letters {
                println!("{}", describe(letter));
            }
            let pending = letters.iter().filter(|l| !l.redriven).count();
            println!("{} dead-lettered, {pending} not redriven", letters.len());
        }
        DlqCommand::Redrive { stream } => {
            let count = redrive(settings, &streams(stream.as_deref())?).await?;
            println!("{count} messages redriven");
        }
    }
    Ok(())
}

fn streams(name: Option<&str>) -> anyhow::Result<Vec<EventStream>> {
    let Some(name) = name else {
        return Ok(EventStream::ALL.to_vec());
    };
    EventStream::ALL
        .into_iter()
        .find(|s| s.base_topic().split('.').next() == Some(name))
        .map(|s| vec![s])
        .with_context(|| format!("unknown stream {name}: customers, orders, inventory or payments"))
}

fn describe(letter: &DeadLetter) -> String {
    let (topic, partition, offset) = &letter.position;
    let (event, dead) = (letter.event(), letter.dead_letter());
    let field = |value: Option<String>| value.unwrap_or_else(|| "-".into());
    format!(
        "{topic}[{partition}]@{offset} {state} consumer={consumer} event={event_type} aggregate={aggregate} from={source}[{source_partition}]@{source_offset} error={error}",
        state = if letter.redriven {
            "redriven"
        } else {
            "pending"
        },
        consumer = field(dead.consumer),
        event_type = field(event.event_type),
        aggregate = field(event.aggregate_id),
        source = field(dead.source_topic),
        source_partition = field(dead.source_partition),
        source_offset = field(dead.source_offset),
        error = field(dead.error),
    )
}

fn group_id(settings: &Settings) -> String {
    format!("{}causeway.dlq.redrive", settings.kafka.topic_prefix)
}

fn consumer(settings: &Settings) -> anyhow::Result<BaseConsumer> {
    // Assigned by hand at given offsets: no group membership, no offset reset.
    let config = ConsumerConfig {
        read_committed: false,
        from_earliest: false,
        live_member: false,
        partition_eof: Some(false),
        ..ConsumerConfig::member(group_id(settings))
    };
    config
        .create(&settings.kafka)
        .context("creating the DLQ consumer")
}

/// Every message of the DLQs of `streams`, marked redriven or not.
pub fn list(settings: &Settings, streams: &[EventStream]) -> anyhow::Result<Vec<DeadLetter>> {
    let consumer = consumer(settings)?;
    let mut letters = Vec::new();
    for (topic, partition, committed, high) in partitions(settings, &consumer, streams)? {
        for message in read(&consumer, &topic, partition, 0, high)? {
            letters.push(DeadLetter {
                position: (topic.clone(), partition, message.offset()),
                redriven: message.offset() < committed,
                message,
            });
        }
    }
    Ok(letters)
}

/// Sends every message not redriven yet back to its source topic; answers how many.
pub async fn redrive(settings: &Settings, streams: &[EventStream]) -> anyhow::Result<usize> {
    let consumer = consumer(settings)?;
    let producer: FutureProducer = client_config(&settings.kafka)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .context("creating the redrive producer")?;
    let mut count = 0;
    for (topic, partition, committed, high) in partitions(settings, &consumer, streams)? {
        if committed >= high {
            continue;
        }
        for message in read(&consumer, &topic, partition, committed, high)? {
            send_back(&producer, &message).await?;
            count += 1;
        }
        let mut done = TopicPartitionList::new();
        done.add_partition_offset(&topic, partition, Offset::Offset(high))?;
        consumer
            .commit(&done, CommitMode::Sync)
            .with_context(|| format!("recording the redrive of {topic}[{partition}]"))?;
    }
    Ok(count)
}

/// `(dlq topic, partition, redriven up to, high watermark)` of every DLQ partition that exists.
fn partitions(
    settings: &Settings,
    consumer: &BaseConsumer,
    streams: &[EventStream],
) -> anyhow::Result<Vec<(String, i32, i64, i64)>> {
    let topics = Topics::new(&settings.kafka);
    let mut found = Vec::new();
    for stream in streams {
        let topic = topics.dlq(stream.base_topic());
        let metadata = consumer
            .fetch_metadata(Some(&topic), TIMEOUT)
            .with_context(|| format!("reading the metadata of {topic}"))?;
        let Some(meta) = metadata.topics().first().filter(|t| t.error().is_none()) else {
            continue;
        };
        let mut asked = TopicPartitionList::new();
        for p in meta.partitions() {
            asked.add_partition(&topic, p.id());
        }
        let committed = consumer
            .committed_offsets(asked, TIMEOUT)
            .context("reading the redrive offsets")?;
        for p in meta.partitions() {
            let (_low, high) = consumer.fetch_watermarks(&topic, p.id(), TIMEOUT)?;
            let done = committed
                .find_partition(&topic, p.id())
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .unwrap_or(0);
            found.push((topic.clone(), p.id(), done, high));
        }
    }
    Ok(found)
}

/// The messages of one partition in `[from, to)`.
fn read(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
) -> anyhow::Result<Vec<OwnedMessage>> {
    let mut messages = Vec::new();
    if from >= to {
        return Ok(messages);
    }
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(from))?;
    consumer.assign(&assignment)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while messages
        .last()
        .map_or(from, |m: &OwnedMessage| m.offset() + 1)
        < to
    {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "timed out reading {topic}[{partition}] up to offset {to}"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => messages.push(message.detach()),
            Some(Err(error)) => return Err(error).context(format!("reading {topic}")),
            None => {}
        }
    }
    Ok(messages)
}

async fn send_back(producer: &FutureProducer, message: &OwnedMessage) -> anyhow::Result<()> {
    let source = DeadLetterHeaders::read(message)
        .source_topic
        .or_else(|| message.topic().strip_suffix(".dlq").map(str::to_owned))
        .context("a dead letter without its source topic")?;
    let from = format!(
        "{}[{}]@{}",
        message.topic(),
        message.partition(),
        message.offset()
    );
    let mut headers = OwnedHeaders::new();
    if let Some(original) = message.headers() {
        for h in original.iter().filter(|h| !is_dead_letter_header(h.key)) {
            headers = headers.insert(h);
        }
    }
    headers = headers.insert(Header {
        key: REDRIVEN_FROM_HEADER,
        value: Some(from.as_str()),
    });
    let mut record = FutureRecord::to(&source).headers(headers);
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(payload) = message.payload() {
        record = record.payload(payload);
    }
    producer
        .send(record, TIMEOUT)
        .await
        .map_err(|(error, _)| error)
        .with_context(|| format!("redriving {from} to {source}"))?;
    Ok(())
}
