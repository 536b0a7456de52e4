//! Who may do what: the roles, the permissions, and the one table mapping each permission to
//! the roles that hold it ([`PERMISSIONS`], printed in docs/security.md and checked against
//! it by a test). Pure: no IO.

use std::fmt;

/// A role a caller's token grants (the values of `auth.roles_claim`, after
/// `auth.role_prefix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A shopper, acting on its own customer (ownership checks: docs/security.md).
    Customer,
    /// A shop front service: registers customers and places orders on their behalf.
    Storefront,
    /// Runs the platform: reads everything, cancels orders, restocks.
    Operator,
    /// Everything, credit limits included.
    Admin,
}

impl Role {
    /// Every role, in the table's column order.
    pub const ALL: [Role; 4] = [
        Role::Customer,
        Role::Storefront,
        Role::Operator,
        Role::Admin,
    ];

    /// The role's name in tokens (after the prefix) and in the docs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Storefront => "storefront",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The role named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.name() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something a route does that not every caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `POST /api/customers`.
    RegisterCustomer,
    /// `POST /api/customers/{id}/credit-limit`.
    ChangeCreditLimit,
    /// `POST /api/inventory/{sku}/restock`.
    Restock,
    /// `POST /api/orders`.
    PlaceOrder,
    /// `POST /api/orders/{id}/cancel`.
    CancelOrder,
    /// `GET /api/inventory/{sku}`.
    ReadInventory,
    /// `GET /api/customers/{id}`.
    ReadCustomers,
    /// `GET /api/orders`, `GET /api/orders/{id}`, its payment and its saga timeline.
    ReadOrders,
    /// `GET /api/notifications`.
    ReadNotifications,
}

impl Permission {
    /// The permission's name in the docs and in 403 answers.
    pub fn name(self) -> &'static str {
        match self {
            Permission::RegisterCustomer => "customers:register",
            Permission::ChangeCreditLimit => "customers:credit-limit",
            Permission::Restock => "inventory:restock",
            Permission::PlaceOrder => "orders:place",
            Permission::CancelOrder => "orders:cancel",
            Permission::ReadInventory => "inventory:read",
            Permission::ReadCustomers => "customers:read",
            Permission::ReadOrders => "orders:read",
            Permission::ReadNotifications => "notifications:read",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

use Role::{Admin, Customer, Operator, Storefront};

/// Each permission and the roles holding it: the one place access is decided.
///
/// What `customer` holds it holds for its own customer only ([`Principal::own_customer`]):
/// the routes check ownership and answer 404 for anything else.
pub const PERMISSIONS: &[(Permission, &[Role])] = &[
    (Permission::RegisterCustomer, &[Customer, Storefront, Admin]),
    (Permission::ChangeCreditLimit, &[Admin]),
    (Permission::Restock, &[Operator, Admin]),
    (Permission::PlaceOrder, &[Customer, Storefront, Admin]),
    (
        Permission::CancelOrder,
        &[Customer, Storefront, Operator, Admin],
    ),
    (
        Permission::ReadInventory,
        &[Customer, Storefront, Operator, Admin],
    ),
    (
        Permission::ReadCustomers,
        &[Customer, Storefront, Operator, Admin],
    ),
    (
        Permission::ReadOrders,
        &[Customer, Storefront, Operator, Admin],
    ),
    (
        Permission::ReadNotifications,
        &[Customer, Storefront, Operator, Admin],
    ),
];

/// The namespace of the customer ids derived from subjects ([`Principal::own_customer`]).
const CUSTOMER_OF_SUBJECT: uuid::Uuid = uuid::uuid!("5b0f3a62-2f1e-4c59-9d57-6a1c2e8f4b17");

/// The customer id a subject registers itself as: the same for the same `sub`, on every
/// replica and after every replay, so no table links the two.
pub fn customer_of_subject(subject: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&CUSTOMER_OF_SUBJECT, subject.as_bytes())
}

/// The roles holding `permission`.
pub fn holders(permission: Permission) -> &'static [Role] {
    PERMISSIONS
        .iter()
        .find(|(p, _)| *p == permission)
        .map_or(&[], |(_, roles)| roles)
}

/// The verified caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: recorded as the `caller` of every event the request writes.
    pub subject: String,
    /// The roles its token grants (unknown role names are dropped).
    pub roles: Vec<Role>,
}

