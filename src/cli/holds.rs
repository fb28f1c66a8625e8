//! `lethe holds`: runtime legal holds, kept in the state database and audited.

use super::{Cli, CliError, Code, Output};
use crate::model::{parse_until, Hold, HoldSource, Ident, Test, Value, Window};
use crate::report::Format;
use crate::store::Family;
use chrono::Utc;
use clap::Subcommand;
use std::fmt::Write;

/// Arguments of `lethe holds`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Hold records of one table, or the objects under a prefix: they are never deleted or
    /// anonymized while the hold lasts.
    Add {
        /// The store of the table or objects (a name from lethe.yaml).
        #[arg(long)]
        store: String,
        /// The table (SQL stores).
        #[arg(long, required_unless_present = "prefix", conflicts_with = "prefix")]
        table: Option<String>,
        /// Object stores: hold every object whose key starts with PREFIX (`""` for all).
        #[arg(long)]
        prefix: Option<String>,
        /// Only records where COLUMN equals VALUE, e.g. `customer_id=42` (repeatable: all must hold).
        /// Without it, the whole table is held.
        #[arg(long = "match", value_name = "COLUMN=VALUE")]
        matches: Vec<String>,
        /// Why: the legal ground or case, e.g. "dispute 2026-117". Shown in every report.
        #[arg(long)]
        reason: String,
        /// Last day held (e.g. 2027-06-30) or an RFC 3339 instant. Without it: until released.
        #[arg(long)]
        until: Option<String>,
        /// Who adds the hold (default: the LETHE_USER, USER or LOGNAME environment variable).
        #[arg(long)]
        by: Option<String>,
    },
    /// List runtime holds and the declared LegalHold documents.
    List {
        /// Also released and expired runtime holds.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Release a runtime hold. The release is recorded; the hold itself is kept for the record.
    Release {
        /// The hold's id (`hold-7` or `7`).
        id: String,
        /// Why it is released, e.g. "dispute settled 2027-02-01".
        #[arg(long)]
        reason: String,
        /// Who releases it (default: the LETHE_USER, USER or LOGNAME environment variable).
        #[arg(long)]
        by: Option<String>,
    },
}

