//! Known PCR values (read from a TPM or expected), and where to load them from.

use std::collections::BTreeMap;
use std::path::Path;

use crate::alg::HashAlg;

/// PCR values by bank and index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PcrValues {
    /// `bank -> pcr -> value`.
    pub map: BTreeMap<HashAlg, BTreeMap<u32, Vec<u8>>>,
}

/// Values that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    /// The file could not be read.
    #[error("cannot read PCR values from {path}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A line or field is not a PCR value.
    #[error("{path}: {what}")]
    Bad {
        /// The file.
        path: String,
        /// What is wrong, with the line or key.
        what: String,
    },
}

fn bad(path: &str, what: String) -> ValuesError {
    ValuesError::Bad {
        path: path.to_string(),
        what,
    }
}

impl PcrValues {
    /// The value of `pcr` in `alg`, if known.
    pub fn get(&self, alg: HashAlg, pcr: u32) -> Option<&[u8]> {
        self.map.get(&alg)?.get(&pcr).map(|v| v.as_slice())
    }

    /// Set a value.
    pub fn insert(&mut self, alg: HashAlg, pcr: u32, value: Vec<u8>) {
        self.map.entry(alg).or_default().insert(pcr, value);
    }

    fn checked_insert(
        &mut self,
        path: &str,
        alg: HashAlg,
        pcr: u32,
        hexval: &str,
    ) -> Result<(), ValuesError> {
        let h = hexval
            .trim()
            .trim_start_matches("0x")
            .trim_start_matches("0X");
        let v = hex::decode(h).map_err(|e| {
            bad(
                path,
                format!("{alg} PCR{pcr}: value {hexval:?} is not hex: {e}"),
            )
        })?;
        if v.len() != alg.size() {
            return Err(bad(
                path,
                format!(
                    "{alg} PCR{pcr}: value has {} bytes, expected {}",
                    v.len(),
                    alg.size()
                ),
            ));
        }
        if pcr >= 24 {
            return Err(bad(path, format!("{alg}: PCR index {pcr} is beyond 23")));
        }
        self.insert(alg, pcr, v);
        Ok(())
    }

