//! Database plumbing shared by the stores and the state database: the connection pool of each
//! dialect, the macro that runs one body on whichever pool is open, and error sanitising.

use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

/// A connection pool of one of the dialects lethe speaks.
#[derive(Debug, Clone)]
pub enum Pool {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
    /// MySQL or MariaDB.
    MySql(MySqlPool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$pool_expr` (a [`Pool`]) holds. The body
/// is compiled once per dialect, so it must be written with sqlx's generic API.
macro_rules! on_pool {
    ($pool_expr:expr, $pool:ident => $body:expr) => {
        match $pool_expr {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
            $crate::db::Pool::MySql($pool) => $body,
        }
    };
}

pub(crate) use on_pool;

impl Pool {
    /// Closes every connection of the pool.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// A database error in lethe's own words, as it may be shown in reports, logs, error messages
/// and the audit trail.
///
/// A server's message text is data, never repeated: a trigger puts row values into it
/// (`RAISE EXCEPTION '... %', OLD.email`, `SIGNAL ... MESSAGE_TEXT = CONCAT(..., OLD.email)`), and
/// so do failed casts (`invalid input syntax for type bigint: "+31..."`) and key violations
/// (`Duplicate entry '...'`). What is shown is the kind of failure in fixed words, the server's
/// code (SQLSTATE, MySQL error number, SQLite result code) and its class, and, for an integrity
/// violation the server itself reports, the constraint and table it names (schema, not data).
/// Connection failures keep their kind but never the URL.
pub fn describe_db_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => describe_database(db.as_ref()),
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".into(),
        sqlx::Error::PoolClosed => "the connection pool is closed".into(),
        sqlx::Error::WorkerCrashed => "the database connection's worker stopped".into(),
        sqlx::Error::Io(io) => format!("network error: {}", describe_io(io)),
        sqlx::Error::Tls(_) => "TLS error".into(),
        sqlx::Error::Configuration(c) => {
            let c = c.to_string();
            // sqlx names the option that is wrong; anything that looks like a URL or a user
            // is left out all the same.
            if c.contains("://") || c.contains('@') {
                "invalid connection settings".into()
            } else {
                format!("invalid connection settings: {c}")
            }
        }
        sqlx::Error::Protocol(_) => "the server's answer did not follow its protocol".into(),
        sqlx::Error::RowNotFound => "the query returned no row".into(),
        sqlx::Error::TypeNotFound { type_name } => format!("unknown SQL type `{type_name}`"),
        sqlx::Error::ColumnIndexOutOfBounds { index, len } => {
            format!("the result has {len} columns, not {}", index + 1)
        }
        sqlx::Error::ColumnNotFound(name) => format!("column `{name}` not in the result"),
        // The decoder's text may quote the value it could not read.
        sqlx::Error::ColumnDecode { index, .. } => {
            format!("cannot read result column {index} as the expected type")
        }
        sqlx::Error::Encode(_) => "cannot encode a parameter".into(),
        sqlx::Error::Decode(_) => "cannot decode a value of the result".into(),
        sqlx::Error::Migrate(m) => describe_migrate_error(m),
        _ => "database driver error".into(),
    }
}

/// A migration error in lethe's own words: the version it concerns, and for a failed statement
/// the database error as [`describe_db_error`] gives it.
pub fn describe_migrate_error(e: &sqlx::migrate::MigrateError) -> String {
    use sqlx::migrate::MigrateError as M;
    match e {
        M::Execute(e) => describe_db_error(e),
        M::ExecuteMigration(e, v) => format!("migration {v}: {}", describe_db_error(e)),
        M::Source(_) => "cannot read the migrations".into(),
        M::VersionMissing(_)
        | M::VersionMismatch(_)
        | M::VersionNotPresent(_)
        | M::VersionTooOld(..)
        | M::VersionTooNew(..)
        | M::Dirty(_) => e.to_string(),
        _ => "migration error".into(),
    }
}

/// An I/O error: the operating system's text (which names no peer), or the kind alone.
fn describe_io(io: &std::io::Error) -> String {
    match io.raw_os_error() {
        Some(_) => io.to_string(),
        None => io.kind().to_string(),
    }
}

/// A SQLSTATE as servers send it: five digits or capital letters. Anything else is not shown.
fn sqlstate(code: &str) -> Option<&str> {
    (code.len() == 5
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()))
    .then_some(code)
}

/// A name a server gives for a constraint, table or column, shown only when it looks like an
/// identifier.
fn schema_name(name: Option<&str>) -> Option<&str> {
    name.filter(|n| {
        !n.is_empty()
            && n.len() <= 128
            && n.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.')
    })
}

fn describe_database(db: &dyn sqlx::error::DatabaseError) -> String {
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return describe_postgres(pg);
    }
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return describe_mysql(my.number(), my.code());
    }
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        if let Some(code) = db.code().and_then(|c| c.parse::<i32>().ok()) {
            return describe_sqlite(code);
        }
    }
    match db.code() {
        Some(c) => match sqlstate(&c) {
            Some(c) => format!(
                "{} (SQLSTATE {c})",
                kind_words(db.kind()).unwrap_or("the database reported an error")
            ),
            None => kind_words(db.kind())
                .unwrap_or("the database reported an error")
                .into(),
        },
        None => kind_words(db.kind())
            .unwrap_or("the database reported an error")
            .into(),
    }
}

fn kind_words(kind: sqlx::error::ErrorKind) -> Option<&'static str> {
    use sqlx::error::ErrorKind as K;
    match kind {
        K::UniqueViolation => Some("a unique constraint refused the change"),
        K::ForeignKeyViolation => Some("a foreign key constraint refused the change"),
        K::NotNullViolation => Some("a NOT NULL constraint refused the change"),
        K::CheckViolation => Some("a check constraint refused the change"),
        _ => None,
    }
}

/// Source files of PostgreSQL's own integrity checks: only errors raised there name a
/// constraint, table and column the server chose. A trigger can set these fields to anything
/// (`RAISE ... USING CONSTRAINT = OLD.email`), so elsewhere they are not shown.
const PG_INTEGRITY_SOURCES: &[&str] = &[
    "nbtinsert.c",
    "execMain.c",
    "execIndexing.c",
    "ri_triggers.c",
    "execPartition.c",
];

fn describe_postgres(pg: &sqlx::postgres::PgDatabaseError) -> String {
    let Some(code) = sqlstate(pg.code()) else {
        return "the database reported an error without a valid SQLSTATE".into();
    };
    let what = postgres_words(code);
    let class = &code[..2];
    let mut out = what.to_string();
    if class == "23" && pg.file().is_some_and(|f| PG_INTEGRITY_SOURCES.contains(&f)) {
        let mut names = Vec::new();
        if let Some(c) = schema_name(pg.constraint()) {
            names.push(format!("constraint `{c}`"));
        }
        if let Some(t) = schema_name(pg.table()) {
            names.push(format!("table `{t}`"));
        }
        if let Some(c) = schema_name(pg.column()) {
            names.push(format!("column `{c}`"));
        }
        if !names.is_empty() {
            out.push_str(&format!(" ({})", names.join(", ")));
        }
    }
    match sqlstate_class(class) {
        Some(name) => format!("{out} (SQLSTATE {code}, class {class}: {name})"),
        None => format!("{out} (SQLSTATE {code})"),
    }
}

/// Our words for the SQLSTATEs lethe meets most; otherwise the class's.
fn postgres_words(code: &str) -> &'static str {
    match code {
        "P0001" => "a trigger or function raised an exception",
        "P0004" => "an assertion in a trigger or function failed",
        "23505" => "a unique constraint refused the change",
        "23503" => "a foreign key constraint refused the change",
        "23502" => "a NOT NULL constraint refused the change",
        "23514" => "a check constraint refused the change",
        "23P01" => "an exclusion constraint refused the change",
        "23001" => "a RESTRICT foreign key refused the change",
        "22P02" | "22018" => "a value could not be converted to another type",
        "22001" => "a value is too long for its column",
        "22003" => "a number is out of range",
        "22007" | "22008" => "a date or time value is invalid or out of range",
        "22012" => "a division by zero",
        "27000" => "a trigger changed the row in a way the statement forbids",
        "40001" => "the transaction could not be serialized with a concurrent one",
        "40P01" => "a deadlock was detected",
        "42501" => "permission denied",
        "42P01" => "a table does not exist",
        "42703" => "a column does not exist",
        "42883" => "a function or operator does not exist",
        "42601" => "a syntax error",
        "25006" => "the transaction is read-only",
        "55P03" => "a lock could not be obtained",
        "57014" => "the statement was cancelled (timeout or request)",
        "57P01" | "57P02" | "57P03" => "the server is shutting down or not accepting connections",
        "28P01" | "28000" => "the server refused the login",
        "3D000" => "the database does not exist",
        "53100" => "the server's disk is full",
        _ => match &code[..2] {
            "P0" => "a trigger or function failed",
            "09" => "a trigger failed",
            "22" => "a value was refused",
            "23" => "a constraint refused the change",
            "40" => "the transaction was rolled back",
            "42" => "the statement was refused (syntax or access)",
            "08" => "the connection failed",
            "53" => "the server is out of resources",
            _ => "the database reported an error",
        },
    }
}

/// SQLSTATE classes (PostgreSQL, appendix A; shared by the SQL standard and MySQL).
fn sqlstate_class(class: &str) -> Option<&'static str> {
    Some(match class {
        "01" => "warning",
        "02" => "no data",
        "08" => "connection exception",
        "09" => "triggered action exception",
        "0A" => "feature not supported",
        "0B" => "invalid transaction initiation",
        "0L" | "0P" => "invalid grantor or role",
        "21" => "cardinality violation",
        "22" => "data exception",
        "23" => "integrity constraint violation",
        "24" => "invalid cursor state",
        "25" => "invalid transaction state",
        "27" => "triggered data change violation",
        "28" => "invalid authorization specification",
        "2B" | "2D" => "invalid transaction termination",
        "2F" => "SQL routine exception",
        "38" | "39" => "external routine exception",
        "3B" => "savepoint exception",
        "3D" => "invalid catalog name",
        "3F" => "invalid schema name",
        "40" => "transaction rollback",
        "42" => "syntax error or access rule violation",
        "44" => "WITH CHECK OPTION violation",
        "45" => "unhandled user-defined exception",
        "53" => "insufficient resources",
        "54" => "program limit exceeded",
        "55" => "object not in prerequisite state",
        "57" => "operator intervention",
        "58" => "system error",
        "72" => "snapshot failure",
        "HY" => "general error",
        "P0" => "PL/pgSQL error",
        "XX" => "internal error",
        _ => return None,
    })
}

/// MySQL and MariaDB: our words for the error number, the number and the SQLSTATE's class.
fn describe_mysql(number: u16, state: Option<&str>) -> String {
    let what = match number {
        1644 => "a trigger or procedure signalled an error (SIGNAL)",
        1062 | 1586 | 1022 => "a unique key refused the change (duplicate entry)",
        1451 | 1217 => "a foreign key refused the change: other rows reference the row",
        1452 | 1216 => "a foreign key refused the change: the referenced row does not exist",
        3819 | 4025 => "a check constraint refused the change",
        1048 | 1364 => "a NOT NULL column refused the change",
        1264 | 1690 => "a number is out of range",
        1265 | 1366 | 1292 => "a value could not be converted to its column's type",
        1406 => "a value is too long for its column",
        1365 => "a division by zero",
        1442 => "a trigger tried to change the table the statement changes",
        1205 => "a lock wait timed out",
        1213 => "a deadlock was detected",
        1142 | 1143 | 1044 | 1227 => "permission denied",
        1045 => "the server refused the login",
        1146 => "a table does not exist",
        1054 => "a column does not exist",
        1049 => "the database does not exist",
        1064 => "a syntax error",
        1290 | 1836 => "the server is read-only",
        1927 | 1317 => "the statement or connection was killed",
        1053 => "the server is shutting down",
        1969 | 3024 => "the statement timed out",
        _ => "the database reported an error",
    };
    match state.and_then(sqlstate) {
        Some(s) => match sqlstate_class(&s[..2]) {
            Some(class) => format!(
                "{what} (MySQL error {number}, SQLSTATE {s}, class {}: {class})",
                &s[..2]
            ),
            None => format!("{what} (MySQL error {number}, SQLSTATE {s})"),
        },
        None => format!("{what} (MySQL error {number})"),
    }
}

/// SQLite: our words for the extended result code, and the code.
fn describe_sqlite(code: i32) -> String {
    let what = match code {
        1811 => "a trigger refused the change (RAISE)",
        2067 | 1555 => "a unique constraint refused the change",
        787 => "a foreign key constraint refused the change",
        1299 => "a NOT NULL constraint refused the change",
        275 => "a check constraint refused the change",
        3091 => "a value does not fit its column's type (STRICT table)",
        // SQLITE_IOERR_SHMSIZE: the `-shm` file of a WAL database could not grow, which on a
        // full disk stops even reads.
        4874 => "the disk is full (the database's shared-memory file cannot grow)",
        _ => match code & 0xff {
            19 => "a constraint refused the change",
            5 => "the database is busy (locked by another connection)",
            6 => "a table is locked",
            8 => "the database is read-only",
            10 => "a disk I/O error",
            11 | 26 => "the database file is damaged or not a database",
            13 => "the disk is full",
            14 => "the database file cannot be opened",
            3 => "permission denied",
            9 => "the statement was interrupted",
            7 => "out of memory",
            18 => "a value is too big",
            20 => "a value has the wrong type",
            1 => "the statement failed",
            _ => "the database reported an error",
        },
    };
    format!("{what} (SQLite result code {code})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::error::{DatabaseError, ErrorKind};
    use std::borrow::Cow;
    use std::fmt;

    /// A database error of no known dialect, with a message full of values.
    #[derive(Debug)]
    struct Other(&'static str, Option<&'static str>, ErrorKind);

    impl fmt::Display for Other {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Other {}
    impl DatabaseError for Other {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            self.1.map(Cow::Borrowed)
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            match self.2 {
                ErrorKind::UniqueViolation => ErrorKind::UniqueViolation,
                ErrorKind::ForeignKeyViolation => ErrorKind::ForeignKeyViolation,
                _ => ErrorKind::Other,
            }
        }
    }

    const VALUES: &[&str] = &[
        "lead-7f3a@example.test",
        "+31612345678",
        "Jan",
        "31612345678",
    ];

    fn assert_no_values(s: &str) {
        for v in VALUES {
            assert!(!s.contains(v), "{v:?} leaked into {s:?}");
        }
    }

    #[test]
    fn never_repeats_the_servers_message() {
        let e = sqlx::Error::Database(Box::new(Other(
            "refusing to change the lead of lead-7f3a@example.test, Jan, +31612345678",
            Some("P0001"),
            ErrorKind::Other,
        )));
        let s = describe_db_error(&e);
        assert_no_values(&s);
        assert_eq!(s, "the database reported an error (SQLSTATE P0001)");
        let e = sqlx::Error::Database(Box::new(Other(
            "Duplicate entry 'lead-7f3a@example.test' for key 'email'",
            None,
            ErrorKind::UniqueViolation,
        )));
        assert_eq!(
            describe_db_error(&e),
            "a unique constraint refused the change"
        );
        // A code that is no SQLSTATE (a value put there) is not shown.
        let e = sqlx::Error::Database(Box::new(Other(
            "x",
            Some("31612345678"),
            ErrorKind::ForeignKeyViolation,
        )));
        assert_eq!(
            describe_db_error(&e),
            "a foreign key constraint refused the change"
        );
    }

    #[test]
    fn postgres_codes_in_our_words() {
        assert_eq!(
            postgres_words("P0001"),
            "a trigger or function raised an exception"
        );
        assert_eq!(
            postgres_words("22P02"),
            "a value could not be converted to another type"
        );
        assert_eq!(postgres_words("40P01"), "a deadlock was detected");
        assert_eq!(postgres_words("23999"), "a constraint refused the change");
        assert_eq!(sqlstate_class("22"), Some("data exception"));
        assert_eq!(sqlstate_class("P0"), Some("PL/pgSQL error"));
        assert_eq!(sqlstate("P0001"), Some("P0001"));
        assert_eq!(sqlstate("+3161"), None);
        assert_eq!(sqlstate("p0001"), None);
    }

    #[test]
    fn mysql_numbers_in_our_words() {
        let s = describe_mysql(1644, Some("45000"));
        assert_eq!(
            s,
            "a trigger or procedure signalled an error (SIGNAL) (MySQL error 1644, SQLSTATE 45000, class 45: unhandled user-defined exception)"
        );
        assert!(describe_mysql(1062, Some("23000")).contains("duplicate entry"));
        assert!(describe_mysql(1451, Some("23000")).contains("other rows reference"));
        assert!(describe_mysql(3819, None).ends_with("(MySQL error 3819)"));
        assert!(describe_mysql(1366, Some("22007")).contains("class 22: data exception"));
    }

    #[test]
    fn sqlite_codes_in_our_words() {
        assert_eq!(
            describe_sqlite(1811),
            "a trigger refused the change (RAISE) (SQLite result code 1811)"
        );
        assert!(describe_sqlite(2067).starts_with("a unique constraint"));
        assert!(describe_sqlite(5).starts_with("the database is busy"));
        assert!(describe_sqlite(261).starts_with("the database is busy"));
        assert!(describe_sqlite(13).starts_with("the disk is full"));
        assert!(describe_sqlite(4874).starts_with("the disk is full"));
    }

    #[test]
    fn names_only_when_they_look_like_identifiers() {
        assert_eq!(
            schema_name(Some("leads_email_key")),
            Some("leads_email_key")
        );
        assert_eq!(schema_name(Some("crm.leads")), Some("crm.leads"));
        assert_eq!(schema_name(Some("lead-7f3a@example.test")), None);
        assert_eq!(schema_name(Some("+31612345678")), None);
        assert_eq!(schema_name(Some("")), None);
    }

    #[test]
    fn connection_errors_keep_their_kind() {
        let refused = std::io::Error::from_raw_os_error(111);
        let s = describe_db_error(&sqlx::Error::Io(refused));
        assert!(s.starts_with("network error: "), "{s}");
        let custom = std::io::Error::other("peer said lead-7f3a@example.test");
        assert_eq!(
            describe_db_error(&sqlx::Error::Io(custom)),
            "network error: other error"
        );
        let url = sqlx::Error::Configuration("bad url postgres://u:S3cret@h/db".into());
        assert_eq!(describe_db_error(&url), "invalid connection settings");
        assert_eq!(
            describe_db_error(&sqlx::Error::PoolTimedOut),
            "timed out waiting for a connection"
        );
        let decode = sqlx::Error::ColumnDecode {
            index: "2".into(),
            source: "invalid digit in \"+31612345678\"".into(),
        };
        assert_no_values(&describe_db_error(&decode));
        assert_no_values(&describe_db_error(&sqlx::Error::Protocol(
            "unexpected lead-7f3a@example.test".into(),
        )));
    }
}
