//! WDM declarations from `wdm.h`/`ntddk.h`: driver, device, IRP and stack-location layouts, PnP
//! and power codes, dispatcher objects, resources, registry, pool, and the ntoskrnl/hal imports.
//!
//! Kernel-owned objects that drivers only pass to the kernel (`KDPC`, `KTIMER`, `KAPC`,
//! `KINTERRUPT`) are opaque arrays of the documented size; everything a driver reads or writes
//! has its fields, named as in the WDK. Anonymous C unions are flattened to the member drivers use
//! (noted on the field). Layouts are asserted in [`crate::layout`].
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]

use crate::ntdef::*;

// ---------------------------------------------------------------------------------------------
// Dispatcher objects

/// `DISPATCHER_HEADER` (x64): the first 4 bytes are the Type/Signalling/Size/Reserved1 bytes
/// of the anonymous union (also readable as `Lock`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DISPATCHER_HEADER {
    /// `Type`.
    pub Type: UCHAR,
    /// `Signalling`.
    pub Signalling: UCHAR,
    /// `Size`.
    pub Size: UCHAR,
    /// `Reserved1`.
    pub Reserved1: UCHAR,
    /// `SignalState`.
    pub SignalState: LONG,
    /// `WaitListHead`.
    pub WaitListHead: LIST_ENTRY,
}

/// `KEVENT`: initialise with `KeInitializeEvent` before use.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KEVENT {
    /// `Header`.
    pub Header: DISPATCHER_HEADER,
}

/// `KDPC`: opaque, 64 bytes on x64; initialise with `KeInitializeDpc`.
#[repr(C, align(8))]
pub struct KDPC {
    _opaque: [u8; 64],
}

/// `KTIMER`: opaque, 64 bytes on x64; initialise with `KeInitializeTimerEx`.
#[repr(C, align(8))]
pub struct KTIMER {
    _opaque: [u8; 64],
}

/// `KAPC`: opaque, 88 bytes on x64 (only its size matters, inside `IRP.Tail`).
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct KAPC {
    _opaque: [u8; 88],
}

/// `KINTERRUPT`: opaque kernel object, only handled by pointer.
#[repr(C)]
pub struct KINTERRUPT {
    _opaque: [u8; 0],
}

/// `KDEVICE_QUEUE_ENTRY`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KDEVICE_QUEUE_ENTRY {
    /// `DeviceListEntry`.
    pub DeviceListEntry: LIST_ENTRY,
    /// `SortKey`.
    pub SortKey: ULONG,
    /// `Inserted`.
    pub Inserted: BOOLEAN,
}

/// `KDEVICE_QUEUE` (x64).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KDEVICE_QUEUE {
    /// `Type`.
    pub Type: CSHORT,
    /// `Size`.
    pub Size: CSHORT,
    /// `DeviceListHead`.
    pub DeviceListHead: LIST_ENTRY,
    /// `Lock`.
    pub Lock: KSPIN_LOCK,
    /// `Busy` (union with the `Reserved:8`/`Hint:56` bit fields on x64).
    pub Busy: LONGLONG,
}

/// `EVENT_TYPE`.
pub type EVENT_TYPE = u32;
/// `NotificationEvent`.
pub const NotificationEvent: EVENT_TYPE = 0;
/// `SynchronizationEvent`.
pub const SynchronizationEvent: EVENT_TYPE = 1;
/// `KWAIT_REASON`.
pub type KWAIT_REASON = u32;
/// `Executive`.
pub const Executive: KWAIT_REASON = 0;
/// `KernelMode`.
pub const KernelMode: KPROCESSOR_MODE = 0;
/// `TIMER_TYPE`: `NotificationTimer`.
pub const NotificationTimer: u32 = 0;
/// `TIMER_TYPE`: `SynchronizationTimer`.
pub const SynchronizationTimer: u32 = 1;
/// `IO_NO_INCREMENT`.
pub const IO_NO_INCREMENT: CCHAR = 0;

/// `PASSIVE_LEVEL`.
pub const PASSIVE_LEVEL: KIRQL = 0;
/// `APC_LEVEL`.
pub const APC_LEVEL: KIRQL = 1;
/// `DISPATCH_LEVEL`.
pub const DISPATCH_LEVEL: KIRQL = 2;
/// `HIGH_LEVEL` (x64).
pub const HIGH_LEVEL: KIRQL = 15;

/// `PKDEFERRED_ROUTINE`.
pub type PKDEFERRED_ROUTINE = Option<
    unsafe extern "system" fn(
        Dpc: *mut KDPC,
        DeferredContext: PVOID,
        SystemArgument1: PVOID,
        SystemArgument2: PVOID,
    ),
>;

/// `IO_REMOVE_LOCK_COMMON_BLOCK`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_REMOVE_LOCK_COMMON_BLOCK {
    /// `Removed`.
    pub Removed: BOOLEAN,
    /// `Reserved[3]`.
    pub Reserved: [BOOLEAN; 3],
    /// `IoCount`.
    pub IoCount: LONG,
    /// `RemoveEvent`.
    pub RemoveEvent: KEVENT,
}

/// `IO_REMOVE_LOCK` of a free (non-`DBG`) build: only the common block. Initialise with
/// `IoInitializeRemoveLockEx`; it must not move afterwards.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_REMOVE_LOCK {
    /// `Common`.
    pub Common: IO_REMOVE_LOCK_COMMON_BLOCK,
}

// ---------------------------------------------------------------------------------------------
// Pool

/// `POOL_TYPE`.
pub type POOL_TYPE = u32;
/// `NonPagedPool`: executable non-paged pool, available from Windows 2000 to 11 (and Wine).
pub const NonPagedPool: POOL_TYPE = 0;
/// `PagedPool`.
pub const PagedPool: POOL_TYPE = 1;
/// `NonPagedPoolNx` (Windows 8 and later only).
pub const NonPagedPoolNx: POOL_TYPE = 512;

// ---------------------------------------------------------------------------------------------
// MDL

/// `MDL` (x64): a memory descriptor list header; the PFN array follows it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MDL {
    /// `Next`.
    pub Next: *mut MDL,
    /// `Size`.
    pub Size: CSHORT,
    /// `MdlFlags`.
    pub MdlFlags: CSHORT,
    /// `AllocationProcessorNumber` (Windows 10; padding before).
    pub AllocationProcessorNumber: USHORT,
    /// `Reserved`.
    pub Reserved: USHORT,
    /// `Process`.
    pub Process: PVOID,
    /// `MappedSystemVa`.
    pub MappedSystemVa: PVOID,
    /// `StartVa`.
    pub StartVa: PVOID,
    /// `ByteCount`.
    pub ByteCount: ULONG,
    /// `ByteOffset`.
    pub ByteOffset: ULONG,
}

/// `MDL_MAPPED_TO_SYSTEM_VA`.
pub const MDL_MAPPED_TO_SYSTEM_VA: CSHORT = 0x0001;
/// `MDL_SOURCE_IS_NONPAGED_POOL`.
pub const MDL_SOURCE_IS_NONPAGED_POOL: CSHORT = 0x0004;
/// `MEMORY_CACHING_TYPE`.
pub type MEMORY_CACHING_TYPE = u32;
/// `MmNonCached`.
pub const MmNonCached: MEMORY_CACHING_TYPE = 0;
/// `MmCached`.
pub const MmCached: MEMORY_CACHING_TYPE = 1;
/// `MmWriteCombined`.
pub const MmWriteCombined: MEMORY_CACHING_TYPE = 2;
/// `MM_PAGE_PRIORITY`: `NormalPagePriority`.
pub const NormalPagePriority: u32 = 16;
/// `MdlMappingNoExecute` (Windows 8 and later; or it into the page priority).
pub const MdlMappingNoExecute: u32 = 0x4000_0000;

// ---------------------------------------------------------------------------------------------
// Driver and device objects

/// `PDRIVER_DISPATCH`.
pub type PDRIVER_DISPATCH =
    Option<unsafe extern "system" fn(DeviceObject: *mut DEVICE_OBJECT, Irp: *mut IRP) -> NTSTATUS>;
/// `PDRIVER_UNLOAD`.
pub type PDRIVER_UNLOAD = Option<unsafe extern "system" fn(DriverObject: *mut DRIVER_OBJECT)>;
/// `PDRIVER_ADD_DEVICE`.
pub type PDRIVER_ADD_DEVICE = Option<
    unsafe extern "system" fn(
        DriverObject: *mut DRIVER_OBJECT,
        PhysicalDeviceObject: *mut DEVICE_OBJECT,
    ) -> NTSTATUS,
