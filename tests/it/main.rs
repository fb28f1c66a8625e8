//! lethe's integration suite: one binary, real servers (SQLite, PostgreSQL, MariaDB), the real
//! `lethe` binary. See `support` for how servers are found and databases isolated.

mod support;

mod cli;
mod config_errors;
mod sql;
