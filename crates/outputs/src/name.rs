//! Values that become file names (a VM name, a service tag, a kernel
//! release, the last component of `-o PATH`) are checked before anything
//! is written, so that none can point outside the directory it is meant for.

use crate::error::{Error, Result};

/// The longest name we accept: room for the suffixes of our temporaries
/// (`.NAME.staging-PID-RANDOM`) under the usual 255-byte limit.
pub const MAX_NAME_LEN: usize = 200;

/// Check that `value` (from `field`) names one entry of a directory: not
/// empty, not `.` or `..`, no `/`, no NUL or other control characters, at
/// most [`MAX_NAME_LEN`] bytes.
pub fn check_file_name(field: &str, value: &str) -> Result<()> {
    let why = if value.is_empty() {
        Some("must not be empty")
    } else if value == "." || value == ".." {
        Some("`.` and `..` name directories, not a file of ours")
    } else if value.contains('/') {
        Some("must not contain `/` (it becomes one file name)")
    } else if value.bytes().any(|b| b.is_ascii_control()) {
        Some("must not contain NUL or other control characters")
    } else if value.len() > MAX_NAME_LEN {
        Some("is too long for a file name (at most 200 bytes)")
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::BadName {
            field: field.to_string(),
            value: value.to_string(),
            why,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_their_directory_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "../../../victim",
            "a/b",
            "/abs",
            "nul\0byte",
            "new\nline",
        ] {
            let e = check_file_name("name", bad).unwrap_err();
            assert!(e.to_string().starts_with("name "), "{e}");
        }
        assert!(check_file_name("name", &"x".repeat(201)).is_err());
    }

    #[test]
    fn ordinary_names_pass() {
        for good in [
            "svc",
            "ndvm-1.2",
            "...",
            ".hidden",
            "x".repeat(200).as_str(),
        ] {
            check_file_name("name", good).unwrap();
        }
    }
}