>;
/// `PIO_COMPLETION_ROUTINE`.
pub type PIO_COMPLETION_ROUTINE = Option<
    unsafe extern "system" fn(
        DeviceObject: *mut DEVICE_OBJECT,
        Irp: *mut IRP,
        Context: PVOID,
    ) -> NTSTATUS,
>;
/// `PDRIVER_CANCEL`.
pub type PDRIVER_CANCEL =
    Option<unsafe extern "system" fn(DeviceObject: *mut DEVICE_OBJECT, Irp: *mut IRP)>;

/// `IRP_MJ_MAXIMUM_FUNCTION` + 1: the length of `DRIVER_OBJECT.MajorFunction`.
pub const IRP_MJ_FUNCTION_COUNT: usize = 28;

/// `DRIVER_EXTENSION`.
#[repr(C)]
#[derive(Debug)]
pub struct DRIVER_EXTENSION {
    /// `DriverObject`.
    pub DriverObject: *mut DRIVER_OBJECT,
    /// `AddDevice`.
    pub AddDevice: PDRIVER_ADD_DEVICE,
    /// `Count`.
    pub Count: ULONG,
    /// `ServiceKeyName`.
    pub ServiceKeyName: UNICODE_STRING,
}

/// `DRIVER_OBJECT` (x64).
#[repr(C)]
#[derive(Debug)]
pub struct DRIVER_OBJECT {
    /// `Type`.
    pub Type: CSHORT,
    /// `Size`.
    pub Size: CSHORT,
    /// `DeviceObject`.
    pub DeviceObject: *mut DEVICE_OBJECT,
    /// `Flags`.
    pub Flags: ULONG,
    /// `DriverStart`.
    pub DriverStart: PVOID,
    /// `DriverSize`.
    pub DriverSize: ULONG,
    /// `DriverSection`.
    pub DriverSection: PVOID,
    /// `DriverExtension`.
    pub DriverExtension: *mut DRIVER_EXTENSION,
    /// `DriverName`.
    pub DriverName: UNICODE_STRING,
    /// `HardwareDatabase`.
    pub HardwareDatabase: *mut UNICODE_STRING,
    /// `FastIoDispatch`.
    pub FastIoDispatch: PVOID,
    /// `DriverInit`.
    pub DriverInit: PVOID,
    /// `DriverStartIo`.
    pub DriverStartIo: PVOID,
    /// `DriverUnload`.
    pub DriverUnload: PDRIVER_UNLOAD,
    /// `MajorFunction[IRP_MJ_MAXIMUM_FUNCTION + 1]`.
    pub MajorFunction: [PDRIVER_DISPATCH; IRP_MJ_FUNCTION_COUNT],
}

/// `WAIT_CONTEXT_BLOCK` (x64), only needed for the size of `DEVICE_OBJECT.Queue`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WAIT_CONTEXT_BLOCK {
    /// `WaitQueueEntry` (union with the DMA wait fields of the same size).
    pub WaitQueueEntry: KDEVICE_QUEUE_ENTRY,
    /// `DeviceRoutine`.
    pub DeviceRoutine: PVOID,
    /// `DeviceContext`.
    pub DeviceContext: PVOID,
    /// `NumberOfMapRegisters`.
    pub NumberOfMapRegisters: ULONG,
    /// `DeviceObject`.
    pub DeviceObject: PVOID,
    /// `CurrentIrp`.
    pub CurrentIrp: PVOID,
    /// `BufferChainingDpc`.
    pub BufferChainingDpc: *mut KDPC,
}

/// `DEVICE_OBJECT` (x64). The WDK declares it `DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)`,
/// so it is 0x150 bytes, not the 0x148 of mingw-w64's header.
#[repr(C, align(16))]
pub struct DEVICE_OBJECT {
    /// `Type`.
    pub Type: CSHORT,
    /// `Size`.
    pub Size: USHORT,
    /// `ReferenceCount`.
    pub ReferenceCount: LONG,
    /// `DriverObject`.
    pub DriverObject: *mut DRIVER_OBJECT,
    /// `NextDevice`.
    pub NextDevice: *mut DEVICE_OBJECT,
    /// `AttachedDevice`.
    pub AttachedDevice: *mut DEVICE_OBJECT,
    /// `CurrentIrp`.
    pub CurrentIrp: *mut IRP,
    /// `Timer`.
    pub Timer: PVOID,
    /// `Flags` (`DO_*`).
    pub Flags: ULONG,
    /// `Characteristics` (`FILE_*`).
    pub Characteristics: ULONG,
    /// `Vpb`.
    pub Vpb: PVOID,
    /// `DeviceExtension`.
    pub DeviceExtension: PVOID,
    /// `DeviceType`.
    pub DeviceType: ULONG,
    /// `StackSize`.
    pub StackSize: CCHAR,
    /// `Queue` (union of `ListEntry` and `Wcb`; the larger one).
    pub Queue: WAIT_CONTEXT_BLOCK,
    /// `AlignmentRequirement`.
    pub AlignmentRequirement: ULONG,
    /// `DeviceQueue`.
    pub DeviceQueue: KDEVICE_QUEUE,
    /// `Dpc`.
    pub Dpc: KDPC,
    /// `ActiveThreadCount`.
    pub ActiveThreadCount: ULONG,
    /// `SecurityDescriptor`.
    pub SecurityDescriptor: PVOID,
    /// `DeviceLock`.
    pub DeviceLock: KEVENT,
    /// `SectorSize`.
    pub SectorSize: USHORT,
    /// `Spare1`.
    pub Spare1: USHORT,
    /// `DeviceObjectExtension`.
    pub DeviceObjectExtension: PVOID,
    /// `Reserved`.
    pub Reserved: PVOID,
}

/// `DO_BUFFERED_IO`.
pub const DO_BUFFERED_IO: ULONG = 0x0000_0004;
/// `DO_DIRECT_IO`.
pub const DO_DIRECT_IO: ULONG = 0x0000_0010;
/// `DO_DEVICE_INITIALIZING`.
pub const DO_DEVICE_INITIALIZING: ULONG = 0x0000_0080;
/// `DO_POWER_PAGABLE`.
pub const DO_POWER_PAGABLE: ULONG = 0x0000_2000;
/// `DO_POWER_INRUSH`.
pub const DO_POWER_INRUSH: ULONG = 0x0000_4000;
/// `DO_BUS_ENUMERATED_DEVICE`.
pub const DO_BUS_ENUMERATED_DEVICE: ULONG = 0x0000_1000;
/// `FILE_DEVICE_UNKNOWN`.
pub const FILE_DEVICE_UNKNOWN: ULONG = 0x0000_0022;
/// `FILE_DEVICE_BUS_EXTENDER`.
pub const FILE_DEVICE_BUS_EXTENDER: ULONG = 0x0000_002a;
/// `FILE_DEVICE_SECURE_OPEN`.
pub const FILE_DEVICE_SECURE_OPEN: ULONG = 0x0000_0100;
/// `FILE_AUTOGENERATED_DEVICE_NAME`.
pub const FILE_AUTOGENERATED_DEVICE_NAME: ULONG = 0x0000_0080;

// ---------------------------------------------------------------------------------------------
// IRP

/// `IO_STATUS_BLOCK`. The first member is the union of `Status` and `Pointer`; drivers only use
/// `Status`, so the upper half of the union is kept as padding.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STATUS_BLOCK {
    /// `Status`.
    pub Status: NTSTATUS,
    /// Upper half of the `Status`/`Pointer` union.
    pub PointerHigh: ULONG,
    /// `Information`.
    pub Information: ULONG_PTR,
}

/// `IRP.Tail.Overlay` with its anonymous members flattened (`DriverContext` is the larger member
/// of the union with `DeviceQueueEntry`; `CurrentStackLocation` shares a union with `PacketType`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IRP_TAIL_OVERLAY {
    /// `DriverContext[4]`.
    pub DriverContext: [PVOID; 4],
    /// `Thread`.
    pub Thread: PVOID,
    /// `AuxiliaryBuffer`.
    pub AuxiliaryBuffer: *mut u8,
    /// `ListEntry`.
    pub ListEntry: LIST_ENTRY,
    /// `CurrentStackLocation`.
    pub CurrentStackLocation: *mut IO_STACK_LOCATION,
    /// `OriginalFileObject`.
    pub OriginalFileObject: PVOID,
}

