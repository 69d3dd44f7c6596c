//! EV_EVENT_TAG: a sequence of `TCG_PCClientTaggedEvent`s (`taggedEventID`,
//! `taggedEventDataSize`, data). Windows fills them with SIPA events (its
//! boot configuration log, WBCL), nesting aggregation containers; the Linux EFI
//! stub tags its load options and initrd.

use super::util::{le32, le64, text, ucs2};

/// One tagged event, with its nested events when it is a container.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TaggedEvent {
    /// `taggedEventID`.
    pub id: u32,
    /// Its name (`SIPAEVENT_BOOTCOUNTER`, `LINUX_LOAD_OPTIONS`), if known.
    pub name: Option<&'static str>,
    /// The value, decoded by the event's type (text, number, or hex).
    pub value: String,
    /// Nested events (aggregation containers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<TaggedEvent>,
}

/// SIPA flag: the event aggregates nested events.
const AGGREGATION: u32 = 0x4000_0000;

/// Names of SIPA event types (Windows SDK `wbcl.h`) and of the Linux EFI stub's tags.
fn name(id: u32) -> Option<&'static str> {
    Some(match id {
        0x8F3B_22EC => "LINUX_INITRD",
        0x8F3B_22ED => "LINUX_LOAD_OPTIONS",
        0x4001_0001 => "SIPAEVENT_TRUSTBOUNDARY",
        0x4001_0002 => "SIPAEVENT_ELAM_AGGREGATION",
        0x4001_0003 => "SIPAEVENT_LOADEDMODULE_AGGREGATION",
        0xC001_0004 => "SIPAEVENT_TRUSTPOINT_AGGREGATION",
        0x4001_0005 => "SIPAEVENT_KSR_AGGREGATION",
        0x4001_0006 => "SIPAEVENT_KSR_SIGNED_MEASUREMENT_AGGREGATION",
        0x0003_0001 => "SIPAERROR_FIRMWAREFAILURE",
        0x8003_0002 => "SIPAERROR_TPMFAILURE",
        0x0003_0003 => "SIPAERROR_INTERNALFAILURE",
        0x0002_0001 => "SIPAEVENT_INFORMATION",
        0x0002_0002 => "SIPAEVENT_BOOTCOUNTER",
        0x0002_0003 => "SIPAEVENT_TRANSFER_CONTROL",
        0x0002_0004 => "SIPAEVENT_APPLICATION_RETURN",
        0x0002_0005 => "SIPAEVENT_BITLOCKER_UNLOCK",
        0x0002_0006 => "SIPAEVENT_EVENTCOUNTER",
        0x0002_0007 => "SIPAEVENT_COUNTERID",
        0x0002_0008 => "SIPAEVENT_MORBIT_NOT_CANCELABLE",
        0x0002_0009 => "SIPAEVENT_APPLICATION_SVN",
        0x0002_000A => "SIPAEVENT_SVN_CHAIN_STATUS",
        0x0002_000B => "SIPAEVENT_MORBIT_API_STATUS",
        0x0004_0001 => "SIPAEVENT_BOOTDEBUGGING",
        0x0004_0002 => "SIPAEVENT_BOOT_REVOCATION_LIST",
        0x0005_0001 => "SIPAEVENT_OSKERNELDEBUG",
        0x0005_0002 => "SIPAEVENT_CODEINTEGRITY",
        0x0005_0003 => "SIPAEVENT_TESTSIGNING",
        0x0005_0004 => "SIPAEVENT_DATAEXECUTIONPREVENTION",
        0x0005_0005 => "SIPAEVENT_SAFEMODE",
        0x0005_0006 => "SIPAEVENT_WINPE",
        0x0005_0007 => "SIPAEVENT_PHYSICALADDRESSEXTENSION",
        0x0005_0008 => "SIPAEVENT_OSDEVICE",
        0x0005_0009 => "SIPAEVENT_SYSTEMROOT",
        0x0005_000A => "SIPAEVENT_HYPERVISOR_LAUNCH_TYPE",
        0x0005_000B => "SIPAEVENT_HYPERVISOR_PATH",
        0x0005_000C => "SIPAEVENT_HYPERVISOR_IOMMU_POLICY",
        0x0005_000D => "SIPAEVENT_HYPERVISOR_DEBUG",
        0x0005_000E => "SIPAEVENT_DRIVER_LOAD_POLICY",
        0x0005_000F => "SIPAEVENT_SI_POLICY",
        0x0005_0010 => "SIPAEVENT_HYPERVISOR_MMIO_NX_POLICY",
        0x0005_0011 => "SIPAEVENT_HYPERVISOR_MSR_FILTER_POLICY",
        0x0005_0012 => "SIPAEVENT_VSM_LAUNCH_TYPE",
        0x0005_0013 => "SIPAEVENT_OS_REVOCATION_LIST",
        0x0005_0014 => "SIPAEVENT_SMT_STATUS",
        0x0005_0020 => "SIPAEVENT_VSM_IDK_INFO",
        0x0005_0021 => "SIPAEVENT_FLIGHTSIGNING",
        0x0005_0022 => "SIPAEVENT_PAGEFILE_ENCRYPTION_ENABLED",
        0x0005_0023 => "SIPAEVENT_VSM_IDKS_INFO",
        0x0005_0024 => "SIPAEVENT_HIBERNATION_DISABLED",
        0x0005_0025 => "SIPAEVENT_DUMPS_DISABLED",
        0x0005_0026 => "SIPAEVENT_DUMP_ENCRYPTION_ENABLED",
        0x0005_0027 => "SIPAEVENT_DUMP_ENCRYPTION_KEY_DIGEST",
        0x0005_0028 => "SIPAEVENT_LSAISO_CONFIG",
        0x0005_0029 => "SIPAEVENT_SBCP_INFO",
        0x0005_0030 => "SIPAEVENT_HYPERVISOR_BOOT_DMA_PROTECTION",
        0x0006_0001 => "SIPAEVENT_NOAUTHORITY",
        0x0006_0002 => "SIPAEVENT_AUTHORITYPUBKEY",
        0x0007_0001 => "SIPAEVENT_FILEPATH",
        0x0007_0002 => "SIPAEVENT_IMAGESIZE",
        0x0007_0003 => "SIPAEVENT_HASHALGORITHMID",
        0x0007_0004 => "SIPAEVENT_AUTHENTICODEHASH",
        0x0007_0005 => "SIPAEVENT_AUTHORITYISSUER",
        0x0007_0006 => "SIPAEVENT_AUTHORITYSERIAL",
        0x0007_0007 => "SIPAEVENT_IMAGEBASE",
        0x0007_0008 => "SIPAEVENT_AUTHORITYPUBLISHER",
        0x0007_0009 => "SIPAEVENT_AUTHORITYSHA1THUMBPRINT",
        0x0007_000A => "SIPAEVENT_IMAGEVALIDATED",
        0x0007_000B => "SIPAEVENT_MODULE_SVN",
        0x8008_0001 => "SIPAEVENT_QUOTE",
        0x8008_0002 => "SIPAEVENT_QUOTESIGNATURE",
        0x8008_0003 => "SIPAEVENT_AIKID",
        0x8008_0004 => "SIPAEVENT_AIKPUBDIGEST",
        0x0009_0001 => "SIPAEVENT_ELAM_KEYNAME",
        0x0009_0002 => "SIPAEVENT_ELAM_CONFIGURATION",
        0x0009_0003 => "SIPAEVENT_ELAM_POLICY",
        0x0009_0004 => "SIPAEVENT_ELAM_MEASURED",
        0x000A_0001 => "SIPAEVENT_VBS_VSM_REQUIRED",
        0x000A_0002 => "SIPAEVENT_VBS_SECUREBOOT_REQUIRED",
        0x000A_0003 => "SIPAEVENT_VBS_IOMMU_REQUIRED",
        0x000A_0004 => "SIPAEVENT_VBS_MMIO_NX_REQUIRED",
        0x000A_0005 => "SIPAEVENT_VBS_MSR_FILTERING_REQUIRED",
        0x000A_0006 => "SIPAEVENT_VBS_MANDATORY_ENFORCEMENT",
        0x000A_0007 => "SIPAEVENT_VBS_HVCI_POLICY",
        0x000A_0008 => "SIPAEVENT_VBS_MICROSOFT_BOOT_CHAIN_REQUIRED",
        0x000B_0001 => "SIPAEVENT_KSR_SIGNATURE",
        _ => return None,
    })
}

