//! Synthetic SINIT ACM files laid out per MLE DG Appendix A, for tests,
//! fuzz seeds and swtpm launches (no real SINIT ships with Debian).

use crate::acm::{ACM_INFO_UUID, HEADER_V0, HEADER_V3};

/// What to put in a synthetic ACM.
#[derive(Debug, Clone)]
pub struct AcmSpec {
    /// `HEADER_V0` (RSA-2048) or `HEADER_V3` (RSA-3072).
    pub header_version: u32,
    /// Info-table capabilities.
    pub capabilities: u32,
    /// Info-table version (>= 5 adds the TPM info list).
    pub info_version: u8,
    /// TPM info capabilities dword.
    pub tpm_caps: u32,
    /// TPM info algorithm ids.
    pub tpm_algs: Vec<u16>,
    /// Bytes of "code" after the info table (changes the signed hash).
    pub code: Vec<u8>,
    /// Zero padding appended past `Size*4`.
    pub padding: usize,
    /// Info-table chipset ACM type (1 SINIT, 0 BIOS ACM, 9 SINIT revocation).
    pub chipset_acm_type: u8,
    /// Info-table OsSinitData version the SINIT expects.
    pub os_sinit_data_ver: u32,
}

impl Default for AcmSpec {
    fn default() -> Self {
        AcmSpec {
            header_version: HEADER_V0,
            capabilities: 0x0000_0201,
            info_version: 5,
            // Maximum Performance, TPM 1.2 and 2.0, TCG NV indices.
            tpm_caps: 0x0000_004e,
            tpm_algs: vec![0x0004, 0x000b],
            code: b"synthetic SINIT code".to_vec(),
            padding: 0,
            chipset_acm_type: 1,
            os_sinit_data_ver: 7,
        }
    }
}

fn put(b: &mut [u8], off: usize, v: &[u8]) {
    b[off..off + v.len()].copy_from_slice(v);
}

/// Build the ACM file bytes.
pub fn build_acm(s: &AcmSpec) -> Vec<u8> {
    let (header_len, key_size) = if s.header_version == HEADER_V3 {
        (224u32, 96u32)
    } else {
        (161u32, 64u32)
    };
    let scratch_size = if s.header_version == HEADER_V3 {
        208u32
    } else {
        143u32
    };
    let ua = ((header_len + scratch_size) * 4) as usize;
    let cl = ua + 0x60;
    let pl = cl + 4 + 16;
    let tl = pl + 4 + 24;
    let code_at = tl + 6 + 2 * s.tpm_algs.len();
    // tboot's verify_acmod wants a size that is a multiple of 64.
    let size = (code_at + s.code.len()).div_ceil(64) * 64;
    let mut b = vec![0u8; size + s.padding];
    put(&mut b, 0, &2u16.to_le_bytes());
    put(&mut b, 4, &header_len.to_le_bytes());
    put(&mut b, 8, &s.header_version.to_le_bytes());
    put(&mut b, 12, &0xb006u16.to_le_bytes());
    put(&mut b, 14, &0x8000u16.to_le_bytes());
    put(&mut b, 16, &0x8086u32.to_le_bytes());
    put(&mut b, 20, &0x2024_0131u32.to_le_bytes());
    put(&mut b, 24, &((size / 4) as u32).to_le_bytes());
    put(&mut b, 28, &3u16.to_le_bytes());
    put(&mut b, 30, &1u16.to_le_bytes());
    // A valid GDT selector (not null, ring 0, inside the GDT) and an entry
    // point inside the module: tboot's verify_acmod checks both.
    put(&mut b, 40, &0x1fu32.to_le_bytes());
    put(&mut b, 48, &0x8u32.to_le_bytes());
    put(&mut b, 52, &(code_at as u32).to_le_bytes());
    put(&mut b, 120, &key_size.to_le_bytes());
    put(&mut b, 124, &scratch_size.to_le_bytes());
    for i in 0..key_size as usize * 4 {
        b[128 + i] = (i as u8).wrapping_mul(7).wrapping_add(1);
    }
    if s.header_version == HEADER_V0 {
        put(
            &mut b,
            128 + key_size as usize * 4,
            &0x10001u32.to_le_bytes(),
        );
    }
    put(&mut b, ua, &ACM_INFO_UUID);
    b[ua + 16] = s.chipset_acm_type;
    b[ua + 17] = s.info_version;
    put(&mut b, ua + 18, &48u16.to_le_bytes());
    put(&mut b, ua + 20, &(cl as u32).to_le_bytes());
    put(&mut b, ua + 24, &s.os_sinit_data_ver.to_le_bytes());
    put(&mut b, ua + 28, &0x0002_0001u32.to_le_bytes());
    put(&mut b, ua + 32, &s.capabilities.to_le_bytes());
    b[ua + 36] = 0x23;
    put(&mut b, ua + 37, &[1, 2, 3]);
    put(&mut b, ua + 40, &(pl as u32).to_le_bytes());
    put(&mut b, ua + 44, &(tl as u32).to_le_bytes());
    put(&mut b, cl, &1u32.to_le_bytes());
    put(&mut b, cl + 4, &1u32.to_le_bytes());
    put(&mut b, cl + 8, &0x8086u16.to_le_bytes());
    put(&mut b, cl + 10, &0xa14du16.to_le_bytes());
    put(&mut b, cl + 12, &0x1u16.to_le_bytes());
    put(&mut b, pl, &1u32.to_le_bytes());
    put(&mut b, pl + 4, &0x50650u32.to_le_bytes());
    put(&mut b, pl + 8, &0x0fff_3ff0u32.to_le_bytes());
    put(&mut b, tl, &s.tpm_caps.to_le_bytes());
    put(&mut b, tl + 4, &(s.tpm_algs.len() as u16).to_le_bytes());
    for (i, a) in s.tpm_algs.iter().enumerate() {
        put(&mut b, tl + 6 + 2 * i, &a.to_le_bytes());
    }
    put(&mut b, code_at, &s.code);
    b
}

