//! The cases, reader by reader: mutated seeds run through every command
//! that reads them, and hand-made inputs for what mutations rarely reach.

mod archive;
mod binary;
mod text;

use std::path::{Path, PathBuf};

use super::Case;
use super::mutation::{Hot, Rng, mutate};
use super::seeds::Seeds;

pub fn all(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(binary::vhd(s, &dir.join("vhd")));
    v.extend(binary::ext(s, &dir.join("ext")));
    v.extend(binary::tcg(s, &dir.join("tcg")));
    v.extend(binary::txt(s, &dir.join("txt")));
    v.extend(binary::acm(s, &dir.join("acm")));
    v.extend(binary::policy(s, &dir.join("policy")));
    v.extend(binary::mle(s, &dir.join("mle")));
    v.extend(archive::tar(s, &dir.join("tar")));
    v.extend(archive::dir(s, &dir.join("dir")));
    v.extend(text::spec(s, &dir.join("spec")));
    v.extend(text::pcrs(s, &dir.join("pcrs")));
    v.extend(text::quote(s, &dir.join("quote")));
    v.extend(text::profile(s, &dir.join("profile")));
    v.extend(text::txt_stat(s, &dir.join("txt_stat")));
    v
}

/// Write a case's hostile file.
pub fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `n` mutated copies of `seeds` (taken in turn), written to `dir` as
/// `READER-NNN-MUTATION.EXT`; returns each path with its label.
pub fn mutated(
    reader: &str,
    seeds: &[PathBuf],
    n: usize,
    seed: u64,
    hot: Hot,
    dir: &Path,
    ext: &str,
) -> Vec<(PathBuf, String)> {
    let mut rng = Rng::new(seed);
    let bytes: Vec<Vec<u8>> = seeds.iter().map(|p| std::fs::read(p).unwrap()).collect();
    (0..n)
        .map(|i| {
            let (b, what) = mutate(&bytes[i % bytes.len()], &mut rng, hot);
            let label = format!("{i:03}-{what}");
            (put(dir, &format!("{reader}-{label}.{ext}"), &b), label)
        })
        .collect()
}

/// A copy of `seed` grown to `len` bytes of holes: a file that claims a lot
/// and holds little, for readers that take a file whole.
pub fn sparse_giant(dir: &Path, name: &str, seed: &Path, len: u64) -> PathBuf {
    let p = put(dir, name, &std::fs::read(seed).unwrap());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len)
        .unwrap();
    p
}

/// The output path of a case: `dir/out-NAME/FILE`, its directory empty.
pub fn out(dir: &Path, name: &str, file: &str) -> PathBuf {
    dir.join(format!("out-{name}")).join(file)
}
