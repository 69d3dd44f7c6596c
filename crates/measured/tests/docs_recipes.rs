//! Every shell recipe in `docs/*.md` runs, as written, against the built
//! binary, swtpm and tpm2-tools: the docs cannot drift from the code. The
//! convention (fences, setup markers, the work directory) is in docs/recipes.md;
//! any docs file, including ones added later, is picked up.

mod launch_common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Languages whose blocks are recipes.
const SHELLS: [&str; 3] = ["sh", "bash", "shell"];

/// Setups a recipe may ask for, in the order they are applied.
const SETUPS: [&str; 4] = ["example-inputs", "eventlogs", "swtpm", "launch"];

/// One fenced shell block.
#[derive(Debug)]
struct Recipe {
    /// `docs/FILE.md:LINE` of the opening fence.
    at: String,
    /// The block's text.
    body: String,
    /// The recipe's name (`name=`), by which a dedicated test finds it.
    name: Option<String>,
    /// The test (`crates/measured/tests/TEST.rs`) that runs this recipe
    /// itself (`run-by=TEST`), between steps this file cannot express;
    /// the sequential run here skips it.
    run_by: Option<String>,
    /// Setups named by the marker before the fence.
    setup: Vec<String>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The recipes of one markdown file, or why the file breaks the convention.
fn recipes(name: &str, text: &str) -> Result<Vec<Recipe>, Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut i = 0;
    let mut prev_blank = true;
    let mut in_list = false;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            let info = info.trim();
            let start = i;
            i += 1;
            let mut body = String::new();
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                body.push_str(lines[i]);
                body.push('\n');
                i += 1;
            }
            let at = format!("docs/{name}:{}", start + 1);
            if info.is_empty() {
                errors.push(format!(
                    "{at}: a code block without a language: label it `sh` to run it as a \
                     recipe, or `text` (synopses, output), `toml`, ..."
                ));
            } else if SHELLS.contains(&info.split_whitespace().next().unwrap_or("")) {
                let mut setup = Vec::new();
                let (mut rname, mut run_by) = (None, None);
                if start > 0
                    && let Some(m) = lines[start - 1]
                        .trim()
                        .strip_prefix("<!-- recipe:")
                        .and_then(|m| m.strip_suffix("-->"))
                {
                    for part in m.split_whitespace() {
                        if let Some(list) = part.strip_prefix("setup=") {
                            setup.extend(list.split(',').map(str::to_string));
                        } else if let Some(n) = part.strip_prefix("name=") {
                            rname = Some(n.to_string());
                        } else if let Some(t) = part.strip_prefix("run-by=") {
                            run_by = Some(t.to_string());
                        } else {
                            errors.push(format!("{at}: unknown marker word {part:?}"));
                        }
                    }
                }
                if let Some(t) = &run_by {
                    match &rname {
                        None => {
                            errors.push(format!("{at}: run-by={t} needs a name= to find it by"))
                        }
                        Some(n) => {
                            let test = repo().join(format!("crates/measured/tests/{t}.rs"));
                            let runs = std::fs::read_to_string(&test)
                                .is_ok_and(|src| src.contains(&format!("\"{n}\"")));
                            if !runs {
                                errors.push(format!(
                                    "{at}: run-by={t}, but {} does not run a recipe named {n:?}",
                                    test.display()
                                ));
                            }
                        }
                    }
                }
                for s in &setup {
                    if !SETUPS.contains(&s.as_str()) {
                        errors.push(format!(
                            "{at}: unknown setup {s:?} (known: {})",
                            SETUPS.join(", ")
                        ));
                    }
                }
                out.push(Recipe {
                    at,
                    body,
                    name: rname,
                    run_by,
                    setup,
                });
            }
            i += 1;
            prev_blank = false;
            continue;
        }
        let blank = line.trim().is_empty();
        if !blank && !line.starts_with([' ', '\t']) {
            in_list = trimmed.starts_with(['-', '*', '+', '|'])
                || trimmed
                    .split_once(". ")
                    .is_some_and(|(n, _)| n.parse::<u32>().is_ok());
        }
        if !blank && prev_blank && !in_list && (line.starts_with("    ") || line.starts_with('\t'))
        {
            errors.push(format!(
                "docs/{name}:{}: an indented code block: fence it (```sh for a recipe, \
                 ```text otherwise)",
                i + 1
            ));
        }
        prev_blank = blank;
        i += 1;
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn docs() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// `shared/testdata/eventlogs`, beside the repository or in /work/shared.
fn eventlogs() -> PathBuf {
    let mut dir = std::fs::canonicalize(repo()).unwrap();
    loop {
        let c = dir.join("shared/testdata/eventlogs");
        if c.is_dir() {
            return c;
        }
        if !dir.pop() {
            return PathBuf::from("/work/shared/testdata/eventlogs");
        }
    }
}

/// The example's inputs (Debian's busybox and kernel), prepared once per test run.
fn example_inputs() -> Result<(), String> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let o = Command::new("bash")
            .arg(repo().join("scripts/example-inputs.sh"))
            .output()
            .map_err(|e| e.to_string())?;
        if o.status.success() {
            Ok(())
        } else {
            Err(format!(
                "scripts/example-inputs.sh: {}",
                String::from_utf8_lossy(&o.stderr)
            ))
        }
    })
    .clone()
}

