//! depmod without depmod: the module tree's index files, computed from the
//! modules' own `.modinfo` and symbol tables the way kmod 30's depmod does,
//! so that the files are byte for byte what `depmod -b` writes for the same
//! tree (checked against it in the tests).
//!
//! The steps and the orders that shape the bytes:
//!
//! 1. Modules are offered in walk order; of two with one name, `depmod.d`'s
//!    `search`/`override` pick one (default: `updates/` first; otherwise
//!    the first found).
//! 2. The list is kmod's hash order of the names, then stably sorted by
//!    `modules.order` (listed modules first, in its order).
//! 3. Exported symbols go into one table in list order (a later exporter
//!    replaces an earlier one); each module's needed symbols, in table
//!    order, name the modules it depends on.
//! 4. A topological sort (users before what they use, a stack of ready
//!    modules) numbers the modules; `modules.dep` lists each module's whole
//!    closure by that number, so the reverse is a load order.

use std::collections::HashMap;

use crate::config::Config;
use crate::elf::{ModuleFacts, module_facts};
use crate::error::DepmodError;
use crate::file::{decompress, is_module_name, module_name};
use crate::hash::iteration_order;
use crate::index::Index;

/// Bucket counts of depmod's hash tables (they never grow).
const MODULE_BUCKETS: u32 = 512;
const SYMBOL_BUCKETS: u32 = 2048;

/// One module taken into the index.
#[derive(Debug)]
struct Module {
    name: String,
    /// Relative to the modules directory, as found.
    relpath: String,
    /// `relpath` with the file name cut to `name`'s length plus `.ko`:
    /// how `modules.order` names it.
    order_path: String,
    facts: ModuleFacts,
}

/// The index files of a module tree, by file name, in depmod's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFiles {
    /// `(file name, bytes)`: `modules.dep`, `modules.dep.bin`,
    /// `modules.alias`, `modules.alias.bin`, `modules.softdep`,
    /// `modules.symbols`, `modules.symbols.bin`, `modules.builtin.bin`,
    /// `modules.builtin.alias.bin`, `modules.devname`.
    pub files: Vec<(&'static str, Vec<u8>)>,
}

impl IndexFiles {
    /// One file's bytes.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b.as_slice())
    }
}

/// The tree-level inputs besides the modules (each optional, as in a tree).
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeFiles<'a> {
    /// `modules.order`.
    pub order: Option<&'a [u8]>,
    /// `modules.builtin`.
    pub builtin: Option<&'a [u8]>,
    /// `modules.builtin.modinfo`.
    pub builtin_modinfo: Option<&'a [u8]>,
}

/// A module tree being indexed.
#[derive(Debug)]
pub struct Depmod {
    config: Config,
    modules: Vec<Option<Module>>,
    by_name: HashMap<String, usize>,
}

impl Depmod {
    /// Start with a configuration (`Config::default()` for none).
    pub fn new(config: Config) -> Self {
        Depmod {
            config,
            modules: Vec::new(),
            by_name: HashMap::new(),
        }
    }

    /// Whether a directory entry of this name is walked into (or, for a
    /// file, looked at) at all.
    pub fn walks(&self, name: &str) -> bool {
        !self.config.excluded(name)
    }

    /// Whether the file at `relpath` (relative to the modules directory)
    /// is a module that would be taken now: its bytes are needed only then.
    pub fn wants(&self, relpath: &str) -> bool {
        if !is_module_name(relpath) {
            return false;
        }
        let name = module_name(relpath);
        match self
            .by_name
            .get(&name)
            .and_then(|&i| self.modules[i].as_ref())
        {
            None => true,
            Some(old) => !self.config.keeps_old(&old.relpath, relpath, name.len()),
        }
    }

    /// Offer the module file at `relpath` with its bytes (compressed or
    /// not), in walk order. A module this tree holds twice replaces the
    /// earlier copy only where the configuration says so.
    pub fn add(&mut self, relpath: &str, raw: Vec<u8>) -> Result<(), DepmodError> {
        if !self.wants(relpath) {
            return Ok(());
        }
        let err = |msg: String| DepmodError::Module {
            path: relpath.to_string(),
            msg,
        };
        let elf = decompress(raw).map_err(|e| err(e.0))?;
        let facts = module_facts(&elf).map_err(|e| err(e.0))?;
        let name = module_name(relpath);
        let dir_len = relpath.rfind('/').map_or(0, |i| i + 1);
        let base = &relpath.as_bytes()[dir_len..];
        let mut order_path = relpath.as_bytes()[..dir_len].to_vec();
        order_path.extend_from_slice(&base[..name.len().min(base.len())]);
        order_path.extend_from_slice(b".ko");
        let m = Module {
            name: name.clone(),
            relpath: relpath.to_string(),
            order_path: String::from_utf8_lossy(&order_path).into_owned(),
            facts,
        };
        if let Some(&old) = self.by_name.get(&name) {
            self.modules[old] = None;
        }
        self.modules.push(Some(m));
        self.by_name.insert(name, self.modules.len() - 1);
        Ok(())
    }

