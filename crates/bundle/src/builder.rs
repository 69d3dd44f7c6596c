//! [`BundleBuilder`]: runs steps into a staging bundle, reusing what the
//! previous bundle already has, then swaps the result in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use outputs::BundleDir;
use sha2::{Digest as _, Sha256};

use crate::digest::ContentDigest;
use crate::error::BundleError;
use crate::manifest::{MANIFEST_PATH, Manifest, OutputRecord, StepRecord};
use crate::statcache::StatCache;

/// Where a step's input comes from.
#[derive(Debug, Clone)]
pub enum Input {
    /// A file outside the bundle, keyed by its content.
    File(PathBuf),
    /// A directory outside the bundle, keyed by its tree: every entry's
    /// path, type, permission bits and content (or link target).
    Dir(PathBuf),
    /// Parameters (a spec section, a command line), keyed by these bytes.
    Bytes(Vec<u8>),
    /// A bundle-relative file an earlier step of this build produced.
    Output(String),
}

/// One step: a name, the inputs its result depends on, and what it writes.
#[derive(Debug, Clone)]
pub struct StepSpec {
    name: String,
    version: u32,
    inputs: Vec<(String, Input)>,
    produces: Vec<String>,
}

impl StepSpec {
    /// A step named `name` (unique within a build).
    pub fn new(name: impl Into<String>) -> Self {
        StepSpec {
            name: name.into(),
            version: 0,
            inputs: Vec::new(),
            produces: Vec::new(),
        }
    }

    /// The version of the code behind the step: bump it when the step's
    /// output for the same inputs changes, so old records are not reused.
    pub fn version(mut self, v: u32) -> Self {
        self.version = v;
        self
    }

    /// Depend on the content of a file.
    pub fn file(mut self, label: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.inputs.push((label.into(), Input::File(path.into())));
        self
    }

    /// Depend on a directory tree (a rootfs, a modules directory).
    pub fn dir(mut self, label: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.inputs.push((label.into(), Input::Dir(path.into())));
        self
    }

    /// Depend on a file or a directory, whichever `path` is.
    pub fn path(self, label: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        if path.is_dir() {
            self.dir(label, path)
        } else {
            self.file(label, path)
        }
    }

    /// Depend on parameter bytes.
    pub fn bytes(mut self, label: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        self.inputs.push((label.into(), Input::Bytes(bytes.into())));
        self
    }

    /// Depend on a file an earlier step wrote into the bundle.
    pub fn output(mut self, rel: impl Into<String>) -> Self {
        let rel = rel.into();
        self.inputs.push((rel.clone(), Input::Output(rel)));
        self
    }

    /// Declare a bundle-relative file the step must write. Files a step
    /// writes are recorded whether declared or not; declared ones are checked.
    pub fn produces(mut self, rel: impl Into<String>) -> Self {
        self.produces.push(rel.into());
        self
    }

    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Whether a step ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Same key as in the previous bundle: its outputs were taken over.
    Reused,
    /// The step ran, for these reasons (changed input labels, or why the
    /// previous record could not be used).
    Built {
        /// Human-readable reasons, e.g. `input kernel changed`.
        reasons: Vec<String>,
    },
}

/// What happened to one step.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The step's name.
    pub name: String,
    /// Ran or reused.
    pub outcome: StepOutcome,
    /// Its inputs, in the order the step declared them.
    pub inputs: Vec<InputReport>,
    /// Its outputs, bundle-relative.
    pub outputs: BTreeMap<String, OutputRecord>,
}

/// One input of a step, with the digest its key used.
#[derive(Debug, Clone)]
pub struct InputReport {
    /// The step's label for it (`kernel`, `launch.tboot_cmdline`, ...).
    pub label: String,
    /// Where it came from.
    pub input: Input,
    /// Its content digest (a directory's: of its tree, see [`StepSpec::dir`]).
    pub sha256: ContentDigest,
}

/// Milestones of a build, for progress display and for tests that kill a
/// build at a given point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// A step is about to run (not reported for reused steps).
    StepStarted(String),
    /// A step finished (ran or reused).
    StepDone(String),
    /// Every step is done and the staging bundle is complete.
    Staged,
    /// The new bundle is in place; the old one is still at the staging path.
    Swapped,
    /// The old bundle is removed.
    Done,
}

/// The result of [`BundleBuilder::commit`].
#[derive(Debug)]
pub struct Commit {
    /// `false` when nothing changed and the existing bundle was kept as is.
    pub replaced: bool,
    /// Every step, in order.
    pub steps: Vec<StepReport>,
    /// Leftovers of interrupted runs removed at the start.
    pub removed_stale: Vec<PathBuf>,
    /// How many files had to be read to compute digests (the rest came from
    /// the stat cache).
    pub files_hashed: u64,
}

