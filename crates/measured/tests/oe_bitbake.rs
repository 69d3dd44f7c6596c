//! `contrib/oe/measured-image.bbclass` under real bitbake and OE-Core (the
//! pinned snapshots in shared/oe): a tiny layer's image recipes with
//! `IMAGE_FSTYPES = "... measured"` parse through `image.bbclass`'s own
//! type handling; the task runs after the rootfs type actually built
//! (ext4, tar.xz), depends on the kernel, on tboot only when a launch is
//! asked for and on the native tool only when no binary is named; every
//! build-host input is in the task's file checksums (bitbake's own
//! checksum of the platform profile changes when it does). Then the
//! expanded `do_image_measured`, as bitbake would write it to
//! `run.do_image_measured`, runs on an OE-shaped deploy directory and
//! writes the bundle with its PCR prediction.

mod image_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use image_common::*;

/// `shared/oe` beside the repository (or an ancestor), else /work/shared/oe.
fn shared_oe() -> PathBuf {
    let mut dir = repo().canonicalize().unwrap();
    loop {
        let c = dir.join("shared/oe");
        if c.join("README.md").exists() {
            return c;
        }
        if !dir.pop() {
            return PathBuf::from("/work/shared/oe");
        }
    }
}

/// bitbake and OE-Core unpacked once into target/testdata/oe.
fn oe_sources() -> PathBuf {
    let dest = repo().join("target/testdata/oe");
    let snapshots = shared_oe();
    let script = format!(
        "set -e; mkdir -p '{d}'; exec 9>'{d}/.lock'; flock 9; \
         if [ ! -f '{d}/.complete' ]; then \
           rm -rf '{d}/bitbake' '{d}/openembedded-core'; \
           for t in '{s}'/bitbake-*.tar.zst '{s}'/openembedded-core-*.tar.zst; do tar --zstd -C '{d}' -xf \"$t\"; done; \
           touch '{d}/.complete'; \
         fi",
        d = dest.display(),
        s = snapshots.display()
    );
    let st = Command::new("sh").arg("-c").arg(&script).status().unwrap();
    assert!(
        st.success(),
        "unpacking the OE snapshots from {}",
        snapshots.display()
    );
    dest
}

/// A build directory and a test layer holding the class and `recipes`.
fn setup(root: &Path, recipes: &[(&str, String)]) -> PathBuf {
    let oe = oe_sources();
    let core = oe.join("openembedded-core/meta");
    let layer = root.join("meta-test");
    let build = root.join("build");
    for d in ["conf", "classes", "recipes-test/images"] {
        std::fs::create_dir_all(layer.join(d)).unwrap();
    }
    std::fs::create_dir_all(build.join("conf")).unwrap();
    std::fs::copy(
        repo().join("contrib/oe/measured-image.bbclass"),
        layer.join("classes/measured-image.bbclass"),
    )
    .unwrap();
    let series = std::fs::read_to_string(core.join("conf/layer.conf"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("LAYERSERIES_CORENAMES = ")
                .map(str::to_string)
        })
        .expect("LAYERSERIES_CORENAMES in OE-Core");
    std::fs::write(
        layer.join("conf/layer.conf"),
        format!(
            "BBPATH .= \":${{LAYERDIR}}\"\nBBFILES += \"${{LAYERDIR}}/recipes-*/*/*.bb\"\n\
             BBFILE_COLLECTIONS += \"measuredtest\"\nBBFILE_PATTERN_measuredtest = \"^${{LAYERDIR}}/\"\n\
             BBFILE_PRIORITY_measuredtest = \"6\"\nLAYERSERIES_COMPAT_measuredtest = {series}\n"
        ),
    )
    .unwrap();
    for (name, body) in recipes {
        std::fs::write(layer.join("recipes-test/images").join(name), body).unwrap();
    }
    std::fs::write(
        build.join("conf/bblayers.conf"),
        format!(
            "BBPATH = \"${{TOPDIR}}\"\nBBFILES ?= \"\"\nBBLAYERS = \"{} {}\"\n",
            core.display(),
            layer.display()
        ),
    )
    .unwrap();
    // The settings shared/oe/README.md gives for a parse on these machines.
    std::fs::write(
        build.join("conf/local.conf"),
        "MACHINE = \"qemux86-64\"\nDISTRO = \"\"\nBB_HASHSERVE = \"\"\n\
         BB_SIGNATURE_HANDLER = \"OEBasicHash\"\nINHERIT:remove = \"sanity\"\n\
         CONNECTIVITY_CHECK_URIS = \"\"\nHOSTTOOLS:remove = \"chrpath diffstat gawk\"\n",
    )
    .unwrap();
    build
}

