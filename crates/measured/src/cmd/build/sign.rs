//! The `sign` step (`[policy] sign_key`): the predicted launch's PolicyPCR
//! digest (ORed with `also_approve` launches) signed for
//! `TPM2_PolicyAuthorize`, written to `policy/signed/` (see
//! `policysign::signed::files` and docs/sealing.md).
//!
//! The step is keyed on the key's public *name*, never on the key file: the
//! private key leaves no trace in the bundle or its step records. Both
//! signature schemes are deterministic, so the same inputs give the same
//! bytes and a reused step is exactly what a rebuild would write.

use std::path::Path;
use std::str::FromStr;

use anyhow::Context;
use bundle::spec::{BuildSpec, SignKey, SignSpec};
use bundle::{BundleBuilder, StepOutcome, StepSpec};
use policysign::signed::files;
use policysign::{Approval, TpmKey};
use tcg::policy::PcrSelection;

use super::launch::PCRS_JSON;
use crate::cmd::signing::{self, BUNDLE_DIR, KeySource};

const SIGN_STEP_VERSION: u32 = 1;

/// Run (or reuse) the sign step.
pub fn sign_step(
    b: &mut BundleBuilder,
    spec: &BuildSpec,
    s: &SignSpec,
) -> anyhow::Result<StepOutcome> {
    let source = match &s.key.value {
        SignKey::File(p) => KeySource::Pem(p.clone()),
        SignKey::Tpm(c) => KeySource::Tpm(TpmKey {
            context: c.clone(),
            auth: None,
            tcti: None,
        }),
    };
    let signer = signing::open_signer(&source)
        .map_err(|e| spec.error_at(s.key.line, format!("policy.sign_key: {e:#}")))?;
    let name = signer.public().name();
    let sel_text = spec.pcrs.to_string();
    let mut step = StepSpec::new("sign")
        .version(SIGN_STEP_VERSION)
        .output(PCRS_JSON)
        .bytes("policy.pcrs", sel_text.clone())
        .bytes("policy.sign_key (public name)", name)
        .bytes("policy.policy_ref", s.policy_ref.clone())
        .produces(format!("{BUNDLE_DIR}/{}", files::SIGNATURE_TSS))
        .produces(format!("{BUNDLE_DIR}/{}", files::JSON));
    for (i, a) in s.also_approve.iter().enumerate() {
        step = step
            .bytes(format!("policy.also_approve[{i}]"), a.value.0.clone())
            .file(format!("policy.also_approve[{i}] file"), &a.value.1);
    }
    let outcome = b.step(step, |dir: &Path| -> anyhow::Result<()> {
        let sel = PcrSelection::from_str(&sel_text)
            .map_err(|e| spec.error_at(spec.pcrs_line, format!("policy.pcrs: {e}")))?;
        let mut launches = vec![signing::launch(
            format!("bundle:{PCRS_JSON}"),
            &dir.join(PCRS_JSON),
        )?];
        for a in &s.also_approve {
            let l = signing::launch(a.value.0.clone(), &a.value.1)
                .map_err(|e| spec.error_at(a.line, format!("policy.also_approve: {e:#}")))?;
            launches.push(l);
        }
        let approval = Approval::new(&sel, &launches, &s.policy_ref)
            .map_err(|e| spec.error_at(spec.pcrs_line, format!("signed policy: {e}")))?;
        let signed = signer
            .sign(approval)
            .map_err(|e| spec.error_at(s.key.line, format!("policy.sign_key: {e}")))?;
        signing::write_approval(&dir.join(BUNDLE_DIR), &signed)
            .context("writing the signed policy")?;
        Ok(())
    })?;
    Ok(outcome)
}
