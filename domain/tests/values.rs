//! Parsing of the value types: good input, normalisation, and bad input naming its field.

// Test code: a failed unwrap is a failed test, with the value in its message.
#![allow(clippy::unwrap_used)]

use causeway_domain::{
    CancelReason, Currency, CustomerId, CustomerName, Email, Money, MoneyError, Order, OrderId,
    Quantity, Sku, ValidationError,
};
use proptest::prelude::*;
use serde_json::json;

fn field<T: std::fmt::Debug>(result: Result<T, ValidationError>) -> &'static str {
    result.expect_err("should be invalid").field
}

fn eur(amount_minor: i64) -> Money {
    Money::parse(amount_minor, Currency::parse("EUR").unwrap()).unwrap()
}

#[test]
fn ids_parse_from_uuid_text_and_serialise_as_strings() {
    let text = "0190f7a4-1b2c-7d3e-8f40-123456789abc";
    let id = CustomerId::parse(&format!("  {text} ")).unwrap();
    assert_eq!(id.to_string(), text);
    assert_eq!(serde_json::to_value(id).unwrap(), json!(text));
    assert_eq!(
        serde_json::from_value::<CustomerId>(json!(text)).unwrap(),
        id
    );
}

#[test]
fn ids_refuse_garbage_and_the_nil_uuid_naming_their_field() {
    assert_eq!(field(OrderId::parse("not-a-uuid")), "order_id");
    assert_eq!(field(OrderId::try_from(uuid::Uuid::nil())), "order_id");
    assert_eq!(
        field(CustomerId::parse(&uuid::Uuid::nil().to_string())),
        "customer_id"
    );
    let nil = json!(uuid::Uuid::nil().to_string());
    assert!(serde_json::from_value::<CustomerId>(nil).is_err());
}

#[test]
fn skus_are_trimmed_and_normalised_to_upper_case() {
    let sku = Sku::parse(" ab-1_x ").unwrap();
    assert_eq!(sku.as_str(), "AB-1_X");
    assert_eq!(sku, Sku::parse("AB-1_X").unwrap());
}

#[test]
fn skus_of_one_to_sixty_four_characters_are_accepted() {
    assert!(Sku::parse("A").is_ok());
    assert!(Sku::parse(&"A".repeat(64)).is_ok());
}

#[test]
fn skus_that_are_empty_too_long_or_with_other_characters_are_refused() {
    for bad in ["", "   ", &"A".repeat(65), "AB 1", "AB.1", "ÄPFEL", "A/B"] {
        assert_eq!(field(Sku::parse(bad)), "sku", "{bad:?}");
    }
    assert!(serde_json::from_value::<Sku>(json!("a b")).is_err());
}

#[test]
fn quantities_from_one_to_a_million_are_accepted() {
    assert_eq!(Quantity::parse(1).unwrap().get(), 1);
    assert_eq!(Quantity::parse(1_000_000).unwrap().get(), 1_000_000);
    assert_eq!(Quantity::try_from(42_i64).unwrap().get(), 42);
}

#[test]
fn quantities_outside_one_to_a_million_are_refused() {
    assert_eq!(field(Quantity::parse(0)), "quantity");
    assert_eq!(field(Quantity::parse(1_000_001)), "quantity");
    assert_eq!(field(Quantity::try_from(-1_i64)), "quantity");
    assert_eq!(field(Quantity::try_from(i64::MAX)), "quantity");
    assert!(serde_json::from_value::<Quantity>(json!(0)).is_err());
}

#[test]
fn currencies_are_three_upper_case_letters() {
    assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
    for bad in ["eur", "EU", "EURO", "E1R", "", "ÉUR"] {
        assert_eq!(field(Currency::parse(bad)), "currency", "{bad:?}");
    }
}

#[test]
fn money_is_never_negative() {
    assert_eq!(eur(0).amount_minor(), 0);
    let negative = Money::parse(-1, Currency::parse("EUR").unwrap());
    assert_eq!(field(negative), "amount_minor");
    let record = json!({"amount_minor": -5, "currency": "EUR"});
    assert!(serde_json::from_value::<Money>(record).is_err());
}

#[test]
fn money_serialises_as_minor_units_and_currency() {
    assert_eq!(
        serde_json::to_value(eur(1_250)).unwrap(),
        json!({"amount_minor": 1250, "currency": "EUR"})
    );
}

