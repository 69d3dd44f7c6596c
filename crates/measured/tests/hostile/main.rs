//! The hostile suite: hundreds of generated hostile inputs over every reader
//! and spec (truncations, bit flips, lying counts, offsets and sizes, loops,
//! path traversal, huge sparse files and members, decompression bombs), each
//! run through the binary with a memory and time limit. Every run must end
//! in exit 0 (a mutation can leave a valid input), 1, 2 or 3, never a panic,
//! a signal or a timeout; a failure must name the hostile file; and a failed
//! run leaves no output (nor temporaries beside it).
//!
//! Cases come from real seeds (the fuzz corpora, the shared event logs,
//! images and logs built here) through seeded mutations, so every run tries
//! the same cases. `HOSTILE_FILTER=vhd` runs the cases whose name contains
//! it; `HOSTILE_KEEP=1` keeps the scratch directory.

/// Arguments for a case: anything that is an `OsStr`.
macro_rules! a {
    ($($x:expr),* $(,)?) => {
        vec![$(std::ffi::OsString::from(AsRef::<std::ffi::OsStr>::as_ref(&$x))),*]
    };
}

mod cases;
mod mutation;
mod seeds;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_measured");
/// Address space per run (KiB): a run that sizes memory by a lying field,
/// or reads a sparse terabyte whole, fails against it.
const MEM_KIB: u64 = 4 << 20;
/// CPU seconds per run, and wall seconds before it is killed.
const CPU_SECS: u64 = 60;
const WALL: Duration = Duration::from_secs(120);
/// Largest file a run may write (KiB): a run writing gigabytes it was not
/// given fails (EFBIG, exit 3) instead of filling the disk.
const FSIZE_KIB: u64 = 1 << 20;
/// Runs at once.
const JOBS: usize = 4;

/// One run of the binary on a hostile input.
pub struct Case {
    /// `reader/what`, unique.
    pub name: String,
    pub args: Vec<OsString>,
    /// Names one of which a failure's message must contain (the hostile
    /// file's, or for a spec the files it names).
    pub needles: Vec<String>,
    /// The output the command would write: it must not exist after a
    /// failure, and its directory must hold nothing else.
    pub out: Option<PathBuf>,
}

impl Case {
    pub fn new(name: impl Into<String>, input: &Path, args: Vec<OsString>) -> Case {
        let file = input.file_name().unwrap().to_string_lossy().into_owned();
        Case {
            name: name.into(),
            args,
            needles: vec![file],
            out: None,
        }
    }
    pub fn out(mut self, out: &Path) -> Case {
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        self.out = Some(out.to_path_buf());
        self
    }
    pub fn also_naming(mut self, n: &str) -> Case {
        self.needles.push(n.to_string());
        self
    }
}

enum Outcome {
    Accepted,
    Refused,
    Failed(String),
}

fn run(c: &Case) -> Outcome {
    let script = format!(
        "trap '' XFSZ; ulimit -v {MEM_KIB} && ulimit -t {CPU_SECS} && ulimit -f {FSIZE_KIB} && exec \"$0\" \"$@\""
    );
    let mut child = match Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .args(&c.args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(ch) => ch,
        Err(e) => return Outcome::Failed(format!("spawn: {e}")),
    };
    // Read both pipes on threads so a chatty child never blocks; keep the
    // first megabyte of stderr.
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 65536];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if kept.len() < 1 << 20 {
                    kept.extend_from_slice(&buf[..n]);
                }
            }
            kept
        })
    };
    let out_reader = drain(Box::new(child.stdout.take().unwrap()));
    let reader = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > WALL => {
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::Failed(format!("timed out after {WALL:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Outcome::Failed(format!("wait: {e}")),
        }
    };
    let stderr = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    let _ = out_reader.join();
    let tail = || {
        stderr
            .chars()
            .rev()
            .take(600)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
    };
    let Some(code) = status.code() else {
        use std::os::unix::process::ExitStatusExt;
        return Outcome::Failed(format!(
            "killed by signal {:?}: {}",
            status.signal(),
            tail()
        ));
    };
    match code {
        0 => Outcome::Accepted,
        1..=3 => {
            // Exit 1 is a check that ran and found a problem (a PCR
            // mismatch, violations): its report says what differs. A refusal
            // (2, 3) must name the file at fault.
            if code != 1 && !c.needles.iter().any(|n| stderr.contains(n.as_str())) {
                return Outcome::Failed(format!(
                    "exit {code} without naming {:?}: {}",
                    c.needles,
                    tail()
                ));
            }
            if let Some(out) = &c.out {
                if code != 1 && out.exists() {
                    return Outcome::Failed(format!("exit {code} left {}", out.display()));
                }
                let dir = out.parent().unwrap();
                let left: Vec<_> = std::fs::read_dir(dir)
                    .map(|d| d.flatten().map(|e| e.file_name()).collect())
                    .unwrap_or_default();
                if code != 1 && !left.is_empty() {
                    return Outcome::Failed(format!(
                        "exit {code} left {left:?} in {}",
                        dir.display()
                    ));
                }
            }
            Outcome::Refused
        }
        _ => Outcome::Failed(format!("exit {code}: {}", tail())),
    }
}

