//! Every Prometheus metric of the platform: its name, its labels and its description, in one
//! place (docs/architecture.md §4), and the process-wide recorder that `/metrics` renders.
//!
//! Callers record with the `metrics` macros and these constants, e.g.
//! `metrics::counter!(EVENTS_APPENDED, label::AGGREGATE => "Order").increment(1)`.
//! [`install`] sets the global recorder once per process (later calls answer the same handle,
//! so tests may build several apps in one process) and describes every metric. Before it runs,
//! or in a process that never calls it, recording is a no-op.
//!
//! Counters and gauges are process totals: a scrape of two processes is summed by Prometheus.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::InfraError;

/// HTTP requests answered, by `route` (the matched path), `method` and `status`.
pub const HTTP_REQUESTS: &str = "causeway_http_requests_total";
/// HTTP request latency in seconds, by `route`, `method` and `status`.
pub const HTTP_DURATION: &str = "causeway_http_request_duration_seconds";
/// Connections closed as soon as accepted because `http.max_connections` were open.
pub const HTTP_CONNECTIONS_REFUSED: &str = "causeway_http_connections_refused_total";
/// Commands executed, by `aggregate`, `command`, `outcome` and rejection `code`.
pub const COMMANDS: &str = "causeway_commands_total";
/// Command latency in seconds (load, decide, commit, retries), by `aggregate`, `command`
/// and `outcome`.
pub const COMMAND_DURATION: &str = "causeway_command_duration_seconds";
/// Events appended to the event store, by `aggregate`.
pub const EVENTS_APPENDED: &str = "causeway_events_appended_total";
/// Statements that inserted appends without a snapshot, by `write`: `group` (several
/// commands' appends in one statement), `alone` (one), `group_failed` (a group refused as a
/// whole, whose appends were then written alone). With [`EVENTS_APPENDED`], the events a
/// statement carries.
pub const APPEND_STATEMENTS: &str = "causeway_event_store_append_statements_total";
/// Snapshots written, by `aggregate`.
pub const SNAPSHOTS_WRITTEN: &str = "causeway_snapshots_written_total";
/// Events the relay published to Kafka (committed transactions).
pub const RELAY_PUBLISHED: &str = "causeway_relay_published_events_total";
/// The newest stored global position minus the newest published one.
pub const RELAY_LAG: &str = "causeway_relay_lag_events";
/// 1 while this process's relay holds the leader lock, 0 while it stands by.
pub const RELAY_LEADER: &str = "causeway_relay_leader";
/// Messages not yet consumed (high watermark − next offset), by `consumer`, `topic` and
/// `partition`.
pub const CONSUMER_LAG: &str = "causeway_consumer_lag_messages";
/// Orders that reached a final state, by `outcome` (confirmed, rejected, cancelled, expired).
pub const SAGA_OUTCOMES: &str = "causeway_saga_outcomes_total";
/// Reactions run by saga participants, by `participant`, `reaction` and `outcome`.
pub const SAGA_REACTIONS: &str = "causeway_saga_reactions_total";
/// Messages a projection dead-lettered, by `projection` and source `topic`.
pub const PROJECTION_DEAD_LETTERS: &str = "causeway_projection_dead_letters_total";
/// Messages a saga participant dead-lettered, by `participant` and source `topic`.
pub const SAGA_DEAD_LETTERS: &str = "causeway_saga_dead_letters_total";

/// Seconds from an event being stored (its `recorded_at`) to a stage of its way through the
/// pipeline, by `stage` (see [`stage`]) and `consumer` (`relay`, or the projection or saga
/// participant): the per-hop breakdown of a saga's latency.
pub const EVENT_DELAY: &str = "causeway_event_delay_seconds";

/// Orders the command API refused because the sagas were too far behind.
pub const ADMISSION_REFUSED: &str = "causeway_admission_refused_total";
/// Messages the saga participants have left to handle, as admission control last measured.
pub const ADMISSION_BACKLOG: &str = "causeway_admission_saga_backlog_messages";

/// Label names.
pub mod label {
    /// Where an event is on its way, for [`super::EVENT_DELAY`].
    pub const STAGE: &str = "stage";
    /// The matched route, e.g. `/api/orders/{id}/cancel`; `unmatched` for a 404 of no route.
    pub const ROUTE: &str = "route";
    /// The HTTP method.
    pub const METHOD: &str = "method";
    /// The HTTP status code.
    pub const STATUS: &str = "status";
    /// The aggregate type, e.g. `Order`.
    pub const AGGREGATE: &str = "aggregate";
    /// How the event store wrote appends: `group`, `alone` or `group_failed`.
    pub const WRITE: &str = "write";
    /// The command variant, e.g. `Place`.
    pub const COMMAND: &str = "command";
    /// What came of it (see [`super::outcome`]).
    pub const OUTCOME: &str = "outcome";
    /// The rejection code of a rejected command; empty otherwise.
    pub const CODE: &str = "code";
    /// A consumer: `projection.<name>` or `saga.<participant>`.
    pub const CONSUMER: &str = "consumer";
    /// A Kafka topic.
    pub const TOPIC: &str = "topic";
    /// A Kafka partition.
    pub const PARTITION: &str = "partition";
    /// A projection's name.
    pub const PROJECTION: &str = "projection";
    /// A saga participant's name.
    pub const PARTICIPANT: &str = "participant";
    /// A saga reaction's name.
    pub const REACTION: &str = "reaction";
}

