//! Big-endian TPM 2.0 marshalling (TPM 2.0 Part 1 §18): the few primitives
//! `TPMT_PUBLIC` and `TPMT_SIGNATURE` are made of, with a reader that names
//! the field and offset of anything it cannot read.

/// A structure that could not be read: where, which field, what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{structure}: at offset {offset}, {field}: {what}")]
pub struct WireError {
    /// The structure being read (`TPM2B_PUBLIC`, `TPMT_SIGNATURE`).
    pub structure: &'static str,
    /// Byte offset of the field.
    pub offset: usize,
    /// The field.
    pub field: &'static str,
    /// What was found and what was expected.
    pub what: String,
}

/// Reads big-endian fields off a byte slice, never past its end.
pub(crate) struct Reader<'a> {
    structure: &'static str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(structure: &'static str, bytes: &'a [u8]) -> Self {
        Reader {
            structure,
            bytes,
            at: 0,
        }
    }

    /// The current offset.
    pub(crate) fn offset(&self) -> usize {
        self.at
    }

    /// An error about `field` at the current offset.
    pub(crate) fn err(&self, field: &'static str, what: impl Into<String>) -> WireError {
        WireError {
            structure: self.structure,
            offset: self.at,
            field,
            what: what.into(),
        }
    }

    pub(crate) fn bytes(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], WireError> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(self.err(
                field,
                format!("needs {n} bytes, only {left} left (truncated)"),
            ));
        }
        let b = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(b)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        let b = self.bytes(field, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        let b = self.bytes(field, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A `TPM2B_*`: a u16 size, then that many bytes.
    pub(crate) fn tpm2b(&mut self, field: &'static str) -> Result<&'a [u8], WireError> {
        let n = self.u16(field)?;
        self.bytes(field, usize::from(n))
    }

    /// Every byte must have been read.
    pub(crate) fn end(&self) -> Result<(), WireError> {
        let left = self.bytes.len() - self.at;
        if left != 0 {
            return Err(self.err("end", format!("{left} bytes after the structure")));
        }
        Ok(())
    }
}

/// Appends big-endian fields.
#[derive(Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A `TPM2B_*` of `b` (callers keep `b` under 64 KiB: keys and digests).
    pub(crate) fn tpm2b(&mut self, b: &[u8]) -> &mut Self {
        let n = u16::try_from(b.len()).expect("TPM2B contents fit in 64 KiB");
        self.u16(n);
        self.0.extend_from_slice(b);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_tpm2b_names_field_and_offset() {
        let mut r = Reader::new("TPM2B_PUBLIC", &[0, 1, 0, 5, 1, 2]);
        assert_eq!(r.u16("size").unwrap(), 1);
        let e = r.tpm2b("unique").unwrap_err();
        assert_eq!(e.offset, 4);
        assert_eq!(e.field, "unique");
        assert!(e.to_string().contains("needs 5 bytes, only 2 left"), "{e}");
    }
}
