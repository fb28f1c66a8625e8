//! The `lethe` binary: parse the command line, run, map the result to an exit code.

use clap::Parser;
use lethe::cli::{self, Cli, Code, LogFormat};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A daemon runs unattended: its runs are logged at info level by default.
    let daemon = matches!(cli.command, cli::Command::Daemon(_));
    let level = match cli.verbose.max(u8::from(daemon)) {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // sqlx's slow-statement warnings are left out: a large batch is slow by design.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("lethe={level},sqlx=error,warn")));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(Code::Failure as u8);
        }
    };
    let code = match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            let code = cli::code_of(&e);
            eprintln!("error: {e:#}");
            code
        }
    };
    ExitCode::from(code as u8)
}