#[test]
fn money_adds_and_subtracts_in_one_currency() {
    assert_eq!(eur(100).checked_add(&eur(50)), Ok(eur(150)));
    assert_eq!(eur(100).checked_sub(&eur(100)), Ok(eur(0)));
    assert_eq!(
        eur(150).checked_mul(Quantity::parse(3).unwrap()),
        Ok(eur(450))
    );
}

#[test]
fn money_arithmetic_fails_on_a_currency_mismatch() {
    let usd = Money::parse(100, Currency::parse("USD").unwrap()).unwrap();
    assert!(matches!(
        eur(100).checked_add(&usd),
        Err(MoneyError::CurrencyMismatch { .. })
    ));
    assert!(matches!(
        eur(100).checked_sub(&usd),
        Err(MoneyError::CurrencyMismatch { .. })
    ));
}

#[test]
fn money_arithmetic_fails_on_overflow_or_below_zero() {
    assert_eq!(
        eur(i64::MAX).checked_add(&eur(1)),
        Err(MoneyError::OutOfRange)
    );
    assert_eq!(eur(1).checked_sub(&eur(2)), Err(MoneyError::OutOfRange));
    let two = Quantity::parse(2).unwrap();
    assert_eq!(
        eur(i64::MAX / 2 + 1).checked_mul(two),
        Err(MoneyError::OutOfRange)
    );
}

#[test]
fn customer_names_are_trimmed() {
    assert_eq!(
        CustomerName::parse("  Ada Lovelace ").unwrap().as_str(),
        "Ada Lovelace"
    );
}

#[test]
fn customer_names_of_up_to_two_hundred_characters_are_accepted() {
    assert!(CustomerName::parse(&"é".repeat(200)).is_ok());
}

#[test]
fn customer_names_that_are_blank_too_long_or_with_control_characters_are_refused() {
    for bad in [
        "",
        "   ",
        &"é".repeat(201),
        "Ada\u{0}Lovelace",
        "Ada\nLovelace",
    ] {
        assert_eq!(field(CustomerName::parse(bad)), "name", "{bad:?}");
    }
}

/// Every kind of control character: NUL (which a `jsonb` column refuses), the other C0
/// controls, DEL and the C1 controls.
const CONTROL_CHARACTERS: [char; 6] = ['\u{0}', '\u{1}', '\u{1b}', '\u{7f}', '\u{80}', '\u{9f}'];

