//! Discovery: which tables, columns and object prefixes hold personal data, and whether a
//! policy reaches each of them. Detection is pure ([`names`], [`values`], [`score`]); the
//! stores are read through [`crate::store`].

pub mod kind;
pub mod names;
pub mod score;
pub mod values;

pub use kind::{Category, Kind};
pub use score::{judge, Detection, Evidence, Shape, Tally};
