//! `depmod.d` configuration: which copy of a module wins when a tree holds
//! two (`search`, `override`) and which directories are skipped
//! (`exclude`), as kmod's depmod reads it.
//!
//! `external` (modules outside the modules directory) is refused: the
//! index would then depend on files we do not see. Kernel-version patterns
//! are matched as kmod's unanchored POSIX regex for the patterns
//! configurations use (`*`, literal versions with `.` as any character);
//! any other regex is refused rather than guessed.

use crate::error::DepmodError;

/// One `search` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// A subdirectory of the modules directory.
    Path(String),
    /// `built-in`: everything no other entry names.
    Builtin,
}

/// The configuration in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// In kmod's list order: the last `search` word first.
    pub(crate) searches: Vec<Search>,
    /// `subdir/modname` paths (no extension), last line first.
    pub(crate) overrides: Vec<String>,
    /// Directory (or file) names skipped anywhere in the tree.
    pub(crate) excludes: Vec<String>,
}

impl Default for Config {
    /// No configuration files: `updates` first, as depmod does then.
    fn default() -> Self {
        Config {
            searches: vec![Search::Path("updates".into())],
            overrides: Vec::new(),
            excludes: Vec::new(),
        }
    }
}

/// Does the kernel-version pattern match `kversion`?
fn version_matches(pattern: &str, kversion: &str) -> Result<bool, String> {
    if pattern == "*" {
        return Ok(true);
    }
    if let Some(c) = pattern.chars().find(|c| "*+?()[]{}|^$\\".contains(*c)) {
        return Err(format!(
            "kernel version pattern {pattern:?} uses the regex operator {c:?}; only \"*\" and literal versions are supported"
        ));
    }
    let p = pattern.as_bytes();
    let k = kversion.as_bytes();
    Ok(p.is_empty()
        || k.windows(p.len())
            .any(|w| w.iter().zip(p).all(|(a, b)| *b == b'.' || a == b)))
}

impl Config {
    /// Parse configuration files given as (path, text), already in kmod's
    /// order: all files by name, a name in an earlier directory hiding the
    /// same name in a later one. `kversion` selects `override` lines.
    pub fn parse(files: &[(String, String)], kversion: &str) -> Result<Config, DepmodError> {
        let mut c = Config {
            searches: Vec::new(),
            overrides: Vec::new(),
            excludes: Vec::new(),
        };
        for (file, text) in files {
            let err = |line: usize, msg: String| DepmodError::Config {
                file: file.clone(),
                line,
                msg,
            };
            for (line, l) in logical_lines(text) {
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                let mut w = l.split(['\t', ' ']).filter(|s| !s.is_empty());
                let Some(cmd) = w.next() else { continue };
                match cmd {
                    "search" => {
                        for s in w {
                            c.searches.insert(
                                0,
                                if s == "built-in" {
                                    Search::Builtin
                                } else if s == "external" {
                                    return Err(err(
                                        line,
                                        "search \"external\": modules outside the modules directory are not supported".into(),
                                    ));
                                } else {
                                    Search::Path(s.to_string())
                                },
                            );
                        }
                    }
                    "override" => {
                        let (Some(m), Some(v), Some(sub)) = (w.next(), w.next(), w.next()) else {
                            continue; // depmod ignores the bad line
                        };
                        if version_matches(v, kversion).map_err(|m| err(line, m))? {
                            c.overrides.insert(0, format!("{sub}/{m}"));
                        }
                    }
                    "external" => {
                        let (Some(v), Some(_)) = (w.next(), w.next()) else {
                            continue;
                        };
                        if version_matches(v, kversion).map_err(|m| err(line, m))? {
                            return Err(err(
                                line,
                                "external module directories are not supported".into(),
                            ));
                        }
                    }
                    "exclude" => {
                        for s in w {
                            c.excludes.insert(0, s.to_string());
                        }
                    }
                    _ => {} // include, make_map_files, unknown: depmod ignores them
                }
            }
        }
        if c.searches.is_empty() {
            c.searches.push(Search::Path("updates".into()));
        }
        Ok(c)
    }

