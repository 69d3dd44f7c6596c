//! Upstream Xen `xl.cfg` (see `xl.cfg(5)`, `xl-disk-configuration(5)`).

use std::fmt::Write;

use crate::{DiskFormat, VmDef, VmDefError};

/// Render an xl domain configuration for direct kernel boot.
pub fn xl_cfg(def: &VmDef) -> Result<String, VmDefError> {
    def.validate()?;
    let mut s = String::new();
    let format = match def.disk_format {
        DiskFormat::Vhd => "vhd",
        DiskFormat::Raw => "raw",
    };
    // write! to a String cannot fail.
    let _ = writeln!(s, "# xl domain configuration for service VM {}", def.name);
    let _ = writeln!(s, "name = \"{}\"", def.name);
    let _ = writeln!(s, "uuid = \"{}\"", def.uuid);
    let _ = writeln!(s, "type = \"{}\"", def.virt_type.as_str());
    let _ = writeln!(s, "memory = {}", def.memory_mib);
    let _ = writeln!(s, "vcpus = {}", def.vcpus);
    let _ = writeln!(s, "kernel = \"{}\"", def.kernel);
    if let Some(initrd) = &def.initrd {
        let _ = writeln!(s, "ramdisk = \"{initrd}\"");
    }
    let _ = writeln!(s, "cmdline = \"{}\"", def.cmdline);
    // target= must come last in a disk spec.
    let _ = writeln!(
        s,
        "disk = [ 'format={format},vdev=xvda,access=rw,target={}' ]",
        def.disk_path
    );
    let _ = writeln!(s, "on_crash = \"destroy\"");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvh_sets_type_and_raw_sets_format() {
        let mut d = crate::sample();
        d.virt_type = crate::VirtType::Pvh;
        d.disk_format = DiskFormat::Raw;
        let s = xl_cfg(&d).unwrap();
        assert!(s.contains("type = \"pvh\"\n"));
        assert!(s.contains("'format=raw,vdev=xvda,access=rw,target=/storage/svc/svc.vhd'"));
    }
}
