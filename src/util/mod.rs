//! Leaf helpers with no knowledge of lethe's domain: text shortening, hashing, Ed25519
//! signatures, the host name and connection URLs for messages.

pub mod sign;

use sha2::{Digest, Sha256};

/// Defines a closed enum whose variants have fixed names in files, reports and the audit
/// trail: serde uses the names, `as_str` and `Display` give them, and the enum compares equal
/// to its name (`status == "ok"`).
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// The name as written in files, reports and the audit trail.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

pub(crate) use named_enum;

/// True for 0: a count left out of a file or report where it is 0, so that files written
/// before the count existed read back and write out the same bytes.
pub fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A name read from a store (a column, a table, a prefix) on one line: control characters and
/// line separators become `?`, so that a name cannot end a line of a report or a YAML comment
/// and write lines of its own.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => '?',
            c => c,
        })
        .collect()
}

/// A user-supplied text for an error message: at most 60 characters, then `...`.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(MAX).collect::<String>())
    }
}

/// SHA-256 in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// This machine's host name (`HOSTNAME`, else `/etc/hostname`).
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown-host".into())
}

/// A connection URL without its password, for messages.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// Why a file could not be read by [`read_regular`].
#[derive(Debug)]
pub enum ReadError {
    /// The operating system refused (not found, no permission...).
    Io(std::io::Error),
    /// The path is a folder.
    Folder,
    /// The path is a pipe, socket or device: reading it could block or never end.
    NotRegular,
    /// The file holds more than the limit, in bytes.
    TooLarge(u64),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Folder => f.write_str("it is a folder, not a file"),
            ReadError::NotRegular => f.write_str(
                "it is not a regular file (a pipe, socket or device); lethe reads only regular files",
            ),
            ReadError::TooLarge(limit) => {
                write!(f, "it is larger than the limit of {limit} bytes")
            }
        }
    }
}

/// Reads a regular file (a link to one is followed) of at most `limit` bytes. Pipes, sockets and
/// devices are refused before they are opened, the open does not block, and the opened file is
/// checked again, so a file swapped for a pipe in between cannot block; at most `limit + 1` bytes are ever read, so a
/// file that grows (or `/dev/zero` behind a link) cannot exhaust memory.
pub fn read_regular(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let kind = |m: &std::fs::Metadata| {
        if m.is_dir() {
            Err(ReadError::Folder)
        } else if !m.is_file() {
            Err(ReadError::NotRegular)
        } else {
            Ok(())
        }
    };
    kind(&std::fs::metadata(path).map_err(ReadError::Io)?)?;
    // Without blocking: a pipe put in its place after the check above must not hang the open
    // (it is then refused by the second check). A regular file reads as usual.
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(ReadError::Io)?
    };
    kind(&file.metadata().map_err(ReadError::Io)?)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(bytes)
}

/// The bytes as UTF-8 text, or the 1-based line and column (in characters) of the first byte
/// that is not UTF-8.
pub fn utf8_text(bytes: Vec<u8>) -> Result<String, (u64, u64)> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // Valid up to here, so these conversions cannot fail.
        let text = std::str::from_utf8(good).unwrap_or_default();
        let line = text.matches('\n').count() as u64 + 1;
        let last = text.rsplit('\n').next().unwrap_or_default();
        (line, last.chars().count() as u64 + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            without_password("postgres://lethe:s3cr%40t@db.example:5432/crm?sslmode=require"),
            "postgres://lethe@db.example:5432/crm?sslmode=require"
        );
        assert_eq!(
            without_password("sqlite://var/crm.db"),
            "sqlite://var/crm.db"
        );
    }
}

#[cfg(test)]
mod read_tests {
    use super::*;

    #[test]
    fn invalid_utf8_has_its_place() {
        assert_eq!(utf8_text(b"ab\ncd\xffe".to_vec()), Err((2, 3)));
        assert_eq!(utf8_text(b"x: \xc3\xa9\xff".to_vec()), Err((1, 5)));
        assert_eq!(utf8_text(b"ok".to_vec()).ok().as_deref(), Some("ok"));
        assert_eq!(utf8_text(b"\xc3".to_vec()), Err((1, 1)));
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        std::fs::write(&file, "12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"12345");
        assert!(matches!(
            read_regular(&file, 4),
            Err(ReadError::TooLarge(4))
        ));
        assert!(matches!(
            read_regular(dir.path(), 4),
            Err(ReadError::Folder)
        ));
        assert!(matches!(
            read_regular(std::path::Path::new("/dev/zero"), 4),
            Err(ReadError::NotRegular)
        ));
        assert!(matches!(
            read_regular(&dir.path().join("none"), 4),
            Err(ReadError::Io(_))
        ));
    }
}
