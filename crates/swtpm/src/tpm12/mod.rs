//! A swtpm TPM 1.2 (Part 3 of the TPM 1.2 Main Specification for the commands):
//! manufactured by `swtpm_setup` with an owner and an SRK whose secrets are
//! [`well_known_auth`], started with raw `TPM_Startup(ST_CLEAR)`, driven
//! through a dynamic launch (locality via the control channel, the
//! `_TPM_Hash_Start/Data/End` sequence at locality 4, `TPM_Extend`), read with
//! `TPM_PcrRead`, and sealing with `TPM_Seal`/`TPM_Unseal` under the SRK.

mod auth;
mod seal;
mod wire;

use std::cell::Cell;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

pub use auth::well_known_auth;
pub use seal::{PcrInfoLong, SealedData};

use crate::{SimError, Swtpm};
use auth::Session;
use wire::{Cmd, Reader, TAG_RQU_COMMAND};

/// `TPM_ORD_OIAP`.
pub const ORD_OIAP: u32 = 0x0A;
/// `TPM_ORD_OSAP`.
pub const ORD_OSAP: u32 = 0x0B;
/// `TPM_ORD_Extend`.
pub const ORD_EXTEND: u32 = 0x14;
/// `TPM_ORD_PcrRead`.
pub const ORD_PCR_READ: u32 = 0x15;
/// `TPM_ORD_Seal`.
pub const ORD_SEAL: u32 = 0x17;
/// `TPM_ORD_Unseal`.
pub const ORD_UNSEAL: u32 = 0x18;
/// `TPM_ORD_Startup`.
pub const ORD_STARTUP: u32 = 0x99;

/// `TPM_AUTHFAIL`: an HMAC did not verify.
pub const TPM_AUTHFAIL: u32 = 0x01;
/// `TPM_AUTH2FAIL`: the second session's HMAC (the sealed blob's secret) did not verify.
pub const TPM_AUTH2FAIL: u32 = 0x1D;
/// `TPM_WRONGPCRVAL`: the PCRs do not match the sealed `digestAtRelease`.
pub const TPM_WRONGPCRVAL: u32 = 0x18;
/// `TPM_BAD_LOCALITY`: the command's locality is not allowed.
pub const TPM_BAD_LOCALITY: u32 = 0x3D;

/// `TPM_KH_SRK`: the SRK's permanent handle.
pub const KH_SRK: u32 = 0x4000_0000;

/// The name of a TPM 1.2 ordinal this harness sends.
pub fn ordinal_name(ordinal: u32) -> &'static str {
    match ordinal {
        ORD_OIAP => "TPM_ORD_OIAP",
        ORD_OSAP => "TPM_ORD_OSAP",
        ORD_EXTEND => "TPM_ORD_Extend",
        ORD_PCR_READ => "TPM_ORD_PcrRead",
        ORD_SEAL => "TPM_ORD_Seal",
        ORD_UNSEAL => "TPM_ORD_Unseal",
        ORD_STARTUP => "TPM_ORD_Startup",
        _ => "TPM 1.2 ordinal",
    }
}

