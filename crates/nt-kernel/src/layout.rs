//! Compile-time layout asserts. Each one names where its number comes from.
//!
//! The mingw-w64 probe (`layout/probes.txt`, compiled by `build.rs` with
//! `x86_64-w64-mingw32-gcc` against `/usr/x86_64-w64-mingw32/include/ddk`) adds one assert per
//! probe line whenever that compiler is present (always for Windows builds).

use core::mem::{offset_of, size_of};

use crate::ntdef::*;
use crate::wdm::*;

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
