//! A signed approval and the files it is shipped as, each in the form the
//! tpm2-tools command that reads it takes.

use std::path::Path;

use serde_json::{Value, json};

use crate::approval::{Approval, OrStep, POLICY_ALG, authorize_policy};
use crate::key::{KeyError, SoftwareKey, public_pem};
use crate::public::{KeyMaterial, TpmPublic, scheme_name};
use crate::signature::Signature;
use crate::tpm::{TpmError, TpmKey};

/// Version of `approval.json`'s layout.
pub const APPROVAL_JSON_VERSION: u32 = 1;

/// Who signs: a PEM key read for this signing, or a key in a TPM.
#[derive(Debug)]
pub enum Signer {
    /// A private key in memory (zeroized when dropped).
    Software(SoftwareKey),
    /// A key held in a TPM, used through tpm2-tools.
    Tpm(TpmKey, TpmPublic),
}

/// Signing that failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key file.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The TPM key.
    #[error(transparent)]
    Tpm(#[from] TpmError),
    /// The signature made does not verify (never shipped).
    #[error("the new signature does not verify with the key's public part: {0}")]
    SelfCheck(String),
    /// Anything else about the key.
    #[error("{0}")]
    Other(String),
}

impl Signer {
    /// Read a PEM private key.
    pub fn from_pem(path: &Path) -> Result<Signer, SignError> {
        Ok(Signer::Software(SoftwareKey::read(path)?))
    }

    /// A key in the TPM tpm2-tools reach (its public area read now).
    pub fn from_tpm(key: TpmKey) -> Result<Signer, SignError> {
        let public = key.public()?;
        Ok(Signer::Tpm(key, public))
    }

    /// The public area a verifying TPM loads (`tpm2_loadexternal -u`).
    pub fn public(&self) -> TpmPublic {
        match self {
            Signer::Software(k) => TpmPublic::loadexternal(k.material()),
            Signer::Tpm(_, p) => p.clone(),
        }
    }

    /// Sign `approval`; the signature is checked against the public part
    /// before it is returned.
    pub fn sign(&self, approval: Approval) -> Result<SignedApproval, SignError> {
        let public = self.public();
        let ahash = approval.ahash(public.name_alg());
        let signature = match self {
            Signer::Software(k) => k.sign_digest(&ahash).map_err(SignError::Other)?,
            Signer::Tpm(k, p) => k.sign(p, &ahash)?,
        };
        signature
            .verify(&public, &ahash)
            .map_err(|e| SignError::SelfCheck(e.to_string()))?;
        Ok(SignedApproval {
            approval,
            key: public,
            signature,
        })
    }
}

/// An approval, its key and the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedApproval {
    /// What is approved.
    pub approval: Approval,
    /// The key's public area.
    pub key: TpmPublic,
    /// Its signature over aHash.
    pub signature: Signature,
}

/// The bundle-relative file names of an approval directory.
pub mod files {
    /// `tpm2_policyauthorize -i`.
    pub const APPROVED_POLICY: &str = "approved-policy.digest";
    /// `tpm2_policyauthorize -q` (may be empty).
    pub const POLICY_REF: &str = "policy-ref.bin";
    /// `tpm2_verifysignature -d`.
    pub const AHASH: &str = "ahash.bin";
    /// `tpm2_verifysignature -s` (TPMT_SIGNATURE).
    pub const SIGNATURE_TSS: &str = "signature.tss";
    /// `tpm2_verifysignature -f rsassa|ecdsa -s`, `openssl pkeyutl -verify -sigfile`.
    pub const SIGNATURE_PLAIN: &str = "signature.plain";
    /// `tpm2_loadexternal -C o -u` (TPM2B_PUBLIC).
    pub const KEY_PUB: &str = "signing-key.pub";
    /// SubjectPublicKeyInfo PEM.
    pub const KEY_PEM: &str = "signing-key.pem";
    /// `tpm2_policyauthorize -n`.
    pub const KEY_NAME: &str = "signing-key.name";
    /// `tpm2_create -L`: seal once to this.
    pub const AUTHORIZE_POLICY: &str = "authorize.digest";
    /// `tpm2_policypcr -l`.
    pub const SELECTION: &str = "pcr-selection.txt";
    /// Everything, named.
    pub const JSON: &str = "approval.json";
}

impl SignedApproval {
    /// The policy to seal to: `PolicyAuthorize(key name, policyRef)`.
    pub fn authorize_policy(&self) -> Vec<u8> {
        authorize_policy(&self.key.name(), &self.approval.policy_ref)
    }

