//! NDIS 6.x miniport declarations (`ndis.h`, `ntddndis.h`): object headers, the miniport driver
//! characteristics, `NET_BUFFER_LIST`/`NET_BUFFER`, the per-NBL checksum and LSO information,
//! task offload structures, and the ndis.sys imports the network miniport calls.
//!
//! mingw-w64 has no NDIS 6 headers, so every layout here is asserted in [`crate::layout`]
//! against documented values: the x64 offsets Microsoft's public symbols give for `ndis.sys`
//! (Windows 7 SP1), or sizes computed from the documented field lists (`NDIS_SIZEOF_*`
//! revisions are `RTL_SIZEOF_THROUGH_FIELD` of the last field of each revision).
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]

use crate::ntdef::*;
use crate::wdm::{DEVICE_OBJECT, DRIVER_OBJECT, MDL};

/// `NDIS_HANDLE`.
pub type NDIS_HANDLE = PVOID;
/// `NDIS_STATUS` (an `NTSTATUS`-style code).
pub type NDIS_STATUS = i32;
/// `NDIS_OID`.
pub type NDIS_OID = ULONG;
/// `UINT`.
pub type UINT = u32;
/// `NDIS_PORT_NUMBER`.
pub type NDIS_PORT_NUMBER = ULONG;

/// `NDIS_STATUS_SUCCESS`.
pub const NDIS_STATUS_SUCCESS: NDIS_STATUS = 0;
/// `NDIS_STATUS_PENDING`.
pub const NDIS_STATUS_PENDING: NDIS_STATUS = 0x0000_0103;
/// `NDIS_STATUS_FAILURE`.
pub const NDIS_STATUS_FAILURE: NDIS_STATUS = 0xC000_0001_u32 as i32;
/// `NDIS_STATUS_RESOURCES`.
pub const NDIS_STATUS_RESOURCES: NDIS_STATUS = 0xC000_009A_u32 as i32;
/// `NDIS_STATUS_NOT_SUPPORTED`.
pub const NDIS_STATUS_NOT_SUPPORTED: NDIS_STATUS = 0xC000_00BB_u32 as i32;
/// `NDIS_STATUS_MEDIA_CONNECT`.
pub const NDIS_STATUS_MEDIA_CONNECT: NDIS_STATUS = 0x4001_000B;
/// `NDIS_STATUS_MEDIA_DISCONNECT`.
pub const NDIS_STATUS_MEDIA_DISCONNECT: NDIS_STATUS = 0x4001_000C;
/// `NDIS_STATUS_LINK_STATE`.
pub const NDIS_STATUS_LINK_STATE: NDIS_STATUS = 0x4001_0017;
/// `NDIS_STATUS_INVALID_LENGTH`.
pub const NDIS_STATUS_INVALID_LENGTH: NDIS_STATUS = 0xC001_0014_u32 as i32;
/// `NDIS_STATUS_BUFFER_TOO_SHORT`.
pub const NDIS_STATUS_BUFFER_TOO_SHORT: NDIS_STATUS = 0xC001_0016_u32 as i32;
/// `NDIS_STATUS_INVALID_OID`.
pub const NDIS_STATUS_INVALID_OID: NDIS_STATUS = 0xC001_0017_u32 as i32;
/// `NDIS_STATUS_PAUSED`.
pub const NDIS_STATUS_PAUSED: NDIS_STATUS = 0xC023_002A_u32 as i32;

/// `NDIS_OBJECT_HEADER`: the first member of every versioned NDIS structure.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NDIS_OBJECT_HEADER {
    /// `Type` (`NDIS_OBJECT_TYPE_*`).
    pub Type: UCHAR,
    /// `Revision`.
    pub Revision: UCHAR,
    /// `Size` in bytes (the `NDIS_SIZEOF_*` of the revision).
    pub Size: USHORT,
}

