//! `causeway schemas check|register`: the Avro contracts of `schemas/` (docs/architecture.md §1.4,
//! ADR 0004).
//!
//! `check` fails when
//! - a domain event type has no schema, or a schema no event type;
//! - a Rust event and its schema disagree: a sample of every event type ([`samples`], built
//!   through the domain's public types) must encode with its schema, decode back to
//!   identical JSON and deserialize into the identical domain event;
//! - a record, field or enum has no `doc`, or a shared type (Money) two shapes;
//! - a schema is not FULL-compatible, both ways, with any version of it committed to git or
//!   registered under its subject (FULL_TRANSITIVE).
//!
//! `register` sets FULL_TRANSITIVE on every subject and registers every schema.
//!
//! This module brings the domain (its event types and [`samples`]) and runs the checks,
//! which are generic over the domain and live here, next to their only user:
//! - [`compat`]: FULL compatibility of two versions of a schema, both ways, as the registry
//!   enforces it transitively (FULL_TRANSITIVE).
//! - [`contract`]: the catalog against a domain's event types and sample events, and the
//!   house rules (docs, one shape per shared type).
//! - [`history`]: the committed versions of a schema file, from git.
//! - [`evolution`]: each schema against every earlier version of it, in git and in the
//!   registry.
//!
//! The codec, the catalog and the registry client they use are `causeway_infra::avro`'s.

pub mod compat;
pub mod contract;
pub mod evolution;
pub mod history;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use causeway_domain::{
    Aggregate, Currency, Customer, CustomerEvent, CustomerId, CustomerName, DomainEvent, Email,
    EventStream, InventoryEvent, InventoryItem, Money, Order, OrderEvent, OrderId, Payment,
    PaymentEvent, Quantity, Sku, customer, inventory, order, payment,
};
use causeway_infra::Settings;
use causeway_infra::avro::{COMPATIBILITY_LEVEL, EventSchema, RegistryAdmin, SchemaCatalog};
use causeway_infra::topics::Topics;
use clap::Subcommand;
use serde_json::Value as Json;

use contract::{DomainEventType, Sample, check_conventions, check_coverage, check_samples};
use evolution::{Findings, check_git_history, check_registry};

/// `causeway schemas …`.
#[derive(Debug, Subcommand)]
pub enum SchemasCommand {
    /// Fail when the domain's events and schemas/ disagree, or when a schema is not
    /// FULL_TRANSITIVE-compatible with its versions in git and in the registry.
    Check {
        /// A folder of the git checkout whose history holds the earlier schema versions.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// Do not ask the registry for the versions it holds.
        #[arg(long)]
        offline: bool,
    },
    /// Set FULL_TRANSITIVE on each subject and register every schema of this binary.
    Register,
}

/// Runs a `schemas` subcommand, printing its report; fails when the check finds problems
/// or a schema cannot be registered.
pub async fn run(command: SchemasCommand, settings: &Settings) -> anyhow::Result<()> {
    let catalog = SchemaCatalog::embedded().context("loading the embedded schemas")?;
    let (report, failures) = match command {
        SchemasCommand::Check { repo, offline } => {
            let findings = check(&catalog, settings, &repo, offline).await?;
            (check_report(&catalog, &findings), findings.problems.len())
        }
        SchemasCommand::Register => register(&catalog, settings).await?,
    };
    std::io::stdout().lock().write_all(report.as_bytes())?;
    anyhow::ensure!(failures == 0, "{failures} schema problem(s), listed above");
    Ok(())
}