    /// The `tpm2_policyor` argument for one step, with paths relative to the
    /// approval directory.
    fn or_arg(&self, step: OrStep) -> String {
        let names: Vec<String> = if step.count == 1 {
            vec![or_file(step.level, step.from); 2]
        } else {
            (step.from..step.from + step.count)
                .map(|i| or_file(step.level, i))
                .collect()
        };
        format!("{}:{}", POLICY_ALG.name(), names.join(","))
    }

    /// Every file of the approval directory, relative path and bytes, in a
    /// fixed order (byte-reproducible).
    pub fn files(&self) -> Result<Vec<(String, Vec<u8>)>, SignError> {
        use files::*;
        let a = &self.approval;
        let pem = public_pem(self.key.key()).map_err(SignError::Other)?;
        let mut out: Vec<(String, Vec<u8>)> = vec![
            (APPROVED_POLICY.into(), a.approved.clone()),
            (POLICY_REF.into(), a.policy_ref.clone()),
            (AHASH.into(), a.ahash(self.key.name_alg())),
            (SIGNATURE_TSS.into(), self.signature.to_tss()),
            (SIGNATURE_PLAIN.into(), self.signature.to_plain()),
            (KEY_PUB.into(), self.key.tpm2b_public()),
            (KEY_PEM.into(), pem.into_bytes()),
            (KEY_NAME.into(), self.key.name()),
            (AUTHORIZE_POLICY.into(), self.authorize_policy()),
            (SELECTION.into(), format!("{}\n", a.selection).into_bytes()),
        ];
        for (i, l) in a.launches.iter().enumerate() {
            out.push((format!("launches/{i}.pcr-values"), l.values.clone()));
            out.push((format!("launches/{i}.policy.digest"), l.policy_pcr.clone()));
            if !l.or_steps.is_empty() {
                let args: Vec<String> = l.or_steps.iter().map(|s| self.or_arg(*s)).collect();
                out.push((
                    format!("launches/{i}.or-args"),
                    format!("{}\n", args.join("\n")).into_bytes(),
                ));
            }
        }
        for (level, ds) in a.levels.iter().enumerate() {
            for (i, d) in ds.iter().enumerate() {
                out.push((or_file(level, i), d.clone()));
            }
        }
        let mut json = serde_json::to_vec_pretty(&self.json()).expect("JSON serialises");
        json.push(b'\n');
        out.push((JSON.into(), json));
        Ok(out)
    }

    /// `approval.json`: selection, each launch's values and path, the key's
    /// name, policyRef, approved policy, aHash, signature, and the policy to
    /// seal to.
    pub fn json(&self) -> Value {
        let a = &self.approval;
        let launches: Vec<Value> = a
            .launches
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut at = 0;
                let mut pcrs = serde_json::Map::new();
                for (alg, list) in &a.selection.banks {
                    let mut bank = serde_json::Map::new();
                    for p in list {
                        bank.insert(
                            p.to_string(),
                            hex::encode(&l.values[at..at + alg.size()]).into(),
                        );
                        at += alg.size();
                    }
                    pcrs.insert(alg.name().to_string(), Value::Object(bank));
                }
                let or: Vec<String> = l.or_steps.iter().map(|s| self.or_arg(*s)).collect();
                json!({
                    "label": l.label,
                    "pcrs": pcrs,
                    "policy_pcr": hex::encode(&l.policy_pcr),
                    "pcr_values_file": format!("launches/{i}.pcr-values"),
                    "policy_or": or,
                })
            })
            .collect();
        let levels: Vec<Vec<String>> = a
            .levels
            .iter()
            .map(|l| l.iter().map(hex::encode).collect())
            .collect();
        let key = match self.key.key() {
            KeyMaterial::Rsa { n, e } => json!({
                "type": "rsa", "bits": n.len() * 8, "exponent": e,
            }),
            KeyMaterial::Ecc { curve, .. } => json!({ "type": "ecc", "curve": curve.label() }),
        };
        json!({
            "version": APPROVAL_JSON_VERSION,
            "policy_alg": POLICY_ALG.name(),
            "selection": a.selection.to_string(),
            "launches": launches,
            "policy_or_levels": levels,
            "approved_policy": hex::encode(&a.approved),
            "policy_ref": hex::encode(&a.policy_ref),
            "ahash": hex::encode(a.ahash(self.key.name_alg())),
            "key": {
                "algorithm": key,
                "name": hex::encode(self.key.name()),
                "name_alg": self.key.name_alg().name(),
                "attributes": format!("{:#010x}", self.key.attributes()),
            },
            "signature": {
                "scheme": scheme_name(self.signature.scheme()),
                "hash": self.signature.hash().name(),
                "tss": hex::encode(self.signature.to_tss()),
            },
            "authorize_policy": hex::encode(self.authorize_policy()),
        })
    }
}

fn or_file(level: usize, index: usize) -> String {
    format!("or/{level}-{index}.digest")
}
