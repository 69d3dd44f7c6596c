//! kmod's binary index (`modules.*.bin`, format 2.1): a radix trie keyed by
//! 7-bit ASCII, each node written after its children, all integers
//! big-endian.
//!
//! File: magic `B0 07 F4 57`, version `00 02 00 01`, root node offset.
//! Node: `prefix\0` when it has a prefix, then `first last` and one offset
//! per child character in `first..=last` (0 for none) when it has
//! children, then a value count and `(priority, value\0)` pairs when it
//! has values. A node's offset carries flags in its top bits saying which
//! of the three parts are present.
//!
//! The trie's shape depends only on the set of keys; what depends on the
//! order of insertion is the order of values under one key: by priority,
//! and for equal priorities the later insertion first. That is kept here
//! exactly, so the bytes equal depmod's.

use std::collections::BTreeMap;

use crate::error::DepmodError;

const MAGIC: u32 = 0xB007_F457;
const VERSION: u32 = 0x0002_0001;
const FLAG_PREFIX: u32 = 0x8000_0000;
const FLAG_VALUES: u32 = 0x4000_0000;
const FLAG_CHILDS: u32 = 0x2000_0000;
/// Offsets must fit below the flag nibble.
const OFFSET_MASK: u32 = 0x0FFF_FFFF;

#[derive(Debug, Default)]
struct Node {
    prefix: Vec<u8>,
    /// (priority, value), kept in output order.
    values: Vec<(u32, Vec<u8>)>,
    /// Child node (index into the arena) per next character.
    children: BTreeMap<u8, usize>,
}

impl Node {
    fn add_value(&mut self, value: &[u8], priority: u32) {
        // Before the first value of equal or higher priority.
        let at = self
            .values
            .iter()
            .position(|(p, _)| *p >= priority)
            .unwrap_or(self.values.len());
        self.values.insert(at, (priority, value.to_vec()));
    }
}

/// An index being built. Nodes live in one arena (index 0 is the root), so
/// neither building, writing nor dropping recurses: a trie as deep as its
/// longest key costs no stack.
#[derive(Debug)]
pub struct Index {
    nodes: Vec<Node>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            nodes: vec![Node::default()],
        }
    }
}

fn check_ascii(what: &str, s: &[u8]) -> Result<(), DepmodError> {
    match s.iter().position(|&b| b >= 0x80) {
        Some(i) => Err(DepmodError::Index {
            what: String::from_utf8_lossy(s).into_owned(),
            msg: format!(
                "{what} byte {i} is {:#04x}: kmod's index holds only 7-bit ASCII",
                s[i]
            ),
        }),
        None => Ok(()),
    }
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Index::default()
    }

    /// Add `value` under `key` with `priority` (lower sorts first).
    pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) -> Result<(), DepmodError> {
        check_ascii("key", key)?;
        check_ascii("value", value)?;
        for (what, s) in [("key", key), ("value", value)] {
            if s.contains(&0) {
                return Err(DepmodError::Index {
                    what: String::from_utf8_lossy(key).into_owned(),
                    msg: format!("{what} holds a NUL byte"),
                });
            }
        }
        let mut n = 0;
        let mut i = 0;
        loop {
            // Split the node where its prefix and the key part ways: the
            // node keeps the shared head, a new child takes the rest.
            let common = self.nodes[n]
                .prefix
                .iter()
                .zip(&key[i..])
                .take_while(|(a, b)| a == b)
                .count();
            if common < self.nodes[n].prefix.len() {
                let old = std::mem::take(&mut self.nodes[n]);
                let ch = old.prefix[common];
                let moved = Node {
                    prefix: old.prefix[common + 1..].to_vec(),
                    values: old.values,
                    children: old.children,
                };
                self.nodes.push(moved);
                let id = self.nodes.len() - 1;
                let node = &mut self.nodes[n];
                node.prefix = old.prefix[..common].to_vec();
                node.children.insert(ch, id);
            }
            i += common;
            let Some(&ch) = key.get(i) else {
                self.nodes[n].add_value(value, priority);
                return Ok(());
            };
            match self.nodes[n].children.get(&ch) {
                Some(&c) => {
                    n = c;
                    i += 1;
                }
                None => {
                    let mut child = Node {
                        prefix: key[i + 1..].to_vec(),
                        ..Node::default()
                    };
                    child.add_value(value, priority);
                    self.nodes.push(child);
                    let id = self.nodes.len() - 1;
                    self.nodes[n].children.insert(ch, id);
                    return Ok(());
                }
            }
        }
    }

    /// The index file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DepmodError> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        // Post-order, children in character order, as depmod writes it:
        // a node is written once all its children have offsets.
        let mut offsets: Vec<Option<u32>> = vec![None; self.nodes.len()];
        let mut stack = vec![0usize];
        while let Some(&n) = stack.last() {
            let node = &self.nodes[n];
            let pending: Vec<usize> = node
                .children
                .values()
                .copied()
                .filter(|&c| offsets[c].is_none())
                .collect();
            if !pending.is_empty() {
                // Pushed in reverse so the lowest character is written first.
                stack.extend(pending.into_iter().rev());
                continue;
            }
            stack.pop();
            offsets[n] = Some(write_node(node, &offsets, &mut out)?);
        }
        let root = offsets[0].expect("root written last");
        out[8..12].copy_from_slice(&root.to_be_bytes());
        Ok(out)
    }
}

/// Write one node whose children are written; its offset with flags.
fn write_node(node: &Node, offsets: &[Option<u32>], out: &mut Vec<u8>) -> Result<u32, DepmodError> {
    let at = u32::try_from(out.len())
        .ok()
        .filter(|&o| o <= OFFSET_MASK)
        .ok_or_else(|| DepmodError::Index {
            what: "index".into(),
            msg: format!("{} bytes exceed the format's 256 MiB offsets", out.len()),
        })?;
    let mut offset = at;
    if !node.prefix.is_empty() {
        out.extend_from_slice(&node.prefix);
        out.push(0);
        offset |= FLAG_PREFIX;
    }
    if let (Some((&first, _)), Some((&last, _))) = (
        node.children.first_key_value(),
        node.children.last_key_value(),
    ) {
        out.push(first);
        out.push(last);
        for c in first..=last {
            let o = node.children.get(&c).map_or(0, |&id| {
                offsets[id].expect("children are written before their parent")
            });
            out.extend_from_slice(&o.to_be_bytes());
        }
        offset |= FLAG_CHILDS;
    }
    if !node.values.is_empty() {
        out.extend_from_slice(&(node.values.len() as u32).to_be_bytes());
        for (p, v) in &node.values {
            out.extend_from_slice(&p.to_be_bytes());
            out.extend_from_slice(v);
            out.push(0);
        }
        offset |= FLAG_VALUES;
    }
    Ok(offset)
}
