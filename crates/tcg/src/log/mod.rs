//! TCG event logs: the TCG 1.2 SHA1-only format and the TCG 2 crypto-agile format.
//!
//! Both start with a `TCG_PCR_EVENT` (PCR index, type, 20-byte SHA1 digest, size, data). A
//! crypto-agile log says so in that first event: `EV_NO_ACTION` on PCR0 whose data is the
//! "Spec ID Event03" structure listing each algorithm and its digest size. Every later event
//! is then a `TCG_PCR_EVENT2` carrying a `TPML_DIGEST_VALUES`. All integers are little-endian.

mod decode;
mod error;
mod types;
mod writer;

pub use decode::{EventData, decode_event};
pub use error::ParseError;
pub use types::EventType;
pub use writer::AgileLogWriter;

use crate::alg::HashAlg;

/// Which log format a log uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// TCG 1.2 / "SHA1 log": every event is a `TCG_PCR_EVENT` with one SHA1 digest.
    Sha1,
    /// TCG 2 crypto-agile: a Spec ID header event, then `TCG_PCR_EVENT2`s.
    CryptoAgile,
    /// An Intel TDX confidential-computing event log (ACPI CCEL): the crypto-agile
    /// layout with SHA-384 only, whose index field is a CC measurement register
    /// (1-4 = RTMR0-3; 0 would be MRTD, which the TD cannot extend), not a PCR.
    TdxCcel,
}

/// One algorithm declared in the Spec ID event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AlgorithmSize {
    /// The raw `TPM_ALG_ID`.
    pub alg_id: u16,
    /// The digest size the header declares for it.
    pub digest_size: u16,
}

/// The `TCG_EfiSpecIDEvent` header of a crypto-agile log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SpecIdEvent {
    /// `platformClass` (0 client, 1 server).
    pub platform_class: u32,
    /// `specVersionMajor.specVersionMinor` and `specErrata`.
    pub spec_version: (u8, u8, u8),
    /// `uintnSize` (1 = 32-bit UINTN, 2 = 64-bit).
    pub uintn_size: u8,
    /// The algorithms every `TCG_PCR_EVENT2` carries, with their sizes.
    pub algorithms: Vec<AlgorithmSize>,
    /// `vendorInfo`.
    #[serde(with = "hex_bytes")]
    pub vendor_info: Vec<u8>,
}

/// One digest of an event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EventDigest {
    /// The raw `TPM_ALG_ID`.
    pub alg_id: u16,
    /// The algorithm, when it is one we can compute.
    pub alg: Option<HashAlg>,
    /// The digest bytes.
    #[serde(with = "hex_bytes")]
    pub digest: Vec<u8>,
}

/// One event of a log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// Position in the log, counting the header event as 0.
    pub index: usize,
    /// Byte offset of the event in the log.
    pub offset: usize,
    /// `pcrIndex`.
    pub pcr: u32,
    /// `eventType`.
    pub event_type: EventType,
    /// The digests, one per bank the event extends.
    pub digests: Vec<EventDigest>,
    /// The event data.
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
}

impl Event {
    /// The digest for `alg`, if the event carries one.
    pub fn digest(&self, alg: HashAlg) -> Option<&[u8]> {
        self.digests
            .iter()
            .find(|d| d.alg == Some(alg))
            .map(|d| d.digest.as_slice())
    }

    /// The event data decoded to a readable form.
    pub fn decoded(&self) -> EventData {
        decode_event(self.event_type, &self.data)
    }
}

/// A parsed event log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EventLog {
    /// The log's format.
    pub format: LogFormat,
    /// The Spec ID header of a crypto-agile log.
    pub spec_id: Option<SpecIdEvent>,
    /// Every event in order; for a crypto-agile log the header is event 0.
    pub events: Vec<Event>,
}

/// Where the Linux kernel exposes the firmware's event log.
pub const SYSFS_LOG: &str = "/sys/kernel/security/tpm0/binary_bios_measurements";

const SPEC_ID_SIGNATURE: &[u8; 16] = b"Spec ID Event03\0";
/// The largest event data we accept; real events are far smaller, and this stops an absurd
/// size field from allocating gigabytes.
pub const MAX_EVENT_SIZE: u32 = 16 * 1024 * 1024;
/// The most digests one event may carry (there are few hash algorithms).
pub const MAX_DIGESTS: u32 = 16;

