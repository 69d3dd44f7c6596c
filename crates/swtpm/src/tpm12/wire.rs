//! TPM 1.2 byte layouts: commands are built and responses read big-endian
//! (TPM 1.2 Part 2 §2.1.1: "all values are big-endian").

use crate::SimError;

/// `TPM_TAG_RQU_COMMAND`: no authorization.
pub const TAG_RQU_COMMAND: u16 = 0x00C1;
/// `TPM_TAG_RQU_AUTH1_COMMAND`: one authorization session.
pub const TAG_RQU_AUTH1_COMMAND: u16 = 0x00C2;
/// `TPM_TAG_RQU_AUTH2_COMMAND`: two authorization sessions.
pub const TAG_RQU_AUTH2_COMMAND: u16 = 0x00C3;

/// A command being built: header with a size patched in by [`Cmd::finish`].
pub struct Cmd {
    buf: Vec<u8>,
}

impl Cmd {
    /// Start a command with `tag` and `ordinal`.
    pub fn new(tag: u16, ordinal: u32) -> Cmd {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&tag.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&ordinal.to_be_bytes());
        Cmd { buf }
    }

    /// Append a `UINT16`.
    pub fn u16(mut self, v: u16) -> Cmd {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Append a `UINT32`.
    pub fn u32(mut self, v: u32) -> Cmd {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Append raw bytes.
    pub fn bytes(mut self, v: &[u8]) -> Cmd {
        self.buf.extend_from_slice(v);
        self
    }

    /// The finished command with `paramSize` filled in.
    pub fn finish(mut self) -> Vec<u8> {
        let n = self.buf.len() as u32;
        self.buf[2..6].copy_from_slice(&n.to_be_bytes());
        self.buf
    }
}

/// Reads a response body, every read checked against its length.
pub struct Reader<'a> {
    what: &'static str,
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Read the body of the response to `what` (a command name, for errors).
    pub fn new(what: &'static str, b: &'a [u8]) -> Reader<'a> {
        Reader { what, b, pos: 0 }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], SimError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            return Err(SimError::Response(format!(
                "{}: {field} needs {n} bytes at offset {} of a {}-byte response body",
                self.what,
                self.pos,
                self.b.len()
            )));
        };
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next 20-byte digest or nonce.
    pub fn digest(&mut self, field: &str) -> Result<[u8; 20], SimError> {
        Ok(self.take(20, field)?.try_into().expect("20 bytes"))
    }

    /// The next `UINT16`.
    pub fn u16(&mut self, field: &str) -> Result<u16, SimError> {
        Ok(u16::from_be_bytes(
            self.take(2, field)?.try_into().expect("2"),
        ))
    }

    /// The next `UINT32`.
    pub fn u32(&mut self, field: &str) -> Result<u32, SimError> {
        Ok(u32::from_be_bytes(
            self.take(4, field)?.try_into().expect("4"),
        ))
    }

    /// The next `UINT32`-sized byte string.
    pub fn sized(&mut self, field: &str) -> Result<&'a [u8], SimError> {
        let n = self.u32(field)? as usize;
        self.take(n, field)
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes read from offset `start` up to here.
    pub fn since(&self, start: usize) -> &'a [u8] {
        &self.b[start.min(self.pos)..self.pos]
    }

    /// Fail unless every byte was read.
    pub fn end(&self) -> Result<(), SimError> {
        if self.pos == self.b.len() {
            Ok(())
        } else {
            Err(SimError::Response(format!(
                "{}: {} unexpected trailing bytes at offset {}",
                self.what,
                self.b.len() - self.pos,
                self.pos
            )))
        }
    }
}

/// `TPM_PCR_SELECTION` (Part 2 §8.1): `sizeOfSelect` = 3 and a bitmap, PCR n in bit
/// n % 8 of byte n / 8.
pub fn pcr_selection(pcrs: &[u32]) -> Result<[u8; 5], SimError> {
    let mut s = [0, 3, 0, 0, 0];
    for &p in pcrs {
        if p >= 24 {
            return Err(SimError::Request(format!(
                "PCR {p} does not exist on a TPM 1.2 (0..=23)"
            )));
        }
        s[2 + (p / 8) as usize] |= 1 << (p % 8);
    }
    Ok(s)
}