    /// Compute every index file.
    pub fn finish(self, tree: TreeFiles<'_>) -> Result<IndexFiles, DepmodError> {
        let mut mods: Vec<Module> = self.modules.into_iter().flatten().collect();
        iteration_order(&mut mods, MODULE_BUCKETS, |m| m.name.as_bytes());
        sort_by_order_file(&mut mods, tree.order);
        let graph = Graph::build(&mods)?;

        let mut files: Vec<(&'static str, Vec<u8>)> = Vec::new();
        let (dep, dep_bin) = deps(&mods, &graph)?;
        files.push(("modules.dep", dep));
        files.push(("modules.dep.bin", dep_bin));
        let (alias, alias_bin) = aliases(&mods)?;
        files.push(("modules.alias", alias));
        files.push(("modules.alias.bin", alias_bin));
        files.push(("modules.softdep", softdeps(&mods)));
        let (sym, sym_bin) = symbols(&mods, &graph)?;
        files.push(("modules.symbols", sym));
        files.push(("modules.symbols.bin", sym_bin));
        files.push(("modules.builtin.bin", builtin_bin(tree.builtin)?));
        files.push((
            "modules.builtin.alias.bin",
            builtin_alias_bin(tree.builtin_modinfo)?,
        ));
        files.push(("modules.devname", devnames(&mods)));
        Ok(IndexFiles { files })
    }
}

/// Stable sort by `modules.order` line (listed modules first, in its
/// order); a file whose last line lacks its newline is ignored, as depmod
/// ignores it.
fn sort_by_order_file(mods: &mut [Module], order: Option<&[u8]>) {
    let Some(order) = order else { return };
    let lines: Vec<&[u8]> = order.split_inclusive(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| !l.ends_with(b"\n")) {
        return;
    }
    let total = lines.len() as i64 + 1;
    let mut idx: HashMap<&[u8], i64> = HashMap::new();
    for (i, l) in lines.iter().enumerate() {
        idx.insert(&l[..l.len() - 1], i as i64 + 1 - total);
    }
    mods.sort_by_key(|m| idx.get(m.order_path.as_bytes()).copied().unwrap_or(1));
}

/// Who needs whom, and the topological numbering.
struct Graph {
    /// Direct dependencies of each module (list indices), by `sort_idx`.
    deps: Vec<Vec<usize>>,
    /// Topological number of each module (users before what they use).
    sort_idx: Vec<usize>,
    /// Symbol -> exporting module, in the table's final state.
    symbols: HashMap<String, usize>,
}

impl Graph {
    fn build(mods: &[Module]) -> Result<Graph, DepmodError> {
        let mut symbols: HashMap<String, usize> = HashMap::new();
        for (i, m) in mods.iter().enumerate() {
            for s in &m.facts.exports {
                symbols.insert(s.clone(), i);
            }
        }
        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); mods.len()];
        let mut users = vec![0usize; mods.len()];
        for (i, m) in mods.iter().enumerate() {
            for need in &m.facts.needs {
                let need = need.strip_prefix('.').unwrap_or(need);
                if let Some(&owner) = symbols.get(need) {
                    if !deps[i].contains(&owner) {
                        deps[i].push(owner);
                        users[owner] += 1;
                    }
                }
            }
        }
        // Kahn's algorithm with a stack, roots taken from the end.
        let mut left = users.clone();
        let mut roots: Vec<usize> = (0..mods.len()).filter(|&i| left[i] == 0).collect();
        let mut sort_idx = vec![usize::MAX; mods.len()];
        let mut n = 0;
        while let Some(src) = roots.pop() {
            sort_idx[src] = n;
            n += 1;
            for &d in &deps[src] {
                left[d] -= 1;
                if left[d] == 0 {
                    roots.push(d);
                }
            }
        }
        if n < mods.len() {
            let mut names: Vec<&str> = (0..mods.len())
                .filter(|&i| left[i] > 0)
                .map(|i| mods[i].name.as_str())
                .collect();
            names.sort_unstable();
            return Err(DepmodError::Cycle(names.join(", ")));
        }
        for d in &mut deps {
            d.sort_by_key(|&x| sort_idx[x]);
        }
        Ok(Graph {
            deps,
            sort_idx,
            symbols,
        })
    }

    /// Every module `m` needs, directly or not, by topological number.
    fn closure(&self, m: usize) -> Vec<usize> {
        let mut seen = vec![false; self.deps.len()];
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.deps[m].iter().rev().copied().collect();
        while let Some(d) = stack.pop() {
            if std::mem::replace(&mut seen[d], true) {
                continue;
            }
            out.push(d);
            stack.extend(self.deps[d].iter().rev());
        }
        out.sort_by_key(|&x| self.sort_idx[x]);
        out
    }
}

