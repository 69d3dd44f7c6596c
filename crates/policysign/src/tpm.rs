//! Signing with a key held in a TPM, through tpm2-tools, so the private key
//! never exists on disk: `tpm2_readpublic` gives its public area (and so its
//! name), `tpm2_sign -d` signs the aHash. The TPM is the one
//! `TPM2TOOLS_TCTI` (or tpm2-tools' default, `/dev/tpmrm0`) reaches.

use std::path::Path;
use std::process::Command;

use crate::public::{TpmPublic, scheme_name};
use crate::signature::Signature;

/// A TPM-held signing key: a persistent handle (`0x81000010`) or a context
/// file `tpm2-tools` can load, and its authorization if it has one.
#[derive(Clone, PartialEq, Eq)]
pub struct TpmKey {
    /// `tpm2_* -c` argument.
    pub context: String,
    /// `tpm2_sign -p` argument (tpm2-tools auth syntax, e.g. `file:PATH`).
    pub auth: Option<String>,
    /// The TCTI to reach the TPM (`TPM2TOOLS_TCTI` for the tools); `None`
    /// leaves the environment's.
    pub tcti: Option<String>,
}

/// A tpm2-tools step that failed.
#[derive(Debug, thiserror::Error)]
#[error("TPM key {context}: {what}")]
pub struct TpmError {
    /// The key.
    pub context: String,
    /// What failed.
    pub what: String,
}

impl std::fmt::Debug for TpmKey {
    /// The authorization may be a password (`str:...`): never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpmKey")
            .field("context", &self.context)
            .field("auth", &self.auth.as_ref().map(|_| "(set)"))
            .field("tcti", &self.tcti)
            .finish()
    }
}

impl TpmKey {
    /// `tpm:HANDLE_OR_CONTEXT` as a spec or command line writes it.
    pub fn parse(s: &str) -> Option<TpmKey> {
        let c = s.strip_prefix("tpm:")?;
        (!c.is_empty()).then(|| TpmKey {
            context: c.to_string(),
            auth: None,
            tcti: None,
        })
    }

    fn err(&self, what: impl Into<String>) -> TpmError {
        TpmError {
            context: self.context.clone(),
            what: what.into(),
        }
    }

    fn run(&self, program: &str, args: &[&str], cwd: &Path) -> Result<(), TpmError> {
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(cwd);
        if let Some(t) = &self.tcti {
            cmd.env("TPM2TOOLS_TCTI", t);
        }
        let out = cmd
            .output()
            .map_err(|e| self.err(format!("cannot run {program} (install tpm2-tools): {e}")))?;
        if !out.status.success() {
            return Err(self.err(format!(
                "{program} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// The key's public area, read from the TPM.
    pub fn public(&self) -> Result<TpmPublic, TpmError> {
        let dir = tempfile::tempdir().map_err(|e| self.err(format!("temporary dir: {e}")))?;
        self.run(
            "tpm2_readpublic",
            &["-Q", "-c", &self.context, "-o", "key.pub"],
            dir.path(),
        )?;
        let b = std::fs::read(dir.path().join("key.pub"))
            .map_err(|e| self.err(format!("tpm2_readpublic wrote no key: {e}")))?;
        TpmPublic::parse(&b).map_err(|e| self.err(e.to_string()))
    }

    /// Sign `digest` (sha256) in the TPM with the key's scheme (RSASSA or
    /// ECDSA).
    pub fn sign(&self, public: &TpmPublic, digest: &[u8]) -> Result<Signature, TpmError> {
        let dir = tempfile::tempdir().map_err(|e| self.err(format!("temporary dir: {e}")))?;
        std::fs::write(dir.path().join("ahash.bin"), digest)
            .map_err(|e| self.err(format!("writing the digest: {e}")))?;
        let scheme = scheme_name(public.key().scheme());
        let mut args = vec![
            "-Q",
            "-c",
            &self.context,
            "-g",
            "sha256",
            "-s",
            scheme,
            "-d",
            "-f",
            "tss",
            "-o",
            "sig.tss",
        ];
        if let Some(a) = &self.auth {
            args.extend(["-p", a.as_str()]);
        }
        args.push("ahash.bin");
        self.run("tpm2_sign", &args, dir.path())?;
        let b = std::fs::read(dir.path().join("sig.tss"))
            .map_err(|e| self.err(format!("tpm2_sign wrote no signature: {e}")))?;
        Signature::from_tss(&b)
            .map(|s| s.normalized(public.key()))
            .map_err(|e| self.err(e.to_string()))
    }
}
