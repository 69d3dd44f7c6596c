//! TXT event logs in every format a TXT launch produces (spec §7): the
//! TPM 1.2 "TXT Event Container", the TPM 2.0 legacy per-algorithm logs and
//! the TCG crypto-agile log. Each is parsed from untrusted bytes into one
//! normalised event list ([`TxtLog`]) and can be written back from one.
//! Intel SecL reports (host manifests, quote responses) are read as logs
//! too ([`secl`]), never written.

mod agile;
mod container;
mod legacy;
mod log;
pub(crate) mod merge;
mod replay;
pub mod secl;

use tcg::HashAlg;

use crate::error::{Error, Result};
use crate::event::Event;

pub use agile::write_agile;
pub use container::{CONTAINER_SIGNATURE, parse_container, write_container};
pub use legacy::{
    LOG_DESCRIPTOR_SIGNATURE, parse_legacy_element, parse_legacy_single, txt_alg_id,
    write_legacy_element, write_legacy_single,
};
#[cfg(test)]
pub(crate) use log::log_event;
pub use log::{TxtLog, TxtLogFormat};
pub use merge::{MAX_BANK_DIFFERENCE, merge_logs};
pub use replay::{
    HashStartForm, HashStartMode, TxtReplay, hash_start_form, log_hash_start_as_resulting_pcr,
    replay_log,
};

/// Guess the format from the first bytes: the container signature, a legacy
/// heap element (`Count` 1..=5 then a known `HashAlgID` and a zero reserved
/// word), a Spec ID header, JSON or XML text (an Intel SecL report), else a
/// single legacy per-algorithm log.
pub fn detect(buf: &[u8]) -> TxtLogFormat {
    if buf.starts_with(CONTAINER_SIGNATURE) {
        return TxtLogFormat::Container;
    }
    if secl::is_secl(buf) {
        return TxtLogFormat::Secl;
    }
    if legacy::looks_like_element(buf) {
        return TxtLogFormat::Legacy;
    }
    // Record 0 of an agile log: PCR 0, EV_NO_ACTION, 20 zero bytes, size, "Spec ID Event03".
    if buf.len() >= 48
        && buf[0..4] == [0, 0, 0, 0]
        && buf[4..8] == 3u32.to_le_bytes()
        && &buf[32..48] == b"Spec ID Event03\0"
    {
        return TxtLogFormat::Agile;
    }
    TxtLogFormat::Legacy
}

/// Parse a log in any format. `alg` names the bank of a single legacy
/// per-algorithm log that has no `TCG_LOG_DESCRIPTOR` (default SHA-1).
/// A log with no events is refused: replaying it would print PCR values
/// of a launch that measured nothing, and a TXT launch always measures
/// (SINIT, MLE, ...). An empty file is most often the wrong file.
pub fn parse(buf: &[u8], alg: Option<HashAlg>) -> Result<TxtLog> {
    let log = match detect(buf) {
        TxtLogFormat::Container => parse_container(buf),
        TxtLogFormat::Agile => agile::parse_agile(buf),
        TxtLogFormat::Legacy if legacy::looks_like_element(buf) => parse_legacy_element(buf),
        TxtLogFormat::Legacy => return parse_legacy_single(buf, alg),
        TxtLogFormat::Secl => Ok(secl::parse_secl(buf)?.log),
    }?;
    with_events(log, buf.len())
}

/// `log`, unless it holds no event (see [`parse`]); `len` is its size.
pub(crate) fn with_events(log: TxtLog, len: usize) -> Result<TxtLog> {
    if !log.events.is_empty() {
        return Ok(log);
    }
    Err(Error::Invalid {
        what: "TXT log",
        msg: if len == 0 {
            "the file is empty (0 bytes), not a TXT event log".into()
        } else {
            format!(
                "no events in {len} bytes: a TXT launch logs at least its SINIT and MLE measurements"
            )
        },
    })
}

/// Parse several per-algorithm legacy logs (one file each) into one log.
pub fn parse_legacy_files(files: &[(Vec<u8>, Option<HashAlg>)]) -> Result<TxtLog> {
    let mut logs = Vec::new();
    for (b, a) in files {
        logs.push(parse_legacy_single(b, *a)?);
    }
    merge_logs(logs)
}

/// Write `events` in `format`. Container is TPM 1.2 (SHA-1 only); legacy is
/// the heap-element file layout of [`write_legacy_element`].
pub fn write(format: TxtLogFormat, banks: &[HashAlg], events: &[Event]) -> Result<Vec<u8>> {
    match format {
        TxtLogFormat::Agile => Ok(write_agile(banks, events)),
        TxtLogFormat::Container => write_container(events),
        TxtLogFormat::Legacy => write_legacy_element(banks, events),
        TxtLogFormat::Secl => Err(crate::error::Error::Invalid {
            what: "TXT log",
            msg: "an Intel SecL report is read, never written; write agile, legacy or container"
                .into(),
        }),
    }
}