/// Parse `recipes` with tinfoil (bitbake's API) and report, per recipe,
/// the image task's flags, bitbake's checksums of its file inputs, some
/// variables, and the task as bitbake emits it for running.
const DRIVER: &str = r#"
import io, json, os, sys
sys.path.insert(0, sys.argv[1])
import bb.tinfoil, bb.data, bb.fetch2
out = {}
with bb.tinfoil.Tinfoil() as t:
    t.prepare(config_only=True)
    for recipe in sys.argv[2:]:
        d = t.parse_recipe_file(recipe)
        f = io.StringIO()
        bb.data.emit_func('do_image_measured', f, d)
        fc = d.getVarFlag('do_image_measured', 'file-checksums') or ''
        out[os.path.basename(recipe)] = {
            'task': d.getVar('do_image_measured') is not None,
            'deps': d.getVarFlag('do_image_measured', 'deps'),
            'depends': d.getVarFlag('do_image_measured', 'depends'),
            'file_checksums': fc,
            'checksums': dict(bb.fetch2.get_file_checksums(fc, d.getVar('PN'), set())),
            'vars': {v: d.getVar(v) for v in ['IMAGE_NAME', 'IMGDEPLOYDIR', 'DEPLOY_DIR_IMAGE',
                'MACHINE', 'KERNEL_IMAGETYPE', 'MEASURED_ROOTFS', 'MEASURED_ROOTFS_TYPE',
                'MEASURED_FS_TYPE', 'WORKDIR', 'IMAGE_TYPES', 'IMAGE_TYPEDEP:measured']},
            'script': f.getvalue(),
        }
print('@@JSON@@' + json.dumps(out))
"#;

