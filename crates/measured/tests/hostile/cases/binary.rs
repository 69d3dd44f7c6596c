//! Binary formats: VHD, ext images, TCG and TXT logs, ACMs, tboot policies,
//! MLE/ELF images.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::super::Case;
use super::{mutated, out, put, sparse_giant};
use crate::mutation::Hot;
use crate::seeds::Seeds;

const GIB: u64 = 1 << 30;

pub fn vhd(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    // Fields: footer copy, header, BAT at the start; the footer at the end.
    let hot = Hot {
        head: 8192,
        tail: 512,
    };
    for (i, (f, label)) in mutated("vhd", &s.vhd, 45, 0x0076_6864, hot, dir, "vhd")
        .into_iter()
        .enumerate()
    {
        v.push(match i % 3 {
            0 => Case::new(format!("vhd/{label}-info"), &f, a!["vhd", "info", &f]),
            1 => Case::new(format!("vhd/{label}-check"), &f, a!["vhd", "check", &f]),
            _ => {
                let o = out(dir, &label, "disk.raw");
                Case::new(
                    format!("vhd/{label}-convert"),
                    &f,
                    a!["vhd", "convert", &f, &o],
                )
                .out(&o)
            }
        });
    }
    // A header claiming 0xFFFFFFFF BAT entries in a file large enough (in
    // holes) to hold them.
    let qemu = std::fs::read(s.dir.join("built-qemu.vhd")).unwrap();
    let mut b = qemu.clone();
    let n = b.len();
    b[512 + 28..512 + 32].copy_from_slice(&u32::MAX.to_be_bytes());
    fix_header_checksum(&mut b[512..1536]);
    let bat = spread(dir, "vhd-bat-4g.vhd", &b, 17 * GIB);
    for cmd in ["info", "check"] {
        v.push(Case::new(
            format!("vhd/bat-4g-{cmd}"),
            &bat,
            a!["vhd", cmd, &bat],
        ));
    }
    let o = out(dir, "bat-4g", "disk.raw");
    v.push(Case::new("vhd/bat-4g-convert", &bat, a!["vhd", "convert", &bat, &o]).out(&o));
    // The same image, its footer 64 GiB away: a sparse giant.
    let giant = spread(dir, "vhd-giant.vhd", &qemu, 64 * GIB);
    v.push(Case::new(
        "vhd/giant-check",
        &giant,
        a!["vhd", "check", &giant],
    ));
    let _ = n;
    v
}

/// `bytes` minus its footer, then holes, then the footer at `at`.
fn spread(dir: &Path, name: &str, bytes: &[u8], at: u64) -> PathBuf {
    use std::os::unix::fs::FileExt;
    let n = bytes.len();
    let p = put(dir, name, &bytes[..n - 512]);
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.write_all_at(&bytes[n - 512..], at).unwrap();
    p
}

fn fix_header_checksum(h: &mut [u8]) {
    h[36..40].fill(0);
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[36..40].copy_from_slice(&(!sum).to_be_bytes());
}

fn debugfs_w(img: &Path, req: &str) {
    let o = Command::new("debugfs")
        .args(["-w", "-R", req, img.to_str().unwrap()])
        .output()
        .expect("debugfs (e2fsprogs, ci/install-oracles.sh)");
    assert!(o.status.success(), "debugfs {req}");
}