    /// Whether depmod skips an entry of this name while walking.
    pub fn excluded(&self, name: &str) -> bool {
        name == "."
            || name == ".."
            || name == "build"
            || name == "source"
            || self.excludes.iter().any(|e| e == name)
    }

    /// True when a module found at `new` (relative path) does not displace
    /// the one already taken from `old` (kmod's
    /// `depmod_module_is_higher_priority`, quirks included); both share
    /// the module name `modname`.
    pub(crate) fn keeps_old(&self, old: &str, new: &str, modname_len: usize) -> bool {
        // The path up to the file name plus as many characters as the
        // module name has: what override entries are compared with.
        let stem = |p: &str| -> Vec<u8> {
            let p = p.as_bytes();
            let base = p.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
            p[..(base + modname_len).min(p.len())].to_vec()
        };
        let (new_stem, old_stem) = (stem(new), stem(old));
        for ov in &self.overrides {
            if ov.as_bytes() == new_stem {
                return false;
            }
            if ov.as_bytes() == old_stem {
                return true;
            }
        }
        let (mut bprio, mut oldprio, mut newprio) = (-1i64, -1i64, -1i64);
        let under = |stem: &[u8], dir: &str| {
            stem.len() > dir.len() && stem[dir.len()] == b'/' && stem.starts_with(dir.as_bytes())
        };
        for (i, s) in self.searches.iter().enumerate() {
            match s {
                Search::Builtin => bprio = i as i64,
                Search::Path(dir) => {
                    if under(&new_stem, dir) {
                        newprio = i as i64;
                    } else if under(&old_stem, dir) {
                        oldprio = i as i64;
                    }
                }
            }
        }
        if newprio < 0 {
            newprio = bprio;
        }
        if oldprio < 0 {
            oldprio = bprio;
        }
        newprio <= oldprio
    }
}

/// Lines joined across backslash-newlines, with the 1-based number of
/// each logical line's first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, l) in text.lines().enumerate() {
        if cur.is_empty() {
            start = i + 1;
        }
        match l.strip_suffix('\\') {
            Some(head) => cur.push_str(head),
            None => {
                cur.push_str(l);
                out.push((start, std::mem::take(&mut cur)));
            }
        }
    }
    if !cur.is_empty() {
        out.push((start, cur));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        Config::parse(&[("t.conf".into(), text.into())], "6.1.0-9-amd64").unwrap()
    }

    #[test]
    fn first_listed_search_directory_wins() {
        let c = cfg("search updates ubuntu built-in\n");
        // A copy under updates/ displaces one elsewhere, not the reverse.
        assert!(!c.keeps_old("kernel/a/x.ko", "updates/x.ko", 1));
        assert!(c.keeps_old("updates/x.ko", "kernel/a/x.ko", 1));
        assert!(!c.keeps_old("kernel/a/x.ko", "ubuntu/x.ko", 1));
        // Same priority: the first found stays.
        assert!(c.keeps_old("kernel/a/x.ko", "kernel/b/x.ko", 1));
    }

    #[test]
    fn default_prefers_updates_and_override_beats_search() {
        let c = Config::default();
        assert!(!c.keeps_old("kernel/x.ko", "updates/x.ko", 1));
        let c = cfg("override x * extra\n");
        assert!(!c.keeps_old("updates/x.ko", "extra/x.ko.xz", 1));
        assert!(c.keeps_old("extra/x.ko", "updates/x.ko", 1));
    }

    #[test]
    fn unsupported_lines_are_errors_naming_file_and_line() {
        let e = Config::parse(
            &[("d.conf".into(), "# c\nexternal * /opt/mods\n".into())],
            "6.1",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("d.conf:2:"), "{e}");
        let e = Config::parse(&[("d.conf".into(), "override x ^6 extra\n".into())], "6.1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("regex"), "{e}");
        // A version that does not match leaves the line out.
        assert!(cfg("override x 5.10.0 extra\n").overrides.is_empty());
        assert_eq!(cfg("override x 6.1.0 extra\n").overrides, ["extra/x"]);
        assert!(cfg("exclude foo\n").excluded("foo"));
    }
}