fn who(by: &Option<String>) -> String {
    by.clone()
        .or_else(|| {
            ["LETHE_USER", "USER", "LOGNAME"]
                .iter()
                .find_map(|v| std::env::var(v).ok())
        })
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn parse_match(m: &str) -> anyhow::Result<(Ident, String)> {
    let Some((col, val)) = m.split_once('=') else {
        return Err(CliError::usage(format!(
            "`--match {}`: expected COLUMN=VALUE, e.g. customer_id=42",
            crate::util::shorten(m)
        )));
    };
    let col = Ident::parse(col.trim()).map_err(|e| CliError::usage(format!("`--match`: {e}")))?;
    if val.trim().is_empty() {
        return Err(CliError::usage(format!(
            "`--match {col}=`: the value is empty"
        )));
    }
    Ok((col, val.trim().to_string()))
}

/// Types a `--match` value by its live column, so `0612345678` stays text in a text column.
fn typed(column: &Ident, raw: &str, family: Option<Family>) -> anyhow::Result<Value> {
    match family {
        Some(Family::Integer) => raw.parse::<i64>().map(Value::Int).map_err(|_| {
            CliError::usage(format!(
                "`--match {column}=...`: column `{column}` holds whole numbers; the value is not one"
            ))
        }),
        Some(Family::Bool) => match raw {
            "true" | "t" | "1" => Ok(Value::Bool(true)),
            "false" | "f" | "0" => Ok(Value::Bool(false)),
            _ => Err(CliError::usage(format!(
                "`--match {column}=...`: column `{column}` holds true/false"
            ))),
        },
        _ => Ok(Value::Text(raw.to_string())),
    }
}

/// Runs `lethe holds`.
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    let config = crate::config::load(&cli.config, &crate::config::process_env())?;
    let db = super::open_state(&config).await?;
    match &args.action {
        Action::Add {
            store,
            table,
            prefix,
            matches,
            reason,
            until,
            by,
        } => {
            if reason.trim().is_empty() {
                return Err(CliError::usage(
                    "`--reason` is empty: give the legal ground or case",
                ));
            }
            let raw = matches
                .iter()
                .map(|m| parse_match(m))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let until = until
                .as_deref()
                .map(parse_until)
                .transpose()
                .map_err(|e| CliError::usage(format!("`--until`: {e}")))?;
            if until.is_some_and(|u| u <= Utc::now()) {
                return Err(CliError::usage(
                    "`--until` lies in the past: such a hold would hold nothing",
                ));
            }
            let Some(kind) = config.settings.stores.get(store) else {
                let known: Vec<&str> = config.settings.stores.keys().map(String::as_str).collect();
                return Err(CliError::usage(format!(
                    "unknown store `{store}`; expected one of: {}",
                    known.join(", ")
                )));
            };
            let key = config
                .settings
                .hmac_key
                .as_ref()
                .map(|k| k.expose().as_bytes().to_vec());
            let by = who(by);
            if kind.holds_objects() {
                let Some(prefix) = prefix else {
                    return Err(CliError::usage(format!(
                        "store `{store}` holds objects: give `--prefix` (e.g. `cvs/case-117/`), not `--table`"
                    )));
                };
                if !raw.is_empty() {
                    return Err(CliError::usage(
                        "`--match` is for tables; an object hold covers a `--prefix`",
                    ));
                }
                if matches!(kind, crate::model::StoreSpec::Dir(_)) {
                    crate::config::check_folder_prefix(prefix)
                        .map_err(|e| CliError::usage(format!("`--prefix`: {e}")))?;
                }
                let scope = crate::model::Scope::Prefix(prefix.clone());
                let new = crate::audit::NewHold {
                    store,
                    scope: &scope,
                    selector: &[],
                    reason: reason.trim(),
                    by: &by,
                    until,
                };
                let id = db.add_hold(&new, key.as_deref()).await?;
                outln!("added hold-{id} on {store} {scope}: objects under it are kept until it is released{}",
                    until
                        .map(|u| format!(" or until {}", u.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
                        .unwrap_or_default());
                return Ok(Code::Ok);
            }
            let Some(table) = table else {
                return Err(CliError::usage(format!(
                    "store `{store}` is a SQL store: give `--table`, not `--prefix`"
                )));
            };
            let table = Ident::parse_table(table)
                .map_err(|e| CliError::usage(format!("`--table`: {e}")))?;
            // The hold must fit the live table, or it could never be evaluated.
            let conn = crate::store::connect_all(&config.settings.stores, [store.clone()]).await?;
            let Some(live) = conn.get(store) else {
                return Err(CliError::usage(format!("store `{store}` is not connected")));
            };
            // Names match regardless of case, as a hold matches its table: `LEADS` holds `leads`.
            let table = live.table_named(&table).await?.unwrap_or(table);
            let columns = live.columns(&table).await?.unwrap_or_default();
            // Column names too: `--match CUSTOMER_ID=7` holds by the live `customer_id`.
            let selector = raw
                .iter()
                .map(|(c, v)| {
                    let live = columns.get_key_value(c.as_str()).or_else(|| {
                        columns
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(c.as_str()))
                    });
                    let c = match live {
                        Some((name, _)) => Ident::parse(name).unwrap_or_else(|_| c.clone()),
                        None => c.clone(),
                    };
                    let family = live.map(|(_, col)| col.family);
                    Ok((c.clone(), typed(&c, v, family)?))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let probe = Hold {
                name: "new".into(),
                basis: reason.clone(),
                source: HoldSource::Runtime { id: 0 },
                store: store.clone(),
                scope: crate::model::Scope::Table(table.clone()),
                selector: selector
                    .iter()
                    .map(|(c, v)| crate::model::Condition {
                        column: c.clone(),
                        test: crate::model::Test::Eq(v.clone()),
                    })
                    .collect(),
                window: until.map_or(Window::Always, Window::Until),
            };
            let problems = live.check_hold(&probe).await;
            if !problems.is_empty() {
                return Err(CliError::usage(problems.join("\n")));
            }
            let scope = crate::model::Scope::Table(table.clone());
            let new = crate::audit::NewHold {
                store,
                scope: &scope,
                selector: &selector,
                reason: reason.trim(),
                by: &by,
                until,
            };
            let id = db.add_hold(&new, key.as_deref()).await?;
            outln!("added hold-{id} on {store}.{table}: records matching it are kept until it is released{}",
                until
                    .map(|u| format!(" or until {}", u.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
                    .unwrap_or_default());
            Ok(Code::Ok)
        }
        Action::Release { id, reason, by } => {
            let n: i64 = id
                .strip_prefix("hold-")
                .unwrap_or(id)
                .parse()
                .map_err(|_| {
                    CliError::usage(format!(
                        "`{}` is not a hold id; expected e.g. hold-7",
                        crate::util::shorten(id)
                    ))
                })?;
            if reason.trim().is_empty() {
                return Err(CliError::usage(
                    "`--reason` is empty: say why the hold ends",
                ));
            }
            db.release_hold(n, reason.trim(), &who(by))
                .await
                .map_err(|e| CliError::usage(e.to_string()))?;
            outln!("released hold-{n}; the release is recorded in the audit trail");
            Ok(Code::Ok)
        }
        Action::List { all, output } => {
            let now = Utc::now();
            let runtime = db.holds().await?;
            let shown: Vec<_> = runtime
                .iter()
                .filter(|h| *all || h.status(now) == "active")
                .collect();
            if output.format == Format::Json {
                let json = serde_json::json!({
                    "runtime": shown.iter().map(|h| {
                        let mut v = serde_json::to_value(h).unwrap_or_default();
                        v["name"] = format!("hold-{}", h.id).into();
                        v["status"] = h.status(now).into();
                        v
                    }).collect::<Vec<_>>(),
                    "declared": config.holds,
                });
                output.emit(&(serde_json::to_string_pretty(&json)? + "\n"))?;
                return Ok(Code::Ok);
            }
            let mut s = String::new();
            let _ = writeln!(s, "runtime holds{}:", if *all { "" } else { " in force" });
            if shown.is_empty() {
                let _ = writeln!(s, "  (none)");
            }
            for h in shown {
                let sel: Vec<String> = h
                    .selector
                    .iter()
                    .map(|(c, v)| format!("{c}={}", value_text(v)))
                    .collect();
                let _ =
                    writeln!(
                    s,
                    "  hold-{:<4} {:<8} {} {}  until {}  by {} at {}\n             reason: {}{}",
                    h.id,
                    h.status(now),
                    match &h.prefix {
                        Some(p) => format!("{}:{p}", h.store),
                        None => format!("{}.{}", h.store, h.table),
                    },
                    if h.prefix.is_some() {
                        String::new()
                    } else if sel.is_empty() {
                        "(whole table)".to_string()
                    } else {
                        sel.join(" ")
                    },
                    h.until.as_deref().unwrap_or("(no end date: until released)"),
                    h.created_by,
                    h.created_at,
                    h.reason,
                    h.released
                        .as_ref()
                        .map(|(at, by, why)| format!(
                            "\n             released by {by} at {at}: {why}"
                        ))
                        .unwrap_or_default()
                );
            }
            let _ = writeln!(s, "declared holds (LegalHold documents):");
            if config.holds.is_empty() {
                let _ = writeln!(s, "  (none)");
            }
            for h in &config.holds {
                let window = match &h.window {
                    Window::Always => "until removed".to_string(),
                    Window::Until(t) if *t <= now => format!("EXPIRED at {}", t.to_rfc3339()),
                    Window::Until(t) => format!("until {}", t.to_rfc3339()),
                    Window::Clock { keep, .. } => format!("{keep} from each record's clock"),
                };
                let matches: Vec<String> = h
                    .selector
                    .iter()
                    .map(|c| match &c.test {
                        Test::Eq(v) => format!("{}={}", c.column, value_text(v)),
                        Test::In(vs) => format!(
                            "{} in [{}]",
                            c.column,
                            vs.iter().map(value_text).collect::<Vec<_>>().join(", ")
                        ),
                        Test::IsNull(true) => format!("{} is null", c.column),
                        Test::IsNull(false) => format!("{} is not null", c.column),
                    })
                    .collect();
                let scope = if matches!(h.scope, crate::model::Scope::Prefix(_)) {
                    String::new()
                } else if matches.is_empty() {
                    "(whole table)".to_string()
                } else {
                    matches.join(" ")
                };
                let _ = writeln!(
                    s,
                    "  {:<24} {} {scope}  {window}\n             basis: {}",
                    h.name,
                    h.target(),
                    h.basis
                );
            }
            output.emit(&s)?;
            Ok(Code::Ok)
        }
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Text(t) => t.clone(),
    }
}
