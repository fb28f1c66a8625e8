//! A policy's key against the live table: the key it names or, when it names none, the table's
//! primary key; and whether it identifies rows. Keyset batches order and bound rows by the key,
//! so a key that two rows share, or that a row leaves NULL, would make batches skip or repeat
//! rows. The primary key and the unique indexes are read from the live catalog.

use super::schema::{Column, Family, KeyColumn};
use super::sql::{Param, Query, SqlStore, StoreError};
use crate::model::{Action, Dialect, Ident, Key, RetentionPolicy};
use std::collections::BTreeMap;

/// A primary key or unique index of a table, as the catalog has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueKey {
    /// True for the primary key.
    pub primary: bool,
    /// True when the database keeps its columns NOT NULL whatever they declare: a primary key
    /// on PostgreSQL and MariaDB/MySQL. SQLite lets a primary key column hold NULL unless it
    /// declares NOT NULL or is the rowid (`id INTEGER PRIMARY KEY`).
    pub never_null: bool,
    /// Its columns in index order; `None` for an expression, which no key can cover.
    pub columns: Vec<Option<String>>,
}

impl UniqueKey {
    /// `(a, b)`.
    fn shown(&self) -> String {
        let names: Vec<&str> = (self.columns.iter())
            .map(|c| c.as_deref().unwrap_or("<expression>"))
            .collect();
        format!("({})", names.join(", "))
    }
}

