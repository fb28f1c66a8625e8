//! `lethe audit`: list runs, verify the chain, export events.

use super::{Cli, Code, Output};
use crate::report::Format;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

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
    /// Write the events, with their chain hashes, as JSON Lines (the default) or CSV.
    Export(Export),
}

/// Arguments of `lethe audit export`.
#[derive(Debug, clap::Args)]
struct Export {
    /// CSV with a header row (`seq,run_id,at,kind,payload,prev_hash,hash`; the payload as its
    /// JSON text) instead of JSON Lines.
    #[arg(long)]
    csv: bool,
    /// Only events written at or after this date (from its start, UTC) or instant.
    #[arg(long, value_name = "DATE", value_parser = crate::model::parse_since)]
    since: Option<DateTime<Utc>>,
    /// Only events written before the end of this date (UTC), or before this instant.
    #[arg(long, value_name = "DATE", value_parser = crate::model::parse_until)]
    until: Option<DateTime<Utc>>,
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
        Action::Export(export) => {
            write_export(&db, export, args.output.out.as_deref()).await?;
            Ok(Code::Ok)
        }
    }
}

/// Where an export goes: CSV records or JSON lines.
enum Sink {
    Csv(Box<csv::Writer<std::io::BufWriter<Box<dyn std::io::Write>>>>),
    Lines(std::io::BufWriter<Box<dyn std::io::Write>>),
}

/// Streams the trail page by page (memory does not grow with its length) to `out` or stdout.
async fn write_export(
    db: &crate::audit::StateDb,
    export: &Export,
    out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let sink: Box<dyn std::io::Write> = match out {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    anyhow::anyhow!("cannot create folder `{}`: {e}", parent.display())
                })?;
            }
            let file = std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", path.display()))?;
            Box::new(file)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let sink = std::io::BufWriter::new(sink);
    let mut sink = if export.csv {
        Sink::Csv(Box::new(csv::Writer::from_writer(sink)))
    } else {
        Sink::Lines(sink)
    };
    let written = async {
        if let Sink::Csv(w) = &mut sink {
            w.write_record([
                "seq",
                "run_id",
                "at",
                "kind",
                "payload",
                "prev_hash",
                "hash",
            ])?;
        }
        db.scan(|e| {
            let at = DateTime::parse_from_rfc3339(&e.at).map(|t| t.with_timezone(&Utc));
            let within = |t: DateTime<Utc>| {
                export.since.is_none_or(|s| t >= s) && export.until.is_none_or(|u| t < u)
            };
            // An event whose time cannot be read is never left out of a filtered export.
            if at.is_ok_and(|t| !within(t)) {
                return Ok(());
            }
            match &mut sink {
                Sink::Csv(w) => {
                    let seq = e.seq.to_string();
                    w.write_record([
                        seq.as_str(),
                        &e.run_id,
                        &e.at,
                        &e.kind,
                        &e.payload,
                        &e.prev_hash,
                        &e.hash,
                    ])?;
                }
                Sink::Lines(w) => {
                    serde_json::to_writer(&mut *w, &crate::audit::Event::from(e.clone()))?;
                    w.write_all(b"\n")?;
                }
            }
            anyhow::Ok(())
        })
        .await?;
        match &mut sink {
            Sink::Csv(w) => w.flush()?,
            Sink::Lines(w) => w.flush()?,
        }
        anyhow::Ok(())
    }
    .await;
    match written {
        // A closed pipe (`lethe audit export | head`) ends the output quietly.
        Err(e)
            if out.is_none()
                && e.downcast_ref::<std::io::Error>()
                    .or_else(|| {
                        e.downcast_ref::<csv::Error>().and_then(|c| match c.kind() {
                            csv::ErrorKind::Io(io) => Some(io),
                            _ => None,
                        })
                    })
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}
