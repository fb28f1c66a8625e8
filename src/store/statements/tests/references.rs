//! Golden tests of the foreign-key conditions: a referenced row kept by the `DELETE` itself,
//! counts that foresee the deletes going first, and an anonymization left to a delete only
//! where it deletes.

use super::*;

/// A foreign key from `child` through `columns` (referencing, referenced).
fn fk(child: &str, columns: &[(&str, &str)]) -> ForeignKey {
    ForeignKey {
        child: id(child),
        columns: columns.iter().map(|(c, p)| (id(c), id(p))).collect(),
        on_delete: crate::store::OnDelete::NoAction,
    }
}

/// Accounts deleted a year after they closed, unless still referenced: by invoices, by
/// orders through two columns, or by another account of the same table.
fn referenced_target(dialect: Dialect) -> Target {
    let mut t = yearly_delete(dialect, "accounts", "closed_at");
    t.referenced_by = vec![
        fk("invoices", &[("account_id", "id")]),
        fk("orders", &[("account_id", "id"), ("region", "region")]),
        fk("accounts", &[("parent_id", "id")]),
    ];
    t
}

/// Invoices deleted a year after they were paid: in a run with `referenced_target`, they go
/// first.
fn invoices_target(dialect: Dialect) -> Target {
    yearly_delete(dialect, "invoices", "paid_at")
}

/// `<table>-delete`: rows of `table` deleted a year after their `clock` column.
fn yearly_delete(dialect: Dialect, table: &str, clock: &str) -> Target {
    let name = format!("{table}-delete");
    let clock = Clock::Column(id(clock));
    target(dialect, policy(&name, table, clock, "1y", Action::Delete))
}

#[test]
fn a_referenced_row_is_kept_by_the_delete_itself_per_dialect() {
    let q =
        |d| referenced_target(d).delete_batch(as_of(), None, &RowKey::single(KeyValue::Int(600)));
    golden(
        q(Sqlite),
        r#"
            DELETE FROM "accounts" WHERE "accounts"."id" <= ? AND (NOT (CASE WHEN
            typeof("accounts"."closed_at") = 'text' THEN unixepoch("accounts"."closed_at",
            'subsec') END) IS NULL AND (CASE WHEN typeof("accounts"."closed_at") = 'text' THEN
            unixepoch("accounts"."closed_at", 'subsec') END) < ?) AND NOT (EXISTS (SELECT 1 FROM
            "invoices" WHERE "invoices"."account_id" = "accounts"."id") OR EXISTS (SELECT 1 FROM
            "orders" WHERE "orders"."account_id" = "accounts"."id" AND "orders"."region" =
            "accounts"."region") OR EXISTS (SELECT 1 FROM "accounts" AS "lethe_r" WHERE
            "lethe_r"."parent_id" = "accounts"."id"))
        "#,
        r#"
            [Int(600), Float(1743422400.0)]
        "#,
    );
    golden(
        q(Postgres),
        r#"
            DELETE FROM "accounts" WHERE "accounts"."id" <= $1 AND (NOT "accounts"."closed_at"
            IS NULL AND "accounts"."closed_at" < $2) AND NOT (EXISTS (SELECT 1 FROM "invoices"
            WHERE "invoices"."account_id" = "accounts"."id") OR EXISTS (SELECT 1 FROM "orders"
            WHERE "orders"."account_id" = "accounts"."id" AND "orders"."region" =
            "accounts"."region") OR EXISTS (SELECT 1 FROM "accounts" AS "lethe_r" WHERE
            "lethe_r"."parent_id" = "accounts"."id"))
        "#,
        r#"
            [Int(600), Time(2025-03-31T12:00:00Z)]
        "#,
    );
    golden(
        q(MySql),
        r#"
            DELETE FROM `accounts` WHERE `accounts`.`id` <= ? AND (NOT (`accounts`.`closed_at`
            IS NULL OR `accounts`.`closed_at` < '0001-01-01') AND `accounts`.`closed_at` < ?)
            AND NOT (EXISTS (SELECT 1 FROM `invoices` WHERE `invoices`.`account_id` =
            `accounts`.`id`) OR EXISTS (SELECT 1 FROM `orders` WHERE `orders`.`account_id` =
            `accounts`.`id` AND `orders`.`region` = `accounts`.`region`) OR EXISTS (SELECT 1
            FROM `accounts` AS `lethe_r` WHERE `lethe_r`.`parent_id` = `accounts`.`id`))
        "#,
        r#"
            [Int(600), Time(2025-03-31T12:00:00Z)]
        "#,
    );
}