impl Principal {
    /// Whether any of its roles holds `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        holders(permission)
            .iter()
            .any(|role| self.roles.contains(role))
    }

    /// The one customer this caller may see and act on, when it is limited to one: a caller
    /// whose only role is `customer` owns the customer whose id derives from its subject
    /// ([`customer_of_subject`]) and nothing else. `None`: no such limit (a storefront, an
    /// operator or an admin; a caller holding `customer` beside one of those is that one).
    pub fn own_customer(&self) -> Option<uuid::Uuid> {
        let limited =
            self.roles.contains(&Customer) && self.roles.iter().all(|role| *role == Customer);
        limited.then(|| customer_of_subject(&self.subject))
    }

    /// Whether this caller may see customer `id` (and its orders, payments and
    /// notifications).
    pub fn may_see_customer(&self, id: &uuid::Uuid) -> bool {
        self.own_customer().is_none_or(|own| own == *id)
    }
}

/// The permission table as a Markdown table: one row per permission, one column per role.
pub fn markdown_table() -> String {
    let mut table = String::from("| permission |");
    for role in Role::ALL {
        table.push_str(&format!(" {role} |"));
    }
    table.push_str("\n|---|");
    table.push_str(&":-:|".repeat(Role::ALL.len()));
    for (permission, roles) in PERMISSIONS {
        table.push_str(&format!("\n| `{permission}` |"));
        for role in Role::ALL {
            table.push_str(if roles.contains(&role) {
                " yes |"
            } else {
                " |"
            });
        }
    }
    table.push('\n');
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role]) -> Principal {
        Principal {
            subject: "someone".into(),
            roles: roles.to_vec(),
        }
    }

    #[test]
    fn every_permission_has_one_row_and_admin_holds_them_all() {
        let all = [
            Permission::RegisterCustomer,
            Permission::ChangeCreditLimit,
            Permission::Restock,
            Permission::PlaceOrder,
            Permission::CancelOrder,
            Permission::ReadInventory,
            Permission::ReadCustomers,
            Permission::ReadOrders,
            Permission::ReadNotifications,
        ];
        assert_eq!(PERMISSIONS.len(), all.len());
        for permission in all {
            assert_eq!(
                PERMISSIONS.iter().filter(|(p, _)| *p == permission).count(),
                1,
                "{permission}"
            );
            assert!(principal(&[Role::Admin]).may(permission), "{permission}");
        }
    }

    #[test]
    fn a_caller_may_what_any_of_its_roles_may() {
        let operator = principal(&[Role::Operator]);
        assert!(operator.may(Permission::Restock));
        assert!(!operator.may(Permission::ChangeCreditLimit));
        assert!(!operator.may(Permission::PlaceOrder));
        let both = principal(&[Role::Operator, Role::Storefront]);
        assert!(both.may(Permission::PlaceOrder) && both.may(Permission::Restock));
        assert!(!principal(&[]).may(Permission::ReadInventory));
    }

    #[test]
    fn a_customer_acts_on_its_own_customer_only() {
        let customer = principal(&[Role::Customer]);
        assert!(!customer.may(Permission::ChangeCreditLimit));
        assert!(!customer.may(Permission::Restock));
        let own = customer.own_customer().unwrap();
        assert_eq!(own, customer_of_subject("someone"));
        assert!(customer.may_see_customer(&own));
        assert!(!customer.may_see_customer(&customer_of_subject("someone else")));
        // Another subject owns another customer.
        let other = Principal {
            subject: "someone else".into(),
            roles: vec![Role::Customer],
        };
        assert_ne!(other.own_customer(), Some(own));
        // Roles beyond customer see everyone; so does a caller holding one beside it.
        for roles in [
            &[Role::Storefront][..],
            &[Role::Operator],
            &[Role::Admin],
            &[Role::Customer, Role::Operator],
        ] {
            let caller = principal(roles);
            assert_eq!(caller.own_customer(), None, "{roles:?}");
            assert!(caller.may_see_customer(&own), "{roles:?}");
        }
    }

    #[test]
    fn roles_are_named_as_in_tokens() {
        for role in Role::ALL {
            assert_eq!(Role::from_name(role.name()), Some(role));
        }
        assert_eq!(Role::from_name("root"), None);
    }

    #[test]
    fn the_docs_print_the_table_the_code_enforces() {
        let docs = include_str!("../../docs/security.md");
        assert!(
            docs.contains(&markdown_table()),
            "docs/security.md must contain this table:\n{}",
            markdown_table()
        );
    }
}
