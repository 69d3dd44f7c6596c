//! What tboot and the SINIT accept before anything is measured: the ACM
//! (tboot's `is_sinit_acmod` and `verify_acmod`), and which banks the SINIT
//! and tboot extend at all (a bank one of them skips or caps is refused,
//! never shown with a normal-looking value).

use tcg::HashAlg;

use crate::acm::Acm;
use crate::error::{Error, Result};
use crate::mle::MleHeader;
use crate::release::{Release, TbootExtPolicy};
use crate::sinit::{CAPS_WAKE_GETSEC, CAPS_WAKE_MONITOR};

/// `ACM_TYPE_CHIPSET`.
const MODULE_TYPE_CHIPSET: u16 = 2;
/// `ACM_VENDOR_INTEL`.
const VENDOR_INTEL: u32 = 0x8086;
/// `ACM_CHIPSET_TYPE_SINIT`.
const CHIPSET_TYPE_SINIT: u8 = 1;
/// `MIN_OS_SINIT_DATA_VER` (every release read).
const MIN_OS_SINIT_DATA_VER: u32 = 4;

fn refuse(msg: String) -> Error {
    Error::Refused(msg)
}

/// The checks tboot makes of the SINIT it is given, that do not depend on
/// the platform (`acmod.c is_acmod`, `is_sinit_acmod`, `verify_acmod`):
/// a module tboot does not take for a SINIT never launches measured.
pub(super) fn check_acm(
    acm: &Acm<'_>,
    file_len: usize,
    release: Release,
    mle: &MleHeader,
) -> Result<()> {
    let v = release.version();
    let h = &acm.header;
    let i = &acm.info;
    let size = acm.bytes().len();
    if h.module_type != MODULE_TYPE_CHIPSET || h.module_vendor != VENDOR_INTEL {
        return Err(refuse(format!(
            "the ACM has module type {:#x} and vendor {:#x}; tboot {v} takes only chipset \
             ACMs (type 2) from Intel (0x8086) (is_acmod)",
            h.module_type, h.module_vendor
        )));
    }
    if i.version < 3 {
        return Err(refuse(format!(
            "ACM info table version {} < 3: tboot {v} refuses it (is_acmod)",
            i.version
        )));
    }
    if i.chipset_acm_type != CHIPSET_TYPE_SINIT {
        let what = match i.chipset_acm_type {
            0 => "a BIOS ACM",
            8 => "a BIOS revocation ACM",
            9 => "a SINIT revocation ACM",
            _ => "not a SINIT",
        };
        return Err(refuse(format!(
            "the ACM's chipset ACM type is {:#x} ({what}); tboot {v} launches only a SINIT \
             (type 1) and never measures this launch (is_sinit_acmod)",
            i.chipset_acm_type
        )));
    }
    let padding = file_len - size;
    if !release.accepts_acm_padding(padding) {
        return Err(refuse(format!(
            "the ACM file has {padding} bytes past its Size*4 ({size} bytes); tboot {v} \
             requires the module size to equal the file size{} (is_acmod)",
            if v >= crate::version::TbootVersion::new(1, 9, 11) {
                " or 64-256 KiB of padding"
            } else {
                ""
            }
        )));
    }
    if size == 0 || !size.is_multiple_of(64) {
        return Err(refuse(format!(
            "the ACM is {size} bytes, not a multiple of 64: tboot {v} refuses it (verify_acmod)"
        )));
    }
    if h.entry_point as usize >= size {
        return Err(refuse(format!(
            "the ACM entry point {:#x} is past its end {size:#x}: tboot {v} refuses it \
             (verify_acmod)",
            h.entry_point
        )));
    }
    if h.seg_sel == 0 || h.seg_sel & 7 != 0 || h.seg_sel.saturating_add(8) > h.gdt_limit {
        return Err(refuse(format!(
            "the ACM segment selector {:#x} (GDT limit {:#x}) is invalid: tboot {v} refuses \
             it (verify_acmod)",
            h.seg_sel, h.gdt_limit
        )));
    }
    if i.min_mle_header_ver > mle.version {
        return Err(refuse(format!(
            "the SINIT needs MLE header version {:#x}, tboot {v} has {:#x} (verify_acmod)",
            i.min_mle_header_ver, mle.version
        )));
    }
    let wake = CAPS_WAKE_GETSEC | CAPS_WAKE_MONITOR;
    if mle.capabilities & i.capabilities & wake == 0 {
        return Err(refuse(format!(
            "the SINIT's RLP wake-up capabilities ({:#x}) and tboot {v}'s ({:#x}) have no \
             mechanism in common (verify_acmod)",
            i.capabilities & wake,
            mle.capabilities & wake
        )));
    }
    if i.os_sinit_data_ver < MIN_OS_SINIT_DATA_VER {
        return Err(refuse(format!(
            "the SINIT's OsSinitData version {} is older than {MIN_OS_SINIT_DATA_VER}: tboot \
             {v} refuses it (verify_acmod)",
            i.os_sinit_data_ver
        )));
    }
    Ok(())
}