#[test]
fn customer_names_with_any_control_character_are_refused_saying_so() {
    for control in CONTROL_CHARACTERS {
        let error = CustomerName::parse(&format!("Ada{control}Lovelace")).unwrap_err();
        assert_eq!(error.field, "name", "{control:?}");
        assert!(error.message.contains("control characters"), "{error}");
    }
    assert!(serde_json::from_str::<CustomerName>(r#""Ada\u0000""#).is_err());
}

#[test]
fn emails_with_any_control_character_are_refused_naming_the_email_field() {
    for control in CONTROL_CHARACTERS {
        let error = Email::parse(&format!("ada{control}@example.com")).unwrap_err();
        assert_eq!(error.field, "email", "{control:?}");
        assert!(error.message.contains("control characters"), "{error}");
        assert_eq!(
            field(Email::parse(&format!("ada@example.com{control}"))),
            "email"
        );
    }
    assert!(serde_json::from_str::<Email>(r#""ada\u0000@example.com""#).is_err());
}

#[test]
fn cancel_reasons_are_trimmed_and_up_to_five_hundred_characters() {
    let reason = CancelReason::parse("  changed my mind ").unwrap();
    assert_eq!(reason.as_str(), "changed my mind");
    assert_eq!(String::from(reason), "changed my mind");
    assert!(CancelReason::parse(&"é".repeat(CancelReason::MAX_CHARS)).is_ok());
    assert!(CancelReason::parse("ordered twice, sorry — Ada").is_ok());
}

#[test]
fn cancel_reasons_that_are_blank_too_long_or_with_control_characters_are_refused() {
    for bad in ["", "   ", &"é".repeat(CancelReason::MAX_CHARS + 1)] {
        assert_eq!(field(CancelReason::parse(bad)), "reason", "{bad:?}");
    }
    for control in CONTROL_CHARACTERS.into_iter().chain(['\n', '\t']) {
        let error = CancelReason::parse(&format!("changed{control}my mind")).unwrap_err();
        assert_eq!(error.field, "reason", "{control:?}");
        assert!(error.message.contains("control characters"), "{error}");
    }
    assert!(serde_json::from_str::<CancelReason>(r#""why\u0000""#).is_err());
}

#[test]
fn emails_with_one_at_sign_and_both_parts_are_accepted() {
    assert_eq!(
        Email::parse(" ada@example.com ").unwrap().as_str(),
        "ada@example.com"
    );
    let longest = format!("{}@example.com", "a".repeat(254 - 12));
    assert!(Email::parse(&longest).is_ok());
}

#[test]
fn emails_without_exactly_one_at_sign_and_both_parts_are_refused() {
    let too_long = format!("{}@example.com", "a".repeat(254 - 11));
    for bad in [
        "",
        "ada",
        "@example.com",
        "ada@",
        "a@b@c",
        "ada @example.com",
        &too_long,
    ] {
        assert_eq!(field(Email::parse(bad)), "email", "{bad:?}");
    }
}

#[test]
fn amounts_from_input_up_to_the_bound_are_accepted() {
    let eur = Currency::parse("EUR").unwrap();
    assert_eq!(
        Money::MAX_AMOUNT_MINOR,
        10_000_000_000_000,
        "100 billion EUR"
    );
    let max = Money::parse_bounded(Money::MAX_AMOUNT_MINOR, eur.clone()).unwrap();
    assert_eq!(max.amount_minor(), Money::MAX_AMOUNT_MINOR);
    assert_eq!(Money::parse_bounded(0, eur).unwrap().amount_minor(), 0);
}

#[test]
fn amounts_from_input_above_the_bound_or_negative_are_refused_naming_their_field() {
    let eur = Currency::parse("EUR").unwrap();
    for bad in [Money::MAX_AMOUNT_MINOR + 1, i64::MAX, -1, i64::MIN] {
        let error = Money::parse_bounded(bad, eur.clone()).unwrap_err();
        assert_eq!(error.field, "amount_minor", "{bad}");
        let renamed = error.with_field("credit_limit_cents");
        assert!(
            renamed.to_string().starts_with("credit_limit_cents: "),
            "{renamed}"
        );
    }
}

#[test]
fn bounded_amounts_add_up_without_overflow_and_larger_products_fail_cleanly() {
    let max_lines = i64::try_from(Order::MAX_LINES).unwrap();
    let per_unit_of_every_line = Money::MAX_AMOUNT_MINOR.checked_mul(max_lines);
    assert!(per_unit_of_every_line.is_some_and(|sum| sum < i64::MAX / 1_000));
    let a_hundred_thousand_limits = Money::MAX_AMOUNT_MINOR.checked_mul(100_000);
    assert!(a_hundred_thousand_limits.is_some());
    let max = eur(Money::MAX_AMOUNT_MINOR);
    assert!(max.checked_add(&max).is_ok());
    let most_units = Quantity::parse(Quantity::MAX).unwrap();
    assert_eq!(max.checked_mul(most_units), Err(MoneyError::OutOfRange));
}

#[test]
fn an_order_has_at_most_max_lines_lines() {
    assert_eq!(Order::MAX_LINES, 100);
    assert!(Order::check_line_count(0).is_ok());
    assert!(Order::check_line_count(Order::MAX_LINES).is_ok());
    for too_many in [Order::MAX_LINES + 1, 1_000] {
        let error = Order::check_line_count(too_many).unwrap_err();
        assert_eq!(error.field, "lines");
        assert!(error.message.contains(&too_many.to_string()), "{error}");
    }
}

#[test]
fn a_validation_error_can_be_reported_against_another_field() {
    let error = Money::parse(-1, Currency::parse("EUR").unwrap()).unwrap_err();
    let error = error.with_field("credit_limit");
    assert_eq!(error.field, "credit_limit");
    assert!(error.to_string().starts_with("credit_limit: "));
}

proptest! {
    #[test]
    fn any_valid_sku_parses_to_its_upper_case_form(text in "[A-Za-z0-9_-]{1,64}") {
        let sku = Sku::parse(&text).unwrap();
        prop_assert_eq!(sku.as_str(), text.to_ascii_uppercase());
        prop_assert_eq!(Sku::parse(sku.as_str()).unwrap(), sku);
    }

    #[test]
    fn money_addition_and_subtraction_undo_each_other(a in 0_i64..i64::MAX / 2, b in 0_i64..i64::MAX / 2) {
        let sum = eur(a).checked_add(&eur(b)).unwrap();
        prop_assert_eq!(sum.checked_sub(&eur(b)).unwrap(), eur(a));
    }
}