/// A minimal ELF32 i386 executable with the given PT_LOAD segments
/// (paddr, file bytes, memsz).
pub fn elf(segs: &[(u32, Vec<u8>, u32)]) -> Vec<u8> {
    let phoff = 52usize;
    let data_at = phoff + 32 * segs.len();
    let mut b = vec![0u8; data_at];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 1;
    b[5] = 1;
    b[6] = 1;
    b[16..18].copy_from_slice(&2u16.to_le_bytes());
    b[18..20].copy_from_slice(&3u16.to_le_bytes());
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[28..32].copy_from_slice(&(phoff as u32).to_le_bytes());
    b[42..44].copy_from_slice(&32u16.to_le_bytes());
    b[44..46].copy_from_slice(&(segs.len() as u16).to_le_bytes());
    let mut off = data_at;
    for (i, (paddr, bytes, memsz)) in segs.iter().enumerate() {
        let p = phoff + 32 * i;
        let f = [
            1u32,
            off as u32,
            *paddr,
            *paddr,
            bytes.len() as u32,
            *memsz,
            7,
            0x1000,
        ];
        for (j, v) in f.iter().enumerate() {
            b[p + 4 * j..p + 4 * j + 4].copy_from_slice(&v.to_le_bytes());
        }
        off += bytes.len();
    }
    for (_, bytes, _) in segs {
        b.extend_from_slice(bytes);
    }
    b
}

/// The release string [`mle_segment`] carries, as tboot 1.10.2's banner.
pub const SYNTH_TBOOT_CHANGESET: &[u8] = b"2021-06-14 14:00 +0100 1.10.2";

/// A 12 KiB segment with an MLE header at 0x1000 (MleStart 0x1000, the
/// given MleEnd and capabilities, a 512-byte cmdline buffer at 0x2000) and
/// tboot 1.10.2's release string at 0x2400.
pub fn mle_segment(mle_end: u32, caps: u32) -> Vec<u8> {
    let mut seg = vec![0xccu8; 0x3000];
    let at = 0x1000;
    seg[at..at + 16].copy_from_slice(&crate::mle::MLE_UUID);
    let fields = [
        0x34u32,
        0x0002_0001,
        0x100,
        0,
        0x1000,
        mle_end,
        caps,
        0x2000,
        0x2000 + 511,
    ];
    for (j, v) in fields.iter().enumerate() {
        seg[at + 16 + 4 * j..at + 20 + 4 * j].copy_from_slice(&v.to_le_bytes());
    }
    seg[0x2000..0x2200].fill(0);
    seg[0x23ff] = 0;
    seg[0x2400..0x2400 + SYNTH_TBOOT_CHANGESET.len()].copy_from_slice(SYNTH_TBOOT_CHANGESET);
    seg[0x2400 + SYNTH_TBOOT_CHANGESET.len()] = 0;
    seg
}

/// A tboot-like `ELF` with one segment at 0x800000 and `.bss` past the file bytes.
pub fn tboot_like_elf(caps: u32) -> Vec<u8> {
    elf(&[(0x80_0000, mle_segment(0x3000, caps), 0x5000)])
}

