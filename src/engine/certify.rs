//! Issuing deletion certificates: scan, sign, write the JSON and HTML files, and record the
//! issue in the audit trail. `lethe certificate` issues one on request; the daemon issues one
//! per subject once its due records are gone.

use super::{EngineError, Prepared};
use crate::audit::AuditEvent;
use crate::certificate::{self, Certificate, CertificateError, Signer, Subject};
use crate::model::{Clock, Ident, Keep, ObjectClock};
use crate::plan::Item;
use crate::store::{Query, SqlStore};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A certificate written to files.
pub struct Issued {
    /// The certificate.
    pub certificate: Certificate,
    /// Its signature.
    pub signature: certificate::Signature,
    /// The signed JSON file.
    pub json: PathBuf,
    /// The HTML page.
    pub html: PathBuf,
}

/// `certificate.issued`: a deletion certificate was signed and written.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateIssued {
    /// The certificate's id (also the event's run id).
    pub certificate_id: String,
    /// The subject's key, e.g. `customer_id`.
    pub subject_key: String,
    /// The subject's value, only as a keyed HMAC (left out without a key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_hmac: Option<String>,
    /// Whether nothing but held records remained.
    pub complete: bool,
    /// Policies that reach the subject.
    pub policies: usize,
    /// The chain head the certificate names.
    pub chain_head: String,
    /// SHA-256 of the signed JSON file.
    pub sha256: String,
    /// Who asked: `cli` or `daemon`.
    pub by: String,
}

impl AuditEvent for CertificateIssued {
    const KIND: &'static str = "certificate.issued";
}

/// The file name (without extension) of a subject's certificate.
pub fn certificate_stem(subject: &Subject) -> String {
    format!("certificate-{}", subject.file_part())
}

/// Scans `subject` now, signs, writes `<dir>/certificate-<key>-<value>.json` and `.html`, and
/// records the issue.
pub async fn issue(
    prepared: &Prepared,
    subject: &Subject,
    signer: &Signer,
    dir: &Path,
    by: &str,
) -> Result<Issued, EngineError> {
    let trail = certificate::Trail::read(&prepared.db)
        .await
        .map_err(unfit)?;
    let cert = certificate::scan(
        &prepared.work(),
        &trail,
        subject,
        &prepared.config.hash,
        prepared.as_of,
    )
    .await
    .map_err(unfit)?;
    write(prepared, cert, signer, dir, by).await
}

async fn write(
    prepared: &Prepared,
    cert: Certificate,
    signer: &Signer,
    dir: &Path,
    by: &str,
) -> Result<Issued, EngineError> {
    let signed = certificate::sign(&cert, signer).map_err(unfit)?;
    let json_text = signed.to_json().map_err(unfit)?;
    let html_text = crate::report::certificate_html(&cert, &signed.signature);
    let stem = certificate_stem(&cert.subject);
    let json = dir.join(format!("{stem}.json"));
    let html = dir.join(format!("{stem}.html"));
    // The trail first: a file that exists was issued, and `verify` finds its event by the
    // file's hash. A crash after the event leaves no file; the next pass issues again.
    let key = (prepared.config.settings.hmac_key.as_ref()).map(|k| k.expose().as_bytes().to_vec());
    let event = CertificateIssued {
        certificate_id: cert.certificate_id.clone(),
        subject_key: cert.subject.key.clone(),
        subject_hmac: key.map(|k| crate::anonymize::hmac(&k, &cert.subject.value)),
        complete: cert.complete,
        policies: cert.policies.len(),
        chain_head: cert.audit.head.clone(),
        sha256: crate::util::sha256_hex(json_text.as_bytes()),
        by: by.to_string(),
    };
    let payload = event.payload()?;
    prepared
        .db
        .append(&cert.certificate_id, CertificateIssued::KIND, &payload)
        .await?;
    let write = |path: &Path, text: &str| {
        std::fs::create_dir_all(dir)
            .and_then(|_| write_new(path, text))
            .map_err(|e| EngineError::unfit(format!("cannot write `{}`: {e}", path.display())))
    };
    write(&html, &html_text)?;
    write(&json, &json_text)?;
    Ok(Issued {
        certificate: cert,
        signature: signed.signature,
        json,
        html,
    })
}

/// Writes a file through a temporary name, so a reader never sees half of it.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn unfit(e: impl Into<CertificateError>) -> EngineError {
    match e.into() {
        CertificateError::Store(s) => EngineError::Store(s),
        CertificateError::Audit(a) => EngineError::Audit(a),
        CertificateError::Reach(crate::certificate::ReachError::Store(s)) => EngineError::Store(s),
        other => EngineError::unfit(other.to_string()),
    }
}

/// One contract clock: the related table, its join column, its end column, and the keep.
struct ContractClock<'a> {
    store: &'a SqlStore,
    key: String,
    table: &'a Ident,
    related: &'a Ident,
    end: &'a Ident,
    keep: Keep,
}

