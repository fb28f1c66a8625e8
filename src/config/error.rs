//! Configuration errors, each with its place.

use serde_saphyr::Location;
use std::fmt;
use std::path::{Path, PathBuf};

/// The one collector of configuration problems: every builder adds to it, and it hands them
/// out once, sorted by place, one per place.
#[derive(Debug, Default)]
pub struct Diagnostics(Vec<ConfigError>);

impl Diagnostics {
    /// Adds a problem.
    pub fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    /// How many problems so far (a builder compares before and after).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Moves the places in `file` of the problems added since the first `from` down by `lines`
    /// (a document parsed on its own, which starts after `lines` lines of its file).
    pub fn shift_since(&mut self, from: usize, file: &std::path::Path, lines: u64) {
        for e in self.0.iter_mut().skip(from) {
            if e.file == file {
                e.line = shifted_line(e.line, lines);
            }
        }
    }

    /// Every problem, sorted by file, line and column; one per place (an unset variable, not
    /// also the empty value it leaves).
    pub fn into_errors(self) -> ConfigErrors {
        let mut errs = self.0;
        errs.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        errs.dedup_by(|later, first| {
            later.line != 0
                && (&later.file, later.line, later.column)
                    == (&first.file, first.line, first.column)
        });
        ConfigErrors(errs)
    }
}

/// One problem in the configuration, at a file, line and column.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The file, as found under the policies folder.
    pub file: PathBuf,
    /// 1-based line, 0 when the problem concerns the whole file.
    pub line: u64,
    /// 1-based column, 0 when the problem concerns the whole file.
    pub column: u64,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    /// A problem at a location inside a file.
    pub fn at(file: &Path, loc: &Location, message: String) -> ConfigError {
        ConfigError {
            file: file.to_path_buf(),
            line: loc.line(),
            column: loc.column(),
            message,
        }
    }

    /// A problem with a whole file.
    pub fn file(file: &Path, message: String) -> ConfigError {
        ConfigError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message,
        }
    }

    /// A YAML syntax or shape error from the parser.
    pub fn from_yaml(file: &Path, e: &serde_saphyr::Error, source: &str) -> ConfigError {
        use serde_saphyr::MessageFormatter;
        let mut message = plain(&serde_saphyr::UserMessageFormatter.format_message(e));
        // In a document with `${VAR}` values the parser hides names in its messages; an unknown
        // key is the user's own text, so it is named from the source at the error's place.
        const HIDDEN: &str = "`an interpolated field`";
        if let (true, Some(loc)) = (message.contains(HIDDEN), e.location()) {
            let key: String = source
                .lines()
                .nth((loc.line() as usize).saturating_sub(1))
                .unwrap_or_default()
                .chars()
                .skip((loc.column() as usize).saturating_sub(1))
                .take_while(|c| *c != ':' && !c.is_whitespace())
                .take(100)
                .collect();
            if !key.is_empty() {
                message = message.replacen(HIDDEN, &format!("`{key}`"), 1);
            }
        }
        match e.location() {
            Some(loc) => ConfigError::at(file, &loc, message),
            None => ConfigError::file(file, message),
        }
    }

    /// The same problem in a document that starts after `lines` lines of its file.
    pub fn shifted(mut self, lines: u64) -> ConfigError {
        self.line = shifted_line(self.line, lines);
        self
    }

    /// `file:line:col`.
    pub fn place(&self) -> String {
        if self.line == 0 {
            self.file.display().to_string()
        } else {
            format!("{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place(), self.message)
    }
}

/// A line of a document that starts after `lines` lines; 0 (the whole file) stays 0.
fn shifted_line(line: u64, lines: u64) -> u64 {
    if line == 0 {
        0
    } else {
        line + lines
    }
}

/// Rewords parser messages in the terms of the policy language (no Rust type names).
fn plain(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("missing property `") {
        let name = rest.split('`').next().unwrap_or_default();
        return format!("environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)");
    }
    if msg.contains("too large or too complex") {
        return "YAML document too large or too complex: its anchors and aliases expand beyond lethe's limits".into();
    }
    let mut out = match msg.strip_prefix("invalid type: ") {
        Some(rest) => {
            let rest = rest
                .replacen("sequence", "a list", 1)
                .replacen("map,", "a mapping,", 1);
            format!("found {rest}")
        }
        None => msg.to_string(),
    };
    for (from, to) in [
        ("invalid u32", "expected a whole number"),
        ("invalid u64", "expected a whole number"),
        ("invalid i64", "expected a whole number"),
        ("invalid floating point", "expected a number"),
        ("expected string scalar", "expected a text value"),
    ] {
        out = out.replace(from, to);
    }
    out
}

/// Every problem found while loading, reported together.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} in the configuration; nothing was touched",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for ConfigErrors {}
