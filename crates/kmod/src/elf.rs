//! What depmod reads from a module's ELF: the `.modinfo` strings, the
//! symbols it exports and the symbols it needs, in the order kmod's
//! `libkmod-elf.c` yields them (that order decides the dependency sort, so
//! it is part of the output, not a detail).
//!
//! Parsed with `object`'s typed ELF views; every section and string is
//! bounds-checked and a malformed module is an error naming what is wrong.

use object::Endianness;
use object::elf;
use object::read::elf::{FileHeader, SectionHeader, Sym};

use crate::error::ModuleError;

/// One `key=value` of `.modinfo`. A string without `=` reads as key and
/// value both (as kmod reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModinfoEntry {
    /// The key (`alias`, `depends`, `softdep`, ...).
    pub key: String,
    /// The value.
    pub value: String,
}

/// The facts depmod needs from one module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleFacts {
    /// `.modinfo`, in section order.
    pub modinfo: Vec<ModinfoEntry>,
    /// Exported symbols (`__crc_*` names, else `__ksymtab_strings`).
    pub exports: Vec<String>,
    /// Needed symbols: undefined `.symtab` entries, then `__versions`
    /// entries no undefined symbol named (e.g. `module_layout`).
    pub needs: Vec<String>,
}

/// Sizes of one `__versions` entry (CRC, then a NUL-padded name).
struct VersionLayout {
    entry: usize,
    crc: usize,
}

/// Read the facts of the (uncompressed) module `data`.
pub fn module_facts(data: &[u8]) -> Result<ModuleFacts, ModuleError> {
    if data.len() < 6 || &data[..4] != b"\x7fELF" {
        return Err(ModuleError::new("offset 0: no ELF magic (\\x7fELF)"));
    }
    match data[4] {
        2 => facts::<elf::FileHeader64<Endianness>>(data, VersionLayout { entry: 64, crc: 8 }),
        1 => facts::<elf::FileHeader32<Endianness>>(data, VersionLayout { entry: 64, crc: 4 }),
        c => Err(ModuleError::new(format!(
            "offset 4: ELF class {c}, expected 1 (32-bit) or 2 (64-bit)"
        ))),
    }
}

fn bad(what: &str, e: object::read::Error) -> ModuleError {
    ModuleError::new(format!("{what}: {e}"))
}

/// A module's sections by name, as kmod finds them: the first section
/// after the null one whose name matches.
struct Sections<'d, H: FileHeader<Endian = Endianness>> {
    data: &'d [u8],
    endian: Endianness,
    table: object::read::elf::SectionTable<'d, H>,
}

impl<'d, H: FileHeader<Endian = Endianness>> Sections<'d, H> {
    fn get(&self, name: &str) -> Result<Option<&'d [u8]>, ModuleError> {
        for s in self.table.iter().skip(1) {
            if self.table.section_name(self.endian, s) != Ok(name.as_bytes()) {
                continue;
            }
            return s
                .data(self.endian, self.data)
                .map(Some)
                .map_err(|e| bad(&format!("section {name}"), e));
        }
        Ok(None)
    }
}

