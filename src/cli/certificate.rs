//! `lethe certificate`: issue a signed deletion certificate for one subject, verify one, or
//! print the public key that verifies them.

use super::{Cli, CliError, Code, Output};
use crate::audit::AuditEvent;
use crate::certificate::{self, SignedCertificate, Signer, Subject};
use crate::report::Format;
use chrono::Utc;
use clap::Subcommand;
use std::path::PathBuf;

const ISSUE_HELP: &str = "\
A subject is the join key of the contract-end policies and its value: `customer_id=42` reaches
every table policy whose contract clock joins on a related `customer_id` column, and every
object policy whose key template has a `{customer_id}` variable. Each of them is counted again
now, on the live stores; the certificate names the runs that deleted and the audit chain head,
and is signed with `signing_key_file` from lethe.yaml.

Examples:
  lethe certificate --subject customer_id=42
  lethe certificate --subject customer_id=42 --dir out/certificates --format json
  lethe certificate verify certificates/certificate-customer_id-42.json
  lethe certificate public-key > lethe-public.pem     # hand this to whoever verifies";

/// Arguments of `lethe certificate`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, after_help = ISSUE_HELP)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Whose records: `KEY=VALUE`, e.g. `customer_id=42`.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_subject)]
    subject: Option<Subject>,
    /// Folder the certificate's JSON and HTML files are written to.
    #[arg(long, value_name = "DIR", default_value = "certificates")]
    dir: PathBuf,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Check a certificate file: its signature against the trusted public key, and that the
    /// audit chain head it names is in this installation's intact audit trail. Exit 1 when
    /// either fails.
    Verify(Verify),
    /// Print the public key (PEM) that verifies this installation's certificates.
    PublicKey,
}

/// Arguments of `lethe certificate verify`.
#[derive(Debug, clap::Args)]
struct Verify {
    /// The certificate's JSON file.
    file: PathBuf,
    /// The signer's public key (PEM). Default: derived from `signing_key_file` in lethe.yaml.
    #[arg(long, value_name = "PEM")]
    public_key: Option<PathBuf>,
    /// Check the signature only, not the audit trail (for a verifier without access to it).
    #[arg(long)]
    signature_only: bool,
}

fn parse_subject(s: &str) -> Result<Subject, String> {
    s.parse()
}

/// Runs `lethe certificate`.
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    match &args.action {
        Some(Action::Verify(v)) => verify(cli, v, &args.output).await,
        Some(Action::PublicKey) => {
            let signer = signer(cli)?;
            args.output.emit(&signer.public_pem()?)?;
            Ok(Code::Ok)
        }
        None => {
            let Some(subject) = &args.subject else {
                return Err(CliError::usage(
                    "`lethe certificate` needs `--subject KEY=VALUE` (e.g. `--subject customer_id=42`), or `verify FILE`, or `public-key`",
                ));
            };
            issue(cli, args, subject).await
        }
    }
}

fn signer(cli: &Cli) -> anyhow::Result<Signer> {
    let config = crate::config::load(&cli.config, &crate::config::process_env())?;
    signer_of(&config)
}

fn signer_of(config: &crate::config::Config) -> anyhow::Result<Signer> {
    let Some(file) = &config.settings.signing_key_file else {
        return Err(CliError::usage(
            "no `signing_key_file` in lethe.yaml: certificates are signed with an Ed25519 key; make one with `openssl genpkey -algorithm ed25519 -out signing.pem` and name it there",
        ));
    };
    Signer::from_file(file).map_err(|e| CliError::usage(e.to_string()))
}

async fn issue(cli: &Cli, args: &Args, subject: &Subject) -> anyhow::Result<Code> {
    let prepared = super::prepare(cli, &[], false, None, Utc::now()).await?;
    let signer = signer_of(&prepared.config)?;
    let issued = crate::engine::issue(&prepared, subject, &signer, &args.dir, "cli").await?;
    let text = match args.output.format {
        Format::Json => std::fs::read_to_string(&issued.json)?,
        Format::Html => std::fs::read_to_string(&issued.html)?,
        Format::Text | Format::Markdown => {
            crate::report::certificate_text(&issued.certificate, &issued.signature)
                + &format!(
                    "written: {} and {}\n",
                    issued.json.display(),
                    issued.html.display()
                )
        }
    };
    args.output.emit(&text)?;
    Ok(Code::Ok)
}

