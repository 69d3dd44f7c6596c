//! Little-endian fields, GUIDs and strings, each checked: a short buffer gives `None`.

pub fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

pub fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

pub fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// An `EFI_GUID` (mixed-endian) in its registry form; `b` holds at least 16 bytes.
pub fn guid(b: &[u8]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        hex::encode(&b[8..10]),
        hex::encode(&b[10..16])
    )
}

/// Whether text reads as text: no control characters but tab and newlines, no
/// replacement characters (so binary never shows as garbled text).
pub fn readable(s: &str) -> bool {
    s.chars()
        .all(|c| c != '\u{FFFD}' && (!c.is_control() || matches!(c, '\t' | '\n' | '\r')))
}

/// UCS-2 little-endian up to the first NUL; after it only NULs may follow.
/// `None` when it does not read as text.
pub fn ucs2(b: &[u8]) -> Option<String> {
    if b.len() < 2 {
        return None;
    }
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    if units[end..].iter().any(|&u| u != 0) || !b.len().is_multiple_of(2) && b[b.len() - 1] != 0 {
        return None;
    }
    let s = String::from_utf16(&units[..end]).ok()?;
    readable(&s).then_some(s)
}

/// Text in either encoding: UCS-2 when every high byte is zero, else UTF-8 up to a
/// NUL followed only by NULs. `None` for anything that does not read as text.
pub fn text(b: &[u8]) -> Option<String> {
    if b.is_empty() {
        return Some(String::new());
    }
    let even = &b[..b.len() & !1];
    if even.len() >= 2 && even[0] != 0 && even.iter().skip(1).step_by(2).all(|&x| x == 0) {
        if let Some(s) = ucs2(b) {
            return Some(s);
        }
    }
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    if b[end..].iter().any(|&x| x != 0) {
        return None;
    }
    let s = std::str::from_utf8(&b[..end]).ok()?;
    readable(s).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_is_not_text() {
        assert_eq!(text(b"ACPI DATA"), Some("ACPI DATA".into()));
        assert_eq!(text(b"MokList\0"), Some("MokList".into()));
        assert_eq!(text(&[0x1e, 0xfb, 0x6b, 0x54, 0x0c, 0x1d]), None);
        assert_eq!(text(&[0x10, 0, 0, 0]), None);
        assert_eq!(text(b"a\0b"), None, "bytes after the NUL");
        assert_eq!(text(&[b'H', 0, b'i', 0, 0, 0]), Some("Hi".into()));
    }
}
