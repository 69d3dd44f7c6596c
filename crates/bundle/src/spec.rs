//! The build spec: the image spec's keys (see `image::spec::Spec`) plus
//! `[launch]` (what tboot will measure) and `[policy]` (which PCRs a sealing
//! policy covers).
//!
//! Errors name the spec file and line: unknown keys, missing files, a kernel
//! that is not a bzImage, malformed PCR selections. The whole document is
//! parsed once with spans; each part is then deserialised from its own slice
//! of the span-carrying table, so every error points into the original text.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use serde_spanned::Spanned;
use tcg::HashAlg;
use toml::de::{DeTable, Deserializer};

/// A bad spec: which file, which line (when one is to blame), and why.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A problem at a line of the spec.
    #[error("{path}:{line}: {msg}")]
    At {
        /// The spec file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong and what was expected.
        msg: String,
    },
    /// A problem with the spec as a whole (unreadable file).
    #[error("{path}: {msg}")]
    Whole {
        /// The spec file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

/// A parsed and checked build spec.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// The spec file.
    pub path: PathBuf,
    /// The spec's text (kept to locate later errors).
    pub text: String,
    /// The image part, paths made relative to the spec's directory.
    pub image: image::spec::Spec,
    /// The image part as canonical TOML (step key of the image build).
    pub image_toml: String,
    /// The measured launch, when the spec has `[launch]`.
    pub launch: Option<LaunchSpec>,
    /// The PCRs a sealing policy covers (`[policy] pcrs`).
    pub pcrs: PcrSelection,
    /// The `[policy]` line, for errors about the selection.
    pub pcrs_line: usize,
    /// A signed policy (`[policy] sign_key`), when the spec asks for one.
    pub sign: Option<SignSpec>,
    top_lines: BTreeMap<String, usize>,
}

/// The `[launch]` section: the launch chain tboot measures.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The platform profile (TOML or JSON, `txt::Profile`).
    pub platform: Located<PathBuf>,
    /// The SINIT ACM.
    pub sinit: Located<PathBuf>,
    /// tboot (`tboot.gz` or the ELF).
    pub tboot: Located<PathBuf>,
    /// tboot's command line as the loader passes it.
    pub tboot_cmdline: String,
    /// The verified-launch policy.
    pub policy: Located<VlPolicy>,
    /// The multiboot modules after tboot, in order.
    pub modules: Vec<Located<LaunchModule>>,
    /// The `[launch]` header line.
    pub line: usize,
}

/// `[policy] sign_key` and what goes with it: sign the predicted PolicyPCR
/// digest so a secret sealed once to `PolicyAuthorize(key)` unseals after
/// this launch (`policysign`). The key file is not read here: only the
/// signing step reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignSpec {
    /// The signing key.
    pub key: Located<SignKey>,
    /// `policy_ref` (hex in the spec), empty by default.
    pub policy_ref: Vec<u8>,
    /// Other launches the signed policy also approves (a `PolicyOR`):
    /// each a `pcrs.json` or a bundle directory holding one, with the spec's
    /// text for it (the label the approval records).
    pub also_approve: Vec<Located<(String, PathBuf)>>,
}

/// Where the signing key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignKey {
    /// A PEM private key file.
    File(PathBuf),
    /// `tpm:HANDLE_OR_CONTEXT`: a key held in the TPM tpm2-tools reach.
    Tpm(String),
}

/// A value and the spec line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// 1-based line in the spec.
    pub line: usize,
}

/// tboot's verified-launch policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VlPolicy {
    /// tboot's built-in default for its version.
    Default,
    /// A `tb_policy` file (as `tb_polgen` writes it).
    File(PathBuf),
}

/// One module tboot measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchModule {
    /// Where its bytes come from.
    pub source: ModuleSource,
    /// Its command line (without the file name).
    pub cmdline: String,
    /// Whether the loader decompresses it (GRUB2 gunzips modules).
    pub decompress: bool,
}

/// A module file: on the host, or built into the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSource {
    /// A host file (the hypervisor, a dom0 kernel).
    File(PathBuf),
    /// `bundle:kernel`: the kernel the image step puts in the bundle.
    BundleKernel,
    /// `bundle:initramfs`: the initramfs the image step builds.
    BundleInitramfs,
}

impl ModuleSource {
    /// How the spec names it.
    pub fn label(&self) -> String {
        match self {
            ModuleSource::File(p) => p.display().to_string(),
            ModuleSource::BundleKernel => "bundle:kernel".into(),
            ModuleSource::BundleInitramfs => "bundle:initramfs".into(),
        }
    }
}

/// PCR indices per bank, e.g. `sha256:17,18,19+sha1:17` (tpm2-tools syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrSelection(pub BTreeMap<HashAlg, BTreeSet<u32>>);

