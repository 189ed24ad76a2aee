//! Basic NT types from `ntdef.h`/`wdm.h` (LLP64: `ULONG` is 32 bits), status codes and `UNICODE_STRING`.
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]

use core::ffi::c_void;

/// `UCHAR`.
pub type UCHAR = u8;
/// `USHORT`.
pub type USHORT = u16;
/// `ULONG`: 32 bits on Windows x64 (LLP64), never `c_long` of the host.
pub type ULONG = u32;
/// `LONG`: 32 bits on Windows x64.
pub type LONG = i32;
/// `ULONG64`.
pub type ULONG64 = u64;
/// `LONGLONG`.
pub type LONGLONG = i64;
/// `ULONG_PTR`: pointer-sized unsigned integer.
pub type ULONG_PTR = usize;
/// `SIZE_T`.
pub type SIZE_T = usize;
/// `BOOLEAN`: one byte, `TRUE` is 1.
pub type BOOLEAN = u8;
/// `CSHORT`.
pub type CSHORT = i16;
/// `CCHAR`.
pub type CCHAR = i8;
/// `WCHAR`: UTF-16 code unit.
pub type WCHAR = u16;
/// `PVOID`.
pub type PVOID = *mut c_void;
/// `HANDLE`.
pub type HANDLE = *mut c_void;
/// `NTSTATUS`: negative values are errors.
pub type NTSTATUS = i32;
/// `KIRQL`.
pub type KIRQL = u8;
/// `KPROCESSOR_MODE`.
pub type KPROCESSOR_MODE = i8;
/// `KSPIN_LOCK`: a pointer-sized word owned by the kernel.
pub type KSPIN_LOCK = usize;
/// `KAFFINITY`.
pub type KAFFINITY = usize;
/// `ACCESS_MASK`.
pub type ACCESS_MASK = u32;
/// `LARGE_INTEGER` as its `QuadPart` (the union has 8-byte size and alignment on x64).
pub type LARGE_INTEGER = i64;
/// `PHYSICAL_ADDRESS`.
pub type PHYSICAL_ADDRESS = LARGE_INTEGER;

/// `TRUE`.
pub const TRUE: BOOLEAN = 1;
/// `FALSE`.
pub const FALSE: BOOLEAN = 0;

/// `STATUS_SUCCESS`.
pub const STATUS_SUCCESS: NTSTATUS = 0;
/// `STATUS_PENDING`.
pub const STATUS_PENDING: NTSTATUS = 0x0000_0103;
/// `STATUS_MORE_PROCESSING_REQUIRED`.
pub const STATUS_MORE_PROCESSING_REQUIRED: NTSTATUS = 0xC000_0016_u32 as i32;
/// `STATUS_UNSUCCESSFUL`.
pub const STATUS_UNSUCCESSFUL: NTSTATUS = 0xC000_0001_u32 as i32;
/// `STATUS_NOT_IMPLEMENTED`.
pub const STATUS_NOT_IMPLEMENTED: NTSTATUS = 0xC000_0002_u32 as i32;
/// `STATUS_INVALID_PARAMETER`.
pub const STATUS_INVALID_PARAMETER: NTSTATUS = 0xC000_000D_u32 as i32;
/// `STATUS_INVALID_DEVICE_REQUEST`.
pub const STATUS_INVALID_DEVICE_REQUEST: NTSTATUS = 0xC000_0010_u32 as i32;
/// `STATUS_INSUFFICIENT_RESOURCES`.
pub const STATUS_INSUFFICIENT_RESOURCES: NTSTATUS = 0xC000_009A_u32 as i32;
/// `STATUS_NOT_SUPPORTED`.
pub const STATUS_NOT_SUPPORTED: NTSTATUS = 0xC000_00BB_u32 as i32;
/// `STATUS_BUFFER_TOO_SMALL`.
pub const STATUS_BUFFER_TOO_SMALL: NTSTATUS = 0xC000_0023_u32 as i32;
/// `STATUS_BUFFER_OVERFLOW`.
pub const STATUS_BUFFER_OVERFLOW: NTSTATUS = 0x8000_0005_u32 as i32;
/// `STATUS_DEVICE_NOT_READY`.
pub const STATUS_DEVICE_NOT_READY: NTSTATUS = 0xC000_00A3_u32 as i32;
/// `STATUS_DEVICE_REMOVED`.
pub const STATUS_DEVICE_REMOVED: NTSTATUS = 0xC000_02B6_u32 as i32;
/// `STATUS_DELETE_PENDING`.
pub const STATUS_DELETE_PENDING: NTSTATUS = 0xC000_0056_u32 as i32;
/// `STATUS_OBJECT_NAME_NOT_FOUND`.
pub const STATUS_OBJECT_NAME_NOT_FOUND: NTSTATUS = 0xC000_0034_u32 as i32;
/// `STATUS_NO_SUCH_DEVICE`.
pub const STATUS_NO_SUCH_DEVICE: NTSTATUS = 0xC000_000E_u32 as i32;
/// `STATUS_TIMEOUT`.
pub const STATUS_TIMEOUT: NTSTATUS = 0x0000_0102;