    /// Parse PCR values in JSON. One reader for every layout the project writes or takes:
    ///
    /// - bank-first `{"sha256": {"17": "hex"}}` (the corpus' `.pcrs.json`, `log replay --json`'s `pcrs`);
    /// - PCR-first `{"17": {"sha256": "hex"}}` (`drtm predict --json`'s `pcrs`, a bundle's `pcrs.json`);
    /// - a whole document holding either under `pcrs` (`drtm predict --json`, `pcrs.json`,
    ///   `log replay --json`); its other keys are ignored;
    /// - a value may be a hex string (optionally `0x`-prefixed) or an object with a `value` hex string.
    ///
    /// Keys starting with `_` are comments.
    pub fn from_json(text: &str, path: &str) -> Result<PcrValues, ValuesError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(path, format!("not JSON: {e}")))?;
        PcrValues::from_json_value(&v, path)
    }

    /// [`PcrValues::from_json`] over an already parsed document.
    pub fn from_json_value(v: &serde_json::Value, path: &str) -> Result<PcrValues, ValuesError> {
        let mut obj = v
            .as_object()
            .ok_or_else(|| bad(path, "expected a JSON object of PCR values".into()))?;
        if let Some(inner) = obj.get("pcrs") {
            obj = inner
                .as_object()
                .ok_or_else(|| bad(path, "\"pcrs\": expected an object of PCR values".into()))?;
        }
        let keys: Vec<&String> = obj.keys().filter(|k| !k.starts_with('_')).collect();
        if keys.is_empty() {
            return Err(bad(path, "no PCR values in it".into()));
        }
        let pcr_first = keys.iter().all(|k| k.parse::<u32>().is_ok());
        let mut out = PcrValues::default();
        for (outer, inner) in obj.iter().filter(|(k, _)| !k.starts_with('_')) {
            let inner = inner.as_object().ok_or_else(|| {
                bad(
                    path,
                    if pcr_first {
                        format!("PCR {outer}: expected an object of banks (\"sha256\": hex)")
                    } else {
                        format!("{outer}: expected an object of PCRs (\"17\": hex)")
                    },
                )
            })?;
            for (k, val) in inner.iter().filter(|(k, _)| !k.starts_with('_')) {
                let (bank, pcr) = if pcr_first { (k, outer) } else { (outer, k) };
                let alg: HashAlg = bank.parse().map_err(|e| bad(path, format!("{e}")))?;
                let pcr: u32 = pcr
                    .parse()
                    .map_err(|_| bad(path, format!("{bank}: {pcr:?} is not a PCR index")))?;
                let s = val
                    .as_str()
                    .or_else(|| val.get("value").and_then(|v| v.as_str()))
                    .ok_or_else(|| {
                        bad(
                            path,
                            format!(
                                "{bank} PCR{pcr}: expected a hex string (or {{\"value\": hex}})"
                            ),
                        )
                    })?;
                out.checked_insert(path, alg, pcr, s)?;
            }
        }
        Ok(out)
    }

    /// Parse the YAML `tpm2_pcrread` prints (and `tpm2_eventlog`'s `pcrs:` section):
    /// a bank name line, then `  N : 0xHEX` lines.
    pub fn from_pcrread_yaml(text: &str, path: &str) -> Result<PcrValues, ValuesError> {
        let mut out = PcrValues::default();
        let mut bank: Option<HashAlg> = None;
        for (no, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') || t == "pcrs:" {
                continue;
            }
            if let Some(name) = t.strip_suffix(':') {
                bank = name.parse().ok();
                continue;
            }
            let Some(alg) = bank else { continue };
            let Some((k, v)) = t.split_once(':') else {
                return Err(bad(path, format!("line {}: expected `N : 0xHEX`", no + 1)));
            };
            let pcr: u32 = k
                .trim()
                .parse()
                .map_err(|_| bad(path, format!("line {}: {k:?} is not a PCR index", no + 1)))?;
            out.checked_insert(path, alg, pcr, v)?;
        }
        Ok(out)
    }

    /// Read the kernel's sysfs PCR files: `DIR/pcr-<alg>/<n>`, each one hex value.
    pub fn from_sysfs(dir: &Path) -> Result<PcrValues, ValuesError> {
        let mut out = PcrValues::default();
        let p = dir.display().to_string();
        for alg in HashAlg::ALL {
            let bank = dir.join(format!("pcr-{}", alg.name()));
            if !bank.is_dir() {
                continue;
            }
            for pcr in 0..24u32 {
                let f = bank.join(pcr.to_string());
                match std::fs::read_to_string(&f) {
                    Ok(s) => out.checked_insert(&f.display().to_string(), alg, pcr, &s)?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(ValuesError::Io {
                            path: f.display().to_string(),
                            source: e,
                        });
                    }
                }
            }
        }
        if out.map.is_empty() {
            return Err(bad(&p, "no pcr-<alg>/ directories found".into()));
        }
        Ok(out)
    }

    /// Load a file or directory: a directory is sysfs, `{` starts JSON (any layout
    /// [`PcrValues::from_json`] reads), else `tpm2_pcrread` / `tpm2_eventlog` YAML.
    pub fn load(path: &Path) -> Result<PcrValues, ValuesError> {
        if path.is_dir() {
            return PcrValues::from_sysfs(path);
        }
        let p = path.display().to_string();
        let raw = std::fs::read(path).map_err(|e| ValuesError::Io {
            path: p.clone(),
            source: e,
        })?;
        let text = String::from_utf8(raw).map_err(|_| {
            bad(
                &p,
                "binary data, not PCR values (JSON, tpm2_pcrread YAML or a sysfs directory); \
                 raw concatenated values need a selection (policy pcr --pcrs FILE -l SEL)"
                    .into(),
            )
        })?;
        if text.trim_start().starts_with('{') {
            PcrValues::from_json(&text, &p)
        } else {
            let v = PcrValues::from_pcrread_yaml(&text, &p)?;
            if v.map.is_empty() {
                return Err(bad(
                    &p,
                    "no PCR values found (expected JSON, or YAML with bank lines such as `sha256:` \
                     followed by `17: 0xHEX` lines)"
                        .into(),
                ));
            }
            Ok(v)
        }
    }

    /// The values as `tpm2_pcrread` prints them: per bank a `  sha256:` line, then
    /// `    N : 0xHEX` lines (upper-case hex, the index padded to two columns).
    pub fn to_pcrread_yaml(&self) -> String {
        let mut out = String::new();
        for (alg, pcrs) in &self.map {
            out.push_str(&format!("  {}:\n", alg.name()));
            for (pcr, v) in pcrs {
                out.push_str(&format!("    {:<2}: 0x{}\n", pcr, hex::encode_upper(v)));
            }
        }
        out
    }

    /// Keep only the PCRs in `pcrs` (every bank).
    pub fn retain_pcrs(&mut self, keep: impl Fn(u32) -> bool) {
        for m in self.map.values_mut() {
            m.retain(|p, _| keep(*p));
        }
        self.map.retain(|_, m| !m.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn want() -> PcrValues {
        let mut v = PcrValues::default();
        v.insert(HashAlg::Sha1, 17, hex::decode(A).unwrap());
        v.insert(HashAlg::Sha256, 18, hex::decode(B).unwrap());
        v
    }

    #[test]
    fn every_json_layout_reads_the_same_values() {
        for doc in [
            format!(r#"{{"sha1": {{"17": "{A}"}}, "sha256": {{"18": "0x{B}"}}}}"#),
            format!(r#"{{"17": {{"sha1": "{A}"}}, "18": {{"sha256": "{B}"}}}}"#),
            format!(
                r#"{{"banks": ["sha1"], "pcrs": {{"17": {{"sha1": "{A}"}}, "18": {{"sha256": "{B}"}}}}, "events": []}}"#
            ),
            format!(
                r#"{{"pcrs": {{"17": {{"sha1": {{"value": "{A}", "events": []}}}}, "18": {{"sha256": {{"value": "{B}"}}}}}}}}"#
            ),
            format!(
                r#"{{"_note": "x", "pcrs": {{"sha1": {{"17": "{A}"}}, "sha256": {{"18": "{B}"}}}}}}"#
            ),
        ] {
            assert_eq!(PcrValues::from_json(&doc, "t").unwrap(), want(), "{doc}");
        }
    }

    #[test]
    fn json_errors_name_the_bank_and_pcr() {
        let e = PcrValues::from_json(r#"{"17": {"sha1": 5}}"#, "f.json").unwrap_err();
        assert!(e.to_string().contains("sha1 PCR17"), "{e}");
        let e = PcrValues::from_json(r#"{"pcrs": {}}"#, "f.json").unwrap_err();
        assert!(e.to_string().contains("no PCR values"), "{e}");
        let e = PcrValues::from_json(r#"{"sha1": {"17": "abcd"}}"#, "f.json").unwrap_err();
        assert!(e.to_string().contains("2 bytes, expected 20"), "{e}");
    }

    #[test]
    fn pcrread_yaml_round_trips() {
        let y = want().to_pcrread_yaml();
        assert!(y.starts_with("  sha1:\n    17: 0xAAAA"), "{y}");
        assert_eq!(PcrValues::from_pcrread_yaml(&y, "t").unwrap(), want());
        let mut one = PcrValues::default();
        one.insert(HashAlg::Sha1, 0, vec![0; 20]);
        assert!(one.to_pcrread_yaml().contains("\n    0 : 0x0000"));
    }
}
