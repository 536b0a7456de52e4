//! The projections this build knows: their names, consumer groups, topics and tables, and
//! [`with_projection`], which runs a generic function over the typed projection of a name.

use causeway_domain::EventStream;
use causeway_infra::Settings;
use causeway_infra::topics::Topics;

use crate::projection::Projection;
use crate::{
    CustomersProjection, InventoryProjection, NotificationsProjection, OrdersProjection,
    PaymentsProjection, SagaTimelineProjection,
};

/// What `causeway projections list` shows of one projection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProjectionInfo {
    /// The projection's name.
    pub name: &'static str,
    /// Its consumer group.
    pub group: String,
    /// The topics it consumes.
    pub topics: Vec<String>,
    /// The read-model tables it alone writes (what a rebuild replaces).
    pub tables: Vec<&'static str>,
}

/// The tables each projection writes, by name. A rebuild replaces exactly these.
pub const TABLES: [(&str, &[&str]); 6] = [
    (InventoryProjection::NAME, &["inventory_view"]),
    (OrdersProjection::NAME, &["orders", "order_lines"]),
    (CustomersProjection::NAME, &["customers"]),
    (PaymentsProjection::NAME, &["payments"]),
    (NotificationsProjection::NAME, &["notifications"]),
    (SagaTimelineProjection::NAME, &["saga_timeline"]),
];

/// The names of every projection, in the order `list` shows them.
pub fn names() -> Vec<&'static str> {
    TABLES.iter().map(|(name, _)| *name).collect()
}

/// The tables of `name`, if it is a projection.
pub fn tables(name: &str) -> Option<&'static [&'static str]> {
    TABLES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The consumer group of projection `name`: `<kafka.topic_prefix>projection.<name>`, as
/// [`crate::ProjectionWorker::group_id`] names it.
pub fn group_id(settings: &Settings, name: &str) -> String {
    format!("{}projection.{name}", settings.kafka.topic_prefix)
}

/// Every projection, described under `settings`.
pub fn list(settings: &Settings) -> Vec<ProjectionInfo> {
    TABLES
        .iter()
        .filter_map(|(name, tables)| {
            let streams = streams(name)?;
            let topics = Topics::new(&settings.kafka);
            Some(ProjectionInfo {
                name,
                group: group_id(settings, name),
                topics: streams
                    .into_iter()
                    .map(|s| topics.events(s.base_topic()))
                    .collect(),
                tables: tables.to_vec(),
            })
        })
        .collect()
}

/// The streams projection `name` consumes.
pub fn streams(name: &str) -> Option<Vec<EventStream>> {
    struct Streams;
    impl Visit for Streams {
        type Output = Vec<EventStream>;
        fn visit<P: Projection>(self, projection: P) -> Vec<EventStream> {
            projection.streams()
        }
    }
    with_projection(name, Streams)
}

/// A function generic over the projection type, for [`with_projection`].
pub trait Visit {
    /// What it answers.
    type Output;
    /// Runs with the typed projection.
    fn visit<P: Projection>(self, projection: P) -> Self::Output;
}

/// Runs `visitor` with the projection called `name`; `None` for an unknown name.
pub fn with_projection<V: Visit>(name: &str, visitor: V) -> Option<V::Output> {
    Some(match name {
        InventoryProjection::NAME => visitor.visit(InventoryProjection),
        OrdersProjection::NAME => visitor.visit(OrdersProjection),
        CustomersProjection::NAME => visitor.visit(CustomersProjection),
        PaymentsProjection::NAME => visitor.visit(PaymentsProjection),
        NotificationsProjection::NAME => visitor.visit(NotificationsProjection),
        SagaTimelineProjection::NAME => visitor.visit(SagaTimelineProjection),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_projection_has_streams_and_tables_and_no_table_has_two_owners() {
        let mut seen = std::collections::HashSet::new();
        for name in names() {
            assert!(!streams(name).unwrap().is_empty(), "{name}");
            for table in tables(name).unwrap() {
                assert!(seen.insert(*table), "{table} belongs to two projections");
            }
        }
        assert_eq!(names().len(), 6);
        assert_eq!(streams("nope"), None);
    }

    #[test]
    fn the_listed_group_and_topics_carry_the_topic_prefix() {
        let mut settings = Settings::load(None).unwrap();
        settings.kafka.topic_prefix = "t9.".into();
        let orders = list(&settings)
            .into_iter()
            .find(|p| p.name == "orders")
            .unwrap();
        assert_eq!(orders.group, "t9.projection.orders");
        assert_eq!(orders.topics, vec!["t9.orders.events".to_owned()]);
        assert_eq!(orders.tables, vec!["orders", "order_lines"]);
    }
}