fn facts<H: FileHeader<Endian = Endianness>>(
    data: &[u8],
    v: VersionLayout,
) -> Result<ModuleFacts, ModuleError> {
    let header = H::parse(data).map_err(|e| bad("ELF header", e))?;
    let endian = header.endian().map_err(|e| bad("ELF header", e))?;
    let table = header
        .sections(endian, data)
        .map_err(|e| bad("section headers", e))?;
    let secs = Sections {
        data,
        endian,
        table,
    };
    let modinfo = match secs.get(".modinfo")? {
        Some(d) => strings(d)
            .into_iter()
            .map(|s| {
                let s = String::from_utf8_lossy(s);
                match s.split_once('=') {
                    Some((k, val)) => ModinfoEntry {
                        key: k.to_string(),
                        value: val.to_string(),
                    },
                    None => ModinfoEntry {
                        key: s.to_string(),
                        value: s.to_string(),
                    },
                }
            })
            .collect(),
        None => return Err(ModuleError::new("no .modinfo section: not a kernel module")),
    };
    let strtab = secs.get(".strtab")?;
    let symtab = secs.get(".symtab")?;
    let symbols: &[H::Sym] = match symtab {
        Some(raw) => {
            let size = std::mem::size_of::<H::Sym>();
            if raw.len() % size != 0 {
                return Err(ModuleError::new(format!(
                    ".symtab is {} bytes, not a multiple of {size}",
                    raw.len()
                )));
            }
            object::pod::slice_from_all_bytes(raw)
                .map_err(|()| ModuleError::new(".symtab is misaligned"))?
        }
        None => &[],
    };
    let name_of = |i: usize, s: &H::Sym| -> Result<&[u8], ModuleError> {
        let strtab = strtab.unwrap_or(&[]);
        let off = s.st_name(endian) as usize;
        let rest = strtab.get(off..).filter(|r| !r.is_empty()).ok_or_else(|| {
            ModuleError::new(format!(
                ".symtab entry {i}: name offset {off} is past the {}-byte .strtab",
                strtab.len()
            ))
        })?;
        Ok(rest.split(|&b| b == 0).next().unwrap_or(&[]))
    };
    let has_symtab = strtab.is_some() && symtab.is_some();

    // Exports: kmod looks for `__crc_NAME` symbols first and falls back to
    // `__ksymtab_strings` when there are none.
    let mut exports = Vec::new();
    if has_symtab {
        for (i, s) in symbols.iter().enumerate().skip(1) {
            if let Some(n) = name_of(i, s)?.strip_prefix(b"__crc_") {
                exports.push(String::from_utf8_lossy(n).into_owned());
            }
        }
    }
    if exports.is_empty() {
        if let Some(d) = secs.get("__ksymtab_strings")? {
            exports = ksymtab_strings(d);
        }
    }

    // Needs: undefined symbols in table order, then the `__versions`
    // entries none of them named.
    let mut needs = Vec::new();
    if !has_symtab {
        return Err(ModuleError::new(
            "no .symtab/.strtab: cannot tell what it needs",
        ));
    }
    let sparc = matches!(
        header.e_machine(endian).0,
        m if m == elf::EM_SPARC.0 || m == elf::EM_SPARCV9.0
    );
    let versions = match secs.get("__versions")? {
        Some(d) if d.len() % v.entry == 0 => d,
        _ => &[],
    };
    let version_name = |i: usize| -> &[u8] {
        let e = &versions[i * v.entry + v.crc..(i + 1) * v.entry];
        e.split(|&b| b == 0).next().unwrap_or(&[])
    };
    let n_versions = versions.len() / v.entry;
    let mut visited = vec![false; n_versions];
    for (i, s) in symbols.iter().enumerate().skip(1) {
        if s.st_shndx(endian) != elf::SHN_UNDEF {
            continue;
        }
        // SPARC's global register "symbols" are not undefined.
        if sparc && s.st_type().0 == 13 {
            continue;
        }
        let n = name_of(i, s)?;
        if n.is_empty() {
            continue;
        }
        if let Some(j) = (0..n_versions).find(|&j| version_name(j) == n) {
            visited[j] = true;
        }
        needs.push(String::from_utf8_lossy(n).into_owned());
    }
    for (j, seen) in visited.iter().enumerate() {
        if !seen {
            needs.push(String::from_utf8_lossy(version_name(j)).into_owned());
        }
    }
    Ok(ModuleFacts {
        modinfo,
        exports,
        needs,
    })
}

/// NUL-separated strings as kmod splits `.modinfo`: leading NULs skipped,
/// runs of NULs separate, an unterminated last string counts.
pub fn strings(mut d: &[u8]) -> Vec<&[u8]> {
    while d.len() > 1 && d[0] == 0 {
        d = &d[1..];
    }
    if d.len() <= 1 {
        return Vec::new();
    }
    d.split(|&b| b == 0).filter(|s| !s.is_empty()).collect()
}

/// `__ksymtab_strings`: the same splitting, every non-empty string.
fn ksymtab_strings(d: &[u8]) -> Vec<String> {
    strings(d)
        .into_iter()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_split_like_kmod() {
        assert_eq!(strings(b"\0\0a=1\0\0b=2"), vec![&b"a=1"[..], b"b=2"]);
        assert!(strings(b"\0").is_empty());
        assert!(strings(b"").is_empty());
        assert_eq!(strings(b"x\0"), vec![&b"x"[..]]);
    }

    #[test]
    fn not_an_elf_is_an_error_naming_the_offset() {
        let e = module_facts(b"hello world").unwrap_err().to_string();
        assert!(e.contains("offset 0"), "{e}");
        let mut h = b"\x7fELF\x07\x01".to_vec();
        h.resize(64, 0);
        assert!(
            module_facts(&h)
                .unwrap_err()
                .to_string()
                .contains("class 7")
        );
    }
}
