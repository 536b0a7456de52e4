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

use Role::{Admin, Operator, Storefront};

/// Each permission and the roles holding it: the one place access is decided.
///
/// `customer` holds only `inventory:read` until ownership is enforced (a customer principal
/// acting on its own customer and orders only): until then any other permission would let it
/// reach every customer's data.
pub const PERMISSIONS: &[(Permission, &[Role])] = &[
    (Permission::RegisterCustomer, &[Storefront, Admin]),
    (Permission::ChangeCreditLimit, &[Admin]),
    (Permission::Restock, &[Operator, Admin]),
    (Permission::PlaceOrder, &[Storefront, Admin]),
    (Permission::CancelOrder, &[Storefront, Operator, Admin]),
    (
        Permission::ReadInventory,
        &[Role::Customer, Storefront, Operator, Admin],
    ),
    (Permission::ReadCustomers, &[Storefront, Operator, Admin]),
    (Permission::ReadOrders, &[Storefront, Operator, Admin]),
    (
        Permission::ReadNotifications,
        &[Storefront, Operator, Admin],
    ),
];

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
    fn a_customer_reads_the_catalogue_and_nothing_of_other_customers() {
        let customer = principal(&[Role::Customer]);
        assert!(customer.may(Permission::ReadInventory));
        for permission in [
            Permission::ReadCustomers,
            Permission::ReadOrders,
            Permission::ReadNotifications,
            Permission::PlaceOrder,
            Permission::RegisterCustomer,
        ] {
            assert!(!customer.may(permission), "{permission}");
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
