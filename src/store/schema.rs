//! The live schema of a table, and the check of a policy against it.

use super::sql::{Query, SqlStore, StoreError};
use crate::model::Dialect;
use crate::model::{
    Action, Clock, Condition, ExemptScope, Exemption, Hold, HoldSource, Ident, Key,
    RetentionPolicy, Strategy, Test, Value, Window,
};
use std::collections::{BTreeMap, BTreeSet};

/// The broad type of a column, as far as policies care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Character data.
    Text,
    /// Integers.
    Integer,
    /// Timestamps with or without zone.
    Timestamp,
    /// Dates.
    Date,
    /// PostgreSQL `inet`.
    Inet,
    /// PostgreSQL `uuid`.
    Uuid,
    /// Booleans.
    Bool,
    /// A SQLite column without a declared type (holds anything).
    Untyped,
    /// Anything else.
    Other,
}

/// One column of a live table.
#[derive(Debug, Clone)]
pub struct Column {
    /// Declared type as the database reports it.
    pub sql_type: String,
    /// Its family.
    pub family: Family,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// Maximum length of character columns, when limited.
    pub max_len: Option<i64>,
    /// MariaDB/MySQL `UNSIGNED` (values may exceed a signed 64-bit integer).
    pub unsigned: bool,
}

crate::util::named_enum! {
    /// What the database does to referencing rows when the row they reference is deleted.
    pub enum OnDelete {
        /// Deletes them too.
        Cascade => "CASCADE",
        /// Sets their referencing columns to NULL.
        SetNull => "SET NULL",
        /// Sets their referencing columns to their defaults.
        SetDefault => "SET DEFAULT",
        /// Refuses the delete at once.
        Restrict => "RESTRICT",
        /// Refuses the delete (at the end of the statement or transaction).
        NoAction => "NO ACTION",
    }
}

impl OnDelete {
    /// The rule as the catalog spells it; anything unknown refuses, like `NO ACTION`.
    fn from_rule(rule: &str) -> OnDelete {
        match rule.trim().to_ascii_uppercase().as_str() {
            "CASCADE" => OnDelete::Cascade,
            "SET NULL" => OnDelete::SetNull,
            "SET DEFAULT" => OnDelete::SetDefault,
            "RESTRICT" => OnDelete::Restrict,
            _ => OnDelete::NoAction,
        }
    }

    /// True when a delete of the referenced row changes the referencing rows.
    pub fn changes_children(self) -> bool {
        matches!(
            self,
            OnDelete::Cascade | OnDelete::SetNull | OnDelete::SetDefault
        )
    }
}

/// A foreign key into a table, as the live schema has it: the rows of `child` whose columns
/// equal a row's referenced columns reference that row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The referencing table (it may be the referenced table itself).
    pub child: Ident,
    /// Each referencing column with the referenced column it equals, in key order.
    pub columns: Vec<(Ident, Ident)>,
    /// What the database does to the referencing rows on a delete.
    pub on_delete: OnDelete,
}

/// A foreign key as read, before SQLite's implicit primary key columns are filled in.
struct ReadKey {
    child: Ident,
    columns: Vec<(Ident, Option<Ident>)>,
    on_delete: OnDelete,
}