/// `IRP.Tail`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IRP_TAIL {
    /// `Overlay`.
    pub Overlay: IRP_TAIL_OVERLAY,
    /// `Apc`.
    pub Apc: KAPC,
    /// `CompletionKey`.
    pub CompletionKey: PVOID,
}

/// `IRP` (x64). Stack locations follow it in memory; use the helpers in [`crate::irp`].
#[repr(C)]
pub struct IRP {
    /// `Type`.
    pub Type: CSHORT,
    /// `Size`.
    pub Size: USHORT,
    /// `AllocationProcessorNumber` (Windows 10; padding before).
    pub AllocationProcessorNumber: USHORT,
    /// `Reserved`.
    pub Reserved: USHORT,
    /// `MdlAddress`.
    pub MdlAddress: *mut MDL,
    /// `Flags`.
    pub Flags: ULONG,
    /// `AssociatedIrp` (union of `MasterIrp`, `IrpCount`, `SystemBuffer`).
    pub AssociatedIrp: PVOID,
    /// `ThreadListEntry`.
    pub ThreadListEntry: LIST_ENTRY,
    /// `IoStatus`.
    pub IoStatus: IO_STATUS_BLOCK,
    /// `RequestorMode`.
    pub RequestorMode: KPROCESSOR_MODE,
    /// `PendingReturned`.
    pub PendingReturned: BOOLEAN,
    /// `StackCount`.
    pub StackCount: CCHAR,
    /// `CurrentLocation`.
    pub CurrentLocation: CCHAR,
    /// `Cancel`.
    pub Cancel: BOOLEAN,
    /// `CancelIrql`.
    pub CancelIrql: KIRQL,
    /// `ApcEnvironment`.
    pub ApcEnvironment: CCHAR,
    /// `AllocationFlags`.
    pub AllocationFlags: UCHAR,
    /// `UserIosb`.
    pub UserIosb: *mut IO_STATUS_BLOCK,
    /// `UserEvent`.
    pub UserEvent: *mut KEVENT,
    /// `Overlay` (union of `AsynchronousParameters` and `AllocationSize`).
    pub Overlay: [PVOID; 2],
    /// `CancelRoutine`.
    pub CancelRoutine: PDRIVER_CANCEL,
    /// `UserBuffer`.
    pub UserBuffer: PVOID,
    /// `Tail`.
    pub Tail: IRP_TAIL,
}

/// `SL_PENDING_RETURNED`.
pub const SL_PENDING_RETURNED: UCHAR = 0x01;
/// `SL_INVOKE_ON_CANCEL`.
pub const SL_INVOKE_ON_CANCEL: UCHAR = 0x20;
/// `SL_INVOKE_ON_SUCCESS`.
pub const SL_INVOKE_ON_SUCCESS: UCHAR = 0x40;
/// `SL_INVOKE_ON_ERROR`.
pub const SL_INVOKE_ON_ERROR: UCHAR = 0x80;

/// `Parameters.Power` of a power IRP (x64; `POINTER_ALIGNMENT` members).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_Power {
    /// `SystemContext` (union with `SystemPowerStateContext`).
    pub SystemContext: ULONG,
    /// Padding (`POINTER_ALIGNMENT` on the next member).
    pub _Pad0: ULONG,
    /// `Type` (`POWER_STATE_TYPE`).
    pub Type: POWER_STATE_TYPE,
    /// Padding (`POINTER_ALIGNMENT`).
    pub _Pad1: ULONG,
    /// `State`.
    pub State: POWER_STATE,
    /// Padding (`POINTER_ALIGNMENT`).
    pub _Pad2: ULONG,
    /// `ShutdownType` (`POWER_ACTION`).
    pub ShutdownType: ULONG,
    /// Padding to the union size.
    pub _Pad3: ULONG,
}

/// `Parameters.QueryDeviceRelations`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_QueryDeviceRelations {
    /// `Type`.
    pub Type: DEVICE_RELATION_TYPE,
}

/// `Parameters.QueryInterface`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_QueryInterface {
    /// `InterfaceType`.
    pub InterfaceType: *const GUID,
    /// `Size`.
    pub Size: USHORT,
    /// `Version`.
    pub Version: USHORT,
    /// `Interface`.
    pub Interface: *mut INTERFACE,
    /// `InterfaceSpecificData`.
    pub InterfaceSpecificData: PVOID,
}

/// `Parameters.QueryId`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_QueryId {
    /// `IdType`.
    pub IdType: BUS_QUERY_ID_TYPE,
}

/// `Parameters.QueryDeviceText`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_QueryDeviceText {
    /// `DeviceTextType`.
    pub DeviceTextType: DEVICE_TEXT_TYPE,
    /// Padding (`POINTER_ALIGNMENT` on the next member).
    pub _Pad0: ULONG,
    /// `LocaleId` (`LCID`, `POINTER_ALIGNMENT`).
    pub LocaleId: ULONG,
}

/// `Parameters.StartDevice`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_StartDevice {
    /// `AllocatedResources`.
    pub AllocatedResources: *mut CM_RESOURCE_LIST,
    /// `AllocatedResourcesTranslated`.
    pub AllocatedResourcesTranslated: *mut CM_RESOURCE_LIST,
}

/// `Parameters.DeviceCapabilities` (IRP_MN_QUERY_CAPABILITIES).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_DeviceCapabilities {
    /// `Capabilities`.
    pub Capabilities: *mut DEVICE_CAPABILITIES,
}

/// `Parameters.UsageNotification`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_UsageNotification {
    /// `InPath`.
    pub InPath: BOOLEAN,
    /// `Reserved[3]`.
    pub Reserved: [BOOLEAN; 3],
    /// Padding (`POINTER_ALIGNMENT` on the next member).
    pub _Pad0: ULONG,
    /// `Type` (`DEVICE_USAGE_NOTIFICATION_TYPE`, `POINTER_ALIGNMENT`).
    pub Type: ULONG,
}

/// `Parameters.DeviceIoControl` (x64; `POINTER_ALIGNMENT` members).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_DeviceIoControl {
    /// `OutputBufferLength`.
    pub OutputBufferLength: ULONG,
    /// Padding (`POINTER_ALIGNMENT` on the next member).
    pub _Pad0: ULONG,
    /// `InputBufferLength` (`POINTER_ALIGNMENT`).
    pub InputBufferLength: ULONG,
    /// Padding (`POINTER_ALIGNMENT` on the next member).
    pub _Pad1: ULONG,
    /// `IoControlCode` (`POINTER_ALIGNMENT`).
    pub IoControlCode: ULONG,
    /// Padding.
    pub _Pad2: ULONG,
    /// `Type3InputBuffer`.
    pub Type3InputBuffer: PVOID,
}

/// `Parameters.Read` / `Parameters.Write`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_ReadWrite {
    /// `Length`.
    pub Length: ULONG,
    /// Padding (`POINTER_ALIGNMENT` on the next member).
    pub _Pad0: ULONG,
    /// `Key` (`POINTER_ALIGNMENT`).
    pub Key: ULONG,
    /// `Flags` (Windows 8 and later; padding before).
    pub Flags: ULONG,
    /// `ByteOffset`.
    pub ByteOffset: LARGE_INTEGER,
}

/// `Parameters.Others`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_Others {
    /// `Argument1`.
    pub Argument1: PVOID,
    /// `Argument2`.
    pub Argument2: PVOID,
    /// `Argument3`.
    pub Argument3: PVOID,
    /// `Argument4`.
    pub Argument4: PVOID,
}

/// `IO_STACK_LOCATION.Parameters`: the members the suite uses.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IO_STACK_LOCATION_PARAMETERS {
    /// `Power`.
    pub Power: IO_STACK_LOCATION_Power,
    /// `QueryDeviceRelations`.
    pub QueryDeviceRelations: IO_STACK_LOCATION_QueryDeviceRelations,
    /// `QueryInterface`.
    pub QueryInterface: IO_STACK_LOCATION_QueryInterface,
    /// `QueryId`.
    pub QueryId: IO_STACK_LOCATION_QueryId,
    /// `QueryDeviceText`.
    pub QueryDeviceText: IO_STACK_LOCATION_QueryDeviceText,
    /// `StartDevice`.
    pub StartDevice: IO_STACK_LOCATION_StartDevice,
    /// `DeviceCapabilities`.
    pub DeviceCapabilities: IO_STACK_LOCATION_DeviceCapabilities,
    /// `UsageNotification`.
    pub UsageNotification: IO_STACK_LOCATION_UsageNotification,
    /// `DeviceIoControl`.
    pub DeviceIoControl: IO_STACK_LOCATION_DeviceIoControl,
    /// `Read`.
    pub Read: IO_STACK_LOCATION_ReadWrite,
    /// `Write`.
    pub Write: IO_STACK_LOCATION_ReadWrite,
    /// `Scsi.Srb` (a `SCSI_REQUEST_BLOCK` pointer).
    pub Scsi: PVOID,
    /// `Others`.
    pub Others: IO_STACK_LOCATION_Others,
}

