//! Readable views of event data (PC Client Platform Firmware Profile §10, UEFI,
//! and what firmware, boot loaders and Windows put there in practice). Binary
//! data is shown as hex, never as garbled text.

mod devpath;
mod efi;
mod tagged;
mod util;

use std::fmt;

pub use devpath::device_path;
pub use efi::ConfigTable;
pub use tagged::TaggedEvent;

use super::types::EventType;
use util::{guid, le32, le64, text};

/// Event data decoded by type; anything we do not understand stays hex.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventData {
    /// Text (ASCII, UTF-8 or UCS-2), e.g. EV_S_CRTM_VERSION, EV_IPL, EV_EFI_ACTION.
    Text {
        /// The string.
        text: String,
    },
    /// EV_SEPARATOR's 32-bit value (0 normal, 0xFFFFFFFF error).
    Separator {
        /// The value.
        value: u32,
    },
    /// A GUID, e.g. an S-CRTM version given in GUID form.
    Guid {
        /// The GUID.
        guid: String,
        /// Its well-known name, if any.
        name: Option<&'static str>,
    },
    /// A firmware blob by address (EV_POST_CODE, EV_S_CRTM_CONTENTS, EV_CPU_MICROCODE,
    /// EV_EFI_PLATFORM_FIRMWARE_BLOB(2), EV_NONHOST_CODE).
    Blob {
        /// The blob description (BLOB2 only).
        description: Option<String>,
        /// Physical base address.
        base: u64,
        /// Length in bytes.
        length: u64,
    },
    /// EV_EFI_VARIABLE_* (`UEFI_VARIABLE_DATA`).
    EfiVariable {
        /// Vendor GUID.
        guid: String,
        /// Variable name.
        name: String,
        /// Length of the variable's data.
        data_len: u64,
        /// What the data says, for standard variables (boot order and options,
        /// Secure Boot state, signature databases).
        detail: Option<String>,
    },
    /// EV_EFI_BOOT_SERVICES_* / EV_EFI_RUNTIME_SERVICES_DRIVER (`UEFI_IMAGE_LOAD_EVENT`).
    EfiImageLoad {
        /// Image load address.
        location: u64,
        /// Image length.
        length: u64,
        /// The device path, nodes by name.
        device_path: String,
    },
    /// EV_EFI_GPT_EVENT (`UEFI_GPT_DATA`).
    EfiGpt {
        /// Disk GUID from the GPT header.
        disk_guid: String,
        /// Number of partition entries measured.
        partitions: u64,
        /// Each partition's name and type.
        names: Vec<String>,
    },
    /// EV_EFI_HANDOFF_TABLES(2) and EV_TABLE_OF_DEVICES in that form: configuration tables.
    HandoffTables {
        /// The description (HANDOFF_TABLES2 only).
        description: Option<String>,
        /// The tables.
        tables: Vec<ConfigTable>,
    },
    /// EV_EVENT_TAG: tagged events (Windows SIPA, Linux EFI stub).
    Tagged {
        /// The events, containers with their nested events.
        events: Vec<TaggedEvent>,
    },
    /// A small number (EV_COMPACT_HASH's usual 4 bytes), little-endian.
    Number {
        /// The value.
        value: u64,
        /// Its size in bytes.
        size: usize,
    },
    /// Text followed by binary fields (EV_NONHOST_INFO "GCE NonHostInfo" + bytes).
    Labelled {
        /// The text part.
        text: String,
        /// The bytes after the text's NUL, hex.
        rest: String,
        /// What the bytes say, where the layout is known (GCE: the confidential
        /// computing technology).
        detail: Option<String>,
    },
    /// EV_IPL_PARTITION_DATA on a legacy BIOS: the MBR partition table.
    MbrPartitions {
        /// `(boot flag, type, first LBA, sectors)` of each non-empty entry.
        partitions: Vec<MbrPartition>,
    },
    /// EV_NO_ACTION StartupLocality.
    StartupLocality {
        /// The locality the TPM started at.
        locality: u8,
    },
    /// EV_NO_ACTION header events by signature (Spec ID, SP800-155, NV index events).
    NoActionSignature {
        /// The signature string.
        signature: String,
    },
    /// Bytes with no readable form (legacy BIOS IPL code, vendor data), as hex.
    Hex {
        /// Data length.
        len: usize,
        /// The bytes, hex (at most [`HEX_SHOWN`] of them).
        hex: String,
    },
}