async fn verify(cli: &Cli, v: &Verify, output: &Output) -> anyhow::Result<Code> {
    let (signed, text) =
        SignedCertificate::read(&v.file).map_err(|e| CliError::usage(e.to_string()))?;
    let config = match (&v.public_key, v.signature_only) {
        (Some(_), true) => None,
        _ => Some(crate::config::load(
            &cli.config,
            &crate::config::process_env(),
        )?),
    };
    let trusted = match (&v.public_key, &config) {
        (Some(p), _) => certificate::read_public(p).map_err(|e| CliError::usage(e.to_string()))?,
        (None, Some(c)) => signer_of(c)?.verifying(),
        (None, None) => {
            return Err(CliError::usage(
                "no key to verify against: give `--public-key PEM`",
            ))
        }
    };
    let invalid = |why: String| -> anyhow::Result<Code> {
        output.emit(&format!(
            "certificate {}: INVALID: {why}\n",
            v.file.display()
        ))?;
        Ok(Code::Failure)
    };
    let cert = match signed.verify(&trusted) {
        Ok(c) => c,
        Err(e) => return invalid(e.to_string()),
    };
    // Parsing forgives what a reader would not: a key given twice, a field added, spaces.
    if !signed.is_as_written(&text) {
        return invalid(
            "the file is not as lethe wrote it (a key twice, a field added or another edit): it was changed after signing".into(),
        );
    }
    let mut lines = vec![format!(
        "signature: valid ({} key {})",
        signed.signature.algorithm,
        certificate::short_key(&signed.signature.public_key)
    )];
    let mut ok = true;
    if let Some(config) = config.filter(|_| !v.signature_only) {
        let db = super::open_state(&config).await?;
        let (trail_ok, said) =
            in_trail(&db, &cert, &crate::util::sha256_hex(text.as_bytes())).await?;
        ok = trail_ok;
        lines.extend(said);
    }
    let verdict = if ok { "valid" } else { "INVALID" };
    output.emit(&format!(
        "certificate {} ({}, {}): {verdict}\n  {}\n  {}\n",
        v.file.display(),
        cert.subject,
        cert.issued_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        crate::report::verdict(&cert),
        lines.join("\n  ")
    ))?;
    Ok(if ok { Code::Ok } else { Code::Failure })
}

/// Checks the trail: intact, holding the certificate's chain head as the event it counted,
/// and the `certificate.issued` event of exactly this file.
async fn in_trail(
    db: &crate::audit::StateDb,
    cert: &certificate::Certificate,
    sha256: &str,
) -> anyhow::Result<(bool, Vec<String>)> {
    let chain = db.verify().await?;
    let (mut head_at, mut issued_at) = (None, None);
    db.scan(|e| {
        if e.hash == cert.audit.head {
            head_at = Some(e.seq);
        }
        if e.kind == crate::engine::CertificateIssued::KIND {
            let j: serde_json::Value = serde_json::from_str(&e.payload).unwrap_or_default();
            if j["certificate_id"] == cert.certificate_id.as_str() && j["sha256"] == sha256 {
                issued_at = Some(e.seq);
            }
        }
        anyhow::Ok(())
    })
    .await?;
    // A certificate made on an empty trail names the chain's start.
    if cert.audit.events == 0 && cert.audit.head == crate::audit::GENESIS {
        head_at = Some(0);
    }
    let head = certificate::short_key(&cert.audit.head);
    let mut lines = Vec::new();
    let mut ok = true;
    match (chain.broken, head_at) {
        (Some((seq, why)), _) => {
            ok = false;
            lines.push(format!("audit trail: BROKEN at event {seq}: {why}"));
        }
        (None, Some(seq)) if seq as u64 == cert.audit.events => lines.push(format!(
            "audit trail: chain head {head} is event {seq} of {} in the intact trail",
            chain.events
        )),
        (None, Some(seq)) => {
            ok = false;
            lines.push(format!(
                "audit trail: chain head {head} is event {seq}, but the certificate counts {} events",
                cert.audit.events
            ));
        }
        (None, None) => {
            ok = false;
            lines.push(format!(
                "audit trail: chain head {head} is NOT in this audit trail ({} events)",
                chain.events
            ));
        }
    }
    match issued_at {
        Some(seq) => lines.push(format!("issued: event {seq} records this file's SHA-256")),
        None => {
            ok = false;
            lines.push(
                "issued: NO `certificate.issued` event in this trail records this file".into(),
            );
        }
    }
    Ok((ok, lines))
}
