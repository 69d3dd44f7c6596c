//! PCR values from an Intel SecL host quote (`<quote>` in the trust agent's
//! XML, e.g. `sample_tpm_quote.xml`): base64 of a `TPM2B_ATTEST`, a
//! `TPMT_SIGNATURE`, then the values of the PCRs the attest's
//! `TPML_PCR_SELECTION` names, in selection order. TPM structures are
//! big-endian. The signature is not checked: this only reads values.

use tcg::{HashAlg, PcrValues};

use crate::error::{Error, Result};

const WHAT: &str = "SecL quote";

struct Be<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Be<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        let have = self.buf.len().saturating_sub(self.pos);
        if n > have {
            return Err(Error::Truncated {
                what: WHAT,
                field,
                offset: self.pos,
                need: n,
                have,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, f: &'static str) -> Result<u8> {
        Ok(self.take(1, f)?[0])
    }
    fn u16(&mut self, f: &'static str) -> Result<u16> {
        let b = self.take(2, f)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, f: &'static str) -> Result<u32> {
        let b = self.take(4, f)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn tpm2b(&mut self, f: &'static str) -> Result<&'a [u8]> {
        let n = self.u16(f)? as usize;
        self.take(n, f)
    }
    fn bad(&self, field: &'static str, at: usize, msg: String) -> Error {
        Error::BadField {
            what: WHAT,
            field,
            offset: at,
            msg,
        }
    }
}

/// Decode standard base64, ignoring whitespace; `None` when it is not base64.
fn base64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// Whether `text` looks like a SecL quote document.
pub fn is_secl_quote(text: &str) -> bool {
    text.contains("<quote>")
}

/// Read the quoted PCR values from a SecL quote XML document.
pub fn pcrs_from_secl_xml(text: &str) -> Result<PcrValues> {
    let inner = text
        .split_once("<quote>")
        .and_then(|(_, r)| r.split_once("</quote>"))
        .map(|(q, _)| q)
        .ok_or_else(|| Error::Invalid {
            what: WHAT,
            msg: "no <quote>…</quote> element".into(),
        })?;
    let bytes = base64(inner).ok_or_else(|| Error::Invalid {
        what: WHAT,
        msg: "<quote> is not base64".into(),
    })?;
    pcrs_from_quote_bytes(&bytes)
}

/// Read the PCR values following a `TPM2B_ATTEST` and `TPMT_SIGNATURE`.
pub fn pcrs_from_quote_bytes(buf: &[u8]) -> Result<PcrValues> {
    let mut r = Be { buf, pos: 0 };
    let attest_len = r.u16("TPM2B_ATTEST.size")? as usize;
    let attest_end = r.pos + attest_len;
    let at = r.pos;
    let magic = r.u32("TPMS_ATTEST.magic")?;
    if magic != 0xff54_4347 {
        return Err(r.bad(
            "magic",
            at,
            format!("{magic:#x}, expected 0xff544347 (TPM_GENERATED)"),
        ));
    }
    let at = r.pos;
    let ty = r.u16("TPMS_ATTEST.type")?;
    if ty != 0x8018 {
        return Err(r.bad("type", at, format!("{ty:#x}, expected 0x8018 (quote)")));
    }
    r.tpm2b("qualifiedSigner")?;
    r.tpm2b("extraData")?;
    r.take(17, "clockInfo")?;
    r.take(8, "firmwareVersion")?;
    let count = r.u32("TPML_PCR_SELECTION.count")?;
    if count > 16 {
        return Err(r.bad(
            "TPML_PCR_SELECTION.count",
            r.pos - 4,
            format!("{count} banks"),
        ));
    }
    let mut sel = Vec::new();
    for _ in 0..count {
        let at = r.pos;
        let id = r.u16("TPMS_PCR_SELECTION.hash")?;
        let alg = HashAlg::from_id(id).ok_or_else(|| {
            r.bad(
                "TPMS_PCR_SELECTION.hash",
                at,
                format!("unknown algorithm {id:#06x}"),
            )
        })?;
        let n = r.u8("sizeofSelect")? as usize;
        let bits = r.take(n, "pcrSelect")?;
        let pcrs: Vec<u32> = (0..n * 8)
            .filter(|i| bits[i / 8] & (1 << (i % 8)) != 0)
            .map(|i| i as u32)
            .collect();
        sel.push((alg, pcrs));
    }
    r.tpm2b("pcrDigest")?;
    if r.pos != attest_end {
        return Err(r.bad(
            "TPM2B_ATTEST.size",
            0,
            format!(
                "{attest_len} bytes, but the quote fields end at {:#x}",
                r.pos
            ),
        ));
    }
    let at = r.pos;
    let sig_alg = r.u16("TPMT_SIGNATURE.sigAlg")?;
    r.u16("TPMT_SIGNATURE.hash")?;
    match sig_alg {
        0x0014 | 0x0016 => {
            r.tpm2b("signature")?;
        }
        0x0018 | 0x001b | 0x001a => {
            r.tpm2b("signatureR")?;
            r.tpm2b("signatureS")?;
        }
        _ => {
            return Err(r.bad(
                "TPMT_SIGNATURE.sigAlg",
                at,
                format!("unsupported {sig_alg:#06x}"),
            ));
        }
    }
    let mut out = PcrValues::default();
    for (alg, pcrs) in sel {
        for pcr in pcrs {
            out.insert(alg, pcr, r.take(alg.size(), "PCR value")?.to_vec());
        }
    }
    if r.pos != buf.len() {
        return Err(r.bad(
            "PCR values",
            r.pos,
            format!("{} bytes left after the selected PCRs", buf.len() - r.pos),
        ));
    }
    Ok(out)
}
