//! `measured manpages DIR`: one man page per command, generated from the
//! clap definitions, so `man measured-vhd-create` says what `--help` says.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Write `measured.1` and `measured-SUB[-SUB...].1` for every subcommand into
/// `dir` (created if missing), each through a temporary file and a rename.
/// Returns the pages written.
pub fn write_all(mut root: clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    // Subcommands are defined lazily (`defer`): define them all.
    root.build();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let bin = root.get_name().to_string();
    let mut todo = vec![(bin.clone(), bin, root)];
    while let Some((name, invocation, cmd)) = todo.pop() {
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            // The page is `measured-vhd-create`; its synopsis reads as typed.
            let page = format!("{name}-{}", sub.get_name());
            let typed = format!("{invocation} {}", sub.get_name());
            let sub = sub
                .clone()
                .display_name(page.clone())
                .bin_name(typed.clone());
            todo.push((page, typed, sub));
        }
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .with_context(|| format!("rendering the page of {name}"))?;
        let path = dir.join(format!("{name}.1"));
        outputs::write_file(&path, &page).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    written.sort();
    Ok(written)
}
