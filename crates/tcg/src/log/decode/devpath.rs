//! UEFI device paths (UEFI spec §10.3) rendered in the spec's text form
//! (§10.6): `PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0)/HD(1,GPT,...)/\EFI\BOOT\BOOTX64.EFI`.
//! Nodes are named; a node we do not know shows its type, subtype and bytes.

use super::util::{guid, le16, le32, le64, ucs2};

/// Render a device path; never fails (a malformed node ends the rendering with `<bad node>`).
pub fn device_path(mut b: &[u8]) -> String {
    let mut out = String::new();
    while b.len() >= 4 {
        let (ty, sub) = (b[0], b[1]);
        let len = u16::from_le_bytes([b[2], b[3]]) as usize;
        if len < 4 || len > b.len() {
            push(&mut out, "<bad node>");
            break;
        }
        let body = &b[4..len];
        b = &b[len..];
        match (ty, sub) {
            (0x7F, 0xFF) => break,
            (0x7F, 0x01) => {
                out.push(',');
                continue;
            }
            _ => {}
        }
        let node = node(ty, sub, body)
            .unwrap_or_else(|| format!("Path({ty},{sub},{})", hex::encode_upper(body)));
        push(&mut out, &node);
    }
    out
}

fn push(out: &mut String, node: &str) {
    if !out.is_empty() && !out.ends_with(',') {
        out.push('/');
    }
    out.push_str(node);
}

fn node(ty: u8, sub: u8, d: &[u8]) -> Option<String> {
    Some(match (ty, sub) {
        // Hardware.
        (0x01, 0x01) => format!("Pci({:#x},{:#x})", d.get(1)?, d.first()?),
        (0x01, 0x02) => format!("PcCard({:#x})", d.first()?),
        (0x01, 0x03) => format!(
            "MemoryMapped({:#x},{:#x},{:#x})",
            le32(d, 0)?,
            le64(d, 4)?,
            le64(d, 12)?
        ),
        (0x01, 0x04) => format!("VenHw({}{})", guid(d.get(..16)?), vendor_data(&d[16..])),
        (0x01, 0x05) => format!("Ctrl({:#x})", le32(d, 0)?),
        (0x01, 0x06) => format!("BMC({:#x},{:#x})", d.first()?, le64(d, 1)?),
        // ACPI.
        (0x02, 0x01) => {
            let (hid, uid) = (le32(d, 0)?, le32(d, 4)?);
            match hid {
                0x0A03_41D0 => format!("PciRoot({uid:#x})"),
                0x0A08_41D0 => format!("PcieRoot({uid:#x})"),
                0x0604_41D0 => format!("Floppy({uid:#x})"),
                _ => format!("Acpi({},{uid:#x})", eisa_id(hid)),
            }
        }
        (0x02, 0x02) => format!(
            "AcpiEx({:#x},{:#x},{:#x})",
            le32(d, 0)?,
            le32(d, 4)?,
            le32(d, 8)?
        ),
        (0x02, 0x03) => format!("AcpiAdr({:#x})", le32(d, 0)?),
        // Messaging.
        (0x03, 0x01) => format!(
            "Ata({},{},{})",
            if *d.first()? == 0 {
                "Primary"
            } else {
                "Secondary"
            },
            if *d.get(1)? == 0 { "Master" } else { "Slave" },
            le16(d, 2)?
        ),
        (0x03, 0x02) => format!("Scsi({:#x},{:#x})", le16(d, 0)?, le16(d, 2)?),
        (0x03, 0x03) => format!("Fibre({:#x},{:#x})", le64(d, 4)?, le64(d, 12)?),
        (0x03, 0x05) => format!("USB({:#x},{:#x})", d.first()?, d.get(1)?),
        (0x03, 0x0A) => format!("VenMsg({}{})", guid(d.get(..16)?), vendor_data(&d[16..])),
        (0x03, 0x0B) => {
            let mac = d.get(..32)?;
            let iftype = *d.get(32)?;
            // Ethernet (type 0/1) addresses are six bytes; others use the full field.
            let n = if iftype <= 1 { 6 } else { 32 };
            format!("MAC({},{iftype:#x})", hex::encode_upper(&mac[..n]))
        }
        (0x03, 0x0C) => {
            let ip = |o: usize| -> Option<String> {
                let b = d.get(o..o + 4)?;
                Some(format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3]))
            };
            format!(
                "IPv4({},{},{})",
                ip(4)?,
                if *d.get(12)? != 0 { "Static" } else { "DHCP" },
                ip(0)?
            )
        }
        (0x03, 0x0D) => {
            let ip = |o: usize| -> Option<String> {
                let b = d.get(o..o + 16)?;
                Some(
                    b.chunks(2)
                        .map(|c| format!("{:x}", u16::from_be_bytes([c[0], c[1]])))
                        .collect::<Vec<_>>()
                        .join(":"),
                )
            };
            format!("IPv6({},{})", ip(16)?, ip(0)?)
        }
        (0x03, 0x0F) => format!(
            "UsbClass({:#x},{:#x},{:#x},{:#x},{:#x})",
            le16(d, 0)?,
            le16(d, 2)?,
            d.get(4)?,
            d.get(5)?,
            d.get(6)?
        ),
        (0x03, 0x10) => format!(
            "UsbWwid({:#x},{:#x},{:#x})",
            le16(d, 0)?,
            le16(d, 2)?,
            le16(d, 4)?
        ),
        (0x03, 0x11) => format!("Unit({:#x})", d.first()?),
        (0x03, 0x12) => format!(
            "Sata({:#x},{:#x},{:#x})",
            le16(d, 0)?,
            le16(d, 2)?,
            le16(d, 4)?
        ),
        (0x03, 0x13) => format!("iSCSI({})", ascii(d.get(18..)?)),
        (0x03, 0x14) => format!("Vlan({})", le16(d, 0)?),
        (0x03, 0x16) => format!("SasEx({})", hex::encode_upper(d.get(..8)?)),
        (0x03, 0x17) => format!(
            "NVMe({:#x},{})",
            le32(d, 0)?,
            d.get(4..12)?
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join("-")
        ),
        (0x03, 0x18) => format!("Uri({})", ascii(d)),
        (0x03, 0x19) => format!("UFS({:#x},{:#x})", d.first()?, d.get(1)?),
        (0x03, 0x1A) => format!("SD({:#x})", d.first()?),
        (0x03, 0x1B) => format!("Bluetooth({})", hex::encode_upper(d.get(..6)?)),
        (0x03, 0x1C) => format!("Wi-Fi({})", ascii(d.get(..32)?)),
        (0x03, 0x1D) => format!("eMMC({:#x})", d.first()?),
        (0x03, 0x1F) => format!("Dns({})", hex::encode_upper(d)),
        // Media.
        (0x04, 0x01) => {
            let part = le32(d, 0)?;
            let (start, size) = (le64(d, 4)?, le64(d, 12)?);
            let sig = d.get(20..36)?;
            match d.get(36)? {
                0x02 => format!("HD({part},GPT,{},{start:#x},{size:#x})", guid(sig)),
                0x01 => format!(
                    "HD({part},MBR,{:#010x},{start:#x},{size:#x})",
                    le32(sig, 0)?
                ),
                t => format!("HD({part},{t:#x},0,{start:#x},{size:#x})"),
            }
        }
        (0x04, 0x02) => format!(
            "CDROM({:#x},{:#x},{:#x})",
            le32(d, 0)?,
            le64(d, 4)?,
            le64(d, 12)?
        ),
        (0x04, 0x03) => format!("VenMedia({}{})", guid(d.get(..16)?), vendor_data(&d[16..])),
        (0x04, 0x04) => ucs2(d)?,
        (0x04, 0x05) => format!("Media({})", guid(d.get(..16)?)),
        (0x04, 0x06) => format!("FvFile({})", guid(d.get(..16)?)),
        (0x04, 0x07) => format!("Fv({})", guid(d.get(..16)?)),
        (0x04, 0x08) => format!("Offset({:#x},{:#x})", le64(d, 4)?, le64(d, 12)?),
        (0x04, 0x09) => format!(
            "RamDisk({:#x},{:#x},{})",
            le64(d, 0)?,
            le64(d, 8)?,
            guid(d.get(16..32)?)
        ),
        // BIOS boot specification.
        (0x05, 0x01) => format!(
            "BBS({:#x},{},{:#x})",
            le16(d, 0)?,
            ascii(d.get(4..)?),
            le16(d, 2)?
        ),
        _ => return None,
    })
}