#[test]
fn counts_foresee_the_deletes_going_first_per_dialect() {
    let q = |d| {
        let mut t = referenced_target(d);
        t.referenced_by.truncate(2);
        t.going_first = vec![invoices_target(d)];
        t.count(as_of())
    };
    golden(
        q(Sqlite),
        r#"
            SELECT COUNT(*), COUNT(CASE WHEN 1=1 THEN 1 END), COUNT(CASE WHEN (NOT (CASE WHEN
            typeof("accounts"."closed_at") = 'text' THEN unixepoch("accounts"."closed_at",
            'subsec') END) IS NULL AND (CASE WHEN typeof("accounts"."closed_at") = 'text' THEN
            unixepoch("accounts"."closed_at", 'subsec') END) < ?) AND NOT (EXISTS (SELECT 1 FROM
            "invoices" WHERE "invoices"."account_id" = "accounts"."id" AND NOT (COALESCE(((NOT
            (CASE WHEN typeof("invoices"."paid_at") = 'text' THEN
            unixepoch("invoices"."paid_at", 'subsec') END) IS NULL AND (CASE WHEN
            typeof("invoices"."paid_at") = 'text' THEN unixepoch("invoices"."paid_at", 'subsec')
            END) < ?)), 1 = 0))) OR EXISTS (SELECT 1 FROM "orders" WHERE "orders"."account_id" =
            "accounts"."id" AND "orders"."region" = "accounts"."region")) THEN 1 END),
            COUNT(CASE WHEN (1=1) AND ((CASE WHEN typeof("accounts"."closed_at") = 'text' THEN
            unixepoch("accounts"."closed_at", 'subsec') END) IS NULL) THEN 1 END), COUNT(CASE
            WHEN 1 = 0 THEN 1 END), COUNT(CASE WHEN (NOT (CASE WHEN
            typeof("accounts"."closed_at") = 'text' THEN unixepoch("accounts"."closed_at",
            'subsec') END) IS NULL AND (CASE WHEN typeof("accounts"."closed_at") = 'text' THEN
            unixepoch("accounts"."closed_at", 'subsec') END) < ?) AND (EXISTS (SELECT 1 FROM
            "invoices" WHERE "invoices"."account_id" = "accounts"."id" AND NOT (COALESCE(((NOT
            (CASE WHEN typeof("invoices"."paid_at") = 'text' THEN
            unixepoch("invoices"."paid_at", 'subsec') END) IS NULL AND (CASE WHEN
            typeof("invoices"."paid_at") = 'text' THEN unixepoch("invoices"."paid_at", 'subsec')
            END) < ?)), 1 = 0))) OR EXISTS (SELECT 1 FROM "orders" WHERE "orders"."account_id" =
            "accounts"."id" AND "orders"."region" = "accounts"."region")) THEN 1 END),
            COUNT(CASE WHEN (NOT (CASE WHEN typeof("accounts"."closed_at") = 'text' THEN
            unixepoch("accounts"."closed_at", 'subsec') END) IS NULL AND (CASE WHEN
            typeof("accounts"."closed_at") = 'text' THEN unixepoch("accounts"."closed_at",
            'subsec') END) < ?) AND EXISTS (SELECT 1 FROM "invoices" WHERE
            "invoices"."account_id" = "accounts"."id" AND NOT (COALESCE(((NOT (CASE WHEN
            typeof("invoices"."paid_at") = 'text' THEN unixepoch("invoices"."paid_at", 'subsec')
            END) IS NULL AND (CASE WHEN typeof("invoices"."paid_at") = 'text' THEN
            unixepoch("invoices"."paid_at", 'subsec') END) < ?)), 1 = 0))) THEN 1 END),
            COUNT(CASE WHEN (NOT (CASE WHEN typeof("accounts"."closed_at") = 'text' THEN
            unixepoch("accounts"."closed_at", 'subsec') END) IS NULL AND (CASE WHEN
            typeof("accounts"."closed_at") = 'text' THEN unixepoch("accounts"."closed_at",
            'subsec') END) < ?) AND EXISTS (SELECT 1 FROM "orders" WHERE "orders"."account_id" =
            "accounts"."id" AND "orders"."region" = "accounts"."region") THEN 1 END) FROM
            "accounts"
        "#,
        r#"
            [Float(1743422400.0), Float(1743422400.0), Float(1743422400.0), Float(1743422400.0),
            Float(1743422400.0), Float(1743422400.0), Float(1743422400.0)]
        "#,
    );
    golden(
        q(Postgres),
        r#"
            SELECT COUNT(*), COUNT(CASE WHEN 1=1 THEN 1 END), COUNT(CASE WHEN (NOT
            "accounts"."closed_at" IS NULL AND "accounts"."closed_at" < $1) AND NOT (EXISTS
            (SELECT 1 FROM "invoices" WHERE "invoices"."account_id" = "accounts"."id" AND NOT
            (COALESCE(((NOT "invoices"."paid_at" IS NULL AND "invoices"."paid_at" < $2)), 1 =
            0))) OR EXISTS (SELECT 1 FROM "orders" WHERE "orders"."account_id" = "accounts"."id"
            AND "orders"."region" = "accounts"."region")) THEN 1 END), COUNT(CASE WHEN (1=1) AND
            ("accounts"."closed_at" IS NULL) THEN 1 END), COUNT(CASE WHEN 1 = 0 THEN 1 END),
            COUNT(CASE WHEN (NOT "accounts"."closed_at" IS NULL AND "accounts"."closed_at" < $3)
            AND (EXISTS (SELECT 1 FROM "invoices" WHERE "invoices"."account_id" =
            "accounts"."id" AND NOT (COALESCE(((NOT "invoices"."paid_at" IS NULL AND
            "invoices"."paid_at" < $4)), 1 = 0))) OR EXISTS (SELECT 1 FROM "orders" WHERE
            "orders"."account_id" = "accounts"."id" AND "orders"."region" =
            "accounts"."region")) THEN 1 END), COUNT(CASE WHEN (NOT "accounts"."closed_at" IS
            NULL AND "accounts"."closed_at" < $5) AND EXISTS (SELECT 1 FROM "invoices" WHERE
            "invoices"."account_id" = "accounts"."id" AND NOT (COALESCE(((NOT
            "invoices"."paid_at" IS NULL AND "invoices"."paid_at" < $6)), 1 = 0))) THEN 1 END),
            COUNT(CASE WHEN (NOT "accounts"."closed_at" IS NULL AND "accounts"."closed_at" < $7)
            AND EXISTS (SELECT 1 FROM "orders" WHERE "orders"."account_id" = "accounts"."id" AND
            "orders"."region" = "accounts"."region") THEN 1 END) FROM "accounts"
        "#,
        r#"
            [Time(2025-03-31T12:00:00Z), Time(2025-03-31T12:00:00Z), Time(2025-03-31T12:00:00Z),
            Time(2025-03-31T12:00:00Z), Time(2025-03-31T12:00:00Z), Time(2025-03-31T12:00:00Z),
            Time(2025-03-31T12:00:00Z)]
        "#,
    );
    golden(
        q(MySql),
        r#"
            SELECT COUNT(*), COUNT(CASE WHEN 1=1 THEN 1 END), COUNT(CASE WHEN (NOT
            (`accounts`.`closed_at` IS NULL OR `accounts`.`closed_at` < '0001-01-01') AND
            `accounts`.`closed_at` < ?) AND NOT (EXISTS (SELECT 1 FROM `invoices` WHERE
            `invoices`.`account_id` = `accounts`.`id` AND NOT (COALESCE(((NOT
            (`invoices`.`paid_at` IS NULL OR `invoices`.`paid_at` < '0001-01-01') AND
            `invoices`.`paid_at` < ?)), 1 = 0))) OR EXISTS (SELECT 1 FROM `orders` WHERE
            `orders`.`account_id` = `accounts`.`id` AND `orders`.`region` =
            `accounts`.`region`)) THEN 1 END), COUNT(CASE WHEN (1=1) AND
            ((`accounts`.`closed_at` IS NULL OR `accounts`.`closed_at` < '0001-01-01')) THEN 1
            END), COUNT(CASE WHEN 1 = 0 THEN 1 END), COUNT(CASE WHEN (NOT
            (`accounts`.`closed_at` IS NULL OR `accounts`.`closed_at` < '0001-01-01') AND
            `accounts`.`closed_at` < ?) AND (EXISTS (SELECT 1 FROM `invoices` WHERE
            `invoices`.`account_id` = `accounts`.`id` AND NOT (COALESCE(((NOT
            (`invoices`.`paid_at` IS NULL OR `invoices`.`paid_at` < '0001-01-01') AND
            `invoices`.`paid_at` < ?)), 1 = 0))) OR EXISTS (SELECT 1 FROM `orders` WHERE
            `orders`.`account_id` = `accounts`.`id` AND `orders`.`region` =
            `accounts`.`region`)) THEN 1 END), COUNT(CASE WHEN (NOT (`accounts`.`closed_at` IS
            NULL OR `accounts`.`closed_at` < '0001-01-01') AND `accounts`.`closed_at` < ?) AND
            EXISTS (SELECT 1 FROM `invoices` WHERE `invoices`.`account_id` = `accounts`.`id` AND
            NOT (COALESCE(((NOT (`invoices`.`paid_at` IS NULL OR `invoices`.`paid_at` <
            '0001-01-01') AND `invoices`.`paid_at` < ?)), 1 = 0))) THEN 1 END), COUNT(CASE WHEN
            (NOT (`accounts`.`closed_at` IS NULL OR `accounts`.`closed_at` < '0001-01-01') AND
            `accounts`.`closed_at` < ?) AND EXISTS (SELECT 1 FROM `orders` WHERE
            `orders`.`account_id` = `accounts`.`id` AND `orders`.`region` = `accounts`.`region`)
            THEN 1 END) FROM `accounts`
        "#,
        r#"
            [Time(2025-03-31T12:00:00Z), Time(2025-03-31T12:00:00Z), Time(2025-03-31T12:00:00Z),
            Time(2025-03-31T12:00:00Z), Time(2025-03-31T12:00:00Z), Time(2025-03-31T12:00:00Z),
            Time(2025-03-31T12:00:00Z)]
        "#,
    );
}

