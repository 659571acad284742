//! YAML read into serde_yaml_ng's `Value` with a bound on how many nodes it may hold. An alias
//! (`*name`) stands for a copy of its anchored node: 2,000 aliases of a 2,000-item sequence are
//! four million nodes from a text of 14 KB, and serde_yaml_ng's own limit (a hundred alias uses
//! per event) lets that through. Without aliases a text holds fewer than two nodes per byte
//! (`[?, ?]`: a mapping, its key and its value for two bytes), so twice the text's length is
//! room for any template. CloudFormation itself takes no aliases at all.
//!
//! The value is built exactly as `Value`'s own `Deserialize` builds it (tags, numbers, the
//! duplicate-key error), one node at a time against the budget.

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde_yaml_ng::mapping::Entry;
use serde_yaml_ng::value::{Tag, TaggedValue};
use serde_yaml_ng::{Mapping, Value};
use std::cell::Cell;
use std::fmt;

/// Why reading stopped.
pub(super) enum YamlReadError {
    /// Not YAML (or nested past serde_yaml_ng's limit): its error, with its place.
    Invalid(serde_yaml_ng::Error),
    /// The aliases expand past the budget; the error carries the place reading stopped.
    TooManyNodes(serde_yaml_ng::Error),
}

/// Reads `text`, refusing it once it would hold more nodes than twice its length.
pub(super) fn read_yaml(text: &str) -> Result<Value, YamlReadError> {
    let nodes_left = Cell::new(node_budget(text));
    let exhausted = Cell::new(false);
    let seed = Budgeted {
        nodes_left: &nodes_left,
        exhausted: &exhausted,
    };
    seed.deserialize(serde_yaml_ng::Deserializer::from_str(text))
        .map_err(|error| {
            if exhausted.get() {
                YamlReadError::TooManyNodes(error)
            } else {
                YamlReadError::Invalid(error)
            }
        })
}

/// The most nodes a text may hold.
pub(super) fn node_budget(text: &str) -> usize {
    text.len().saturating_mul(2).saturating_add(64)
}

/// A node to read, and the budget it comes out of.
#[derive(Clone, Copy)]
struct Budgeted<'a> {
    nodes_left: &'a Cell<usize>,
    exhausted: &'a Cell<bool>,
}