/// A callback told of every [`Phase`].
type Observer = Box<dyn FnMut(&Phase)>;

/// A build in progress of the bundle directory at `target`.
pub struct BundleBuilder {
    target: PathBuf,
    staging: PathBuf,
    old: Option<Manifest>,
    new: Manifest,
    reports: Vec<StepReport>,
    stat: StatCache,
    removed_stale: Vec<PathBuf>,
    observer: Option<Observer>,
    /// The lock, the staging directory and the swap; dropping it without a
    /// commit removes the staging directory.
    dir: Option<BundleDir>,
}

impl std::fmt::Debug for BundleBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleBuilder")
            .field("target", &self.target)
            .field("staging", &self.staging)
            .finish_non_exhaustive()
    }
}

impl BundleBuilder {
    /// Start building the bundle at `target` (a directory, existing or not;
    /// its parent is created). Takes the bundle's lock, removes leftovers of
    /// killed runs and reads the previous bundle's step records.
    pub fn open(target: &Path) -> Result<Self, BundleError> {
        let mut dir = BundleDir::open(target)?;
        let target = dir.target().to_path_buf();
        let old = if target.is_dir() {
            Manifest::load(&target)
        } else {
            None
        };
        let stat = StatCache::load(dir.parent().join(format!(".{}.statcache.json", dir.name())));
        Ok(BundleBuilder {
            target,
            staging: dir.staging().to_path_buf(),
            old,
            new: Manifest::new(),
            reports: Vec::new(),
            stat,
            removed_stale: dir.take_removed_stale(),
            observer: None,
            dir: Some(dir),
        })
    }

    /// Call `f` at every [`Phase`].
    pub fn on_phase(&mut self, f: impl FnMut(&Phase) + 'static) {
        self.observer = Some(Box::new(f));
    }

    fn phase(&mut self, p: Phase) {
        if let Some(o) = self.observer.as_mut() {
            o(&p);
        }
    }

    /// The directory steps write into (the bundle being assembled).
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    /// Where the bundle will be.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The record of a file an earlier step of this build produced.
    pub fn output(&self, rel: &str) -> Option<&OutputRecord> {
        self.new.output(rel)
    }

    /// The bundle-relative path of the first output so far whose path
    /// satisfies `pred` (outputs are visited in path order).
    pub fn output_named(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        let mut all: Vec<&String> = self
            .new
            .steps
            .values()
            .flat_map(|s| s.outputs.keys())
            .collect();
        all.sort();
        all.into_iter().find(|p| pred(p)).cloned()
    }

    /// The content digest of a file outside the bundle (stat-cached).
    pub fn digest_file(&mut self, path: &Path) -> Result<ContentDigest, BundleError> {
        Ok(self.stat.digest(path)?.0)
    }

