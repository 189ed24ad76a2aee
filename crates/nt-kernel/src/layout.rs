//! Compile-time layout asserts. Each one names where its number comes from.
//!
//! The mingw-w64 probe (`layout/probes.txt`, compiled by `build.rs` with
//! `x86_64-w64-mingw32-gcc` against `/usr/x86_64-w64-mingw32/include/ddk`) adds one assert per
//! probe line whenever that compiler is present (always for Windows builds).

use core::mem::{offset_of, size_of};

use crate::ndis::*;
use crate::ntdef::*;
use crate::storport::*;
use crate::wdm::*;

/// The size of the type a raw pointer points to (no read through it).
#[allow(dead_code)]
const fn pointee_size<T>(_: *const T) -> usize {
    size_of::<T>()
}

/// `field_size!(Type, a.b.c)`: the size of a (possibly nested, possibly union) field, at compile
/// time, without an instance.
#[allow(unused_macros)]
macro_rules! field_size {
    ($ty:ty, $($field:tt).+) => {{
        let place = core::mem::MaybeUninit::<$ty>::uninit();
        let base = place.as_ptr();
        // SAFETY: only the field's address inside a live local is computed (no read, no
        // reference); the field path is checked by the compiler.
        let field = unsafe { core::ptr::addr_of!((*base).$($field).+) };
        pointee_size(field)
    }};
}

#[cfg(nt_kernel_mingw_probe)]
include!(concat!(env!("OUT_DIR"), "/mingw_layout.rs"));

// Documented WDK values (also where mingw-w64 agrees, so hosts without mingw check them too).
// WDK wdm.h: DEVICE_OBJECT is DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT), sizeof 0x150 on x64;
// mingw-w64 drops the alignment and has 0x148.
const _: () = assert!(
    size_of::<DEVICE_OBJECT>() == 0x150,
    "WDK: sizeof(DEVICE_OBJECT) == 0x150 on x64"
);
const _: () = assert!(
    core::mem::align_of::<DEVICE_OBJECT>() == 16,
    "WDK: MEMORY_ALLOCATION_ALIGNMENT is 16 on x64"
);
// WDK wdm.h (x64): IRP 0xD0, IO_STACK_LOCATION 0x48, DRIVER_OBJECT 0x150 with MajorFunction at 0x70.
const _: () = assert!(size_of::<IRP>() == 0xD0, "WDK: sizeof(IRP) == 0xD0 on x64");
const _: () = assert!(
    offset_of!(IRP, Tail) == 0x78,
    "WDK: IRP.Tail at 0x78 on x64"
);
const _: () = assert!(
    size_of::<IO_STACK_LOCATION>() == 0x48,
    "WDK: sizeof(IO_STACK_LOCATION) == 0x48 on x64"
);
const _: () = assert!(
    size_of::<DRIVER_OBJECT>() == 0x150,
    "WDK: sizeof(DRIVER_OBJECT) == 0x150 on x64"
);
const _: () = assert!(
    offset_of!(DRIVER_OBJECT, MajorFunction) == 0x70,
    "WDK: MajorFunction at 0x70 on x64"
);
const _: () = assert!(
    offset_of!(DRIVER_OBJECT, DriverUnload) == 0x68,
    "WDK: DriverUnload at 0x68 on x64"
);
// WDK ntddk/wdm.h (x64): KDPC 0x40, KEVENT 0x18, KTIMER 0x40, MDL 0x30, UNICODE_STRING 0x10.
const _: () = assert!(
    size_of::<KDPC>() == 0x40,
    "WDK: sizeof(KDPC) == 0x40 on x64"
);
const _: () = assert!(
    size_of::<KEVENT>() == 0x18,
    "WDK: sizeof(KEVENT) == 0x18 on x64"
);
const _: () = assert!(
    size_of::<KTIMER>() == 0x40,
    "WDK: sizeof(KTIMER) == 0x40 on x64"
);
const _: () = assert!(size_of::<MDL>() == 0x30, "WDK: sizeof(MDL) == 0x30 on x64");
const _: () = assert!(
    size_of::<UNICODE_STRING>() == 0x10,
    "WDK: sizeof(UNICODE_STRING) == 0x10 on x64"
);
// WDK: CM_PARTIAL_RESOURCE_DESCRIPTOR is declared under #pragma pack(4): 20 bytes.
const _: () = assert!(
    size_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR>() == 20,
    "WDK: pack(4) CM_PARTIAL_RESOURCE_DESCRIPTOR is 20 bytes"
);

// StorPort (storport.h; mingw-w64's srb.h checks the SCSI-port part through the probe).
// HwBuildIo follows HwAdapterControl: its offset is the SCSI port structure's size (128).
const _: () = assert!(
    offset_of!(HW_INITIALIZATION_DATA, HwBuildIo) == 128,
    "storport.h: HwBuildIo right after the 128-byte SCSI port part"
);
// Field list of storport.h (Windows 8+): 7 more pointers, 4 ULONGs, HwUnitControl -> 208.
const _: () = assert!(
    size_of::<HW_INITIALIZATION_DATA>() == 208,
    "storport.h field list: sizeof(HW_INITIALIZATION_DATA) == 208 on x64"
);
const _: () = assert!(
    size_of::<STOR_SCATTER_GATHER_ELEMENT>() == 24,
    "storport.h: STOR_SCATTER_GATHER_ELEMENT is 24 bytes on x64"
);
const _: () = assert!(
    offset_of!(STOR_SCATTER_GATHER_LIST, List) == 16,
    "storport.h: List follows NumberOfElements and Reserved"
);

