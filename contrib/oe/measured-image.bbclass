# measured-image.bbclass: build a measured Xen service-VM bundle from an
# OpenEmbedded image with `measured build`.
#
# Inherit it in an image recipe (or IMAGE_CLASSES += "measured-image" in
# local.conf). After do_image_complete, do_image_measured writes a build spec
# from the variables below (or takes MEASURED_SPEC as is) and runs
# `measured build`; the bundle (VHD, VM definitions, pcrs.json, policy/,
# predicted TXT event log) is deployed to
# ${DEPLOY_DIR_IMAGE}/${MEASURED_BUNDLE_NAME}. The task is sstate-cached like
# do_deploy, and `measured build` itself redoes only what changed.
#
# Every variable is documented in docs/build.md ("OpenEmbedded").

# The measured binary: a path, or a name found on PATH (a measured-native
# recipe can provide it).
MEASURED ?= "measured"
# A complete spec to use as is; empty: write one from the variables below.
MEASURED_SPEC ?= ""
# The rootfs the service VM boots: this image, as deployed.
MEASURED_ROOTFS_TYPE ?= "ext3"
MEASURED_ROOTFS ?= "${DEPLOY_DIR_IMAGE}/${IMAGE_LINK_NAME}.${MEASURED_ROOTFS_TYPE}"
# The kernel, and its modules: a lib/modules/<version> directory (empty
# for none; left out when it does not exist).
MEASURED_KERNEL ?= "${DEPLOY_DIR_IMAGE}/${KERNEL_IMAGETYPE}"
MEASURED_MODULES ?= ""
# The service VM's kernel command line, name, memory (MiB) and vcpus.
MEASURED_CMDLINE ?= "console=hvc0 root=/dev/xvda rw"
MEASURED_VM_NAME ?= "${IMAGE_BASENAME}"
MEASURED_MEMORY ?= "256"
MEASURED_VCPUS ?= "1"
# Disk size (MiB), format (vhd-tap, vhd-qemu, vhd-fixed or raw) and
# filesystem (ext2, ext3 or ext4).
MEASURED_DISK_SIZE ?= "512"
MEASURED_DISK_FORMAT ?= "vhd-tap"
MEASURED_FS_TYPE ?= "${MEASURED_ROOTFS_TYPE}"
# Measured launch: empty MEASURED_PLATFORM means no [launch] section (no
# PCR prediction). The platform profile, SINIT ACM and tboot come from the
# build host or another recipe's deploy dir.
MEASURED_PLATFORM ?= ""
MEASURED_SINIT ?= ""
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
# Where the bundle goes inside the deploy directory.
MEASURED_BUNDLE_NAME ?= "${IMAGE_NAME}.measured"
MEASURED_BUNDLE_LINK_NAME ?= "${IMAGE_LINK_NAME}.measured"

MEASUREDDEPLOYDIR = "${WORKDIR}/deploy-${PN}-measured"

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

do_image_measured() {
	if ! command -v "${MEASURED}" >/dev/null 2>&1; then
		bbfatal "measured-image: ${MEASURED} not found; set MEASURED to its path"
	fi
	if [ ! -e "${MEASURED_ROOTFS}" ]; then
		bbfatal "measured-image: rootfs ${MEASURED_ROOTFS} not found; add ${MEASURED_ROOTFS_TYPE} to IMAGE_FSTYPES"
	fi
	spec="${MEASURED_SPEC}"
	if [ -z "$spec" ]; then
		spec="${WORKDIR}/measured/${PN}.measured.toml"
		mkdir -p "${WORKDIR}/measured"
		measured_write_spec "$spec"
	fi
	bbnote "measured-image: building ${MEASURED_BUNDLE_NAME} from $spec"
	# The build's own cache lives beside the bundle in WORKDIR, so a rerun
	# of this task redoes only the steps whose inputs changed.
	mkdir -p "${WORKDIR}/measured/out"
	# shellcheck disable=SC2086 # MEASURED_EXTRA_ARGS is a list of words
	"${MEASURED}" build --quiet ${MEASURED_EXTRA_ARGS} \
		--out "${WORKDIR}/measured/out/bundle" "$spec"
	mkdir -p "${MEASUREDDEPLOYDIR}"
	cp -a "${WORKDIR}/measured/out/bundle" "${MEASUREDDEPLOYDIR}/${MEASURED_BUNDLE_NAME}"
	if [ "${MEASURED_BUNDLE_LINK_NAME}" != "${MEASURED_BUNDLE_NAME}" ]; then
		ln -sfn "${MEASURED_BUNDLE_NAME}" "${MEASUREDDEPLOYDIR}/${MEASURED_BUNDLE_LINK_NAME}"
	fi
}

do_image_measured[dirs] = "${WORKDIR}/measured ${MEASUREDDEPLOYDIR}"
do_image_measured[cleandirs] = "${MEASUREDDEPLOYDIR}"
do_image_measured[depends] += "virtual/kernel:do_deploy"
do_image_measured[vardeps] += "MEASURED_SPEC MEASURED_ROOTFS MEASURED_KERNEL MEASURED_MODULES \
    MEASURED_CMDLINE MEASURED_VM_NAME MEASURED_MEMORY MEASURED_VCPUS MEASURED_DISK_SIZE \
    MEASURED_DISK_FORMAT MEASURED_FS_TYPE MEASURED_INITRAMFS_MODULE MEASURED_PLATFORM MEASURED_SINIT MEASURED_TBOOT \
    MEASURED_TBOOT_CMDLINE MEASURED_VL_POLICY MEASURED_PCRS MEASURED_EXTRA_ARGS"
do_image_measured[file-checksums] += "${@d.getVar('MEASURED_SPEC') and d.getVar('MEASURED_SPEC') + ':True' or ''}"
do_image_measured[sstate-inputdirs] = "${MEASUREDDEPLOYDIR}"
do_image_measured[sstate-outputdirs] = "${DEPLOY_DIR_IMAGE}"
do_image_measured[stamp-extra-info] = "${MACHINE_ARCH}"
SSTATETASKS += "do_image_measured"

python do_image_measured_setscene () {
    sstate_setscene(d)
}

addtask do_image_measured after do_image_complete before do_build
addtask do_image_measured_setscene
