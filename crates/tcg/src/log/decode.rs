//! Readable views of common event data (PC Client Platform Firmware Profile §10).

use std::fmt;

use super::types::EventType;

/// Event data decoded by type; anything we do not understand stays raw.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventData {
    /// Text (ASCII or UCS-2), e.g. EV_S_CRTM_VERSION, EV_IPL, EV_EFI_ACTION.
    Text {
        /// The string.
        text: String,
    },
    /// EV_SEPARATOR's 32-bit value (0 normal, 0xFFFFFFFF error).
    Separator {
        /// The value.
        value: u32,
    },
    /// A firmware blob by address (EV_POST_CODE, EV_EFI_PLATFORM_FIRMWARE_BLOB(2)).
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
    },
    /// EV_EFI_BOOT_SERVICES_* (`UEFI_IMAGE_LOAD_EVENT`).
    EfiImageLoad {
        /// Image load address.
        location: u64,
        /// Image length.
        length: u64,
        /// The device path, rendered as far as we understand it.
        device_path: String,
    },
    /// EV_EFI_GPT_EVENT (`UEFI_GPT_DATA`).
    EfiGpt {
        /// Disk GUID from the GPT header.
        disk_guid: String,
        /// Number of partition entries measured.
        partitions: u64,
    },
    /// EV_EVENT_TAG (`TCG_PCClientTaggedEvent`).
    Tagged {
        /// `taggedEventID`.
        id: u32,
        /// Length of the tagged data.
        data_len: u32,
    },
    /// EV_NO_ACTION StartupLocality.
    StartupLocality {
        /// The locality the TPM started at.
        locality: u8,
    },
    /// EV_NO_ACTION header events by signature (Spec ID, SP800-155, ...).
    NoActionSignature {
        /// The signature string.
        signature: String,
    },
    /// Raw bytes.
    Raw {
        /// Data length.
        len: usize,
    },
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
}

fn guid(b: &[u8]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        hex::encode(&b[8..10]),
        hex::encode(&b[10..16])
    )
}

fn ucs2(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

/// Text in either encoding: UCS-2 when every other byte is zero, otherwise bytes to the first NUL.
fn text(b: &[u8]) -> String {
    // UCS-2 when every high byte is zero (an odd trailing byte is ignored).
    let even = &b[..b.len() & !1];
    if even.len() >= 2 && even.iter().skip(1).step_by(2).all(|&x| x == 0) {
        return ucs2(even);
    }
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Render a UEFI device path: file paths and the common media/hardware nodes by name.
pub fn device_path(mut b: &[u8]) -> String {
    let mut parts = Vec::new();
    while b.len() >= 4 {
        let (ty, sub) = (b[0], b[1]);
        let len = u16::from_le_bytes([b[2], b[3]]) as usize;
        if len < 4 || len > b.len() {
            parts.push("<bad node>".to_string());
            break;
        }
        let body = &b[4..len];
        parts.push(match (ty, sub) {
            (0x7F, 0xFF) => break,
            (0x04, 0x04) => ucs2(body),
            (0x04, 0x01) if body.len() >= 36 => format!(
                "HD({},GPT,{})",
                le32(body, 0).unwrap_or(0),
                guid(&body[20..36])
            ),
            (0x01, 0x01) if body.len() >= 2 => format!("Pci(0x{:x},0x{:x})", body[1], body[0]),
            (0x02, 0x01) => "Acpi".to_string(),
            (0x04, 0x06) if body.len() >= 16 => format!("FvFile({})", guid(&body[..16])),
            (0x04, 0x07) if body.len() >= 16 => format!("Fv({})", guid(&body[..16])),
            _ => format!("Node({ty:#x},{sub:#x})"),
        });
        b = &b[len..];
    }
    parts.join("/")
}

/// Decode `data` by the event type; never fails (falls back to [`EventData::Raw`]).
pub fn decode_event(ty: EventType, data: &[u8]) -> EventData {
    decode_inner(ty, data).unwrap_or(EventData::Raw { len: data.len() })
}

fn decode_inner(ty: EventType, d: &[u8]) -> Option<EventData> {
    use EventType as T;
    Some(match ty {
        T::SCrtmVersion
        | T::Ipl
        | T::EfiAction
        | T::Action
        | T::CompactHash
        | T::EfiHcrtmEvent
        | T::OmitBootDeviceEvents
        | T::PostCode
            if !(ty == T::PostCode && d.len() == 16) =>
        {
            EventData::Text { text: text(d) }
        }
        T::PostCode | T::EfiPlatformFirmwareBlob => EventData::Blob {
            description: None,
            base: le64(d, 0)?,
            length: le64(d, 8)?,
        },
        T::EfiPlatformFirmwareBlob2 => {
            let n = *d.first()? as usize;
            let desc = d.get(1..1 + n)?;
            EventData::Blob {
                description: Some(text(desc)),
                base: le64(d, 1 + n)?,
                length: le64(d, 9 + n)?,
            }
        }
        T::Separator if d.len() == 4 => EventData::Separator { value: le32(d, 0)? },
        T::EfiVariableDriverConfig
        | T::EfiVariableBoot
        | T::EfiVariableBoot2
        | T::EfiVariableAuthority => {
            let g = d.get(..16)?;
            let nlen = le64(d, 16)? as usize;
            let dlen = le64(d, 24)?;
            let name = d.get(32..32 + nlen.checked_mul(2)?)?;
            EventData::EfiVariable {
                guid: guid(g),
                name: ucs2(name),
                data_len: dlen,
            }
        }
        T::EfiBootServicesApplication | T::EfiBootServicesDriver | T::EfiRuntimeServicesDriver => {
            let plen = le64(d, 24)? as usize;
            EventData::EfiImageLoad {
                location: le64(d, 0)?,
                length: le64(d, 8)?,
                device_path: device_path(d.get(32..32usize.checked_add(plen)?)?),
            }
        }
        T::EfiGptEvent => EventData::EfiGpt {
            disk_guid: guid(d.get(56..72)?),
            partitions: le64(d, 92)?,
        },
        T::EventTag => EventData::Tagged {
            id: le32(d, 0)?,
            data_len: le32(d, 4)?,
        },
        T::NoAction if d.starts_with(b"StartupLocality\0") => EventData::StartupLocality {
            locality: *d.get(16)?,
        },
        T::NoAction if d.len() >= 16 => EventData::NoActionSignature {
            signature: text(&d[..16]),
        },
        _ => return None,
    })
}

impl fmt::Display for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventData::Text { text } => write!(f, "{text:?}"),
            EventData::Separator { value } => write!(f, "separator 0x{value:08x}"),
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
            } => write!(f, "{name}-{guid} ({data_len} bytes)"),
            EventData::EfiImageLoad {
                location,
                length,
                device_path,
            } => write!(f, "{device_path} (at 0x{location:x}, {length} bytes)"),
            EventData::EfiGpt {
                disk_guid,
                partitions,
            } => write!(f, "GPT disk {disk_guid}, {partitions} partitions"),
            EventData::Tagged { id, data_len } => {
                write!(f, "tag 0x{id:08x} ({data_len} bytes)")
            }
            EventData::StartupLocality { locality } => write!(f, "StartupLocality {locality}"),
            EventData::NoActionSignature { signature } => write!(f, "{signature:?}"),
            EventData::Raw { len } => write!(f, "{len} bytes"),
        }
    }
}
