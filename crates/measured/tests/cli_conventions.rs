//! Conventions every subcommand shares: `--json` errors (argument errors too)
//! are JSON on stdout; `-p` draws progress bars even when stderr is piped, and
//! nothing is drawn there without it.

use std::process::{Command, Output};

fn measured(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_measured"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn with_json_argument_errors_are_json_on_stdout_and_exit_2() {
    for args in [
        &["--json", "bogus"][..],
        &["--json", "policy", "tpm12", "--pcrs", "x"],
        &[
            "policy", "pcr", "--json", "--pcrs", "x", "--select", "sha256:1", "--alg", "md5",
        ],
        &["--json", "log", "hash"],
        &["--json", "vhd", "create", "1M"],
        &["--json", "log", "replay", "--no-such-flag"],
    ] {
        let o = measured(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            o.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&o.stdout)
            )
        });
        assert_eq!(v["exit"], 2, "{v}");
        assert!(!v["error"].as_str().unwrap().is_empty(), "{v}");
        // The same line without --json: text on stderr, nothing on stdout.
        let plain: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
        let o = measured(&plain);
        assert_eq!(o.status.code(), Some(2), "{plain:?}");
        assert!(o.stdout.is_empty(), "{plain:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("error"),
            "{plain:?}"
        );
    }
    // --help and --version still print as usual, exit 0.
    let o = measured(&["--json", "--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("measured "));
}

#[test]
fn dash_p_draws_bars_on_a_piped_stderr_and_nothing_is_drawn_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("big.bin");
    std::fs::File::create(&f)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let f = f.to_str().unwrap();
    let o = measured(&["-p", "log", "hash", f]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("hashing") && err.contains("16.00 MiB"),
        "{err}"
    );
    let o = measured(&["log", "hash", f]);
    assert!(o.status.success());
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = measured(&["-p", "-q", "log", "hash", f]);
    assert_eq!(o.status.code(), Some(2), "-p and -q conflict");
}

/// The subcommands `measured ARGS --help` lists.
fn subcommands(args: &[&str]) -> Vec<String> {
    let mut a = args.to_vec();
    a.push("--help");
    let o = measured(&a);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let Some(start) = text.find("Commands:") else {
        return vec![];
    };
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A command line is `  name  description`; wrapped description lines are deeper.
        .filter(|l| !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn manpages_writes_a_page_per_command_that_man_finds_and_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man1");
    let o = measured(&["manpages", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Every command and subcommand `--help` lists has its page.
    let mut want = vec!["measured".to_string()];
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        for sub in subcommands(&args) {
            let mut p = path.clone();
            p.push(sub);
            want.push(format!("measured-{}", p.join("-")));
            todo.push(p);
        }
    }
    assert!(want.len() > 30, "{want:?}");
    for page in &want {
        // Found the way an installed page is: by name, under a man1 directory.
        let o = Command::new("man")
            .args(["-M", tmp.path().to_str().unwrap(), "-w", page])
            .output()
            .unwrap();
        assert!(o.status.success(), "man cannot find {page}");
        let o = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.join(format!("{page}.1")))
            .output()
            .unwrap();
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let create = std::fs::read_to_string(dir.join("measured-vhd-create.1")).unwrap();
    assert!(
        create.contains("subformat"),
        "the page carries the clap help"
    );
    // The README documents the command that installs them.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(
        readme.contains("measured manpages"),
        "README does not say how to install the man pages"
    );
}

#[test]
fn completions_offer_every_subcommand_and_its_help() {
    let o = measured(&["completions", "bash"]);
    assert!(o.status.success());
    let script = String::from_utf8(o.stdout).unwrap();
    let mut pairs = 0;
    for group in subcommands(&[]) {
        for sub in subcommands(&[&group]) {
            // `measured GROUP SUB` and `measured help GROUP SUB` both complete:
            // the groups' subcommands are defined on demand (clap `defer`), and
            // the tree under `help` must still hold them.
            for prefix in ["measured__subcmd__", "measured__subcmd__help__subcmd__"] {
                let case = format!("{prefix}{group},{sub})");
                assert!(script.contains(&case), "no completion case {case}");
            }
            pairs += 1;
        }
    }
    assert!(pairs > 25, "{pairs} subcommands");
}