/// `NDIS_OBJECT_TYPE_DEFAULT`.
pub const NDIS_OBJECT_TYPE_DEFAULT: UCHAR = 0x80;
/// `NDIS_OBJECT_TYPE_MINIPORT_INIT_PARAMETERS`.
pub const NDIS_OBJECT_TYPE_MINIPORT_INIT_PARAMETERS: UCHAR = 0x81;
/// `NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS`.
pub const NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS: UCHAR = 0x8A;
/// `NDIS_OBJECT_TYPE_OID_REQUEST`.
pub const NDIS_OBJECT_TYPE_OID_REQUEST: UCHAR = 0x96;
/// `NDIS_OBJECT_TYPE_STATUS_INDICATION`.
pub const NDIS_OBJECT_TYPE_STATUS_INDICATION: UCHAR = 0x98;
/// `NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES`.
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES: UCHAR = 0x9E;
/// `NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES`.
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES: UCHAR = 0x9F;
/// `NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES`.
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES: UCHAR = 0xA0;
/// `NDIS_OBJECT_TYPE_OFFLOAD`.
pub const NDIS_OBJECT_TYPE_OFFLOAD: UCHAR = 0xA7;

/// Miniport callbacks, as raw `extern "system"` pointers (their prototypes are in the WDK's
/// `MINIPORT_*` function types).
pub type MINIPORT_HANDLER = PVOID;

/// `NDIS_MINIPORT_DRIVER_CHARACTERISTICS` through revision 3 (NDIS 6.80).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
    /// `Header`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `MajorNdisVersion`.
    pub MajorNdisVersion: UCHAR,
    /// `MinorNdisVersion`.
    pub MinorNdisVersion: UCHAR,
    /// `MajorDriverVersion`.
    pub MajorDriverVersion: UCHAR,
    /// `MinorDriverVersion`.
    pub MinorDriverVersion: UCHAR,
    /// `Flags`.
    pub Flags: ULONG,
    /// `SetOptionsHandler`.
    pub SetOptionsHandler: MINIPORT_HANDLER,
    /// `InitializeHandlerEx`.
    pub InitializeHandlerEx: MINIPORT_HANDLER,
    /// `HaltHandlerEx`.
    pub HaltHandlerEx: MINIPORT_HANDLER,
    /// `UnloadHandler`.
    pub UnloadHandler: MINIPORT_HANDLER,
    /// `PauseHandler`.
    pub PauseHandler: MINIPORT_HANDLER,
    /// `RestartHandler`.
    pub RestartHandler: MINIPORT_HANDLER,
    /// `OidRequestHandler`.
    pub OidRequestHandler: MINIPORT_HANDLER,
    /// `SendNetBufferListsHandler`.
    pub SendNetBufferListsHandler: MINIPORT_HANDLER,
    /// `ReturnNetBufferListsHandler`.
    pub ReturnNetBufferListsHandler: MINIPORT_HANDLER,
    /// `CancelSendHandler`.
    pub CancelSendHandler: MINIPORT_HANDLER,
    /// `CheckForHangHandlerEx`.
    pub CheckForHangHandlerEx: MINIPORT_HANDLER,
    /// `ResetHandlerEx`.
    pub ResetHandlerEx: MINIPORT_HANDLER,
    /// `DevicePnPEventNotifyHandler`.
    pub DevicePnPEventNotifyHandler: MINIPORT_HANDLER,
    /// `ShutdownHandlerEx`.
    pub ShutdownHandlerEx: MINIPORT_HANDLER,
    /// `CancelOidRequestHandler` (last field of revision 1).
    pub CancelOidRequestHandler: MINIPORT_HANDLER,
    /// `DirectOidRequestHandler` (revision 2, NDIS 6.1).
    pub DirectOidRequestHandler: MINIPORT_HANDLER,
    /// `CancelDirectOidRequestHandler` (last field of revision 2).
    pub CancelDirectOidRequestHandler: MINIPORT_HANDLER,
    /// `SynchronousOidRequestHandler` (revision 3, NDIS 6.80).
    pub SynchronousOidRequestHandler: MINIPORT_HANDLER,
}

/// `NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1`.
pub const NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1: UCHAR = 1;
/// `NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2`.
pub const NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2: UCHAR = 2;
/// `NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1`: through `CancelOidRequestHandler`.
pub const NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1: USHORT = (core::mem::offset_of!(
    NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
    CancelOidRequestHandler
) + 8) as USHORT;
/// `NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2`: through `CancelDirectOidRequestHandler`.
pub const NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2: USHORT = (core::mem::offset_of!(
    NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
    CancelDirectOidRequestHandler
) + 8) as USHORT;