fn contract_clocks(prepared: &Prepared) -> Result<Vec<ContractClock<'_>>, EngineError> {
    let work = prepared.work();
    let mut out = Vec::new();
    for item in &prepared.items {
        match item {
            Item::Table(t) => {
                let Clock::Join { table, on, column } = &t.policy.clock else {
                    continue;
                };
                for (_, related) in on {
                    out.push(ContractClock {
                        store: work.sql(&t.policy.store)?,
                        key: related.name().to_string(),
                        table,
                        related,
                        end: column,
                        keep: t.policy.keep,
                    });
                }
            }
            Item::Objects(t) => {
                let (ObjectClock::Contract { on, .. }, Some(link)) = (&t.policy.clock, &t.link)
                else {
                    continue;
                };
                out.push(ContractClock {
                    store: work.sql(&link.store)?,
                    key: on.0.clone(),
                    table: &link.table,
                    related: &link.on,
                    end: &link.column,
                    keep: t.policy.keep,
                });
            }
        }
    }
    Ok(out)
}

/// Subjects whose certificate the daemon should consider: for every contract clock, the
/// values whose related rows have all ended at least the policy's keep before `as_of` (the
/// earliest instant any of their records can be due), without a certificate in `dir` yet.
/// At most `limit`, in value order per clock.
pub async fn due_subjects(
    prepared: &Prepared,
    dir: &Path,
    limit: usize,
    skip: &BTreeSet<Subject>,
) -> Result<(Vec<Subject>, usize), EngineError> {
    let mut out: BTreeSet<(String, String)> = BTreeSet::new();
    let mut unnamed = 0;
    for c in contract_clocks(prepared)? {
        if out.len() >= limit {
            break;
        }
        let d = c.store.dialect;
        let end = d.col(c.table, c.end);
        let col = d.col(c.table, c.related);
        let mut q = Query::new(d);
        q.push(&format!(
            "SELECT {} FROM {} WHERE {col} IS NOT NULL GROUP BY {col} HAVING COUNT(*) = COUNT(CASE WHEN {} THEN NULL ELSE 1 END) AND MAX({}) < ",
            d.as_text(&col),
            d.quote(c.table),
            d.unknown_time(&end),
            d.time_expr(&end)
        ));
        q.bind(d.time_param(c.keep.cutoff(prepared.as_of)));
        q.push(&format!(" ORDER BY {col}"));
        for row in c.store.fetch_texts(&q).await? {
            let Some(Some(value)) = row.into_iter().next() else {
                continue;
            };
            let Ok(subject) = format!("{}={value}", c.key).parse::<Subject>() else {
                unnamed += 1;
                continue;
            };
            if skip.contains(&subject) || certified(dir, &subject) {
                continue;
            }
            out.insert((subject.key, subject.value));
            if out.len() >= limit {
                break;
            }
        }
    }
    let subjects = (out.into_iter())
        .map(|(key, value)| Subject { key, value })
        .collect();
    Ok((subjects, unnamed))
}

/// What the daemon did with certificates after a run.
#[derive(Debug, Default)]
pub struct Certified {
    /// Certificates written: their ids and subject keys (never a value, for the log).
    pub issued: Vec<(String, String)>,
    /// Subjects scanned whose records are not all gone yet (a later pass looks again).
    pub pending: Vec<Subject>,
    /// Subjects whose scan failed, with why (the value left out); a later pass tries again.
    pub failed: Vec<(Subject, String)>,
    /// Related values that cannot be a subject (spaces around them, a `/`, too long): no
    /// certificate can name them.
    pub unnamed: usize,
}

/// The daemon's pass: for each candidate subject, scan; when the certificate is complete,
/// sign and write it (once: its file marks the subject as done).
pub async fn certify_due(
    prepared: &Prepared,
    signer: &Signer,
    dir: &Path,
    limit: usize,
    skip: &BTreeSet<Subject>,
) -> Result<Certified, EngineError> {
    let (subjects, unnamed) = due_subjects(prepared, dir, limit, skip).await?;
    let mut done = Certified {
        unnamed,
        ..Certified::default()
    };
    if subjects.is_empty() {
        return Ok(done);
    }
    let trail = certificate::Trail::read(&prepared.db)
        .await
        .map_err(unfit)?;
    for subject in subjects {
        // One subject that cannot be scanned does not hold up the others.
        let scanned = certificate::scan(
            &prepared.work(),
            &trail,
            &subject,
            &prepared.config.hash,
            prepared.as_of,
        )
        .await;
        let cert = match scanned {
            Ok(c) => c,
            Err(e) => {
                let why = e.to_string().replace(&subject.value, "…");
                done.failed.push((subject, why));
                continue;
            }
        };
        if !cert.complete {
            done.pending.push(subject);
            continue;
        }
        let (id, key) = (cert.certificate_id.clone(), cert.subject.key.clone());
        write(prepared, cert, signer, dir, "daemon").await?;
        done.issued.push((id, key));
    }
    Ok(done)
}

/// Whether `dir` holds a complete certificate of `subject` (an incomplete one, say from
/// `lethe certificate`, does not count: the subject is looked at again).
fn certified(dir: &Path, subject: &Subject) -> bool {
    let path = dir.join(format!("{}.json", certificate_stem(subject)));
    certificate::SignedCertificate::read(&path)
        .is_ok_and(|(signed, _)| signed.certificate["complete"] == serde_json::Value::Bool(true))
}
