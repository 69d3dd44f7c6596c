//! Stage `definitions`: the VM as each toolstack defines it — `NAME.cfg`
//! for `xl create`, `NAME.xml` for libvirt, and OpenXT's `xec-vm` script and
//! `create-vm-with-template-and-json` template — naming the kernel and
//! initrd files the bundle ships ([`vmdef`] writes them).

use std::path::Path;

use super::files::BundleFile;
use crate::error::ImageError;
use crate::spec::Spec;

/// Write the VM definitions for kernel `release` into `dir`: each file's
/// name in the bundle and its bytes.
pub(super) fn write(
    spec: &Spec,
    release: &str,
    has_initrd: bool,
    dir: &Path,
) -> Result<Vec<(String, BundleFile)>, ImageError> {
    let def = spec.vm_def(Some(release), has_initrd);
    let made = [
        (format!("{}.cfg", spec.name), vmdef::xl::xl_cfg(&def)?),
        (
            format!("{}.xml", spec.name),
            vmdef::libvirt::domain_xml(&def)?,
        ),
        ("openxt-create.sh".into(), vmdef::openxt::xec_script(&def)?),
        (
            format!("service-{}.json", def.service_tag),
            vmdef::openxt::template_json(&def)?,
        ),
    ];
    made.into_iter()
        .map(|(name, text)| {
            let file = BundleFile::write(dir, &name, text.into_bytes())?;
            Ok((name, file))
        })
        .collect()
}