fn priority(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn deps(mods: &[Module], g: &Graph) -> Result<(Vec<u8>, Vec<u8>), DepmodError> {
    let mut text = Vec::new();
    let mut idx = Index::new();
    for (i, m) in mods.iter().enumerate() {
        let mut line = format!("{}:", m.relpath);
        for d in g.closure(i) {
            line.push(' ');
            line.push_str(&mods[d].relpath);
        }
        text.extend_from_slice(line.as_bytes());
        text.push(b'\n');
        idx.insert(m.name.as_bytes(), line.as_bytes(), priority(i))?;
    }
    Ok((text, idx.to_bytes()?))
}

fn aliases(mods: &[Module]) -> Result<(Vec<u8>, Vec<u8>), DepmodError> {
    let mut text = b"# Aliases extracted from modules themselves.\n".to_vec();
    let mut idx = Index::new();
    for (i, m) in mods.iter().enumerate() {
        for e in m.facts.modinfo.iter().filter(|e| e.key == "alias") {
            text.extend_from_slice(format!("alias {} {}\n", e.value, m.name).as_bytes());
            if let Some(a) = normalize_alias(&e.value) {
                idx.insert(a.as_bytes(), m.name.as_bytes(), priority(i))?;
            }
        }
    }
    Ok((text, idx.to_bytes()?))
}

fn softdeps(mods: &[Module]) -> Vec<u8> {
    let mut text = b"# Soft dependencies extracted from modules themselves.\n".to_vec();
    for m in mods {
        for e in m.facts.modinfo.iter().filter(|e| e.key == "softdep") {
            text.extend_from_slice(format!("softdep {} {}\n", m.name, e.value).as_bytes());
        }
    }
    text
}

fn symbols(mods: &[Module], g: &Graph) -> Result<(Vec<u8>, Vec<u8>), DepmodError> {
    let mut syms: Vec<(&String, usize)> = g.symbols.iter().map(|(s, &o)| (s, o)).collect();
    iteration_order(&mut syms, SYMBOL_BUCKETS, |(s, _)| s.as_bytes());
    let mut text = b"# Aliases for symbols, used by symbol_request().\n".to_vec();
    let mut idx = Index::new();
    for (s, owner) in syms {
        let m = &mods[owner];
        text.extend_from_slice(format!("alias symbol:{s} {}\n", m.name).as_bytes());
        idx.insert(
            format!("symbol:{s}").as_bytes(),
            m.name.as_bytes(),
            priority(owner),
        )?;
    }
    Ok((text, idx.to_bytes()?))
}

/// `modules.builtin.bin`: every built-in module's name. An absent
/// `modules.builtin` gives an empty file, as depmod leaves it.
fn builtin_bin(builtin: Option<&[u8]>) -> Result<Vec<u8>, DepmodError> {
    let Some(b) = builtin else {
        return Ok(Vec::new());
    };
    let mut idx = Index::new();
    for line in b.split_inclusive(|&c| c == b'\n') {
        if !line.first().is_some_and(u8::is_ascii_alphabetic) {
            continue;
        }
        // The name stops at the first `.` of the file name; a line without
        // one keeps its newline, as depmod's reading does.
        let base = line.rsplit(|&c| c == b'/').next().unwrap_or(line);
        let name: Vec<u8> = base
            .iter()
            .take_while(|&&c| c != b'.' && c != 0)
            .map(|&c| if c == b'-' { b'_' } else { c })
            .collect();
        idx.insert(&name, b"", 0)?;
    }
    idx.to_bytes()
}

/// `modules.builtin.alias.bin` from `modules.builtin.modinfo`
/// (`module.key=value\0` records; only `alias` keys count).
fn builtin_alias_bin(modinfo: Option<&[u8]>) -> Result<Vec<u8>, DepmodError> {
    let Some(d) = modinfo else {
        return Ok(Vec::new());
    };
    let mut idx = Index::new();
    let mut s = Stream { d, pos: 0 };
    while s.pos < d.len() {
        let Some(module) = s.until(b'.') else {
            continue;
        };
        let key = s.until(b'=').unwrap_or_default();
        if key != b"alias" {
            s.skip_record();
            continue;
        }
        let Some(value) = s.until(0) else { continue };
        if let Some(a) = normalize_alias(&String::from_utf8_lossy(value)) {
            idx.insert(a.as_bytes(), module, 0)?;
        }
    }
    idx.to_bytes()
}

/// depmod's character-by-character reading of `modules.builtin.modinfo`.
struct Stream<'a> {
    d: &'a [u8],
    pos: usize,
}