/// One MBR partition entry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MbrPartition {
    /// Bootable flag (0x80).
    pub boot: u8,
    /// Partition type byte.
    pub kind: u8,
    /// First sector.
    pub lba: u32,
    /// Length in sectors.
    pub sectors: u32,
}

/// How many bytes of undecoded data [`EventData::Hex`] keeps.
pub const HEX_SHOWN: usize = 64;

/// Decode `data` by the event type; never fails (falls back to [`EventData::Hex`]).
pub fn decode_event(ty: EventType, data: &[u8]) -> EventData {
    decode_inner(ty, data).unwrap_or_else(|| hex_of(data))
}

fn hex_of(d: &[u8]) -> EventData {
    EventData::Hex {
        len: d.len(),
        hex: hex::encode(&d[..d.len().min(HEX_SHOWN)]),
    }
}

fn blob(d: &[u8]) -> Option<EventData> {
    (d.len() == 16).then(|| EventData::Blob {
        description: None,
        base: le64(d, 0).unwrap_or(0),
        length: le64(d, 8).unwrap_or(0),
    })
}

fn as_text(d: &[u8]) -> Option<EventData> {
    text(d).map(|text| EventData::Text { text })
}

/// Text, else a 16-byte blob, else nothing.
fn text_or_blob(d: &[u8]) -> Option<EventData> {
    if d.len() == 16
        && let Some(b) = blob(d)
        && text(d).is_none()
    {
        return Some(b);
    }
    as_text(d).or_else(|| blob(d))
}