struct Reader<'a> {
    buf: &'a [u8],
    /// Where the trailing padding starts (see [`padding_start`]).
    pad: usize,
    pos: usize,
    event: usize,
    event_offset: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, what: impl Into<String>) -> ParseError {
        ParseError::Malformed {
            event: self.event,
            event_offset: self.event_offset,
            offset: self.pos,
            what: what.into(),
        }
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], ParseError> {
        if self.buf.len() - self.pos < n {
            return Err(ParseError::Truncated {
                event: self.event,
                event_offset: self.event_offset,
                offset: self.pos,
                field: field.to_string(),
                needed: n,
                available: self.buf.len() - self.pos,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self, field: &str) -> Result<u8, ParseError> {
        Ok(self.take(1, field)?[0])
    }

    fn u16(&mut self, field: &str) -> Result<u16, ParseError> {
        let b = self.take(2, field)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &str) -> Result<u32, ParseError> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn event_data(&mut self) -> Result<&'a [u8], ParseError> {
        let at = self.pos;
        let size = self.u32("eventSize")?;
        if size > MAX_EVENT_SIZE {
            self.pos = at;
            return Err(self.err(format!(
                "eventSize {size} is absurd (limit {MAX_EVENT_SIZE} bytes)"
            )));
        }
        self.take(size as usize, "event data")
    }

    fn at_end(&self) -> bool {
        // Firmware pads a log's buffer: all-zero or all-FF bytes after the last
        // event end it (found once, see `padding_start`). An event header of all
        // ones (index and type 0xFFFFFFFF) is unused, erased memory (a CCEL area
        // is 0xFF-filled): the log ends there too.
        self.pos >= self.pad
            || self.buf[self.pos..]
                .get(..8)
                .is_some_and(|h| h.iter().all(|&b| b == 0xFF))
    }
}

/// Where the padding after a log's last event starts: firmware pads a log's
/// buffer, so a run of all-zero or all-FF bytes reaching the end ends it.
/// Found once, from the end, so that testing "only padding is left" at every
/// event costs nothing (testing the rest each time made parsing quadratic).
pub fn padding_start(buf: &[u8]) -> usize {
    let after_last = |fill: u8| buf.iter().rposition(|&b| b != fill).map_or(0, |i| i + 1);
    after_last(0).min(after_last(0xFF))
}

impl EventLog {
    /// Parse a log from its bytes.
    pub fn parse(buf: &[u8]) -> Result<EventLog, ParseError> {
        if buf.is_empty() {
            return Err(ParseError::Empty);
        }
        not_a_log(buf)?;
        let mut r = Reader {
            buf,
            pad: padding_start(buf),
            pos: 0,
            event: 0,
            event_offset: 0,
        };
        let first = read_sha1_event(&mut r)?;
        let spec_id = if first.pcr == 0
            && first.event_type == EventType::NoAction
            && first.data.starts_with(SPEC_ID_SIGNATURE)
        {
            Some(parse_spec_id(&first.data, first.offset)?)
        } else {
            None
        };
        let mut events = vec![first];
        match &spec_id {
            None => {
                while !r.at_end() {
                    r.event = events.len();
                    r.event_offset = r.pos;
                    events.push(read_sha1_event(&mut r)?);
                }
            }
            Some(spec) => {
                while !r.at_end() {
                    r.event = events.len();
                    r.event_offset = r.pos;
                    events.push(read_agile_event(&mut r, spec)?);
                }
            }
        }
        let format = match &spec_id {
            None => LogFormat::Sha1,
            Some(s) if is_tdx_ccel(s, &events) => LogFormat::TdxCcel,
            Some(_) => LogFormat::CryptoAgile,
        };
        Ok(EventLog {
            format,
            spec_id,
            events,
        })
    }

    /// Read and parse a log file (or the sysfs log, see [`SYSFS_LOG`]).
    pub fn read(path: &std::path::Path) -> Result<EventLog, ParseError> {
        let buf = std::fs::read(path).map_err(|e| ParseError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        EventLog::parse(&buf)
    }

    /// The banks the log records: the Spec ID algorithms we can compute, or SHA1 alone.
    pub fn banks(&self) -> Vec<HashAlg> {
        match &self.spec_id {
            None => vec![HashAlg::Sha1],
            Some(s) => s
                .algorithms
                .iter()
                .filter_map(|a| HashAlg::from_id(a.alg_id))
                .collect(),
        }
    }
}

/// Files people take for an event log that are not one: the ACPI tables that point
/// at logs. Named, with where the log itself is.
fn not_a_log(buf: &[u8]) -> Result<(), ParseError> {
    let acpi_len = buf
        .get(4..8)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize);
    let laml_lasa = |at: usize| -> Option<(u64, u64)> {
        let laml = u64::from_le_bytes(buf.get(at..at + 8)?.try_into().ok()?);
        let lasa = u64::from_le_bytes(buf.get(at + 8..at + 16)?.try_into().ok()?);
        Some((laml, lasa))
    };
    if buf.starts_with(b"CCEL") && acpi_len == Some(buf.len()) {
        let (laml, lasa) = laml_lasa(40).unwrap_or_default();
        return Err(ParseError::NotAnEventLog(format!(
            "this is the ACPI CCEL table (it locates a TDX confidential-computing event log of \
             {laml} bytes at {lasa:#x}), not the log; the log itself is \
             /sys/firmware/acpi/tables/data/CCEL"
        )));
    }
    if buf.starts_with(b"TPM2") && acpi_len == Some(buf.len()) {
        return Err(ParseError::NotAnEventLog(
            "this is the ACPI TPM2 table, not the log; the log is \
             /sys/kernel/security/tpm0/binary_bios_measurements"
                .into(),
        ));
    }
    Ok(())
}

/// A TDX CCEL log: SHA-384 is the only algorithm, and every event that extends
/// names a CC measurement register 1-4 (RTMR0-3). A TPM's firmware log always
/// extends PCR0 and PCR5-7 (at least their separators), so it never looks like this.
fn is_tdx_ccel(spec: &SpecIdEvent, events: &[Event]) -> bool {
    let sha384_only =
        spec.algorithms.len() == 1 && spec.algorithms[0].alg_id == HashAlg::Sha384.id();
    let extending: Vec<&Event> = events
        .iter()
        .skip(1)
        .filter(|e| e.event_type != EventType::NoAction)
        .collect();
    sha384_only && !extending.is_empty() && extending.iter().all(|e| (1..=4).contains(&e.pcr))
}

fn read_sha1_event(r: &mut Reader<'_>) -> Result<Event, ParseError> {
    let offset = r.pos;
    let pcr = r.u32("pcrIndex")?;
    let event_type = EventType::from_u32(r.u32("eventType")?);
    let digest = r.take(20, "SHA1 digest")?.to_vec();
    let data = r.event_data()?.to_vec();
    Ok(Event {
        index: r.event,
        offset,
        pcr,
        event_type,
        digests: vec![EventDigest {
            alg_id: HashAlg::Sha1.id(),
            alg: Some(HashAlg::Sha1),
            digest,
        }],
        data,
    })
}

fn read_agile_event(r: &mut Reader<'_>, spec: &SpecIdEvent) -> Result<Event, ParseError> {
    let offset = r.pos;
    let pcr = r.u32("pcrIndex")?;
    let event_type = EventType::from_u32(r.u32("eventType")?);
    let count_at = r.pos;
    let count = r.u32("digests.count")?;
    if count > MAX_DIGESTS {
        r.pos = count_at;
        return Err(r.err(format!(
            "digest count {count} is absurd (the header lists {} algorithms)",
            spec.algorithms.len()
        )));
    }
    let mut digests = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let alg_at = r.pos;
        let alg_id = r.u16("digests.hashAlg")?;
        let size = match spec.algorithms.iter().find(|a| a.alg_id == alg_id) {
            Some(a) => a.digest_size as usize,
            None => {
                r.pos = alg_at;
                return Err(r.err(format!(
                    "algorithm 0x{alg_id:04x} is not declared in the Spec ID event, so its digest size is unknown"
                )));
            }
        };
        let digest = r.take(size, "digest")?.to_vec();
        digests.push(EventDigest {
            alg_id,
            alg: HashAlg::from_id(alg_id),
            digest,
        });
    }
    let data = r.event_data()?.to_vec();
    Ok(Event {
        index: r.event,
        offset,
        pcr,
        event_type,
        digests,
        data,
    })
}