impl Default for PcrSelection {
    /// `sha256:17,18,19`.
    fn default() -> Self {
        PcrSelection(BTreeMap::from([(
            HashAlg::Sha256,
            BTreeSet::from([17, 18, 19]),
        )]))
    }
}

impl FromStr for PcrSelection {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        let empty = || {
            format!(
                "{s:?} selects no PCR: a policy over it would bind the secret to nothing \
                 (give e.g. sha256:17,18,19)"
            )
        };
        if s.trim().is_empty()
            || s.split('+')
                .all(|p| p.split_once(':').is_some_and(|(_, l)| l.trim().is_empty()))
        {
            return Err(empty());
        }
        for part in s.split('+') {
            let (bank, list) = part.split_once(':').ok_or_else(|| {
                format!("{part:?}: expected BANK:PCR,PCR,... (e.g. sha256:17,18,19)")
            })?;
            let alg = HashAlg::from_str(bank.trim()).map_err(|e| e.to_string())?;
            let mut set = BTreeSet::new();
            for n in list.split(',') {
                let i: u32 = n
                    .trim()
                    .parse()
                    .map_err(|_| format!("{n:?}: expected a PCR number 0-23"))?;
                if i > 23 {
                    return Err(format!("PCR {i}: expected 0-23"));
                }
                set.insert(i);
            }
            if out.insert(alg, set).is_some() {
                return Err(format!("bank {bank} named twice"));
            }
        }
        Ok(PcrSelection(out))
    }
}

impl std::fmt::Display for PcrSelection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(alg, set)| {
                let l: Vec<String> = set.iter().map(u32::to_string).collect();
                format!("{}:{}", alg.name(), l.join(","))
            })
            .collect();
        f.write_str(&parts.join("+"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLaunch {
    platform: Spanned<PathBuf>,
    sinit: Spanned<PathBuf>,
    tboot: Spanned<PathBuf>,
    #[serde(default)]
    tboot_cmdline: String,
    policy: Option<Spanned<String>>,
    #[serde(default)]
    modules: Vec<Spanned<RawModule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    file: Spanned<String>,
    #[serde(default)]
    cmdline: String,
    #[serde(default = "yes")]
    decompress: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    pcrs: Option<Spanned<String>>,
    sign_key: Option<Spanned<String>>,
    policy_ref: Option<Spanned<String>>,
    also_approve: Option<Vec<Spanned<String>>>,
}

/// The `[policy]` keys of a signed policy (see [`SignSpec`]).
struct RawSign {
    sign_key: Option<Spanned<String>>,
    policy_ref: Option<Spanned<String>>,
    also_approve: Option<Vec<Spanned<String>>>,
}

impl BuildSpec {
    /// Read, parse and check the spec at `path`.
    pub fn load(path: &Path) -> Result<BuildSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError::Whole {
            path: path.to_path_buf(),
            msg: format!("cannot read the spec: {e}"),
        })?;
        Self::parse(path, text)
    }

    /// Parse and check spec `text` that was read from `path`.
    pub fn parse(path: &Path, text: String) -> Result<BuildSpec, SpecError> {
        let at = |span: Range<usize>, msg: String| SpecError::At {
            path: path.to_path_buf(),
            line: line_of(&text, span.start),
            msg,
        };
        let de_err = |e: toml::de::Error, what: &str| {
            let line = e.span().map(|s| line_of(&text, s.start)).unwrap_or(1);
            SpecError::At {
                path: path.to_path_buf(),
                line,
                msg: format!("{what}: {}", e.message()),
            }
        };
        let root = DeTable::parse(&text).map_err(|e| de_err(e, "not valid TOML"))?;
        let root_span = root.span();
        let mut image_part = DeTable::new();
        let mut launch_part = None;
        let mut policy_part = None;
        let mut top_lines = BTreeMap::new();
        for (k, v) in root.into_inner() {
            top_lines.insert(k.get_ref().to_string(), line_of(&text, k.span().start));
            match k.get_ref().as_ref() {
                "launch" => launch_part = Some(v),
                "policy" => policy_part = Some(v),
                _ => {
                    image_part.insert(k, v);
                }
            }
        }
        let base = path.parent().unwrap_or(Path::new("."));

        let mut image =
            image::spec::Spec::deserialize(Deserializer::from(Spanned::new(root_span, image_part)))
                .map_err(|e| de_err(e, "image"))?;
        image.rebase(base);
        let top_line = |k: &str| top_lines.get(k).copied().unwrap_or(1);
        image.validate().map_err(|e| SpecError::At {
            path: path.to_path_buf(),
            line: match &e {
                image::ImageError::Field { field, .. } => top_line(field),
                _ => 1,
            },
            msg: e.to_string(),
        })?;
        let mut files = vec![
            ("rootfs", image.rootfs.clone()),
            ("kernel", image.kernel.clone()),
        ];
        for (k, p) in [
            ("modules", &image.modules),
            ("initrd", &image.initrd),
            ("busybox", &image.busybox),
        ] {
            if let Some(p) = p {
                files.push((k, p.clone()));
            }
        }
        for (k, p) in files {
            if !p.exists() {
                return Err(SpecError::At {
                    path: path.to_path_buf(),
                    line: top_line(k),
                    msg: format!("{k}: {} does not exist", p.display()),
                });
            }
        }
        check_kernel(&image.kernel).map_err(|msg| SpecError::At {
            path: path.to_path_buf(),
            line: top_line("kernel"),
            msg,
        })?;
        // Spec-relative paths: the step key must not depend on how the spec
        // was named on the command line.
        let image_toml = toml::to_string(&image.recorded_spec()).map_err(|e| SpecError::Whole {
            path: path.to_path_buf(),
            msg: format!("cannot serialise the image part: {e}"),
        })?;

        let launch = match launch_part {
            None => None,
            Some(v) => {
                let line = line_of(&text, v.span().start);
                let raw = RawLaunch::deserialize(toml::de::ValueDeserializer::from(v))
                    .map_err(|e| de_err(e, "[launch]"))?;
                let loc = Locator { path, text: &text };
                Some(launch_from_raw(raw, base, line, &loc)?)
            }
        };

        let mut sign = None;
        let (pcrs, pcrs_line) = match policy_part {
            None => (PcrSelection::default(), 1),
            Some(v) => {
                let line = line_of(&text, v.span().start);
                let raw = RawPolicy::deserialize(toml::de::ValueDeserializer::from(v))
                    .map_err(|e| de_err(e, "[policy]"))?;
                let loc = Locator { path, text: &text };
                let rs = RawSign {
                    sign_key: raw.sign_key,
                    policy_ref: raw.policy_ref,
                    also_approve: raw.also_approve,
                };
                sign = sign_from_raw(rs, base, launch.is_some(), &loc)?;
                match raw.pcrs {
                    None => (PcrSelection::default(), line),
                    Some(s) => {
                        let sel = s
                            .get_ref()
                            .parse()
                            .map_err(|m| at(s.span(), format!("policy.pcrs: {m}")))?;
                        (sel, line_of(&text, s.span().start))
                    }
                }
            }
        };

        Ok(BuildSpec {
            path: path.to_path_buf(),
            text,
            image,
            image_toml,
            launch,
            pcrs,
            pcrs_line,
            sign,
            top_lines,
        })
    }

    /// How records (bundle.json, pcrs.json) name a host input: relative to the spec's
    /// directory when under it, else absolute (`image::spec::recorded_path`).
    pub fn recorded(&self, p: &Path) -> String {
        image::spec::recorded_path(self.path.parent().unwrap_or(Path::new("")), p)
    }

    /// The line of a top-level key (1 when absent).
    pub fn line_of_key(&self, key: &str) -> usize {
        self.top_lines.get(key).copied().unwrap_or(1)
    }

    /// An error at `line` of this spec.
    pub fn error_at(&self, line: usize, msg: impl Into<String>) -> SpecError {
        SpecError::At {
            path: self.path.clone(),
            line,
            msg: msg.into(),
        }
    }
}

