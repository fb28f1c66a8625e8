//! Object policies: which files of a bucket or folder become due, and when.

use super::{Guard, Ident, Keep, Mode};
use serde::Serialize;

/// A retention policy over the objects of an object store (an S3 bucket or a folder).
/// Its action is always `delete`: every version and delete marker of a due key goes.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectPolicy {
    /// Unique policy name, used in reports and `--policy`.
    pub name: String,
    /// A stable hash of the validated policy (see [`ObjectPolicy::compute_hash`]), set when the
    /// configuration is loaded and recorded in plans and the audit trail.
    #[serde(skip)]
    pub hash: String,
    /// Why the data is kept at all (the purpose it serves), for the DPO.
    pub purpose: Option<String>,
    /// The agreement clause or legal text the policy implements.
    pub clause: Option<String>,
    /// The object store (from `lethe.yaml`).
    pub store: String,
    /// Only keys under this prefix are listed (the template's literal head when a template is
    /// given).
    pub prefix: String,
    /// Links keys to a SQL record, e.g. `exports/{customer_id}/`.
    pub template: Option<KeyTemplate>,
    /// When the retention period of an object starts.
    pub clock: ObjectClock,
    /// How long an object is kept after its clock.
    pub keep: Keep,
    /// Cron schedule for the daemon, when set.
    pub schedule: Option<String>,
    /// In the daemon: enforce, or only report.
    pub mode: Mode,
    /// Guard limits for this policy.
    pub guard: Guard,
    /// Keys per batch (at most 1000, the limit of one DeleteObjects request).
    pub batch_size: u32,
    /// The policy file the policy was read from, as found in the policies folder (not part of
    /// the policy hash).
    #[serde(skip)]
    pub file: std::path::PathBuf,
}

impl ObjectPolicy {
    /// `store:prefix`, what the policy targets.
    pub fn target(&self) -> String {
        format!("{}:{}", self.store, self.prefix)
    }

    /// The SHA-256 of the validated policy written as JSON.
    pub fn compute_hash(&self) -> Result<String, serde_json::Error> {
        Ok(crate::util::sha256_hex(
            serde_json::to_string(self)?.as_bytes(),
        ))
    }
}

/// The start of an object's retention period.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectClock {
    /// The newest version's (or delete marker's) last-modified time.
    LastModified,
    /// A user-metadata key (`x-amz-meta-<key>`) holding a date or RFC 3339 instant.
    Metadata(String),
    /// An object tag holding a date or RFC 3339 instant.
    Tag(String),
    /// The end of the related rows of a SQL table, found through the key template: the object
    /// is due when every related row has ended, counted from the latest end; an object without
    /// a related row is kept and counted as undated.
    Contract {
        /// The SQL store of the table.
        store: String,
        /// The related table, e.g. `contracts`.
        table: Ident,
        /// Its end-date column; NULL means "not ended".
        column: Ident,
        /// The template variable and the column of the table it must equal.
        on: (String, Ident),
    },
}

impl ObjectClock {
    /// The clock as a user would name it in a report.
    pub fn describe(&self) -> String {
        match self {
            ObjectClock::LastModified => "last_modified".into(),
            ObjectClock::Metadata(k) => format!("metadata `{k}`"),
            ObjectClock::Tag(k) => format!("tag `{k}`"),
            ObjectClock::Contract {
                store,
                table,
                column,
                on,
            } => format!("{store}.{table}.{column} where {} = {{{}}}", on.1, on.0),
        }
    }
}

/// A key template: literal text with `{variable}` parts, matched against the start of a key.
/// A variable matches one or more characters other than `/`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(into = "String")]
pub struct KeyTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(String),
}

impl From<KeyTemplate> for String {
    fn from(t: KeyTemplate) -> String {
        t.parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => s.clone(),
                Part::Var(v) => format!("{{{v}}}"),
            })
            .collect()
    }
}