// NDIS 6 (no mingw-w64 headers). NET_BUFFER / NET_BUFFER_LIST offsets: Microsoft's public
// symbols for Windows 7 SP1 x64 ndis.sys.
const _: () = assert!(
    size_of::<NDIS_OBJECT_HEADER>() == 4,
    "ndis objectheader.h: 4 bytes"
);
const _: () = assert!(
    offset_of!(NET_BUFFER, CurrentMdlOffset) == 0x10,
    "ndis.sys symbols: NET_BUFFER.CurrentMdlOffset"
);
const _: () = assert!(
    offset_of!(NET_BUFFER, DataLength) == 0x18,
    "ndis.sys symbols: NET_BUFFER.DataLength"
);
const _: () = assert!(
    offset_of!(NET_BUFFER, MdlChain) == 0x20,
    "ndis.sys symbols: NET_BUFFER.MdlChain"
);
const _: () = assert!(
    offset_of!(NET_BUFFER, DataOffset) == 0x28,
    "ndis.sys symbols: NET_BUFFER.DataOffset"
);
const _: () = assert!(
    offset_of!(NET_BUFFER, ChecksumBias) == 0x30,
    "ndis.sys symbols: NET_BUFFER.ChecksumBias"
);
const _: () = assert!(
    offset_of!(NET_BUFFER, NdisPoolHandle) == 0x38,
    "ndis.sys symbols: NET_BUFFER.NdisPoolHandle"
);
const _: () = assert!(
    offset_of!(NET_BUFFER, NdisReserved) == 0x40,
    "ndis.sys symbols: NET_BUFFER.NdisReserved"
);
const _: () = assert!(
    offset_of!(NET_BUFFER, ProtocolReserved) == 0x50,
    "ndis.sys symbols: NET_BUFFER.ProtocolReserved"
);
const _: () = assert!(
    offset_of!(NET_BUFFER, MiniportReserved) == 0x80,
    "ndis.sys symbols: NET_BUFFER.MiniportReserved"
);
const _: () = assert!(
    offset_of!(NET_BUFFER, DataPhysicalAddress) == 0xA0,
    "ndis.sys symbols: NET_BUFFER.DataPhysicalAddress"
);
const _: () = assert!(
    size_of::<NET_BUFFER>() == 0xB0,
    "ndis.sys symbols: sizeof(NET_BUFFER) == 0xB0"
);
const _: () = assert!(
    offset_of!(NET_BUFFER_LIST, FirstNetBuffer) == 0x08,
    "ndis.sys symbols: NET_BUFFER_LIST.FirstNetBuffer"
);
const _: () = assert!(
    offset_of!(NET_BUFFER_LIST, Context) == 0x10,
    "ndis.sys symbols: NET_BUFFER_LIST.Context"
);
const _: () = assert!(
    offset_of!(NET_BUFFER_LIST, NdisPoolHandle) == 0x20,
    "ndis.sys symbols: NET_BUFFER_LIST.NdisPoolHandle"
);
const _: () = assert!(
    offset_of!(NET_BUFFER_LIST, NdisReserved) == 0x30,
    "ndis.sys symbols: NET_BUFFER_LIST.NdisReserved"
);
const _: () = assert!(
    offset_of!(NET_BUFFER_LIST, ProtocolReserved) == 0x40,
    "ndis.sys symbols: NET_BUFFER_LIST.ProtocolReserved"
);
const _: () = assert!(
    offset_of!(NET_BUFFER_LIST, MiniportReserved) == 0x60,
    "ndis.sys symbols: NET_BUFFER_LIST.MiniportReserved"
);
const _: () = assert!(
    offset_of!(NET_BUFFER_LIST, SourceHandle) == 0x78,
    "ndis.sys symbols: NET_BUFFER_LIST.SourceHandle"
);
const _: () = assert!(
    offset_of!(NET_BUFFER_LIST, NblFlags) == 0x80,
    "ndis.sys symbols: NET_BUFFER_LIST.NblFlags"
);
const _: () = assert!(
    offset_of!(NET_BUFFER_LIST, Status) == 0x8C,
    "ndis.sys symbols: NET_BUFFER_LIST.Status"
);
const _: () = assert!(
    offset_of!(NET_BUFFER_LIST, NetBufferListInfo) == 0x90,
    "ndis.sys symbols: NET_BUFFER_LIST.NetBufferListInfo"
);
const _: () = assert!(
    size_of::<NET_BUFFER_LIST>() == 0x130,
    "ndis.sys symbols (NDIS 6.20): sizeof(NET_BUFFER_LIST) == 0x130"
);
// NDIS_SIZEOF_* revisions: RTL_SIZEOF_THROUGH_FIELD of each revision's last documented field.
const _: () = assert!(
    NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1 == 136,
    "ndis.h field list: 16-byte head + 15 handlers"
);
const _: () = assert!(
    NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2 == 152,
    "ndis.h field list: revision 2 adds 2 handlers"
);
const _: () = assert!(
    size_of::<NDIS_TCP_IP_CHECKSUM_OFFLOAD>() == 32,
    "ntddndis.h field list: 4 x (Encapsulation + one ULONG of bit fields)"
);
const _: () = assert!(
    size_of::<NDIS_TCP_LARGE_SEND_OFFLOAD_V2>() == 28,
    "ntddndis.h field list: IPv4 3 ULONGs, IPv6 4 ULONGs"
);
const _: () = assert!(
    NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_1 == 112,
    "ntddndis.h: NDIS_OFFLOAD revision 1 through Flags"
);
const _: () = assert!(
    offset_of!(NDIS_OFFLOAD, LsoV2) == 80,
    "ntddndis.h field list: LsoV2 after Header, Checksum, LsoV1, IPsecV1"
);
const _: () = assert!(
    size_of::<NET_BUFFER_LIST_POOL_PARAMETERS>() == 16,
    "ndis.h field list"
);