/// A policy checked against the live schema of its store: ready to build statements.
#[derive(Debug, Clone)]
pub struct Target {
    /// The policy.
    pub policy: RetentionPolicy,
    /// The store's dialect.
    pub dialect: Dialect,
    /// The key's columns, in key order, each as statements read and bind it.
    pub key: Vec<KeyColumn>,
    /// PostgreSQL `inet` columns among the anonymized ones.
    pub inet_columns: BTreeSet<Ident>,
    /// Anonymized columns that accept NULL.
    pub nullable: BTreeSet<Ident>,
    /// The holds on this table (declared and runtime); a held record is never changed.
    pub holds: Vec<Hold>,
    /// For anonymize: the delete policies on the same table. A record one of them deletes at
    /// the same instant is left to it (delete supersedes anonymize).
    pub superseded_by: Vec<RetentionPolicy>,
    /// With `--shard I/N` on an integer key: only this shard's class of keys.
    pub shard: Option<crate::model::Shard>,
    /// The foreign keys into the table (of a delete, or of an anonymization that a delete on
    /// the same table supersedes). A due row that some row still references is kept.
    pub referenced_by: Vec<ForeignKey>,
    /// In a plan only: the delete policies of the same run that go before this one, on tables
    /// that reference this one. The rows they will have deleted by then do not keep a row
    /// here, so the plan counts what `apply` will meet; statements that change data never
    /// assume it.
    pub going_first: Vec<Target>,
    /// The holds on the tables that reference this one, each with the referencing table it was
    /// checked to fit: counted where a held row is what keeps a row here ("7 held by
    /// fiscal-retention"); statements that change data do not need them (a referenced row is
    /// kept whatever keeps the referencing row).
    pub child_holds: Vec<(Ident, Hold)>,
}

/// One column of a policy's key, as statements read and bind its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyColumn {
    /// The column.
    pub name: Ident,
    /// True when it is an integer read as one (else read as text).
    pub int: bool,
    /// The type a value bound as text must be cast to (PostgreSQL `uuid`, MariaDB `UNSIGNED`).
    pub cast: Option<String>,
}

impl Target {
    /// The column `--shard I/N` splits the policy on: the key's first column, when it is an
    /// integer.
    pub fn shard_column(&self) -> Option<&Ident> {
        self.key.first().filter(|k| k.int).map(|k| &k.name)
    }

    /// The key the statements page by, as a policy names it: the policy's own, or the table's
    /// primary key when the policy names none.
    pub fn paged_by(&self) -> Option<Key> {
        Key::new(self.key.iter().map(|k| k.name.clone()).collect()).ok()
    }

    /// True when every key column is read as an integer, in order.
    pub fn int_key(&self) -> Vec<bool> {
        self.key.iter().map(|k| k.int).collect()
    }
}

/// Length of an `hmac` result (`hmac:` + 32 hex digits).
pub const HMAC_LEN: i64 = 37;

impl SqlStore {
    /// The columns of a table, or `None` when it does not exist.
    pub async fn columns(
        &self,
        table: &Ident,
    ) -> Result<Option<BTreeMap<String, Column>>, StoreError> {
        let mut q = Query::new(self.dialect);
        match self.dialect {
            Dialect::Sqlite => {
                q.push(
                    "SELECT name, type, CAST(\"notnull\" AS TEXT), NULL FROM pragma_table_info(",
                );
                q.bind(super::Param::Text(table.name().to_string()));
                if let Some(schema) = table.schema() {
                    q.push(", ").bind(super::Param::Text(schema.to_string()));
                }
                q.push(")");
            }
            Dialect::Postgres => {
                q.push("SELECT column_name::text, CASE WHEN data_type = 'USER-DEFINED' THEN udt_name::text ELSE data_type::text END, CASE WHEN is_nullable = 'YES' THEN '0' ELSE '1' END, character_maximum_length::text FROM information_schema.columns WHERE table_schema = ");
                self.push_schema(&mut q, table);
                q.push(" AND table_name = ")
                    .bind(super::Param::Text(table.name().to_string()));
            }
            Dialect::MySql => {
                q.push("SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), CASE WHEN IS_NULLABLE = 'YES' THEN '0' ELSE '1' END, CAST(CHARACTER_MAXIMUM_LENGTH AS CHAR), CAST(COLUMN_TYPE AS CHAR) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ");
                self.push_schema(&mut q, table);
                q.push(" AND TABLE_NAME = ")
                    .bind(super::Param::Text(table.name().to_string()));
            }
        }
        let rows = self.fetch_texts(&q).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut out = BTreeMap::new();
        for row in rows {
            let get = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
            let sql_type = get(1);
            out.insert(
                get(0),
                Column {
                    family: family(self.dialect, &sql_type),
                    nullable: get(2) != "1",
                    max_len: get(3).parse().ok(),
                    unsigned: get(4).to_ascii_lowercase().contains("unsigned"),
                    sql_type,
                },
            );
        }
        Ok(Some(out))
    }

