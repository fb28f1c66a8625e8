//! Golden tests of the SQL each dialect gets: the exact text and parameter order of every kind
//! of statement a policy runs (counts, keyset pages, DELETE and UPDATE batches, in-process
//! updates), so that any change of the generated SQL shows up here first.
//!
//! An expected statement is written over several lines, joined with single spaces; its
//! parameters are written as their `Debug` list, in placeholder order. At `as_of()`
//! (2026-03-31T12:00:00Z) the cutoffs are: `leads-delete` 2025-12-31T12:00:00Z (SQLite binds
//! epoch seconds, 1767182400.0), `leads-anonymize` 2026-03-01T12:00:00Z (1772366400.0),
//! `visits-anonymize` 2026-03-31T00:00:00Z (1774915200.0), `customers-delete`
//! 2019-03-31T12:00:00Z (1554033600.0), the `tax` hold's window 2016-03-31T12:00:00Z
//! (1459425600.0), and `accounts-delete` and `invoices-delete` 2025-03-31T12:00:00Z.

use super::*;
use crate::model::Dialect::{MySql, Postgres, Sqlite};
use crate::model::{Guard, HoldSource, Keep, Key, Mode, RetentionPolicy, Scope, Shard};
use crate::store::schema::ForeignKey;
use crate::store::schema::KeyColumn;
use crate::store::sql::KeyValue;
use chrono::TimeZone;
use std::collections::{BTreeMap, BTreeSet};

mod keys;
mod references;

/// Joins the lines of an expected text with single spaces.
fn joined(lines: &str) -> String {
    lines
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The statement's exact text, and its parameters in placeholder order.
#[track_caller]
fn golden(q: Query, sql: &str, params: &str) {
    assert_eq!(q.sql, joined(sql));
    assert_eq!(
        format!("{:?}", q.params),
        joined(params),
        "parameters of {}",
        q.sql
    );
}

const DIALECTS: [Dialect; 3] = [Sqlite, Postgres, MySql];

fn as_of() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap()
}

fn id(s: &str) -> Ident {
    Ident::parse_table(s).unwrap()
}

fn policy(name: &str, table: &str, clock: Clock, keep: &str, action: Action) -> RetentionPolicy {
    RetentionPolicy {
        hash: String::new(),
        name: name.into(),
        purpose: None,
        clause: None,
        store: "crm".into(),
        table: id(table),
        key: Some(Key::single(id("id"))),
        clock,
        keep: Keep::parse(keep).unwrap(),
        selector: Vec::new(),
        action,
        schedule: None,
        mode: Mode::Enforce,
        guard: Guard {
            max_rows: None,
            max_fraction: None,
            set_in: Default::default(),
        },
        batch_size: 500,
        batch_target_ms: None,
        throttle: Default::default(),
        file: "policies/p.yaml".into(),
    }
}

fn target(dialect: Dialect, policy: RetentionPolicy) -> Target {
    Target {
        policy,
        dialect,
        key: vec![KeyColumn {
            name: id("id"),
            int: true,
            cast: None,
        }],
        inet_columns: BTreeSet::new(),
        nullable: BTreeSet::new(),
        holds: Vec::new(),
        superseded_by: Vec::new(),
        shard: None,
        referenced_by: Vec::new(),
        going_first: Vec::new(),
        child_holds: Vec::new(),
    }
}

fn hold(name: &str, table: &str, selector: Vec<Condition>, window: Window) -> Hold {
    Hold {
        name: name.into(),
        basis: "case 2026-17".into(),
        source: HoldSource::Declared,
        store: "crm".into(),
        scope: Scope::Table(id(table)),
        selector,
        window,
    }
}

/// Leads delivered or rejected more than 90 days ago are deleted, unless customer 7 is in a
/// dispute. A second hold ended yesterday and holds nothing.
fn delete_policy() -> RetentionPolicy {
    let mut p = policy(
        "leads-delete",
        "leads",
        Clock::Column(id("created_at")),
        "90d",
        Action::Delete,
    );
    p.selector = vec![Condition {
        column: id("status"),
        test: Test::In(vec![
            Value::Text("delivered".into()),
            Value::Text("rejected".into()),
        ]),
    }];
    p
}

fn delete_target(dialect: Dialect) -> Target {
    let mut t = target(dialect, delete_policy());
    t.holds = vec![
        hold(
            "dispute",
            "leads",
            vec![Condition {
                column: id("customer_id"),
                test: Test::Eq(Value::Int(7)),
            }],
            Window::Always,
        ),
        hold(
            "ended",
            "leads",
            Vec::new(),
            Window::Until(as_of() - chrono::Duration::days(1)),
        ),
    ];
    t
}

/// Contact details anonymized in SQL after 30 days; a lead the delete policy deletes at the
/// same instant is left to it.
fn anonymize_target(dialect: Dialect) -> Target {
    let strategies = BTreeMap::from([
        (id("birth_date"), Strategy::Year),
        (id("email"), Strategy::Redact("[redacted]".into())),
        (id("full_name"), Strategy::Null),
    ]);
    let mut t = target(
        dialect,
        policy(
            "leads-anonymize",
            "leads",
            Clock::Column(id("created_at")),
            "30d",
            Action::Anonymize(strategies),
        ),
    );
    t.superseded_by = vec![delete_policy()];
    t
}