/// `IO_STACK_LOCATION` (x64).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IO_STACK_LOCATION {
    /// `MajorFunction`.
    pub MajorFunction: UCHAR,
    /// `MinorFunction`.
    pub MinorFunction: UCHAR,
    /// `Flags`.
    pub Flags: UCHAR,
    /// `Control` (`SL_*`).
    pub Control: UCHAR,
    /// `Parameters`.
    pub Parameters: IO_STACK_LOCATION_PARAMETERS,
    /// `DeviceObject`.
    pub DeviceObject: *mut DEVICE_OBJECT,
    /// `FileObject`.
    pub FileObject: PVOID,
    /// `CompletionRoutine`.
    pub CompletionRoutine: PIO_COMPLETION_ROUTINE,
    /// `Context`.
    pub Context: PVOID,
}

// Major function codes.
/// `IRP_MJ_CREATE`.
pub const IRP_MJ_CREATE: UCHAR = 0x00;
/// `IRP_MJ_CLOSE`.
pub const IRP_MJ_CLOSE: UCHAR = 0x02;
/// `IRP_MJ_READ`.
pub const IRP_MJ_READ: UCHAR = 0x03;
/// `IRP_MJ_WRITE`.
pub const IRP_MJ_WRITE: UCHAR = 0x04;
/// `IRP_MJ_DEVICE_CONTROL`.
pub const IRP_MJ_DEVICE_CONTROL: UCHAR = 0x0e;
/// `IRP_MJ_INTERNAL_DEVICE_CONTROL` (also `IRP_MJ_SCSI`).
pub const IRP_MJ_INTERNAL_DEVICE_CONTROL: UCHAR = 0x0f;
/// `IRP_MJ_SHUTDOWN`.
pub const IRP_MJ_SHUTDOWN: UCHAR = 0x10;
/// `IRP_MJ_CLEANUP`.
pub const IRP_MJ_CLEANUP: UCHAR = 0x12;
/// `IRP_MJ_POWER`.
pub const IRP_MJ_POWER: UCHAR = 0x16;
/// `IRP_MJ_SYSTEM_CONTROL`.
pub const IRP_MJ_SYSTEM_CONTROL: UCHAR = 0x17;
/// `IRP_MJ_PNP`.
pub const IRP_MJ_PNP: UCHAR = 0x1b;

// PnP minor codes.
/// `IRP_MN_START_DEVICE`.
pub const IRP_MN_START_DEVICE: UCHAR = 0x00;
/// `IRP_MN_QUERY_REMOVE_DEVICE`.
pub const IRP_MN_QUERY_REMOVE_DEVICE: UCHAR = 0x01;
/// `IRP_MN_REMOVE_DEVICE`.
pub const IRP_MN_REMOVE_DEVICE: UCHAR = 0x02;
/// `IRP_MN_CANCEL_REMOVE_DEVICE`.
pub const IRP_MN_CANCEL_REMOVE_DEVICE: UCHAR = 0x03;
/// `IRP_MN_STOP_DEVICE`.
pub const IRP_MN_STOP_DEVICE: UCHAR = 0x04;
/// `IRP_MN_QUERY_STOP_DEVICE`.
pub const IRP_MN_QUERY_STOP_DEVICE: UCHAR = 0x05;
/// `IRP_MN_CANCEL_STOP_DEVICE`.
pub const IRP_MN_CANCEL_STOP_DEVICE: UCHAR = 0x06;
/// `IRP_MN_QUERY_DEVICE_RELATIONS`.
pub const IRP_MN_QUERY_DEVICE_RELATIONS: UCHAR = 0x07;
/// `IRP_MN_QUERY_INTERFACE`.
pub const IRP_MN_QUERY_INTERFACE: UCHAR = 0x08;
/// `IRP_MN_QUERY_CAPABILITIES`.
pub const IRP_MN_QUERY_CAPABILITIES: UCHAR = 0x09;
/// `IRP_MN_QUERY_RESOURCES`.
pub const IRP_MN_QUERY_RESOURCES: UCHAR = 0x0A;
/// `IRP_MN_QUERY_RESOURCE_REQUIREMENTS`.
pub const IRP_MN_QUERY_RESOURCE_REQUIREMENTS: UCHAR = 0x0B;
/// `IRP_MN_QUERY_DEVICE_TEXT`.
pub const IRP_MN_QUERY_DEVICE_TEXT: UCHAR = 0x0C;
/// `IRP_MN_FILTER_RESOURCE_REQUIREMENTS`.
pub const IRP_MN_FILTER_RESOURCE_REQUIREMENTS: UCHAR = 0x0D;
/// `IRP_MN_READ_CONFIG`.
pub const IRP_MN_READ_CONFIG: UCHAR = 0x0F;
/// `IRP_MN_WRITE_CONFIG`.
pub const IRP_MN_WRITE_CONFIG: UCHAR = 0x10;
/// `IRP_MN_EJECT`.
pub const IRP_MN_EJECT: UCHAR = 0x11;
/// `IRP_MN_SET_LOCK`.
pub const IRP_MN_SET_LOCK: UCHAR = 0x12;
/// `IRP_MN_QUERY_ID`.
pub const IRP_MN_QUERY_ID: UCHAR = 0x13;
/// `IRP_MN_QUERY_PNP_DEVICE_STATE`.
pub const IRP_MN_QUERY_PNP_DEVICE_STATE: UCHAR = 0x14;
/// `IRP_MN_QUERY_BUS_INFORMATION`.
pub const IRP_MN_QUERY_BUS_INFORMATION: UCHAR = 0x15;
/// `IRP_MN_DEVICE_USAGE_NOTIFICATION`.
pub const IRP_MN_DEVICE_USAGE_NOTIFICATION: UCHAR = 0x16;
/// `IRP_MN_SURPRISE_REMOVAL`.
pub const IRP_MN_SURPRISE_REMOVAL: UCHAR = 0x17;
/// `IRP_MN_DEVICE_ENUMERATED`.
pub const IRP_MN_DEVICE_ENUMERATED: UCHAR = 0x19;

// Power minor codes.
/// `IRP_MN_WAIT_WAKE`.
pub const IRP_MN_WAIT_WAKE: UCHAR = 0x00;
/// `IRP_MN_POWER_SEQUENCE`.
pub const IRP_MN_POWER_SEQUENCE: UCHAR = 0x01;
/// `IRP_MN_SET_POWER`.
pub const IRP_MN_SET_POWER: UCHAR = 0x02;
/// `IRP_MN_QUERY_POWER`.
pub const IRP_MN_QUERY_POWER: UCHAR = 0x03;

/// `DEVICE_RELATION_TYPE`.
pub type DEVICE_RELATION_TYPE = u32;
/// `BusRelations`.
pub const BusRelations: DEVICE_RELATION_TYPE = 0;
/// `EjectionRelations`.
pub const EjectionRelations: DEVICE_RELATION_TYPE = 1;
/// `PowerRelations`.
pub const PowerRelations: DEVICE_RELATION_TYPE = 2;
/// `RemovalRelations`.
pub const RemovalRelations: DEVICE_RELATION_TYPE = 3;
/// `TargetDeviceRelation`.
pub const TargetDeviceRelation: DEVICE_RELATION_TYPE = 4;

/// `BUS_QUERY_ID_TYPE`.
pub type BUS_QUERY_ID_TYPE = u32;
/// `BusQueryDeviceID`.
pub const BusQueryDeviceID: BUS_QUERY_ID_TYPE = 0;
/// `BusQueryHardwareIDs`.
pub const BusQueryHardwareIDs: BUS_QUERY_ID_TYPE = 1;
/// `BusQueryCompatibleIDs`.
pub const BusQueryCompatibleIDs: BUS_QUERY_ID_TYPE = 2;
/// `BusQueryInstanceID`.
pub const BusQueryInstanceID: BUS_QUERY_ID_TYPE = 3;
/// `DEVICE_TEXT_TYPE`.
pub type DEVICE_TEXT_TYPE = u32;
/// `DeviceTextDescription`.
pub const DeviceTextDescription: DEVICE_TEXT_TYPE = 0;
/// `DeviceTextLocationInformation`.
pub const DeviceTextLocationInformation: DEVICE_TEXT_TYPE = 1;