/// What a bank gets, or why it is refused.
fn refusal(msg: &mut Vec<String>, b: HashAlg, why: String) {
    msg.push(format!("{b}: {why}"));
}

/// Refuse every bank that the SINIT caps or tboot does not extend.
///
/// SINIT (TPM 2.0): with Maximum Performance it hashes in software and
/// extends only the banks of its TPM info list's algorithms; the others are
/// "capped with 1" (MLE DG rev 013 §1.9, §3.3.6, Table A-9, Table E-6
/// EVTYPE_CAP_VALUE), but the guide does not say how many capping events a
/// bank gets or where, so such a bank cannot be predicted. With Maximum
/// Agility every bank is extended.
pub(super) fn check_banks(
    banks: &[HashAlg],
    acm: &Acm<'_>,
    release: Release,
    tpm2: bool,
    extpol: TbootExtPolicy,
) -> Result<()> {
    let v = release.version();
    let mut msgs = Vec::new();
    if tpm2 {
        let Some(info) = &acm.info.tpm_info else {
            return Err(refuse(format!(
                "the SINIT has no TPM info list (info table version {}): tboot {v} reads it \
                 unchecked on TPM 2.0 and which banks the SINIT extends is unknown",
                acm.info.version
            )));
        };
        if info.tpm_family & 0b1010 == 0 {
            return Err(refuse(format!(
                "the SINIT's TPM info list supports TPM family bits {:#06b}, not TPM 2.0",
                info.tpm_family
            )));
        }
        let ma_asked = release.maximum_agility(extpol);
        let ma = match info.ext_policy {
            1 => true,
            2 => false,
            3 => ma_asked,
            other => {
                return Err(refuse(format!(
                    "the SINIT's TPM info list has PCR extend policy support {other:#b} \
                     (illegal)"
                )));
            }
        };
        if !ma {
            for &b in banks {
                if !info.alg_ids.contains(&b.id()) {
                    refusal(
                        &mut msgs,
                        b,
                        format!(
                            "the SINIT hashes only {} in software and, under the Maximum \
                             Performance extend policy{}, caps the other banks; the MLE \
                             Developer's Guide does not specify the capped values",
                            names(&info.alg_ids),
                            if ma_asked {
                                " (the only one it supports)"
                            } else {
                                " tboot asks for"
                            }
                        ),
                    );
                }
            }
        }
    } else if let Some(info) = &acm.info.tpm_info
        && info.tpm_family & 0b0001 == 0
    {
        return Err(refuse(format!(
            "the SINIT's TPM info list supports TPM family bits {:#06b}, not TPM 1.2",
            info.tpm_family
        )));
    }
    for &b in banks {
        let extended = match extpol {
            TbootExtPolicy::Fixed(a) => a == b,
            TbootExtPolicy::Embedded => release.embedded_algs().contains(&b),
            TbootExtPolicy::Agile => true,
        };
        if !extended {
            let why = match extpol {
                TbootExtPolicy::Fixed(a) => format!(
                    "tboot {v} runs extpol={} and extends only that bank; here PCR17/18 would \
                     hold the SINIT's measurements alone (no policy, no kernel)",
                    a.name()
                ),
                _ => format!(
                    "tboot {v} with extpol=embedded extends only {}; here PCR17/18 would hold \
                     the SINIT's measurements alone (no policy, no kernel)",
                    release
                        .embedded_algs()
                        .iter()
                        .map(|a| a.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            refusal(&mut msgs, b, why);
        }
    }
    if msgs.is_empty() {
        return Ok(());
    }
    Err(refuse(format!(
        "{} (predict only the other banks: remove these from the profile's banks, or pass \
         --bank)",
        msgs.join("; ")
    )))
}

fn names(ids: &[u16]) -> String {
    ids.iter()
        .map(|&id| HashAlg::from_id(id).map_or_else(|| format!("{id:#06x}"), |a| a.name().into()))
        .collect::<Vec<_>>()
        .join(", ")
}