    /// Run a step, or reuse its outputs from the previous bundle when its key
    /// is unchanged. `run` gets the staging directory and must write the
    /// step's outputs there (bundle-relative paths, new files only).
    pub fn step<E: From<BundleError>>(
        &mut self,
        spec: StepSpec,
        run: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<StepOutcome, E> {
        if self.new.steps.contains_key(&spec.name) {
            return Err(BundleError::DuplicateStep(spec.name).into());
        }
        let inputs = self.input_digests(&spec)?;
        let key = step_key(&spec, &inputs);

        let old = self
            .old
            .as_ref()
            .and_then(|m| m.steps.get(&spec.name))
            .cloned();
        let mut reasons = Vec::new();
        match &old {
            None => reasons.push("new step".to_string()),
            Some(rec) if rec.key == key => match self.take_over(rec)? {
                None => {
                    let ins = input_reports(&spec, &inputs);
                    self.finish(spec.name, ins, rec.clone(), StepOutcome::Reused);
                    return Ok(StepOutcome::Reused);
                }
                Some(why) => reasons.push(why),
            },
            Some(rec) => {
                for (label, d) in &inputs {
                    match rec.inputs.get(label) {
                        Some(o) if o == d => {}
                        Some(_) => reasons.push(format!("{label} changed")),
                        None => reasons.push(format!("{label} is new")),
                    }
                }
                for label in rec.inputs.keys() {
                    if !inputs.contains_key(label) {
                        reasons.push(format!("{label} was removed"));
                    }
                }
                if reasons.is_empty() {
                    reasons.push("step version changed".to_string());
                }
            }
        }

        self.phase(Phase::StepStarted(spec.name.clone()));
        let before = list_files(&self.staging, &spec.name)?;
        run(&self.staging)?;
        let after = list_files(&self.staging, &spec.name)?;
        for rel in &spec.produces {
            if !after.contains(rel) {
                return Err(BundleError::MissingOutput {
                    step: spec.name,
                    output: rel.clone(),
                }
                .into());
            }
        }
        let mut outputs = BTreeMap::new();
        for rel in after.difference(&before) {
            let (sha256, size) = ContentDigest::of_file(&self.staging.join(rel))?;
            outputs.insert(rel.clone(), OutputRecord { sha256, size });
        }
        let outcome = StepOutcome::Built { reasons };
        let ins = input_reports(&spec, &inputs);
        let rec = StepRecord {
            key,
            inputs,
            outputs,
        };
        self.finish(spec.name, ins, rec, outcome.clone());
        Ok(outcome)
    }

    /// The steps run or reused so far, in order.
    pub fn reports(&self) -> &[StepReport] {
        &self.reports
    }

    fn finish(
        &mut self,
        name: String,
        inputs: Vec<InputReport>,
        rec: StepRecord,
        outcome: StepOutcome,
    ) {
        self.reports.push(StepReport {
            name: name.clone(),
            outcome,
            inputs,
            outputs: rec.outputs.clone(),
        });
        self.new.steps.insert(name.clone(), rec);
        self.phase(Phase::StepDone(name));
    }

    fn input_digests(
        &mut self,
        spec: &StepSpec,
    ) -> Result<BTreeMap<String, ContentDigest>, BundleError> {
        let mut out = BTreeMap::new();
        for (label, input) in &spec.inputs {
            let d = match input {
                Input::File(p) => self.stat.content(p)?.0,
                Input::Dir(p) => tree_digest(&mut self.stat, p)?,
                Input::Bytes(b) => ContentDigest::of_bytes(b),
                Input::Output(rel) => {
                    self.new
                        .output(rel)
                        .ok_or_else(|| BundleError::UnknownOutput {
                            step: spec.name.clone(),
                            output: rel.clone(),
                        })?
                        .sha256
                }
            };
            out.insert(label.clone(), d);
        }
        Ok(out)
    }

    /// Link a reusable step's outputs from the previous bundle into staging.
    /// Returns why they cannot be reused, if so.
    fn take_over(&mut self, rec: &StepRecord) -> Result<Option<String>, BundleError> {
        for (rel, o) in &rec.outputs {
            let from = self.target.join(rel);
            match self.stat.digest(&from) {
                Ok((d, _)) if d == o.sha256 => {}
                Ok(_) => return Ok(Some(format!("{rel} in the previous bundle was modified"))),
                Err(_) => return Ok(Some(format!("{rel} is missing from the previous bundle"))),
            }
        }
        for rel in rec.outputs.keys() {
            let from = self.target.join(rel);
            let to = self.staging.join(rel);
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir).map_err(|source| BundleError::Io {
                    path: dir.to_path_buf(),
                    what: "create",
                    source,
                })?;
            }
            // Files in a bundle are never changed in place (every write is a
            // new file), so sharing inodes with the previous bundle is safe.
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).map_err(|source| BundleError::Io {
                    path: from.clone(),
                    what: "copy from the previous bundle",
                    source,
                })?;
            }
        }
        Ok(None)
    }

    /// Finish the build: keep the previous bundle when nothing changed, else
    /// write the step records and swap the new bundle in atomically.
    pub fn commit(mut self) -> Result<Commit, BundleError> {
        self.phase(Phase::Staged);
        let unchanged = self.target.is_dir()
            && self.old.as_ref() == Some(&self.new)
            && self
                .reports
                .iter()
                .all(|r| r.outcome == StepOutcome::Reused);
        // Both are held to the end, and with them the lock; dropping an
        // unused `dir` removes the staging copy.
        let mut dir = self.dir.take();
        let mut swapped = None;
        if !unchanged {
            let manifest = self.staging.join(MANIFEST_PATH);
            let mdir = manifest.parent().expect("manifest path has a parent");
            std::fs::create_dir_all(mdir)
                .and_then(|()| std::fs::write(&manifest, self.new.to_bytes()))
                .map_err(|source| BundleError::Io {
                    path: manifest.clone(),
                    what: "write",
                    source,
                })?;
            let s = swapped.insert(dir.take().expect("committed once").swap()?);
            self.phase(Phase::Swapped);
            s.finish()?;
            self.stat.forget_under(&self.target);
        }
        for rec in self.new.steps.values() {
            for (rel, o) in &rec.outputs {
                self.stat.remember(&self.target.join(rel), o.sha256);
            }
        }
        self.stat.save();
        drop((dir, swapped));
        self.phase(Phase::Done);
        Ok(Commit {
            replaced: !unchanged,
            steps: std::mem::take(&mut self.reports),
            removed_stale: std::mem::take(&mut self.removed_stale),
            files_hashed: self.stat.hashed,
        })
    }
}