/// `DEVICE_RELATIONS` (a variable-length array of referenced device objects follows `Count`).
#[repr(C)]
#[derive(Debug)]
pub struct DEVICE_RELATIONS {
    /// `Count`.
    pub Count: ULONG,
    /// `Objects[1]`.
    pub Objects: [*mut DEVICE_OBJECT; 1],
}

/// `POWER_STATE_TYPE`.
pub type POWER_STATE_TYPE = u32;
/// `SystemPowerState`.
pub const SystemPowerState: POWER_STATE_TYPE = 0;
/// `DevicePowerState`.
pub const DevicePowerState: POWER_STATE_TYPE = 1;
/// `SYSTEM_POWER_STATE`.
pub type SYSTEM_POWER_STATE = u32;
/// `PowerSystemWorking` (S0).
pub const PowerSystemWorking: SYSTEM_POWER_STATE = 1;
/// `PowerSystemHibernate` (S4).
pub const PowerSystemHibernate: SYSTEM_POWER_STATE = 5;
/// `PowerSystemShutdown` (S5).
pub const PowerSystemShutdown: SYSTEM_POWER_STATE = 6;
/// `DEVICE_POWER_STATE`.
pub type DEVICE_POWER_STATE = u32;
/// `PowerDeviceD0`.
pub const PowerDeviceD0: DEVICE_POWER_STATE = 1;
/// `PowerDeviceD3`.
pub const PowerDeviceD3: DEVICE_POWER_STATE = 4;

/// `POWER_STATE`: union of `SystemState` and `DeviceState`, both 32-bit enums.
#[repr(C)]
#[derive(Clone, Copy)]
pub union POWER_STATE {
    /// `SystemState`.
    pub SystemState: SYSTEM_POWER_STATE,
    /// `DeviceState`.
    pub DeviceState: DEVICE_POWER_STATE,
}

impl core::fmt::Debug for POWER_STATE {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // SAFETY: both members are plain 32-bit integers, so either reading is valid.
        let raw = unsafe { self.SystemState };
        write!(f, "POWER_STATE({raw})")
    }
}

/// `DEVICE_CAPABILITIES` (the bit fields are one `ULONG`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DEVICE_CAPABILITIES {
    /// `Size`.
    pub Size: USHORT,
    /// `Version`.
    pub Version: USHORT,
    /// `DeviceD1` .. `Reserved` bit fields.
    pub Flags: ULONG,
    /// `Address`.
    pub Address: ULONG,
    /// `UINumber`.
    pub UINumber: ULONG,
    /// `DeviceState[POWER_SYSTEM_MAXIMUM]`.
    pub DeviceState: [DEVICE_POWER_STATE; 7],
    /// `SystemWake`.
    pub SystemWake: SYSTEM_POWER_STATE,
    /// `DeviceWake`.
    pub DeviceWake: DEVICE_POWER_STATE,
    /// `D1Latency`.
    pub D1Latency: ULONG,
    /// `D2Latency`.
    pub D2Latency: ULONG,
    /// `D3Latency`.
    pub D3Latency: ULONG,
}

/// `PINTERFACE_REFERENCE` / `PINTERFACE_DEREFERENCE`.
pub type PINTERFACE_REFERENCE = Option<unsafe extern "system" fn(Context: PVOID)>;

/// `INTERFACE`: the header of every interface returned by `IRP_MN_QUERY_INTERFACE`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct INTERFACE {
    /// `Size`.
    pub Size: USHORT,
    /// `Version`.
    pub Version: USHORT,
    /// `Context`.
    pub Context: PVOID,
    /// `InterfaceReference`.
    pub InterfaceReference: PINTERFACE_REFERENCE,
    /// `InterfaceDereference`.
    pub InterfaceDereference: PINTERFACE_REFERENCE,
}

/// `BUS_INTERFACE_STANDARD` (`GUID_BUS_INTERFACE_STANDARD`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BUS_INTERFACE_STANDARD {
    /// `Size`.
    pub Size: USHORT,
    /// `Version`.
    pub Version: USHORT,
    /// `Context`.
    pub Context: PVOID,
    /// `InterfaceReference`.
    pub InterfaceReference: PINTERFACE_REFERENCE,
    /// `InterfaceDereference`.
    pub InterfaceDereference: PINTERFACE_REFERENCE,
    /// `TranslateBusAddress`.
    pub TranslateBusAddress: PVOID,
    /// `GetDmaAdapter`.
    pub GetDmaAdapter: PVOID,
    /// `SetBusData`.
    pub SetBusData: PVOID,
    /// `GetBusData`.
    pub GetBusData: PVOID,
}

/// `GUID_BUS_INTERFACE_STANDARD` {496B8280-6F25-11D0-BEAF-08002BE2092F}.
pub const GUID_BUS_INTERFACE_STANDARD: GUID = GUID {
    Data1: 0x496B_8280,
    Data2: 0x6F25,
    Data3: 0x11D0,
    Data4: [0xBE, 0xAF, 0x08, 0x00, 0x2B, 0xE2, 0x09, 0x2F],
};

// ---------------------------------------------------------------------------------------------
// Resources (these structures are declared under `#pragma pack(4)` in the WDK)

/// `CM_RESOURCE_TYPE` values.
pub const CmResourceTypePort: UCHAR = 1;
/// `CmResourceTypeInterrupt`.
pub const CmResourceTypeInterrupt: UCHAR = 2;
/// `CmResourceTypeMemory`.
pub const CmResourceTypeMemory: UCHAR = 3;
/// `CM_RESOURCE_INTERRUPT_LATCHED`.
pub const CM_RESOURCE_INTERRUPT_LATCHED: USHORT = 1;
/// `CM_RESOURCE_INTERRUPT_MESSAGE`.
pub const CM_RESOURCE_INTERRUPT_MESSAGE: USHORT = 2;

/// The `u` union of `CM_PARTIAL_RESOURCE_DESCRIPTOR`, as three 32-bit words and a 32-bit tail
/// (`Memory`: `Start` at 0, `Length` at 8; `Port` likewise; `Interrupt`: `Level`/`Group` at 0,
/// `Vector` at 4, `Affinity` at 8). Read it with the accessors.
#[repr(C, packed(4))]
#[derive(Debug, Clone, Copy)]
pub struct CM_PARTIAL_RESOURCE_DESCRIPTOR_u {
    /// The raw 16 bytes.
    pub Raw: [u32; 4],
}

impl CM_PARTIAL_RESOURCE_DESCRIPTOR_u {
    /// `u.Memory.Start` / `u.Port.Start`.
    pub fn start(&self) -> PHYSICAL_ADDRESS {
        let raw = self.Raw;
        (u64::from(raw[0]) | (u64::from(raw[1]) << 32)) as i64
    }
    /// `u.Memory.Length` / `u.Port.Length`.
    pub fn length(&self) -> ULONG {
        let raw = self.Raw;
        raw[2]
    }
    /// `u.Interrupt.Level`: the low 16 bits of the first word (with processor groups the WDK
    /// splits it into `USHORT Level` and `USHORT Group`; a level never exceeds 16 bits).
    pub fn interrupt_level(&self) -> ULONG {
        let raw = self.Raw;
        raw[0] & 0xFFFF
    }
    /// `u.Interrupt.Group`: the high 16 bits of the first word (0 without processor groups).
    pub fn interrupt_group(&self) -> USHORT {
        let raw = self.Raw;
        (raw[0] >> 16) as USHORT
    }
    /// `u.Interrupt.Vector`.
    pub fn interrupt_vector(&self) -> ULONG {
        let raw = self.Raw;
        raw[1]
    }
    /// `u.Interrupt.Affinity`.
    pub fn interrupt_affinity(&self) -> KAFFINITY {
        let raw = self.Raw;
        (u64::from(raw[2]) | (u64::from(raw[3]) << 32)) as usize
    }
}

/// `CM_PARTIAL_RESOURCE_DESCRIPTOR`.
#[repr(C, packed(4))]
#[derive(Debug, Clone, Copy)]
pub struct CM_PARTIAL_RESOURCE_DESCRIPTOR {
    /// `Type` (`CmResourceType*`).
    pub Type: UCHAR,
    /// `ShareDisposition`.
    pub ShareDisposition: UCHAR,
    /// `Flags`.
    pub Flags: USHORT,
    /// `u`.
    pub u: CM_PARTIAL_RESOURCE_DESCRIPTOR_u,
}

