//! `lethe audit`: list runs, verify the chain, export events.

use super::{Cli, Code, Output};
use crate::report::Format;
use clap::Subcommand;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Arguments of `lethe audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// How many recent runs to list.
    #[arg(long, default_value_t = 20)]
    limit: i64,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List recent runs (the default).
    List,
    /// Recompute the hash chain; exit 1 if any event was altered, removed or reordered.
    Verify,
    /// Write every event as JSON lines.
    Export,
}

/// Runs `lethe audit`.
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    let config = crate::config::load(&cli.config, &crate::config::process_env())?;
    let db = super::open_state(&config).await?;
    match args.action.as_ref().unwrap_or(&Action::List) {
        Action::List => {
            let events = db.run_events(args.limit).await?;
            let mut runs: BTreeMap<
                String,
                (i64, serde_json::Value, Option<serde_json::Value>, String),
            > = BTreeMap::new();
            for e in events {
                if e.kind == "run.started" {
                    runs.insert(e.run_id.clone(), (e.seq, e.payload, None, e.at));
                } else if let Some(r) = runs.get_mut(&e.run_id) {
                    r.2 = Some(e.payload);
                }
            }
            let mut list: Vec<_> = runs.into_iter().collect();
            list.sort_by_key(|(_, r)| r.0);
            if args.output.format == Format::Json {
                let out: Vec<_> = list
                    .iter()
                    .map(|(id, (_, start, end, at))| json!({"run_id": id, "started_at": at, "start": start, "end": end}))
                    .collect();
                args.output
                    .emit(&(serde_json::to_string_pretty(&out)? + "\n"))?;
            } else {
                let mut s = String::new();
                let _ = writeln!(
                    s,
                    "{:<36}  {:<24}  {:<7}  {:<11}  summary",
                    "run", "started", "command", "status"
                );
                for (id, (_, start, end, at)) in &list {
                    let status = end
                        .as_ref()
                        .and_then(|e| e["status"].as_str())
                        .unwrap_or("unfinished");
                    let cmd = start["command"].as_str().unwrap_or("?");
                    let enforcing = start["dry_run"] == serde_json::Value::Bool(false);
                    let summary = match end {
                        Some(e) if enforcing => format!(
                            "deleted {} anonymized {} failed {}",
                            e["deleted"].as_u64().unwrap_or(0),
                            e["anonymized"].as_u64().unwrap_or(0),
                            e["failed"].as_u64().unwrap_or(0)
                        ),
                        Some(e) => format!("eligible {}", e["eligible"].as_u64().unwrap_or(0)),
                        None => String::new(),
                    };
                    let _ = writeln!(s, "{id:<36}  {at:<24}  {cmd:<7}  {status:<11}  {summary}");
                }
                args.output.emit(&s)?;
            }
            Ok(Code::Ok)
        }
        Action::Verify => {
            let v = db.verify().await?;
            if args.output.format == Format::Json {
                args.output
                    .emit(&(serde_json::to_string_pretty(&v)? + "\n"))?;
            } else {
                let s = match &v.broken {
                    None => format!("audit trail intact: {} events, head {}\n", v.events, v.head),
                    Some((seq, why)) => format!("audit trail BROKEN at event {seq}: {why}\n"),
                };
                args.output.emit(&s)?;
            }
            Ok(if v.broken.is_none() {
                Code::Ok
            } else {
                Code::Failure
            })
        }
        Action::Export => {
            let mut s = String::new();
            let mut after = 0;
            loop {
                let page = db.events(after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for e in &page {
                    s.push_str(&serde_json::to_string(e)?);
                    s.push('\n');
                }
            }
            args.output.emit(&s)?;
            Ok(Code::Ok)
        }
    }
}
