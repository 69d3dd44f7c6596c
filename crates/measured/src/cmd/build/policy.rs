//! The `policy` step: what to seal to, from the predicted PCRs.
//!
//! - `policy/policy.digest` (+ `.hex`): the TPM2 `PolicyPCR` digest for the
//!   spec's selection, as `tpm2_createpolicy --policy-pcr -L` writes it;
//! - `policy/pcr-values.bin`: the selected values concatenated in selection
//!   order, the file `tpm2_createpolicy --policy-pcr -f` takes;
//! - `policy/pcr-selection.txt`: the selection, for `-l`;
//! - `policy/digest-at-release.sha1` (+ `.hex`): the TPM 1.2
//!   `digestAtRelease` over the same PCR indices in the SHA-1 bank, when
//!   the prediction has that bank;
//! - `policy/keylime.json`: Keylime's `tpm_policy` as `keylime_tenant --tpm_policy` takes
//!   it: `{"17": ["hex"], ...}` (PCR -> accepted values) in the first selected bank, which
//!   must be the agent's `tpm_hash_alg`. PCR 10 (IMA) and 16 (Keylime's data PCR) are
//!   Keylime's own and the tenant refuses them in a policy, so they are left out.

use std::path::Path;
use std::str::FromStr;

use anyhow::Context;
use bundle::spec::BuildSpec;
use bundle::{BundleBuilder, StepOutcome, StepSpec};
use tcg::HashAlg;
use tcg::policy::{PcrSelection, PolicyDigest, tpm12_composite_digest};
use tcg::values::PcrValues;

use super::launch::PCRS_JSON;

/// The hex PolicyPCR digest in the bundle.
pub const DIGEST_HEX: &str = "policy/policy.digest.hex";

const POLICY_STEP_VERSION: u32 = 2;

/// PCRs Keylime keeps for itself (IMA, and the data PCR it binds keys to).
const KEYLIME_OWN_PCRS: [u32; 2] = [10, 16];

/// Run (or reuse) the policy step.
pub fn policy_step(b: &mut BundleBuilder, spec: &BuildSpec) -> anyhow::Result<StepOutcome> {
    let sel_text = spec.pcrs.to_string();
    let step = StepSpec::new("policy")
        .version(POLICY_STEP_VERSION)
        .output(PCRS_JSON)
        .bytes("policy.pcrs", sel_text.clone())
        .produces("policy/policy.digest")
        .produces("policy/pcr-values.bin")
        .produces("policy/keylime.json");
    let outcome = b.step(step, |dir: &Path| -> anyhow::Result<()> {
        let values = predicted_values(&dir.join(PCRS_JSON))?;
        let sel = PcrSelection::from_str(&sel_text)
            .map_err(|e| spec.error_at(spec.pcrs_line, format!("policy.pcrs: {e}")))?;
        for (alg, pcrs) in &sel.banks {
            for p in pcrs {
                if values.get(*alg, *p).is_none() {
                    let have: Vec<String> = values
                        .map
                        .iter()
                        .map(|(a, m)| {
                            let l: Vec<String> = m.keys().map(u32::to_string).collect();
                            format!("{}:{}", a.name(), l.join(","))
                        })
                        .collect();
                    return Err(spec
                        .error_at(
                            spec.pcrs_line,
                            format!(
                                "policy.pcrs: {}:{p} is not predicted (the launch predicts {})",
                                alg.name(),
                                have.join("+")
                            ),
                        )
                        .into());
                }
            }
        }
        let pdir = dir.join("policy");
        std::fs::create_dir_all(&pdir).with_context(|| format!("creating {}", pdir.display()))?;
        let put = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
            let p = pdir.join(name);
            std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))
        };

        let raw = sel.values(&values)?;
        put("pcr-values.bin", &raw)?;
        put("pcr-selection.txt", format!("{sel}\n").as_bytes())?;
        let mut pd = PolicyDigest::new(HashAlg::Sha256);
        pd.policy_pcr(&sel, &values)?;
        put("policy.digest", pd.digest())?;
        put(
            "policy.digest.hex",
            format!("{}\n", hex::encode(pd.digest())).as_bytes(),
        )?;

        let indices: std::collections::BTreeSet<u32> = sel
            .banks
            .iter()
            .flat_map(|(_, p)| p.iter().copied())
            .collect();
        let sha1: Option<Vec<(u32, [u8; 20])>> = indices
            .iter()
            .map(|&i| {
                let v = values.get(HashAlg::Sha1, i)?;
                Some((i, v.try_into().ok()?))
            })
            .collect();
        if let Some(pcrs) = sha1 {
            let d = tpm12_composite_digest(&pcrs);
            put("digest-at-release.sha1", &d)?;
            put(
                "digest-at-release.sha1.hex",
                format!("{}\n", hex::encode(d)).as_bytes(),
            )?;
        }

        // Keylime's tpm_policy: one accepted value per PCR, in the first
        // selected bank (Keylime checks a single bank, its agent's hash_alg).
        // Only PCR-number keys: the tenant's reader refuses anything else.
        let (alg, pcrs) = &sel.banks[0];
        let mut kl = serde_json::Map::new();
        for p in pcrs.iter().filter(|p| !KEYLIME_OWN_PCRS.contains(p)) {
            let v = values.get(*alg, *p).expect("checked above");
            kl.insert(p.to_string(), serde_json::json!([hex::encode(v)]));
        }
        let mut v = serde_json::to_vec_pretty(&kl)?;
        v.push(b'\n');
        put("keylime.json", &v)?;
        Ok(())
    })?;
    Ok(outcome)
}

/// The predicted values from `pcrs.json` (the shared PCR-values reader).
fn predicted_values(path: &Path) -> anyhow::Result<PcrValues> {
    Ok(PcrValues::load(path)?)
}
