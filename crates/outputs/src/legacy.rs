//! Leftovers of killed runs of earlier releases, which named their
//! temporaries the `tempfile` way (a prefix and 6 random letters or digits)
//! rather than after their output:
//!
//! - `.measured-image-XXXXXX/`: `measured image build`'s bundle being
//!   assembled, beside the bundle;
//! - `.vhd-tmpXXXXXX`: a VHD (or raw image) being written, beside it.
//!
//! No release writes these names any more, so such an entry can only be a
//! leftover (or the work of an old binary still running, which then fails
//! cleanly at its rename). They are not tied to one output, so a run
//! removes those in its output's directory, best effort, and only when they
//! look like what we wrote: a regular file; a directory holding nothing but
//! files named like a bundle's. Anything else under a look-alike name (a
//! user's `.measured-image-backup/` of their own files) stays.

use std::path::{Path, PathBuf};

/// Prefix of the old `image build` staging directories.
const IMAGE_DIR_PREFIX: &str = ".measured-image-";
/// Prefix of the old VHD writer's temporary files.
const VHD_FILE_PREFIX: &str = ".vhd-tmp";

/// `entry` is `prefix` and exactly 6 ASCII letters or digits.
fn is_tempfile_name(entry: &str, prefix: &str) -> bool {
    entry
        .strip_prefix(prefix)
        .is_some_and(|r| r.len() == 6 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A file name `measured image build` puts in a bundle.
fn is_bundle_file_name(n: &str) -> bool {
    n == "bundle.json"
        || n == "openxt-create.sh"
        || n.starts_with("vmlinuz-")
        || n.starts_with("initrd.img-")
        || (n.starts_with("service-") && n.ends_with(".json"))
        || [".vhd", ".img", ".cfg", ".xml"]
            .iter()
            .any(|ext| n.ends_with(ext))
}

/// Whether `dir` holds only regular files named like a bundle's.
fn looks_like_image_staging(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    for e in rd {
        let Ok(e) = e else { return false };
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        let named = e.file_name().to_str().is_some_and(is_bundle_file_name);
        if !is_file || !named {
            return false;
        }
    }
    true
}

/// Entries of `dir` that `pick` accepts, given their name, their own type
/// (a link is not followed) and their path.
fn matching(dir: &Path, pick: impl Fn(&str, &std::fs::FileType, &Path) -> bool) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter(|e| {
            let (Some(n), Ok(t)) = (e.file_name().to_str().map(str::to_string), e.file_type())
            else {
                return false;
            };
            pick(&n, &t, &e.path())
        })
        .map(|e| e.path())
        .collect()
}

/// Remove the old `image build` staging directories in `dir` (the
/// directory holding a bundle); returns those removed. Failures are
/// ignored: a leftover that cannot be removed never stops a build.
pub fn remove_image_staging_dirs(dir: &Path) -> Vec<PathBuf> {
    matching(dir, |n, t, p| {
        is_tempfile_name(n, IMAGE_DIR_PREFIX) && t.is_dir() && looks_like_image_staging(p)
    })
    .into_iter()
    .filter(|p| std::fs::remove_dir_all(p).is_ok())
    .collect()
}

/// Remove the old VHD writer's temporary files in `dir` (the directory of
/// an image being written); returns those removed, ignoring failures.
pub fn remove_vhd_temp_files(dir: &Path) -> Vec<PathBuf> {
    matching(dir, |n, t, _| {
        is_tempfile_name(n, VHD_FILE_PREFIX) && t.is_file()
    })
    .into_iter()
    .filter(|p| std::fs::remove_file(p).is_ok())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tempfile_names_match() {
        assert!(is_tempfile_name(".vhd-tmpAb3xY9", VHD_FILE_PREFIX));
        assert!(!is_tempfile_name(".vhd-tmpAb3xY", VHD_FILE_PREFIX));
        assert!(!is_tempfile_name(".vhd-tmpAb3xY9z", VHD_FILE_PREFIX));
        assert!(!is_tempfile_name(".vhd-tmp-b3xY9", VHD_FILE_PREFIX));
        assert!(!is_tempfile_name("vhd-tmpAb3xY9", VHD_FILE_PREFIX));
        assert!(is_tempfile_name(".measured-image-q1W2e3", IMAGE_DIR_PREFIX));
        assert!(!is_tempfile_name(".measured-image-q1W2e", IMAGE_DIR_PREFIX));
    }

    #[test]
    fn bundle_file_names() {
        for n in [
            "bundle.json",
            "svc.vhd",
            "svc.img",
            "svc.cfg",
            "svc.xml",
            "openxt-create.sh",
            "service-svc.json",
            "vmlinuz-6.1.0",
            "initrd.img-6.1.0",
        ] {
            assert!(is_bundle_file_name(n), "{n}");
        }
        for n in ["thesis.tex", "notes.txt", "svc.json", ".git"] {
            assert!(!is_bundle_file_name(n), "{n}");
        }
    }
}