/// `NET_BUFFER` (x64). `DataLength` shares a union with the `SIZE_T stDataLength`; the upper
/// half is kept as padding.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy)]
pub struct NET_BUFFER {
    /// `Next`.
    pub Next: *mut NET_BUFFER,
    /// `CurrentMdl`.
    pub CurrentMdl: *mut MDL,
    /// `CurrentMdlOffset`.
    pub CurrentMdlOffset: ULONG,
    /// Padding before the 8-byte union.
    pub _Pad0: ULONG,
    /// `DataLength`.
    pub DataLength: ULONG,
    /// Upper half of `stDataLength`.
    pub _DataLengthHigh: ULONG,
    /// `MdlChain`.
    pub MdlChain: *mut MDL,
    /// `DataOffset`.
    pub DataOffset: ULONG,
    /// Padding (the header union is 16-byte aligned).
    pub _Pad1: ULONG,
    /// `ChecksumBias`.
    pub ChecksumBias: USHORT,
    /// `Reserved`.
    pub Reserved: USHORT,
    /// Padding.
    pub _Pad2: ULONG,
    /// `NdisPoolHandle`.
    pub NdisPoolHandle: NDIS_HANDLE,
    /// `NdisReserved[2]` (`DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)`).
    pub NdisReserved: [PVOID; 2],
    /// `ProtocolReserved[6]`.
    pub ProtocolReserved: [PVOID; 6],
    /// `MiniportReserved[4]`.
    pub MiniportReserved: [PVOID; 4],
    /// `DataPhysicalAddress`.
    pub DataPhysicalAddress: PHYSICAL_ADDRESS,
    /// `SharedMemoryInfo` / `ScatterGatherList`.
    pub ScatterGatherList: PVOID,
}

/// Number of `NetBufferListInfo` slots in NDIS 6.20 (Windows 7); later versions have more, and
/// drivers never allocate a `NET_BUFFER_LIST` themselves.
pub const MaxNetBufferListInfo: usize = 19;

/// `NET_BUFFER_LIST` (x64), as of NDIS 6.20.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy)]
pub struct NET_BUFFER_LIST {
    /// `Next`.
    pub Next: *mut NET_BUFFER_LIST,
    /// `FirstNetBuffer`.
    pub FirstNetBuffer: *mut NET_BUFFER,
    /// `Context`.
    pub Context: PVOID,
    /// `ParentNetBufferList`.
    pub ParentNetBufferList: *mut NET_BUFFER_LIST,
    /// `NdisPoolHandle`.
    pub NdisPoolHandle: NDIS_HANDLE,
    /// Padding (`NdisReserved` is 16-byte aligned).
    pub _Pad0: PVOID,
    /// `NdisReserved[2]`.
    pub NdisReserved: [PVOID; 2],
    /// `ProtocolReserved[4]`.
    pub ProtocolReserved: [PVOID; 4],
    /// `MiniportReserved[2]`.
    pub MiniportReserved: [PVOID; 2],
    /// `Scratch`.
    pub Scratch: PVOID,
    /// `SourceHandle`.
    pub SourceHandle: NDIS_HANDLE,
    /// `NblFlags`.
    pub NblFlags: ULONG,
    /// `ChildRefCount`.
    pub ChildRefCount: LONG,
    /// `Flags`.
    pub Flags: ULONG,
    /// `Status`.
    pub Status: NDIS_STATUS,
    /// `NetBufferListInfo[MaxNetBufferListInfo]`.
    pub NetBufferListInfo: [PVOID; MaxNetBufferListInfo],
}

/// `NDIS_NET_BUFFER_LIST_INFO` indices.
pub const TcpIpChecksumNetBufferListInfo: usize = 0;
/// `TcpLargeSendNetBufferListInfo`.
pub const TcpLargeSendNetBufferListInfo: usize = 2;
/// `Ieee8021QNetBufferListInfo`.
pub const Ieee8021QNetBufferListInfo: usize = 4;
/// `NetBufferListHashValue`.
pub const NetBufferListHashValue: usize = 8;
/// `NetBufferListHashInfo`.
pub const NetBufferListHashInfo: usize = 9;

