//! libvirt domain XML for the Xen (libxl) driver.
//!
//! For libxl, `<driver name='qemu' type='vhd'/>` selects QEMU's VHD (vpc)
//! reader; the KVM driver would read `vhd` as VHDX, so this XML is Xen-only.

use std::fmt::Write;

use crate::{DiskFormat, VirtType, VmDef, VmDefError};

/// Render a `<domain type='xen'>` document.
pub fn domain_xml(def: &VmDef) -> Result<String, VmDefError> {
    def.validate()?;
    let mut s = String::new();
    let os_type = match def.virt_type {
        VirtType::Pv => "<type arch='x86_64' machine='xenpv'>linux</type>",
        VirtType::Pvh => "<type arch='x86_64' machine='xenpvh'>xenpvh</type>",
    };
    let format = match def.disk_format {
        DiskFormat::Vhd => "vhd",
        DiskFormat::Raw => "raw",
    };
    // write! to a String cannot fail.
    let _ = writeln!(s, "<domain type='xen'>");
    let _ = writeln!(s, "  <name>{}</name>", esc(&def.name));
    let _ = writeln!(s, "  <uuid>{}</uuid>", def.uuid);
    let _ = writeln!(s, "  <memory unit='MiB'>{}</memory>", def.memory_mib);
    let _ = writeln!(s, "  <vcpu>{}</vcpu>", def.vcpus);
    let _ = writeln!(s, "  <os>");
    let _ = writeln!(s, "    {os_type}");
    let _ = writeln!(s, "    <kernel>{}</kernel>", esc(&def.kernel));
    if let Some(initrd) = &def.initrd {
        let _ = writeln!(s, "    <initrd>{}</initrd>", esc(initrd));
    }
    let _ = writeln!(s, "    <cmdline>{}</cmdline>", esc(&def.cmdline));
    let _ = writeln!(s, "  </os>");
    let _ = writeln!(s, "  <on_crash>destroy</on_crash>");
    let _ = writeln!(s, "  <devices>");
    let _ = writeln!(s, "    <disk type='file' device='disk'>");
    let _ = writeln!(s, "      <driver name='qemu' type='{format}'/>");
    let _ = writeln!(s, "      <source file='{}'/>", esc(&def.disk_path));
    let _ = writeln!(s, "      <target dev='xvda' bus='xen'/>");
    let _ = writeln!(s, "    </disk>");
    let _ = writeln!(s, "    <console type='pty'>");
    let _ = writeln!(s, "      <target type='xen' port='0'/>");
    let _ = writeln!(s, "    </console>");
    let _ = writeln!(s, "  </devices>");
    let _ = writeln!(s, "</domain>");
    Ok(s)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ampersand_in_cmdline_is_escaped() {
        let mut d = crate::sample();
        d.cmdline = "a=1&b<2".into();
        let x = domain_xml(&d).unwrap();
        assert!(x.contains("<cmdline>a=1&amp;b&lt;2</cmdline>"));
    }
}