/// SIPA types whose data is a UTF-16 string.
fn is_string(id: u32) -> bool {
    matches!(
        id,
        0x0005_0009 | 0x0005_000B | 0x0007_0001 | 0x0007_0005 | 0x0007_0008 | 0x0009_0001
    )
}

/// The value of one event: text for string types and the Linux tags, a number for
/// 1/2/4/8-byte SIPA values, else hex.
fn value(id: u32, d: &[u8]) -> String {
    if id & 0xFFFF_FF00 == 0x8F3B_2200 {
        return match text(d) {
            Some(t) => format!("{t:?}"),
            None => hex::encode(d),
        };
    }
    if is_string(id)
        && let Some(s) = ucs2(d)
    {
        return format!("{s:?}");
    }
    match d.len() {
        1 => format!("{}", d[0]),
        4 => format!("{}", le32(d, 0).unwrap_or(0)),
        8 => format!("{}", le64(d, 0).unwrap_or(0)),
        _ => hex::encode(d),
    }
}

/// Parse a run of tagged events filling `d` exactly; `None` if it does not.
pub fn tagged_events(d: &[u8], depth: u32) -> Option<Vec<TaggedEvent>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < d.len() {
        let id = le32(d, at)?;
        let size = le32(d, at + 4)? as usize;
        let body = d.get(at + 8..at.checked_add(8)?.checked_add(size)?)?;
        let children = if id & AGGREGATION != 0 && depth < 8 {
            tagged_events(body, depth + 1).unwrap_or_default()
        } else {
            Vec::new()
        };
        out.push(TaggedEvent {
            id,
            name: name(id),
            value: if children.is_empty() {
                value(id, body)
            } else {
                format!("{} events", children.len())
            },
            children,
        });
        at += 8 + size;
    }
    Some(out)
}
