//! What every stage shares: the records of the files that went in and came
//! out (size and SHA-256), computed on other cores while the stages run, and
//! the bundle's files besides the disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use fstree::{Content, Kind, Tree};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ImageError;
use crate::input::HostInput;

/// One file that went in or came out.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileRecord {
    /// Path (inputs) or name in the bundle (outputs).
    pub path: String,
    /// Size in bytes (for directories: total file bytes).
    pub size: u64,
    /// SHA-256, hex (for directories: of the sorted tree manifest).
    pub sha256: String,
}

/// The record of the file at `path`.
pub(super) fn sha_file(path: &Path) -> Result<FileRecord, ImageError> {
    hash_copying(path, None)
}

/// The record of the file at `path`, streamed (disk images are far bigger
/// than anything worth holding), writing a copy to `dst` in the same pass.
fn hash_copying(path: &Path, dst: Option<&Path>) -> Result<FileRecord, ImageError> {
    use std::io::{Read, Write};
    let mut f = std::fs::File::open(path).map_err(ImageError::io(path))?;
    let mut copy = match dst {
        Some(d) => Some((std::fs::File::create(d).map_err(ImageError::io(d))?, d)),
        None => None,
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(ImageError::io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        if let Some((w, d)) = &mut copy {
            w.write_all(&buf[..n]).map_err(ImageError::io(*d))?;
        }
        size += n as u64;
    }
    Ok(FileRecord {
        path: path.display().to_string(),
        size,
        sha256: hex::encode(h.finalize()),
    })
}

/// Copy a host input to `dst` and hash it in one pass: the input's record,
/// which is also the copy's.
fn copy_and_hash(input: &HostInput, dst: &Path) -> Result<FileRecord, ImageError> {
    let r = hash_copying(&input.path, Some(dst))?;
    if r.size != input.len {
        return Err(ImageError::Io {
            path: input.path.clone(),
            source: std::io::Error::other("changed while the bundle was being built"),
        });
    }
    Ok(r)
}

/// The record of bytes already in memory.
fn sha_bytes(path: &Path, data: &[u8]) -> FileRecord {
    FileRecord {
        path: path.display().to_string(),
        size: data.len() as u64,
        sha256: hex::encode(Sha256::digest(data)),
    }
}

/// A digest of a tree: every path with its mode, owner and content digest
/// ([`fstree::content_sha256`]: holes are not read, so a tree holding a
/// terabyte sparse file digests as fast as its data).
fn sha_tree(tree: &Tree, label: &Path) -> Result<FileRecord, ImageError> {
    let mut h = Sha256::new();
    let mut size = 0;
    for (p, id) in tree.walk() {
        let ino = tree.inode(id);
        h.update(
            format!(
                "{p}\0{:o}\0{}\0{}\0",
                ino.mode(),
                ino.meta.uid,
                ino.meta.gid
            )
            .as_bytes(),
        );
        match &ino.kind {
            Kind::File(c) => {
                let d = fstree::content_sha256(c.source()).map_err(ImageError::io(label))?;
                size += c.len();
                h.update(d);
            }
            Kind::Symlink(t) => h.update(t),
            _ => {}
        }
        h.update(b"\n");
    }
    Ok(FileRecord {
        path: label.display().to_string(),
        size,
        sha256: hex::encode(h.finalize()),
    })
}

/// A record computed already, or being computed on another thread.
/// Dropping it (an early error) waits for the thread, so none still reads
/// or writes in the temporary bundle directory while it is removed.
pub(super) struct Hashing(Option<Job>);

type Job = Result<FileRecord, JoinHandle<Result<FileRecord, ImageError>>>;

impl Hashing {
    fn done(r: FileRecord) -> Hashing {
        Hashing(Some(Ok(r)))
    }

    /// Compute a record on another thread.
    pub(super) fn spawn(
        f: impl FnOnce() -> Result<FileRecord, ImageError> + Send + 'static,
    ) -> Hashing {
        Hashing(Some(Err(std::thread::spawn(f))))
    }

    /// The record, once computed.
    pub(super) fn join(mut self) -> Result<FileRecord, ImageError> {
        match self.0.take().expect("joined once") {
            Ok(r) => Ok(r),
            Err(h) => h.join().expect("hashing thread panicked"),
        }
    }
}

impl Drop for Hashing {
    fn drop(&mut self) {
        if let Some(Err(h)) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// The inputs' records, in the order the stages read the inputs; most are
/// computed on other cores while the disk is built.
#[derive(Default)]
pub(super) struct InputRecords(Vec<Hashing>);

impl InputRecords {
    /// Copy `input` to `dst` and hash it in one pass, on another thread.
    /// Returns the record's index: the copy's record is the input's.
    pub(super) fn copy(&mut self, input: &HostInput, dst: PathBuf) -> usize {
        let input = input.clone();
        self.0
            .push(Hashing::spawn(move || copy_and_hash(&input, &dst)));
        self.0.len() - 1
    }

    /// Hash the file at `path` on another thread.
    pub(super) fn file(&mut self, path: PathBuf) {
        self.0.push(Hashing::spawn(move || sha_file(&path)));
    }

    /// Hash the file at `path` now (an error names it at once).
    pub(super) fn file_now(&mut self, path: &Path) -> Result<(), ImageError> {
        self.0.push(Hashing::done(sha_file(path)?));
        Ok(())
    }

    /// Hash a tree on another thread, recorded as `label`.
    pub(super) fn tree(&mut self, tree: Tree, label: PathBuf) {
        self.0.push(Hashing::spawn(move || sha_tree(&tree, &label)));
    }

    /// The records, once all are computed.
    pub(super) fn join(self) -> Result<Vec<FileRecord>, ImageError> {
        self.0.into_iter().map(Hashing::join).collect()
    }
}

/// A file of the bundle besides the disk.
pub(super) enum BundleFile {
    /// Bytes made here.
    Made(Arc<Vec<u8>>),
    /// A copy of an input, written by [`InputRecords::copy`]; its record is
    /// the input's at the index given.
    Copied(HostInput, usize),
}

impl BundleFile {
    /// Bytes made here, written to `dir/name`.
    pub(super) fn write(dir: &Path, name: &str, bytes: Vec<u8>) -> Result<BundleFile, ImageError> {
        let p = dir.join(name);
        std::fs::write(&p, &bytes).map_err(ImageError::io(&p))?;
        Ok(BundleFile::Made(Arc::new(bytes)))
    }

    /// Its contents, to put in the tree.
    pub(super) fn content(&self) -> Content {
        match self {
            BundleFile::Made(b) => Content::new(b.clone()),
            BundleFile::Copied(i, _) => i.content(),
        }
    }

    /// Its record as `name` in the bundle (a copy's is its input's).
    pub(super) fn record(&self, name: &str, inputs: &[FileRecord]) -> FileRecord {
        match self {
            BundleFile::Made(b) => sha_bytes(Path::new(name), b),
            // Same bytes as the input: same digest.
            BundleFile::Copied(_, idx) => FileRecord {
                path: name.to_string(),
                ..inputs[*idx].clone()
            },
        }
    }

    /// An error if a copied input changed since it was opened: what was
    /// hashed, copied and put on the disk must come from the same file.
    pub(super) fn check_unchanged(&self) -> Result<(), ImageError> {
        match self {
            BundleFile::Made(_) => Ok(()),
            BundleFile::Copied(i, _) => i.check_unchanged(),
        }
    }
}
