//! The names of our temporaries, and how to tell them from anything else.
//!
//! Beside an output `DIR/NAME`:
//! - `.NAME.tmp-HHHHHHHHHHHH` (12 hex digits): a file being written,
//!   flock'ed by its writer for as long as it lives;
//! - `.NAME.staging-PID-RANDOM`: a bundle directory being assembled (or,
//!   after a swap, the previous bundle on its way out), only ever touched
//!   under the bundle's lock `.NAME.lock`.
//!
//! A run removes the temporaries of its own output that no live run holds,
//! and nothing whose name does not match these patterns exactly.

use std::hash::{BuildHasher, Hasher};

/// 48 random bits as 12 hex digits (std's per-process random hash keys,
/// mixed with the time and a counter: unique enough for a name that is
/// created with `O_EXCL` and retried on a clash).
pub(crate) fn random_hex() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// The prefix of temporary files for the output named `name`.
pub fn file_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

/// The prefix of staging directories for the bundle named `name`.
pub fn staging_prefix(name: &str) -> String {
    format!(".{name}.staging-")
}

/// Whether `entry` is a temporary file of the output `name`.
pub(crate) fn is_temp_file(entry: &str, name: &str) -> bool {
    entry
        .strip_prefix(&file_prefix(name))
        .is_some_and(|r| r.len() == 12 && r.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `entry` is a staging directory of the bundle `name`:
/// `PID-RANDOM` after the prefix, the random part 6 to 16 letters or digits
/// (earlier releases used 6 alphanumerics, this one 12 hex digits).
pub(crate) fn is_staging_dir(entry: &str, name: &str) -> bool {
    let Some(rest) = entry.strip_prefix(&staging_prefix(name)) else {
        return false;
    };
    let Some((pid, rand)) = rest.split_once('-') else {
        return false;
    };
    !pid.is_empty()
        && pid.len() <= 10
        && pid.bytes().all(|b| b.is_ascii_digit())
        && (6..=16).contains(&rand.len())
        && rand.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_patterns_match() {
        assert!(is_temp_file(".svc.vhd.tmp-0123456789ab", "svc.vhd"));
        assert!(!is_temp_file(".svc.vhd.tmp-0123456789a", "svc.vhd"));
        assert!(!is_temp_file(".svc.vhd.tmp-0123456789abc", "svc.vhd"));
        assert!(!is_temp_file(".svc.vhd.tmp-0123456789ag", "svc.vhd"));
        assert!(!is_temp_file(".other.tmp-0123456789ab", "svc.vhd"));
        assert!(!is_temp_file("svc.vhd", "svc.vhd"));
        assert!(is_staging_dir(".svc.staging-42-aB3xYz", "svc"));
        assert!(is_staging_dir(".svc.staging-42-0123456789ab", "svc"));
        assert!(!is_staging_dir(".svc.staging-42-", "svc"));
        assert!(!is_staging_dir(".svc.staging-x-abcdef", "svc"));
        assert!(!is_staging_dir(".svc.staging-42-abc.def", "svc"));
        assert!(!is_staging_dir(".svc.staging-notes", "svc"));
        assert!(!is_staging_dir(".svc2.staging-42-abcdef", "svc"));
    }

    #[test]
    fn random_names_differ() {
        let a = random_hex();
        assert_eq!(a.len(), 12);
        assert_ne!(a, random_hex());
    }
}