/// `NT_SUCCESS(Status)`: success and informational codes are non-negative.
#[inline]
pub const fn NT_SUCCESS(status: NTSTATUS) -> bool {
    status >= 0
}

/// `LIST_ENTRY`: a doubly linked list link.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LIST_ENTRY {
    /// `Flink`.
    pub Flink: *mut LIST_ENTRY,
    /// `Blink`.
    pub Blink: *mut LIST_ENTRY,
}

/// `SINGLE_LIST_ENTRY`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SINGLE_LIST_ENTRY {
    /// `Next`.
    pub Next: *mut SINGLE_LIST_ENTRY,
}

/// `UNICODE_STRING`: counted UTF-16 string; lengths are in bytes and exclude any terminator.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct UNICODE_STRING {
    /// `Length` in bytes.
    pub Length: USHORT,
    /// `MaximumLength` in bytes.
    pub MaximumLength: USHORT,
    /// `Buffer`.
    pub Buffer: *mut WCHAR,
}

/// `GUID`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GUID {
    /// `Data1`.
    pub Data1: u32,
    /// `Data2`.
    pub Data2: u16,
    /// `Data3`.
    pub Data3: u16,
    /// `Data4`.
    pub Data4: [u8; 8],
}

/// `OBJECT_ATTRIBUTES`, as `InitializeObjectAttributes` fills it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct OBJECT_ATTRIBUTES {
    /// `Length`: `size_of::<OBJECT_ATTRIBUTES>()`.
    pub Length: ULONG,
    /// `RootDirectory`.
    pub RootDirectory: HANDLE,
    /// `ObjectName`.
    pub ObjectName: *mut UNICODE_STRING,
    /// `Attributes` (`OBJ_*`).
    pub Attributes: ULONG,
    /// `SecurityDescriptor`.
    pub SecurityDescriptor: PVOID,
    /// `SecurityQualityOfService`.
    pub SecurityQualityOfService: PVOID,
}

/// `OBJ_CASE_INSENSITIVE`.
pub const OBJ_CASE_INSENSITIVE: ULONG = 0x40;
/// `OBJ_KERNEL_HANDLE`.
pub const OBJ_KERNEL_HANDLE: ULONG = 0x200;

/// `ANSI_NULL`-terminated byte string pointer (`PCSTR`).
pub type PCSTR = *const u8;

/// Encodes an ASCII string literal as a NUL-terminated UTF-16 array at compile time
/// (`L"..."` in C). `N` must be the string length plus one.
pub const fn utf16_literal<const N: usize>(text: &str) -> [u16; N] {
    let bytes = text.as_bytes();
    let mut out = [0u16; N];
    assert!(bytes.len() + 1 == N, "N must be the length plus one");
    let mut index = 0;
    while index < bytes.len() {
        assert!(bytes[index] < 0x80, "ASCII only");
        out[index] = bytes[index] as u16;
        index += 1;
    }
    out
}