fn decode_inner(ty: EventType, d: &[u8]) -> Option<EventData> {
    use EventType as T;
    Some(match ty {
        T::Separator if d.len() == 4 => EventData::Separator { value: le32(d, 0)? },
        // Text by definition; a GUID-form version is 16 bytes that are not text.
        T::SCrtmVersion => match as_text(d) {
            Some(t) => t,
            None if d.len() == 16 => {
                let g = guid(d);
                EventData::Guid {
                    name: efi::guid_name(&g),
                    guid: g,
                }
            }
            None => return None,
        },
        T::EfiAction | T::Action | T::OmitBootDeviceEvents | T::EfiHcrtmEvent => as_text(d)?,
        // EFI: a text; legacy BIOS: the IPL code itself (binary: hex).
        T::Ipl => as_text(d)?,
        // POST code, S-CRTM contents, microcode and non-host code: a blob by
        // address, or a description string ("POST CODE", "ACPI DATA", "Boot Guard
        // Measured S-CRTM").
        T::PostCode | T::SCrtmContents | T::CpuMicrocode | T::NonhostCode | T::NonhostConfig => {
            text_or_blob(d)?
        }
        T::EfiPlatformFirmwareBlob => blob(d)?,
        T::EfiPlatformFirmwareBlob2 => {
            let n = *d.first()? as usize;
            let desc = d.get(1..1 + n)?;
            if d.len() != 1 + n + 16 {
                return None;
            }
            // The description is text, or a GUID in binary form.
            let description = match text(desc) {
                Some(t) => t,
                None if n == 16 => guid(desc),
                None => hex::encode(desc),
            };
            EventData::Blob {
                description: Some(description),
                base: le64(d, 1 + n)?,
                length: le64(d, 9 + n)?,
            }
        }
        T::PlatformConfigFlags => as_text(d)?,
        T::NonhostInfo => match as_text(d).filter(|_| !d.starts_with(b"GCE NonHostInfo\0")) {
            Some(t) => t,
            None => {
                // A signature string, NUL, then binary fields (GCE: the
                // confidential-computing technology).
                let end = d.iter().position(|&c| c == 0)?;
                let label = std::str::from_utf8(&d[..end]).ok()?;
                if end < 4 || !util::readable(label) {
                    return None;
                }
                let rest = &d[end + 1..];
                // Google's Compute Engine: byte 16 names the confidential-computing
                // technology the VM runs under.
                let detail = (label == "GCE NonHostInfo").then(|| {
                    match rest.first() {
                        Some(0) => "no confidential computing",
                        Some(1) => "confidential computing: AMD SEV",
                        Some(2) => "confidential computing: AMD SEV-ES",
                        Some(3) => "confidential computing: Intel TDX",
                        Some(4) => "confidential computing: AMD SEV-SNP",
                        _ => "confidential computing: unknown technology",
                    }
                    .to_string()
                });
                EventData::Labelled {
                    text: label.to_string(),
                    rest: hex::encode(rest),
                    detail,
                }
            }
        },
        T::CompactHash => match d.len() {
            1 | 2 | 4 | 8 => EventData::Number {
                value: d.iter().rev().fold(0u64, |a, &b| (a << 8) | u64::from(b)),
                size: d.len(),
            },
            _ => as_text(d)?,
        },
        T::EfiHandoffTables | T::TableOfDevices => EventData::HandoffTables {
            description: None,
            tables: efi::handoff_tables(d)?,
        },
        T::EfiHandoffTables2 => {
            let n = *d.first()? as usize;
            let desc = d.get(1..1 + n)?;
            EventData::HandoffTables {
                description: Some(text(desc).unwrap_or_else(|| hex::encode(desc))),
                tables: efi::handoff_tables(d.get(1 + n..)?)?,
            }
        }
        T::IplPartitionData if d.len() == 64 || d.len() == 66 => EventData::MbrPartitions {
            partitions: d[..64]
                .chunks_exact(16)
                .filter(|e| e[4] != 0)
                .map(|e| MbrPartition {
                    boot: e[0],
                    kind: e[4],
                    lba: le32(e, 8).unwrap_or(0),
                    sectors: le32(e, 12).unwrap_or(0),
                })
                .collect(),
        },
        T::EfiVariableDriverConfig
        | T::EfiVariableBoot
        | T::EfiVariableBoot2
        | T::EfiVariableAuthority => {
            let g = d.get(..16)?;
            let nlen = usize::try_from(le64(d, 16)?).ok()?;
            let dlen = le64(d, 24)?;
            let name_end = 32usize.checked_add(nlen.checked_mul(2)?)?;
            let name = util::ucs2(d.get(32..name_end)?).unwrap_or_default();
            let value = d.get(name_end..)?;
            EventData::EfiVariable {
                guid: guid(g),
                detail: efi::variable_detail(&name, value),
                name,
                data_len: dlen,
            }
        }
        T::EfiBootServicesApplication | T::EfiBootServicesDriver | T::EfiRuntimeServicesDriver => {
            let plen = usize::try_from(le64(d, 24)?).ok()?;
            EventData::EfiImageLoad {
                location: le64(d, 0)?,
                length: le64(d, 8)?,
                device_path: device_path(d.get(32..32usize.checked_add(plen)?)?),
            }
        }
        T::EfiGptEvent => {
            let (disk_guid, names) = efi::gpt(d)?;
            EventData::EfiGpt {
                disk_guid,
                partitions: le64(d, 92)?,
                names,
            }
        }
        T::EventTag => EventData::Tagged {
            events: tagged::tagged_events(d, 0)?,
        },
        T::NoAction if d.starts_with(b"StartupLocality\0") => EventData::StartupLocality {
            locality: *d.get(16)?,
        },
        T::NoAction if d.len() >= 16 => EventData::NoActionSignature {
            signature: text(&d[..16])
                .or_else(|| {
                    let end = d[..16].iter().position(|&c| c == 0)?;
                    text(&d[..end])
                })
                .unwrap_or_else(|| hex::encode(&d[..16])),
        },
        // Anything else (vendor and TXT event types): text if it is text.
        _ => as_text(d).filter(|_| !d.is_empty())?,
    })
}

