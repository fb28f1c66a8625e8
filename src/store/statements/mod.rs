//! The SQL each policy runs, built from its checked `Target`. Every identifier is quoted per
//! dialect and every value is a bound parameter. Each statement that changes data repeats the
//! full eligibility condition, so a row changed after planning is not touched.

use super::schema::Target;
use super::sql::{Param, Query, RowKey};
use crate::model::Dialect;
use crate::model::{Action, Clock, Condition, Hold, Ident, Strategy, Test, Value, Window};
use chrono::{DateTime, Utc};

/// The counts of one policy at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows in the table.
    pub total: u64,
    /// Rows the selector matches.
    pub selected: u64,
    /// Rows due for the action now (for anonymize: not yet anonymized).
    pub eligible: u64,
    /// Rows kept because their clock is NULL, unreadable or unknown.
    pub undated: u64,
}

impl Target {
    fn q(&self) -> Query {
        Query::new(self.dialect)
    }

    fn table(&self) -> String {
        self.dialect.quote(&self.policy.table)
    }

    fn col(&self, c: &Ident) -> String {
        self.dialect.col(&self.policy.table, c)
    }

    /// SQL for "this time value is missing or unreadable".
    fn unknown_time(&self, col: &str) -> String {
        self.dialect.unknown_time(col)
    }

    /// The policy's selector: every condition, values bound, and this shard's key class.
    pub fn selector(&self) -> Query {
        let mut q = self.selector_of(&self.policy.selector);
        if let Some(s) = self.shard_clause() {
            q.push(" AND ").push(&s);
        }
        q
    }

    /// With `--shard I/N` on an integer key (the first column of a composite one):
    /// `ABS(key % N) = I`. Every key lies in exactly one class, negative keys included.
    fn shard_clause(&self) -> Option<String> {
        let s = self.shard?;
        let c = self.col(self.shard_column()?);
        Some(format!("ABS({c} % {}) = {}", s.count, s.index))
    }

    /// A selector: every condition, values bound.
    fn selector_of(&self, conditions: &[Condition]) -> Query {
        self.conditions(conditions, false)
    }

    /// The conditions of a hold's selector. On SQLite a column without a declared type keeps
    /// `42` and `'42'` apart, so a hold there accepts both spellings of a number: a hold may
    /// hold more, never less.
    fn hold_selector(&self, conditions: &[Condition]) -> Query {
        self.conditions(conditions, self.dialect == Dialect::Sqlite)
    }

    fn conditions(&self, conditions: &[Condition], loose: bool) -> Query {
        let mut q = self.q();
        q.push("1=1");
        for cond in conditions {
            let c = self.col(&cond.column);
            match &cond.test {
                Test::Eq(v) => {
                    q.push(&format!(" AND {c} IN ("));
                    self.bind_values(&mut q, std::slice::from_ref(v), loose);
                    q.push(")");
                }
                Test::In(vs) => {
                    q.push(&format!(" AND {c} IN ("));
                    self.bind_values(&mut q, vs, loose);
                    q.push(")");
                }
                Test::IsNull(true) => {
                    q.push(&format!(" AND {c} IS NULL"));
                }
                Test::IsNull(false) => {
                    q.push(&format!(" AND {c} IS NOT NULL"));
                }
            }
        }
        q
    }

