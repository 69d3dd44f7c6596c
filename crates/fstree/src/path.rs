//! Paths inside a tree: byte components, never `.`, `..` or empty, so a
//! path can never leave the tree it names.

use std::fmt;

/// A path from the root of a tree, as validated components.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamePath(Vec<Vec<u8>>);

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
        NamePath(Vec::new())
    }

    /// Parse a path as an archive or a user names it: leading `/` and `./`
    /// and repeated or trailing slashes are accepted; `..` is refused
    /// anywhere, since a tree has no outside to climb to.
    pub fn parse(p: impl AsRef<[u8]>) -> Result<Self, PathError> {
        let raw = p.as_ref();
        let mut out = Vec::new();
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
                    out.push(c.to_vec());
                }
            }
        }
        Ok(NamePath(out))
    }

    /// The components, root first.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().map(|c| c.as_slice())
    }

    /// Number of components; the root has none.
    pub fn depth(&self) -> usize {
        self.0.len()
    }

    /// This path with one more component (which must be a valid name).
    pub fn join(&self, name: &[u8]) -> Self {
        let mut v = self.0.clone();
        v.push(name.to_vec());
        NamePath(v)
    }

    /// Parent path and last name, or `None` for the root.
    pub fn split_last(&self) -> Option<(NamePath, &[u8])> {
        let (last, rest) = self.0.split_last()?;
        Some((NamePath(rest.to_vec()), last))
    }
}

impl fmt::Display for NamePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for c in &self.0 {
            write!(f, "/{}", String::from_utf8_lossy(c))?;
        }
        Ok(())
    }
}