/// Anonymized in process (hmac, truncate-ip) with one column in SQL. On PostgreSQL the key is
/// a uuid and `ip` an inet column.
fn in_process_target(dialect: Dialect) -> Target {
    let strategies = BTreeMap::from([
        (id("email"), Strategy::Hmac),
        (id("ip"), Strategy::TruncateIp),
        (id("phone"), Strategy::Null),
    ]);
    let mut t = target(
        dialect,
        policy(
            "visits-anonymize",
            "visits",
            Clock::Column(id("seen_at")),
            "12h",
            Action::Anonymize(strategies),
        ),
    );
    if dialect == Dialect::Postgres {
        t.key = vec![KeyColumn {
            name: id("id"),
            int: false,
            cast: Some("uuid".into()),
        }];
        t.inet_columns.insert(id("ip"));
    }
    t
}

/// The key of the `i`-th visit: a uuid on PostgreSQL, an integer elsewhere.
fn visit(dialect: Dialect, i: i64) -> RowKey {
    RowKey::single(match dialect {
        Postgres => KeyValue::Text(format!("00000000-0000-0000-0000-00000000000{i}")),
        _ => KeyValue::Int(i),
    })
}

/// Customers deleted 7 years after their last contract ended, unless invoiced in the last 10
/// years.
fn contract_target(dialect: Dialect) -> Target {
    let clock = Clock::Join {
        table: id("contracts"),
        on: vec![(id("id"), id("customer_id"))],
        column: id("ended_at"),
    };
    let mut t = target(
        dialect,
        policy("customers-delete", "customers", clock, "7y", Action::Delete),
    );
    t.holds = vec![hold(
        "tax",
        "customers",
        Vec::new(),
        Window::Clock {
            clock: Clock::Column(id("invoiced_at")),
            keep: Keep::parse("10y").unwrap(),
        },
    )];
    t
}

#[test]
fn the_cutoffs_are_the_policies_own_and_sqlite_binds_epoch_seconds() {
    let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
    assert_eq!(delete_target(Sqlite).cutoff(as_of()), at(2025, 12, 31, 12));
    assert_eq!(anonymize_target(Sqlite).cutoff(as_of()), at(2026, 3, 1, 12));
    assert_eq!(
        in_process_target(Sqlite).cutoff(as_of()),
        at(2026, 3, 31, 0)
    );
    assert_eq!(contract_target(Sqlite).cutoff(as_of()), at(2019, 3, 31, 12));
    let cutoff = at(2025, 12, 31, 12);
    assert_eq!(Sqlite.time_param(cutoff), Param::Float(1_767_182_400.0));
    assert_eq!(Postgres.time_param(cutoff), Param::Time(cutoff));
    assert_eq!(MySql.time_param(cutoff), Param::Time(cutoff));
}

#[test]
fn selectors_quote_per_dialect_and_bind_every_value() {
    let q = |d, table: &str| {
        let mut t = delete_target(d);
        t.policy.table = id(table);
        t.shard = Some(Shard { index: 1, count: 4 });
        t.selector()
    };
    let params = r#"[Text("delivered"), Text("rejected")]"#;
    golden(
        q(Sqlite, "leads"),
        r#"1=1 AND "leads"."status" IN (?, ?) AND ABS("leads"."id" % 4) = 1"#,
        params,
    );
    golden(
        q(Postgres, "crm.leads"),
        r#"1=1 AND "crm"."leads"."status" IN ($1, $2) AND ABS("crm"."leads"."id" % 4) = 1"#,
        params,
    );
    golden(
        q(MySql, "crm.leads"),
        "1=1 AND `crm`.`leads`.`status` IN (?, ?) AND ABS(`crm`.`leads`.`id` % 4) = 1",
        params,
    );
}

#[test]
fn only_active_holds_reach_the_due_condition() {
    for d in DIALECTS {
        let t = delete_target(d);
        let active: Vec<&str> = t
            .active_holds(as_of())
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(active, ["dispute"], "{d:?}");
        // With only the ended hold, the due condition is the unheld one: no `AND NOT`.
        let mut ended = delete_target(d);
        ended.holds.remove(0);
        let (due, unheld) = (ended.due(as_of()), t.due_unheld(as_of()));
        assert_eq!((due.sql, due.params), (unheld.sql, unheld.params), "{d:?}");
    }
}