fn blocks(img: &Path, path: &str) -> Vec<u64> {
    let o = Command::new("debugfs")
        .args(["-R", &format!("blocks {path}"), img.to_str().unwrap()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect()
}

pub fn ext(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    let fs_cases = |v: &mut Vec<Case>, label: &str, f: &Path, i: usize| {
        v.push(match i % 3 {
            0 => Case::new(format!("ext/{label}-ls"), f, a!["fs", "ls", &f]),
            1 => Case::new(
                format!("ext/{label}-stat"),
                f,
                a!["fs", "stat", &f, "/etc/passwd"],
            ),
            _ => {
                let o = out(dir, label, "fs.img");
                Case::new(format!("ext/{label}-build"), f, a!["fs", "build", &f, &o]).out(&o)
            }
        });
    };
    // Superblock, descriptors, bitmaps and inode tables are in the first
    // blocks of these small images.
    let hot = Hot {
        head: 48 * 1024,
        tail: 0,
    };
    for (i, (f, label)) in mutated("ext", &s.ext, 45, 0x0065_7874, hot, dir, "img")
        .into_iter()
        .enumerate()
    {
        fs_cases(&mut v, &label, &f, i);
    }
    // Hand-made damage through debugfs on the ext3 image (block maps).
    let base = s.dir.join("built-ext3.img");
    let passwd = blocks(&base, "/etc/passwd")[0];
    let ind = blocks(&base, "/etc/sub/indirect")[12];
    let itable = {
        let o = Command::new("dumpe2fs").arg(&base).output().unwrap();
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        let at = t.split("Inode table at ").nth(1).unwrap().to_string();
        at.split('-').next().unwrap().trim().parse::<u64>().unwrap()
    };
    let special: Vec<(&str, Vec<String>)> = vec![
        (
            "isize-2-63",
            vec!["sif /etc/passwd size 0x8000000000000000".into()],
        ),
        ("isize-dir", vec!["sif /etc size 0x7fffffffffffffff".into()]),
        (
            "cross-linked",
            vec![format!("sif /etc/inittab block[0] {passwd}")],
        ),
        (
            "in-inode-table",
            vec![format!("sif /etc/inittab block[0] {}", itable + 2)],
        ),
        ("ind-self", vec![]), // patched below
        (
            "dind-loop",
            vec![
                format!("sif /etc/sub/indirect block[DIND] {ind}"),
                "sif /etc/sub/indirect size 400000".into(),
            ],
        ),
        ("dir-loop", vec!["ln /etc /etc/sub/loop".into()]),
        ("dir-as-file", vec!["sif /etc mode 0100644".into()]),
        ("free-inode", vec!["sif /etc/passwd links_count 0".into()]),
        (
            "block-past-end",
            vec!["sif /etc/passwd block[0] 0x7fffffff".into()],
        ),
    ];
    for (name, reqs) in special {
        let img = put(
            dir,
            &format!("ext-{name}.img"),
            &std::fs::read(&base).unwrap(),
        );
        for r in &reqs {
            debugfs_w(&img, r);
        }
        if name == "ind-self" {
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
            f.write_all_at(&(ind as u32).to_le_bytes(), ind * 1024)
                .unwrap();
        }
        for cmd in ["ls-r", "cat", "build"] {
            let label = format!("{name}-{cmd}");
            match cmd {
                "cat" => v.push(Case::new(
                    format!("ext/{label}"),
                    &img,
                    a!["fs", "cat", &img, "/etc/passwd"],
                )),
                "ls-r" => v.push(Case::new(
                    format!("ext/{label}"),
                    &img,
                    a!["fs", "ls", &img, "/etc/sub"],
                )),
                _ => fs_cases(&mut v, name, &img, 2),
            }
        }
    }
    // A chain of 2100 directories: paths past PATH_MAX.
    let deep = dir.join("ext-deep.img");
    let o = Command::new("mke2fs")
        .args([
            "-q",
            "-F",
            "-t",
            "ext2",
            "-b",
            "1024",
            "-N",
            "3000",
            deep.to_str().unwrap(),
            "8M",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "mke2fs");
    let script = dir.join("deep.debugfs");
    std::fs::write(&script, "mkdir a\ncd a\n".repeat(2100)).unwrap();
    let o = Command::new("debugfs")
        .args(["-w", "-f", script.to_str().unwrap(), deep.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "debugfs");
    fs_cases(&mut v, "deep", &deep, 2);
    // A valid image in a file of 64 GiB (holes past its blocks).
    let giant = sparse_giant(
        dir,
        "ext-giant.img",
        &s.dir.join("built-ext4.img"),
        64 * GIB,
    );
    fs_cases(&mut v, "giant", &giant, 2);
    v
}

pub fn tcg(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    let hot = Hot {
        head: 4096,
        tail: 256,
    };
    for (i, (f, label)) in mutated("tcg", &s.tcg, 40, 0x0074_6367, hot, dir, "bin")
        .into_iter()
        .enumerate()
    {
        let cmd = if i % 2 == 0 { "show" } else { "replay" };
        v.push(Case::new(
            format!("tcg/{label}-{cmd}"),
            &f,
            a!["log", cmd, &f],
        ));
    }
    // 8 MiB of all-zero events before a real one (the padding test was
    // quadratic: hours), and the same log in a 64 GiB sparse file.
    let seed = std::fs::read(&s.good_tcg).unwrap();
    let head = 32 + u32::from_le_bytes(seed[28..32].try_into().unwrap()) as usize;
    let mut b = seed[..head].to_vec();
    b.resize(head + (8 << 20), 0);
    b.extend_from_slice(&seed[head..]);
    let zeros = put(dir, "tcg-zero-events.bin", &b);
    v.push(Case::new(
        "tcg/zero-events-replay",
        &zeros,
        a!["log", "replay", &zeros],
    ));
    let giant = sparse_giant(dir, "tcg-giant.bin", &s.good_tcg, 64 * GIB);
    v.push(Case::new(
        "tcg/giant-replay",
        &giant,
        a!["log", "replay", &giant],
    ));
    let pol = out(dir, "giant-policy", "policy.digest");
    v.push(
        Case::new(
            "tcg/giant-policy-pcr",
            &giant,
            a![
                "policy", "pcr", "--select", "sha256:0", "--log", &giant, "-o", &pol
            ],
        )
        .out(&pol),
    );
    v
}

/// A TXT legacy log element of two banks whose `n` events all differ: the
/// merge needed an n x n table (14 GB for a 4.6 MB file).
fn legacy_element_of_strangers(n: usize) -> Vec<u8> {
    let record = |pcr: u32, dlen: usize, data: &[u8]| {
        let mut r = Vec::new();
        r.extend_from_slice(&pcr.to_le_bytes());
        r.extend_from_slice(&0x401u32.to_le_bytes());
        r.extend(std::iter::repeat_n(0xabu8, dlen));
        r.extend_from_slice(&(data.len() as u32).to_le_bytes());
        r.extend_from_slice(data);
        r
    };
    let mut sha1 = Vec::new();
    let mut sha256 = Vec::new();
    // The SHA-256 log opens with its TCG_LOG_DESCRIPTOR record.
    sha256.extend_from_slice(&0u32.to_le_bytes());
    sha256.extend_from_slice(&3u32.to_le_bytes());
    sha256.extend_from_slice(&[0; 20]);
    sha256.extend_from_slice(&28u32.to_le_bytes());
    sha256.extend_from_slice(b"FRMT ID EVENT00\0");
    sha256.extend_from_slice(&1u32.to_le_bytes());
    sha256.extend_from_slice(&2u32.to_le_bytes());
    sha256.extend_from_slice(&32u32.to_le_bytes());
    for i in 0..n as u64 {
        sha1.extend(record(17, 20, &(2 * i).to_le_bytes()));
        sha256.extend(record(17, 32, &(2 * i + 1).to_le_bytes()));
    }
    let mut b = Vec::new();
    b.extend_from_slice(&2u32.to_le_bytes());
    let mut at = 4 + 2 * 24;
    for (alg, log) in [(0x0004u16, &sha1), (0x000bu16, &sha256)] {
        b.extend_from_slice(&alg.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&(at as u64).to_le_bytes());
        b.extend_from_slice(&(log.len() as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(log.len() as u32).to_le_bytes());
        at += log.len();
    }
    b.extend_from_slice(&sha1);
    b.extend_from_slice(&sha256);
    b
}

pub fn txt(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    let hot = Hot {
        head: 2048,
        tail: 256,
    };
    for (i, (f, label)) in mutated("txt", &s.txt, 36, 0x0074_7874, hot, dir, "log")
        .into_iter()
        .enumerate()
    {
        if i % 2 == 0 {
            v.push(Case::new(
                format!("txt/{label}-replay"),
                &f,
                a!["drtm", "replay", &f],
            ));
        } else {
            let o = out(dir, &label, "profile.toml");
            v.push(
                Case::new(
                    format!("txt/{label}-capture"),
                    &f,
                    a!["drtm", "capture", &f, "-o", &o],
                )
                .out(&o),
            );
        }
    }
    let strangers = put(
        dir,
        "txt-strangers.bin",
        &legacy_element_of_strangers(70_000),
    );
    v.push(Case::new(
        "txt/strangers-replay",
        &strangers,
        a!["drtm", "replay", &strangers],
    ));
    let giant = sparse_giant(dir, "txt-giant.log", &s.good_txt, 64 * GIB);
    v.push(Case::new(
        "txt/giant-replay",
        &giant,
        a!["drtm", "replay", &giant],
    ));
    v
}

pub fn acm(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    let hot = Hot {
        head: 4096,
        tail: 0,
    };
    for (f, label) in mutated("acm", &s.acm, 20, 0x0061_636d, hot, dir, "bin") {
        v.push(Case::new(format!("acm/{label}"), &f, a!["drtm", "acm", &f]));
    }
    let giant = sparse_giant(dir, "acm-giant.bin", &s.sinit, 64 * GIB);
    v.push(Case::new("acm/giant", &giant, a!["drtm", "acm", &giant]));
    v
}

pub fn policy(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    let hot = Hot {
        head: 256,
        tail: 64,
    };
    for (f, label) in mutated("policy", &s.policy, 20, 0x0070_6f6c, hot, dir, "pol") {
        v.push(Case::new(
            format!("policy/{label}-show"),
            &f,
            a!["drtm", "policy-show", &f],
        ));
    }
    // Through a prediction too.
    let (f, label) =
        mutated("policy", &s.policy, 1, 0x0070_6f6d, hot, dir, "predict.pol").remove(0);
    v.push(
        Case::new(
            format!("policy/{label}-predict"),
            &f,
            a![
                "drtm",
                "predict",
                "--profile",
                &s.platform,
                "--acm",
                &s.sinit,
                "--tboot",
                &s.tboot,
                "--policy",
                &f,
            ],
        )
        .also_naming("tb_policy: "),
    );
    v
}

pub fn mle(s: &Seeds, dir: &Path) -> Vec<Case> {
    let mut v = Vec::new();
    let hot = Hot {
        head: 4096,
        tail: 64,
    };
    for (f, label) in mutated("mle", &s.mle, 20, 0x006d_6c65, hot, dir, "elf") {
        v.push(Case::new(
            format!("mle/{label}"),
            &f,
            a!["drtm", "mlehash", &f],
        ));
    }
    // A gzip bomb: 1 GiB of zeros as concatenated gzip members.
    let zeros = put(dir, "mle-zeros", &vec![0u8; 1 << 20]);
    let member = Command::new("gzip")
        .args(["-c", "-9"])
        .arg(&zeros)
        .output()
        .unwrap()
        .stdout;
    let bomb: Vec<u8> = std::iter::repeat_n(member, 1024).flatten().collect();
    let bomb = put(dir, "mle-bomb.gz", &bomb);
    v.push(Case::new(
        "mle/gzip-bomb",
        &bomb,
        a!["drtm", "mlehash", &bomb],
    ));
    if s.tboot.is_file() {
        let giant = sparse_giant(dir, "mle-giant.gz", &s.tboot, 64 * GIB);
        v.push(Case::new(
            "mle/giant",
            &giant,
            a!["drtm", "mlehash", &giant],
        ));
    }
    v
}