/// Vendor-defined bytes after a vendor GUID, as `,HEX` (nothing when empty).
fn vendor_data(d: &[u8]) -> String {
    if d.is_empty() {
        String::new()
    } else {
        format!(",{}", hex::encode_upper(d))
    }
}

/// ASCII up to the first NUL; other bytes escaped.
fn ascii(d: &[u8]) -> String {
    let end = d.iter().position(|&c| c == 0).unwrap_or(d.len());
    d[..end].escape_ascii().to_string()
}

/// A compressed EISA id (`PNP0A03`).
fn eisa_id(id: u32) -> String {
    let c = |shift: u32| (((id >> shift) & 0x1F) as u8 + b'@') as char;
    format!("{}{}{}{:04X}", c(10), c(5), c(0), id >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sata_nvme_and_gpt_nodes_by_name() {
        // A real boot option's path (python3-uefi-eventlog corpus).
        let p = hex::decode(
            "02010c00d041030a0000000001010600021f03120a000200ffff000004012a0001000000000800\
             000000000000a00f0000000000a84351837bd0be419144043abeec04ea0202040434005c004500\
             460049005c00640065006200690061006e005c007300680069006d007800360034002e00650066\
             00690000007fff0400",
        )
        .unwrap();
        assert_eq!(
            device_path(&p),
            "PciRoot(0x0)/Pci(0x1f,0x2)/Sata(0x2,0xffff,0x0)/\
             HD(1,GPT,835143a8-d07b-41be-9144-043abeec04ea,0x800,0xfa000)/\\EFI\\debian\\shimx64.efi"
        );
        let nvme = hex::decode(
            "02010c00d041030a0000000001010600041c01010600000003171000010000005cd2e42681a1c97d7fff0400",
        )
        .unwrap();
        assert_eq!(
            device_path(&nvme),
            "PciRoot(0x0)/Pci(0x1c,0x4)/Pci(0x0,0x0)/NVMe(0x1,5C-D2-E4-26-81-A1-C9-7D)"
        );
    }

    #[test]
    fn unknown_and_truncated_nodes_never_panic() {
        assert_eq!(device_path(&[0x09, 0x09, 0x05, 0x00, 0xAB]), "Path(9,9,AB)");
        assert_eq!(device_path(&[0x01, 0x01, 0xFF, 0x00]), "<bad node>");
        assert_eq!(device_path(&[0x01, 0x01, 0x04, 0x00]), "Path(1,1,)");
    }
}