/// Turns spans into spec lines for errors.
struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        line_of(self.text, span.start)
    }

    fn err(&self, line: usize, msg: String) -> SpecError {
        SpecError::At {
            path: self.path.to_path_buf(),
            line,
            msg,
        }
    }

    /// A host file named at `s`, relative to the spec's directory; it must exist.
    fn file(
        &self,
        base: &Path,
        s: Spanned<PathBuf>,
        key: &str,
    ) -> Result<Located<PathBuf>, SpecError> {
        let line = self.line(s.span());
        let p = base.join(s.into_inner());
        if !p.is_file() {
            return Err(self.err(
                line,
                format!("{key}: {} does not exist or is not a file", p.display()),
            ));
        }
        Ok(Located { value: p, line })
    }
}

fn launch_from_raw(
    raw: RawLaunch,
    base: &Path,
    line: usize,
    loc: &Locator<'_>,
) -> Result<LaunchSpec, SpecError> {
    let platform = loc.file(base, raw.platform, "launch.platform")?;
    let sinit = loc.file(base, raw.sinit, "launch.sinit")?;
    let tboot = loc.file(base, raw.tboot, "launch.tboot")?;
    let policy = match raw.policy {
        None => Located {
            value: VlPolicy::Default,
            line,
        },
        Some(s) if s.get_ref() == "default" => Located {
            value: VlPolicy::Default,
            line: loc.line(s.span()),
        },
        Some(s) => {
            let f = loc.file(
                base,
                Spanned::new(s.span(), PathBuf::from(s.into_inner())),
                "launch.policy (\"default\" or a tb_policy file)",
            )?;
            Located {
                value: VlPolicy::File(f.value),
                line: f.line,
            }
        }
    };
    let mut modules = Vec::new();
    for m in raw.modules {
        let mline = loc.line(m.span());
        let m = m.into_inner();
        let fline = loc.line(m.file.span());
        let source = match m.file.get_ref().as_str() {
            "bundle:kernel" => ModuleSource::BundleKernel,
            "bundle:initramfs" => ModuleSource::BundleInitramfs,
            s if s.starts_with("bundle:") => {
                return Err(loc.err(
                    fline,
                    format!(
                        "launch.modules.file: {s:?}: the bundle has no such output (expected bundle:kernel or bundle:initramfs)"
                    ),
                ));
            }
            s => {
                let span = m.file.span();
                let f = loc.file(
                    base,
                    Spanned::new(span, PathBuf::from(s)),
                    "launch.modules.file",
                )?;
                ModuleSource::File(f.value)
            }
        };
        modules.push(Located {
            value: LaunchModule {
                source,
                cmdline: m.cmdline,
                decompress: m.decompress,
            },
            line: mline,
        });
    }
    if modules.is_empty() {
        return Err(loc.err(
            line,
            "launch.modules: tboot needs at least one module (the kernel it launches)".into(),
        ));
    }
    Ok(LaunchSpec {
        platform,
        sinit,
        tboot,
        tboot_cmdline: raw.tboot_cmdline,
        policy,
        modules,
        line,
    })
}