#[test]
fn counts_per_dialect() {
    // Total, selected, due, undated, held by any hold, then held by each active hold (one),
    // then referenced (none: zero).
    let q = |d| delete_target(d).count(as_of());
    golden(
        q(Sqlite),
        r#"
            SELECT COUNT(*), COUNT(CASE WHEN 1=1 AND "leads"."status" IN (?, ?)
            THEN 1 END), COUNT(CASE WHEN (1=1 AND "leads"."status" IN (?, ?))
            AND (NOT (CASE WHEN typeof("leads"."created_at") = 'text'
            THEN unixepoch("leads"."created_at", 'subsec') END) IS NULL
            AND (CASE WHEN typeof("leads"."created_at") = 'text'
            THEN unixepoch("leads"."created_at", 'subsec') END) < ?) AND NOT (COALESCE((1=1
            AND "leads"."customer_id" IN (?, ?)), 1 = 0)) THEN 1 END), COUNT(CASE WHEN (1=1
            AND "leads"."status" IN (?, ?)) AND ((CASE WHEN typeof("leads"."created_at") = 'text'
            THEN unixepoch("leads"."created_at", 'subsec') END) IS NULL) THEN 1 END),
            COUNT(CASE WHEN (1=1 AND "leads"."status" IN (?, ?))
            AND (NOT (CASE WHEN typeof("leads"."created_at") = 'text'
            THEN unixepoch("leads"."created_at", 'subsec') END) IS NULL
            AND (CASE WHEN typeof("leads"."created_at") = 'text'
            THEN unixepoch("leads"."created_at", 'subsec') END) < ?) AND (COALESCE((1=1
            AND "leads"."customer_id" IN (?, ?)), 1 = 0)) THEN 1 END), COUNT(CASE WHEN (1=1
            AND "leads"."status" IN (?, ?)) AND (NOT (CASE WHEN typeof("leads"."created_at") =
            'text' THEN unixepoch("leads"."created_at", 'subsec') END) IS NULL
            AND (CASE WHEN typeof("leads"."created_at") = 'text'
            THEN unixepoch("leads"."created_at", 'subsec') END) < ?) AND COALESCE((1=1
            AND "leads"."customer_id" IN (?, ?)), 1 = 0) THEN 1 END),
            COUNT(CASE WHEN 1 = 0 THEN 1 END) FROM "leads"
        "#,
        r#"
            [Text("delivered"), Text("rejected"), Text("delivered"), Text("rejected"),
            Float(1767182400.0), Int(7), Text("7"), Text("delivered"), Text("rejected"),
            Text("delivered"), Text("rejected"), Float(1767182400.0), Int(7), Text("7"),
            Text("delivered"), Text("rejected"), Float(1767182400.0), Int(7), Text("7")]
        "#,
    );
    golden(
        q(Postgres),
        r#"
            SELECT COUNT(*), COUNT(CASE WHEN 1=1 AND "leads"."status" IN ($1, $2)
            THEN 1 END), COUNT(CASE WHEN (1=1 AND "leads"."status" IN ($3, $4))
            AND (NOT "leads"."created_at" IS NULL AND "leads"."created_at" < $5)
            AND NOT (COALESCE((1=1 AND "leads"."customer_id" IN ($6)), 1 = 0))
            THEN 1 END), COUNT(CASE WHEN (1=1 AND "leads"."status" IN ($7, $8))
            AND ("leads"."created_at" IS NULL) THEN 1 END), COUNT(CASE WHEN (1=1
            AND "leads"."status" IN ($9, $10)) AND (NOT "leads"."created_at" IS NULL
            AND "leads"."created_at" < $11) AND (COALESCE((1=1
            AND "leads"."customer_id" IN ($12)), 1 = 0)) THEN 1 END), COUNT(CASE WHEN (1=1
            AND "leads"."status" IN ($13, $14)) AND (NOT "leads"."created_at" IS NULL
            AND "leads"."created_at" < $15) AND COALESCE((1=1
            AND "leads"."customer_id" IN ($16)), 1 = 0) THEN 1 END),
            COUNT(CASE WHEN 1 = 0 THEN 1 END) FROM "leads"
        "#,
        r#"
            [Text("delivered"), Text("rejected"), Text("delivered"), Text("rejected"),
            Time(2025-12-31T12:00:00Z), Int(7), Text("delivered"), Text("rejected"),
            Text("delivered"), Text("rejected"), Time(2025-12-31T12:00:00Z), Int(7),
            Text("delivered"), Text("rejected"), Time(2025-12-31T12:00:00Z), Int(7)]
        "#,
    );
    golden(
        q(MySql),
        r#"
            SELECT COUNT(*), COUNT(CASE WHEN 1=1 AND `leads`.`status` IN (?, ?)
            THEN 1 END), COUNT(CASE WHEN (1=1 AND `leads`.`status` IN (?, ?))
            AND (NOT (`leads`.`created_at` IS NULL OR `leads`.`created_at` < '0001-01-01')
            AND `leads`.`created_at` < ?) AND NOT (COALESCE((1=1
            AND `leads`.`customer_id` IN (?)), 1 = 0)) THEN 1 END), COUNT(CASE WHEN (1=1
            AND `leads`.`status` IN (?, ?)) AND ((`leads`.`created_at` IS NULL
            OR `leads`.`created_at` < '0001-01-01')) THEN 1 END), COUNT(CASE WHEN (1=1
            AND `leads`.`status` IN (?, ?)) AND (NOT (`leads`.`created_at` IS NULL
            OR `leads`.`created_at` < '0001-01-01') AND `leads`.`created_at` < ?)
            AND (COALESCE((1=1 AND `leads`.`customer_id` IN (?)), 1 = 0)) THEN 1 END),
            COUNT(CASE WHEN (1=1 AND `leads`.`status` IN (?, ?))
            AND (NOT (`leads`.`created_at` IS NULL OR `leads`.`created_at` < '0001-01-01')
            AND `leads`.`created_at` < ?) AND COALESCE((1=1
            AND `leads`.`customer_id` IN (?)), 1 = 0) THEN 1 END),
            COUNT(CASE WHEN 1 = 0 THEN 1 END) FROM `leads`
        "#,
        r#"
            [Text("delivered"), Text("rejected"), Text("delivered"), Text("rejected"),
            Time(2025-12-31T12:00:00Z), Int(7), Text("delivered"), Text("rejected"),
            Text("delivered"), Text("rejected"), Time(2025-12-31T12:00:00Z), Int(7),
            Text("delivered"), Text("rejected"), Time(2025-12-31T12:00:00Z), Int(7)]
        "#,
    );
}

