//! The key of a policy's table: the columns that identify a row, in the order that batches
//! page through them.

use super::Ident;
use serde::{Serialize, Serializer};
use std::fmt;

/// One column (`key: id`) or several (`key: [customer_id, seq]`), never none. Batches are
/// ordered by every column in turn and bounded by the whole tuple, so the columns together
/// must be unique and never NULL (`lethe check` reads that from the live schema).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    columns: Vec<Ident>,
}

impl Key {
    /// A key of one column.
    pub fn single(column: Ident) -> Key {
        Key {
            columns: vec![column],
        }
    }

    /// A key of the given columns, in order: at least one, each once.
    pub fn new(columns: Vec<Ident>) -> Result<Key, KeyError> {
        if let Some((_, twice)) =
            (columns.iter().enumerate()).find(|(i, c)| columns[..*i].contains(c))
        {
            return Err(KeyError::Repeated(twice.clone()));
        }
        if columns.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Key { columns })
    }

    /// The columns, in key order.
    pub fn columns(&self) -> &[Ident] {
        &self.columns
    }

    /// The first column: what an integer shard splits on.
    pub fn first(&self) -> &Ident {
        &self.columns[0]
    }

    /// True for a key of more than one column.
    pub fn is_composite(&self) -> bool {
        self.columns.len() > 1
    }

    /// True when `column` is one of the key's columns.
    pub fn contains(&self, column: &Ident) -> bool {
        self.columns.contains(column)
    }

    /// True when a column named `name` (as the catalog spells it) is one of the key's columns.
    pub fn contains_name(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.as_str() == name)
    }
}

/// Why a list of columns is no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No column at all.
    #[error("an empty list; expected a column or a list of columns, e.g. `[customer_id, seq]`")]
    Empty,
    /// A column named twice.
    #[error("column `{0}` is listed twice; expected each key column once")]
    Repeated(Ident),
}

/// A single key is written as its column (as before composite keys: the policy hash of an
/// existing policy stays the same), a composite one as the list of its columns.
impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.columns.as_slice() {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }
}

/// `id`, or `(customer_id, seq)`.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.columns.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                let names: Vec<&str> = many.iter().map(Ident::as_str).collect();
                write!(f, "({})", names.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(names: &[&str]) -> Vec<Ident> {
        names.iter().map(|n| Ident::parse(n).unwrap()).collect()
    }

    #[test]
    fn a_single_key_serializes_as_before() {
        let k = Key::single(Ident::parse("id").unwrap());
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"id\"");
        assert_eq!(k.to_string(), "id");
        assert!(!k.is_composite());
    }

    #[test]
    fn a_composite_key_is_a_list() {
        let k = Key::new(idents(&["customer_id", "seq"])).unwrap();
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            "[\"customer_id\",\"seq\"]"
        );
        assert_eq!(k.to_string(), "(customer_id, seq)");
        assert_eq!(k.first().as_str(), "customer_id");
        assert!(k.is_composite());
    }

    #[test]
    fn empty_and_repeated_keys_are_refused() {
        assert_eq!(Key::new(Vec::new()), Err(KeyError::Empty));
        assert_eq!(
            Key::new(idents(&["a", "b", "a"])),
            Err(KeyError::Repeated(Ident::parse("a").unwrap()))
        );
    }
}