fn sign_from_raw(
    raw: RawSign,
    base: &Path,
    has_launch: bool,
    loc: &Locator<'_>,
) -> Result<Option<SignSpec>, SpecError> {
    let Some(k) = raw.sign_key else {
        for (span, key) in [
            (raw.policy_ref.as_ref().map(Spanned::span), "policy_ref"),
            (
                raw.also_approve
                    .as_ref()
                    .and_then(|v| v.first())
                    .map(Spanned::span),
                "also_approve",
            ),
        ] {
            if let Some(span) = span {
                return Err(loc.err(
                    loc.line(span),
                    format!("policy.{key}: only for a signed policy (set policy.sign_key)"),
                ));
            }
        }
        return Ok(None);
    };
    let kline = loc.line(k.span());
    if !has_launch {
        return Err(loc.err(
            kline,
            "policy.sign_key: the spec has no [launch], so no prediction to sign".into(),
        ));
    }
    let key = match k.get_ref().strip_prefix("tpm:") {
        Some("") => {
            return Err(loc.err(
                kline,
                "policy.sign_key: \"tpm:\" needs a persistent handle or a context file, \
                 e.g. tpm:0x81000010"
                    .into(),
            ));
        }
        Some(c) => Located {
            value: SignKey::Tpm(c.to_string()),
            line: kline,
        },
        None => {
            let f = loc.file(
                base,
                Spanned::new(k.span(), PathBuf::from(k.get_ref())),
                "policy.sign_key (a PEM private key, or tpm:HANDLE)",
            )?;
            Located {
                value: SignKey::File(f.value),
                line: f.line,
            }
        }
    };
    let policy_ref = match raw.policy_ref {
        None => Vec::new(),
        Some(r) => {
            let b = hex::decode(r.get_ref().trim()).map_err(|_| {
                loc.err(
                    loc.line(r.span()),
                    format!("policy.policy_ref: {:?} is not hex", r.get_ref()),
                )
            })?;
            if b.len() > 64 {
                return Err(loc.err(
                    loc.line(r.span()),
                    format!(
                        "policy.policy_ref: {} bytes; a TPM takes at most 64",
                        b.len()
                    ),
                ));
            }
            b
        }
    };
    let mut also_approve = Vec::new();
    for a in raw.also_approve.unwrap_or_default() {
        let line = loc.line(a.span());
        let p = base.join(a.get_ref());
        let file = if p.is_dir() { p.join("pcrs.json") } else { p };
        if !file.is_file() {
            return Err(loc.err(
                line,
                format!(
                    "policy.also_approve: {} is not a pcrs.json or a bundle holding one",
                    file.display()
                ),
            ));
        }
        also_approve.push(Located {
            value: (a.into_inner(), file),
            line,
        });
    }
    Ok(Some(SignSpec {
        key,
        policy_ref,
        also_approve,
    }))
}

/// Check the bzImage header (`HdrS` magic and a version string) without
/// keeping the file: a spec naming something else as kernel fails here.
fn check_kernel(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("kernel: {}: {e}", path.display()))?;
    image::kernel::parse_bzimage(&bytes, path)
        .map(|_| ())
        .map_err(|e| format!("kernel: {e}"))
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
