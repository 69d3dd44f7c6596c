//! tboot's own command line, as tboot reads it: the bytes it copies into
//! the MLE (so into MLE_HASH), and the options it parses from that copy,
//! with the release's defaults (`tboot.c begin_launch`, `cmdline.c
//! cmdline_parse`).

use std::collections::BTreeMap;

use crate::release::Release;

/// `g_cmdline` holds 512 bytes; tboot copies at most 511 and a NUL.
pub const MAX_CMDLINE: usize = 511;
/// `MAX_VALUE_LEN`: option values are cut to 63 bytes.
const MAX_VALUE: usize = 63;

/// tboot's command line after tboot has read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TbootCmdline {
    /// The bytes copied into the MLE's command-line buffer (measured).
    pub measured: Vec<u8>,
    /// Every option the release knows, with its effective value.
    values: BTreeMap<&'static str, String>,
    /// Options the command line set (the rest hold their defaults).
    given: BTreeMap<&'static str, String>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `skip_filename`: leading whitespace, the first word, then whitespace.
pub fn skip_filename(s: &[u8]) -> &[u8] {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    while i < s.len() && !is_space(s[i]) {
        i += 1;
    }
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    &s[i..]
}

impl TbootCmdline {
    /// Read `cmdline` (as the boot loader passes it) the way `release` does.
    pub fn parse(cmdline: &str, release: Release) -> Self {
        let mut b = cmdline.as_bytes();
        // strncpy stops at a NUL.
        if let Some(nul) = b.iter().position(|&c| c == 0) {
            b = &b[..nul];
        }
        if release.skips_filename() {
            b = skip_filename(b);
        }
        let measured = b[..b.len().min(MAX_CMDLINE)].to_vec();
        let options = release.cmdline_options();
        let mut values: BTreeMap<&'static str, String> =
            options.iter().map(|(n, d)| (*n, d.to_string())).collect();
        let mut given = BTreeMap::new();
        let p = &measured;
        let mut i = 0;
        loop {
            while i < p.len() && is_space(p[i]) {
                i += 1;
            }
            if i >= p.len() {
                break;
            }
            // An option runs to the next space character (only ' ': a tab
            // inside it is part of the option).
            let start = i;
            let end = p[start..]
                .iter()
                .position(|&c| c == b' ')
                .map_or(p.len(), |o| start + o);
            i = end;
            let opt = &p[start..end];
            let Some(eq) = opt.iter().position(|&c| c == b'=') else {
                continue;
            };
            let (name, value) = (&opt[..eq], &opt[eq + 1..]);
            let value = &value[..value.len().min(MAX_VALUE)];
            if name.is_empty() || value.is_empty() {
                continue;
            }
            // strncmp(option, name, len(name)): the first option the given
            // name is a prefix of.
            if let Some((n, _)) = options.iter().find(|(n, _)| n.as_bytes().starts_with(name)) {
                let v = String::from_utf8_lossy(value).into_owned();
                values.insert(n, v.clone());
                given.insert(*n, v);
            }
        }
        TbootCmdline {
            measured,
            values,
            given,
        }
    }

    /// The effective value of `option`, if the release knows it.
    pub fn value(&self, option: &str) -> Option<&str> {
        self.values.get(option).map(String::as_str)
    }

    /// Whether the command line set `option` (else it holds its default).
    pub fn is_given(&self, option: &str) -> bool {
        self.given.contains_key(option)
    }

    /// Where `option`'s value comes from, for messages.
    pub fn origin(&self, option: &str) -> &'static str {
        if self.is_given(option) {
            "tboot command line"
        } else {
            "tboot default"
        }
    }

    /// `get_tboot_prefer_da`: `pcr_map=da` exactly.
    pub fn prefers_da(&self) -> bool {
        self.value("pcr_map") == Some("da")
    }

    /// `get_tboot_force_tpm2_legacy_log`: `true` exactly.
    pub fn force_tpm2_legacy_log(&self) -> bool {
        self.value("force_tpm2_legacy_log") == Some("true")
    }

    /// `get_tboot_measure_nv`: `true` exactly.
    pub fn measure_nv(&self) -> bool {
        self.value("measure_nv") == Some("true")
    }

    /// `get_tboot_call_racm` / `get_tboot_call_racm_check`: tboot runs the
    /// revocation ACM instead of launching (and never returns).
    pub fn calls_racm(&self) -> Option<&str> {
        match self.value("call_racm") {
            Some(v @ ("true" | "check")) => Some(v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::TbootVersion;

    fn rel(a: u16, b: u16, c: u16) -> Release {
        Release::of(TbootVersion::new(a, b, c)).unwrap()
    }

    #[test]
    fn defaults_follow_the_release() {
        let c = TbootCmdline::parse("", rel(1, 9, 11));
        assert_eq!(c.value("extpol"), Some("sha1"));
        assert!(!c.is_given("extpol"));
        assert_eq!(
            TbootCmdline::parse("", rel(1, 9, 12)).value("extpol"),
            Some("sha256")
        );
        assert_eq!(TbootCmdline::parse("", rel(1, 7, 4)).value("extpol"), None);
        assert_eq!(
            TbootCmdline::parse("", rel(1, 9, 6)).value("force_tpm2_legacy_log"),
            None
        );
    }

    #[test]
    fn names_match_the_first_option_they_prefix_and_the_last_setting_wins() {
        let c = TbootCmdline::parse("ext=embedded p=da m=true extpol=agile", rel(1, 10, 2));
        assert_eq!(c.value("extpol"), Some("agile"));
        assert!(c.prefers_da());
        // "m" is min_ram's prefix first, not measure_nv's.
        assert_eq!(c.value("min_ram"), Some("true"));
        assert!(!c.measure_nv());
        // A name longer than any option, and an empty value, set nothing.
        let c = TbootCmdline::parse("extpolx=sm3 extpol= pcr_map", rel(1, 10, 2));
        assert_eq!(c.value("extpol"), Some("sha256"));
        assert!(!c.is_given("extpol"));
    }

    #[test]
    fn only_a_space_ends_an_option_and_values_are_cut_to_63_bytes() {
        let c = TbootCmdline::parse("extpol=sha1\tlogging=none", rel(1, 10, 2));
        assert_eq!(c.value("extpol"), Some("sha1\tlogging=none"));
        let long = format!("serial={}", "9".repeat(80));
        let c = TbootCmdline::parse(&long, rel(1, 10, 2));
        assert_eq!(c.value("serial").unwrap().len(), 63);
    }

    #[test]
    fn before_1_9_4_the_first_word_is_dropped_before_it_is_measured_or_parsed() {
        let c = TbootCmdline::parse("extpol=embedded logging=serial", rel(1, 8, 3));
        assert_eq!(c.measured, b"logging=serial");
        assert_eq!(c.value("extpol"), Some("sha1"));
        let c = TbootCmdline::parse("extpol=embedded logging=serial", rel(1, 9, 4));
        assert_eq!(c.measured, b"extpol=embedded logging=serial");
        assert_eq!(c.value("extpol"), Some("embedded"));
    }

    #[test]
    fn the_measured_copy_stops_at_511_bytes_and_at_a_nul() {
        let long = "x".repeat(600);
        assert_eq!(
            TbootCmdline::parse(&long, rel(1, 10, 2)).measured.len(),
            511
        );
        assert_eq!(
            TbootCmdline::parse("a=b\0extpol=sm3", rel(1, 10, 2)).measured,
            b"a=b"
        );
    }
}
