//! The MLE measurement of tboot: decompress `tboot.gz`, lay out its ELF
//! `PT_LOAD` segments as the loader does, find the MLE header, place the
//! command line, and hash `[MleStart, MleEnd)` (MLE DG §2, spec §5).

use std::io::Read;

use serde::Serialize;
use tcg::{HashAlg, MultiHasher};

use crate::error::{Error, Result};
use crate::view::View;

/// The MLE header UUID (`9082AC5A-74A7476F-A2555C0F-42B651CB`, little-endian dwords).
pub const MLE_UUID: [u8; 16] = [
    0x5a, 0xac, 0x82, 0x90, 0x6f, 0x47, 0xa7, 0x74, 0x0f, 0x5c, 0x55, 0xa2, 0xcb, 0x51, 0xb6, 0x42,
];

/// The largest loaded image we accept; tboot's is ~36 MiB including `.bss`.
pub const MAX_IMAGE: u64 = 512 << 20;

/// Largest decompressed ELF we accept (a gzip bomb guard).
pub const MAX_ELF: u64 = 256 << 20;

/// The MLE header as found in the loaded image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MleHeader {
    /// Offset of the header in the loaded image.
    pub offset: usize,
    /// Header length (0x34).
    pub header_len: u32,
    /// Header version (0x00020001 up to tboot 1.11.8).
    pub version: u32,
    /// Entry point, MLE-relative.
    pub entry_point: u32,
    /// First valid page.
    pub first_valid_page: u32,
    /// Start of the measured range (image offset).
    pub mle_start: u32,
    /// End of the measured range (image offset, exclusive).
    pub mle_end: u32,
    /// MLE capabilities.
    pub capabilities: u32,
    /// Start of the command-line buffer (image offset).
    pub cmdline_start: u32,
    /// End of the command-line buffer (image offset, exclusive).
    pub cmdline_end: u32,
}

/// A tboot (or other MLE) image loaded the way the boot loader lays it out.
#[derive(Clone)]
pub struct MleImage {
    /// Bytes backed by the file; everything from here to `len` is zero.
    data: Vec<u8>,
    len: u64,
    /// The MLE header.
    pub header: MleHeader,
}