#[test]
fn keyset_pages_per_dialect() {
    let q =
        |d| delete_target(d).fetch_batch(as_of(), 500, Some(&RowKey::single(KeyValue::Int(100))));
    golden(
        q(Sqlite),
        r#"
            SELECT "leads"."id" FROM "leads" WHERE (1=1 AND "leads"."status" IN (?, ?))
            AND (NOT (CASE WHEN typeof("leads"."created_at") = 'text'
            THEN unixepoch("leads"."created_at", 'subsec') END) IS NULL
            AND (CASE WHEN typeof("leads"."created_at") = 'text'
            THEN unixepoch("leads"."created_at", 'subsec') END) < ?) AND NOT (COALESCE((1=1
            AND "leads"."customer_id" IN (?, ?)), 1 = 0)) AND "leads"."id" > ?
            ORDER BY "leads"."id" LIMIT 500
        "#,
        r#"
            [Text("delivered"), Text("rejected"), Float(1767182400.0), Int(7), Text("7"), Int(100)]
        "#,
    );
    golden(
        q(Postgres),
        r#"
            SELECT CAST("leads"."id" AS BIGINT) FROM "leads" WHERE (1=1
            AND "leads"."status" IN ($1, $2)) AND (NOT "leads"."created_at" IS NULL
            AND "leads"."created_at" < $3) AND NOT (COALESCE((1=1
            AND "leads"."customer_id" IN ($4)), 1 = 0)) AND "leads"."id" > $5
            ORDER BY "leads"."id" LIMIT 500
        "#,
        r#"[Text("delivered"), Text("rejected"), Time(2025-12-31T12:00:00Z), Int(7), Int(100)]"#,
    );
    golden(
        q(MySql),
        r#"
            SELECT CAST(`leads`.`id` AS SIGNED) FROM `leads` WHERE (1=1
            AND `leads`.`status` IN (?, ?)) AND (NOT (`leads`.`created_at` IS NULL
            OR `leads`.`created_at` < '0001-01-01') AND `leads`.`created_at` < ?)
            AND NOT (COALESCE((1=1 AND `leads`.`customer_id` IN (?)), 1 = 0))
            AND `leads`.`id` > ? ORDER BY `leads`.`id` LIMIT 500
        "#,
        r#"[Text("delivered"), Text("rejected"), Time(2025-12-31T12:00:00Z), Int(7), Int(100)]"#,
    );
}

#[test]
fn delete_batches_per_dialect() {
    let (after, last) = (
        RowKey::single(KeyValue::Int(100)),
        RowKey::single(KeyValue::Int(600)),
    );
    let q = |d| delete_target(d).delete_batch(as_of(), Some(&after), &last);
    golden(
        q(Sqlite),
        r#"
            DELETE FROM "leads" WHERE "leads"."id" > ? AND "leads"."id" <= ? AND (1=1
            AND "leads"."status" IN (?, ?)) AND (NOT (CASE WHEN typeof("leads"."created_at") =
            'text' THEN unixepoch("leads"."created_at", 'subsec') END) IS NULL
            AND (CASE WHEN typeof("leads"."created_at") = 'text'
            THEN unixepoch("leads"."created_at", 'subsec') END) < ?) AND NOT (COALESCE((1=1
            AND "leads"."customer_id" IN (?, ?)), 1 = 0))
        "#,
        r#"
            [Int(100), Int(600), Text("delivered"), Text("rejected"), Float(1767182400.0), Int(7),
            Text("7")]
        "#,
    );
    golden(
        q(Postgres),
        r#"
            DELETE FROM "leads" WHERE "leads"."id" > $1 AND "leads"."id" <= $2 AND (1=1
            AND "leads"."status" IN ($3, $4)) AND (NOT "leads"."created_at" IS NULL
            AND "leads"."created_at" < $5) AND NOT (COALESCE((1=1
            AND "leads"."customer_id" IN ($6)), 1 = 0))
        "#,
        r#"
            [Int(100), Int(600), Text("delivered"), Text("rejected"), Time(2025-12-31T12:00:00Z),
            Int(7)]
        "#,
    );
    golden(
        q(MySql),
        r#"
            DELETE FROM `leads` WHERE `leads`.`id` > ? AND `leads`.`id` <= ? AND (1=1
            AND `leads`.`status` IN (?, ?)) AND (NOT (`leads`.`created_at` IS NULL
            OR `leads`.`created_at` < '0001-01-01') AND `leads`.`created_at` < ?)
            AND NOT (COALESCE((1=1 AND `leads`.`customer_id` IN (?)), 1 = 0))
        "#,
        r#"
            [Int(100), Int(600), Text("delivered"), Text("rejected"), Time(2025-12-31T12:00:00Z),
            Int(7)]
        "#,
    );
}