/// `CM_PARTIAL_RESOURCE_LIST` (descriptors continue past `PartialDescriptors[0]`).
#[repr(C, packed(4))]
#[derive(Debug, Clone, Copy)]
pub struct CM_PARTIAL_RESOURCE_LIST {
    /// `Version`.
    pub Version: USHORT,
    /// `Revision`.
    pub Revision: USHORT,
    /// `Count`.
    pub Count: ULONG,
    /// `PartialDescriptors[1]`.
    pub PartialDescriptors: [CM_PARTIAL_RESOURCE_DESCRIPTOR; 1],
}

/// `CM_FULL_RESOURCE_DESCRIPTOR`.
#[repr(C, packed(4))]
#[derive(Debug, Clone, Copy)]
pub struct CM_FULL_RESOURCE_DESCRIPTOR {
    /// `InterfaceType`.
    pub InterfaceType: u32,
    /// `BusNumber`.
    pub BusNumber: ULONG,
    /// `PartialResourceList`.
    pub PartialResourceList: CM_PARTIAL_RESOURCE_LIST,
}

/// `CM_RESOURCE_LIST`.
#[repr(C, packed(4))]
#[derive(Debug, Clone, Copy)]
pub struct CM_RESOURCE_LIST {
    /// `Count`.
    pub Count: ULONG,
    /// `List[1]`.
    pub List: [CM_FULL_RESOURCE_DESCRIPTOR; 1],
}

// ---------------------------------------------------------------------------------------------
// Interrupts (IoConnectInterruptEx, line-based version)

/// `CONNECT_LINE_BASED`.
pub const CONNECT_LINE_BASED: ULONG = 1;
/// `CONNECT_FULLY_SPECIFIED`.
pub const CONNECT_FULLY_SPECIFIED: ULONG = 2;
/// `PKSERVICE_ROUTINE`.
pub type PKSERVICE_ROUTINE =
    Option<unsafe extern "system" fn(Interrupt: *mut KINTERRUPT, ServiceContext: PVOID) -> BOOLEAN>;

/// `IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS {
    /// `PhysicalDeviceObject`.
    pub PhysicalDeviceObject: *mut DEVICE_OBJECT,
    /// `InterruptObject`.
    pub InterruptObject: *mut *mut KINTERRUPT,
    /// `ServiceRoutine`.
    pub ServiceRoutine: PKSERVICE_ROUTINE,
    /// `ServiceContext`.
    pub ServiceContext: PVOID,
    /// `SpinLock`.
    pub SpinLock: *mut KSPIN_LOCK,
    /// `SynchronizeIrql`.
    pub SynchronizeIrql: KIRQL,
    /// `FloatingSave`.
    pub FloatingSave: BOOLEAN,
}

/// `IO_CONNECT_INTERRUPT_PARAMETERS`: `Version` then the union (line-based member shown; the
/// fully-specified member is larger and sets the union size).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_CONNECT_INTERRUPT_PARAMETERS {
    /// `Version` (`CONNECT_*`).
    pub Version: ULONG,
    /// `LineBased`.
    pub LineBased: IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS,
    /// The rest of the `FullySpecified` member (`ShareVector` .. `Group`).
    pub _FullySpecifiedTail: [u64; 3],
}

/// `IO_DISCONNECT_INTERRUPT_PARAMETERS`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_DISCONNECT_INTERRUPT_PARAMETERS {
    /// `Version`.
    pub Version: ULONG,
    /// `ConnectionContext` (the `InterruptObject` for line-based connections).
    pub ConnectionContext: PVOID,
}

// ---------------------------------------------------------------------------------------------
// Registry

/// `KEY_READ`.
pub const KEY_READ: ACCESS_MASK = 0x0002_0019;
/// `KEY_WRITE`.
pub const KEY_WRITE: ACCESS_MASK = 0x0002_0006;
/// `KEY_ALL_ACCESS`.
pub const KEY_ALL_ACCESS: ACCESS_MASK = 0x000F_003F;
/// `REG_SZ`.
pub const REG_SZ: ULONG = 1;
/// `REG_DWORD`.
pub const REG_DWORD: ULONG = 4;
/// `REG_EXPAND_SZ`.
pub const REG_EXPAND_SZ: ULONG = 2;
/// `REG_QWORD`.
pub const REG_QWORD: ULONG = 11;

/// `FILE_NETWORK_OPEN_INFORMATION` (what `ZwQueryFullAttributesFile` returns).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct FILE_NETWORK_OPEN_INFORMATION {
    /// `CreationTime`.
    pub CreationTime: LARGE_INTEGER,
    /// `LastAccessTime`.
    pub LastAccessTime: LARGE_INTEGER,
    /// `LastWriteTime` (100 ns units since 1601).
    pub LastWriteTime: LARGE_INTEGER,
    /// `ChangeTime`.
    pub ChangeTime: LARGE_INTEGER,
    /// `AllocationSize`.
    pub AllocationSize: LARGE_INTEGER,
    /// `EndOfFile` (the file size in bytes).
    pub EndOfFile: LARGE_INTEGER,
    /// `FileAttributes`.
    pub FileAttributes: ULONG,
}
/// `REG_MULTI_SZ`.
pub const REG_MULTI_SZ: ULONG = 7;
/// `PLUGPLAY_REGKEY_DEVICE`.
pub const PLUGPLAY_REGKEY_DEVICE: ULONG = 1;
/// `PLUGPLAY_REGKEY_DRIVER`.
pub const PLUGPLAY_REGKEY_DRIVER: ULONG = 2;
/// `KEY_VALUE_INFORMATION_CLASS`: `KeyValuePartialInformation`.
pub const KeyValuePartialInformation: u32 = 2;

/// `KEY_VALUE_PARTIAL_INFORMATION` (data continues past `Data[0]`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KEY_VALUE_PARTIAL_INFORMATION {
    /// `TitleIndex`.
    pub TitleIndex: ULONG,
    /// `Type`.
    pub Type: ULONG,
    /// `DataLength`.
    pub DataLength: ULONG,
    /// `Data[1]`.
    pub Data: [UCHAR; 1],
}

/// `DEVICE_REGISTRY_PROPERTY`: `DevicePropertyHardwareID`.
pub const DevicePropertyHardwareID: u32 = 1;
/// `DEVICE_REGISTRY_PROPERTY`: `DevicePropertyBusNumber`.
pub const DevicePropertyBusNumber: u32 = 14;

// ---------------------------------------------------------------------------------------------
// Debug output and bug checks

/// `DPFLTR_IHVDRIVER_ID`: the component id for third-party drivers.
pub const DPFLTR_IHVDRIVER_ID: ULONG = 77;
/// `DPFLTR_ERROR_LEVEL` (shown by default).
pub const DPFLTR_ERROR_LEVEL: ULONG = 0;
/// `DPFLTR_WARNING_LEVEL`.
pub const DPFLTR_WARNING_LEVEL: ULONG = 1;
/// `DPFLTR_TRACE_LEVEL`.
pub const DPFLTR_TRACE_LEVEL: ULONG = 2;
/// `DPFLTR_INFO_LEVEL`.
pub const DPFLTR_INFO_LEVEL: ULONG = 3;

// ---------------------------------------------------------------------------------------------
// ntoskrnl.exe imports (each name is listed in def/ntoskrnl.def)

#[cfg_attr(target_os = "windows", link(name = "ntoskrnl"))]
unsafe extern "C" {
    /// `DbgPrintEx(ComponentId, Level, Format, ...)`.
    pub fn DbgPrintEx(ComponentId: ULONG, Level: ULONG, Format: PCSTR, ...) -> ULONG;
}

