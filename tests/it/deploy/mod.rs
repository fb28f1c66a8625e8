//! `deploy/`: what a platform engineer copies (the Dockerfile, the Kubernetes manifests, the
//! systemd units) must start lethe with arguments the real command line accepts, on the ports,
//! paths and users the image provides, with a configuration that loads as the pods will see it.
//! No Docker engine or cluster is needed: the files are parsed and checked against each other
//! and against the `lethe` library (its CLI parser, its configuration loader, its metrics).
//!
//! - `dockerfile`: the image (stages, build inputs, user, entrypoint, default command).
//! - `manifests`: reading deploy/kubernetes (documents, workloads, containers, environments).
//! - `kubernetes`: the manifests' own checks (names, commands, probes, Jobs, security).
//! - `pods`: the configuration as each pod sees it, loaded by lethe's real loader.
//! - `systemd`: the units start commands the CLI accepts.
//! - `guide`: deploy/README.md against `/metrics` and the manifests.

mod dockerfile;
mod guide;
mod kubernetes;
mod manifests;
mod pods;
mod systemd;

use clap::Parser;
use lethe::cli::{Cli, Command};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy() -> PathBuf {
    repo().join("deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Parses `args` (without the program name) with lethe's real command line.
fn parse_cli(args: &[String]) -> Result<Cli, String> {
    Cli::try_parse_from(std::iter::once("lethe".to_string()).chain(args.iter().cloned()))
        .map_err(|e| e.to_string())
}

fn command_name(cli: &Cli) -> &'static str {
    match cli.command {
        Command::Check(_) => "check",
        Command::Plan(_) => "plan",
        Command::Apply(_) => "apply",
        Command::Daemon(_) => "daemon",
        Command::Holds(_) => "holds",
        Command::Residency(_) => "residency",
        Command::Audit(_) => "audit",
        Command::Report(_) => "report",
        Command::Certificate(_) => "certificate",
        Command::Discover(_) => "discover",
        Command::Demo(_) => "demo",
        Command::Schema(_) => "schema",
    }
}

/// The value of `--NAME VALUE` or `--NAME=VALUE` in raw arguments.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let long = format!("--{name}");
    let eq = format!("--{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if *a == long {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix(&eq)
        }
    })
}

/// The address `lethe daemon` listens on with these arguments (its documented default when
/// `--listen` is absent).
fn listen_addr(args: &[String]) -> SocketAddr {
    flag(args, "listen")
        .unwrap_or("127.0.0.1:9187")
        .parse()
        .unwrap_or_else(|e| panic!("--listen in {args:?}: {e}"))
}