impl<'a> Stream<'a> {
    /// The bytes up to `end` (consumed), or `None` (and nothing kept) when
    /// a NUL or the end of the data comes first; empty counts as `None`.
    fn until(&mut self, end: u8) -> Option<&'a [u8]> {
        let start = self.pos;
        while self.pos < self.d.len() {
            let c = self.d[self.pos];
            self.pos += 1;
            if c == end {
                let s = &self.d[start..self.pos - 1];
                return (!s.is_empty()).then_some(s);
            }
            if c == 0 {
                return None;
            }
        }
        None
    }

    fn skip_record(&mut self) {
        while self.pos < self.d.len() {
            self.pos += 1;
            if self.d[self.pos - 1] == 0 {
                return;
            }
        }
    }
}

/// kmod's `alias_normalize`: `-` becomes `_` outside `[...]`; an unmatched
/// bracket drops the alias (depmod warns and skips it).
fn normalize_alias(a: &str) -> Option<String> {
    let mut out = String::with_capacity(a.len());
    let mut chars = a.chars();
    while let Some(c) = chars.next() {
        match c {
            '-' => out.push('_'),
            ']' => return None,
            '[' => {
                out.push('[');
                loop {
                    match chars.next() {
                        Some(']') => {
                            out.push(']');
                            break;
                        }
                        Some(c) => out.push(c),
                        None => return None,
                    }
                }
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// `modules.devname`: modules that name a device node (`devname:`) and its
/// numbers (`char-major-M-m` / `block-major-M-m`).
fn devnames(mods: &[Module]) -> Vec<u8> {
    let mut text = Vec::new();
    for m in mods {
        let mut devname: Option<&str> = None;
        let mut dev: Option<(char, u32, u32)> = None;
        for e in m.facts.modinfo.iter().filter(|e| e.key == "alias") {
            let v = e.value.as_str();
            if let Some(d) = v.strip_prefix("devname:") {
                devname = Some(d);
            } else if let Some(n) = scan_major_minor(v, "char-major-") {
                dev = Some(('c', n.0, n.1));
            } else if let Some(n) = scan_major_minor(v, "block-major-") {
                dev = Some(('b', n.0, n.1));
            }
            if dev.is_some() && devname.is_some() {
                break;
            }
        }
        if let (Some(name), Some((t, a, b))) = (devname, dev) {
            if text.is_empty() {
                text.extend_from_slice(b"# Device nodes to trigger on-demand module loading.\n");
            }
            text.extend_from_slice(format!("{} {name} {t}{a}:{b}\n", m.name).as_bytes());
        }
    }
    text
}

/// `sscanf(v, "<prefix>%u-%u")`: both numbers present (leading spaces and
/// a sign allowed, as `%u` allows; trailing text ignored).
fn scan_major_minor(v: &str, prefix: &str) -> Option<(u32, u32)> {
    let rest = v.strip_prefix(prefix)?;
    let (a, rest) = scan_u32(rest)?;
    let rest = rest.strip_prefix('-')?;
    let (b, _) = scan_u32(rest)?;
    Some((a, b))
}

fn scan_u32(s: &str) -> Option<(u32, &str)> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let mut n: u64 = 0;
    for c in s[..digits].bytes() {
        n = n.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    let n = n as u32;
    Some((if neg { n.wrapping_neg() } else { n }, &s[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_normalisation_keeps_brackets_and_drops_unmatched() {
        assert_eq!(
            normalize_alias("pci:v*d*sv*sd*bc0[1-2]sc*i*-x").unwrap(),
            "pci:v*d*sv*sd*bc0[1-2]sc*i*_x"
        );
        assert!(normalize_alias("a]b").is_none());
        assert!(normalize_alias("a[b").is_none());
    }

    #[test]
    fn major_minor_scan_like_sscanf() {
        assert_eq!(
            scan_major_minor("char-major-10-229", "char-major-"),
            Some((10, 229))
        );
        assert_eq!(
            scan_major_minor("char-major-10-229x", "char-major-"),
            Some((10, 229))
        );
        assert_eq!(scan_major_minor("char-major-10-*", "char-major-"), None);
        assert_eq!(scan_major_minor("block-major-8-*", "block-major-"), None);
    }

    #[test]
    fn builtin_modinfo_records_give_aliases() {
        let d = b"ext4.alias=fs-ext4\0ext4.license=GPL\0crc32c_generic.alias=crypto-crc32c\0";
        let bin = builtin_alias_bin(Some(d)).unwrap();
        let s = String::from_utf8_lossy(&bin);
        assert!(s.contains("fs_ext4") || s.contains("s_ext4"), "{s}");
        assert!(s.contains("ext4") && s.contains("crc32c_generic"));
        assert!(builtin_alias_bin(None).unwrap().is_empty());
    }
}
