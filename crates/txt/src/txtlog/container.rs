//! The TPM 1.2 "TXT Event Container" (spec §7.1): a 48-byte header, then
//! `TPM12_PCREvent` records (`u32 PCRIndex; u32 Type; u8 Digest[20];
//! u32 Size; u8 Data[Size]`), all little-endian.

use std::collections::BTreeMap;

use tcg::HashAlg;

use super::log::{TxtLog, TxtLogFormat, log_event};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::hexser::Hex;
use crate::view::View;

/// The container's first 20 bytes.
pub const CONTAINER_SIGNATURE: &[u8; 20] = b"TXT Event Container\0";
const HEADER_LEN: usize = 48;
const WHAT: &str = "TXT event container";

/// Parse a container. Events run from `PCREventsOffset` to `NextEventOffset`.
pub fn parse_container(buf: &[u8]) -> Result<TxtLog> {
    let v = View::new(buf, WHAT);
    let sig = v.bytes(0, 20, "Signature")?;
    if sig != CONTAINER_SIGNATURE {
        return Err(v.bad("Signature", 0, "expected \"TXT Event Container\\0\""));
    }
    let major = v.u8(32, "ContainerVerMajor")?;
    if major != 1 {
        return Err(v.bad(
            "ContainerVerMajor",
            32,
            format!("version {major}, expected 1"),
        ));
    }
    let ev_major = v.u8(34, "PCREventVerMajor")?;
    if ev_major != 1 {
        return Err(v.bad(
            "PCREventVerMajor",
            34,
            format!("version {ev_major}, expected 1"),
        ));
    }
    let first = v.u32(40, "PCREventsOffset")? as usize;
    let next = v.u32(44, "NextEventOffset")? as usize;
    if first < HEADER_LEN || first > next {
        return Err(v.bad(
            "PCREventsOffset",
            40,
            format!(
                "{first:#x} must be at least {HEADER_LEN:#x} and at most NextEventOffset {next:#x}"
            ),
        ));
    }
    if next > buf.len() {
        return Err(v.bad(
            "NextEventOffset",
            44,
            format!("{next:#x} is beyond the end of the file ({:#x})", buf.len()),
        ));
    }
    let mut events = Vec::new();
    let mut off = first;
    while off < next {
        let pcr = v.u32(off, "PCRIndex")?;
        let ty = v.u32(off + 4, "Type")?;
        let digest = v.bytes(off + 8, 20, "Digest")?;
        let size = v.u32(off + 28, "Size")? as usize;
        let data = v.bytes(off + 32, size, "Data")?;
        let end = off + 32 + size;
        if end > next {
            return Err(v.bad(
                "Size",
                off + 28,
                format!("event at {off:#x} ends at {end:#x}, past NextEventOffset {next:#x}"),
            ));
        }
        let digests = BTreeMap::from([(HashAlg::Sha1, Hex(digest.to_vec()))]);
        events.push(log_event(pcr, ty, digests, data));
        off = end;
    }
    Ok(TxtLog {
        format: TxtLogFormat::Container,
        banks: vec![HashAlg::Sha1],
        events,
    })
}

/// Write a container holding `events`' SHA-1 digests, sized to fit exactly.
pub fn write_container(events: &[Event]) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    for e in events {
        let d = e
            .digests
            .get(&HashAlg::Sha1)
            .ok_or_else(|| Error::Invalid {
                what: WHAT,
                msg: format!(
                    "event {} (PCR{}) has no SHA-1 digest; a TPM 1.2 container holds only SHA-1",
                    e.name, e.pcr
                ),
            })?;
        body.extend_from_slice(&e.pcr.to_le_bytes());
        body.extend_from_slice(&e.event_type.to_le_bytes());
        body.extend_from_slice(&d.0);
        body.extend_from_slice(&(e.data.0.len() as u32).to_le_bytes());
        body.extend_from_slice(&e.data.0);
    }
    let total = u32::try_from(HEADER_LEN + body.len()).map_err(|_| Error::Invalid {
        what: WHAT,
        msg: "events exceed 4 GiB".into(),
    })?;
    let mut buf = Vec::with_capacity(total as usize);
    buf.extend_from_slice(CONTAINER_SIGNATURE);
    buf.extend_from_slice(&[0; 12]);
    buf.extend_from_slice(&[1, 0, 1, 0]);
    buf.extend_from_slice(&total.to_le_bytes());
    buf.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    buf.extend_from_slice(&total.to_le_bytes());
    buf.extend_from_slice(&body);
    Ok(buf)
}
