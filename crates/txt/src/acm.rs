//! SINIT Authenticated Code Modules: header, info table and the signed
//! region whose hash SENTER extends into PCR17 (MLE DG Appendix A.1).

use serde::Serialize;
use tcg::HashAlg;

use crate::error::Result;
use crate::view::View;

/// The info-table UUID (`ACM_UUID_V3`) every SINIT user area starts with.
pub const ACM_INFO_UUID: [u8; 16] = [
    0xaa, 0x3a, 0xc0, 0x7f, 0xa7, 0x46, 0xdb, 0x18, 0x2e, 0xac, 0x69, 0x8f, 0x8d, 0x41, 0x7f, 0x5a,
];

/// Header version 0.0: RSA-2048, PKCS#1 v1.5 signature, explicit exponent.
pub const HEADER_V0: u32 = 0x0000_0000;
/// Header version 3.0: RSA-3072, no exponent field.
pub const HEADER_V3: u32 = 0x0003_0000;

/// The fixed part of the ACM header (all little-endian).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcmHeader {
    /// 2 = chipset ACM.
    pub module_type: u16,
    /// 0 = SINIT.
    pub module_sub_type: u16,
    /// Header length in dwords.
    pub header_len: u32,
    /// `HEADER_V0` or `HEADER_V3`.
    pub header_version: u32,
    /// Chipset the ACM is for.
    pub chipset_id: u16,
    /// Bit 14 pre-production, bit 15 debug-signed.
    pub flags: u16,
    /// 0x8086.
    pub module_vendor: u32,
    /// BCD `yyyymmdd`.
    pub date: u32,
    /// Whole module size in dwords (the file may carry padding past it).
    pub size: u32,
    /// TXT security version number.
    pub txt_svn: u16,
    /// SE security version number.
    pub se_svn: u16,
    /// Code control flags.
    pub code_control: u32,
    /// Error entry point.
    pub error_entry_point: u32,
    /// GDT limit.
    pub gdt_limit: u32,
    /// GDT base pointer.
    pub gdt_base: u32,
    /// Segment selector.
    pub seg_sel: u32,
    /// Entry point.
    pub entry_point: u32,
    /// RSA key size in dwords.
    pub key_size: u32,
    /// Scratch area size in dwords.
    pub scratch_size: u32,
    /// RSA public exponent (header v0.0 only).
    pub rsa_exponent: Option<u32>,
}

/// One entry of the chipset ID list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChipsetId {
    /// Match flags (bit 0: revision is a mask).
    pub flags: u32,
    /// PCI vendor id.
    pub vendor_id: u16,
    /// PCI device id.
    pub device_id: u16,
    /// Revision id.
    pub revision_id: u16,
    /// Extended id.
    pub extended_id: u32,
}

/// One entry of the processor ID list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessorId {
    /// CPUID family/model/stepping.
    pub fms: u32,
    /// Mask applied to `fms`.
    pub fms_mask: u32,
    /// Platform id MSR value.
    pub platform_id: u64,
    /// Mask applied to `platform_id`.
    pub platform_mask: u64,
}

/// The TPM info list: what TPMs and banks the SINIT supports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TpmInfo {
    /// Raw capabilities dword.
    pub capabilities: u32,
    /// Bits 1:0: 1 = Maximum Agility, 2 = Maximum Performance, 3 = both.
    pub ext_policy: u8,
    /// Bits 5:2: TPM family (1 = 1.2, 2 = 2.0, 3 = both).
    pub tpm_family: u8,
    /// Bit 6: the TCG-defined NV indices are used.
    pub tpm_nv_index_set: bool,
    /// `TPM_ALG_ID`s the SINIT can hash in software.
    pub alg_ids: Vec<u16>,
}

/// The ACM information table at the start of the user area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InfoTable {
    /// 1 = SINIT, 9 = SINIT revocation.
    pub chipset_acm_type: u8,
    /// Table version (lists exist from 4 and 5).
    pub version: u8,
    /// Table length in bytes.
    pub length: u16,
    /// Offset of the chipset ID list from the ACM start.
    pub chipset_id_list: u32,
    /// OsSinitData version the SINIT expects.
    pub os_sinit_data_ver: u32,
    /// Minimum MLE header version.
    pub min_mle_header_ver: u32,
    /// SINIT capabilities (same bits as the MLE header capabilities).
    pub capabilities: u32,
    /// ACM version.
    pub acm_version: u8,
    /// ACM revision bytes.
    pub acm_revision: [u8; 3],
    /// Offset of the processor ID list (version >= 4).
    pub processor_id_list: Option<u32>,
    /// Offset of the TPM info list (version >= 5).
    pub tpm_info_list: Option<u32>,
    /// Chipsets this ACM runs on.
    pub chipset_ids: Vec<ChipsetId>,
    /// Processors this ACM runs on.
    pub processor_ids: Vec<ProcessorId>,
    /// TPM support.
    pub tpm_info: Option<TpmInfo>,
}

