//! Event types of the TCG PC Client Platform Firmware Profile (`UINT32 eventType`).

use std::fmt;

/// An event type; unknown values are kept as `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `EV_PREBOOT_CERT` (0x0).
    PrebootCert,
    /// `EV_POST_CODE` (0x1).
    PostCode,
    /// `EV_NO_ACTION` (0x3): informational, never extended.
    NoAction,
    /// `EV_SEPARATOR` (0x4).
    Separator,
    /// `EV_ACTION` (0x5).
    Action,
    /// `EV_EVENT_TAG` (0x6).
    EventTag,
    /// `EV_S_CRTM_CONTENTS` (0x7).
    SCrtmContents,
    /// `EV_S_CRTM_VERSION` (0x8).
    SCrtmVersion,
    /// `EV_CPU_MICROCODE` (0x9).
    CpuMicrocode,
    /// `EV_PLATFORM_CONFIG_FLAGS` (0xA).
    PlatformConfigFlags,
    /// `EV_TABLE_OF_DEVICES` (0xB).
    TableOfDevices,
    /// `EV_COMPACT_HASH` (0xC).
    CompactHash,
    /// `EV_IPL` (0xD).
    Ipl,
    /// `EV_IPL_PARTITION_DATA` (0xE).
    IplPartitionData,
    /// `EV_NONHOST_CODE` (0xF).
    NonhostCode,
    /// `EV_NONHOST_CONFIG` (0x10).
    NonhostConfig,
    /// `EV_NONHOST_INFO` (0x11).
    NonhostInfo,
    /// `EV_OMIT_BOOT_DEVICE_EVENTS` (0x12).
    OmitBootDeviceEvents,
    /// `EV_EFI_VARIABLE_DRIVER_CONFIG` (0x80000001).
    EfiVariableDriverConfig,
    /// `EV_EFI_VARIABLE_BOOT` (0x80000002).
    EfiVariableBoot,
    /// `EV_EFI_BOOT_SERVICES_APPLICATION` (0x80000003).
    EfiBootServicesApplication,
    /// `EV_EFI_BOOT_SERVICES_DRIVER` (0x80000004).
    EfiBootServicesDriver,
    /// `EV_EFI_RUNTIME_SERVICES_DRIVER` (0x80000005).
    EfiRuntimeServicesDriver,
    /// `EV_EFI_GPT_EVENT` (0x80000006).
    EfiGptEvent,
    /// `EV_EFI_ACTION` (0x80000007).
    EfiAction,
    /// `EV_EFI_PLATFORM_FIRMWARE_BLOB` (0x80000008).
    EfiPlatformFirmwareBlob,
    /// `EV_EFI_HANDOFF_TABLES` (0x80000009).
    EfiHandoffTables,
    /// `EV_EFI_PLATFORM_FIRMWARE_BLOB2` (0x8000000A).
    EfiPlatformFirmwareBlob2,
    /// `EV_EFI_HANDOFF_TABLES2` (0x8000000B).
    EfiHandoffTables2,
    /// `EV_EFI_VARIABLE_BOOT2` (0x8000000C).
    EfiVariableBoot2,
    /// `EV_EFI_HCRTM_EVENT` (0x80000010): PCR0 was started by an H-CRTM sequence.
    EfiHcrtmEvent,
    /// `EV_EFI_VARIABLE_AUTHORITY` (0x800000E0).
    EfiVariableAuthority,
    /// `EV_EFI_SPDM_FIRMWARE_BLOB` (0x800000E1).
    EfiSpdmFirmwareBlob,
    /// `EV_EFI_SPDM_FIRMWARE_CONFIG` (0x800000E2).
    EfiSpdmFirmwareConfig,
    /// Any other value.
    Other(u32),
}

