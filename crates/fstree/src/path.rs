//! Paths inside a tree: byte components, never `.`, `..` or empty, so a
//! path can never leave the tree it names.

use std::fmt;

/// The longest path a tree may hold, in bytes (Linux's `PATH_MAX`, less
/// its NUL): no program could open a deeper file by name, and a bound on
/// paths bounds what listing every path of a tree costs.
pub const MAX_PATH: usize = 4095;

/// A path from the root of a tree, as validated components, held as one
/// string of names joined by `/` (one allocation, whatever the depth).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamePath {
    /// `name/name/...`, no leading or trailing `/`; empty for the root.
    bytes: Vec<u8>,
    /// Number of components.
    depth: usize,
}

/// Why a path or name was refused, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A `..` component, which could climb out of the tree.
    #[error("{0}: `..` would leave the tree")]
    Escapes(String),
    /// A component that is empty, has a NUL, or is over 255 bytes.
    #[error("{0}: not a valid file name (empty, NUL byte, or over 255 bytes)")]
    BadName(String),
    /// A component that should be a directory is something else.
    #[error("{0}: not a directory")]
    NotADirectory(String),
    /// Nothing at that path.
    #[error("{0}: no such file or directory")]
    NotFound(String),
    /// The operation needs a name and the path is the root.
    #[error("{0:?}: the root has no name")]
    IsRoot(String),
    /// Linking a directory below itself.
    #[error("{0}: would make a directory cycle")]
    Cycle(String),
    /// A path longer than [`MAX_PATH`] bytes.
    #[error("{0}...: a path of {1} bytes, longer than the {MAX_PATH} a path may have")]
    TooLong(String, usize),
}

pub(crate) fn check_name(name: &[u8]) -> Result<(), PathError> {
    if name.is_empty() || name.len() > 255 || name.contains(&0) || name.contains(&b'/') {
        return Err(PathError::BadName(
            String::from_utf8_lossy(name).into_owned(),
        ));
    }
    if name == b"." || name == b".." {
        return Err(PathError::Escapes(
            String::from_utf8_lossy(name).into_owned(),
        ));
    }
    Ok(())
}

impl NamePath {
    /// The root itself.
    pub fn root() -> Self {
        NamePath::default()
    }

    /// Parse a path as an archive or a user names it: leading `/` and `./`
    /// and repeated or trailing slashes are accepted; `..` is refused
    /// anywhere, since a tree has no outside to climb to. Paths over
    /// [`MAX_PATH`] bytes are refused.
    pub fn parse(p: impl AsRef<[u8]>) -> Result<Self, PathError> {
        let raw = p.as_ref();
        let mut out = NamePath::root();
        for comp in raw.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => continue,
                b".." => {
                    return Err(PathError::Escapes(
                        String::from_utf8_lossy(raw).into_owned(),
                    ));
                }
                c => {
                    check_name(c).map_err(|_| {
                        PathError::BadName(String::from_utf8_lossy(raw).into_owned())
                    })?;
                    out.push(c);
                    if out.bytes.len() > MAX_PATH {
                        let shown = String::from_utf8_lossy(&raw[..raw.len().min(100)]);
                        return Err(PathError::TooLong(shown.into_owned(), raw.len()));
                    }
                }
            }
        }
        Ok(out)
    }

    fn push(&mut self, name: &[u8]) {
        if self.depth > 0 {
            self.bytes.push(b'/');
        }
        self.bytes.extend_from_slice(name);
        self.depth += 1;
    }

    /// The components, root first.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        let bytes = if self.depth == 0 {
            &self.bytes[..0]
        } else {
            &self.bytes[..]
        };
        bytes.split(|&b| b == b'/').take(self.depth)
    }

    /// Number of components; the root has none.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Length of the path in bytes, as `Display` shows it less the leading `/`.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for the root.
    pub fn is_empty(&self) -> bool {
        self.depth == 0
    }

    /// This path with one more component (which must be a valid name).
    pub fn join(&self, name: &[u8]) -> Self {
        let mut p = NamePath {
            bytes: Vec::with_capacity(self.bytes.len() + 1 + name.len()),
            depth: self.depth,
        };
        p.bytes.extend_from_slice(&self.bytes);
        p.push(name);
        p
    }

    /// Parent path and last name, or `None` for the root.
    pub fn split_last(&self) -> Option<(NamePath, &[u8])> {
        if self.depth == 0 {
            return None;
        }
        let at = self.bytes.iter().rposition(|&b| b == b'/');
        let (parent, last) = match at {
            Some(i) => (self.bytes[..i].to_vec(), &self.bytes[i + 1..]),
            None => (Vec::new(), &self.bytes[..]),
        };
        Some((
            NamePath {
                bytes: parent,
                depth: self.depth - 1,
            },
            last,
        ))
    }
}

impl fmt::Display for NamePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.depth == 0 {
            return f.write_str("/");
        }
        for c in self.components() {
            write!(f, "/{}", String::from_utf8_lossy(c))?;
        }
        Ok(())
    }
}