impl fmt::Display for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventData::Text { text } => write!(f, "{text:?}"),
            EventData::Separator { value } => write!(f, "separator 0x{value:08x}"),
            EventData::Guid { guid, name } => match name {
                Some(n) => write!(f, "GUID {n} ({guid})"),
                None => write!(f, "GUID {guid}"),
            },
            EventData::Blob {
                description,
                base,
                length,
            } => {
                if let Some(d) = description {
                    write!(f, "{d:?} ")?;
                }
                write!(f, "base 0x{base:x} length 0x{length:x}")
            }
            EventData::EfiVariable {
                guid,
                name,
                data_len,
                detail,
            } => {
                write!(f, "{name}-{guid} ({data_len} bytes)")?;
                if let Some(d) = detail {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
            EventData::EfiImageLoad {
                location,
                length,
                device_path,
            } => {
                let path = if device_path.is_empty() {
                    "(no device path)"
                } else {
                    device_path
                };
                write!(f, "{path} (at 0x{location:x}, {length} bytes)")
            }
            EventData::EfiGpt {
                disk_guid,
                partitions,
                names,
            } => write!(
                f,
                "GPT disk {disk_guid}, {partitions} partitions: {}",
                names.join("; ")
            ),
            EventData::HandoffTables {
                description,
                tables,
            } => {
                if let Some(d) = description {
                    write!(f, "{d:?} ")?;
                }
                let t: Vec<String> = tables
                    .iter()
                    .map(|t| format!("{} at 0x{:x}", efi::named(&t.guid), t.address))
                    .collect();
                write!(f, "tables: {}", t.join(", "))
            }
            EventData::Tagged { events } => {
                fn one(f: &mut fmt::Formatter<'_>, e: &TaggedEvent) -> fmt::Result {
                    match e.name {
                        Some(n) => write!(f, "{n}")?,
                        None => write!(f, "tag 0x{:08x}", e.id)?,
                    }
                    if e.children.is_empty() {
                        write!(f, "={}", e.value)
                    } else {
                        write!(f, "[")?;
                        for (i, c) in e.children.iter().enumerate() {
                            if i > 0 {
                                write!(f, ", ")?;
                            }
                            one(f, c)?;
                        }
                        write!(f, "]")
                    }
                }
                for (i, e) in events.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    one(f, e)?;
                }
                Ok(())
            }
            EventData::Number { value, size } => write!(f, "0x{value:0w$x}", w = size * 2),
            EventData::Labelled { text, rest, detail } => match detail {
                Some(d) => write!(f, "{text:?}: {d}"),
                None => write!(f, "{text:?} + hex {rest}"),
            },
            EventData::MbrPartitions { partitions } => {
                let p: Vec<String> = partitions
                    .iter()
                    .map(|p| {
                        format!(
                            "type 0x{:02x}{} at {} ({} sectors)",
                            p.kind,
                            if p.boot == 0x80 { " boot" } else { "" },
                            p.lba,
                            p.sectors
                        )
                    })
                    .collect();
                write!(f, "MBR partitions: {}", p.join(", "))
            }
            EventData::StartupLocality { locality } => write!(f, "StartupLocality {locality}"),
            EventData::NoActionSignature { signature } => write!(f, "{signature:?}"),
            EventData::Hex { len, hex } => {
                if *len > HEX_SHOWN {
                    write!(f, "hex {hex}... ({len} bytes)")
                } else if *len == 0 {
                    write!(f, "(empty)")
                } else {
                    write!(f, "hex {hex}")
                }
            }
        }
    }
}