/// `NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO`: one pointer-sized value of bit fields.
/// Transmit: bit 0 `IsIPv4`, 1 `IsIPv6`, 2 `TcpChecksum`, 3 `UdpChecksum`, 4 `IpHeaderChecksum`,
/// 5..16 reserved, 16..26 `TcpHeaderOffset`. Receive: bit 0 `TcpChecksumFailed`, 1 `UdpChecksumFailed`,
/// 2 `IpChecksumFailed`, 3 `TcpChecksumSucceeded`, 4 `UdpChecksumSucceeded`,
/// 5 `IpChecksumSucceeded`, 6 `Loopback`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO(pub ULONG_PTR);

impl NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO {
    const fn bit(self, n: u32) -> bool {
        self.0 & (1 << n) != 0
    }
    /// `Transmit.IsIPv4`.
    pub const fn transmit_is_ipv4(self) -> bool {
        self.bit(0)
    }
    /// `Transmit.IsIPv6`.
    pub const fn transmit_is_ipv6(self) -> bool {
        self.bit(1)
    }
    /// `Transmit.TcpChecksum`.
    pub const fn transmit_tcp_checksum(self) -> bool {
        self.bit(2)
    }
    /// `Transmit.UdpChecksum`.
    pub const fn transmit_udp_checksum(self) -> bool {
        self.bit(3)
    }
    /// `Transmit.IpHeaderChecksum`.
    pub const fn transmit_ip_header_checksum(self) -> bool {
        self.bit(4)
    }
    /// `Transmit.TcpHeaderOffset` (10 bits from bit 16).
    pub const fn transmit_tcp_header_offset(self) -> u32 {
        ((self.0 >> 16) & 0x3FF) as u32
    }
    /// Receive result: which checksums were verified good or bad.
    pub const fn receive(
        tcp_ok: bool,
        udp_ok: bool,
        ip_ok: bool,
        tcp_bad: bool,
        udp_bad: bool,
        ip_bad: bool,
    ) -> Self {
        let mut v = 0;
        if tcp_bad {
            v |= 1 << 0;
        }
        if udp_bad {
            v |= 1 << 1;
        }
        if ip_bad {
            v |= 1 << 2;
        }
        if tcp_ok {
            v |= 1 << 3;
        }
        if udp_ok {
            v |= 1 << 4;
        }
        if ip_ok {
            v |= 1 << 5;
        }
        Self(v)
    }
}

/// `NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO`: one pointer-sized value of bit fields,
/// with accessors for the documented transmit fields: `MSS` (bits 0..20), `TcpHeaderOffset`
/// (bits 20..30), `Type` (bit 30: 0 = LSO V1, 1 = LSO V2) and, for V2 on x64, `IPVersion`
/// (bits 32..34). On completion the miniport writes `TcpPayload` (V1) into the same slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO(pub ULONG_PTR);

impl NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO {
    /// `Transmit.MSS`.
    pub const fn mss(self) -> u32 {
        (self.0 & 0xF_FFFF) as u32
    }
    /// `Transmit.TcpHeaderOffset`.
    pub const fn tcp_header_offset(self) -> u32 {
        ((self.0 >> 20) & 0x3FF) as u32
    }
    /// `Transmit.Type`: `NDIS_TCP_LARGE_SEND_OFFLOAD_V1_TYPE` (0) or `..._V2_TYPE` (1).
    pub const fn lso_type(self) -> u32 {
        ((self.0 >> 30) & 1) as u32
    }
    /// `LsoV2Transmit.IPVersion` (`NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4` = 0, `..._IPv6` = 1).
    pub const fn ip_version(self) -> u32 {
        ((self.0 as u64 >> 32) & 0x3) as u32
    }
}

/// Checksum offload of one direction and IP version (`Encapsulation` then the 2-bit fields,
/// which share one `ULONG`): bit pairs from bit 0: `IpOptionsSupported` /
/// `IpExtensionHeadersSupported`, `TcpOptionsSupported`, `TcpChecksum`, `UdpChecksum`,
/// `IpChecksum` (IPv4 only).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct NDIS_TCP_IP_CHECKSUM_OFFLOAD_DIRECTION {
    /// `Encapsulation` (`NDIS_ENCAPSULATION_*`).
    pub Encapsulation: ULONG,
    /// The 2-bit fields.
    pub Flags: ULONG,
}

