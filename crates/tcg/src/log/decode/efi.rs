//! UEFI structures in event data: variables, handoff tables, GPT headers, and
//! the GUIDs people recognise by name.

use super::devpath::device_path;
use super::util::{guid, le16, le32, le64, text, ucs2};

/// Well-known GUIDs (UEFI spec, PI spec, EDK2 and shim), by name.
pub fn guid_name(g: &str) -> Option<&'static str> {
    Some(match g {
        "8be4df61-93ca-11d2-aa0d-00e098032b8c" => "EFI_GLOBAL_VARIABLE",
        "d719b2cb-3d3a-4596-a3bc-dad00e67656f" => "EFI_IMAGE_SECURITY_DATABASE",
        "605dab50-e046-4300-abb6-3dd810dd8b23" => "SHIM_LOCK",
        "eb9d2d31-2d88-11d3-9a16-0090273fc14d" => "SMBIOS_TABLE",
        "f2fd1544-9794-4a2c-992e-e5bbcf20e394" => "SMBIOS3_TABLE",
        "eb9d2d30-2d88-11d3-9a16-0090273fc14d" => "ACPI_TABLE",
        "8868e871-e4f1-11d3-bc22-0080c73c8881" => "ACPI_20_TABLE",
        "3fdda605-a76e-4f46-ad29-12f4531b3d08" => "EFI_MP_SERVICES_PROTOCOL",
        "7739f24c-93d7-11d4-9a3a-0090273fc14d" => "EFI_HOB_LIST",
        "49152e77-1ada-4764-b7a2-7afefed95e8b" => "EFI_DEBUG_IMAGE_INFO_TABLE",
        "4c19049f-4137-4dd3-9c10-8b97a83ffdfa" => "EFI_MEMORY_TYPE_INFORMATION",
        "dcfa911d-26eb-469f-a220-38b7dc461220" => "EFI_MEMORY_ATTRIBUTES_TABLE",
        "ee4e5898-3914-4259-9d6e-dc7bd79403cf" => "LZMA_CUSTOM_DECOMPRESS",
        "05ad34ba-6f02-4214-952e-4da0398e2bb9" => "EFI_DXE_SERVICES_TABLE",
        "b122a263-3661-4f68-9929-78f8b0d62180" => "EFI_SYSTEM_RESOURCE_TABLE",
        "8b843e20-8132-4852-90cc-551a4e4a7f1c" => "EFI_DEVICE_PATH_PROTOCOL",
        "7ce88fb3-4bd7-4679-87a8-a8d8dee50d2b" => "EFI_FIRMWARE_FILE_SYSTEM2",
        "5473c07a-3dcb-4dca-bd6f-1e9689e7349a" => "EFI_FIRMWARE_FILE_SYSTEM3",
        "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" => "EFI System Partition",
        "0fc63daf-8483-4772-8e79-3d69d8477de4" => "Linux filesystem",
        "e6d6d379-f507-44c2-a23c-238f2a3df928" => "Linux LVM",
        "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f" => "Linux swap",
        "21686148-6449-6e6f-744e-656564454649" => "BIOS boot partition",
        "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7" => "Microsoft basic data",
        "e3c9e316-0b5c-4db8-817d-f92df00215ae" => "Microsoft reserved",
        "de94bba4-06d1-4d40-a16a-bfd50179d6ac" => "Windows recovery",
        _ => return None,
    })
}

/// A GUID with its name when known: `SMBIOS3_TABLE (f2fd1544-...)`.
pub fn named(g: &str) -> String {
    match guid_name(g) {
        Some(n) => format!("{n} ({g})"),
        None => g.to_string(),
    }
}

/// One `UEFI_CONFIGURATION_TABLE` entry of a handoff-tables event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConfigTable {
    /// `VendorGuid`.
    pub guid: String,
    /// Its well-known name, if any.
    pub name: Option<&'static str>,
    /// `VendorTable` (the table's address).
    pub address: u64,
}

