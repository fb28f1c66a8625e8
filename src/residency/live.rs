//! The live check, above the stores: an AWS bucket's location and its replicas read from S3,
//! and alerts for violations (error log, webhook).

use super::judge::{check, judge, Declared, Report, StoreResidency, Subject, Verdict};
use super::rules::Rules;
use crate::model::{S3Spec, StoreSpec};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

/// Judges every store like [`check`], but an S3 bucket on AWS is located by asking S3
/// (GetBucketLocation), cross-checked against its declared `region`, and each destination of its
/// replication rules is judged as well. A location that cannot be read is a violation.
pub async fn check_live(
    specs: &BTreeMap<String, StoreSpec>,
    rules: &Rules,
    now: DateTime<Utc>,
) -> Report {
    let mut report = check(specs, rules, now);
    let today = now.date_naive();
    for (name, s) in specs {
        let StoreSpec::S3(S3Spec {
            bucket,
            region,
            endpoint,
            path_style,
            aws: true,
            country,
        }) = s
        else {
            continue;
        };
        let store = match crate::store::object::S3Store::connect(
            name,
            bucket,
            region.as_deref(),
            endpoint.as_deref(),
            *path_style,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                replace(
                    &mut report,
                    name,
                    vec![unreadable(name, Subject::S3, &e.to_string())],
                );
                continue;
            }
        };
        let declared = (region.as_deref(), country.as_deref());
        let mut found = vec![judge_bucket(&store, name, bucket, declared, rules, today).await];
        // A bucket that cannot be located is one violation; its replicas are not asked for.
        if found[0].region.is_none() {
            replace(&mut report, name, found);
            continue;
        }
        match store.replication_destinations().await {
            Ok(replicas) => {
                for r in replicas {
                    let mut j = judge_bucket(&store, name, &r, (None, None), rules, today).await;
                    j.kind = Subject::S3Replica;
                    j.reason = format!("replica bucket `{r}`: {}", j.reason);
                    found.push(j);
                }
            }
            Err(e) => found.push(unreadable(
                name,
                Subject::S3Replica,
                &format!(
                    "cannot read the replication rules, so where the copies are is unknown: {e}"
                ),
            )),
        }
        replace(&mut report, name, found);
    }
    report.violations = report
        .stores
        .iter()
        .filter(|s| s.verdict != Verdict::Ok)
        .count();
    report
}

fn unreadable(store: &str, kind: Subject, reason: &str) -> StoreResidency {
    StoreResidency {
        store: store.to_string(),
        kind,
        region: None,
        country: None,
        source: "S3".into(),
        class: None,
        verdict: Verdict::Violation,
        reason: reason.to_string(),
    }
}

/// Replaces the entries of one store in a report, in place.
fn replace(report: &mut Report, store: &str, with: Vec<StoreResidency>) {
    let at = (report.stores.iter())
        .position(|s| s.store == store)
        .unwrap_or(report.stores.len());
    report.stores.retain(|s| s.store != store);
    let at = at.min(report.stores.len());
    report.stores.splice(at..at, with);
}

/// Judges one bucket by its location; `declared` is the store's (region, country).
async fn judge_bucket(
    s3: &crate::store::object::S3Store,
    store: &str,
    bucket: &str,
    declared: (Option<&str>, Option<&str>),
    rules: &Rules,
    today: NaiveDate,
) -> StoreResidency {
    let actual = match s3.bucket_region(bucket).await {
        Ok(r) => r,
        Err(e) => {
            return unreadable(
                store,
                Subject::S3,
                &format!("cannot read where the bucket is: {e}"),
            )
        }
    };
    if let Some(d) = declared.0.filter(|d| *d != actual) {
        let mut out = unreadable(
            store,
            Subject::S3,
            &format!("declared region `{d}` contradicts the bucket's location `{actual}` (GetBucketLocation); correct `region`"),
        );
        out.region = Some(actual);
        return out;
    }
    let mut out = judge(
        &Declared {
            store,
            kind: Subject::S3,
            url: None,
            region: Some(&actual),
            provider: Some("aws"),
            country: declared.1,
        },
        rules,
        today,
    );
    if out.region.is_some() {
        out.source = "bucket location (aws)".into();
    }
    out
}

/// Raises the alarm for every violation: an error log line at once, and the webhook if one is
/// configured. Never fails the caller: an alert that cannot be delivered is logged.
pub async fn alert(report: &Report, rules: &Rules, context: &str) {
    if report.violations == 0 {
        return;
    }
    for s in report.violating() {
        tracing::error!(store = %s.store, country = ?s.country, reason = %s.reason, context, "residency violation");
    }
    let Some(url) = rules.webhook.as_ref().map(|w| w.expose().to_string()) else {
        return;
    };
    let body = serde_json::json!({
        "event": "residency.violation",
        "context": context,
        "host": crate::util::host_name(),
        "checked_at": report.checked_at,
        "violations": report.violating().map(|s| serde_json::json!({
            "store": s.store, "region": s.region, "country": s.country, "reason": s.reason,
        })).collect::<Vec<_>>(),
    });
    let sent = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build()
            .into();
        agent.post(&url).send_json(&body).map(|_| ())
    })
    .await;
    match sent {
        Ok(Ok(())) => tracing::info!("residency alert sent to the webhook"),
        Ok(Err(e)) => {
            tracing::error!(error = %sanitize(&e.to_string()), "cannot send the residency alert to the webhook")
        }
        Err(e) => tracing::error!(error = %e, "cannot send the residency alert to the webhook"),
    }
}

/// Error texts of the HTTP client may repeat the URL, which may carry a token.
fn sanitize(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            if w.contains("://") {
                "<webhook url>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