    /// The table as the database spells it, found regardless of case the way holds match
    /// tables (`LEADS` finds `leads`): the name itself when it exists, else the one table of
    /// the schema whose name differs only in case; `None` when there is none, or several.
    pub async fn table_named(&self, table: &Ident) -> Result<Option<Ident>, StoreError> {
        if self.columns(table).await?.is_some() {
            return Ok(Some(table.clone()));
        }
        let mut q = Query::new(self.dialect);
        match self.dialect {
            // SQLite's names are case-insensitive already.
            Dialect::Sqlite => return Ok(None),
            Dialect::Postgres => {
                q.push(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = ",
                );
                self.push_schema(&mut q, table);
                q.push(" AND lower(table_name) = lower(")
                    .bind(super::Param::Text(table.name().to_string()))
                    .push(")");
            }
            Dialect::MySql => {
                q.push("SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ");
                self.push_schema(&mut q, table);
                q.push(" AND LOWER(TABLE_NAME) = LOWER(")
                    .bind(super::Param::Text(table.name().to_string()))
                    .push(")");
            }
        }
        let rows = self.fetch_texts(&q).await?;
        let [row] = rows.as_slice() else {
            return Ok(None);
        };
        let Some(Some(name)) = row.first() else {
            return Ok(None);
        };
        let spelled = match table.schema() {
            Some(s) => format!("{s}.{name}"),
            None => name.clone(),
        };
        Ok(Ident::parse_table(&spelled).ok())
    }

    /// Checks that every table and column a policy names exists with a type that fits.
    /// Returns every problem found, each a complete sentence naming the policy.
    pub async fn check(&self, policy: &RetentionPolicy) -> Result<Target, Vec<String>> {
        let p = &policy.name;
        let fail = |e: StoreError| vec![format!("policy `{p}`: {e}")];
        let Some(cols) = self.columns(&policy.table).await.map_err(fail)? else {
            return Err(vec![format!(
                "policy `{p}`: table `{}` not found in store `{}`",
                policy.table, self.name
            )]);
        };
        let mut errs = Vec::new();
        let sqlite = self.dialect == Dialect::Sqlite;
        let col = |name: &Ident, errs: &mut Vec<String>| -> Option<Column> {
            let c = cols.get(name.as_str()).cloned();
            if c.is_none() {
                errs.push(format!(
                    "policy `{p}`: column `{name}` not found in table `{}`",
                    policy.table
                ));
            }
            c
        };
        let timeish = |c: &Column| {
            matches!(c.family, Family::Timestamp | Family::Date)
                || (sqlite && matches!(c.family, Family::Text | Family::Untyped))
        };
        let textish =
            |c: &Column| c.family == Family::Text || (sqlite && c.family == Family::Untyped);

        let key = self
            .check_key(policy, &cols, &mut errs)
            .await
            .map_err(fail)?;
        let who = format!("policy `{p}`");
        self.check_rows(
            &who,
            &policy.table,
            &cols,
            Some(&policy.clock),
            &policy.selector,
            &mut errs,
        )
        .await
        .map_err(fail)?;
        let mut inet_columns = BTreeSet::new();
        let mut nullable = BTreeSet::new();
        if let Action::Anonymize(strategies) = &policy.action {
            for (name, strategy) in strategies {
                let Some(c) = col(name, &mut errs) else {
                    continue;
                };
                if c.nullable {
                    nullable.insert(name.clone());
                }
                let need = |what: &str| {
                    format!(
                        "policy `{p}`: column `{name}` is `{}`; strategy `{}` needs {what}",
                        c.sql_type,
                        strategy.name()
                    )
                };
                let too_short = |len: i64| c.max_len.is_some_and(|m| m < len);
                match strategy {
                    Strategy::Null if !c.nullable => errs.push(need("a column that accepts NULL")),
                    Strategy::Redact(text) if !textish(&c) => errs.push(need("a text column")),
                    Strategy::Redact(text) if too_short(text.chars().count() as i64) => errs.push(
                        need(&format!("room for {} characters", text.chars().count())),
                    ),
                    Strategy::Hmac if !textish(&c) => errs.push(need("a text column")),
                    Strategy::Hmac if too_short(HMAC_LEN) => {
                        errs.push(need(&format!("room for {HMAC_LEN} characters")))
                    }
                    Strategy::TruncateIp if c.family == Family::Inet => {
                        inet_columns.insert(name.clone());
                    }
                    Strategy::TruncateIp if !textish(&c) => {
                        errs.push(need("a text or inet column"))
                    }
                    Strategy::Year | Strategy::Month if !timeish(&c) => {
                        errs.push(need("a date or timestamp column"))
                    }
                    _ => {}
                }
            }
        }
        if errs.is_empty() {
            Ok(Target {
                policy: policy.clone(),
                dialect: self.dialect,
                key,
                inet_columns,
                nullable,
                holds: Vec::new(),
                superseded_by: Vec::new(),
                shard: None,
                referenced_by: Vec::new(),
                going_first: Vec::new(),
                child_holds: Vec::new(),
            })
        } else {
            Err(errs)
        }
    }
}