/// Run one docs file's recipes in order in a fresh work directory.
fn run_file(name: &str, recipes: &[Recipe]) -> Result<usize, String> {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix(&format!("recipes-{name}-"))
        .tempdir_in(base)
        .unwrap();
    let work = tmp.path();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_measured")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut tpm: Option<tpm_sim::Swtpm> = None;
    for r in recipes.iter().filter(|r| r.run_by.is_none()) {
        for s in &r.setup {
            match s.as_str() {
                "example-inputs" => {
                    example_inputs()?;
                    let repo = std::fs::canonicalize(repo()).unwrap();
                    for (link, to) in [
                        ("examples", repo.join("examples")),
                        ("example-inputs", repo.join("target")),
                    ] {
                        if !work.join(link).exists() {
                            std::os::unix::fs::symlink(to, work.join(link)).unwrap();
                        }
                    }
                }
                "eventlogs" => {
                    if !work.join("eventlogs").exists() {
                        std::os::unix::fs::symlink(eventlogs(), work.join("eventlogs")).unwrap();
                    }
                }
                "swtpm" => {
                    tpm = Some(tpm_sim::Swtpm::start().map_err(|e| format!("{}: {e}", r.at))?);
                }
                "launch" => {
                    let t = tpm.as_ref().ok_or_else(|| {
                        format!("{}: setup=launch needs setup=swtpm before", r.at)
                    })?;
                    launch_common::launch(
                        t,
                        &work.join("out/svc"),
                        launch_common::Launch::AsPredicted,
                    );
                }
                other => return Err(format!("{}: unknown setup {other}", r.at)),
            }
        }
        let mut c = Command::new("bash");
        c.args([
            "--noprofile",
            "--norc",
            "-e",
            "-o",
            "pipefail",
            "-c",
            &r.body,
        ])
        .current_dir(work)
        .env("PATH", &path)
        .env("SOURCE_DATE_EPOCH", "1700000000");
        if let Some(t) = &tpm {
            c.env("TPM2TOOLS_TCTI", t.tcti());
        }
        let o = c.output().map_err(|e| format!("{}: {e}", r.at))?;
        if !o.status.success() {
            return Err(format!(
                "{} failed ({}):\n--- recipe ---\n{}--- stdout ---\n{}--- stderr ---\n{}",
                r.at,
                o.status,
                r.body,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    Ok(recipes.iter().filter(|r| r.run_by.is_none()).count())
}

#[test]
fn every_shell_recipe_in_the_docs_runs_as_written() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, text) in docs() {
        match recipes(&name, &text) {
            Err(e) => failures.extend(e),
            Ok(rs) if rs.iter().all(|r| r.run_by.is_some()) => {}
            Ok(rs) => match run_file(&name, &rs) {
                Ok(n) => ran += n,
                Err(e) => failures.push(e),
            },
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ran >= 8, "only {ran} recipes ran");
}

#[test]
fn the_convention_catches_blocks_that_would_escape_it() {
    let bad = "intro\n\n```\nmeasured vhd info x\n```\n\ntext\n\n    measured log show\n";
    let e = recipes("x.md", bad).unwrap_err();
    assert!(
        e[0].contains("docs/x.md:3") && e[0].contains("without a language"),
        "{e:?}"
    );
    assert!(
        e[1].contains("docs/x.md:9") && e[1].contains("indented"),
        "{e:?}"
    );
    let marked = "<!-- recipe: setup=swtpm,launch -->\n```sh\ntpm2_pcrread\n```\n";
    let r = recipes("y.md", marked).unwrap();
    assert_eq!(r[0].setup, ["swtpm", "launch"]);
    assert_eq!(r[0].at, "docs/y.md:2");
    let e = recipes("z.md", "<!-- recipe: setup=magic -->\n```sh\ntrue\n```\n").unwrap_err();
    assert!(e[0].contains("unknown setup \"magic\""), "{e:?}");
    // A list item's continuation is not a code block; text and toml blocks are not recipes.
    // A recipe another test runs must name itself and be found in that test.
    let by = "<!-- recipe: name=key run-by=sealing_swtpm -->\n```sh\ntrue\n```\n";
    let r = recipes("v.md", by).unwrap();
    assert_eq!(r[0].name.as_deref(), Some("key"));
    assert_eq!(r[0].run_by.as_deref(), Some("sealing_swtpm"));
    let nameless = "<!-- recipe: run-by=sealing_swtpm -->\n```sh\ntrue\n```\n";
    assert!(recipes("u.md", nameless).unwrap_err()[0].contains("needs a name="));
    let unknown = "<!-- recipe: name=no-such-recipe run-by=sealing_swtpm -->\n```sh\ntrue\n```\n";
    assert!(recipes("t.md", unknown).unwrap_err()[0].contains("does not run a recipe named"));
    let ok = "- item\n\n    more of the item\n\n```text\nmeasured X\n```\n```toml\na = 1\n```\n";
    assert!(recipes("w.md", ok).unwrap().is_empty());
}