/// `UEFI_HANDOFF_TABLE_POINTERS` (`NumberOfTables`, then GUID + pointer entries); `None`
/// unless the data is exactly that.
pub fn handoff_tables(d: &[u8]) -> Option<Vec<ConfigTable>> {
    let n = usize::try_from(le64(d, 0)?).ok()?;
    if n.checked_mul(24)?.checked_add(8)? != d.len() {
        return None;
    }
    Some(
        (0..n)
            .map(|i| {
                let at = 8 + 24 * i;
                let g = guid(&d[at..at + 16]);
                ConfigTable {
                    name: guid_name(&g),
                    guid: g,
                    address: le64(d, at + 16).unwrap_or(0),
                }
            })
            .collect(),
    )
}

/// What a variable's data says, for the variables whose form is standard.
pub fn variable_detail(name: &str, data: &[u8]) -> Option<String> {
    match name {
        "BootOrder" | "DriverOrder" => {
            if !data.len().is_multiple_of(2) {
                return None;
            }
            Some(
                data.chunks_exact(2)
                    .map(|c| format!("Boot{:04X}", u16::from_le_bytes([c[0], c[1]])))
                    .collect::<Vec<_>>()
                    .join(","),
            )
        }
        // The name is untrusted text: look at its last four bytes, which
        // need not fall on a character boundary.
        n if (n.starts_with("Boot") || n.starts_with("Driver"))
            && n.len() >= 8
            && n.as_bytes()[n.len() - 4..]
                .iter()
                .all(|b| b.is_ascii_hexdigit()) =>
        {
            // EFI_LOAD_OPTION: attributes, path length, description, device path.
            let attrs = le32(data, 0)?;
            let plen = le16(data, 4)? as usize;
            let rest = data.get(6..)?;
            let dlen = rest.chunks_exact(2).position(|c| c == [0, 0])? * 2;
            let desc = ucs2(&rest[..dlen + 2])?;
            let path = rest.get(dlen + 2..dlen + 2 + plen)?;
            Some(format!(
                "{desc:?} {} ({})",
                device_path(path),
                if attrs & 1 != 0 { "active" } else { "inactive" }
            ))
        }
        "SecureBoot" | "SetupMode" | "AuditMode" | "DeployedMode" | "SbatLevel" | "MokSBState" => {
            match data {
                [v] => Some(format!("{v}")),
                _ => text(data).map(|t| format!("{t:?}")),
            }
        }
        "PK" | "KEK" | "db" | "dbx" | "dbt" | "dbr" | "MokList" | "MokListX" => {
            signature_lists(data)
        }
        _ => None,
    }
}

/// `EFI_SIGNATURE_LIST`s: how many lists and signatures, by type.
fn signature_lists(mut d: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !d.is_empty() {
        let ty = guid(d.get(..16)?);
        let list = le32(d, 16)? as usize;
        let header = le32(d, 20)? as usize;
        let size = le32(d, 24)? as usize;
        if list < 28 || list > d.len() || size == 0 {
            return None;
        }
        let n = (list - 28 - header) / size;
        let kind = match ty.as_str() {
            "c1c41626-504c-4092-aca9-41f936934328" => "sha256",
            "a5c059a1-94e4-4aa7-87b5-ab155c2bf072" => "x509",
            "3c5766e8-269c-4e34-aa14-ed776e85b3b6" => "rsa2048",
            "826ca512-cf10-4ac9-b187-be01496631bd" => "sha1",
            _ => "other",
        };
        parts.push(format!("{n} {kind}"));
        d = &d[list..];
    }
    Some(format!("signature lists: {}", parts.join(", ")))
}

/// The GPT header's disk GUID and the partition entries' names.
pub fn gpt(d: &[u8]) -> Option<(String, Vec<String>)> {
    let disk = guid(d.get(56..72)?);
    let count = le64(d, 92)? as usize;
    let esize = le32(d, 84)? as usize;
    let mut names = Vec::new();
    for i in 0..count.min(256) {
        let e = d.get(100 + i * esize..100 + (i + 1) * esize)?;
        let ty = guid(e.get(..16)?);
        let name = ucs2(e.get(56..128)?).unwrap_or_default();
        let kind = guid_name(&ty).map(str::to_string).unwrap_or(ty);
        names.push(if name.is_empty() {
            kind
        } else {
            format!("{name} ({kind})")
        });
    }
    Some((disk, names))
}