/// Every check of `causeway schemas check`; the registry is asked unless `offline`.
pub async fn check(
    catalog: &SchemaCatalog,
    settings: &Settings,
    repo: &Path,
    offline: bool,
) -> anyhow::Result<Findings> {
    let mut findings = Findings::default();
    let domain = domain_event_types();
    findings
        .problems
        .extend(check_coverage(catalog, &domain, schema_folder));
    findings
        .problems
        .extend(check_samples(catalog, &domain, &samples()?));
    findings.problems.extend(check_conventions(catalog));
    findings.merge(check_git_history(catalog, repo));
    if offline {
        findings
            .notices
            .push("registry versions not checked: --offline".to_owned());
    } else {
        let admin = RegistryAdmin::new(&settings.registry)?;
        let topics = Topics::new(&settings.kafka);
        findings.merge(check_registry(catalog, &admin, |schema| topic_of(&topics, schema)).await);
    }
    Ok(findings)
}

/// The schema folder of an aggregate type, `None` when it has no event stream.
fn schema_folder(aggregate_type: &str) -> Option<&'static str> {
    EventStream::from_aggregate_type(aggregate_type)
        .ok()
        .map(EventStream::schema_folder)
}

/// The events topic a schema is registered on: its folder's stream's topic.
fn topic_of(topics: &Topics, schema: &EventSchema) -> Option<String> {
    EventStream::from_schema_folder(schema.folder())
        .map(|stream| topics.events(stream.base_topic()))
}

fn check_report(catalog: &SchemaCatalog, findings: &Findings) -> String {
    let mut report = format!(
        "schemas check: {} event types, {} schemas, {} earlier versions compared\n",
        domain_event_types().len(),
        catalog.len(),
        findings.compared
    );
    for notice in &findings.notices {
        let _ = writeln!(report, "notice: {notice}");
    }
    for problem in &findings.problems {
        let _ = writeln!(report, "problem: {problem}");
    }
    if findings.problems.is_empty() {
        report.push_str("schemas check: ok\n");
    }
    report
}

/// Sets FULL_TRANSITIVE on each schema's subject on its aggregate's topic and registers the
/// schema there: a report line per subject, and how many failed.
pub async fn register(
    catalog: &SchemaCatalog,
    settings: &Settings,
) -> anyhow::Result<(String, usize)> {
    let admin = RegistryAdmin::new(&settings.registry)?;
    let topics = Topics::new(&settings.kafka);
    let (mut report, mut failures) = (String::new(), 0);
    for schema in catalog.iter() {
        let Some(topic) = topic_of(&topics, schema) else {
            failures += 1;
            let _ = writeln!(
                report,
                "problem: {}: schemas/{} is in no aggregate's schema folder",
                schema.event_type(),
                schema.path()
            );
            continue;
        };
        let subject = schema.subject(&topic);
        let registered = match admin.set_compatibility(&subject, COMPATIBILITY_LEVEL).await {
            Ok(()) => admin.register(&subject, schema.schema_json()).await,
            Err(error) => Err(error),
        };
        let _ = match registered {
            Ok(r) => writeln!(report, "{subject} → id {}, version {}", r.id, r.version),
            Err(error) => {
                failures += 1;
                writeln!(report, "problem: {}: {error}", schema.event_type())
            }
        };
    }
    Ok((report, failures))
}

/// Every event type of the domain, with its aggregate type, from the event enums'
/// `EVENT_TYPES`.
pub fn domain_event_types() -> Vec<DomainEventType> {
    let mut types = Vec::new();
    types.extend(CustomerEvent::EVENT_TYPES.map(|t| (Customer::TYPE, t)));
    types.extend(InventoryEvent::EVENT_TYPES.map(|t| (InventoryItem::TYPE, t)));
    types.extend(OrderEvent::EVENT_TYPES.map(|t| (Order::TYPE, t)));
    types.extend(PaymentEvent::EVENT_TYPES.map(|t| (Payment::TYPE, t)));
    types
}

fn sample<A: Aggregate>(event: &A::Event) -> serde_json::Result<Sample> {
    Ok(Sample {
        aggregate_type: A::TYPE,
        event_type: event.event_type(),
        stored: serde_json::to_value(event)?,
        reparse: reparse::<A>,
    })
}

