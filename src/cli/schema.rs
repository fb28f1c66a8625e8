//! `lethe schema`: the JSON Schema of the configuration files, for editors.

use super::{Cli, Code};
use crate::config::schema::{self, Document};

const AFTER_HELP: &str = "\
Editors that use yaml-language-server (VS Code's YAML extension, Neovim, Helix, Zed, JetBrains
IDEs) check a YAML document against the schema named in a comment at its top. Save the schema
once, next to the policies or in the repository, and start each document with that comment,
whose path is relative to the file:

  lethe schema > policies/lethe.schema.json

  # yaml-language-server: $schema=lethe.schema.json         (policies/leads.yaml)
  # yaml-language-server: $schema=../lethe.schema.json      (policies/holds/fiscal.yaml)

In a file of several documents, repeat the line after each `---`. (Or map the files to the
schema once in the editor's settings, e.g. VS Code's `yaml.schemas`.)

The editor then completes keys, shows what each one means, and marks unknown keys and values
of the wrong type as you type. The schema sees one document at a time: `lethe check` still
checks the rest (store names, durations, identifiers, the live tables). Regenerate the file
after upgrading lethe.";

/// Arguments of `lethe schema`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Which documents the schema describes: `any` file of the policies folder (lethe.yaml, or
    /// a policy file's documents by their `kind`), or only one kind.
    #[arg(long, value_enum, default_value_t = Which::Any)]
    document: Which,
}

/// The documents `--document` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Which {
    /// Any file of the policies folder.
    Any,
    /// The worker settings (lethe.yaml).
    Settings,
    /// RetentionPolicy documents.
    Policy,
    /// LegalHold documents.
    Hold,
    /// Exemption documents.
    Exemption,
}

/// Runs `lethe schema`: prints the schema to stdout.
pub async fn run(_cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    let document = match args.document {
        Which::Any => Document::Any,
        Which::Settings => Document::Settings,
        Which::Policy => Document::Policy,
        Which::Hold => Document::Hold,
        Which::Exemption => Document::Exemption,
    };
    super::out(&schema::schema_json(document));
    Ok(Code::Ok)
}
