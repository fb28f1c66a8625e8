//! Golden tests of composite keys: pages bounded by the whole key, rows read in key order
//! and matched on every key column.

use super::*;

/// Orders under `PRIMARY KEY (customer_id, seq)`, `seq` a text column.
fn order_target(dialect: Dialect) -> Target {
    let mut p = policy(
        "orders-delete",
        "orders",
        Clock::Column(id("created_at")),
        "90d",
        Action::Delete,
    );
    p.key = Key::new(vec![id("customer_id"), id("seq")]).ok();
    let mut t = target(dialect, p);
    t.key = vec![
        KeyColumn {
            name: id("customer_id"),
            int: true,
            cast: None,
        },
        KeyColumn {
            name: id("seq"),
            int: false,
            cast: None,
        },
    ];
    t
}

#[test]
fn composite_keys_bound_pages_by_the_whole_key() {
    let after = RowKey(vec![KeyValue::Int(3), KeyValue::Text("b".into())]);
    let last = RowKey(vec![KeyValue::Int(5), KeyValue::Text("a".into())]);
    let bounds = [
        Param::Int(3),
        Param::Text("b".into()),
        Param::Int(5),
        Param::Text("a".into()),
    ];
    let pg = order_target(Postgres).delete_batch(as_of(), Some(&after), &last);
    assert!(pg.sql.starts_with(r#"DELETE FROM "orders" WHERE ("orders"."customer_id", "orders"."seq") > ($1, $2) AND ("orders"."customer_id", "orders"."seq") <= ($3, $4) AND "#), "{}", pg.sql);
    assert_eq!(pg.params[..4], bounds);
    let lite = order_target(Sqlite).delete_batch(as_of(), Some(&after), &last);
    assert!(lite.sql.starts_with(r#"DELETE FROM "orders" WHERE ("orders"."customer_id", "orders"."seq") > (?, ?) AND ("orders"."customer_id", "orders"."seq") <= (?, ?) AND "#), "{}", lite.sql);
    // MariaDB: spelled out column by column, each value bound where it is compared.
    let my = order_target(MySql).delete_batch(as_of(), Some(&after), &last);
    assert!(my.sql.starts_with("DELETE FROM `orders` WHERE ((`orders`.`customer_id` > ?) OR (`orders`.`customer_id` = ? AND `orders`.`seq` > ?)) AND ((`orders`.`customer_id` < ?) OR (`orders`.`customer_id` = ? AND `orders`.`seq` <= ?)) AND "), "{}", my.sql);
    assert_eq!(
        my.params[..6],
        [
            Param::Int(3),
            Param::Int(3),
            Param::Text("b".into()),
            Param::Int(5),
            Param::Int(5),
            Param::Text("a".into()),
        ]
    );
}

#[test]
fn composite_keys_are_read_in_order_and_matched_whole() {
    let t = order_target(Sqlite);
    let after = RowKey(vec![KeyValue::Int(3), KeyValue::Text("b".into())]);
    let q = t.fetch_batch(as_of(), 500, Some(&after));
    assert!(
        q.sql.starts_with(
            r#"SELECT "orders"."customer_id", CAST("orders"."seq" AS TEXT) FROM "orders" WHERE "#
        ),
        "{}",
        q.sql
    );
    assert!(
        q.sql.ends_with(r#" AND ("orders"."customer_id", "orders"."seq") > (?, ?) ORDER BY "orders"."customer_id", "orders"."seq" LIMIT 500"#),
        "{}",
        q.sql
    );
    assert_eq!(
        t.key_match(),
        r#""orders"."customer_id" = lethe_v.lethe_k0 AND "orders"."seq" = lethe_v.lethe_k1"#
    );
    let mut sharded = order_target(Postgres);
    sharded.shard = Some("1/4".parse::<Shard>().unwrap());
    assert!(
        sharded
            .count(as_of())
            .sql
            .ends_with(r#" FROM "orders" WHERE ABS("orders"."customer_id" % 4) = 1"#),
        "{}",
        sharded.count(as_of()).sql
    );
}