fn tinfoil(build: &Path, recipes: &[PathBuf]) -> serde_json::Value {
    let driver = build.join("driver.py");
    std::fs::write(&driver, DRIVER).unwrap();
    let out = Command::new("python3")
        .arg(&driver)
        .arg(oe_sources().join("bitbake/lib"))
        .args(recipes)
        .current_dir(build)
        // bitbake insists on this locale (ci/install-oracles.sh makes it).
        .env("LANG", "en_US.UTF-8")
        .env("LC_ALL", "en_US.UTF-8")
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    let json = text
        .lines()
        .find_map(|l| l.strip_prefix("@@JSON@@"))
        .unwrap_or_else(|| {
            panic!(
                "bitbake parse failed:\n{text}\n{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(build.join("bitbake-cookerdaemon.log"))
                    .unwrap_or_default()
                    .lines()
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
    serde_json::from_str(json).unwrap()
}

fn words(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => s.split_whitespace().map(String::from).collect(),
        serde_json::Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        _ => Vec::new(),
    }
}

/// The kernel's modules a VM needs to reach its root disk, as the kernel
/// recipe deploys them (`modules-<machine>.tgz` holding lib/modules/<rel>).
fn modules_tgz(dir: &Path, release: &str, out: &Path) {
    let src = debian_root().join("lib/modules").join(release);
    let dst = dir.join("mods/lib/modules").join(release);
    for m in [
        "kernel/drivers/block/virtio_blk.ko",
        "kernel/drivers/block/xen-blkfront.ko",
        "kernel/drivers/char/virtio_console.ko",
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio_pci.ko",
        "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
        "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
        "modules.builtin",
        "modules.order",
    ] {
        std::fs::create_dir_all(dst.join(m).parent().unwrap()).unwrap();
        std::fs::copy(src.join(m), dst.join(m)).unwrap();
    }
    let st = Command::new("tar")
        .arg("-C")
        .arg(dir.join("mods"))
        .arg("-czf")
        .arg(out)
        .arg("lib")
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn image_type_parses_follows_the_rootfs_and_its_expanded_task_builds_the_bundle() {
    let t = tempfile::tempdir().unwrap();
    let inputs = t.path().join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    let platform = inputs.join("platform.toml");
    let sinit = inputs.join("sinit.bin");
    std::fs::copy(repo().join("examples/launch/platform.toml"), &platform).unwrap();
    std::fs::copy(repo().join("examples/launch/sinit-synthetic.bin"), &sinit).unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_measured"));
    let launch = format!(
        "SUMMARY = \"service VM\"\nLICENSE = \"MIT\"\ninherit core-image measured-image\n\
         IMAGE_FSTYPES = \"ext4 measured\"\nMEASURED_BIN = \"{}\"\n\
         MEASURED_PLATFORM = \"{}\"\nMEASURED_SINIT = \"{}\"\nMEASURED_DISK_SIZE = \"64\"\n\
         MEASURED_TBOOT_CMDLINE = \"logging=serial,memory extpol=embedded\"\n",
        bin.display(),
        platform.display(),
        sinit.display()
    );
    let plain = "SUMMARY = \"service VM\"\nLICENSE = \"MIT\"\ninherit core-image measured-image\n\
                 IMAGE_FSTYPES = \"tar.xz measured\"\n"
        .to_string();
    let build = setup(
        t.path(),
        &[("svc-image.bb", launch), ("svc-tar-image.bb", plain)],
    );
    let recipes: Vec<PathBuf> = ["svc-image.bb", "svc-tar-image.bb"]
        .iter()
        .map(|r| t.path().join("meta-test/recipes-test/images").join(r))
        .collect();
    let info = tinfoil(&build, &recipes);

    // The launch image: after do_image_ext4; kernel and tboot deployed
    // first; the tool, platform and SINIT in the signature.
    let a = &info["svc-image.bb"];
    assert_eq!(a["task"], true, "image.bbclass made no do_image_measured");
    assert!(
        words(&a["deps"]).contains(&"do_image_ext4".into()),
        "{}",
        a["deps"]
    );
    let depends = words(&a["depends"]);
    assert!(
        depends.contains(&"virtual/kernel:do_deploy".into()),
        "{depends:?}"
    );
    assert!(depends.contains(&"tboot:do_deploy".into()), "{depends:?}");
    assert!(
        !depends.iter().any(|d| d.starts_with("measured-native")),
        "{depends:?}"
    );
    let sums = a["checksums"].as_object().unwrap();
    for f in [&bin, &platform, &sinit] {
        assert!(
            sums.contains_key(f.to_str().unwrap()),
            "{} not in {sums:?}",
            f.display()
        );
    }
    assert!(words(&a["vars"]["IMAGE_TYPES"]).contains(&"measured".into()));
    assert_eq!(a["vars"]["MEASURED_ROOTFS_TYPE"], "ext4");

    // The tar image: the rootfs type actually built, the native tool, no tboot.
    let b = &info["svc-tar-image.bb"];
    assert_eq!(b["vars"]["IMAGE_TYPEDEP:measured"], "tar.xz");
    assert!(
        words(&b["deps"]).contains(&"do_image_tar".into()),
        "{}",
        b["deps"]
    );
    let depends = words(&b["depends"]);
    assert!(
        depends.contains(&"measured-native:do_populate_sysroot".into()),
        "{depends:?}"
    );
    assert!(!depends.contains(&"tboot:do_deploy".into()), "{depends:?}");
    assert!(
        b["vars"]["MEASURED_ROOTFS"]
            .as_str()
            .unwrap()
            .ends_with(".tar.xz")
    );
    assert_eq!(b["vars"]["MEASURED_FS_TYPE"], "ext4");

    // Run the expanded task on an OE-shaped deploy directory.
    let v = &a["vars"];
    let s = |k: &str| PathBuf::from(v[k].as_str().unwrap());
    let (imgdeploy, deploy) = (s("IMGDEPLOYDIR"), s("DEPLOY_DIR_IMAGE"));
    std::fs::create_dir_all(&imgdeploy).unwrap();
    std::fs::create_dir_all(&deploy).unwrap();
    let tree = t.path().join("rootfs");
    oe_rootfs(&tree);
    let rootfs = s("MEASURED_ROOTFS");
    let st = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&tree)
        .arg(&rootfs)
        .arg("24M")
        .status()
        .unwrap();
    assert!(st.success());
    let (kernel, release) = kernel();
    std::fs::copy(&kernel, deploy.join("bzImage")).unwrap();
    modules_tgz(t.path(), &release, &deploy.join("modules-qemux86-64.tgz"));
    std::fs::copy("/boot/tboot.gz", deploy.join("tboot.gz"))
        .expect("/boot/tboot.gz (tboot, ci/install-oracles.sh)");
    let run = build.join("run.do_image_measured");
    let script = format!(
        "#!/bin/sh\nset -e\n{}\ncd '{}'\ndo_image_measured\n",
        a["script"].as_str().unwrap(),
        imgdeploy.display()
    );
    std::fs::write(&run, script).unwrap();
    let out = Command::new("sh")
        .arg(&run)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "do_image_measured failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle = imgdeploy.join(format!("{}.measured", v["IMAGE_NAME"].as_str().unwrap()));
    for f in [
        "bundle.json",
        "pcrs.json",
        "svc-image.vhd",
        "txt-eventlog.bin",
    ] {
        assert!(
            bundle.join(f).is_file(),
            "{f} missing in {}",
            bundle.display()
        );
    }
    let spec =
        std::fs::read_to_string(s("WORKDIR").join("measured/svc-image.measured.toml")).unwrap();
    assert!(
        spec.contains("modules-qemux86-64.tgz") && spec.contains("[launch]"),
        "{spec}"
    );

    // A changed platform profile changes bitbake's checksum of the task's
    // inputs, so the image rebuilds; the others stay.
    let before = sums.clone();
    let mut p = std::fs::read_to_string(&platform).unwrap();
    p.push_str("\n# edited\n");
    std::fs::write(&platform, p).unwrap();
    let again = tinfoil(&build, &recipes[..1]);
    let after = again["svc-image.bb"]["checksums"].as_object().unwrap();
    let key = |f: &Path| f.to_str().unwrap().to_string();
    assert_ne!(after[&key(&platform)], before[&key(&platform)]);
    assert_eq!(after[&key(&sinit)], before[&key(&sinit)]);
}
