//! File contents, read on demand: bytes in memory, a host file, or a region
//! of some other source (an ext image, a spooled tar member), with holes.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// Somewhere file contents can be read from, at any offset.
pub trait ContentSource: Send + Sync + fmt::Debug {
    /// Length of the file in bytes.
    fn len(&self) -> u64;

    /// True for an empty file.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The byte ranges `(offset, length)` that hold data, sorted and not
    /// overlapping; everything else reads as zeros and may stay a hole.
    /// The default says the whole file is data.
    fn data_ranges(&self) -> io::Result<Vec<(u64, u64)>> {
        Ok(if self.is_empty() {
            Vec::new()
        } else {
            vec![(0, self.len())]
        })
    }

    /// Fill `buf` from `offset`; a short read happens only at end of file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// The host file holding these bytes at the same offsets, if there is
    /// one: a writer may then copy them file to file in the kernel instead
    /// of reading them into memory. Held only while copying (the handle
    /// may be one of a few shared open files). The default: none.
    fn host_file(&self) -> Option<Arc<File>> {
        None
    }
}

/// The largest file [`Content::read_all`] reads: 256 MiB.
pub const MAX_READ_ALL: u64 = 256 << 20;

/// Shared handle to a file's contents.
#[derive(Clone, Debug)]
pub struct Content(Arc<dyn ContentSource>);

impl Content {
    /// Wrap any source.
    pub fn new(src: impl ContentSource + 'static) -> Self {
        Content(Arc::new(src))
    }

    /// Contents held in memory.
    pub fn bytes(data: impl Into<Vec<u8>>) -> Self {
        Content::new(Bytes(data.into()))
    }

    /// An empty file.
    pub fn empty() -> Self {
        Content::bytes(Vec::new())
    }

    /// The source behind this handle.
    pub fn source(&self) -> &dyn ContentSource {
        &*self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// Read the whole file into memory. For small files (configuration,
    /// scripts, kernel modules); large ones should be streamed with
    /// [`ContentSource::read_at`]. Files over [`MAX_READ_ALL`] bytes are an
    /// error: a file's length is not a reason to allocate (a sparse
    /// `/etc/inittab` of a terabyte holds nothing).
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        if self.len() > MAX_READ_ALL {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} bytes: more than the {MAX_READ_ALL} bytes read whole into memory",
                    self.len()
                ),
            ));
        }
        let len = self.len() as usize;
        let mut buf = vec![0u8; len];
        let mut done = 0;
        for (off, n) in self.0.data_ranges()? {
            let (off, n) = (off as usize, n as usize);
            let mut pos = off;
            while pos < off + n {
                let got = self.0.read_at(pos as u64, &mut buf[pos..off + n])?;
                if got == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("contents end at {pos}, expected {len} bytes"),
                    ));
                }
                pos += got;
            }
            done = done.max(off + n);
        }
        debug_assert!(done <= len);
        Ok(buf)
    }
}

/// Contents held in memory.
#[derive(Clone, Debug)]
pub struct Bytes(pub Vec<u8>);

impl ContentSource for Bytes {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        Bytes::read_from(&self.0, offset, buf)
    }
}

/// Contents held in memory and shared with other users (a kernel that goes
/// into the image and beside it), so neither holds a copy.
impl ContentSource for Arc<Vec<u8>> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        Bytes::read_from(self, offset, buf)
    }
}

impl Bytes {
    fn read_from(data: &[u8], offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }
}

/// A file with only holes: `len` zero bytes that occupy no blocks.
#[derive(Clone, Debug)]
pub struct Sparse {
    /// Length in bytes.
    pub len: u64,
    /// Data ranges over a zero background, each `(offset, bytes)`.
    pub data: Vec<(u64, Vec<u8>)>,
}

impl ContentSource for Sparse {
    fn len(&self) -> u64 {
        self.len
    }
    fn data_ranges(&self) -> io::Result<Vec<(u64, u64)>> {
        Ok(self
            .data
            .iter()
            .map(|(o, d)| (*o, d.len() as u64))
            .collect())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = buf.len().min((self.len - offset) as usize);
        let buf = &mut buf[..n];
        buf.fill(0);
        for (o, d) in &self.data {
            let (s, e) = (*o, *o + d.len() as u64);
            let (ws, we) = (offset.max(s), (offset + n as u64).min(e));
            if ws < we {
                buf[(ws - offset) as usize..(we - offset) as usize]
                    .copy_from_slice(&d[(ws - s) as usize..(we - s) as usize]);
            }
        }
        Ok(n)
    }
}

/// A regular file on the host, opened when read and closed again after.
/// Its holes are found with `SEEK_DATA`/`SEEK_HOLE`.
///
/// A tree may hold hundreds of thousands of host files, far more than a
/// process may open (`ulimit -n` is often 1024): open files are shared
/// through a small process-wide cache holding at most [`MAX_OPEN_HOST_FILES`],
/// the least recently used closed first. The file first opened is the one
/// read to the end: a reopen that finds another file (replaced by a rename)
/// is an error, never a silent mix of two files.
#[derive(Debug)]
pub struct HostFile {
    path: PathBuf,
    len: u64,
    /// Key in the open-file cache.
    key: u64,
    /// Device and inode of the file as first opened.
    identity: std::sync::OnceLock<(u64, u64)>,
}

/// The most host files [`HostFile`]s keep open at once, all together (plus
/// one per thread in the middle of a read).
pub const MAX_OPEN_HOST_FILES: usize = 64;

/// Open host files, most recently used last.
static OPEN_FILES: std::sync::Mutex<Vec<(u64, Arc<File>)>> = std::sync::Mutex::new(Vec::new());