fn input_reports(spec: &StepSpec, digests: &BTreeMap<String, ContentDigest>) -> Vec<InputReport> {
    spec.inputs
        .iter()
        .map(|(label, input)| InputReport {
            label: label.clone(),
            input: input.clone(),
            sha256: digests[label],
        })
        .collect()
}

/// The key of a step: its name, version and input digests, length-prefixed
/// so no two different step descriptions hash the same bytes.
fn step_key(spec: &StepSpec, inputs: &BTreeMap<String, ContentDigest>) -> ContentDigest {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(b"measured-bundle-step-v1");
    field(spec.name.as_bytes());
    field(&spec.version.to_le_bytes());
    for (label, d) in inputs {
        field(label.as_bytes());
        field(&d.0);
    }
    ContentDigest(h.finalize().into())
}

/// The digest of a directory tree: sorted entries, each as its relative
/// path, kind and permission bits, owner, device number, modification
/// time, extended attributes, and content digest or link target: all that
/// an image build takes from a directory rootfs.
fn tree_digest(stat: &mut StatCache, root: &Path) -> Result<ContentDigest, BundleError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let io = |path: &Path, what: &'static str| {
        let path = path.to_path_buf();
        move |source| BundleError::Io { path, what, source }
    };
    let mut h = Sha256::new();
    let mut stack = vec![root.to_path_buf()];
    let mut entries = Vec::new();
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io(&dir, "list"))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io(&dir, "list"))?;
        names.sort();
        for p in names {
            let m = std::fs::symlink_metadata(&p).map_err(io(&p, "stat"))?;
            if m.is_dir() {
                stack.push(p.clone());
            }
            entries.push((p, m));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (p, m) in entries {
        let rel = p.strip_prefix(root).expect("walk stays under root");
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(m.permissions().mode().to_le_bytes());
        for n in [m.uid(), m.gid()] {
            h.update(n.to_le_bytes());
        }
        h.update(m.rdev().to_le_bytes());
        h.update(m.mtime().to_le_bytes());
        h.update(m.mtime_nsec().to_le_bytes());
        let mut names: Vec<_> = match xattr::list(&p) {
            Ok(n) => n.collect(),
            // No xattr support: none to read.
            Err(e) if e.raw_os_error() == Some(95) => Vec::new(),
            Err(e) => return Err(io(&p, "list xattrs")(e)),
        };
        names.sort();
        for n in names {
            let v = xattr::get(&p, &n).map_err(io(&p, "read xattr"))?;
            h.update(n.as_encoded_bytes());
            h.update([0]);
            h.update(v.unwrap_or_default());
            h.update([0]);
        }
        if m.is_file() {
            h.update(stat.content(&p)?.0.0);
        } else if m.file_type().is_symlink() {
            let t = std::fs::read_link(&p).map_err(io(&p, "read link"))?;
            h.update(t.as_os_str().as_encoded_bytes());
        }
        h.update([0]);
    }
    Ok(ContentDigest(h.finalize().into()))
}

/// Every regular file under `root`, bundle-relative with `/` separators,
/// except the step records.
fn list_files(root: &Path, step: &str) -> Result<BTreeSet<String>, BundleError> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|source| BundleError::Io {
            path: dir.clone(),
            what: "list",
            source,
        })?;
        for entry in rd {
            let entry = entry.map_err(|source| BundleError::Io {
                path: dir.clone(),
                what: "list",
                source,
            })?;
            let p = entry.path();
            let ft = entry.file_type().map_err(|source| BundleError::Io {
                path: p.clone(),
                what: "stat",
                source,
            })?;
            let rel = p
                .strip_prefix(root)
                .expect("walk stays under root")
                .to_string_lossy()
                .into_owned();
            if ft.is_dir() {
                if rel != ".measured" {
                    stack.push(p);
                }
            } else if ft.is_file() {
                out.insert(rel);
            } else {
                return Err(BundleError::OddFile {
                    step: step.to_string(),
                    path: p,
                });
            }
        }
    }
    Ok(out)
}
