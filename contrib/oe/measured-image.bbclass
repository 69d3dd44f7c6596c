# measured-image.bbclass: the "measured" image type, a measured Xen
# service-VM bundle built by `measured build` from this image's own rootfs.
#
#   inherit measured-image              (or IMAGE_CLASSES += "measured-image")
#   IMAGE_FSTYPES += "measured"
#
# Like every OE image type: IMAGE_CMD:measured runs in do_image_measured,
# after the rootfs type it is built from (IMAGE_TYPEDEP:measured, the first
# ext2/3/4 or tar type in IMAGE_FSTYPES), and writes
# ${IMGDEPLOYDIR}/${IMAGE_NAME}.measured (the bundle directory: VHD, VM
# definitions, pcrs.json, policy/, predicted TXT event log), linked as
# ${IMAGE_LINK_NAME}.measured and deployed with the image.
#
# Every variable is documented in docs/build.md ("OpenEmbedded").

# An :append, as image_types.bbclass (inherited later, deferred) assigns it.
IMAGE_TYPES:append = " measured"

# The measured binary: a path on the build host. Empty: `measured` from the
# native sysroot, installed by the recipe MEASURED_NATIVE.
MEASURED_BIN ?= ""
MEASURED_NATIVE ?= "measured-native"
# A complete spec to use as is; empty: one is written from the variables below.
MEASURED_SPEC ?= ""
# The image type the service VM boots, built before this one.
MEASURED_ROOTFS_TYPE ?= "${@measured_rootfs_type(d)}"
IMAGE_TYPEDEP:measured = "${MEASURED_ROOTFS_TYPE}"
MEASURED_ROOTFS ?= "${IMGDEPLOYDIR}/${IMAGE_NAME}.${MEASURED_ROOTFS_TYPE}"
# The kernel and its modules as the kernel recipe deploys them (the modules
# tarball holds lib/modules/<version>; left out when missing).
MEASURED_KERNEL ?= "${DEPLOY_DIR_IMAGE}/${KERNEL_IMAGETYPE}"
MEASURED_MODULES ?= "${DEPLOY_DIR_IMAGE}/modules-${MACHINE}.tgz"
# The service VM's kernel command line, name, memory (MiB) and vcpus.
MEASURED_CMDLINE ?= "console=hvc0 root=/dev/xvda rw"
MEASURED_VM_NAME ?= "${IMAGE_BASENAME}"
MEASURED_MEMORY ?= "256"
MEASURED_VCPUS ?= "1"
# Disk size (MiB), format (vhd-tap, vhd-qemu, vhd-fixed or raw) and
# filesystem (ext2, ext3 or ext4; default: the rootfs's own, else ext4).
MEASURED_DISK_SIZE ?= "512"
MEASURED_DISK_FORMAT ?= "vhd-tap"
MEASURED_FS_TYPE ?= "${@measured_fs_type(d)}"
# Measured launch: empty MEASURED_PLATFORM means no [launch] section (no
# PCR prediction). The platform profile and SINIT ACM are build-host files;
# tboot comes from MEASURED_TBOOT_RECIPE's deploy (empty recipe: a host file).
MEASURED_PLATFORM ?= ""
MEASURED_SINIT ?= ""
MEASURED_TBOOT_RECIPE ?= "tboot"
MEASURED_TBOOT ?= "${DEPLOY_DIR_IMAGE}/tboot.gz"
MEASURED_TBOOT_CMDLINE ?= "logging=serial,memory"
# Whether tboot also measures the generated initramfs (1: the image's
# kernel needs modules to reach its root disk, so it has one).
MEASURED_INITRAMFS_MODULE ?= "0"
# "default" (tboot's built-in verified-launch policy) or a tb_policy file.
MEASURED_VL_POLICY ?= "default"
# The PCR selection the sealing policy covers.
MEASURED_PCRS ?= "sha256:17,18,19"
# Extra arguments to `measured build` (e.g. --json).
MEASURED_EXTRA_ARGS ?= ""

# Image types `measured` reads a rootfs from (ext images as they are, tar
# archives plain or compressed).
MEASURED_ROOTFS_TYPES = "ext4 ext3 ext2 tar tar.gz tar.bz2 tar.xz tar.zst"

def measured_rootfs_type(d):
    usable = (d.getVar('MEASURED_ROOTFS_TYPES') or '').split()
    for t in (d.getVar('IMAGE_FSTYPES') or '').split():
        if t in usable:
            return t
    return 'ext4'

def measured_fs_type(d):
    t = d.getVar('MEASURED_ROOTFS_TYPE')
    return t if t in ('ext2', 'ext3', 'ext4') else 'ext4'

def measured_depends(d):
    deps = ['virtual/kernel:do_deploy']
    if not d.getVar('MEASURED_BIN'):
        deps.append(d.getVar('MEASURED_NATIVE') + ':do_populate_sysroot')
    recipe = d.getVar('MEASURED_TBOOT_RECIPE')
    if d.getVar('MEASURED_PLATFORM') and recipe:
        deps.append(recipe + ':do_deploy')
    return ' '.join(deps)