fn open_files() -> std::sync::MutexGuard<'static, Vec<(u64, Arc<File>)>> {
    // A panic elsewhere while holding the lock leaves a valid list.
    OPEN_FILES.lock().unwrap_or_else(|e| e.into_inner())
}

impl HostFile {
    /// A host file of the given length (as `stat` saw it when loading).
    pub fn new(path: impl Into<PathBuf>, len: u64) -> Self {
        static NEXT_KEY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        HostFile {
            path: path.into(),
            len,
            key: NEXT_KEY.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            identity: std::sync::OnceLock::new(),
        }
    }

    /// The host path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The open file: from the cache, or opened (and cached) now.
    fn file(&self) -> io::Result<Arc<File>> {
        {
            let mut open = open_files();
            if let Some(i) = open.iter().rposition(|(k, _)| *k == self.key) {
                let entry = open.remove(i);
                let f = entry.1.clone();
                open.push(entry);
                return Ok(f);
            }
        }
        let named =
            |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", self.path.display()));
        let f = File::open(&self.path).map_err(named)?;
        let md = f.metadata().map_err(named)?;
        use std::os::unix::fs::MetadataExt;
        let id = (md.dev(), md.ino());
        if *self.identity.get_or_init(|| id) != id {
            return Err(io::Error::other(format!(
                "{}: replaced by another file while being read",
                self.path.display()
            )));
        }
        let f = Arc::new(f);
        let mut open = open_files();
        if open.len() >= MAX_OPEN_HOST_FILES {
            // Closed here, or by the last thread still reading it.
            open.remove(0);
        }
        open.push((self.key, f.clone()));
        Ok(f)
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        let mut open = open_files();
        if let Some(i) = open.iter().position(|(k, _)| *k == self.key) {
            open.remove(i);
        }
    }
}

impl ContentSource for HostFile {
    fn len(&self) -> u64 {
        self.len
    }
    fn data_ranges(&self) -> io::Result<Vec<(u64, u64)>> {
        host_data_ranges(&*self.file()?, self.len)
    }
    fn host_file(&self) -> Option<Arc<File>> {
        self.file().ok()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = buf.len().min((self.len - offset) as usize);
        let f = self.file()?;
        let mut done = 0;
        while done < n {
            match f.read_at(&mut buf[done..n], offset + done as u64)? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "{}: shrank while being read (expected {} bytes)",
                            self.path.display(),
                            self.len
                        ),
                    ));
                }
                k => done += k,
            }
        }
        Ok(n)
    }
}

/// Data ranges of an open host file via `lseek(SEEK_DATA/SEEK_HOLE)`; the
/// whole file when the filesystem does not support them.
pub fn host_data_ranges(f: &File, len: u64) -> io::Result<Vec<(u64, u64)>> {
    host_data_ranges_in(f, 0, len)
}

/// Data ranges of the `len` bytes at `start` of an open host file, as
/// offsets from `start` (a region of a larger file, such as one member of
/// a spool file); the whole region when holes cannot be found.
pub fn host_data_ranges_in(f: &File, start: u64, len: u64) -> io::Result<Vec<(u64, u64)>> {
    use std::os::fd::AsRawFd;
    const SEEK_DATA: i32 = 3;
    const SEEK_HOLE: i32 = 4;
    unsafe extern "C" {
        fn lseek(fd: i32, offset: i64, whence: i32) -> i64;
    }
    let whole = || Ok(if len == 0 { Vec::new() } else { vec![(0, len)] });
    let Some(end) = start.checked_add(len).filter(|&e| i64::try_from(e).is_ok()) else {
        return whole();
    };
    let fd = f.as_raw_fd();
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        // SAFETY: lseek only reads its integer arguments and moves the file
        // offset of `fd`, which `f` keeps open for the duration of the call;
        // every read in this workspace uses pread, so the moved offset is
        // unused (and each call here passes an absolute position).
        let data = unsafe { lseek(fd, pos as i64, SEEK_DATA) };
        if data < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(6) => Ok(out),             // ENXIO: no data after pos
                Some(22) | Some(95) => whole(), // EINVAL/EOPNOTSUPP
                _ => Err(err),
            };
        }
        let data = data as u64;
        if data >= end {
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { lseek(fd, data as i64, SEEK_HOLE) };
        let hole = if hole < 0 {
            end
        } else {
            (hole as u64).min(end)
        };
        out.push((data - start, hole - data));
        pos = hole;
    }
    Ok(out)
}

/// Copy `len` bytes between files with `copy_file_range` (in the kernel,
/// without passing through this process), falling back to reading and
/// writing where the kernel refuses (another filesystem type, old kernel).
pub fn copy_file_range_all(
    src: &File,
    mut src_off: u64,
    dst: &File,
    mut dst_off: u64,
    len: u64,
) -> io::Result<()> {
    use rustix::io::Errno;
    let end = src_off + len;
    while src_off < end {
        let want = (end - src_off).min(1 << 30) as usize;
        match rustix::fs::copy_file_range(src, Some(&mut src_off), dst, Some(&mut dst_off), want) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("source ends at {src_off}, expected {end} bytes"),
                ));
            }
            Ok(_) => {}
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) => {
                let mut buf = vec![0u8; (end - src_off).min(1 << 20) as usize];
                while src_off < end {
                    let k = ((end - src_off) as usize).min(buf.len());
                    src.read_exact_at(&mut buf[..k], src_off)?;
                    dst.write_all_at(&buf[..k], dst_off)?;
                    src_off += k as u64;
                    dst_off += k as u64;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
