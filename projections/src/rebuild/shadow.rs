//! Shadow tables: a schema of its own (`causeway_rebuild_<projection>`) holding an empty copy
//! of each of the projection's tables, under the same names. A connection whose
//! `search_path` puts that schema first runs the projection's own (unqualified) SQL against
//! the copies; the swap moves them into the live schema in one transaction.

use sqlx::{Connection, Executor, PgConnection};

/// The shadow schema of one projection's rebuild.
#[derive(Debug, Clone)]
pub struct Shadow {
    /// `causeway_rebuild_<projection>`.
    pub schema: String,
    /// The schema the live tables are in (the connection's `current_schema()`).
    pub live: String,
    /// The projection's tables.
    pub tables: &'static [&'static str],
}

/// Quotes an SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The shadow schema's name for `projection`.
pub fn schema_name(projection: &str) -> String {
    let safe: String = projection
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("causeway_rebuild_{safe}")
}

/// Points `table`'s index definition (from `pg_get_indexdef`) at the same table in `schema`.
pub(crate) fn retarget_index(definition: &str, live: &str, schema: &str, table: &str) -> String {
    let from = format!(" ON {}.{} ", live, table);
    let from_quoted = format!(" ON {}.{} ", ident(live), ident(table));
    let to = format!(" ON {}.{} ", ident(schema), ident(table));
    definition
        .replacen(&from, &to, 1)
        .replacen(&from_quoted, &to, 1)
}

impl Shadow {
    /// Drops what an earlier, interrupted rebuild left, then creates the schema and an empty
    /// copy of every table: columns, defaults, identity, checks, primary key and unique
    /// constraints (the projection's upserts need them). Other indexes come later.
    pub async fn create(
        conn: &mut PgConnection,
        projection: &str,
        tables: &'static [&'static str],
    ) -> Result<Self, sqlx::Error> {
        let live: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&mut *conn)
            .await?;
        let shadow = Self {
            schema: schema_name(projection),
            live,
            tables,
        };
        let schema = ident(&shadow.schema);
        let mut tx = conn.begin().await?;
        tx.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
            .await?;
        tx.execute(format!("CREATE SCHEMA {schema}").as_str())
            .await?;
        for table in tables {
            shadow.copy_table(&mut tx, table).await?;
        }
        tx.commit().await?;
        Ok(shadow)
    }

    async fn copy_table(&self, conn: &mut PgConnection, table: &str) -> Result<(), sqlx::Error> {
        let (live, shadow) = (self.qualified_live(table), self.qualified(table));
        conn.execute(
            format!(
                "CREATE TABLE {shadow} (LIKE {live} INCLUDING DEFAULTS INCLUDING IDENTITY
                 INCLUDING GENERATED INCLUDING CONSTRAINTS)"
            )
            .as_str(),
        )
        .await?;
        let constraints: Vec<(String, String)> = sqlx::query_as(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'x') ORDER BY conname",
        )
        .bind(&live)
        .fetch_all(&mut *conn)
        .await?;
        for (name, definition) in constraints {
            let sql = format!(
                "ALTER TABLE {shadow} ADD CONSTRAINT {} {definition}",
                ident(&name)
            );
            conn.execute(sql.as_str()).await?;
        }
        Ok(())
    }

    /// Creates the live tables' other indexes on the copies, under the same names: cheaper
    /// once, after the bulk of the rows is in.
    pub async fn create_indexes(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        for table in self.tables {
            let definitions: Vec<String> = sqlx::query_scalar(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
                 WHERE i.indrelid = $1::regclass
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                 ORDER BY i.indexrelid",
            )
            .bind(self.qualified_live(table))
            .fetch_all(&mut *conn)
            .await?;
            for definition in definitions {
                let sql = retarget_index(&definition, &self.live, &self.schema, table);
                conn.execute(sql.as_str()).await?;
            }
        }
        Ok(())
    }

    /// The `search_path` under which the projection's SQL writes the copies.
    pub fn search_path(&self) -> String {
        format!("{}, {}", ident(&self.schema), ident(&self.live))
    }

    /// Inside the caller's transaction: drops each live table and moves its copy (with its
    /// indexes, constraints and identity sequence) into the live schema, drops the shadow
    /// schema, and grants the Causeway roles their access to the new tables. Readers wait
    /// on the tables' locks for this instant; they never see a missing table.
    pub async fn swap(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        for table in self.tables {
            let sql = format!(
                "DROP TABLE {live}; ALTER TABLE {shadow} SET SCHEMA {schema}",
                live = self.qualified_live(table),
                shadow = self.qualified(table),
                schema = ident(&self.live),
            );
            conn.execute(sql.as_str()).await?;
        }
        conn.execute(format!("DROP SCHEMA {} CASCADE", ident(&self.schema)).as_str())
            .await?;
        // The new tables carry no grants: give the roles theirs again (migration
        // 20261203000008, docs/security.md), in the same transaction as the swap.
        conn.execute("SELECT causeway_grant_access()").await?;
        Ok(())
    }

    /// Drops the shadow schema (a rebuild that gives up).
    pub async fn drop(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        conn.execute(format!("DROP SCHEMA IF EXISTS {} CASCADE", ident(&self.schema)).as_str())
            .await?;
        Ok(())
    }

    fn qualified(&self, table: &str) -> String {
        format!("{}.{}", ident(&self.schema), ident(table))
    }

    fn qualified_live(&self, table: &str) -> String {
        format!("{}.{}", ident(&self.live), ident(table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_definition_is_pointed_at_the_shadow_copy_keeping_its_name() {
        let definition = "CREATE INDEX orders_keyset ON public.orders USING btree (placed_at DESC, order_id DESC)";
        assert_eq!(
            retarget_index(definition, "public", "causeway_rebuild_orders", "orders"),
            "CREATE INDEX orders_keyset ON \"causeway_rebuild_orders\".\"orders\" USING btree (placed_at DESC, order_id DESC)"
        );
    }

    #[test]
    fn the_shadow_schema_name_is_a_plain_identifier() {
        assert_eq!(
            schema_name("saga_timeline"),
            "causeway_rebuild_saga_timeline"
        );
        assert_eq!(schema_name("We-ird"), "causeway_rebuild_we_ird");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}