/// Values of the `outcome` label of [`COMMANDS`].
pub mod outcome {
    /// The command ran (its events, if any, are stored).
    pub const ACCEPTED: &str = "accepted";
    /// A business rule refused it.
    pub const REJECTED: &str = "rejected";
    /// Concurrent writers kept winning; nothing stored.
    pub const CONFLICT: &str = "conflict";
    /// The store failed.
    pub const ERROR: &str = "error";
}

/// Values of the `stage` label of [`EVENT_DELAY`], in the order an event reaches them.
pub mod stage {
    /// The relay read it from the event store (its transaction, and every older one, had
    /// ended).
    pub const READ: &str = "read";
    /// Kafka acknowledged it (relay): readable by consumers from here on.
    pub const PUBLISHED: &str = "published";
    /// A consumer received it.
    pub const RECEIVED: &str = "received";
    /// A consumer's effect of it is stored (a saga's command, a projection's rows).
    pub const HANDLED: &str = "handled";
}

/// Upper bounds of the latency histogram buckets, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Finer buckets for [`EVENT_DELAY`]: its hops take milliseconds.
const DELAY_BUCKETS: [f64; 18] = [
    0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0,
];
/// How often idle histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the Prometheus recorder as the process's global recorder (once) and describes
/// every metric; answers the handle that renders them. Safe to call again: later calls
/// answer the same handle. Fails when another recorder was installed first.
pub fn install() -> Result<PrometheusHandle, InfraError> {
    let mut installed = HANDLE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(EVENT_DELAY.to_owned()), &DELAY_BUCKETS)
        })
        .map_err(|e| InfraError::Telemetry(format!("metrics buckets: {e}")))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|e| InfraError::Telemetry(format!("metrics recorder: {e}")))?;
    describe();
    spawn_upkeep(handle.clone());
    *installed = Some(handle.clone());
    Ok(handle)
}

/// Folds histogram samples into buckets now and then, so a process nobody scrapes does not
/// grow them without bound.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "no metrics upkeep thread: histograms are folded on scrape only");
    }
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route, method and status."
    );
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request latency.");
    describe_counter!(
        HTTP_CONNECTIONS_REFUSED,
        "Connections closed as soon as accepted: http.max_connections were open."
    );
    describe_counter!(
        COMMANDS,
        "Commands executed, by aggregate, command, outcome and code."
    );
    describe_histogram!(
        COMMAND_DURATION,
        Unit::Seconds,
        "Command latency: load, decide, commit and conflict retries."
    );
    describe_counter!(
        EVENTS_APPENDED,
        "Events appended to the event store, by aggregate."
    );
    describe_counter!(
        APPEND_STATEMENTS,
        "Statements inserting appends without a snapshot, by write (group, alone, group_failed)."
    );
    describe_counter!(
        SNAPSHOTS_WRITTEN,
        "Aggregate snapshots written, by aggregate."
    );
    describe_counter!(RELAY_PUBLISHED, "Events the relay published to Kafka.");
    describe_counter!(
        ADMISSION_REFUSED,
        "Orders refused (503) because the saga participants were too far behind."
    );
    describe_gauge!(
        ADMISSION_BACKLOG,
        "Messages the saga participants have left to handle, as last measured for admission."
    );
    describe_histogram!(
        EVENT_DELAY,
        Unit::Seconds,
        "From an event being stored to a stage of its way (published, received, handled), by stage and consumer."
    );
    describe_gauge!(
        RELAY_LAG,
        "Newest stored global position minus the newest published one."
    );
    describe_gauge!(
        RELAY_LEADER,
        "1 while this relay is the leader, 0 on standby."
    );
    describe_gauge!(
        CONSUMER_LAG,
        "Messages not yet consumed (high watermark minus next offset), by consumer, topic and partition."
    );
    describe_counter!(
        SAGA_OUTCOMES,
        "Orders that reached a final state, by outcome."
    );
    describe_counter!(
        SAGA_REACTIONS,
        "Saga reactions, by participant, reaction and outcome."
    );
    describe_counter!(
        PROJECTION_DEAD_LETTERS,
        "Messages dead-lettered by a projection, by projection and topic."
    );
    describe_counter!(
        SAGA_DEAD_LETTERS,
        "Messages dead-lettered by a saga participant, by participant and topic."
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn installing_twice_answers_the_same_recorder() {
        let first = install().unwrap();
        let second = install().unwrap();
        metrics::counter!(EVENTS_APPENDED, label::AGGREGATE => "Probe").increment(3);
        let rendered = second.render();
        assert_eq!(first.render(), rendered);
        assert!(
            rendered.contains(r#"causeway_events_appended_total{aggregate="Probe"} 3"#),
            "{rendered}"
        );
        assert!(
            rendered.contains("# HELP causeway_events_appended_total"),
            "{rendered}"
        );
    }
}
