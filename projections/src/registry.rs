//! Every projection of this build, listed once, in [`for_each`]: the typed projection and
//! the read-model tables it alone writes (its name and streams it says itself). Everything
//! that needs "every projection" iterates it: the server starts one worker per projection
//! (`causeway::app`), `causeway projections list|status` describe them ([`list`]), and a
//! rebuild finds its projection and tables by name ([`with_projection`], [`tables`]).
//!
//! A new read model is added to [`for_each`], and nowhere else.

use causeway_domain::EventStream;
use causeway_infra::Settings;
use causeway_infra::topics::Topics;

use crate::projection::Projection;
use crate::{
    CustomersProjection, InventoryProjection, NotificationsProjection, OrdersProjection,
    PaymentsProjection, SagaTimelineProjection,
};

/// A function generic over the projection type, run by [`for_each`] once per projection.
pub trait Visitor {
    /// Runs with one typed projection and the read-model tables it alone writes.
    fn visit<P: Projection>(&mut self, projection: P, tables: &'static [&'static str]);
}

/// Runs `visitor` over every projection of this build, each once, in the order
/// `causeway projections list` shows them. The one list of projections.
pub fn for_each(visitor: &mut impl Visitor) {
    visitor.visit(InventoryProjection, &["inventory_view"]);
    visitor.visit(OrdersProjection, &["orders", "order_lines"]);
    visitor.visit(CustomersProjection, &["customers"]);
    visitor.visit(PaymentsProjection, &["payments"]);
    visitor.visit(NotificationsProjection, &["notifications"]);
    visitor.visit(SagaTimelineProjection, &["saga_timeline"]);
}

/// One projection as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The projection's name: the key of its stored offsets and the end of its consumer group.
    pub name: &'static str,
    /// The read-model tables it alone writes (what a rebuild replaces).
    pub tables: &'static [&'static str],
    /// The streams whose topics it consumes.
    pub streams: Vec<EventStream>,
}

/// Every projection, in [`for_each`]'s order.
pub fn all() -> Vec<Registered> {
    struct Collect(Vec<Registered>);
    impl Visitor for Collect {
        fn visit<P: Projection>(&mut self, projection: P, tables: &'static [&'static str]) {
            self.0.push(Registered {
                name: projection.name(),
                tables,
                streams: projection.streams(),
            });
        }
    }
    let mut all = Collect(Vec::new());
    for_each(&mut all);
    all.0
}

/// The projection called `name`, if there is one.
pub fn find(name: &str) -> Option<Registered> {
    all().into_iter().find(|p| p.name == name)
}

/// The names of every projection, in the order `list` shows them.
pub fn names() -> Vec<&'static str> {
    all().into_iter().map(|p| p.name).collect()
}

/// The tables of `name`, if it is a projection. A rebuild replaces exactly these.
pub fn tables(name: &str) -> Option<&'static [&'static str]> {
    find(name).map(|p| p.tables)
}

/// The streams projection `name` consumes.
pub fn streams(name: &str) -> Option<Vec<EventStream>> {
    find(name).map(|p| p.streams)
}

/// The consumer group of projection `name`: `<kafka.topic_prefix>projection.<name>`, as
/// [`crate::ProjectionWorker::group_id`] names it.
pub fn group_id(settings: &Settings, name: &str) -> String {
    crate::worker::group_id(&settings.kafka, name)
}

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

/// Every projection, described under `settings`.
pub fn list(settings: &Settings) -> Vec<ProjectionInfo> {
    let topics = Topics::new(&settings.kafka);
    all()
        .into_iter()
        .map(|p| ProjectionInfo {
            name: p.name,
            group: group_id(settings, p.name),
            topics: p
                .streams
                .into_iter()
                .map(|s| topics.events(s.base_topic()))
                .collect(),
            tables: p.tables.to_vec(),
        })
        .collect()
}

/// A function generic over the projection type, run once by [`with_projection`].
pub trait VisitOne {
    /// What it answers.
    type Output;
    /// Runs with the typed projection.
    fn visit<P: Projection>(self, projection: P) -> Self::Output;
}

/// Runs `visitor` with the projection called `name`; `None` for an unknown name.
pub fn with_projection<V: VisitOne>(name: &str, visitor: V) -> Option<V::Output> {
    struct Pick<'n, V: VisitOne> {
        name: &'n str,
        visitor: Option<V>,
        output: Option<V::Output>,
    }
    impl<V: VisitOne> Visitor for Pick<'_, V> {
        fn visit<P: Projection>(&mut self, projection: P, _: &'static [&'static str]) {
            if projection.name() == self.name
                && let Some(visitor) = self.visitor.take()
            {
                self.output = Some(visitor.visit(projection));
            }
        }
    }
    let mut pick = Pick {
        name,
        visitor: Some(visitor),
        output: None,
    };
    for_each(&mut pick);
    pick.output
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_projection_appears_exactly_once_with_tables() {
        let all = all();
        let names: HashSet<_> = all.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), all.len(), "a projection is listed twice");
        assert_eq!(
            names,
            HashSet::from([
                InventoryProjection::NAME,
                OrdersProjection::NAME,
                CustomersProjection::NAME,
                PaymentsProjection::NAME,
                NotificationsProjection::NAME,
                SagaTimelineProjection::NAME,
            ])
        );
        for projection in &all {
            assert!(!projection.tables.is_empty(), "{}", projection.name);
        }
    }

    #[test]
    fn every_projection_has_streams_and_tables_and_no_table_has_two_owners() {
        let mut seen = HashSet::new();
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
    fn with_projection_runs_the_visitor_on_the_named_projection_only() {
        struct Name;
        impl VisitOne for Name {
            type Output = &'static str;
            fn visit<P: Projection>(self, projection: P) -> &'static str {
                projection.name()
            }
        }
        for name in names() {
            assert_eq!(with_projection(name, Name), Some(name));
        }
        assert_eq!(with_projection("nope", Name), None);
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