/// Decompress `bytes` if they are a gzip stream, else borrow them.
pub fn maybe_gunzip(bytes: &[u8], what: &'static str, limit: u64) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|source| Error::Gzip { what, source })?;
        if out.len() as u64 > limit {
            return Err(Error::Invalid {
                what,
                msg: format!("decompresses to more than {limit} bytes"),
            });
        }
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

impl std::fmt::Debug for MleImage {
    // The image is megabytes; its header and size say what matters.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MleImage")
            .field("len", &self.len)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

const WHAT: &str = "MLE ELF";

struct Segment {
    offset: usize,
    paddr: u64,
    filesz: usize,
    memsz: u64,
}

impl MleImage {
    /// Load `tboot.gz` or a plain tboot ELF and find its MLE header.
    pub fn load(file: &[u8]) -> Result<Self> {
        let elf = maybe_gunzip(file, WHAT, MAX_ELF)?;
        let v = View::new(&elf, WHAT);
        let ident = v.bytes(0, 16, "e_ident")?;
        if &ident[..4] != b"\x7fELF" {
            return Err(v.bad("e_ident", 0, "not an ELF file (no \\x7fELF magic)"));
        }
        if ident[4] != 1 {
            return Err(v.bad("e_ident[EI_CLASS]", 4, "expected ELFCLASS32 (1)"));
        }
        if ident[5] != 1 {
            return Err(v.bad("e_ident[EI_DATA]", 5, "expected little-endian (1)"));
        }
        let e_type = v.u16(16, "e_type")?;
        if e_type != 2 {
            return Err(v.bad("e_type", 16, format!("{e_type} is not ET_EXEC (2)")));
        }
        let machine = v.u16(18, "e_machine")?;
        if machine != 3 {
            return Err(v.bad("e_machine", 18, format!("{machine} is not EM_386 (3)")));
        }
        let phoff = v.u32(28, "e_phoff")? as usize;
        let phentsize = v.u16(42, "e_phentsize")? as usize;
        let phnum = v.u16(44, "e_phnum")? as usize;
        if phentsize < 32 {
            return Err(v.bad("e_phentsize", 42, format!("{phentsize} < 32")));
        }
        v.bytes(phoff, phentsize * phnum, "program headers")?;
        let mut segs = Vec::new();
        for i in 0..phnum {
            let o = phoff + i * phentsize;
            if v.u32(o, "p_type")? != 1 {
                continue;
            }
            let s = Segment {
                offset: v.u32(o + 4, "p_offset")? as usize,
                paddr: v.u32(o + 12, "p_paddr")? as u64,
                filesz: v.u32(o + 16, "p_filesz")? as usize,
                memsz: v.u32(o + 20, "p_memsz")? as u64,
            };
            if (s.filesz as u64) > s.memsz {
                return Err(v.bad("p_filesz", o + 16, "larger than p_memsz"));
            }
            v.bytes(s.offset, s.filesz, "segment file bytes")?;
            segs.push(s);
        }
        if segs.is_empty() {
            return Err(Error::Invalid {
                what: WHAT,
                msg: "no PT_LOAD segment".into(),
            });
        }
        let base = segs.iter().map(|s| s.paddr).min().unwrap_or(0);
        let end = segs.iter().map(|s| s.paddr + s.memsz).max().unwrap_or(0);
        if end - base > MAX_IMAGE {
            return Err(Error::Invalid {
                what: WHAT,
                msg: format!(
                    "PT_LOAD segments span {} bytes, more than the {MAX_IMAGE} we accept",
                    end - base
                ),
            });
        }
        let mut sorted: Vec<&Segment> = segs.iter().collect();
        sorted.sort_by_key(|s| s.paddr);
        for w in sorted.windows(2) {
            if w[0].paddr + w[0].memsz > w[1].paddr {
                return Err(Error::Invalid {
                    what: WHAT,
                    msg: format!(
                        "PT_LOAD segments at {:#x} and {:#x} overlap",
                        w[0].paddr, w[1].paddr
                    ),
                });
            }
        }
        // Only the file-backed part is materialised; `.bss` stays virtual.
        let data_len = segs
            .iter()
            .map(|s| (s.paddr - base) as usize + s.filesz)
            .max()
            .unwrap_or(0);
        let mut data = vec![0u8; data_len];
        for s in &segs {
            let at = (s.paddr - base) as usize;
            data[at..at + s.filesz].copy_from_slice(&elf[s.offset..s.offset + s.filesz]);
        }
        let header = find_header(&data, end - base)?;
        Ok(MleImage {
            data,
            len: end - base,
            header,
        })
    }

    /// The file-backed part of the loaded image (the rest up to
    /// [`len`](Self::len) is zero fill).
    pub fn loaded_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Total loaded size including zero fill.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the loaded image is empty (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The MLE hash in every bank of `algs` with `cmdline` placed in the
    /// command-line buffer (truncated to the buffer, as tboot does).
    pub fn hash(&self, cmdline: Option<&[u8]>, algs: &[HashAlg]) -> Vec<(HashAlg, Vec<u8>)> {
        let h = &self.header;
        let (start, end) = (h.mle_start as usize, h.mle_end as usize);
        let mut mh = MultiHasher::new(algs);
        let (cs, ce) = (h.cmdline_start as usize, h.cmdline_end as usize);
        let patch = cmdline.filter(|_| ce > cs);
        let feed = |from: usize, to: usize, mh: &mut MultiHasher| {
            feed_range(&self.data, from, to, mh);
        };
        match patch {
            Some(cmd) => {
                let cs = cs.clamp(start, end);
                let ce = ce.clamp(start, end);
                feed(start, cs, &mut mh);
                let mut buf = vec![0u8; ce - cs];
                let n = cmd.len().min(buf.len());
                buf[..n].copy_from_slice(&cmd[..n]);
                mh.update(&buf);
                feed(ce, end, &mut mh);
            }
            None => feed(start, end, &mut mh),
        }
        mh.finalize()
    }
}

fn feed_range(data: &[u8], from: usize, to: usize, mh: &mut MultiHasher) {
    let backed_end = to.min(data.len());
    if from < backed_end {
        mh.update(&data[from..backed_end]);
    }
    let zeros = to - from.max(backed_end);
    let block = [0u8; 4096];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(block.len());
        mh.update(&block[..n]);
        left -= n;
    }
}

fn find_header(data: &[u8], image_len: u64) -> Result<MleHeader> {
    let offset = (0..data.len().saturating_sub(15))
        .step_by(16)
        .find(|&o| data[o..o + 16] == MLE_UUID)
        .ok_or_else(|| Error::Invalid {
            what: "MLE header",
            msg: format!(
                "UUID {} not found at any 16-byte aligned offset of the loaded image",
                hex::encode(MLE_UUID)
            ),
        })?;
    let v = View::new(data, "MLE header");
    let h = MleHeader {
        offset,
        header_len: v.u32(offset + 16, "HeaderLen")?,
        version: v.u32(offset + 20, "Version")?,
        entry_point: v.u32(offset + 24, "EntryPoint")?,
        first_valid_page: v.u32(offset + 28, "FirstValidPage")?,
        mle_start: v.u32(offset + 32, "MleStart")?,
        mle_end: v.u32(offset + 36, "MleEnd")?,
        capabilities: v.u32(offset + 40, "Capabilities")?,
        cmdline_start: v.u32(offset + 44, "CmdlineStart")?,
        cmdline_end: v.u32(offset + 48, "CmdlineEnd")?,
    };
    if h.mle_start >= h.mle_end || h.mle_end as u64 > image_len {
        return Err(v.bad(
            "MleEnd",
            offset + 36,
            format!(
                "range [{:#x}, {:#x}) is empty or past the image end {image_len:#x}",
                h.mle_start, h.mle_end
            ),
        ));
    }
    Ok(h)
}