impl SqlStore {
    /// The table's schema as a bound value, or the connection's own (`current_schema()` on
    /// PostgreSQL, `DATABASE()` on MariaDB/MySQL).
    pub(super) fn push_schema(&self, q: &mut Query, table: &Ident) {
        match table.schema() {
            Some(s) => {
                q.bind(super::Param::Text(s.to_string()));
            }
            None => {
                q.push(match self.dialect {
                    Dialect::MySql => "DATABASE()",
                    _ => "current_schema()",
                });
            }
        }
    }

    /// Checks a clock and a selector against a table's columns: shared by policies and holds.
    async fn check_rows(
        &self,
        who: &str,
        table: &Ident,
        cols: &BTreeMap<String, Column>,
        clock: Option<&Clock>,
        selector: &[Condition],
        errs: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        let sqlite = self.dialect == Dialect::Sqlite;
        let timeish = |c: &Column| {
            matches!(c.family, Family::Timestamp | Family::Date)
                || (sqlite && matches!(c.family, Family::Text | Family::Untyped))
        };
        let col = |name: &Ident, errs: &mut Vec<String>| -> Option<Column> {
            let c = cols.get(name.as_str()).cloned();
            if c.is_none() {
                errs.push(format!(
                    "{who}: column `{name}` not found in table `{table}`"
                ));
            }
            c
        };
        match clock {
            None => {}
            Some(Clock::Column(c)) => {
                if let Some(c2) = col(c, errs) {
                    if !timeish(&c2) {
                        errs.push(format!(
                            "{who}: clock column `{c}` is `{}`; expected a date or timestamp column",
                            c2.sql_type
                        ));
                    }
                }
            }
            Some(Clock::Join {
                table: jt,
                on,
                column,
            }) => {
                if jt == table {
                    errs.push(format!(
                        "{who}: clock `join` must name another table than `{jt}`"
                    ));
                }
                match self.columns(jt).await? {
                    None => errs.push(format!(
                        "{who}: clock join table `{jt}` not found in store `{}`",
                        self.name
                    )),
                    Some(jcols) => {
                        for (l, r) in on {
                            col(l, errs);
                            if !jcols.contains_key(r.as_str()) {
                                errs.push(format!(
                                    "{who}: column `{r}` not found in joined table `{jt}`"
                                ));
                            }
                        }
                        match jcols.get(column.as_str()) {
                            None => errs.push(format!(
                                "{who}: clock column `{column}` not found in joined table `{jt}`"
                            )),
                            Some(c) if !timeish(c) => errs.push(format!(
                                "{who}: clock column `{jt}.{column}` is `{}`; expected a date or timestamp column",
                                c.sql_type
                            )),
                            Some(_) => {}
                        }
                    }
                }
            }
        }
        for cond in selector {
            let Some(c) = col(&cond.column, errs) else {
                continue;
            };
            // SQLite columns may hold anything: check only the declared text and integer ones.
            if sqlite && !matches!(c.family, Family::Text | Family::Integer) {
                continue;
            }
            let values: Vec<&Value> = match &cond.test {
                Test::Eq(v) => vec![v],
                Test::In(vs) => vs.iter().collect(),
                Test::IsNull(_) => vec![],
            };
            if !values.is_empty()
                && !matches!(
                    c.family,
                    Family::Text | Family::Integer | Family::Bool | Family::Untyped
                )
            {
                errs.push(format!(
                    "{who}: match on `{}` compares a value with a `{}` column; matches work on text, whole-number and boolean columns",
                    cond.column, c.sql_type
                ));
                continue;
            }
            for v in values {
                let fits = match v {
                    Value::Int(_) => c.family == Family::Integer,
                    Value::Bool(_) => matches!(c.family, Family::Bool | Family::Integer),
                    Value::Text(_) => !matches!(c.family, Family::Integer | Family::Bool),
                };
                if !fits {
                    errs.push(format!(
                        "{who}: match on `{}` compares {} value with a `{}` column (quote numbers meant as text, e.g. \"0612345678\")",
                        cond.column,
                        v.kind(),
                        c.sql_type
                    ));
                }
            }
        }
        Ok(())
    }