/// Why `key` cannot page through the table, or `None` when it can: its columns must include
/// every column of the primary key or of a unique index, and none may accept NULL (a primary
/// key column counts as NOT NULL where the database keeps it so).
pub fn unusable(
    table: &Ident,
    key: &Key,
    uniques: &[UniqueKey],
    cols: &BTreeMap<String, Column>,
) -> Option<String> {
    let primary: Vec<&UniqueKey> = uniques.iter().filter(|u| u.primary).collect();
    // SQLite's rowid: one column declared exactly `INTEGER`, never NULL.
    let rowid = |u: &UniqueKey| match u.columns.as_slice() {
        [Some(c)] => cols
            .get(c)
            .is_some_and(|col| col.sql_type.eq_ignore_ascii_case("integer")),
        _ => false,
    };
    let in_primary = |c: &Ident| {
        (primary.iter()).any(|u| {
            (u.never_null || rowid(u)) && u.columns.iter().flatten().any(|p| p == c.as_str())
        })
    };
    let nullable: Vec<&str> = (key.columns().iter())
        .filter(|c| cols.get(c.as_str()).is_some_and(|col| col.nullable) && !in_primary(c))
        .map(Ident::as_str)
        .collect();
    let covered = |u: &UniqueKey| {
        !u.columns.is_empty()
            && (u.columns.iter()).all(|c| c.as_deref().is_some_and(|c| key.contains_name(c)))
    };
    let expected = "the policy's `key` must be the table's primary key, or include the columns of a unique index, with every column NOT NULL: keyset batches would skip or repeat rows otherwise";
    if !nullable.is_empty() {
        return Some(format!(
            "key column(s) `{}` of table `{table}` accept NULL; {expected}",
            nullable.join("`, `")
        ));
    }
    if uniques.iter().any(covered) {
        return None;
    }
    let found = match uniques {
        [] => format!("table `{table}` has no primary key and no unique index"),
        some => format!(
            "table `{table}` has {}",
            (some.iter())
                .map(|u| match u.primary {
                    true => format!("primary key {}", u.shown()),
                    false => format!("unique index {}", u.shown()),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Some(format!(
        "key {key} does not identify the rows of `{table}` ({found}); {expected}"
    ))
}

impl SqlStore {
    /// The table's primary key and unique indexes, each with its columns in index order. Partial
    /// indexes (PostgreSQL `WHERE`, SQLite `WHERE`) are left out: they leave rows unconstrained.
    pub async fn unique_keys(&self, table: &Ident) -> Result<Vec<UniqueKey>, StoreError> {
        let mut q = Query::new(self.dialect);
        match self.dialect {
            Dialect::Sqlite => {
                // The primary key from table_info: the rowid alias (`id INTEGER PRIMARY KEY`) has
                // no index, any other primary key an automatic one (origin `pk`), left out below.
                let primary = self.primary_key(table).await?;
                // An index column under another collation than BINARY orders and compares
                // differently from the key's statements: it covers nothing (NULL, like an
                // expression).
                q.push("SELECT il.name, 'u', CASE WHEN ii.coll = 'BINARY' THEN ii.name END FROM pragma_index_list(")
                    .bind(Param::Text(table.name().to_string()));
                if let Some(schema) = table.schema() {
                    q.push(", ").bind(Param::Text(schema.to_string()));
                }
                q.push(") il, pragma_index_xinfo(il.name) ii WHERE il.\"unique\" = 1 AND il.partial = 0 AND il.origin <> 'pk' AND ii.\"key\" = 1 ORDER BY il.name, ii.seqno");
                let mut out = Vec::new();
                if !primary.is_empty() {
                    out.push(UniqueKey {
                        primary: true,
                        never_null: false,
                        columns: (primary.iter().map(|c| Some(c.as_str().to_string()))).collect(),
                    });
                }
                out.extend(self.read_unique(&q).await?);
                return Ok(out);
            }
            Dialect::Postgres => {
                // An index column under another collation than its column's orders and compares
                // differently from the key's statements: it covers nothing (NULL).
                q.push("SELECT c.relname::text, CASE WHEN i.indisprimary THEN 'p' ELSE 'u' END, CASE WHEN (i.indcollation::oid[])[array_lower(i.indcollation::oid[], 1) + k.n - 1] IS NOT DISTINCT FROM a.attcollation THEN a.attname::text END FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0 WHERE i.indisunique AND i.indisvalid AND i.indpred IS NULL AND k.n <= i.indnkeyatts AND i.indrelid = to_regclass(")
                    .bind(Param::Text(self.dialect.quote(table)))
                    .push(") ORDER BY 1, k.n");
            }
            Dialect::MySql => {
                q.push("SELECT CAST(INDEX_NAME AS CHAR), CASE WHEN INDEX_NAME = 'PRIMARY' THEN 'p' ELSE 'u' END, CAST(COLUMN_NAME AS CHAR) FROM information_schema.STATISTICS WHERE NON_UNIQUE = 0 AND TABLE_SCHEMA = ");
                self.push_schema(&mut q, table);
                q.push(" AND TABLE_NAME = ")
                    .bind(Param::Text(table.name().to_string()))
                    .push(" ORDER BY 1, SEQ_IN_INDEX");
            }
        }
        self.read_unique(&q).await
    }

    /// True when the SQLite table's definition names a collation anywhere.
    async fn sqlite_collates(&self, table: &Ident) -> Result<bool, StoreError> {
        let mut q = Query::new(self.dialect);
        q.push("SELECT sql FROM ");
        if let Some(schema) = table.schema() {
            q.push(&format!("{}.", self.dialect.quote_part(schema)));
        }
        q.push("sqlite_master WHERE type = 'table' AND name = ")
            .bind(Param::Text(table.name().to_string()));
        let rows = self.fetch_texts(&q).await?;
        Ok(rows
            .iter()
            .flatten()
            .flatten()
            .any(|sql| sql.to_ascii_lowercase().contains("collate")))
    }

    /// Rows of (index name, `p` or `u`, column or NULL), in index order, grouped per index.
    async fn read_unique(&self, q: &Query) -> Result<Vec<UniqueKey>, StoreError> {
        let mut out: Vec<UniqueKey> = Vec::new();
        let mut last: Option<String> = None;
        for row in self.fetch_texts(q).await? {
            let get = |i: usize| row.get(i).cloned().flatten();
            let name = get(0).unwrap_or_default();
            let column = get(2);
            match out.last_mut() {
                Some(u) if last.as_deref() == Some(name.as_str()) => u.columns.push(column),
                _ => out.push(UniqueKey {
                    primary: get(1).as_deref() == Some("p"),
                    // PostgreSQL and MariaDB/MySQL keep primary key columns NOT NULL.
                    never_null: get(1).as_deref() == Some("p"),
                    columns: vec![column],
                }),
            }
            last = Some(name);
        }
        Ok(out)
    }

    /// The policy's key checked against the live table: the key it names, or the table's
    /// primary key when it names none; each column with a type batches can page by; together
    /// identifying the rows. Returns its columns as statements read them; every problem found
    /// goes to `errs`, a sentence naming the policy.
    pub(super) async fn check_key(
        &self,
        policy: &RetentionPolicy,
        cols: &BTreeMap<String, Column>,
        errs: &mut Vec<String>,
    ) -> Result<Vec<KeyColumn>, StoreError> {
        let (p, table) = (&policy.name, &policy.table);
        let uniques = self.unique_keys(table).await?;
        let key = match &policy.key {
            Some(k) => k.clone(),
            None => match primary_key(&uniques) {
                Some(k) => k,
                None => {
                    errs.push(format!(
                        "policy `{p}`: table `{table}` has no primary key, so the policy needs `key:`: a column, or a list of columns, that a unique index covers, all NOT NULL"
                    ));
                    return Ok(Vec::new());
                }
            },
        };
        let before = errs.len();
        let mut out = Vec::new();
        let collated = self.dialect == Dialect::Sqlite && self.sqlite_collates(table).await?;
        for name in key.columns() {
            let Some(k) = cols.get(name.as_str()) else {
                errs.push(format!(
                    "policy `{p}`: key column `{name}` not found in table `{table}`"
                ));
                continue;
            };
            let (int, cast) = match k.family {
                // Up to 2^64 - 1: read as text, compared as UNSIGNED in every statement.
                Family::Integer if k.unsigned && k.sql_type.eq_ignore_ascii_case("bigint") => {
                    (false, Some("UNSIGNED".to_string()))
                }
                Family::Integer => (true, None),
                Family::Untyped => {
                    errs.push(format!(
                        "policy `{p}`: key column `{name}` has no declared type, so its numbers and its text sort apart and compare unlike the order batches page in; declare it INTEGER or TEXT"
                    ));
                    continue;
                }
                Family::Text if ordered_apart(&k.sql_type) => {
                    errs.push(format!(
                        "policy `{p}`: key column `{name}` is `{}`, whose order is not the order of its text, so batches would skip rows; use another key",
                        k.sql_type
                    ));
                    continue;
                }
                // SQLite does not tell a column's collation: where the table declares any, a
                // text key's order may differ from what its index keeps unique.
                Family::Text if collated => {
                    errs.push(format!(
                        "policy `{p}`: key column `{name}` is text in a table that declares a COLLATE, whose order lethe cannot check against the key's unique index on SQLite; use an integer key"
                    ));
                    continue;
                }
                Family::Text => (false, None),
                Family::Uuid => (false, Some("uuid".to_string())),
                _ => {
                    errs.push(format!(
                        "policy `{p}`: key column `{name}` is `{}`; expected an integer, text or uuid column",
                        k.sql_type
                    ));
                    continue;
                }
            };
            out.push(KeyColumn {
                name: name.clone(),
                int,
                cast,
            });
        }
        // A key named in the policy was refused at load time if anonymized; the primary key
        // taken in its place is checked here.
        if let Action::Anonymize(strategies) = &policy.action {
            for column in strategies.keys().filter(|c| key.contains(c)) {
                errs.push(format!(
                    "policy `{p}`: cannot anonymize `{column}`, a column of the key {key} (the table's primary key); use `action: delete` to remove rows"
                ));
            }
        }
        if errs.len() == before {
            if let Some(why) = unusable(table, &key, &uniques, cols) {
                errs.push(format!("policy `{p}`: {why}"));
            }
        }
        Ok(out)
    }
}

/// Text types that sort otherwise than their text compares: MariaDB/MySQL `ENUM` and `SET` (by
/// declared position) and PostgreSQL `citext` (without case, against text parameters with).
fn ordered_apart(sql_type: &str) -> bool {
    let t = sql_type.trim().to_ascii_lowercase();
    t.starts_with("enum") || t.starts_with("set") || t == "citext"
}

/// The primary key as a policy key, when the table has one that names only columns.
fn primary_key(uniques: &[UniqueKey]) -> Option<Key> {
    let primary = uniques.iter().find(|u| u.primary)?;
    let columns = (primary.columns.iter())
        .map(|c| c.as_deref().and_then(|c| Ident::parse(c).ok()))
        .collect::<Option<Vec<_>>>()?;
    Key::new(columns).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Family;

    fn column(nullable: bool) -> Column {
        Column {
            sql_type: "integer".into(),
            family: Family::Integer,
            nullable,
            max_len: None,
            unsigned: false,
        }
    }

    fn key(names: &[&str]) -> Key {
        Key::new(names.iter().map(|n| Ident::parse(n).unwrap()).collect()).unwrap()
    }

    fn unique(primary: bool, names: &[&str]) -> UniqueKey {
        UniqueKey {
            primary,
            never_null: primary,
            columns: names.iter().map(|n| Some(n.to_string())).collect(),
        }
    }

    fn cols(names: &[(&str, bool)]) -> BTreeMap<String, Column> {
        (names.iter())
            .map(|(n, nullable)| (n.to_string(), column(*nullable)))
            .collect()
    }

    #[test]
    fn the_primary_key_or_a_covered_unique_index_identifies_rows() {
        let t = Ident::parse("orders").unwrap();
        let c = cols(&[("customer_id", false), ("seq", false), ("code", false)]);
        let pk = [unique(true, &["customer_id", "seq"])];
        assert_eq!(unusable(&t, &key(&["customer_id", "seq"]), &pk, &c), None);
        // In another order, or with a column more, the tuple is still unique.
        assert_eq!(unusable(&t, &key(&["seq", "customer_id"]), &pk, &c), None);
        assert_eq!(
            unusable(&t, &key(&["customer_id", "seq", "code"]), &pk, &c),
            None
        );
        let by_code = [pk[0].clone(), unique(false, &["code"])];
        assert_eq!(unusable(&t, &key(&["code"]), &by_code, &c), None);
    }

    #[test]
    fn a_part_of_a_key_or_a_table_without_one_is_refused() {
        let t = Ident::parse("orders").unwrap();
        let c = cols(&[("customer_id", false), ("seq", false)]);
        let pk = [unique(true, &["customer_id", "seq"])];
        let why = unusable(&t, &key(&["customer_id"]), &pk, &c).unwrap();
        assert!(why.contains("key customer_id does not identify the rows of `orders`"));
        assert!(why.contains("primary key (customer_id, seq)"), "{why}");
        let why = unusable(&t, &key(&["customer_id"]), &[], &c).unwrap();
        assert!(why.contains("no primary key and no unique index"), "{why}");
    }

    #[test]
    fn a_nullable_unique_column_or_an_expression_index_is_refused() {
        let t = Ident::parse("people").unwrap();
        let c = cols(&[("email", true)]);
        let why = unusable(&t, &key(&["email"]), &[unique(false, &["email"])], &c).unwrap();
        assert!(
            why.contains("`email` of table `people` accept NULL"),
            "{why}"
        );
        let c = cols(&[("email", false)]);
        let expr = UniqueKey {
            primary: false,
            never_null: false,
            columns: vec![None],
        };
        assert!(unusable(&t, &key(&["email"]), &[expr], &c).is_some());
    }

    #[test]
    fn a_sqlite_primary_key_counts_as_not_null_only_as_the_rowid() {
        let t = Ident::parse("orders").unwrap();
        let mut pk = unique(true, &["customer_id", "seq"]);
        pk.never_null = false;
        let c = cols(&[("customer_id", true), ("seq", true)]);
        let why = unusable(&t, &key(&["customer_id", "seq"]), &[pk], &c).unwrap();
        assert!(why.contains("accept NULL"), "{why}");
        let mut rowid = unique(true, &["id"]);
        rowid.never_null = false;
        assert_eq!(
            unusable(&t, &key(&["id"]), &[rowid], &cols(&[("id", true)])),
            None
        );
        assert!(ordered_apart("enum('a','b')") && ordered_apart("citext"));
        assert!(!ordered_apart("varchar(20)"));
    }
}