impl Budgeted<'_> {
    fn spend<E: de::Error>(self) -> Result<(), E> {
        match self.nodes_left.get().checked_sub(1) {
            Some(left) => {
                self.nodes_left.set(left);
                Ok(())
            }
            None => {
                self.exhausted.set(true);
                Err(E::custom(
                    "its aliases (`*name`) repeat more nodes than a template of its size holds",
                ))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Budgeted<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.spend()?;
        deserializer.deserialize_any(self)
    }
}

/// The same visits as `Value`'s own visitor, each node spent from the budget.
impl<'de> Visitor<'de> for Budgeted<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Value, E> {
        Ok(Value::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Value, E> {
        Ok(Value::Number(number.into()))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Value, E> {
        Ok(Value::Number(number.into()))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Value, E> {
        Ok(Value::Number(number.into()))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Value, E> {
        Ok(Value::String(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Value, E> {
        Ok(Value::String(text))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut sequence = Vec::new();
        while let Some(item) = items.next_element_seed(self)? {
            sequence.push(item);
        }
        Ok(Value::Sequence(sequence))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut mapping = Mapping::new();
        while let Some(key) = entries.next_key_seed(self)? {
            match mapping.entry(key) {
                Entry::Occupied(entry) => {
                    return Err(de::Error::custom(duplicate_key_message(entry.key())));
                }
                Entry::Vacant(entry) => {
                    entry.insert(entries.next_value_seed(self)?);
                }
            }
        }
        Ok(Value::Mapping(mapping))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, tagged: A) -> Result<Value, A::Error> {
        let (tag, contents) = tagged.variant_seed(TagSeed)?;
        let value = contents.newtype_variant_seed(self)?;
        Ok(Value::Tagged(Box::new(TaggedValue { tag, value })))
    }
}

/// serde_yaml_ng's words for a key given twice.
fn duplicate_key_message(key: &Value) -> String {
    match key {
        Value::Null => "duplicate entry with null key".to_owned(),
        Value::Bool(flag) => format!("duplicate entry with key `{flag}`"),
        Value::Number(number) => format!("duplicate entry with key {number}"),
        Value::String(text) => format!("duplicate entry with key {text:?}"),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => {
            "duplicate entry in YAML map".to_owned()
        }
    }
}

/// A tag's name, as `Value` reads it.
struct TagSeed;

impl<'de> DeserializeSeed<'de> for TagSeed {
    type Value = Tag;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Tag, D::Error> {
        deserializer.deserialize_string(self)
    }
}

impl<'de> Visitor<'de> for TagSeed {
    type Value = Tag;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a YAML tag string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Tag, E> {
        self.visit_string(text.to_owned())
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Tag, E> {
        if text.is_empty() {
            return Err(E::custom("empty YAML tag is not allowed"));
        }
        Ok(Tag::new(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_serde_yaml_ng(text: &str) {
        let ours = read_yaml(text).map_err(|error| match error {
            YamlReadError::Invalid(error) | YamlReadError::TooManyNodes(error) => error.to_string(),
        });
        let theirs = serde_yaml_ng::from_str::<Value>(text).map_err(|error| error.to_string());
        assert_eq!(ours, theirs, "{text}");
    }

    #[test]
    fn templates_are_read_exactly_as_serde_yaml_ng_reads_them() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            same_as_serde_yaml_ng(&text);
        }
        for text in [
            "a: !Ref X\nb: !GetAtt [T, Arn]\nc: !Sub\n  - '${a}'\n  - {a: 1}\n",
            "n: 12\nf: 1.5\nbig: 123456789012345678901234567890\nneg: -3\nt: true\nz: ~\ne:\n",
            "a: 1\na: 2\n",
            "1: x\n1: y\n",
            "[1]: x\n[1]: y\n",
            "true: x\ntrue: y\n",
            "~: x\n~: y\n",
            "a: &x [1, 2]\nb: *x\n",
            "! x: 1\n",
            "!!str 1: !!int 2\n",
            "a: [unclosed\n",
            "a: *unknown\n",
            "--- 1\n--- 2\n",
            "",
            "[?, ?, :]",
        ] {
            same_as_serde_yaml_ng(text);
        }
    }

    #[test]
    fn aliases_that_expand_past_twice_the_text_are_refused() {
        let items = vec!["x"; 300].join(", ");
        let aliases = vec!["*items"; 300].join(", ");
        let text = format!("items: &items [{items}]\ncopies: [{aliases}]\n");
        assert!(matches!(
            read_yaml(&text),
            Err(YamlReadError::TooManyNodes(_))
        ));
        // A few copies stay well within it.
        let text = format!("items: &items [{items}]\ncopies: [*items, *items]\n");
        assert!(read_yaml(&text).is_ok());
    }

    #[test]
    fn no_text_without_aliases_holds_more_nodes_than_its_budget() {
        // The densest forms: a key and its empty value per two bytes, an empty item per two.
        for text in [
            "{a,b,c,d}",
            "[a: ,b: ]",
            "[!a ,!a ]",
            "-\n-\n-\n",
            "[[],[],{}]",
            "[? a, ? b]",
        ] {
            let counted = nodes(&serde_yaml_ng::from_str::<Value>(text).unwrap());
            assert!(counted <= 2 * text.len(), "{text}: {counted}");
            assert!(read_yaml(text).is_ok());
        }
    }

    fn nodes(value: &Value) -> usize {
        1 + match value {
            Value::Sequence(items) => items.iter().map(nodes).sum(),
            Value::Mapping(mapping) => mapping
                .iter()
                .map(|(key, value)| nodes(key) + nodes(value))
                .sum(),
            Value::Tagged(tagged) => nodes(&tagged.value),
            _ => 0,
        }
    }
}