/// `NDIS_TCP_IP_CHECKSUM_OFFLOAD`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct NDIS_TCP_IP_CHECKSUM_OFFLOAD {
    /// `IPv4Transmit`.
    pub IPv4Transmit: NDIS_TCP_IP_CHECKSUM_OFFLOAD_DIRECTION,
    /// `IPv4Receive`.
    pub IPv4Receive: NDIS_TCP_IP_CHECKSUM_OFFLOAD_DIRECTION,
    /// `IPv6Transmit`.
    pub IPv6Transmit: NDIS_TCP_IP_CHECKSUM_OFFLOAD_DIRECTION,
    /// `IPv6Receive`.
    pub IPv6Receive: NDIS_TCP_IP_CHECKSUM_OFFLOAD_DIRECTION,
}

/// `NDIS_TCP_LARGE_SEND_OFFLOAD_V1` (`IPv4` only).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct NDIS_TCP_LARGE_SEND_OFFLOAD_V1 {
    /// `IPv4.Encapsulation`.
    pub Encapsulation: ULONG,
    /// `IPv4.MaxOffLoadSize`.
    pub MaxOffLoadSize: ULONG,
    /// `IPv4.MinSegmentCount`.
    pub MinSegmentCount: ULONG,
    /// `IPv4.TcpOptions:2`, `IPv4.IpOptions:2`.
    pub Flags: ULONG,
}

/// `NDIS_IPSEC_OFFLOAD_V1`: not offered by this suite; kept for the layout of `NDIS_OFFLOAD`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct NDIS_IPSEC_OFFLOAD_V1 {
    /// `Supported` (5 ULONGs), `IPv4AH` and `IPv4ESP` bit fields.
    pub Raw: [ULONG; 7],
}

/// `NDIS_TCP_LARGE_SEND_OFFLOAD_V2`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct NDIS_TCP_LARGE_SEND_OFFLOAD_V2 {
    /// `IPv4.Encapsulation`.
    pub IPv4Encapsulation: ULONG,
    /// `IPv4.MaxOffLoadSize`.
    pub IPv4MaxOffLoadSize: ULONG,
    /// `IPv4.MinSegmentCount`.
    pub IPv4MinSegmentCount: ULONG,
    /// `IPv6.Encapsulation`.
    pub IPv6Encapsulation: ULONG,
    /// `IPv6.MaxOffLoadSize`.
    pub IPv6MaxOffLoadSize: ULONG,
    /// `IPv6.MinSegmentCount`.
    pub IPv6MinSegmentCount: ULONG,
    /// `IPv6.IpExtensionHeadersSupported:2`, `IPv6.TcpOptionsSupported:2`.
    pub IPv6Flags: ULONG,
}

/// `NDIS_OFFLOAD` through revision 1 (`Flags`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct NDIS_OFFLOAD {
    /// `Header`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `Checksum`.
    pub Checksum: NDIS_TCP_IP_CHECKSUM_OFFLOAD,
    /// `LsoV1`.
    pub LsoV1: NDIS_TCP_LARGE_SEND_OFFLOAD_V1,
    /// `IPsecV1`.
    pub IPsecV1: NDIS_IPSEC_OFFLOAD_V1,
    /// `LsoV2`.
    pub LsoV2: NDIS_TCP_LARGE_SEND_OFFLOAD_V2,
    /// `Flags`.
    pub Flags: ULONG,
}

/// `NDIS_OFFLOAD_REVISION_1`.
pub const NDIS_OFFLOAD_REVISION_1: UCHAR = 1;
/// `NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_1`: through `Flags`.
pub const NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_1: USHORT =
    core::mem::size_of::<NDIS_OFFLOAD>() as USHORT;
/// `NDIS_ENCAPSULATION_IEEE_802_3`.
pub const NDIS_ENCAPSULATION_IEEE_802_3: ULONG = 0x0000_0002;
/// `NDIS_OFFLOAD_SUPPORTED`.
pub const NDIS_OFFLOAD_SUPPORTED: ULONG = 1;