impl KeyTemplate {
    /// Parses `exports/{customer_id}/`. Variables are identifiers; two variables must be
    /// separated by literal text; `{` and `}` appear only around variables.
    pub fn parse(s: &str) -> Result<KeyTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                Some(i) if rest[i..].starts_with('}') => {
                    return Err(format!(
                        "key template `{}`: `}}` without `{{`",
                        crate::util::shorten(s)
                    ))
                }
                Some(i) => {
                    if i > 0 {
                        parts.push(Part::Lit(rest[..i].to_string()));
                    }
                    let Some(end) = rest[i..].find('}') else {
                        return Err(format!(
                            "key template `{}`: `{{` without `}}`",
                            crate::util::shorten(s)
                        ));
                    };
                    let name = &rest[i + 1..i + end];
                    Ident::parse(name).map_err(|e| format!("key template variable: {e}"))?;
                    if matches!(parts.last(), Some(Part::Var(_))) {
                        return Err(format!(
                            "key template `{}`: two variables need text between them",
                            crate::util::shorten(s)
                        ));
                    }
                    parts.push(Part::Var(name.to_string()));
                    rest = &rest[i + end + 1..];
                }
                None => {
                    parts.push(Part::Lit(rest.to_string()));
                    rest = "";
                }
            }
        }
        if !parts.iter().any(|p| matches!(p, Part::Var(_))) {
            return Err(format!(
                "key template `{}` has no `{{variable}}`; use `prefix` for a fixed prefix",
                crate::util::shorten(s)
            ));
        }
        Ok(KeyTemplate { parts })
    }

    /// The literal text before the first variable: the listing prefix.
    pub fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Lit(s)) => s,
            _ => "",
        }
    }

    /// The template's variables, in order.
    pub fn variables(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Var(v) => Some(v.as_str()),
                Part::Lit(_) => None,
            })
            .collect()
    }

    /// The literal head of the keys whose `var` is `value`: the template up to its first
    /// other variable, with `var` written as `value` (`exports/{customer_id}/` with 42:
    /// `exports/42/`). Every such key starts with it; a listing under it may also meet keys
    /// with a longer value, which [`KeyTemplate::capture`] tells apart.
    pub fn head_with(&self, var: &str, value: &str) -> String {
        let mut head = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(l) => head.push_str(l),
                Part::Var(v) if v == var => head.push_str(value),
                Part::Var(_) => break,
            }
        }
        head
    }

    /// The value of `var` when the key starts with the template, else `None`.
    pub fn capture<'k>(&self, key: &'k str, var: &str) -> Option<&'k str> {
        let mut rest = key;
        let mut found = None;
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Lit(l) => rest = rest.strip_prefix(l.as_str())?,
                Part::Var(v) => {
                    let segment = &rest[..rest.find('/').unwrap_or(rest.len())];
                    let len = match self.parts.get(i + 1) {
                        // Up to the segment's end when the next literal starts with `/`, else
                        // up to the next literal's first part inside this path segment.
                        Some(Part::Lit(next)) if next.starts_with('/') => segment.len(),
                        Some(Part::Lit(next)) => {
                            segment.find(next.split('/').next().unwrap_or_default())?
                        }
                        _ => segment.len(),
                    };
                    if len == 0 {
                        return None;
                    }
                    if v == var {
                        found = Some(&rest[..len]);
                    }
                    rest = &rest[len..];
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_capture_their_variable() {
        let t = KeyTemplate::parse("exports/{customer_id}/").unwrap();
        assert_eq!(t.literal_prefix(), "exports/");
        assert_eq!(t.variables(), vec!["customer_id"]);
        assert_eq!(t.capture("exports/42/leads.csv", "customer_id"), Some("42"));
        assert_eq!(t.capture("exports/42/a/b.csv", "customer_id"), Some("42"));
        assert_eq!(t.capture("exports/42", "customer_id"), None);
        assert_eq!(t.capture("exports//x", "customer_id"), None);
        assert_eq!(t.capture("other/42/x", "customer_id"), None);
        assert_eq!(t.head_with("customer_id", "42"), "exports/42/");
        let t = KeyTemplate::parse("cv/{kind}/{customer_id}-").unwrap();
        assert_eq!(t.head_with("customer_id", "7"), "cv/");
        assert_eq!(t.head_with("kind", "x"), "cv/x/");
        let t = KeyTemplate::parse("cv-{customer_id}.pdf").unwrap();
        assert_eq!(t.capture("cv-7.pdf", "customer_id"), Some("7"));
        assert_eq!(t.capture("cv-7.txt", "customer_id"), None);
        let t = KeyTemplate::parse("calls/{year}/{customer_id}-").unwrap();
        assert_eq!(t.capture("calls/2024/99-a.wav", "customer_id"), Some("99"));
        assert_eq!(t.capture("calls/2024/99-a.wav", "year"), Some("2024"));
        assert_eq!(String::from(t), "calls/{year}/{customer_id}-");
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in ["exports/", "x/{a}{b}", "x/{1a}", "x/{a", "x/}a", "x/{}"] {
            assert!(KeyTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