# Every build-host input of the bundle, so that changing any of them (the
# tool itself included) changes the task's signature and rebuilds it.
# Inputs from other recipes (kernel, modules, tboot, the rootfs) are
# covered by the task dependencies.
def measured_file_checksums(d):
    files = [d.getVar('MEASURED_SPEC'), d.getVar('MEASURED_BIN')]
    if d.getVar('MEASURED_PLATFORM'):
        files += [d.getVar('MEASURED_PLATFORM'), d.getVar('MEASURED_SINIT')]
        if d.getVar('MEASURED_VL_POLICY') != 'default':
            files.append(d.getVar('MEASURED_VL_POLICY'))
        if not d.getVar('MEASURED_TBOOT_RECIPE'):
            files.append(d.getVar('MEASURED_TBOOT'))
    return ' '.join('%s:%s' % (f, os.path.exists(f)) for f in files if f)

do_image_measured[depends] += "${@measured_depends(d)}"
do_image_measured[file-checksums] += "${@measured_file_checksums(d)}"

# Print `KEY = "VALUE"` with VALUE as a TOML basic string (backslashes and
# quotes escaped). printf, not echo: dash's echo would expand backslashes.
measured_toml_kv() {
	printf '%s = "%s"\n' "$1" "$(printf '%s' "$2" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

# Write the build spec for this image to $1.
measured_write_spec() {
	spec="$1"
	{
		printf '%s\n' "# Written by measured-image.bbclass for ${PN}; do not edit."
		measured_toml_kv name "${MEASURED_VM_NAME}"
		measured_toml_kv rootfs "${MEASURED_ROOTFS}"
		measured_toml_kv kernel "${MEASURED_KERNEL}"
		if [ -n "${MEASURED_MODULES}" ] && [ -e "${MEASURED_MODULES}" ]; then
			measured_toml_kv modules "${MEASURED_MODULES}"
		fi
		measured_toml_kv cmdline "${MEASURED_CMDLINE}"
		printf 'memory_mib = %s\n' "${MEASURED_MEMORY}"
		printf 'vcpus = %s\n' "${MEASURED_VCPUS}"
		printf 'disk_size_mib = %s\n' "${MEASURED_DISK_SIZE}"
		measured_toml_kv format "${MEASURED_DISK_FORMAT}"
		measured_toml_kv fs_type "${MEASURED_FS_TYPE}"
		if [ -n "${MEASURED_PLATFORM}" ]; then
			echo
			echo "[launch]"
			measured_toml_kv platform "${MEASURED_PLATFORM}"
			measured_toml_kv sinit "${MEASURED_SINIT}"
			measured_toml_kv tboot "${MEASURED_TBOOT}"
			measured_toml_kv tboot_cmdline "${MEASURED_TBOOT_CMDLINE}"
			measured_toml_kv policy "${MEASURED_VL_POLICY}"
			echo
			echo "[[launch.modules]]"
			echo 'file = "bundle:kernel"'
			measured_toml_kv cmdline "${MEASURED_CMDLINE}"
			if [ "${MEASURED_INITRAMFS_MODULE}" = "1" ]; then
				echo
				echo "[[launch.modules]]"
				echo 'file = "bundle:initramfs"'
			fi
			echo
			echo "[policy]"
			measured_toml_kv pcrs "${MEASURED_PCRS}"
		fi
	} > "$spec"
}

# The image command (inlined into do_image_measured by image.bbclass).
measured_image_cmd() {
	bin="${MEASURED_BIN}"
	if [ -z "$bin" ]; then
		bin=measured
	fi
	if ! command -v "$bin" >/dev/null 2>&1; then
		bbfatal "measured-image: $bin not found; set MEASURED_BIN or provide ${MEASURED_NATIVE}"
	fi
	if [ ! -e "${MEASURED_ROOTFS}" ]; then
		bbfatal "measured-image: rootfs ${MEASURED_ROOTFS} not found (image type ${MEASURED_ROOTFS_TYPE})"
	fi
	spec="${MEASURED_SPEC}"
	if [ -z "$spec" ]; then
		spec="${WORKDIR}/measured/${PN}.measured.toml"
		mkdir -p "${WORKDIR}/measured"
		measured_write_spec "$spec"
	fi
	bbnote "measured-image: building ${IMAGE_NAME}.measured from $spec"
	# shellcheck disable=SC2086 # MEASURED_EXTRA_ARGS is a list of words
	"$bin" build --quiet ${MEASURED_EXTRA_ARGS} \
		--out "${IMGDEPLOYDIR}/${IMAGE_NAME}.measured" "$spec"
}

IMAGE_CMD:measured = "measured_image_cmd"