fn reparse<A: Aggregate>(stored: Json) -> serde_json::Result<Json> {
    serde_json::from_value::<A::Event>(stored).and_then(|event| serde_json::to_value(&event))
}

/// Sample events covering every event type of the domain, and both sides of every
/// nullable field and enum.
pub fn samples() -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for event in customer_samples()? {
        samples.push(sample::<Customer>(&event)?);
    }
    for event in inventory_samples()? {
        samples.push(sample::<InventoryItem>(&event)?);
    }
    for event in order_samples()? {
        samples.push(sample::<Order>(&event)?);
    }
    for event in payment_samples()? {
        samples.push(sample::<Payment>(&event)?);
    }
    Ok(samples)
}

fn eur(amount_minor: i64) -> anyhow::Result<Money> {
    Ok(Money::parse(amount_minor, Currency::parse("EUR")?)?)
}

fn order_id() -> anyhow::Result<OrderId> {
    Ok(OrderId::parse("0190a0c2-6f1e-7c3a-9d2b-5e8f4a1b2c3d")?)
}

fn customer_id() -> anyhow::Result<CustomerId> {
    Ok(CustomerId::parse("0190a0c2-6f1e-7c3a-9d2b-000000000002")?)
}

fn customer_samples() -> anyhow::Result<Vec<CustomerEvent>> {
    use customer::*;
    let declined = |reason| -> anyhow::Result<_> {
        Ok(CustomerEvent::CreditReservationDeclined(
            CreditReservationDeclined {
                order_id: order_id()?,
                amount: eur(12_000)?,
                available: eur(0)?,
                reason,
            },
        ))
    };
    Ok(vec![
        CustomerEvent::CustomerRegistered(CustomerRegistered {
            name: CustomerName::parse("Zoë Ångström-Ōtani")?,
            email: Email::parse("zoe@example.com")?,
            credit_limit: eur(i64::MAX)?,
            owner: Some("customer-zoë".to_owned()),
        }),
        CustomerEvent::CreditLimitChanged(CreditLimitChanged {
            limit: eur(250_000)?,
        }),
        CustomerEvent::CreditReserved(CreditReserved {
            order_id: order_id()?,
            amount: eur(4_550)?,
        }),
        declined(CreditDeclineReason::InsufficientCredit)?,
        declined(CreditDeclineReason::CurrencyMismatch)?,
        CustomerEvent::CreditReleased(CreditReleased {
            order_id: order_id()?,
            amount: eur(4_550)?,
        }),
    ])
}

fn inventory_samples() -> anyhow::Result<Vec<InventoryEvent>> {
    use inventory::*;
    let quantity = Quantity::parse(Quantity::MAX)?;
    Ok(vec![
        InventoryEvent::StockRestocked(StockRestocked { quantity }),
        InventoryEvent::StockReserved(StockReserved {
            order_id: order_id()?,
            quantity,
        }),
        InventoryEvent::StockReservationRejected(StockReservationRejected {
            order_id: order_id()?,
            requested: Quantity::parse(3)?,
            available: 0,
        }),
        InventoryEvent::StockReleased(StockReleased {
            order_id: order_id()?,
            quantity,
        }),
    ])
}