#[test]
fn hostile_inputs_fail_cleanly_within_limits() {
    let scratch = tempfile::Builder::new()
        .prefix("measured-hostile-")
        .tempdir()
        .unwrap();
    let root = scratch.path();
    let seeds = seeds::Seeds::build(&root.join("seeds"));
    let mut all = cases::all(&seeds, &root.join("cases"));
    if let Ok(f) = std::env::var("HOSTILE_FILTER") {
        all.retain(|c| c.name.contains(&f));
    }
    let names: std::collections::BTreeSet<_> = all.iter().map(|c| &c.name).collect();
    assert_eq!(names.len(), all.len(), "case names are unique");

    let queue = Mutex::new(all.iter().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..JOBS {
            s.spawn(|| {
                loop {
                    let Some(c) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let t = Instant::now();
                    let o = run(c);
                    results
                        .lock()
                        .unwrap()
                        .push((c.name.clone(), o, t.elapsed()));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));

    // Per reader: cases, accepted, refused (clean errors), failures.
    let mut table: std::collections::BTreeMap<String, [usize; 4]> = Default::default();
    let mut failures = Vec::new();
    for (name, o, _) in &results {
        let reader = name.split('/').next().unwrap().to_string();
        let row = table.entry(reader).or_default();
        row[0] += 1;
        match o {
            Outcome::Accepted => row[1] += 1,
            Outcome::Refused => row[2] += 1,
            Outcome::Failed(why) => {
                row[3] += 1;
                failures.push(format!("{name}: {why}"));
            }
        }
    }
    eprintln!(
        "{:<12} {:>6} {:>9} {:>13} {:>8}",
        "reader", "cases", "accepted", "clean errors", "failed"
    );
    let mut total = [0usize; 4];
    for (r, row) in &table {
        eprintln!(
            "{r:<12} {:>6} {:>9} {:>13} {:>8}",
            row[0], row[1], row[2], row[3]
        );
        for i in 0..4 {
            total[i] += row[i];
        }
    }
    eprintln!(
        "{:<12} {:>6} {:>9} {:>13} {:>8}",
        "total", total[0], total[1], total[2], total[3]
    );
    let mut slow: Vec<_> = results.iter().map(|(n, _, t)| (*t, n)).collect();
    slow.sort();
    for (t, n) in slow.iter().rev().take(5) {
        eprintln!("slowest: {n} {t:?}");
    }
    if std::env::var_os("HOSTILE_KEEP").is_some() {
        eprintln!("kept {}", scratch.keep().display());
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        total[0],
        failures.join("\n")
    );
    if std::env::var_os("HOSTILE_FILTER").is_none() {
        assert!(total[0] >= 300, "only {} cases", total[0]);
        assert!(
            total[2] * 2 >= total[0],
            "most hostile inputs must be refused: {total:?}"
        );
    }
}
