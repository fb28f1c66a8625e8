//! The object-store contract: what every store lethe deletes from must show, written once
//! against `Store` and run on a folder (`dir`), on moto and on Garage. Each behaviour is an
//! `async fn(Kind)`; the table below says on which kinds it runs, and a kind is left out only
//! where it cannot have the behaviour (the reason is given there).
//!
//! - `deletion`: listing by prefix, due objects deleted and the rest kept, the clocks each kind
//!   has, a second run idempotent, the audit trail intact, no key in any output.
//! - `safety`: lethe holds over prefixes, guards and pinned plans, a hold added while apply
//!   runs protecting the pages after it (with `remaining` and `held` counted by a fresh listing).
//! - `discover`: objects counted per prefix with their coverage (governed, exempt,
//!   ungoverned).
//! - `linked`: the contract-end clock, which reaches a customer's objects from a SQL store.

mod deletion;
mod discover;
mod linked;
mod safety;

use super::stores::Kind;
use deletion::*;
use discover::*;
use linked::*;
use safety::*;

on_stores! {
    due_objects_go_and_the_rest_stays: dir, moto, garage;
    a_prefix_need_not_end_at_a_slash: dir, moto, garage;
    the_modification_time_is_a_clock: dir, moto, garage;
    // A folder has no metadata (refused at its place: `dir::the_folder_store`).
    a_metadata_clock_keeps_undated_and_unreadable_dates: moto, garage;
    // A folder has no tags (refused like metadata); Garage has no object tagging (a tag clock
    // fails there: `garage::a_tag_clock_fails_and_deletes_nothing`).
    a_tag_is_a_clock: moto;
    holds_keep_objects_under_their_prefix: dir, moto, garage;
    guards_and_pinned_plans_cover_objects: dir, moto, garage;
    // Slowing apply down between two pages takes a proxy in front of the store's API: a folder
    // has none.
    a_hold_added_during_apply_protects_the_next_pages: moto, garage;
    contract_end_reaches_the_customers_files: dir, moto, garage;
    discover_counts_prefixes_with_their_coverage: dir, moto, garage;
}