/// A parsed SINIT ACM, borrowing the module bytes (truncated to `Size*4`).
#[derive(Debug, Clone)]
pub struct Acm<'a> {
    bytes: &'a [u8],
    /// The header.
    pub header: AcmHeader,
    /// The info table.
    pub info: InfoTable,
}

const WHAT: &str = "ACM";

/// Lists are bounded so a lying count cannot make us allocate gigabytes.
const MAX_LIST: u32 = 4096;

impl<'a> Acm<'a> {
    /// Parse an ACM file; trailing padding past `Size*4` is ignored.
    pub fn parse(file: &'a [u8]) -> Result<Self> {
        let v = View::new(file, WHAT);
        let header_len = v.u32(4, "HeaderLen")?;
        let header_version = v.u32(8, "HeaderVersion")?;
        let size = v.u32(24, "Size")?;
        let key_size = v.u32(120, "KeySize")?;
        let scratch_size = v.u32(124, "ScratchSize")?;
        let total = (size as usize)
            .checked_mul(4)
            .ok_or_else(|| v.bad("Size", 24, "overflows"))?;
        if total > file.len() {
            return Err(v.bad(
                "Size",
                24,
                format!(
                    "says the module is {total} bytes but the file has only {}",
                    file.len()
                ),
            ));
        }
        let bytes = &file[..total];
        let v = View::new(bytes, WHAT);
        let key_bytes = key_size as usize * 4;
        let (exp, sig_off) = match header_version {
            HEADER_V0 => (Some(v.u32(128 + key_bytes, "RSAPubExp")?), 132 + key_bytes),
            HEADER_V3 => (None, 128 + key_bytes),
            other => {
                return Err(v.bad(
                    "HeaderVersion",
                    8,
                    format!("{other:#010x} is not 0x00000000 (v0.0) or 0x00030000 (v3.0)"),
                ));
            }
        };
        let header_bytes = header_len as usize * 4;
        if sig_off + key_bytes > header_bytes {
            return Err(v.bad(
                "HeaderLen",
                4,
                format!(
                    "{header_len} dwords cannot hold a {key_size}-dword key and signature (needs {})",
                    (sig_off + key_bytes).div_ceil(4)
                ),
            ));
        }
        let header = AcmHeader {
            module_type: v.u16(0, "ModuleType")?,
            module_sub_type: v.u16(2, "ModuleSubType")?,
            header_len,
            header_version,
            chipset_id: v.u16(12, "ChipsetID")?,
            flags: v.u16(14, "Flags")?,
            module_vendor: v.u32(16, "ModuleVendor")?,
            date: v.u32(20, "Date")?,
            size,
            txt_svn: v.u16(28, "TxtSvn")?,
            se_svn: v.u16(30, "SeSvn")?,
            code_control: v.u32(32, "CodeControl")?,
            error_entry_point: v.u32(36, "ErrorEntryPoint")?,
            gdt_limit: v.u32(40, "GDTLimit")?,
            gdt_base: v.u32(44, "GDTBasePtr")?,
            seg_sel: v.u32(48, "SegSel")?,
            entry_point: v.u32(52, "EntryPoint")?,
            key_size,
            scratch_size,
            rsa_exponent: exp,
        };
        let ua = user_area_offset(header_len, scratch_size)
            .ok_or_else(|| v.bad("ScratchSize", 124, "header plus scratch overflows"))?;
        if ua > bytes.len() {
            return Err(v.bad(
                "ScratchSize",
                124,
                format!(
                    "user area would start at {ua:#x}, past the module end {:#x}",
                    bytes.len()
                ),
            ));
        }
        let info = parse_info_table(&v, ua)?;
        Ok(Acm {
            bytes,
            header,
            info,
        })
    }

    /// The module bytes, `Size*4` long.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Byte offset of the user area: `(HeaderLen + ScratchSize) * 4`.
    pub fn user_area_offset(&self) -> usize {
        // Checked in `parse`.
        (self.header.header_len as usize + self.header.scratch_size as usize) * 4
    }

    /// The RSA public key modulus as stored (little-endian).
    pub fn rsa_public_key(&self) -> &'a [u8] {
        &self.bytes[128..128 + self.header.key_size as usize * 4]
    }

    /// The signed region's two pieces: header bytes `[0,128)` and the user area.
    pub fn signed_region(&self) -> [&'a [u8]; 2] {
        [&self.bytes[..128], &self.bytes[self.user_area_offset()..]]
    }

    /// Hash of the signed region with `alg` (what the CPU writes to Scratch).
    pub fn signed_region_digest(&self, alg: HashAlg) -> Vec<u8> {
        let mut h = alg.hasher();
        for part in self.signed_region() {
            h.update(part);
        }
        h.finalize()
    }

    /// The raw SinitHash SENTER measures: SHA-1 for SinitMleData version <= 6
    /// (old TPM 1.2 SINITs), SHA-256 for later TPM 1.2 and all TPM 2.0 SINITs.
    pub fn sinit_hash(&self, sinit_mle_data_version: u32) -> Vec<u8> {
        let alg = if sinit_mle_data_version <= 6 {
            HashAlg::Sha1
        } else {
            HashAlg::Sha256
        };
        self.signed_region_digest(alg)
    }
}