/// Which kind of platform [`demo_launch`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoPlatform {
    /// TPM 2.0, SHA-1 + SHA-256 banks, `extpol=embedded`.
    Tpm2Embedded,
    /// TPM 2.0, the SHA-256 bank, `extpol=sha256` (tboot extends that bank
    /// only, so only it can be predicted).
    Tpm2FixedSha256,
    /// TPM 1.2, legacy PCR mapping, SinitMleData version 8.
    Tpm12Legacy,
    /// TPM 1.2, details/authorities mapping (asked for, offered by SINIT).
    Tpm12Da,
}

/// A complete launch with synthetic artifacts and distinct platform values,
/// for round-trip tests (capture → predict) and fuzz seeds.
pub fn demo_launch(platform: DemoPlatform) -> crate::LaunchInputs {
    use crate::profile::{ExtPolicy, PcrMapping, Profile, TpmFamily};
    use crate::{ModuleData, ModuleInput, PolicySource};
    use tcg::HashAlg;

    let banks = vec![HashAlg::Sha1, HashAlg::Sha256];
    let mut p = Profile::tpm2(banks.clone());
    p.scrtm_status = 1;
    p.lcp_policy_control = 0x4;
    p.lcp_details = b"\x01details".to_vec();
    p.lcp_authorities = b"\x01authorities".to_vec();
    p.biosac_reg_data = Some((0u8..32).collect());
    for a in &banks {
        p.nv_info_digests
            .insert(*a, hex::encode(a.digest(b"nv info of system A")));
        p.sinit_pubkey_digests
            .insert(*a, hex::encode(a.digest(b"SINIT key of system A")));
    }
    match platform {
        DemoPlatform::Tpm2Embedded => p.extpol = Some(ExtPolicy::Embedded),
        DemoPlatform::Tpm2FixedSha256 => {
            p.extpol = Some(ExtPolicy::Fixed(HashAlg::Sha256));
            p.banks = vec![HashAlg::Sha256];
            p.biosac_reg_data_digests.clear();
            p.nv_info_digests.retain(|a, _| *a == HashAlg::Sha256);
            p.sinit_pubkey_digests.retain(|a, _| *a == HashAlg::Sha256);
        }
        DemoPlatform::Tpm12Legacy => {
            p.tpm = TpmFamily::Tpm12;
            p.banks = vec![HashAlg::Sha1];
            p.pcr_mapping = Some(PcrMapping::Legacy);
            p.sinit_mle_data_version = 8;
            p.bios_acm_id = Some(
                hex::decode("80000000201010220000b001ffffffffffffffff").expect("constant hex"),
            );
            p.mseg_valid = 1;
            p.stm_hash = Some(vec![0x5a; 20]);
            p.lcp_policy_hash = Some(vec![0xa5; 20]);
        }
        DemoPlatform::Tpm12Da => {
            p.tpm = TpmFamily::Tpm12;
            p.banks = vec![HashAlg::Sha1];
            p.pcr_mapping = Some(PcrMapping::Da);
            p.sinit_mle_data_version = 8;
            p.nv_info_digests.clear();
            p.sinit_pubkey_digests.retain(|a, _| *a == HashAlg::Sha1);
            // TPM 1.2 D/A extends these 20-byte values raw.
            p.biosac_reg_data = Some(vec![0x11; 20]);
            p.lcp_elements_hash = Some(vec![0x3c; 20]);
            p.stm_hash = Some(vec![0x5a; 20]);
            p.lcp_policy_hash = Some(vec![0xa5; 20]);
        }
    }
    let caps = match platform {
        DemoPlatform::Tpm12Legacy => 0x0000_0001,
        // GETSEC wake, and details/authorities offered (bit 5).
        DemoPlatform::Tpm12Da => 0x0000_0021,
        _ => 0x0000_0201,
    };
    crate::LaunchInputs {
        profile: p,
        acm: build_acm(&AcmSpec {
            capabilities: caps,
            ..AcmSpec::default()
        }),
        tboot: tboot_like_elf(0x627),
        tboot_cmdline: match platform {
            DemoPlatform::Tpm2Embedded => "logging=serial,memory extpol=embedded",
            DemoPlatform::Tpm2FixedSha256 | DemoPlatform::Tpm12Legacy => "logging=serial,memory",
            DemoPlatform::Tpm12Da => "logging=serial,memory pcr_map=da",
        }
        .into(),
        policy: PolicySource::Default,
        modules: vec![
            ModuleInput {
                name: "vmlinuz".into(),
                cmdline: "console=hvc0 root=/dev/xvda1".into(),
                data: ModuleData::Bytes(b"kernel".repeat(1000)),
                decompress: false,
            },
            ModuleInput {
                name: "initrd".into(),
                cmdline: String::new(),
                data: ModuleData::Bytes(b"initrd".repeat(1000)),
                decompress: false,
            },
        ],
    }
}
