//! Foreign keys in the statements: the rows that other rows still reference, kept by the
//! `DELETE` itself (`NOT EXISTS` a referencing row) and counted per referencing table.

use super::super::schema::{ForeignKey, Target};
use super::super::sql::Query;
use crate::model::{Action, Hold, Ident};
use chrono::{DateTime, Utc};

impl Target {
    /// The foreign keys that keep a due row: every one into the table of a delete, whatever
    /// its `ON DELETE` rule. An anonymization changes no key and is kept by none.
    pub(super) fn blocking(&self) -> Vec<&ForeignKey> {
        match self.policy.action {
            Action::Delete => self.referenced_by.iter().collect(),
            Action::Anonymize(_) => Vec::new(),
        }
    }

    /// The tables whose rows keep due rows of this one, in a fixed order, each with its keys.
    pub fn referencing_tables(&self) -> Vec<(Ident, Vec<&ForeignKey>)> {
        let mut out: Vec<(Ident, Vec<&ForeignKey>)> = Vec::new();
        for fk in self.blocking() {
            match out.iter_mut().find(|(t, _)| t.same_table(&fk.child)) {
                Some((_, keys)) => keys.push(fk),
                None => out.push((fk.child.clone(), vec![fk])),
            }
        }
        out
    }

    /// The holds in force at `as_of` on `child`, a table that references this one (never this
    /// table itself: its own holds keep its rows directly).
    pub fn child_holds_on(&self, child: &Ident, as_of: DateTime<Utc>) -> Vec<&Hold> {
        if child.same_table(&self.policy.table) {
            return Vec::new();
        }
        (self.child_holds.iter())
            .filter(|(table, h)| table == child && h.active_at(as_of))
            .map(|(_, h)| h)
            .collect()
    }

    /// Rows referenced through at least one of `keys` (all into `child`) by a row of `child`
    /// that `hold` covers at `as_of`.
    pub(super) fn referenced_by_held(
        &self,
        child: &Ident,
        keys: &[&ForeignKey],
        hold: &Hold,
        as_of: DateTime<Utc>,
    ) -> Query {
        // The hold's cover is built as for the child's own rows: the same statements, read
        // over the child table.
        let mut over_child = self.clone();
        over_child.policy.table = child.clone();
        over_child.going_first = Vec::new();
        let cover = over_child.hold_cover(hold, as_of);
        let mut q = self.q();
        q.push("(");
        for (i, fk) in keys.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            let m: Vec<String> = (fk.columns.iter())
                .map(|(c, p)| format!("{} = {}", self.dialect.col(child, c), self.col(p)))
                .collect();
            q.push(&format!(
                "EXISTS (SELECT 1 FROM {} WHERE {} AND ",
                self.dialect.quote(child),
                m.join(" AND ")
            ))
            .append(&cover)
            .push(")");
        }
        q.push(")");
        q
    }

    /// Rows referenced through at least one of `keys`, or `None` for no key.
    pub(super) fn referenced(
        &self,
        keys: &[&ForeignKey],
        as_of: DateTime<Utc>,
        foreseen: bool,
    ) -> Option<Query> {
        let (first, rest) = keys.split_first()?;
        if rest.is_empty() {
            return Some(self.referenced_through(first, as_of, foreseen));
        }
        let mut q = self.q();
        q.push("(");
        for (i, fk) in keys.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.append(&self.referenced_through(fk, as_of, foreseen));
        }
        q.push(")");
        Some(q)
    }

    /// `EXISTS` a row of the key's table that references this row through all the key's
    /// columns. The policy's own table is read again under an alias (a row that references
    /// itself keeps itself: InnoDB refuses to delete it); with `foreseen`, a row that a delete
    /// going first removes does not count.
    pub(super) fn referenced_through(
        &self,
        fk: &ForeignKey,
        as_of: DateTime<Utc>,
        foreseen: bool,
    ) -> Query {
        let own = fk.child.same_table(&self.policy.table);
        let (from, child) = if own {
            let alias = Ident::alias();
            (
                format!("{} AS {}", self.table(), self.dialect.quote(&alias)),
                alias,
            )
        } else {
            (self.dialect.quote(&fk.child), fk.child.clone())
        };
        let m: Vec<String> = (fk.columns.iter())
            .map(|(c, p)| format!("{} = {}", self.dialect.col(&child, c), self.col(p)))
            .collect();
        let mut q = self.q();
        q.push(&format!(
            "EXISTS (SELECT 1 FROM {from} WHERE {}",
            m.join(" AND ")
        ));
        let going: Vec<&Target> = (self.going_first.iter())
            .filter(|g| foreseen && !own && g.policy.table.same_table(&fk.child))
            .collect();
        if !going.is_empty() {
            q.push(" AND NOT (");
            for (i, g) in going.iter().enumerate() {
                if i > 0 {
                    q.push(" OR ");
                }
                q.push("COALESCE((")
                    .append(&g.due_seen(as_of, true))
                    .push("), 1 = 0)");
            }
            q.push(")");
        }
        q.push(")");
        q
    }
}
