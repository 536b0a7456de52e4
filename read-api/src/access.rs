//! What a caller may see: a caller limited to its own customer
//! ([`Principal::own_customer`]) sees that customer's rows only. Every query takes the scope
//! into its SQL, so another customer's row is answered exactly as a missing one (404, or the
//! same bounded wait for `min_version`), and lists hold only what the caller may see.

use causeway_auth::Principal;

/// The customer id (as the read models store it) `caller` is limited to; `None`: everyone.
pub(crate) fn scope(caller: &Principal) -> Option<String> {
    caller.own_customer().map(|id| id.to_string())
}

/// The customer a list is for, given the `customer_id` asked for and the caller's scope:
/// `Err(())` when the caller may see nothing of it (the list is empty).
pub(crate) fn list_customer(
    asked: Option<String>,
    scope: Option<String>,
) -> Result<Option<String>, ()> {
    match (asked, scope) {
        (Some(asked), Some(own)) if asked != own => Err(()),
        (asked, None) => Ok(asked),
        (_, own) => Ok(own),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scoped_caller_lists_its_own_customer_only() {
        let own = Some("own".to_owned());
        assert_eq!(list_customer(None, own.clone()), Ok(own.clone()));
        assert_eq!(list_customer(own.clone(), own.clone()), Ok(own.clone()));
        assert_eq!(list_customer(Some("other".into()), own), Err(()));
        assert_eq!(list_customer(None, None), Ok(None));
        assert_eq!(
            list_customer(Some("any".into()), None),
            Ok(Some("any".into()))
        );
    }
}