/// The name of a `TPM_RESULT` (TPM 1.2 Part 2 §16).
pub fn rc_name(rc: u32) -> &'static str {
    const NAMES: [&str; 0x4A] = [
        "TPM_SUCCESS",
        "TPM_AUTHFAIL",
        "TPM_BADINDEX",
        "TPM_BAD_PARAMETER",
        "TPM_AUDITFAILURE",
        "TPM_CLEAR_DISABLED",
        "TPM_DEACTIVATED",
        "TPM_DISABLED",
        "TPM_DISABLED_CMD",
        "TPM_FAIL",
        "TPM_BAD_ORDINAL",
        "TPM_INSTALL_DISABLED",
        "TPM_INVALID_KEYHANDLE",
        "TPM_KEYNOTFOUND",
        "TPM_INAPPROPRIATE_ENC",
        "TPM_MIGRATEFAIL",
        "TPM_INVALID_PCR_INFO",
        "TPM_NOSPACE",
        "TPM_NOSRK",
        "TPM_NOTSEALED_BLOB",
        "TPM_OWNER_SET",
        "TPM_RESOURCES",
        "TPM_SHORTRANDOM",
        "TPM_SIZE",
        "TPM_WRONGPCRVAL",
        "TPM_BAD_PARAM_SIZE",
        "TPM_SHA_THREAD",
        "TPM_SHA_ERROR",
        "TPM_FAILEDSELFTEST",
        "TPM_AUTH2FAIL",
        "TPM_BADTAG",
        "TPM_IOERROR",
        "TPM_ENCRYPT_ERROR",
        "TPM_DECRYPT_ERROR",
        "TPM_INVALID_AUTHHANDLE",
        "TPM_NO_ENDORSEMENT",
        "TPM_INVALID_KEYUSAGE",
        "TPM_WRONG_ENTITYTYPE",
        "TPM_INVALID_POSTINIT",
        "TPM_INAPPROPRIATE_SIG",
        "TPM_BAD_KEY_PROPERTY",
        "TPM_BAD_MIGRATION",
        "TPM_BAD_SCHEME",
        "TPM_BAD_DATASIZE",
        "TPM_BAD_MODE",
        "TPM_BAD_PRESENCE",
        "TPM_BAD_VERSION",
        "TPM_NO_WRAP_TRANSPORT",
        "TPM_AUDITFAIL_UNSUCCESSFUL",
        "TPM_AUDITFAIL_SUCCESSFUL",
        "TPM_NOTRESETABLE",
        "TPM_NOTLOCAL",
        "TPM_BAD_TYPE",
        "TPM_INVALID_RESOURCE",
        "TPM_NOTFIPS",
        "TPM_INVALID_FAMILY",
        "TPM_NO_NV_PERMISSION",
        "TPM_REQUIRES_SIGN",
        "TPM_KEY_NOTSUPPORTED",
        "TPM_AUTH_CONFLICT",
        "TPM_AREA_LOCKED",
        "TPM_BAD_LOCALITY",
        "TPM_READ_ONLY",
        "TPM_PER_NOWRITE",
        "TPM_FAMILYCOUNT",
        "TPM_WRITE_LOCKED",
        "TPM_BAD_ATTRIBUTES",
        "TPM_INVALID_STRUCTURE",
        "TPM_KEY_OWNER_CONTROL",
        "TPM_BAD_COUNTER",
        "TPM_NOT_FULLWRITE",
        "TPM_CONTEXT_GAP",
        "TPM_MAXNVWRITES",
        "TPM_NOOPERATOR",
    ];
    match rc {
        0x800 => "TPM_RETRY",
        0x801 => "TPM_NEEDS_SELFTEST",
        0x802 => "TPM_DOING_SELFTEST",
        0x803 => "TPM_DEFEND_LOCK_RUNNING",
        _ => NAMES
            .get(rc as usize)
            .copied()
            .unwrap_or("an unnamed TPM_RESULT"),
    }
}

/// A running swtpm TPM 1.2 with an owner and an SRK (both with
/// [`well_known_auth`]), after `TPM_Startup(ST_CLEAR)`; killed when dropped.
pub struct Swtpm12 {
    tpm: Swtpm,
    nonces: Cell<u64>,
}