fn user_area_offset(header_len: u32, scratch_size: u32) -> Option<usize> {
    (header_len as usize)
        .checked_add(scratch_size as usize)?
        .checked_mul(4)
}

fn parse_info_table(v: &View<'_>, ua: usize) -> Result<InfoTable> {
    let uuid = v.bytes(ua, 16, "InfoTable.UUID")?;
    if uuid != ACM_INFO_UUID {
        return Err(v.bad(
            "InfoTable.UUID",
            ua,
            format!(
                "is {} but an ACM info table starts with {}",
                hex::encode(uuid),
                hex::encode(ACM_INFO_UUID)
            ),
        ));
    }
    let version = v.u8(ua + 17, "InfoTable.Version")?;
    let chipset_id_list = v.u32(ua + 20, "InfoTable.ChipsetIDList")?;
    let processor_id_list = if version >= 4 {
        Some(v.u32(ua + 40, "InfoTable.ProcessorIDList")?)
    } else {
        None
    };
    let tpm_info_list = if version >= 5 {
        Some(v.u32(ua + 44, "InfoTable.TPMInfoList")?)
    } else {
        None
    };
    let chipset_ids = read_list(v, chipset_id_list, 16, "ChipsetIDList", |v, o| {
        Ok(ChipsetId {
            flags: v.u32(o, "ChipsetID.Flags")?,
            vendor_id: v.u16(o + 4, "ChipsetID.VendorID")?,
            device_id: v.u16(o + 6, "ChipsetID.DeviceID")?,
            revision_id: v.u16(o + 8, "ChipsetID.RevisionID")?,
            extended_id: v.u32(o + 12, "ChipsetID.ExtendedID")?,
        })
    })?;
    let processor_ids = match processor_id_list {
        Some(off) if off != 0 => read_list(v, off, 24, "ProcessorIDList", |v, o| {
            Ok(ProcessorId {
                fms: v.u32(o, "ProcessorID.FMS")?,
                fms_mask: v.u32(o + 4, "ProcessorID.FMSMask")?,
                platform_id: v.u64(o + 8, "ProcessorID.PlatformID")?,
                platform_mask: v.u64(o + 16, "ProcessorID.PlatformMask")?,
            })
        })?,
        _ => Vec::new(),
    };
    let tpm_info = match tpm_info_list {
        Some(off) if off != 0 => Some(parse_tpm_info(v, off as usize)?),
        _ => None,
    };
    let mut acm_revision = [0u8; 3];
    acm_revision.copy_from_slice(v.bytes(ua + 37, 3, "InfoTable.AcmRevision")?);
    Ok(InfoTable {
        chipset_acm_type: v.u8(ua + 16, "InfoTable.ChipsetACMType")?,
        version,
        length: v.u16(ua + 18, "InfoTable.Length")?,
        chipset_id_list,
        os_sinit_data_ver: v.u32(ua + 24, "InfoTable.OsSinitDataVer")?,
        min_mle_header_ver: v.u32(ua + 28, "InfoTable.MinMleHeaderVer")?,
        capabilities: v.u32(ua + 32, "InfoTable.Capabilities")?,
        acm_version: v.u8(ua + 36, "InfoTable.AcmVersion")?,
        acm_revision,
        processor_id_list,
        tpm_info_list,
        chipset_ids,
        processor_ids,
        tpm_info,
    })
}

fn read_list<T>(
    v: &View<'_>,
    off: u32,
    entry: usize,
    field: &'static str,
    mut one: impl FnMut(&View<'_>, usize) -> Result<T>,
) -> Result<Vec<T>> {
    let off = off as usize;
    let count = v.u32(off, field)?;
    if count > MAX_LIST {
        return Err(v.bad(field, off, format!("count {count} exceeds {MAX_LIST}")));
    }
    // Check the whole list fits before allocating for it.
    v.bytes(off + 4, count as usize * entry, field)?;
    (0..count as usize)
        .map(|i| one(v, off + 4 + i * entry))
        .collect()
}

fn parse_tpm_info(v: &View<'_>, off: usize) -> Result<TpmInfo> {
    let capabilities = v.u32(off, "TPMInfoList.Capabilities")?;
    let count = v.u16(off + 4, "TPMInfoList.Count")? as usize;
    let ids = v.bytes(off + 6, count * 2, "TPMInfoList.AlgID")?;
    Ok(TpmInfo {
        capabilities,
        ext_policy: (capabilities & 3) as u8,
        tpm_family: ((capabilities >> 2) & 0xf) as u8,
        tpm_nv_index_set: capabilities & 0x40 != 0,
        alg_ids: ids
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect(),
    })
}
