//! Text inputs: specs (image and build), PCR value files, SecL quotes,
//! platform profiles, txt-stat output.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::super::Case;
use super::{mutated, out, put, sparse_giant};
use crate::mutation::{Hot, Rng, mutate_text};
use crate::seeds::Seeds;

const GIB: u64 = 1 << 30;

/// `n` text mutations of `seeds` as `READER-NNN-MUTATION.EXT`.
fn texts(
    reader: &str,
    seeds: &[PathBuf],
    n: usize,
    seed: u64,
    dir: &Path,
    ext: &str,
    keep: &[&str],
) -> Vec<(PathBuf, String)> {
    let mut rng = Rng::new(seed);
    let texts: Vec<String> = seeds
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    (0..n)
        .map(|i| {
            let (t, what) = mutate_text(&texts[i % texts.len()], &mut rng, keep);
            let label = format!("{i:03}-{what}");
            (
                put(dir, &format!("{reader}-{label}.{ext}"), t.as_bytes()),
                label,
            )
        })
        .collect()
}

pub fn spec(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    std::fs::create_dir_all(dir).unwrap();
    let image = put(dir, "seed-image.toml", s.specs[0].0.as_bytes());
    let build = put(dir, "seed-build.toml", s.specs[1].0.as_bytes());
    // Names that become output file names are another check's business.
    let keep = ["name", "service_tag"];
    // Every path a spec names (damaged or not), for messages that name the
    // file at fault; a bad value may be named by its field instead (the
    // guide's "names the file, the offset or field").
    let named = |c: Case| {
        c.also_naming("rootfs")
            .also_naming("bzImage")
            .also_naming("/dev/zero")
            .also_naming("/nonexistent")
            .also_naming("etc/shadow")
            .also_naming("field `")
    };
    for (seed, cmd, n, rs) in [
        (&image, "image", 22, 0x0073_7065u64),
        (&build, "build", 22, 0x0073_7066),
    ] {
        for (f, label) in texts(
            &format!("spec-{cmd}"),
            std::slice::from_ref(seed),
            n,
            rs,
            dir,
            "toml",
            &keep,
        ) {
            let o = out(dir, &format!("{cmd}-{label}"), "bundle");
            let args = if cmd == "image" {
                a!["image", "build", &f, "-o", &o]
            } else {
                a!["build", &f, "-o", &o]
            };
            v.push(named(
                Case::new(format!("spec/{cmd}-{label}"), &f, args).out(&o),
            ));
        }
    }
    // Inputs that are not regular files: a device that never ends, a FIFO
    // nobody writes, a directory.
    let fifo = dir.join("spec-fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let fifo = fifo.to_str().unwrap();
    let k = s.kernel.to_str().unwrap();
    let r = s.rootfs.to_str().unwrap();
    let swaps: Vec<(&str, &Path, String, String)> = vec![
        (
            "kernel-dev-zero",
            &image,
            format!("kernel = \"{k}\""),
            "kernel = \"/dev/zero\"".into(),
        ),
        (
            "kernel-fifo",
            &image,
            format!("kernel = \"{k}\""),
            format!("kernel = \"{fifo}\""),
        ),
        (
            "kernel-dir",
            &image,
            format!("kernel = \"{k}\""),
            "kernel = \"/\"".into(),
        ),
        (
            "rootfs-dev-zero",
            &image,
            format!("rootfs = \"{r}\""),
            "rootfs = \"/dev/zero\"".into(),
        ),
        (
            "rootfs-fifo",
            &image,
            format!("rootfs = \"{r}\""),
            format!("rootfs = \"{fifo}\""),
        ),
        (
            "initrd-fifo",
            &image,
            "initramfs = \"never\"".into(),
            format!("initrd = \"{fifo}\""),
        ),
        (
            "modules-dev-zero",
            &image,
            "initramfs = \"never\"".into(),
            "initramfs = \"never\"\nmodules = \"/dev/zero\"".into(),
        ),
        (
            "sinit-fifo",
            &build,
            format!("sinit = \"{}\"", s.sinit.display()),
            format!("sinit = \"{fifo}\""),
        ),
        (
            "tboot-dev-zero",
            &build,
            format!("tboot = \"{}\"", s.tboot.display()),
            "tboot = \"/dev/zero\"".into(),
        ),
        (
            "platform-fifo",
            &build,
            format!("platform = \"{}\"", s.platform.display()),
            format!("platform = \"{fifo}\""),
        ),
    ];
    for (name, seed, from, to) in swaps {
        let text = std::fs::read_to_string(seed).unwrap();
        assert!(text.contains(&from), "{name}: {from}");
        let f = put(
            dir,
            &format!("spec-{name}.toml"),
            text.replace(&from, &to).as_bytes(),
        );
        let o = out(dir, name, "bundle");
        let args = if *seed == *image {
            a!["image", "build", &f, "-o", &o]
        } else {
            a!["build", &f, "-o", &o]
        };
        v.push(
            named(Case::new(format!("spec/{name}"), &f, args).out(&o))
                .also_naming(fifo)
                .also_naming("/"),
        );
    }
    let giant = sparse_giant(dir, "spec-giant.toml", &image, 64 * GIB);
    let o = out(dir, "giant", "bundle");
    v.push(Case::new("spec/giant", &giant, a!["image", "build", &giant, "-o", &o]).out(&o));
    v
}

pub fn pcrs(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    for (i, (f, label)) in texts("pcrs", &s.pcrs, 24, 0x0070_6372, dir, "txt", &[])
        .into_iter()
        .enumerate()
    {
        if i % 2 == 0 {
            v.push(Case::new(
                format!("pcrs/{label}-verify"),
                &f,
                a!["log", "replay", &s.good_tcg, "--verify", &f],
            ));
        } else {
            let o = out(dir, &label, "policy.digest");
            v.push(
                Case::new(
                    format!("pcrs/{label}-policy"),
                    &f,
                    a![
                        "policy",
                        "pcr",
                        "--select",
                        "sha256:0,1",
                        "--pcrs",
                        &f,
                        "-o",
                        &o
                    ],
                )
                .out(&o),
            );
        }
    }
    // Raw binary values (`tpm2_createpolicy -f` layout), damaged.
    let raw = put(dir, "pcrs-seed.bin", &[0x11u8; 64]);
    let hot = Hot { head: 64, tail: 0 };
    for (f, label) in mutated("pcrs-bin", &[raw], 4, 0x0070_6373, hot, dir, "bin") {
        let o = out(dir, &format!("bin-{label}"), "policy.digest");
        v.push(
            Case::new(
                format!("pcrs/bin-{label}"),
                &f,
                a![
                    "policy",
                    "pcr",
                    "--select",
                    "sha256:0,1",
                    "--pcrs",
                    &f,
                    "-o",
                    &o
                ],
            )
            .out(&o),
        );
    }
    let giant = sparse_giant(dir, "pcrs-giant.json", &s.pcrs[0], 64 * GIB);
    v.push(Case::new(
        "pcrs/giant-verify",
        &giant,
        a!["log", "replay", &s.good_tcg, "--verify", &giant],
    ));
    v
}

pub fn quote(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    for (f, label) in texts("quote", &s.quote, 16, 0x0071_756f, dir, "xml", &[]) {
        v.push(Case::new(
            format!("quote/{label}"),
            &f,
            a!["drtm", "replay", &s.good_txt, "--verify", &f],
        ));
    }
    // Damage inside the base64 and the bytes it decodes to.
    let hot = Hot {
        head: 16 * 1024,
        tail: 0,
    };
    for (f, label) in mutated("quote-bin", &s.quote, 6, 0x0071_7570, hot, dir, "xml") {
        v.push(Case::new(
            format!("quote/bin-{label}"),
            &f,
            a!["drtm", "replay", &s.good_txt, "--verify", &f],
        ));
    }
    let giant = sparse_giant(dir, "quote-giant.xml", &s.quote[0], 64 * GIB);
    v.push(Case::new(
        "quote/giant",
        &giant,
        a!["drtm", "replay", &s.good_txt, "--verify", &giant],
    ));
    v
}

pub fn profile(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    for (f, label) in texts("profile", &s.profile, 18, 0x0070_726f, dir, "toml", &[]) {
        // `drtm predict` names its inputs by role ("profile: ...").
        v.push(
            Case::new(
                format!("profile/{label}"),
                &f,
                a![
                    "drtm",
                    "predict",
                    "--profile",
                    &f,
                    "--acm",
                    &s.sinit,
                    "--tboot",
                    &s.tboot
                ],
            )
            .also_naming("profile: "),
        );
    }
    let giant = sparse_giant(dir, "profile-giant.toml", &s.platform, 64 * GIB);
    v.push(Case::new(
        "profile/giant",
        &giant,
        a![
            "drtm",
            "predict",
            "--profile",
            &giant,
            "--acm",
            &s.sinit,
            "--tboot",
            &s.tboot
        ],
    ));
    v
}

pub fn txt_stat(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    for (f, label) in texts("txtstat", &s.txt_stat, 14, 0x0074_7874, dir, "txt", &[]) {
        let o = out(dir, &label, "profile.toml");
        v.push(
            Case::new(
                format!("txt_stat/{label}"),
                &f,
                a!["drtm", "capture", &s.good_txt, "--txt-stat", &f, "-o", &o],
            )
            .out(&o),
        );
    }
    let giant = sparse_giant(dir, "txtstat-giant.txt", &s.txt_stat[0], 64 * GIB);
    let o = out(dir, "giant", "profile.toml");
    v.push(
        Case::new(
            "txt_stat/giant",
            &giant,
            a![
                "drtm",
                "capture",
                &s.good_txt,
                "--txt-stat",
                &giant,
                "-o",
                &o
            ],
        )
        .out(&o),
    );
    v
}
