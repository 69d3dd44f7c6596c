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

    /// Parse the JSON form `{"sha256": {"0": "hex", ...}, ...}`; keys starting with `_`
    /// are comments.
    pub fn from_json(text: &str, path: &str) -> Result<PcrValues, ValuesError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(path, format!("not JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad(path, "expected a JSON object of banks".into()))?;
        let mut out = PcrValues::default();
        for (bank, pcrs) in obj {
            if bank.starts_with('_') {
                continue;
            }
            let alg: HashAlg = bank.parse().map_err(|e| bad(path, format!("{e}")))?;
            let pcrs = pcrs
                .as_object()
                .ok_or_else(|| bad(path, format!("{bank}: expected an object of PCRs")))?;
            for (k, val) in pcrs {
                let pcr: u32 = k
                    .parse()
                    .map_err(|_| bad(path, format!("{bank}: {k:?} is not a PCR index")))?;
                let s = val
                    .as_str()
                    .ok_or_else(|| bad(path, format!("{bank} PCR{k}: expected a hex string")))?;
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

    /// Load a file or directory: a directory is sysfs, `{` starts JSON, else pcrread YAML.
    pub fn load(path: &Path) -> Result<PcrValues, ValuesError> {
        if path.is_dir() {
            return PcrValues::from_sysfs(path);
        }
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ValuesError::Io {
            path: p.clone(),
            source: e,
        })?;
        if text.trim_start().starts_with('{') {
            PcrValues::from_json(&text, &p)
        } else {
            PcrValues::from_pcrread_yaml(&text, &p)
        }
    }
}