impl Swtpm12 {
    /// Manufacture a TPM 1.2 in a fresh state directory (`swtpm_setup
    /// --take-ownership --owner-well-known --srk-well-known`), start it and run
    /// `TPM_Startup(ST_CLEAR)`.
    pub fn start() -> Result<Swtpm12, SimError> {
        let dir = tempfile::tempdir()?;
        let out = Command::new("swtpm_setup")
            .arg("--tpmstate")
            .arg(dir.path())
            .args(["--take-ownership", "--owner-well-known", "--srk-well-known"])
            .output()
            .map_err(|e| SimError::Tool {
                tool: "swtpm_setup",
                detail: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(SimError::Tool {
                tool: "swtpm_setup",
                detail: format!(
                    "{}: {}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        // not-need-init: swtpm runs TPM_Init itself; TPM_Startup is ours to send.
        let tpm = Swtpm::spawn(dir, &[], "not-need-init")?;
        let sim = Swtpm12 {
            tpm,
            nonces: Cell::new(0),
        };
        sim.run(
            ORD_STARTUP,
            &Cmd::new(TAG_RQU_COMMAND, ORD_STARTUP).u16(1).finish(),
        )?;
        Ok(sim)
    }

    /// Set the locality later commands run at (control channel, as for TPM 2.0).
    pub fn set_locality(&self, locality: u8) -> Result<(), SimError> {
        self.tpm.set_locality(locality)
    }

    /// `_TPM_Hash_Start/Data/End` over `data`: after startup this is a dynamic
    /// launch, resetting PCR17-22 to zero and extending PCR17 with SHA-1(data).
    pub fn hash_sequence(&self, data: &[u8]) -> Result<(), SimError> {
        self.tpm.hash_sequence(data)
    }

    /// `TPM_Extend(pcr, digest)` at the current locality; returns the new value.
    pub fn extend(&self, pcr: u32, digest: &[u8; 20]) -> Result<[u8; 20], SimError> {
        let cmd = Cmd::new(TAG_RQU_COMMAND, ORD_EXTEND)
            .u32(pcr)
            .bytes(digest)
            .finish();
        let body = self.run(ORD_EXTEND, &cmd)?;
        let mut r = Reader::new("TPM_Extend", &body);
        let v = r.digest("outDigest")?;
        r.end()?;
        Ok(v)
    }

    /// `TPM_PcrRead(pcr)`.
    pub fn pcr_read(&self, pcr: u32) -> Result<[u8; 20], SimError> {
        let cmd = Cmd::new(TAG_RQU_COMMAND, ORD_PCR_READ).u32(pcr).finish();
        let body = self.run(ORD_PCR_READ, &cmd)?;
        let mut r = Reader::new("TPM_PcrRead", &body);
        let v = r.digest("outDigest")?;
        r.end()?;
        Ok(v)
    }

    /// Send a command; a non-zero `TPM_RESULT` becomes [`SimError::Tpm12`].
    fn run(&self, ordinal: u32, cmd: &[u8]) -> Result<Vec<u8>, SimError> {
        let (rc, body) = self.tpm.transact(cmd)?;
        if rc != 0 {
            return Err(SimError::Tpm12 { ordinal, rc });
        }
        Ok(body)
    }

    /// A fresh `nonceOdd`. Nonces only need to differ between commands (they
    /// defeat replay, they are not secrets), so a hashed counter and clock do.
    fn nonce_odd(&self) -> [u8; 20] {
        let n = self.nonces.get() + 1;
        self.nonces.set(n);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        auth::sha1(&[
            b"tpm-sim nonceOdd",
            &std::process::id().to_be_bytes(),
            &n.to_be_bytes(),
            &t.to_be_bytes(),
        ])
    }

    /// `TPM_OIAP`: a session whose HMAC key is the entity's secret `usage_auth`.
    fn oiap(&self, usage_auth: &[u8; 20]) -> Result<Session, SimError> {
        let body = self.run(ORD_OIAP, &Cmd::new(TAG_RQU_COMMAND, ORD_OIAP).finish())?;
        let mut r = Reader::new("TPM_OIAP", &body);
        let handle = r.u32("authHandle")?;
        let nonce_even = r.digest("nonceEven")?;
        r.end()?;
        Ok(Session {
            handle,
            nonce_even,
            key: *usage_auth,
        })
    }

    /// `TPM_OSAP` on key `key_handle` (entity type `TPM_ET_KEYHANDLE`): the HMAC key is
    /// the shared secret HMAC(usageAuth, nonceEvenOSAP ‖ nonceOddOSAP) (Part 1 §13.2).
    fn osap(&self, key_handle: u32, usage_auth: &[u8; 20]) -> Result<Session, SimError> {
        const ET_KEYHANDLE: u16 = 0x0001;
        let nonce_odd_osap = self.nonce_odd();
        let cmd = Cmd::new(TAG_RQU_COMMAND, ORD_OSAP)
            .u16(ET_KEYHANDLE)
            .u32(key_handle)
            .bytes(&nonce_odd_osap)
            .finish();
        let body = self.run(ORD_OSAP, &cmd)?;
        let mut r = Reader::new("TPM_OSAP", &body);
        let handle = r.u32("authHandle")?;
        let nonce_even = r.digest("nonceEven")?;
        let nonce_even_osap = r.digest("nonceEvenOSAP")?;
        r.end()?;
        Ok(Session {
            handle,
            nonce_even,
            key: auth::hmac_sha1(usage_auth, &[&nonce_even_osap, &nonce_odd_osap]),
        })
    }
}