fn order_samples() -> anyhow::Result<Vec<OrderEvent>> {
    use order::*;
    let (customer_id, skus) = (
        customer_id()?,
        vec![Sku::parse("APPLE-1")?, Sku::parse("pear_2")?],
    );
    let line = |sku: &Sku, quantity, cents| -> anyhow::Result<OrderLine> {
        Ok(OrderLine {
            sku: sku.clone(),
            quantity: Quantity::parse(quantity)?,
            unit_price: eur(cents)?,
        })
    };
    let parse_time = |text: &str| text.parse().with_context(|| format!("sample time {text}"));
    let rejected = |reason| {
        OrderEvent::OrderRejected(OrderRejected {
            customer_id,
            reason,
            skus: skus.clone(),
        })
    };
    Ok(vec![
        OrderEvent::OrderPlaced(OrderPlaced {
            customer_id,
            currency: Currency::parse("EUR")?,
            lines: vec![line(&skus[0], 3, 150)?, line(&skus[1], 1, 0)?],
            total: eur(450)?,
            placed_at: parse_time("2030-01-01T10:00:00.123456Z")?,
            deadline: parse_time("2030-01-01T10:15:00Z")?,
        }),
        OrderEvent::OrderLineReserved(OrderLineReserved {
            sku: skus[0].clone(),
        }),
        OrderEvent::OrderAwaitingPayment(OrderAwaitingPayment {
            customer_id,
            amount: eur(450)?,
        }),
        OrderEvent::OrderPaymentAuthorized(OrderPaymentAuthorized { amount: eur(450)? }),
        OrderEvent::OrderConfirmed(OrderConfirmed {
            customer_id,
            total: eur(450)?,
        }),
        rejected(RejectionReason::OutOfStock {
            sku: skus[1].clone(),
        }),
        rejected(RejectionReason::PaymentDeclined {
            reason: "insufficient credit".to_owned(),
        }),
        OrderEvent::OrderCancelled(OrderCancelled {
            customer_id,
            reason: "changed my mind — \"really\"".to_owned(),
            was_confirmed: true,
            skus: skus.clone(),
        }),
        OrderEvent::OrderExpired(OrderExpired {
            customer_id,
            deadline: parse_time("2030-01-01T10:15:00Z")?,
            expired_at: parse_time("2030-01-01T10:15:00.000001Z")?,
            skus: Vec::new(),
        }),
    ])
}

fn payment_samples() -> anyhow::Result<Vec<PaymentEvent>> {
    use payment::*;
    let (customer_id, amount) = (customer_id()?, eur(450)?);
    let authorization = Authorization {
        customer_id,
        amount: amount.clone(),
    };
    Ok(vec![
        PaymentEvent::PaymentAuthorized(PaymentAuthorized {
            customer_id,
            amount: amount.clone(),
        }),
        PaymentEvent::PaymentDeclined(PaymentDeclined {
            customer_id,
            amount: amount.clone(),
            reason: "insufficient credit".to_owned(),
        }),
        PaymentEvent::PaymentVoided(PaymentVoided {
            voided_authorization: Some(authorization),
        }),
        PaymentEvent::PaymentVoided(PaymentVoided {
            voided_authorization: None,
        }),
        PaymentEvent::PaymentRefunded(PaymentRefunded {
            customer_id,
            amount,
        }),
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn there_is_a_sample_of_each_of_the_twenty_one_domain_event_types() {
        let sampled: BTreeSet<_> = samples().unwrap().iter().map(|s| s.event_type).collect();
        let domain: BTreeSet<_> = domain_event_types().into_iter().map(|(_, t)| t).collect();
        assert_eq!(domain.len(), 21);
        assert_eq!(sampled, domain);
    }

    #[test]
    fn every_domain_aggregate_type_has_a_topic() {
        for aggregate_type in [
            Customer::TYPE,
            InventoryItem::TYPE,
            Order::TYPE,
            Payment::TYPE,
        ] {
            assert!(
                EventStream::from_aggregate_type(aggregate_type).is_ok(),
                "{aggregate_type}"
            );
        }
    }

    #[test]
    fn the_embedded_schemas_match_the_domain_events() {
        let catalog = SchemaCatalog::embedded().unwrap();
        let domain = domain_event_types();
        assert_eq!(
            check_coverage(&catalog, &domain, schema_folder),
            Vec::<String>::new()
        );
        assert_eq!(
            check_samples(&catalog, &domain, &samples().unwrap()),
            Vec::<String>::new()
        );
        assert_eq!(check_conventions(&catalog), Vec::<String>::new());
    }
}
