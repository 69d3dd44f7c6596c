//! The two checksums ext4 uses: CRC32C (Castagnoli) for `metadata_csum`
//! and CRC16 (ANSI, reflected 0xA001) for the older `gdt_csum`.

const fn crc32c_table() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let p = t[s - 1][i];
            t[s][i] = (p >> 8) ^ t[0][(p & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static CRC32C: [[u32; 256]; 8] = crc32c_table();

/// ext4's `ext2fs_crc32c_le`: raw CRC32C update with no pre- or
/// post-inversion, so chained calls compose. ext4 seeds it with `!0`.
pub fn crc32c(mut crc: u32, mut data: &[u8]) -> u32 {
    // Slicing-by-8: metadata checksums run over every inode and dir block.
    while data.len() >= 8 {
        let lo = crc ^ u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        crc = CRC32C[7][(lo & 0xff) as usize]
            ^ CRC32C[6][((lo >> 8) & 0xff) as usize]
            ^ CRC32C[5][((lo >> 16) & 0xff) as usize]
            ^ CRC32C[4][(lo >> 24) as usize]
            ^ CRC32C[3][data[4] as usize]
            ^ CRC32C[2][data[5] as usize]
            ^ CRC32C[1][data[6] as usize]
            ^ CRC32C[0][data[7] as usize];
        data = &data[8..];
    }
    for &b in data {
        crc = (crc >> 8) ^ CRC32C[0][((crc ^ b as u32) & 0xff) as usize];
    }
    crc
}

/// CRC16 as `ext2fs_crc16` computes it (polynomial 0x8005 reflected).
pub fn crc16(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        crc ^= b as u16;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // Standard CRC-32C of "123456789" with init and xorout !0.
        assert_eq!(!crc32c(!0, b"123456789"), 0xE306_9283);
        // Chaining equals one pass.
        assert_eq!(
            crc32c(crc32c(!0, b"1234"), b"56789"),
            crc32c(!0, b"123456789")
        );
    }

    #[test]
    fn crc16_matches_the_arc_check_value() {
        assert_eq!(crc16(0, b"123456789"), 0xBB3D);
    }
}
