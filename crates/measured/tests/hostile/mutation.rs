//! Deterministic mutations of seed files: truncations, bit flips, lying
//! counts, offsets and sizes, repeated regions (loops), zeroed regions.

/// xorshift64*: small, seeded, the same cases on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// Values a lying field takes: zero, one, all ones, just past the input,
/// huge, negative as signed.
pub fn lies(len: usize) -> Vec<u64> {
    vec![
        0,
        1,
        0xFFFF_FFFF,
        0x7FFF_FFFF,
        0x8000_0000,
        len as u64,
        len as u64 + 1,
        (len as u64).wrapping_mul(16),
        u64::MAX,
        1 << 40,
        0xFFFF_FFFF_FFFF_FFF0,
    ]
}

/// Where a format keeps its fields: the first `head` bytes and the last
/// `tail` bytes (mutations favour them over bulk data).
#[derive(Clone, Copy)]
pub struct Hot {
    pub head: usize,
    pub tail: usize,
}

/// One mutation of `seed`, chosen by `rng`, described for the case name.
pub fn mutate(seed: &[u8], rng: &mut Rng, hot: Hot) -> (Vec<u8>, &'static str) {
    let mut b = seed.to_vec();
    let len = b.len().max(1);
    let at = |rng: &mut Rng| match rng.below(8) {
        0..=4 => rng.below(hot.head.min(len).max(1)),
        5 if hot.tail > 0 => len - 1 - rng.below(hot.tail.min(len)),
        _ => rng.below(len),
    };
    match rng.below(7) {
        0 => {
            let cut = at(rng);
            b.truncate(cut);
            (b, "truncated")
        }
        1 => {
            for _ in 0..1 + rng.below(8) {
                let i = at(rng);
                if i < b.len() {
                    b[i] ^= 1 << rng.below(8);
                }
            }
            (b, "bit-flips")
        }
        2 | 3 => {
            // A count, offset or size field (4 or 8 bytes, either endian)
            // replaced by a lie.
            let i = at(rng) & !3;
            let v = *rng.pick(&lies(seed.len()));
            let (w, big) = (if rng.below(2) == 0 { 4 } else { 8 }, rng.below(2) == 0);
            if i + w <= b.len() {
                let bytes = match (w, big) {
                    (4, false) => (v as u32).to_le_bytes().to_vec(),
                    (4, true) => (v as u32).to_be_bytes().to_vec(),
                    (_, false) => v.to_le_bytes().to_vec(),
                    (_, true) => v.to_be_bytes().to_vec(),
                };
                b[i..i + w].copy_from_slice(&bytes);
            }
            (b, "lying-field")
        }
        4 => {
            // A region repeated over another: records that point back,
            // structures that contain themselves.
            let (from, to) = (at(rng), at(rng));
            let n = (1 + rng.below(512)).min(b.len().saturating_sub(from.max(to)));
            let chunk = b[from..from + n].to_vec();
            b[to..to + n].copy_from_slice(&chunk);
            (b, "repeated-region")
        }
        5 => {
            let i = at(rng);
            let n = (1 + rng.below(4096)).min(b.len().saturating_sub(i));
            b[i..i + n].fill(if rng.below(2) == 0 { 0 } else { 0xFF });
            (b, "filled-region")
        }
        _ => {
            // Garbage appended after a valid structure.
            let n = 1 + rng.below(4096);
            for _ in 0..n {
                b.push(rng.next() as u8);
            }
            (b, "trailing-garbage")
        }
    }
}

/// Text mutations for TOML, JSON, YAML and XML inputs.
pub fn mutate_text(seed: &str, rng: &mut Rng, keep: &[&str]) -> (String, &'static str) {
    let lines: Vec<&str> = seed.lines().collect();
    match rng.below(5) {
        0 => {
            let mut cut = rng.below(seed.len().max(1));
            while !seed.is_char_boundary(cut) {
                cut -= 1;
            }
            (seed[..cut].to_string(), "truncated")
        }
        1 => {
            let mut b = seed.as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len().max(1));
                if i < b.len() {
                    b[i] ^= 1 << rng.below(7);
                }
            }
            (String::from_utf8_lossy(&b).into_owned(), "bit-flips")
        }
        2 | 3 => {
            // One `key = value` (or `"key": value`) gets a hostile value.
            let values = [
                "-1",
                "0",
                "4294967296",
                "18446744073709551616",
                "99999999999999999999999",
                "1e400",
                "nan",
                "\"\"",
                "\"/dev/zero\"",
                "\"/\"",
                "\"/nonexistent/x\"",
                "\"../../../../../../../../etc/shadow\"",
                "[]",
                "{}",
                "\"\\u0000\"",
                "true",
                "\"zz\"",
            ];
            let candidates: Vec<usize> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| {
                    let k = l
                        .split(['=', ':'])
                        .next()
                        .unwrap_or("")
                        .trim()
                        .trim_matches('"');
                    (l.contains('=') || l.contains(':')) && !keep.contains(&k)
                })
                .map(|(i, _)| i)
                .collect();
            if candidates.is_empty() {
                return (seed.to_string(), "unchanged");
            }
            let i = *rng.pick(&candidates);
            let sep = if lines[i].contains('=') { '=' } else { ':' };
            let key = lines[i].split(sep).next().unwrap();
            let v = *rng.pick(&values);
            let comma = if lines[i].trim_end().ends_with(',') {
                ","
            } else {
                ""
            };
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            out[i] = format!("{key}{sep} {v}{comma}");
            (out.join("\n") + "\n", "hostile-value")
        }
        _ => {
            // A line repeated many times (duplicate keys, deep repetition).
            let i = rng.below(lines.len().max(1));
            let mut out: Vec<&str> = lines.clone();
            if let Some(l) = lines.get(i) {
                for _ in 0..1 + rng.below(2000) {
                    out.insert(i, l);
                }
            }
            (out.join("\n") + "\n", "repeated-line")
        }
    }
}