const TABLE: &[(u32, EventType, &str)] = &[
    (0x0, EventType::PrebootCert, "EV_PREBOOT_CERT"),
    (0x1, EventType::PostCode, "EV_POST_CODE"),
    (0x3, EventType::NoAction, "EV_NO_ACTION"),
    (0x4, EventType::Separator, "EV_SEPARATOR"),
    (0x5, EventType::Action, "EV_ACTION"),
    (0x6, EventType::EventTag, "EV_EVENT_TAG"),
    (0x7, EventType::SCrtmContents, "EV_S_CRTM_CONTENTS"),
    (0x8, EventType::SCrtmVersion, "EV_S_CRTM_VERSION"),
    (0x9, EventType::CpuMicrocode, "EV_CPU_MICROCODE"),
    (
        0xA,
        EventType::PlatformConfigFlags,
        "EV_PLATFORM_CONFIG_FLAGS",
    ),
    (0xB, EventType::TableOfDevices, "EV_TABLE_OF_DEVICES"),
    (0xC, EventType::CompactHash, "EV_COMPACT_HASH"),
    (0xD, EventType::Ipl, "EV_IPL"),
    (0xE, EventType::IplPartitionData, "EV_IPL_PARTITION_DATA"),
    (0xF, EventType::NonhostCode, "EV_NONHOST_CODE"),
    (0x10, EventType::NonhostConfig, "EV_NONHOST_CONFIG"),
    (0x11, EventType::NonhostInfo, "EV_NONHOST_INFO"),
    (
        0x12,
        EventType::OmitBootDeviceEvents,
        "EV_OMIT_BOOT_DEVICE_EVENTS",
    ),
    (
        0x8000_0001,
        EventType::EfiVariableDriverConfig,
        "EV_EFI_VARIABLE_DRIVER_CONFIG",
    ),
    (
        0x8000_0002,
        EventType::EfiVariableBoot,
        "EV_EFI_VARIABLE_BOOT",
    ),
    (
        0x8000_0003,
        EventType::EfiBootServicesApplication,
        "EV_EFI_BOOT_SERVICES_APPLICATION",
    ),
    (
        0x8000_0004,
        EventType::EfiBootServicesDriver,
        "EV_EFI_BOOT_SERVICES_DRIVER",
    ),
    (
        0x8000_0005,
        EventType::EfiRuntimeServicesDriver,
        "EV_EFI_RUNTIME_SERVICES_DRIVER",
    ),
    (0x8000_0006, EventType::EfiGptEvent, "EV_EFI_GPT_EVENT"),
    (0x8000_0007, EventType::EfiAction, "EV_EFI_ACTION"),
    (
        0x8000_0008,
        EventType::EfiPlatformFirmwareBlob,
        "EV_EFI_PLATFORM_FIRMWARE_BLOB",
    ),
    (
        0x8000_0009,
        EventType::EfiHandoffTables,
        "EV_EFI_HANDOFF_TABLES",
    ),
    (
        0x8000_000A,
        EventType::EfiPlatformFirmwareBlob2,
        "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
    ),
    (
        0x8000_000B,
        EventType::EfiHandoffTables2,
        "EV_EFI_HANDOFF_TABLES2",
    ),
    (
        0x8000_000C,
        EventType::EfiVariableBoot2,
        "EV_EFI_VARIABLE_BOOT2",
    ),
    (0x8000_0010, EventType::EfiHcrtmEvent, "EV_EFI_HCRTM_EVENT"),
    (
        0x8000_00E0,
        EventType::EfiVariableAuthority,
        "EV_EFI_VARIABLE_AUTHORITY",
    ),
    (
        0x8000_00E1,
        EventType::EfiSpdmFirmwareBlob,
        "EV_EFI_SPDM_FIRMWARE_BLOB",
    ),
    (
        0x8000_00E2,
        EventType::EfiSpdmFirmwareConfig,
        "EV_EFI_SPDM_FIRMWARE_CONFIG",
    ),
];

impl EventType {
    /// The type for a raw `eventType` value.
    pub fn from_u32(v: u32) -> Self {
        TABLE
            .iter()
            .find(|(n, _, _)| *n == v)
            .map(|(_, t, _)| *t)
            .unwrap_or(EventType::Other(v))
    }

    /// The raw `eventType` value.
    pub fn to_u32(self) -> u32 {
        match self {
            EventType::Other(v) => v,
            t => TABLE
                .iter()
                .find(|(_, u, _)| *u == t)
                .map(|(n, _, _)| *n)
                .expect("every named type is in the table"),
        }
    }

    /// The spec name (`EV_SEPARATOR`), or `None` for unknown values.
    pub fn name(self) -> Option<&'static str> {
        TABLE
            .iter()
            .find(|(_, u, _)| *u == self)
            .map(|(_, _, s)| *s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "0x{:08x}", self.to_u32()),
        }
    }
}

impl serde::Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}
