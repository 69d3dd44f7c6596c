//! The order kmod's hash table (`shared/hash.c`) iterates its keys in:
//! bucket by bucket (Paul Hsieh's "superfast" hash masked to the bucket
//! count), and within a bucket by `strcmp`. depmod writes
//! `modules.symbols` in this order and builds its module list in it before
//! sorting, so we reproduce it to write the same bytes.

/// Paul Hsieh's SuperFastHash of `key`, as kmod computes it on x86 (16-bit
/// words read little-endian; bytes as signed `char`).
pub fn superfast(key: &[u8]) -> u32 {
    let word = |k: &[u8]| u32::from(u16::from_le_bytes([k[0], k[1]]));
    // `char` is signed on x86: a byte >= 0x80 sign-extends.
    let sbyte = |b: u8| b as i8 as i32 as u32;
    let mut hash = key.len() as u32;
    let mut chunks = key.chunks_exact(4);
    for k in &mut chunks {
        hash = hash.wrapping_add(word(k));
        let tmp = (word(&k[2..]) << 11) ^ hash;
        hash = (hash << 16) ^ tmp;
        hash = hash.wrapping_add(hash >> 11);
    }
    let rem = chunks.remainder();
    match rem.len() {
        3 => {
            hash = hash.wrapping_add(word(rem));
            hash ^= hash << 16;
            hash ^= sbyte(rem[2]) << 18;
            hash = hash.wrapping_add(hash >> 11);
        }
        2 => {
            hash = hash.wrapping_add(word(rem));
            hash ^= hash << 11;
            hash = hash.wrapping_add(hash >> 17);
        }
        1 => {
            hash = hash.wrapping_add(sbyte(rem[0]));
            hash ^= hash << 10;
            hash = hash.wrapping_add(hash >> 1);
        }
        _ => {}
    }
    hash ^= hash << 3;
    hash = hash.wrapping_add(hash >> 5);
    hash ^= hash << 4;
    hash = hash.wrapping_add(hash >> 17);
    hash ^= hash << 25;
    hash = hash.wrapping_add(hash >> 6);
    hash
}

/// Sort `items` into the iteration order of a kmod hash of `buckets`
/// buckets (a power of two) keyed by `key`.
pub fn iteration_order<T>(items: &mut [T], buckets: u32, key: impl Fn(&T) -> &[u8]) {
    debug_assert!(buckets.is_power_of_two());
    items.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        let (ba, bb) = (superfast(ka) & (buckets - 1), superfast(kb) & (buckets - 1));
        ba.cmp(&bb).then_with(|| ka.cmp(kb))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tail_length_mixes_differently() {
        let h: Vec<u32> = ["", "a", "ab", "abc", "abcd", "abcde"]
            .iter()
            .map(|s| superfast(s.as_bytes()))
            .collect();
        let mut d = h.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), h.len(), "{h:x?}");
        assert_eq!(superfast(b""), 0);
    }
}