#[test]
fn set_based_anonymize_batches_per_dialect() {
    let (after, last) = (
        RowKey::single(KeyValue::Int(100)),
        RowKey::single(KeyValue::Int(600)),
    );
    let q = |d| anonymize_target(d).update_batch(as_of(), Some(&after), &last);
    golden(
        q(Sqlite),
        r#"
            UPDATE "leads" SET "birth_date" = CASE WHEN ("leads"."birth_date" IS NOT NULL AND (CASE
            WHEN length("leads"."birth_date") = 10 THEN date("leads"."birth_date", 'start of year')
            ELSE datetime("leads"."birth_date", 'start of year') END IS NULL OR "leads"."birth_date"
            <> CASE WHEN length("leads"."birth_date") = 10 THEN date("leads"."birth_date", 'start of
            year') ELSE datetime("leads"."birth_date", 'start of year') END)) THEN CASE WHEN
            length("leads"."birth_date") = 10 THEN date("leads"."birth_date", 'start of year') ELSE
            datetime("leads"."birth_date", 'start of year') END ELSE "leads"."birth_date" END,
            "email" = CASE WHEN ("leads"."email" IS NOT NULL AND "leads"."email" <> ?) THEN ? ELSE
            "leads"."email" END, "full_name" = NULL WHERE "leads"."id" > ? AND "leads"."id" <= ? AND
            (NOT (CASE WHEN typeof("leads"."created_at") = 'text' THEN
            unixepoch("leads"."created_at", 'subsec') END) IS NULL AND (CASE WHEN
            typeof("leads"."created_at") = 'text' THEN unixepoch("leads"."created_at", 'subsec')
            END) < ?) AND (("leads"."birth_date" IS NOT NULL AND (CASE WHEN
            length("leads"."birth_date") = 10 THEN date("leads"."birth_date", 'start of year') ELSE
            datetime("leads"."birth_date", 'start of year') END IS NULL OR "leads"."birth_date" <>
            CASE WHEN length("leads"."birth_date") = 10 THEN date("leads"."birth_date", 'start of
            year') ELSE datetime("leads"."birth_date", 'start of year') END)) OR ("leads"."email" IS
            NOT NULL AND "leads"."email" <> ?) OR "leads"."full_name" IS NOT NULL) AND NOT
            COALESCE((1=1 AND "leads"."status" IN (?, ?)) AND (NOT (CASE WHEN
            typeof("leads"."created_at") = 'text' THEN unixepoch("leads"."created_at", 'subsec')
            END) IS NULL AND (CASE WHEN typeof("leads"."created_at") = 'text' THEN
            unixepoch("leads"."created_at", 'subsec') END) < ?), 1 = 0)
        "#,
        r#"
            [Text("[redacted]"), Text("[redacted]"), Int(100), Int(600), Float(1772366400.0),
            Text("[redacted]"), Text("delivered"), Text("rejected"), Float(1767182400.0)]
        "#,
    );
    golden(
        q(Postgres),
        r#"
            UPDATE "leads" SET "birth_date" = CASE WHEN ("leads"."birth_date" IS NOT NULL AND
            (date_trunc('year', "leads"."birth_date") IS NULL OR "leads"."birth_date" <>
            date_trunc('year', "leads"."birth_date"))) THEN date_trunc('year', "leads"."birth_date")
            ELSE "leads"."birth_date" END, "email" = CASE WHEN ("leads"."email" IS NOT NULL AND
            "leads"."email" <> $1) THEN $2 ELSE "leads"."email" END, "full_name" = NULL WHERE
            "leads"."id" > $3 AND "leads"."id" <= $4 AND (NOT "leads"."created_at" IS NULL AND
            "leads"."created_at" < $5) AND (("leads"."birth_date" IS NOT NULL AND
            (date_trunc('year', "leads"."birth_date") IS NULL OR "leads"."birth_date" <>
            date_trunc('year', "leads"."birth_date"))) OR ("leads"."email" IS NOT NULL AND
            "leads"."email" <> $6) OR "leads"."full_name" IS NOT NULL) AND NOT COALESCE((1=1 AND
            "leads"."status" IN ($7, $8)) AND (NOT "leads"."created_at" IS NULL AND
            "leads"."created_at" < $9), 1 = 0)
        "#,
        r#"
            [Text("[redacted]"), Text("[redacted]"), Int(100), Int(600), Time(2026-03-01T12:00:00Z),
            Text("[redacted]"), Text("delivered"), Text("rejected"), Time(2025-12-31T12:00:00Z)]
        "#,
    );
    golden(
        q(MySql),
        r#"
            UPDATE `leads` SET `birth_date` = CASE WHEN (`leads`.`birth_date` IS NOT NULL AND
            (MAKEDATE(YEAR(`leads`.`birth_date`), 1) IS NULL OR `leads`.`birth_date` <>
            MAKEDATE(YEAR(`leads`.`birth_date`), 1))) THEN MAKEDATE(YEAR(`leads`.`birth_date`), 1)
            ELSE `leads`.`birth_date` END, `email` = CASE WHEN (`leads`.`email` IS NOT NULL AND
            `leads`.`email` <> ?) THEN ? ELSE `leads`.`email` END, `full_name` = NULL WHERE
            `leads`.`id` > ? AND `leads`.`id` <= ? AND (NOT (`leads`.`created_at` IS NULL OR
            `leads`.`created_at` < '0001-01-01') AND `leads`.`created_at` < ?) AND
            ((`leads`.`birth_date` IS NOT NULL AND (MAKEDATE(YEAR(`leads`.`birth_date`), 1) IS NULL
            OR `leads`.`birth_date` <> MAKEDATE(YEAR(`leads`.`birth_date`), 1))) OR (`leads`.`email`
            IS NOT NULL AND `leads`.`email` <> ?) OR `leads`.`full_name` IS NOT NULL) AND NOT
            COALESCE((1=1 AND `leads`.`status` IN (?, ?)) AND (NOT (`leads`.`created_at` IS NULL OR
            `leads`.`created_at` < '0001-01-01') AND `leads`.`created_at` < ?), 1 = 0)
        "#,
        r#"
            [Text("[redacted]"), Text("[redacted]"), Int(100), Int(600), Time(2026-03-01T12:00:00Z),
            Text("[redacted]"), Text("delivered"), Text("rejected"), Time(2025-12-31T12:00:00Z)]
        "#,
    );
}

#[test]
fn in_process_pages_per_dialect() {
    let q = |d| in_process_target(d).fetch_batch(as_of(), 2, Some(&visit(d, 1)));
    golden(
        q(Sqlite),
        r#"
            SELECT "visits"."id", CAST("visits"."email" AS TEXT), CAST("visits"."ip" AS TEXT) FROM
            "visits" WHERE (NOT (CASE WHEN typeof("visits"."seen_at") = 'text' THEN
            unixepoch("visits"."seen_at", 'subsec') END) IS NULL AND (CASE WHEN
            typeof("visits"."seen_at") = 'text' THEN unixepoch("visits"."seen_at", 'subsec') END) <
            ?) AND (("visits"."email" IS NOT NULL AND NOT ("visits"."email" LIKE 'hmac:%' AND
            LENGTH("visits"."email") = 37)) OR ("visits"."ip" IS NOT NULL AND NOT ("visits"."ip"
            LIKE '%.0' OR ("visits"."ip" LIKE '%::' AND "visits"."ip" NOT LIKE '%:%:%:%:%:%'))) OR
            "visits"."phone" IS NOT NULL) AND "visits"."id" > ? ORDER BY "visits"."id" LIMIT 2
        "#,
        r#"[Float(1774915200.0), Int(1)]"#,
    );
    golden(
        q(Postgres),
        r#"
            SELECT CAST("visits"."id" AS TEXT), CAST("visits"."email" AS TEXT), host("visits"."ip")
            FROM "visits" WHERE (NOT "visits"."seen_at" IS NULL AND "visits"."seen_at" < $1) AND
            (("visits"."email" IS NOT NULL AND NOT ("visits"."email" LIKE 'hmac:%' AND
            LENGTH("visits"."email") = 37)) OR ("visits"."ip" IS NOT NULL AND NOT
            (host("visits"."ip") LIKE '%.0' OR (host("visits"."ip") LIKE '%::' AND
            host("visits"."ip") NOT LIKE '%:%:%:%:%:%'))) OR "visits"."phone" IS NOT NULL) AND
            "visits"."id" > CAST($2 AS uuid) ORDER BY "visits"."id" LIMIT 2
        "#,
        r#"[Time(2026-03-31T00:00:00Z), Text("00000000-0000-0000-0000-000000000001")]"#,
    );
    golden(
        q(MySql),
        r#"
            SELECT CAST(`visits`.`id` AS SIGNED), CAST(`visits`.`email` AS CHAR), CAST(`visits`.`ip`
            AS CHAR) FROM `visits` WHERE (NOT (`visits`.`seen_at` IS NULL OR `visits`.`seen_at` <
            '0001-01-01') AND `visits`.`seen_at` < ?) AND ((`visits`.`email` IS NOT NULL AND NOT
            (`visits`.`email` LIKE 'hmac:%' AND CHAR_LENGTH(`visits`.`email`) = 37)) OR
            (`visits`.`ip` IS NOT NULL AND NOT (`visits`.`ip` LIKE '%.0' OR (`visits`.`ip` LIKE
            '%::' AND `visits`.`ip` NOT LIKE '%:%:%:%:%:%'))) OR `visits`.`phone` IS NOT NULL) AND
            `visits`.`id` > ? ORDER BY `visits`.`id` LIMIT 2
        "#,
        r#"[Time(2026-03-31T00:00:00Z), Int(1)]"#,
    );
}

#[test]
fn in_process_updates_per_dialect() {
    let q = |d| {
        let rows = [
            (
                visit(d, 2),
                vec![Some("hmac:ab".into()), Some("10.1.2.0".into())],
            ),
            (visit(d, 3), vec![None, Some("2001:db8:1::".into())]),
        ];
        in_process_target(d).update_rows(as_of(), &rows)
    };
    golden(
        q(Sqlite),
        r#"
            UPDATE "visits" SET "email" = CASE WHEN ("visits"."email" IS NOT NULL AND NOT
            ("visits"."email" LIKE 'hmac:%' AND LENGTH("visits"."email") = 37)) THEN
            lethe_v.lethe_c0 ELSE "visits"."email" END, "ip" = CASE WHEN ("visits"."ip" IS NOT NULL
            AND NOT ("visits"."ip" LIKE '%.0' OR ("visits"."ip" LIKE '%::' AND "visits"."ip" NOT
            LIKE '%:%:%:%:%:%'))) THEN lethe_v.lethe_c1 ELSE "visits"."ip" END, "phone" = NULL FROM
            (SELECT column1 AS lethe_k, column2 AS lethe_c0, column3 AS lethe_c1 FROM (VALUES (?, ?,
            ?), (?, ?, ?))) AS lethe_v WHERE "visits"."id" = lethe_v.lethe_k AND (NOT (CASE WHEN
            typeof("visits"."seen_at") = 'text' THEN unixepoch("visits"."seen_at", 'subsec') END) IS
            NULL AND (CASE WHEN typeof("visits"."seen_at") = 'text' THEN
            unixepoch("visits"."seen_at", 'subsec') END) < ?) AND (("visits"."email" IS NOT NULL AND
            NOT ("visits"."email" LIKE 'hmac:%' AND LENGTH("visits"."email") = 37)) OR
            ("visits"."ip" IS NOT NULL AND NOT ("visits"."ip" LIKE '%.0' OR ("visits"."ip" LIKE
            '%::' AND "visits"."ip" NOT LIKE '%:%:%:%:%:%'))) OR "visits"."phone" IS NOT NULL)
        "#,
        r#"
            [Int(2), Text("hmac:ab"), Text("10.1.2.0"), Int(3), Null, Text("2001:db8:1::"),
            Float(1774915200.0)]
        "#,
    );
    golden(
        q(Postgres),
        r#"
            UPDATE "visits" SET "email" = CASE WHEN ("visits"."email" IS NOT NULL AND NOT
            ("visits"."email" LIKE 'hmac:%' AND LENGTH("visits"."email") = 37)) THEN
            lethe_v.lethe_c0 ELSE "visits"."email" END, "ip" = CASE WHEN ("visits"."ip" IS NOT NULL
            AND NOT (host("visits"."ip") LIKE '%.0' OR (host("visits"."ip") LIKE '%::' AND
            host("visits"."ip") NOT LIKE '%:%:%:%:%:%'))) THEN CAST(lethe_v.lethe_c1 AS inet) ELSE
            "visits"."ip" END, "phone" = NULL FROM (VALUES ($1, $2, $3), ($4, $5, $6)) AS
            lethe_v(lethe_k, lethe_c0, lethe_c1) WHERE "visits"."id" = CAST(lethe_v.lethe_k AS uuid)
            AND (NOT "visits"."seen_at" IS NULL AND "visits"."seen_at" < $7) AND (("visits"."email"
            IS NOT NULL AND NOT ("visits"."email" LIKE 'hmac:%' AND LENGTH("visits"."email") = 37))
            OR ("visits"."ip" IS NOT NULL AND NOT (host("visits"."ip") LIKE '%.0' OR
            (host("visits"."ip") LIKE '%::' AND host("visits"."ip") NOT LIKE '%:%:%:%:%:%'))) OR
            "visits"."phone" IS NOT NULL)
        "#,
        r#"
            [Text("00000000-0000-0000-0000-000000000002"), Text("hmac:ab"), Text("10.1.2.0"),
            Text("00000000-0000-0000-0000-000000000003"), Null, Text("2001:db8:1::"),
            Time(2026-03-31T00:00:00Z)]
        "#,
    );
    golden(
        q(MySql),
        r#"
            UPDATE `visits` JOIN (SELECT ? AS lethe_k, ? AS lethe_c0, ? AS lethe_c1 UNION ALL SELECT
            ?, ?, ?) AS lethe_v ON `visits`.`id` = lethe_v.lethe_k SET `email` = CASE WHEN
            (`visits`.`email` IS NOT NULL AND NOT (`visits`.`email` LIKE 'hmac:%' AND
            CHAR_LENGTH(`visits`.`email`) = 37)) THEN lethe_v.lethe_c0 ELSE `visits`.`email` END,
            `ip` = CASE WHEN (`visits`.`ip` IS NOT NULL AND NOT (`visits`.`ip` LIKE '%.0' OR
            (`visits`.`ip` LIKE '%::' AND `visits`.`ip` NOT LIKE '%:%:%:%:%:%'))) THEN
            lethe_v.lethe_c1 ELSE `visits`.`ip` END, `phone` = NULL WHERE (NOT (`visits`.`seen_at`
            IS NULL OR `visits`.`seen_at` < '0001-01-01') AND `visits`.`seen_at` < ?) AND
            ((`visits`.`email` IS NOT NULL AND NOT (`visits`.`email` LIKE 'hmac:%' AND
            CHAR_LENGTH(`visits`.`email`) = 37)) OR (`visits`.`ip` IS NOT NULL AND NOT
            (`visits`.`ip` LIKE '%.0' OR (`visits`.`ip` LIKE '%::' AND `visits`.`ip` NOT LIKE
            '%:%:%:%:%:%'))) OR `visits`.`phone` IS NOT NULL)
        "#,
        r#"
            [Int(2), Text("hmac:ab"), Text("10.1.2.0"), Int(3), Null, Text("2001:db8:1::"),
            Time(2026-03-31T00:00:00Z)]
        "#,
    );
}

#[test]
fn a_contract_end_clock_and_a_hold_window_per_dialect() {
    let q = |d| contract_target(d).delete_batch(as_of(), None, &RowKey::single(KeyValue::Int(600)));
    golden(
        q(Sqlite),
        r#"
            DELETE FROM "customers" WHERE "customers"."id" <= ? AND (EXISTS (SELECT 1
            FROM "contracts" WHERE "contracts"."customer_id" = "customers"."id")
            AND NOT EXISTS (SELECT 1 FROM "contracts" WHERE "contracts"."customer_id" =
            "customers"."id" AND ((CASE WHEN typeof("contracts"."ended_at") = 'text'
            THEN unixepoch("contracts"."ended_at", 'subsec') END) IS NULL
            OR (CASE WHEN typeof("contracts"."ended_at") = 'text'
            THEN unixepoch("contracts"."ended_at", 'subsec') END) >= ?))) AND NOT (COALESCE((1=1
            AND NOT (NOT (CASE WHEN typeof("customers"."invoiced_at") = 'text'
            THEN unixepoch("customers"."invoiced_at", 'subsec') END) IS NULL
            AND (CASE WHEN typeof("customers"."invoiced_at") = 'text'
            THEN unixepoch("customers"."invoiced_at", 'subsec') END) < ?)), 1 = 0))
        "#,
        r#"[Int(600), Float(1554033600.0), Float(1459425600.0)]"#,
    );
    golden(
        q(Postgres),
        r#"
            DELETE FROM "customers" WHERE "customers"."id" <= $1 AND (EXISTS (SELECT 1
            FROM "contracts" WHERE "contracts"."customer_id" = "customers"."id")
            AND NOT EXISTS (SELECT 1 FROM "contracts" WHERE "contracts"."customer_id" =
            "customers"."id" AND ("contracts"."ended_at" IS NULL
            OR "contracts"."ended_at" >= $2))) AND NOT (COALESCE((1=1
            AND NOT (NOT "customers"."invoiced_at" IS NULL
            AND "customers"."invoiced_at" < $3)), 1 = 0))
        "#,
        r#"[Int(600), Time(2019-03-31T12:00:00Z), Time(2016-03-31T12:00:00Z)]"#,
    );
    golden(
        q(MySql),
        r#"
            DELETE FROM `customers` WHERE `customers`.`id` <= ? AND (EXISTS (SELECT 1
            FROM `contracts` WHERE `contracts`.`customer_id` = `customers`.`id`)
            AND NOT EXISTS (SELECT 1 FROM `contracts` WHERE `contracts`.`customer_id` =
            `customers`.`id` AND ((`contracts`.`ended_at` IS NULL
            OR `contracts`.`ended_at` < '0001-01-01') OR `contracts`.`ended_at` >= ?)))
            AND NOT (COALESCE((1=1 AND NOT (NOT (`customers`.`invoiced_at` IS NULL
            OR `customers`.`invoiced_at` < '0001-01-01')
            AND `customers`.`invoiced_at` < ?)), 1 = 0))
        "#,
        r#"[Int(600), Time(2019-03-31T12:00:00Z), Time(2016-03-31T12:00:00Z)]"#,
    );
}

#[test]
fn the_plan_shows_the_page_and_the_batch_apply_repeats() {
    let k = RowKey::single(KeyValue::Int(0));
    for d in DIALECTS {
        let t = delete_target(d);
        let page = t.fetch_batch(as_of(), 500, Some(&k)).sql;
        let batch = t.delete_batch(as_of(), Some(&k), &k).sql;
        assert_eq!(t.shown_statement(as_of()), format!("{page}; then: {batch}"));
        let a = anonymize_target(d);
        let page = a.fetch_batch(as_of(), 500, Some(&k)).sql;
        let batch = a.update_batch(as_of(), Some(&k), &k).sql;
        assert_eq!(a.shown_statement(as_of()), format!("{page}; then: {batch}"));
        let p = in_process_target(d);
        let page = p.fetch_batch(as_of(), 500, Some(&k)).sql;
        let rows = p.update_rows(as_of(), &[(k.clone(), vec![Some(String::new()); 2])]);
        assert_eq!(
            p.shown_statement(as_of()),
            format!("{page}; then: {}", rows.sql)
        );
    }
}
