//! `lethe plan`: the dry run.

use super::{Cli, Code, Output, Selection};
use crate::plan;
use crate::report;
use chrono::Utc;
use std::path::PathBuf;

/// Arguments of `lethe plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    selection: Selection,
    #[command(flatten)]
    output: Output,
    /// Where to write the plan file (JSON). Default: var/plans/<plan id>.json
    #[arg(long, value_name = "FILE")]
    plan_file: Option<PathBuf>,
    /// Also show, in the text report, the batch statement each policy runs.
    #[arg(long)]
    sql: bool,
}

impl Args {
    /// The arguments `lethe demo` plans with: every policy, now, text to stdout.
    pub fn for_demo() -> Args {
        Args {
            selection: Selection {
                policies: Vec::new(),
                as_of: None,
            },
            output: Output {
                format: report::Format::Text,
                out: None,
            },
            plan_file: None,
            sql: false,
        }
    }
}

/// Runs `lethe plan`.
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    let as_of = args.selection.as_of.unwrap_or_else(Utc::now);
    let prepared = super::prepare(cli, &args.selection.policies, true, None, as_of).await?;
    let db = &prepared.db;
    let mut plan = plan::make_plan(&prepared.work(), prepared.as_of, &prepared.config.hash).await?;
    plan::forecast(&prepared.work(), &mut plan).await?;
    let residency = crate::residency::check_live(
        &prepared.config.settings.stores,
        &prepared.config.settings.residency,
        Utc::now(),
    )
    .await;
    crate::residency::alert(&residency, &prepared.config.settings.residency, "plan").await;
    let violations = residency.violations;
    plan.residency = Some(residency);
    let file = args
        .plan_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("var/plans/{}.json", plan.plan_id)));
    super::write_file(
        &file,
        &report::plan(&plan, report::Format::Json, None, true)?,
    )?;
    crate::engine::record_plan(db, &plan, "plan").await?;
    let shown = file.display().to_string();
    // Where the plan file went, also when the report goes elsewhere.
    if args.output.format != report::Format::Text || args.output.out.is_some() {
        eprintln!("plan written to {shown}");
    }
    if plan.as_of > Utc::now() {
        eprintln!(
            "note: this plan looks ahead to {}; `lethe apply --plan` refuses it before then",
            plan.as_of_text()
        );
    }
    args.output.emit(&report::plan(
        &plan,
        args.output.format,
        Some(&shown),
        args.sql,
    )?)?;
    Ok(if violations > 0 {
        Code::Residency
    } else {
        Code::Ok
    })
}
