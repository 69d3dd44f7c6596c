//! Human size strings: `100M`, `1GiB`, `4096`, `2T`.

use crate::Error;

/// Parse a size with an optional binary suffix (K, M, G, T, with optional
/// `B`/`iB`; all powers of 1024, as `qemu-img` reads them). A plain number
/// is bytes.
pub fn parse_size(s: &str) -> Result<u64, Error> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        Error::Invalid(format!(
            "size {s:?}: expected a number with an optional K/M/G/T suffix"
        ))
    })?;
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(Error::Invalid(format!(
                "size {s:?}: unknown suffix {suffix:?} (expected K, M, G, T, optionally with B or iB)"
            )));
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| Error::Invalid(format!("size {s:?} overflows 64 bits")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_binary_multiples() {
        assert_eq!(parse_size("100M").unwrap(), 100 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("2040G").unwrap(), 2040u64 << 30);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999999T").is_err());
    }
}
