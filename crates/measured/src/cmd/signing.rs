//! Signing predicted launches for `TPM2_PolicyAuthorize`, shared by
//! `measured build` (`[policy] sign_key`) and `measured policy sign`.
//!
//! The private key is read by [`open_signer`] just before signing, held in
//! zeroized memory, and dropped after: it is never written, hashed into a
//! step record, or printed. A key file group or others can read is used,
//! with a warning.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use policysign::approval::Launch;
use policysign::{SignedApproval, Signer, TpmKey};
use tcg::{HashAlg, PcrValues};

/// Where an approval's files go inside a bundle built with a `sign_key`.
pub const BUNDLE_DIR: &str = "policy/signed";

/// A signing key as the spec or command line names it.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A PEM private key file.
    Pem(PathBuf),
    /// A key in the TPM tpm2-tools reach.
    Tpm(TpmKey),
}

/// Read the key (or its public part from the TPM), warning when a key file
/// is open to group or others.
pub fn open_signer(key: &KeySource) -> anyhow::Result<Signer> {
    match key {
        KeySource::Pem(p) => {
            warn_if_loose(p);
            Ok(Signer::from_pem(p)?)
        }
        KeySource::Tpm(k) => Ok(Signer::from_tpm(k.clone())?),
    }
}

/// Warn on stderr (never in `--json` output) about a key file others can read.
pub fn warn_if_loose(path: &Path) {
    if let Ok(Some(mode)) = policysign::key::loose_mode(path) {
        eprintln!(
            "measured: warning: signing key {} has mode {mode:04o}: group or others can read it; \
             chmod 600 it (or keep the key in a TPM: tpm:HANDLE)",
            path.display()
        );
    }
}

/// The predicted values of a launch: a bundle directory (its `pcrs.json`),
/// a `pcrs.json`, or `measured --json drtm predict` output.
pub fn read_prediction(path: &Path) -> anyhow::Result<PcrValues> {
    let file = if path.is_dir() {
        path.join("pcrs.json")
    } else {
        path.to_path_buf()
    };
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not JSON (expected a pcrs.json)", file.display()))?;
    let pcrs = doc["pcrs"].as_object().with_context(|| {
        format!(
            "{}: no \"pcrs\" object (expected a bundle's pcrs.json or `measured --json drtm predict` output)",
            file.display()
        )
    })?;
    let mut out = PcrValues::default();
    for (pcr, banks) in pcrs {
        let at = |what: &str| format!("{}: pcrs.{pcr}: {what}", file.display());
        let index: u32 = pcr
            .parse()
            .ok()
            .filter(|p| *p < 24)
            .with_context(|| at("expected a PCR number 0-23"))?;
        let banks = banks
            .as_object()
            .with_context(|| at("expected an object of banks"))?;
        for (bank, v) in banks {
            let alg =
                HashAlg::from_str(bank).map_err(|e| anyhow::anyhow!("{}", at(&e.to_string())))?;
            let hexv = v
                .as_str()
                .or_else(|| v["value"].as_str())
                .with_context(|| at(&format!("{bank}: expected a hex value")))?;
            let value =
                hex::decode(hexv).with_context(|| at(&format!("{bank}: value is not hex")))?;
            if value.len() != alg.size() {
                bail!(
                    "{}",
                    at(&format!(
                        "{bank}: {} bytes, {alg} values have {}",
                        value.len(),
                        alg.size()
                    ))
                );
            }
            out.insert(alg, index, value);
        }
    }
    Ok(out)
}

/// A launch from `path`, labelled `label`.
pub fn launch(label: impl Into<String>, path: &Path) -> anyhow::Result<Launch> {
    Ok(Launch {
        label: label.into(),
        values: read_prediction(path)?,
    })
}

/// Write the approval's files under `dir` (new files, inside a staging
/// bundle the caller swaps in).
pub fn write_approval(dir: &Path, signed: &SignedApproval) -> anyhow::Result<()> {
    for (rel, bytes) in signed.files()? {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