#[test]
fn a_delete_supersedes_an_anonymization_only_where_it_deletes() {
    let mut t = anonymize_target(Postgres);
    t.referenced_by = vec![fk("invoices", &[("lead_id", "id")])];
    golden(
        t.due(as_of()),
        r#"
            (NOT "leads"."created_at" IS NULL AND "leads"."created_at" < $1) AND
            (("leads"."birth_date" IS NOT NULL AND (date_trunc('year', "leads"."birth_date") IS
            NULL OR "leads"."birth_date" <> date_trunc('year', "leads"."birth_date"))) OR
            ("leads"."email" IS NOT NULL AND "leads"."email" <> $2) OR "leads"."full_name" IS
            NOT NULL) AND NOT COALESCE((1=1 AND "leads"."status" IN ($3, $4)) AND (NOT
            "leads"."created_at" IS NULL AND "leads"."created_at" < $5) AND NOT EXISTS (SELECT 1
            FROM "invoices" WHERE "invoices"."lead_id" = "leads"."id"), 1 = 0)
        "#,
        r#"
            [Time(2026-03-01T12:00:00Z), Text("[redacted]"), Text("delivered"),
            Text("rejected"), Time(2025-12-31T12:00:00Z)]
        "#,
    );
    // An anonymization itself is kept by no reference, and foresees nothing.
    let mut a = anonymize_target(Postgres);
    a.referenced_by = t.referenced_by.clone();
    a.going_first = vec![invoices_target(Postgres)];
    assert_eq!(a.count(as_of()).sql.matches("EXISTS").count(), 1);
}
