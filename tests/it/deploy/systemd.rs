//! The systemd units: each starts a command lethe's CLI accepts, with the settings its kind of
//! service needs.

use super::{command_name, deploy, listen_addr, parse_cli, read};
use std::collections::BTreeMap;

#[test]
fn systemd_units_start_commands_the_cli_accepts() {
    let dir = deploy().join("systemd");
    let mut checked = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "service") {
            continue;
        }
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let text = read(&path);
        let setting = |key: &str| {
            text.lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix(&format!("{key}=")))
                .map(str::to_string)
        };
        let starts: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("ExecStart="))
            .map(String::from)
            .collect();
        assert_eq!(starts.len(), 1, "{file}: one ExecStart");
        // systemd prefixes (-, @, +, !) and the binary path, then lethe's arguments.
        let line = starts[0].trim_start_matches(['-', '@', '+', '!', ':']);
        let mut words = line.split_whitespace().map(String::from);
        let bin = words.next().unwrap_or_default();
        assert!(
            bin.starts_with('/') && bin.ends_with("/lethe"),
            "{file}: ExecStart runs `{bin}`"
        );
        let args: Vec<String> = words.collect();
        let cli = parse_cli(&args).unwrap_or_else(|e| panic!("{file}: ExecStart {args:?}: {e}"));
        let cmd = command_name(&cli);
        match cmd {
            "daemon" => {
                assert_eq!(setting("Type").as_deref(), Some("simple"), "{file}: Type");
                assert_eq!(
                    setting("Restart").as_deref(),
                    Some("on-failure"),
                    "{file}: Restart"
                );
                assert_eq!(
                    setting("KillSignal").as_deref(),
                    Some("SIGTERM"),
                    "{file}: KillSignal"
                );
                assert!(
                    setting("TimeoutStopSec").is_some(),
                    "{file}: TimeoutStopSec"
                );
                listen_addr(&args);
            }
            "apply" => {
                assert_eq!(setting("Type").as_deref(), Some("oneshot"), "{file}: Type");
                assert!(
                    args.iter().any(|a| a == "--yes" || a == "-y"),
                    "{file}: apply needs --yes"
                );
            }
            other => panic!("{file}: unexpected `{other}`"),
        }
        checked.insert(cmd, file);
    }
    assert!(checked.contains_key("apply"), "a service for `lethe apply`");
    assert!(
        checked.contains_key("daemon"),
        "a service for `lethe daemon`"
    );
}