fn parse_spec_id(data: &[u8], event_offset: usize) -> Result<SpecIdEvent, ParseError> {
    // The header's data starts after the 32-byte TCG_PCR_EVENT fixed part.
    let base = event_offset + 32;
    let mut r = Reader {
        buf: data,
        pad: data.len(),
        pos: 16,
        event: 0,
        event_offset,
    };
    let fix = |e: ParseError| e.shifted(base);
    let platform_class = r.u32("platformClass").map_err(fix)?;
    let minor = r.u8("specVersionMinor").map_err(fix)?;
    let major = r.u8("specVersionMajor").map_err(fix)?;
    let errata = r.u8("specErrata").map_err(fix)?;
    let uintn_size = r.u8("uintnSize").map_err(fix)?;
    let n = r.u32("numberOfAlgorithms").map_err(fix)?;
    if n == 0 || n > MAX_DIGESTS {
        return Err(r
            .err(format!(
                "Spec ID event lists {n} algorithms (expected 1-{MAX_DIGESTS})"
            ))
            .shifted(base));
    }
    let mut algorithms = Vec::new();
    for _ in 0..n {
        let alg_id = r.u16("algorithmId").map_err(fix)?;
        let digest_size = r.u16("digestSize").map_err(fix)?;
        if let Some(a) = HashAlg::from_id(alg_id)
            && a.size() != digest_size as usize
        {
            return Err(r
                .err(format!(
                    "Spec ID event says {a} digests are {digest_size} bytes (they are {})",
                    a.size()
                ))
                .shifted(base));
        }
        if digest_size == 0 || digest_size > 512 {
            return Err(r
                .err(format!(
                    "Spec ID event gives algorithm 0x{alg_id:04x} an absurd digest size {digest_size}"
                ))
                .shifted(base));
        }
        algorithms.push(AlgorithmSize {
            alg_id,
            digest_size,
        });
    }
    let vlen = r.u8("vendorInfoSize").map_err(fix)?;
    let vendor_info = r.take(vlen as usize, "vendorInfo").map_err(fix)?.to_vec();
    Ok(SpecIdEvent {
        platform_class,
        spec_version: (major, minor, errata),
        uintn_size,
        algorithms,
        vendor_info,
    })
}

/// Serialise byte vectors as lowercase hex strings.
pub(crate) mod hex_bytes {
    /// Serialise as hex.
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
}

#[cfg(test)]
mod tests;
