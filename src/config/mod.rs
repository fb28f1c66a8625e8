//! Loading the policies folder: `lethe.yaml` plus every other `*.yaml` file, turned into
//! validated types. Every problem is reported at once, each with file, line and column.

mod common;
mod error;
mod exemption;
mod hold;
mod load;
mod object;
mod policy;
mod raw;
mod residency;
pub mod schema;
mod settings;
mod throttle;

pub use error::{ConfigError, ConfigErrors, Diagnostics};
pub use load::{load, process_env};
pub use settings::check_folder_prefix;

use crate::model::{Exemption, Guard, Hold, ObjectPolicy, RetentionPolicy};
use crate::model::{Secret, StoreSpec};
use crate::util::without_password;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// The name of the settings file inside the policies folder.
pub const SETTINGS_FILE: &str = "lethe.yaml";
/// Policy files larger than this are refused (hostile input).
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The most documents one policy file may hold (hostile input: each is parsed on its own).
const MAX_DOCUMENTS: usize = 1000;
/// Secret files (`url_file`, `hmac_key_file`) larger than this are refused.
const MAX_SECRET_BYTES: u64 = 64 * 1024;
/// The document kinds of policy files.
const KINDS: &[&str] = &["RetentionPolicy", "LegalHold", "Exemption"];
/// The most keys one DeleteObjects request takes, and so an object policy's largest batch.
pub const MAX_OBJECT_BATCH: u32 = 1000;
/// The default state database.
pub const DEFAULT_STATE_URL: &str = "sqlite://var/lethe-state.db";
/// Default rows per batch.
pub const DEFAULT_BATCH_SIZE: u32 = 1000;

/// How long each data-changing statement should take when no `batch_size` fixes the batch.
pub const DEFAULT_BATCH_TARGET: std::time::Duration = std::time::Duration::from_millis(200);
/// Default guard: refuse a policy that would change more than half of its table.
pub const DEFAULT_MAX_FRACTION: f64 = 0.5;

/// A loaded, validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The policies folder.
    pub dir: PathBuf,
    /// Worker settings from `lethe.yaml`.
    pub settings: Settings,
    /// Every retention policy over a SQL table, in file order.
    pub policies: Vec<RetentionPolicy>,
    /// Every retention policy over an object store, in file order.
    pub objects: Vec<ObjectPolicy>,
    /// Every declared legal hold, in file order.
    pub holds: Vec<Hold>,
    /// Every exemption: personal data that stays without a policy, and why; in file order.
    pub exemptions: Vec<Exemption>,
    /// SHA-256 over every configuration file (path and bytes), recorded in plans and runs.
    pub hash: String,
}

/// Worker settings.
#[derive(Debug)]
pub struct Settings {
    /// The state database URL (runs and audit trail).
    pub state_url: Secret,
    /// The stores policies may name.
    pub stores: BTreeMap<String, StoreSpec>,
    /// Key for the `hmac` strategy.
    pub hmac_key: Option<Secret>,
    /// Default guard of every policy.
    pub guard: Guard,
    /// Refuse a run that would change more records than this, all policies together.
    pub run_max_rows: Option<u64>,
    /// Default rows per batch.
    pub batch_size: u32,
    /// How long each data-changing statement should take; `None` when `batch_size` fixes the
    /// batch.
    pub batch_target: Option<std::time::Duration>,
    /// The default throttle of every SQL policy: replica lag, total wait, row rate.
    pub throttle: crate::model::Throttle,
    /// How far eligible counts may grow beyond a pinned plan, as a fraction (0 = not at all).
    pub drift_tolerance: f64,
    /// Default cron schedule for the daemon.
    pub schedule: Option<String>,
    /// Where `lethe daemon` serves `/healthz`, `/readyz` and `/metrics`.
    pub listen: SocketAddr,
    /// Where stores may be (`residency:`).
    pub residency: crate::residency::Rules,
    /// The file of the key that signs deletion certificates, checked to hold one.
    pub signing_key_file: Option<std::path::PathBuf>,
    /// Where the daemon writes the certificates it issues by itself, if it does.
    pub certificates_dir: Option<std::path::PathBuf>,
}

impl Config {
    /// Every policy name, SQL policies first.
    pub fn policy_names(&self) -> Vec<String> {
        self.policies
            .iter()
            .map(|p| p.name.clone())
            .chain(self.objects.iter().map(|p| p.name.clone()))
            .collect()
    }

    /// Every policy's name and schedule.
    pub fn schedules(&self) -> Vec<(String, Option<String>)> {
        self.policies
            .iter()
            .map(|p| (p.name.clone(), p.schedule.clone()))
            .chain(
                self.objects
                    .iter()
                    .map(|p| (p.name.clone(), p.schedule.clone())),
            )
            .collect()
    }
}