    /// Binds values separated by commas; `loose` adds the other spelling of every number.
    fn bind_values(&self, q: &mut Query, values: &[Value], loose: bool) {
        let mut params = Vec::new();
        for v in values {
            params.push(value(v));
            if loose {
                match v {
                    Value::Int(i) => params.push(Param::Text(i.to_string())),
                    Value::Text(t) => {
                        if let Ok(i) = t.trim().parse::<i64>() {
                            params.push(Param::Int(i));
                        }
                    }
                    Value::Bool(_) => {}
                }
            }
        }
        for (i, p) in params.into_iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(p);
        }
    }

    /// The join condition between the row and the related table of a join clock.
    fn join_match(&self, table: &Ident, on: &[(Ident, Ident)]) -> String {
        on.iter()
            .map(|(l, r)| format!("{} = {}", self.dialect.col(table, r), self.col(l)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The policy's cutoff at `as_of` (see [`crate::model::Keep::cutoff`]).
    pub fn cutoff(&self, as_of: DateTime<Utc>) -> DateTime<Utc> {
        self.policy.keep.cutoff(as_of)
    }

    /// Rows whose policy clock is known and lies before the policy's cutoff at `as_of`.
    pub fn clock_due(&self, as_of: DateTime<Utc>) -> Query {
        self.clock_due_of(&self.policy.clock, self.cutoff(as_of))
    }

    /// Rows whose `clock` is known and lies before `cutoff`.
    fn clock_due_of(&self, clock: &Clock, cutoff: DateTime<Utc>) -> Query {
        let mut q = self.q();
        match clock {
            Clock::Column(c) => {
                let c = self.col(c);
                q.push(&format!(
                    "NOT {} AND {} < ",
                    self.unknown_time(&c),
                    self.dialect.time_expr(&c)
                ));
                q.bind(self.dialect.time_param(cutoff));
            }
            Clock::Join { table, on, column } => {
                let jt = self.dialect.quote(table);
                let m = self.join_match(table, on);
                let jc = self.dialect.col(table, column);
                q.push(&format!(
                    "EXISTS (SELECT 1 FROM {jt} WHERE {m}) AND NOT EXISTS (SELECT 1 FROM {jt} WHERE {m} AND ({} OR {} >= ",
                    self.unknown_time(&jc),
                    self.dialect.time_expr(&jc)
                ));
                q.bind(self.dialect.time_param(cutoff));
                q.push("))");
            }
        }
        q
    }

    /// Rows whose clock cannot be read: kept and counted as undated.
    pub fn clock_undated(&self) -> Query {
        let mut q = self.q();
        match &self.policy.clock {
            Clock::Column(c) => {
                q.push(&self.unknown_time(&self.col(c)));
            }
            Clock::Join { table, on, .. } => {
                q.push(&format!(
                    "NOT EXISTS (SELECT 1 FROM {} WHERE {})",
                    self.dialect.quote(table),
                    self.join_match(table, on)
                ));
            }
        }
        q
    }

    /// The holds that hold anything at `as_of`, in a fixed order.
    pub fn active_holds(&self, as_of: DateTime<Utc>) -> Vec<&Hold> {
        self.holds.iter().filter(|h| h.active_at(as_of)).collect()
    }

    /// The records `hold` covers at `as_of`: its selector, and its window. A record whose hold
    /// clock is unknown is covered (an error while evaluating a hold means keep).
    fn hold_cover(&self, hold: &Hold, as_of: DateTime<Utc>) -> Query {
        let mut q = self.q();
        // A NULL in a selector column does not match (`NULL = 42` is unknown, not true): make
        // the cover plain true or false so that `NOT cover` never turns unknown.
        q.push("COALESCE((")
            .append(&self.hold_selector(&hold.selector));
        if let Window::Clock { clock, keep } = &hold.window {
            // Fail closed: a window out of range holds everything it selects.
            let cutoff = keep.cutoff(as_of);
            q.push(" AND NOT (")
                .append(&self.clock_due_of(clock, cutoff))
                .push(")");
        }
        q.push("), 1 = 0)");
        q
    }

    /// Records covered by at least one active hold, or `None` when no hold is active.
    fn any_hold(&self, as_of: DateTime<Utc>) -> Option<Query> {
        let holds = self.active_holds(as_of);
        if holds.is_empty() {
            return None;
        }
        let mut q = self.q();
        q.push("(");
        for (i, h) in holds.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.append(&self.hold_cover(h, as_of));
        }
        q.push(")");
        Some(q)
    }

    /// Selector, clock, pending (anonymize) and not superseded by a delete: due if nothing held it.
    fn due_unheld(&self, as_of: DateTime<Utc>) -> Query {
        let mut q = self.q();
        if !self.policy.selector.is_empty() || self.shard.is_some() {
            q.push("(").append(&self.selector()).push(") AND ");
        }
        q.push("(").append(&self.clock_due(as_of)).push(")");
        if let Some(p) = self.pending() {
            q.push(" AND ").append(&p);
        }
        // A delete supersedes only what it deletes: a row it keeps because the row is still
        // referenced is anonymized meanwhile.
        let kept = if self.superseded_by.is_empty() {
            None
        } else {
            self.referenced(&self.referenced_by.iter().collect::<Vec<_>>(), as_of, false)
        };
        for d in &self.superseded_by {
            let cutoff = d.keep.cutoff(as_of);
            q.push(" AND NOT COALESCE((")
                .append(&self.selector_of(&d.selector))
                .push(") AND (")
                .append(&self.clock_due_of(&d.clock, cutoff))
                .push(")");
            if let Some(k) = &kept {
                q.push(" AND NOT ").append(k);
            }
            q.push(", 1 = 0)");
        }
        q
    }

    /// Due, and held by no hold; whether some row still references it is not yet asked.
    fn due_unkept(&self, as_of: DateTime<Utc>) -> Query {
        let mut q = self.due_unheld(as_of);
        if let Some(h) = self.any_hold(as_of) {
            q.push(" AND NOT ").append(&h);
        }
        q
    }

    /// The complete "act on this row now" condition: due, held by no hold and, for a delete,
    /// referenced by no row. Every statement that changes data carries it, so a hold added
    /// after planning is honoured and a row referenced meanwhile is kept, never a failed batch.
    pub fn due(&self, as_of: DateTime<Utc>) -> Query {
        self.due_seen(as_of, false)
    }

    /// [`Target::due`]; with `foreseen`, rows that the deletes going first will have removed
    /// no longer keep a row (see [`Target::going_first`]).
    fn due_seen(&self, as_of: DateTime<Utc>, foreseen: bool) -> Query {
        let mut q = self.due_unkept(as_of);
        if let Some(r) = self.referenced(&self.blocking(), as_of, foreseen) {
            q.push(" AND NOT ").append(&r);
        }
        q
    }

    /// One query counting, in a single scan: total, selected, due, undated, held by any hold,
    /// then held by each of `active_holds(as_of)` in order, then kept because referenced, then
    /// referenced by each of `referencing_tables()` in order, then for each of those tables in
    /// order, referenced by its rows that each of `child_holds_on(table)` holds. The due and
    /// referenced counts foresee the deletes going first.
    pub fn count(&self, as_of: DateTime<Utc>) -> Query {
        let mut q = self.q();
        q.push("SELECT COUNT(*), COUNT(CASE WHEN ")
            .append(&self.selector())
            .push(" THEN 1 END), COUNT(CASE WHEN ")
            .append(&self.due_seen(as_of, true))
            .push(" THEN 1 END), COUNT(CASE WHEN (")
            .append(&self.selector())
            .push(") AND (")
            .append(&self.clock_undated())
            .push(") THEN 1 END)");
        let count_when = |q: &mut Query, due: &Query, then: &Query| {
            q.push(", COUNT(CASE WHEN ")
                .append(due)
                .push(" AND ")
                .append(then)
                .push(" THEN 1 END)");
        };
        // Zero, typed like the other counts on every dialect.
        let zero = ", COUNT(CASE WHEN 1 = 0 THEN 1 END)";
        let due_unheld = self.due_unheld(as_of);
        match self.any_hold(as_of) {
            Some(any) => {
                count_when(&mut q, &due_unheld, &any);
                for h in self.active_holds(as_of) {
                    count_when(&mut q, &due_unheld, &self.hold_cover(h, as_of));
                }
            }
            None => {
                q.push(zero);
            }
        }
        let unkept = self.due_unkept(as_of);
        match self.referenced(&self.blocking(), as_of, true) {
            Some(any) => {
                count_when(&mut q, &unkept, &any);
                let tables = self.referencing_tables();
                for (_, keys) in &tables {
                    if let Some(r) = self.referenced(keys, as_of, true) {
                        count_when(&mut q, &unkept, &r);
                    }
                }
                for (table, keys) in &tables {
                    for h in self.child_holds_on(table, as_of) {
                        let held = self.referenced_by_held(table, keys, h, as_of);
                        count_when(&mut q, &unkept, &held);
                    }
                }
            }
            None => {
                q.push(zero);
            }
        }
        q.push(&format!(" FROM {}", self.table()));
        // A shard's guards measure against its own share of the table.
        if let Some(s) = self.shard_clause() {
            q.push(" WHERE ").push(&s);
        }
        q
    }

    /// Wraps a `SET ...` or nothing into a batch statement over the due rows whose keys lie in
    /// `(after, last]`: one keyset page, found by `fetch_batch`. The full due condition is
    /// repeated, so a row in the page that changed since it was read is not touched, and no batch
    /// scans the rows earlier batches already handled.
    fn ranged(
        &self,
        head: &str,
        set: Option<&Query>,
        as_of: DateTime<Utc>,
        after: Option<&RowKey>,
        last: &RowKey,
    ) -> Query {
        let mut q = self.q();
        q.push(head);
        if let Some(s) = set {
            q.append(s);
        }
        q.push(" WHERE ");
        if let Some(a) = after {
            self.push_bound(&mut q, Bound::After, a);
            q.push(" AND ");
        }
        self.push_bound(&mut q, Bound::UpTo, last);
        q.push(" AND ").append(&self.due(as_of));
        q
    }

    /// Deletes the due rows of one keyset page.
    pub fn delete_batch(
        &self,
        as_of: DateTime<Utc>,
        after: Option<&RowKey>,
        last: &RowKey,
    ) -> Query {
        self.ranged(
            &format!("DELETE FROM {}", self.table()),
            None,
            as_of,
            after,
            last,
        )
    }

    /// True when some strategy is computed in lethe (row by row) rather than in SQL.
    pub fn computes_in_process(&self) -> bool {
        matches!(&self.policy.action, Action::Anonymize(s) if s.values().any(Strategy::computed_in_process))
    }

    /// The columns computed in process, in a fixed order.
    pub fn computed_columns(&self) -> Vec<(Ident, Strategy)> {
        match &self.policy.action {
            Action::Anonymize(s) => s
                .iter()
                .filter(|(_, st)| st.computed_in_process())
                .map(|(c, st)| (c.clone(), st.clone()))
                .collect(),
            Action::Delete => Vec::new(),
        }
    }

    /// `SET` assignments. The `i`-th column computed in process takes the expression
    /// `computed(i)`; the others take their SQL expression. A column already in its masked form
    /// keeps its value (`CASE WHEN <not yet masked> THEN <masked> ELSE <as is> END`): the row is
    /// due because some other column still needs masking, and a pseudonym is never
    /// pseudonymized again.
    fn assignments(&self, computed: &dyn Fn(usize) -> Query) -> Query {
        let mut q = self.q();
        q.push(" SET ");
        let Action::Anonymize(strategies) = &self.policy.action else {
            return q;
        };
        let mut next = 0;
        for (i, (name, strategy)) in strategies.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            let c = self.dialect.quote(name);
            let mut masked = self.q();
            match strategy {
                Strategy::Null => {
                    // NULL is its own masked form: setting it again changes nothing.
                    q.push(&format!("{c} = NULL"));
                    continue;
                }
                Strategy::Redact(text) => {
                    masked.bind(Param::Text(text.clone()));
                }
                Strategy::Year | Strategy::Month => {
                    let tr = self.truncate_date(&self.col(name), strategy == &Strategy::Year);
                    masked.push(&tr);
                }
                Strategy::Hmac | Strategy::TruncateIp => {
                    let v = computed(next);
                    next += 1;
                    if self.inet_columns.contains(name) {
                        masked.push("CAST(").append(&v).push(" AS inet)");
                    } else {
                        masked.append(&v);
                    }
                }
            }
            q.push(&format!("{c} = CASE WHEN "))
                .append(&self.column_pending(name, strategy))
                .push(" THEN ")
                .append(&masked)
                .push(&format!(" ELSE {} END", self.col(name)));
        }
        q
    }

    /// Anonymizes the due rows of one keyset page entirely in SQL (no in-process strategy).
    pub fn update_batch(
        &self,
        as_of: DateTime<Utc>,
        after: Option<&RowKey>,
        last: &RowKey,
    ) -> Query {
        self.ranged(
            &format!("UPDATE {}", self.table()),
            Some(&self.assignments(&|_| self.q())),
            as_of,
            after,
            last,
        )
    }

    /// Reads the next `limit` due rows after `after` (keyset order): the key, and the columns
    /// computed in process (none for set-based batches, which only need the page's last key).
    pub fn fetch_batch(&self, as_of: DateTime<Utc>, limit: u32, after: Option<&RowKey>) -> Query {
        let cols: Vec<String> = self
            .computed_columns()
            .iter()
            .map(|(c, _)| {
                if self.inet_columns.contains(c) {
                    self.ip_text(c)
                } else {
                    self.dialect.as_text(&self.col(c))
                }
            })
            .collect();
        let mut q = self.q();
        let selected = (self.key_select().into_iter())
            .chain(cols)
            .collect::<Vec<_>>()
            .join(", ");
        q.push(&format!("SELECT {selected} FROM {} WHERE ", self.table()))
            .append(&self.due(as_of));
        if let Some(k) = after {
            q.push(" AND ");
            self.push_bound(&mut q, Bound::After, k);
        }
        q.push(&format!(" ORDER BY {} LIMIT {limit}", self.key_order()));
        q
    }

    /// Anonymizes a page of rows whose new values were computed in process, in one statement:
    /// the rows and their values form a derived table joined on the key, and the full due
    /// condition is repeated, so a row that changed since it was read is not touched.
    pub fn update_rows(
        &self,
        as_of: DateTime<Utc>,
        rows: &[(RowKey, Vec<Option<String>>)],
    ) -> Query {
        let width = self.computed_columns().len();
        let names: Vec<String> = (self.key_names().into_iter())
            .chain((0..width).map(|i| format!("lethe_c{i}")))
            .collect();
        let mut v = self.q();
        v.push("(");
        for (r, (key, values)) in rows.iter().enumerate() {
            let cells =
                (key.values().iter().cloned().map(Param::from)).chain((0..width).map(|i| {
                    values
                        .get(i)
                        .cloned()
                        .flatten()
                        .map_or(Param::Null, Param::Text)
                }));
            match self.dialect {
                Dialect::MySql => {
                    v.push(if r == 0 {
                        "SELECT "
                    } else {
                        " UNION ALL SELECT "
                    });
                    for (i, cell) in cells.enumerate() {
                        if i > 0 {
                            v.push(", ");
                        }
                        v.bind(cell);
                        if r == 0 {
                            v.push(&format!(" AS {}", names[i]));
                        }
                    }
                }
                _ => {
                    v.push(if r == 0 { "VALUES (" } else { ", (" });
                    for (i, cell) in cells.enumerate() {
                        if i > 0 {
                            v.push(", ");
                        }
                        v.bind(cell);
                    }
                    v.push(")");
                }
            }
        }
        v.push(")");
        let set = self.assignments(&|i| {
            let mut e = self.q();
            e.push(&format!("lethe_v.lethe_c{i}"));
            e
        });
        let key_match = self.key_match();
        let mut q = self.q();
        match self.dialect {
            Dialect::MySql => {
                q.push(&format!("UPDATE {} JOIN ", self.table()))
                    .append(&v)
                    .push(&format!(" AS lethe_v ON {key_match}"))
                    .append(&set);
            }
            Dialect::Postgres => {
                q.push(&format!("UPDATE {}", self.table()))
                    .append(&set)
                    .push(" FROM ")
                    .append(&v)
                    .push(&format!(
                        " AS lethe_v({}) WHERE {key_match}",
                        names.join(", ")
                    ));
            }
            Dialect::Sqlite => {
                // SQLite names VALUES columns column1, column2, ...: rename them.
                let renamed: Vec<String> = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("column{} AS {n}", i + 1))
                    .collect();
                q.push(&format!("UPDATE {}", self.table()))
                    .append(&set)
                    .push(&format!(" FROM (SELECT {} FROM ", renamed.join(", ")))
                    .append(&v)
                    .push(&format!(") AS lethe_v WHERE {key_match}"));
            }
        }
        match self.dialect {
            Dialect::MySql => q.push(" WHERE ").append(&self.due(as_of)),
            _ => q.push(" AND ").append(&self.due(as_of)),
        };
        q
    }

    /// The statement a plan shows for this policy: the batch that `apply` repeats.
    pub fn shown_statement(&self, as_of: DateTime<Utc>) -> String {
        let limit = self.policy.batch_size;
        // The placeholder key only shapes the text; the SQL shows parameters, never values.
        let k = self.placeholder_key();
        let page = self.fetch_batch(as_of, limit, Some(&k)).sql;
        match &self.policy.action {
            Action::Delete => format!(
                "{page}; then: {}",
                self.delete_batch(as_of, Some(&k), &k).sql
            ),
            Action::Anonymize(_) if self.computes_in_process() => {
                let computed: Vec<Option<String>> = self
                    .computed_columns()
                    .iter()
                    .map(|_| Some(String::new()))
                    .collect();
                format!(
                    "{page}; then: {}",
                    self.update_rows(as_of, &[(k.clone(), computed)]).sql
                )
            }
            Action::Anonymize(_) => format!(
                "{page}; then: {}",
                self.update_batch(as_of, Some(&k), &k).sql
            ),
        }
    }
}

fn value(v: &Value) -> Param {
    match v {
        Value::Bool(b) => Param::Bool(*b),
        Value::Int(i) => Param::Int(*i),
        Value::Text(s) => Param::Text(s.clone()),
    }
}

mod keys;
mod masks;
mod references;

use keys::Bound;
#[cfg(test)]
mod tests;