#[cfg_attr(target_os = "windows", link(name = "ntoskrnl"))]
unsafe extern "system" {
    /// `KeBugCheckEx`: never returns.
    pub fn KeBugCheckEx(
        BugCheckCode: ULONG,
        P1: ULONG_PTR,
        P2: ULONG_PTR,
        P3: ULONG_PTR,
        P4: ULONG_PTR,
    ) -> !;
    /// `ExAllocatePoolWithTag`.
    pub fn ExAllocatePoolWithTag(PoolType: POOL_TYPE, NumberOfBytes: SIZE_T, Tag: ULONG) -> PVOID;
    /// `ExFreePoolWithTag`.
    pub fn ExFreePoolWithTag(P: PVOID, Tag: ULONG);

    /// `IoCreateDevice`.
    pub fn IoCreateDevice(
        DriverObject: *mut DRIVER_OBJECT,
        DeviceExtensionSize: ULONG,
        DeviceName: *mut UNICODE_STRING,
        DeviceType: ULONG,
        DeviceCharacteristics: ULONG,
        Exclusive: BOOLEAN,
        DeviceObject: *mut *mut DEVICE_OBJECT,
    ) -> NTSTATUS;
    /// `IoDeleteDevice`.
    pub fn IoDeleteDevice(DeviceObject: *mut DEVICE_OBJECT);
    /// `IoAttachDeviceToDeviceStack`.
    pub fn IoAttachDeviceToDeviceStack(
        SourceDevice: *mut DEVICE_OBJECT,
        TargetDevice: *mut DEVICE_OBJECT,
    ) -> *mut DEVICE_OBJECT;
    /// `IoDetachDevice`.
    pub fn IoDetachDevice(TargetDevice: *mut DEVICE_OBJECT);
    /// `IofCallDriver` (what the `IoCallDriver` macro calls).
    pub fn IofCallDriver(DeviceObject: *mut DEVICE_OBJECT, Irp: *mut IRP) -> NTSTATUS;
    /// `IofCompleteRequest` (what the `IoCompleteRequest` macro calls).
    pub fn IofCompleteRequest(Irp: *mut IRP, PriorityBoost: CCHAR);
    /// `IoInitializeRemoveLockEx` (what `IoInitializeRemoveLock` expands to).
    pub fn IoInitializeRemoveLockEx(
        Lock: *mut IO_REMOVE_LOCK,
        AllocateTag: ULONG,
        MaxLockedMinutes: ULONG,
        HighWatermark: ULONG,
        RemlockSize: ULONG,
    );
    /// `IoAcquireRemoveLockEx` (what `IoAcquireRemoveLock` expands to).
    pub fn IoAcquireRemoveLockEx(
        RemoveLock: *mut IO_REMOVE_LOCK,
        Tag: PVOID,
        File: PCSTR,
        Line: ULONG,
        RemlockSize: ULONG,
    ) -> NTSTATUS;
    /// `IoReleaseRemoveLockEx`.
    pub fn IoReleaseRemoveLockEx(RemoveLock: *mut IO_REMOVE_LOCK, Tag: PVOID, RemlockSize: ULONG);
    /// `IoReleaseRemoveLockAndWaitEx`.
    pub fn IoReleaseRemoveLockAndWaitEx(
        RemoveLock: *mut IO_REMOVE_LOCK,
        Tag: PVOID,
        RemlockSize: ULONG,
    );
    /// `IoAllocateIrp`.
    pub fn IoAllocateIrp(StackSize: CCHAR, ChargeQuota: BOOLEAN) -> *mut IRP;
    /// `IoFreeIrp`.
    pub fn IoFreeIrp(Irp: *mut IRP);
    /// `IoGetAttachedDeviceReference`.
    pub fn IoGetAttachedDeviceReference(DeviceObject: *mut DEVICE_OBJECT) -> *mut DEVICE_OBJECT;
    /// `IoInvalidateDeviceRelations`.
    pub fn IoInvalidateDeviceRelations(
        DeviceObject: *mut DEVICE_OBJECT,
        Type: DEVICE_RELATION_TYPE,
    );
    /// `IoRequestDeviceEject`.
    pub fn IoRequestDeviceEject(PhysicalDeviceObject: *mut DEVICE_OBJECT);
    /// `IoGetDeviceProperty`.
    pub fn IoGetDeviceProperty(
        DeviceObject: *mut DEVICE_OBJECT,
        DeviceProperty: u32,
        BufferLength: ULONG,
        PropertyBuffer: PVOID,
        ResultLength: *mut ULONG,
    ) -> NTSTATUS;
    /// `IoOpenDeviceRegistryKey`.
    pub fn IoOpenDeviceRegistryKey(
        DeviceObject: *mut DEVICE_OBJECT,
        DevInstKeyType: ULONG,
        DesiredAccess: ACCESS_MASK,
        DevInstRegKey: *mut HANDLE,
    ) -> NTSTATUS;
    /// `IoRegisterDeviceInterface`.
    pub fn IoRegisterDeviceInterface(
        PhysicalDeviceObject: *mut DEVICE_OBJECT,
        InterfaceClassGuid: *const GUID,
        ReferenceString: *mut UNICODE_STRING,
        SymbolicLinkName: *mut UNICODE_STRING,
    ) -> NTSTATUS;
    /// `IoSetDeviceInterfaceState`.
    pub fn IoSetDeviceInterfaceState(
        SymbolicLinkName: *mut UNICODE_STRING,
        Enable: BOOLEAN,
    ) -> NTSTATUS;
    /// `IoConnectInterruptEx` (not in Wine 8).
    pub fn IoConnectInterruptEx(Parameters: *mut IO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS;
    /// `IoDisconnectInterruptEx` (not in Wine 8).
    pub fn IoDisconnectInterruptEx(Parameters: *mut IO_DISCONNECT_INTERRUPT_PARAMETERS);
    /// `IoAllocateMdl`.
    pub fn IoAllocateMdl(
        VirtualAddress: PVOID,
        Length: ULONG,
        SecondaryBuffer: BOOLEAN,
        ChargeQuota: BOOLEAN,
        Irp: *mut IRP,
    ) -> *mut MDL;
    /// `IoFreeMdl`.
    pub fn IoFreeMdl(Mdl: *mut MDL);
    /// `IoWMIRegistrationControl`.
    pub fn IoWMIRegistrationControl(DeviceObject: *mut DEVICE_OBJECT, Action: ULONG) -> NTSTATUS;
    /// `ObfReferenceObject`.
    pub fn ObfReferenceObject(Object: PVOID) -> isize;
    /// `ObfDereferenceObject`.
    pub fn ObfDereferenceObject(Object: PVOID) -> isize;

    /// `PoCallDriver`.
    pub fn PoCallDriver(DeviceObject: *mut DEVICE_OBJECT, Irp: *mut IRP) -> NTSTATUS;
    /// `PoStartNextPowerIrp` (required before Windows Vista, harmless after).
    pub fn PoStartNextPowerIrp(Irp: *mut IRP);
    /// `PoSetPowerState`.
    pub fn PoSetPowerState(
        DeviceObject: *mut DEVICE_OBJECT,
        Type: POWER_STATE_TYPE,
        State: POWER_STATE,
    ) -> POWER_STATE;
    /// `PoRequestPowerIrp`.
    pub fn PoRequestPowerIrp(
        DeviceObject: *mut DEVICE_OBJECT,
        MinorFunction: UCHAR,
        PowerState: POWER_STATE,
        CompletionFunction: PVOID,
        Context: PVOID,
        Irp: *mut *mut IRP,
    ) -> NTSTATUS;

    /// `KeInitializeEvent`.
    pub fn KeInitializeEvent(Event: *mut KEVENT, Type: EVENT_TYPE, State: BOOLEAN);
    /// `KeSetEvent`.
    pub fn KeSetEvent(Event: *mut KEVENT, Increment: LONG, Wait: BOOLEAN) -> LONG;
    /// `KeClearEvent`.
    pub fn KeClearEvent(Event: *mut KEVENT);
    /// `KeWaitForSingleObject`.
    pub fn KeWaitForSingleObject(
        Object: PVOID,
        WaitReason: KWAIT_REASON,
        WaitMode: KPROCESSOR_MODE,
        Alertable: BOOLEAN,
        Timeout: *mut LARGE_INTEGER,
    ) -> NTSTATUS;
    /// `KeInitializeSpinLock` (exported as well as inline in the WDK).
    pub fn KeInitializeSpinLock(SpinLock: *mut KSPIN_LOCK);
    /// `KeAcquireSpinLockRaiseToDpc` (what `KeAcquireSpinLock` expands to on x64).
    pub fn KeAcquireSpinLockRaiseToDpc(SpinLock: *mut KSPIN_LOCK) -> KIRQL;
    /// `KeReleaseSpinLock` (x64 export).
    pub fn KeReleaseSpinLock(SpinLock: *mut KSPIN_LOCK, NewIrql: KIRQL);
    /// `KeAcquireSpinLockAtDpcLevel`.
    pub fn KeAcquireSpinLockAtDpcLevel(SpinLock: *mut KSPIN_LOCK);
    /// `KeReleaseSpinLockFromDpcLevel`.
    pub fn KeReleaseSpinLockFromDpcLevel(SpinLock: *mut KSPIN_LOCK);
    /// `KeInitializeDpc`.
    pub fn KeInitializeDpc(
        Dpc: *mut KDPC,
        DeferredRoutine: PKDEFERRED_ROUTINE,
        DeferredContext: PVOID,
    );
    /// `KeInsertQueueDpc`.
    pub fn KeInsertQueueDpc(
        Dpc: *mut KDPC,
        SystemArgument1: PVOID,
        SystemArgument2: PVOID,
    ) -> BOOLEAN;
    /// `KeRemoveQueueDpc`.
    pub fn KeRemoveQueueDpc(Dpc: *mut KDPC) -> BOOLEAN;
    /// `KeInitializeTimerEx`.
    pub fn KeInitializeTimerEx(Timer: *mut KTIMER, Type: u32);
    /// `KeSetTimerEx`.
    pub fn KeSetTimerEx(
        Timer: *mut KTIMER,
        DueTime: LARGE_INTEGER,
        Period: LONG,
        Dpc: *mut KDPC,
    ) -> BOOLEAN;
    /// `KeCancelTimer`.
    pub fn KeCancelTimer(Timer: *mut KTIMER) -> BOOLEAN;
    /// `KeDelayExecutionThread`.
    pub fn KeDelayExecutionThread(
        WaitMode: KPROCESSOR_MODE,
        Alertable: BOOLEAN,
        Interval: *mut LARGE_INTEGER,
    ) -> NTSTATUS;
    /// `KeGetCurrentThread`: the running thread's `KTHREAD` (in a DPC, the thread it
    /// interrupted).
    pub fn KeGetCurrentThread() -> PVOID;
    /// `KeQueryPerformanceCounter`.
    pub fn KeQueryPerformanceCounter(PerformanceFrequency: *mut LARGE_INTEGER) -> LARGE_INTEGER;

    /// `MmMapIoSpace`.
    pub fn MmMapIoSpace(
        PhysicalAddress: PHYSICAL_ADDRESS,
        NumberOfBytes: SIZE_T,
        CacheType: MEMORY_CACHING_TYPE,
    ) -> PVOID;
    /// `MmUnmapIoSpace`.
    pub fn MmUnmapIoSpace(BaseAddress: PVOID, NumberOfBytes: SIZE_T);
    /// `MmGetPhysicalAddress`.
    pub fn MmGetPhysicalAddress(BaseAddress: PVOID) -> PHYSICAL_ADDRESS;
    /// `MmAllocateContiguousMemorySpecifyCache`.
    pub fn MmAllocateContiguousMemorySpecifyCache(
        NumberOfBytes: SIZE_T,
        LowestAcceptableAddress: PHYSICAL_ADDRESS,
        HighestAcceptableAddress: PHYSICAL_ADDRESS,
        BoundaryAddressMultiple: PHYSICAL_ADDRESS,
        CacheType: MEMORY_CACHING_TYPE,
    ) -> PVOID;
    /// `MmFreeContiguousMemory`.
    pub fn MmFreeContiguousMemory(BaseAddress: PVOID);
    /// `MmBuildMdlForNonPagedPool`.
    pub fn MmBuildMdlForNonPagedPool(MemoryDescriptorList: *mut MDL);
    /// `MmMapLockedPagesSpecifyCache` (what `MmGetSystemAddressForMdlSafe` calls).
    pub fn MmMapLockedPagesSpecifyCache(
        MemoryDescriptorList: *mut MDL,
        AccessMode: KPROCESSOR_MODE,
        CacheType: MEMORY_CACHING_TYPE,
        RequestedAddress: PVOID,
        BugCheckOnFailure: ULONG,
        Priority: u32,
    ) -> PVOID;
    /// `MmGetSystemRoutineAddress`.
    pub fn MmGetSystemRoutineAddress(SystemRoutineName: *mut UNICODE_STRING) -> PVOID;

    /// `RtlInitUnicodeString`.
    pub fn RtlInitUnicodeString(DestinationString: *mut UNICODE_STRING, SourceString: *const WCHAR);
    /// `ZwOpenKey`.
    pub fn ZwOpenKey(
        KeyHandle: *mut HANDLE,
        DesiredAccess: ACCESS_MASK,
        ObjectAttributes: *mut OBJECT_ATTRIBUTES,
    ) -> NTSTATUS;
    /// `ZwCreateKey`.
    pub fn ZwCreateKey(
        KeyHandle: *mut HANDLE,
        DesiredAccess: ACCESS_MASK,
        ObjectAttributes: *mut OBJECT_ATTRIBUTES,
        TitleIndex: ULONG,
        Class: *mut UNICODE_STRING,
        CreateOptions: ULONG,
        Disposition: *mut ULONG,
    ) -> NTSTATUS;
    /// `ZwQueryValueKey`.
    pub fn ZwQueryValueKey(
        KeyHandle: HANDLE,
        ValueName: *mut UNICODE_STRING,
        KeyValueInformationClass: u32,
        KeyValueInformation: PVOID,
        Length: ULONG,
        ResultLength: *mut ULONG,
    ) -> NTSTATUS;
    /// `ZwSetValueKey`.
    pub fn ZwSetValueKey(
        KeyHandle: HANDLE,
        ValueName: *mut UNICODE_STRING,
        TitleIndex: ULONG,
        Type: ULONG,
        Data: PVOID,
        DataSize: ULONG,
    ) -> NTSTATUS;
    /// `ZwClose`.
    pub fn ZwClose(Handle: HANDLE) -> NTSTATUS;
    /// `ZwDeleteValueKey`.
    pub fn ZwDeleteValueKey(KeyHandle: HANDLE, ValueName: *mut UNICODE_STRING) -> NTSTATUS;
    /// `ZwFlushKey`: writes the key's changes to disk before returning.
    pub fn ZwFlushKey(KeyHandle: HANDLE) -> NTSTATUS;
    /// `ZwQueryFullAttributesFile` (PASSIVE_LEVEL).
    pub fn ZwQueryFullAttributesFile(
        ObjectAttributes: *mut OBJECT_ATTRIBUTES,
        FileInformation: *mut FILE_NETWORK_OPEN_INFORMATION,
    ) -> NTSTATUS;
}

// ---------------------------------------------------------------------------------------------
// hal.dll imports (each name is listed in def/hal.def)

#[cfg_attr(target_os = "windows", link(name = "hal"))]
unsafe extern "system" {
    /// `READ_PORT_UCHAR`.
    pub fn READ_PORT_UCHAR(Port: *mut UCHAR) -> UCHAR;
    /// `READ_PORT_USHORT`.
    pub fn READ_PORT_USHORT(Port: *mut USHORT) -> USHORT;
    /// `READ_PORT_ULONG`.
    pub fn READ_PORT_ULONG(Port: *mut ULONG) -> ULONG;
    /// `WRITE_PORT_UCHAR`.
    pub fn WRITE_PORT_UCHAR(Port: *mut UCHAR, Value: UCHAR);
    /// `WRITE_PORT_USHORT`.
    pub fn WRITE_PORT_USHORT(Port: *mut USHORT, Value: USHORT);
    /// `WRITE_PORT_ULONG`.
    pub fn WRITE_PORT_ULONG(Port: *mut ULONG, Value: ULONG);
    /// `KeStallExecutionProcessor` (exported by hal.dll on x64).
    pub fn KeStallExecutionProcessor(MicroSeconds: ULONG);
}

// ---------------------------------------------------------------------------------------------
// The IRP_MN_QUERY_ID answer's buffer (xenhide) and the NX pool opt-in (pool.rs). ntoskrnl.exe
// imports, each listed in def/ntoskrnl.def.

/// `NTDDI_WIN8`: the `NTDDI_VERSION` of Windows 8, the first with `NonPagedPoolNx`.
pub const NTDDI_WIN8: ULONG = 0x0602_0000;

#[cfg_attr(target_os = "windows", link(name = "ntoskrnl"))]
unsafe extern "system" {
    /// `ExFreePool`: frees pool allocated by another component without our tag (the buffer a
    /// bus driver returns for IRP_MN_QUERY_ID).
    pub fn ExFreePool(P: PVOID);
    /// `RtlIsNtDdiVersionAvailable`: whether the running system is at least `Version` (an
    /// `NTDDI_*` value). Documented from Windows Vista on; the WDK's
    /// `ExInitializeDriverRuntime(DrvRtPoolNxOptIn)` calls it, in binaries that must load on
    /// Windows 7.
    pub fn RtlIsNtDdiVersionAvailable(Version: ULONG) -> BOOLEAN;
}