    /// The foreign keys into `table`, from the live schema: every table (itself included)
    /// whose rows reference it, with the pairs of columns and the `ON DELETE` rule. A key whose
    /// table or column names lethe cannot quote is an error: lethe could not tell which rows
    /// it keeps.
    pub async fn references(&self, table: &Ident) -> Result<Vec<ForeignKey>, StoreError> {
        let mut q = Query::new(self.dialect);
        match self.dialect {
            Dialect::Sqlite => {
                q.push("SELECT m.name, CAST(p.id AS TEXT), upper(p.on_delete), p.\"from\", p.\"to\" FROM sqlite_master m, pragma_foreign_key_list(m.name) p WHERE m.type = 'table' AND lower(p.\"table\") = lower(");
                q.bind(super::Param::Text(table.name().to_string()))
                    .push(") ORDER BY m.name, p.id, p.seq");
            }
            Dialect::Postgres => {
                q.push("SELECT c.conrelid::regclass::text, c.conname::text, CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' WHEN 'r' THEN 'RESTRICT' ELSE 'NO ACTION' END, a.attname::text, af.attname::text FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child_col, parent_col, n) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.child_col JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = k.parent_col WHERE c.contype = 'f' AND (c.conparentid = 0 OR EXISTS (SELECT 1 FROM pg_constraint pc WHERE pc.oid = c.conparentid AND pc.conrelid = c.conrelid)) AND c.confrelid = to_regclass(");
                q.bind(super::Param::Text(self.dialect.quote(table)))
                    .push(") ORDER BY 1, 2, k.n");
            }
            Dialect::MySql => {
                q.push("SELECT CAST(CASE WHEN k.TABLE_SCHEMA = DATABASE() THEN k.TABLE_NAME ELSE CONCAT(k.TABLE_SCHEMA, '.', k.TABLE_NAME) END AS CHAR), CAST(k.CONSTRAINT_NAME AS CHAR), CAST(r.DELETE_RULE AS CHAR), CAST(k.COLUMN_NAME AS CHAR), CAST(k.REFERENCED_COLUMN_NAME AS CHAR) FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME WHERE k.REFERENCED_TABLE_SCHEMA = ");
                self.push_schema(&mut q, table);
                q.push(" AND k.REFERENCED_TABLE_NAME = ")
                    .bind(super::Param::Text(table.name().to_string()))
                    .push(" ORDER BY 1, 2, k.ORDINAL_POSITION");
            }
        }
        let unreadable = |name: &str| StoreError::UnreadableReference {
            table: table.to_string(),
            name: crate::util::shorten(name),
        };
        let mut out: Vec<ReadKey> = Vec::new();
        let mut last: Option<(String, String)> = None;
        for row in self.fetch_texts(&q).await? {
            let get = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
            let (child, constraint) = (get(0), get(1));
            // Catalog names may be quoted ("Leads").
            let cleaned: String = child.chars().filter(|c| *c != '"').collect();
            let child_table = Ident::parse_table(&cleaned).map_err(|_| unreadable(&child))?;
            let column = Ident::parse(&get(3)).map_err(|_| unreadable(&get(3)))?;
            // SQLite leaves the referenced columns out of `REFERENCES customers`: the key then
            // references the primary key, filled in below.
            let referenced = match row.get(4).cloned().flatten() {
                Some(c) => Some(Ident::parse(&c).map_err(|_| unreadable(&c))?),
                None => None,
            };
            let same = last.as_ref() == Some(&(child.clone(), constraint.clone()));
            match out.last_mut() {
                Some(fk) if same => fk.columns.push((column, referenced)),
                _ => out.push(ReadKey {
                    child: child_table,
                    columns: vec![(column, referenced)],
                    on_delete: OnDelete::from_rule(&get(2)),
                }),
            }
            last = Some((child, constraint));
        }
        if out
            .iter()
            .any(|fk| fk.columns.iter().any(|(_, r)| r.is_none()))
        {
            let primary = self.primary_key(table).await?;
            for fk in &mut out {
                for (i, (_, r)) in fk.columns.iter_mut().enumerate() {
                    if r.is_none() {
                        *r = primary.get(i).cloned();
                    }
                }
            }
        }
        out.into_iter()
            .map(|fk| {
                let columns = fk
                    .columns
                    .into_iter()
                    .map(|(c, r)| {
                        r.map(|r| (c, r))
                            .ok_or_else(|| unreadable(fk.child.as_str()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ForeignKey {
                    child: fk.child,
                    columns,
                    on_delete: fk.on_delete,
                })
            })
            .collect()
    }

    /// The primary key columns of a SQLite table, in key order.
    pub(super) async fn primary_key(&self, table: &Ident) -> Result<Vec<Ident>, StoreError> {
        let mut q = Query::new(self.dialect);
        q.push("SELECT name FROM pragma_table_info(")
            .bind(super::Param::Text(table.name().to_string()))
            .push(") WHERE pk > 0 ORDER BY pk");
        Ok(self
            .fetch_texts(&q)
            .await?
            .into_iter()
            .filter_map(|row| row.first().cloned().flatten())
            .filter_map(|name| Ident::parse(&name).ok())
            .collect())
    }

    /// Tables whose rows a delete from `parent` changes through foreign keys (`ON DELETE
    /// CASCADE`, `SET NULL`, `SET DEFAULT`), following cascades down to five levels, each with
    /// its rule.
    pub async fn cascading_children(
        &self,
        parent: &Ident,
    ) -> Result<Vec<(Ident, OnDelete)>, StoreError> {
        let mut out: Vec<(Ident, OnDelete)> = Vec::new();
        let mut frontier = vec![parent.clone()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for table in &frontier {
                for fk in self.references(table).await? {
                    if !fk.on_delete.changes_children()
                        || out.iter().any(|(c, _)| c == &fk.child)
                        || &fk.child == parent
                    {
                        continue;
                    }
                    if fk.on_delete == OnDelete::Cascade {
                        next.push(fk.child.clone());
                    }
                    out.push((fk.child, fk.on_delete));
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        Ok(out)
    }

    /// Checks that a hold's table, selector and clock exist with fitting types. A hold that
    /// does not fit its table cannot be evaluated, and lethe refuses to act on that table.
    pub async fn check_hold(&self, hold: &Hold) -> Vec<String> {
        // A hold being added has no id yet (0).
        let who = if hold.source == (HoldSource::Runtime { id: 0 }) {
            "the new hold".to_string()
        } else {
            format!("hold `{}`", hold.name)
        };
        let crate::model::Scope::Table(table) = &hold.scope else {
            return vec![format!(
                "{who} holds objects under a prefix, but store `{}` is a SQL store; hold a table there",
                self.name
            )];
        };
        let cols = match self.existing_columns(&who, table).await {
            Ok(cols) => cols,
            Err(e) => return vec![e],
        };
        let clock = match &hold.window {
            Window::Clock { clock, .. } => Some(clock),
            _ => None,
        };
        let mut errs = Vec::new();
        if let Err(e) = self
            .check_rows(&who, table, &cols, clock, &hold.selector, &mut errs)
            .await
        {
            errs.push(format!("{who}: {e}"));
        }
        errs
    }

    /// The columns of a table that must exist, or what `who` is told when it does not.
    async fn existing_columns(
        &self,
        who: &str,
        table: &Ident,
    ) -> Result<BTreeMap<String, Column>, String> {
        match self.columns(table).await {
            Ok(Some(cols)) => Ok(cols),
            Ok(None) => Err(format!(
                "{who}: table `{}` not found in store `{}`",
                table, self.name
            )),
            Err(e) => Err(format!("{who}: {e}")),
        }
    }

    /// Checks that an exemption's table and columns exist (regardless of case, as coverage
    /// matches them): an exemption that names nothing hides a typo and exempts nothing.
    pub async fn check_exemption(&self, exemption: &Exemption) -> Vec<String> {
        let who = format!("exemption `{}`", exemption.name);
        let ExemptScope::Table { table, columns } = &exemption.scope else {
            return vec![format!(
                "{who} names a prefix, but store `{}` is a SQL store; name a table there",
                self.name
            )];
        };
        let cols = match self.existing_columns(&who, table).await {
            Ok(cols) => cols,
            Err(e) => return vec![e],
        };
        columns
            .iter()
            .filter(|c| !cols.keys().any(|k| k.eq_ignore_ascii_case(c.as_str())))
            .map(|c| format!("{who}: column `{c}` not found in table `{table}`"))
            .collect()
    }
}

fn family(dialect: Dialect, sql_type: &str) -> Family {
    let t = sql_type.to_ascii_lowercase();
    match dialect {
        Dialect::Sqlite => {
            // SQLite's type affinity rules, plus date/time names.
            if t.is_empty() {
                Family::Untyped
            } else if t.contains("int") {
                Family::Integer
            } else if t.contains("date") || t.contains("time") {
                Family::Timestamp
            } else if t.contains("char") || t.contains("clob") || t.contains("text") {
                Family::Text
            } else if t.contains("bool") {
                Family::Bool
            } else {
                Family::Other
            }
        }
        Dialect::Postgres => match t.as_str() {
            "text" | "character varying" | "character" | "citext" => Family::Text,
            "integer" | "bigint" | "smallint" => Family::Integer,
            "timestamp with time zone" | "timestamp without time zone" => Family::Timestamp,
            "date" => Family::Date,
            "inet" => Family::Inet,
            "uuid" => Family::Uuid,
            "boolean" => Family::Bool,
            _ => Family::Other,
        },
        Dialect::MySql => match t.as_str() {
            "varchar" | "char" | "text" | "tinytext" | "mediumtext" | "longtext" | "enum" => {
                Family::Text
            }
            "int" | "bigint" | "smallint" | "mediumint" | "tinyint" => Family::Integer,
            "datetime" | "timestamp" => Family::Timestamp,
            "date" => Family::Date,
            _ => Family::Other,
        },
    }
}
