//! Real seed files for every reader: the fuzz corpora, the shared real
//! event logs and quote, and images, archives, logs and specs built here.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::BIN;

pub struct Seeds {
    pub dir: PathBuf,
    pub vhd: Vec<PathBuf>,
    pub ext: Vec<PathBuf>,
    /// Uncompressed tar archives (compressed per case).
    pub tar: Vec<PathBuf>,
    pub tcg: Vec<PathBuf>,
    pub txt: Vec<PathBuf>,
    pub acm: Vec<PathBuf>,
    pub policy: Vec<PathBuf>,
    pub mle: Vec<PathBuf>,
    pub quote: Vec<PathBuf>,
    pub pcrs: Vec<PathBuf>,
    pub profile: Vec<PathBuf>,
    pub txt_stat: Vec<PathBuf>,
    /// (spec text, is a `measured build` spec) with absolute paths.
    pub specs: Vec<(String, bool)>,
    /// A rootfs directory and a kernel the specs name.
    pub rootfs: PathBuf,
    pub kernel: PathBuf,
    /// A good TCG log and TXT log, for cases that mutate what goes with them.
    pub good_tcg: PathBuf,
    pub good_txt: PathBuf,
    pub sinit: PathBuf,
    pub tboot: PathBuf,
    pub platform: PathBuf,
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn run(cmd: &mut Command) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn measured(args: &[&str]) {
    run(Command::new(BIN)
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000"));
}

/// `shared/testdata`, beside the repository or in /work/shared.
fn shared(repo: &Path) -> PathBuf {
    if let Ok(d) = std::env::var("MEASURED_SHARED") {
        return Path::new(&d).join("testdata");
    }
    let mut dir = repo.to_path_buf();
    loop {
        let c = dir.join("shared/testdata");
        if c.is_dir() {
            return c;
        }
        if !dir.pop() {
            return PathBuf::from("/work/shared/testdata");
        }
    }
}

/// A minimal bzImage (`HdrS`, protocol 2.15, a version string).
fn fake_kernel() -> Vec<u8> {
    let mut b = vec![0x5a; 64 * 1024];
    b[..0x400].fill(0);
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    b[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
    let v = b"6.1.0-measured-test (t@t) #1\0";
    b[0x300..0x300 + v.len()].copy_from_slice(v);
    b
}

/// A small tree with every kind of entry the loaders know.
fn tree(root: &Path) {
    std::fs::create_dir_all(root.join("etc/sub")).unwrap();
    std::fs::write(root.join("etc/inittab"), "::sysinit:/bin/true\n").unwrap();
    std::fs::write(root.join("etc/passwd"), "root::0:0:root:/root:/bin/sh\n").unwrap();
    let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("etc/sub/indirect"), &data).unwrap();
    // Over the tar spool threshold.
    let big: Vec<u8> = (0..(1u32 << 20) + 4096).map(|i| (i % 13) as u8).collect();
    std::fs::write(root.join("big"), big).unwrap();
    std::os::unix::fs::symlink("etc/passwd", root.join("link")).unwrap();
    std::fs::hard_link(root.join("etc/passwd"), root.join("hard")).unwrap();
}

impl Seeds {
    pub fn build(dir: &Path) -> Seeds {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let corpus = repo.join("fuzz/corpus");
        let shared = shared(&repo);
        std::fs::create_dir_all(dir).unwrap();
        let p = |n: &str| dir.join(n);
        let s = |p: &Path| p.to_str().unwrap().to_string();

        // VHDs: the corpus, and images of each profile with data in them.
        let mut vhd = files(&corpus.join("vhd_open"));
        let raw = p("data.raw");
        {
            use std::os::unix::fs::FileExt;
            let f = std::fs::File::create(&raw).unwrap();
            f.set_len(6 << 20).unwrap();
            f.write_all_at(&[7u8; 5000], 100).unwrap();
            f.write_all_at(&[9u8; 512], 4 << 20).unwrap();
        }
        for profile in ["tap", "qemu", "fixed"] {
            let out = p(&format!("built-{profile}.vhd"));
            measured(&["vhd", "convert", &s(&raw), &s(&out), "--profile", profile]);
            vhd.push(out);
        }

        // ext images: the corpus, and each type built from the tree (1 KiB
        // blocks, so block maps need indirect blocks).
        let src = p("tree");
        tree(&src);
        let mut ext = files(&corpus.join("extfs_read_image"));
        for t in ["ext2", "ext3", "ext4"] {
            let out = p(&format!("built-{t}.img"));
            measured(&[
                "fs",
                "build",
                &s(&src),
                &s(&out),
                "--type",
                t,
                "--block-size",
                "1024",
            ]);
            ext.push(out);
        }

        // tar archives in each format GNU tar writes.
        let mut tar = Vec::new();
        for f in ["gnu", "posix", "ustar"] {
            let out = p(&format!("built-{f}.tar"));
            run(Command::new("tar").args([
                &format!("--format={f}"),
                "-cf",
                &s(&out),
                "-C",
                &s(&src),
                ".",
            ]));
            tar.push(out);
        }
        for t in files(&corpus.join("rootfs_tar_load")) {
            if t.extension().is_some_and(|e| e == "tar") {
                tar.push(t);
            }
        }

        let mut tcg = files(&corpus.join("tcg_parse_log"));
        let good_tcg = shared.join("eventlogs/go-tpm-tools/debian-10.bin");
        tcg.push(good_tcg.clone());
        tcg.push(shared.join("eventlogs/hirs/TpmLogSHA1.bin"));

        let txt = files(&corpus.join("txt_log"));
        let good_txt = corpus.join("txt_log/agile_embedded.log");
        let sinit = repo.join("examples/launch/sinit-synthetic.bin");
        let mut acm = files(&corpus.join("txt_acm"));
        acm.push(sinit.clone());
        let policy = files(&corpus.join("txt_tb_policy"));
        let tboot = PathBuf::from("/boot/tboot.gz");
        let mut mle = files(&corpus.join("txt_mle"));
        if tboot.is_file() {
            mle.push(tboot.clone());
        }
        let mut quote = files(&corpus.join("txt_secl_quote"));
        quote.push(shared.join("txt/sample_tpm_quote.xml"));
        let pcrs = files(&corpus.join("tcg_pcr_values"));
        let platform = repo.join("examples/launch/platform.toml");
        let mut profile = files(&corpus.join("txt_profile"));
        profile.push(platform.clone());
        let txt_stat = files(&corpus.join("txt_stat"));

        // Specs: an image spec and a build spec over a small rootfs.
        let rootfs = p("rootfs");
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::write(rootfs.join("etc/inittab"), "::sysinit:/bin/true\n").unwrap();
        let kernel = p("bzImage");
        std::fs::write(&kernel, fake_kernel()).unwrap();
        let image = format!(
            "name = \"svc\"\nrootfs = \"{}\"\nkernel = \"{}\"\ncmdline = \"root=/dev/xvda rw\"\n\
             disk_size_mib = 16\nfs_type = \"ext3\"\nformat = \"raw\"\ninitramfs = \"never\"\n\
             console = \"hvc0\"\nbaud = 115200\nmemory_mib = 128\nvcpus = 1\nvirt_type = \"pv\"\n\
             service_tag = \"svc\"\ndom0_dir = \"/storage/svc\"\n",
            s(&rootfs),
            s(&kernel)
        );
        let build = format!(
            "{image}\n[launch]\nplatform = \"{}\"\nsinit = \"{}\"\ntboot = \"{}\"\n\
             tboot_cmdline = \"logging=serial,memory extpol=embedded\"\npolicy = \"default\"\n\n\
             [[launch.modules]]\nfile = \"bundle:kernel\"\ncmdline = \"console=hvc0\"\n\n\
             [policy]\npcrs = \"sha256:17,18,19\"\n",
            s(&platform),
            s(&sinit),
            s(&tboot)
        );
        Seeds {
            dir: dir.to_path_buf(),
            vhd,
            ext,
            tar,
            tcg,
            txt,
            acm,
            policy,
            mle,
            quote,
            pcrs,
            profile,
            txt_stat,
            specs: vec![(image, false), (build, true)],
            rootfs,
            kernel,
            good_tcg,
            good_txt,
            sinit,
            tboot,
            platform,
        }
    }
}