/// `NET_BUFFER_LIST_POOL_PARAMETERS`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct NET_BUFFER_LIST_POOL_PARAMETERS {
    /// `Header` (`NDIS_OBJECT_TYPE_DEFAULT`, revision 1).
    pub Header: NDIS_OBJECT_HEADER,
    /// `ProtocolId`.
    pub ProtocolId: UCHAR,
    /// `fAllocateNetBuffer`.
    pub fAllocateNetBuffer: BOOLEAN,
    /// `ContextSize`.
    pub ContextSize: USHORT,
    /// `PoolTag`.
    pub PoolTag: ULONG,
    /// `DataSize`.
    pub DataSize: ULONG,
}

/// `NDIS_CONFIGURATION_OBJECT`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NDIS_CONFIGURATION_OBJECT {
    /// `Header`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `NdisHandle`.
    pub NdisHandle: NDIS_HANDLE,
    /// `Flags`.
    pub Flags: ULONG,
}

// ndis.sys imports (each name is listed in def/ndis.def).

#[cfg_attr(target_os = "windows", link(name = "ndis"))]
unsafe extern "system" {
    /// `NdisMRegisterMiniportDriver`.
    pub fn NdisMRegisterMiniportDriver(
        DriverObject: *mut DRIVER_OBJECT,
        RegistryPath: *mut UNICODE_STRING,
        MiniportDriverContext: NDIS_HANDLE,
        MiniportDriverCharacteristics: *mut NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        NdisMiniportDriverHandle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// `NdisMDeregisterMiniportDriver`.
    pub fn NdisMDeregisterMiniportDriver(NdisMiniportDriverHandle: NDIS_HANDLE);
    /// `NdisMSetMiniportAttributes`.
    pub fn NdisMSetMiniportAttributes(
        NdisMiniportHandle: NDIS_HANDLE,
        MiniportAttributes: PVOID,
    ) -> NDIS_STATUS;
    /// `NdisMIndicateReceiveNetBufferLists`.
    pub fn NdisMIndicateReceiveNetBufferLists(
        MiniportAdapterHandle: NDIS_HANDLE,
        NetBufferLists: *mut NET_BUFFER_LIST,
        PortNumber: NDIS_PORT_NUMBER,
        NumberOfNetBufferLists: ULONG,
        ReceiveFlags: ULONG,
    );
    /// `NdisMSendNetBufferListsComplete`.
    pub fn NdisMSendNetBufferListsComplete(
        MiniportAdapterHandle: NDIS_HANDLE,
        NetBufferLists: *mut NET_BUFFER_LIST,
        SendCompleteFlags: ULONG,
    );
    /// `NdisMIndicateStatusEx`.
    pub fn NdisMIndicateStatusEx(MiniportAdapterHandle: NDIS_HANDLE, StatusIndication: PVOID);
    /// `NdisMOidRequestComplete`.
    pub fn NdisMOidRequestComplete(
        MiniportAdapterHandle: NDIS_HANDLE,
        OidRequest: PVOID,
        Status: NDIS_STATUS,
    );
    /// `NdisMResetComplete`.
    pub fn NdisMResetComplete(
        MiniportAdapterHandle: NDIS_HANDLE,
        Status: NDIS_STATUS,
        AddressingReset: BOOLEAN,
    );
    /// `NdisAllocateNetBufferListPool`.
    pub fn NdisAllocateNetBufferListPool(
        NdisHandle: NDIS_HANDLE,
        Parameters: *mut NET_BUFFER_LIST_POOL_PARAMETERS,
    ) -> NDIS_HANDLE;
    /// `NdisFreeNetBufferListPool`.
    pub fn NdisFreeNetBufferListPool(PoolHandle: NDIS_HANDLE);
    /// `NdisAllocateNetBufferAndNetBufferList`.
    pub fn NdisAllocateNetBufferAndNetBufferList(
        PoolHandle: NDIS_HANDLE,
        ContextSize: USHORT,
        ContextBackFill: USHORT,
        MdlChain: *mut MDL,
        DataOffset: ULONG,
        DataLength: SIZE_T,
    ) -> *mut NET_BUFFER_LIST;
    /// `NdisFreeNetBufferList`.
    pub fn NdisFreeNetBufferList(NetBufferList: *mut NET_BUFFER_LIST);
    /// `NdisAllocateMemoryWithTagPriority`.
    pub fn NdisAllocateMemoryWithTagPriority(
        NdisHandle: NDIS_HANDLE,
        Length: UINT,
        Tag: ULONG,
        Priority: u32,
    ) -> PVOID;
    /// `NdisFreeMemory`.
    pub fn NdisFreeMemory(VirtualAddress: PVOID, Length: UINT, MemoryFlags: UINT);
    /// `NdisOpenConfigurationEx`.
    pub fn NdisOpenConfigurationEx(
        ConfigObject: *mut NDIS_CONFIGURATION_OBJECT,
        ConfigurationHandle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// `NdisReadConfiguration` (`ParameterValue` receives an `NDIS_CONFIGURATION_PARAMETER*`).
    pub fn NdisReadConfiguration(
        Status: *mut NDIS_STATUS,
        ParameterValue: *mut PVOID,
        ConfigurationHandle: NDIS_HANDLE,
        Keyword: *mut UNICODE_STRING,
        ParameterType: u32,
    );
    /// `NdisCloseConfiguration`.
    pub fn NdisCloseConfiguration(ConfigurationHandle: NDIS_HANDLE);
    /// `NdisGetDataBuffer`.
    pub fn NdisGetDataBuffer(
        NetBuffer: *mut NET_BUFFER,
        BytesNeeded: ULONG,
        Storage: PVOID,
        AlignMultiple: UINT,
        AlignOffset: UINT,
    ) -> PVOID;
    /// `NdisAdvanceNetBufferDataStart`.
    pub fn NdisAdvanceNetBufferDataStart(
        NetBuffer: *mut NET_BUFFER,
        DataOffsetDelta: ULONG,
        FreeMdl: BOOLEAN,
        FreeMdlHandler: PVOID,
    );
    /// `NdisRetreatNetBufferDataStart`.
    pub fn NdisRetreatNetBufferDataStart(
        NetBuffer: *mut NET_BUFFER,
        DataOffsetDelta: ULONG,
        DataBackFill: ULONG,
        AllocateMdlHandler: PVOID,
    ) -> NDIS_STATUS;
    /// `NdisMGetDeviceProperty`.
    pub fn NdisMGetDeviceProperty(
        MiniportAdapterHandle: NDIS_HANDLE,
        PhysicalDeviceObject: *mut *mut DEVICE_OBJECT,
        FunctionalDeviceObject: *mut *mut DEVICE_OBJECT,
        NextDeviceObject: *mut *mut DEVICE_OBJECT,
        AllocatedResources: PVOID,
        AllocatedResourcesTranslated: PVOID,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lso_info_fields_sit_where_the_bit_field_list_puts_them() {
        // MSS 1448, TcpHeaderOffset 34, Type V2 (bit 30), IPVersion IPv6 (bit 32).
        let raw = 1448 | (34 << 20) | (1 << 30) | (1usize << 32);
        let info = NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO(raw);
        assert_eq!(
            (
                info.mss(),
                info.tcp_header_offset(),
                info.lso_type(),
                info.ip_version()
            ),
            (1448, 34, 1, 1)
        );
    }

    #[test]
    fn checksum_info_transmit_and_receive_bits() {
        let tx = NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO(0b10101 | (54 << 16));
        assert!(tx.transmit_is_ipv4() && !tx.transmit_is_ipv6() && tx.transmit_tcp_checksum());
        assert!(!tx.transmit_udp_checksum() && tx.transmit_ip_header_checksum());
        assert_eq!(tx.transmit_tcp_header_offset(), 54);
        let rx = NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO::receive(
            true, false, true, false, false, false,
        );
        assert_eq!(rx.0, (1 << 3) | (1 << 5));
    }

    #[test]
    fn revision_sizes_follow_the_field_lists() {
        assert_eq!(NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1, 136);
        assert_eq!(NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2, 152);
        assert_eq!(
            core::mem::size_of::<NDIS_MINIPORT_DRIVER_CHARACTERISTICS>(),
            160
        );
    }
}
