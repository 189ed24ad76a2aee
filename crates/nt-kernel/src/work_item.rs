//! System work items (`IoAllocateWorkItem`, `IoQueueWorkItem`, `IoFreeWorkItem`): run a routine
//! at PASSIVE_LEVEL in a system worker thread, queued from a DPC. Added for xenpci (xenstore
//! watch handling after the store event channel fires). `KeFlushQueuedDpcs` waits for DPCs
//! queued on any processor, for interrupt teardown.
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]

use crate::ntdef::*;
use crate::wdm::DEVICE_OBJECT;

/// `IO_WORKITEM`: opaque, allocated by the I/O manager.
#[repr(C)]
pub struct IO_WORKITEM {
    _opaque: [u8; 0],
}

/// `WORK_QUEUE_TYPE`.
pub type WORK_QUEUE_TYPE = u32;
/// `CriticalWorkQueue`.
pub const CriticalWorkQueue: WORK_QUEUE_TYPE = 0;
/// `DelayedWorkQueue`.
pub const DelayedWorkQueue: WORK_QUEUE_TYPE = 1;

/// `PIO_WORKITEM_ROUTINE`.
pub type PIO_WORKITEM_ROUTINE =
    Option<unsafe extern "system" fn(DeviceObject: *mut DEVICE_OBJECT, Context: PVOID)>;

#[cfg_attr(target_os = "windows", link(name = "ntoskrnl"))]
unsafe extern "system" {
    /// `IoAllocateWorkItem`.
    pub fn IoAllocateWorkItem(DeviceObject: *mut DEVICE_OBJECT) -> *mut IO_WORKITEM;
    /// `IoQueueWorkItem`.
    pub fn IoQueueWorkItem(
        IoWorkItem: *mut IO_WORKITEM,
        WorkerRoutine: PIO_WORKITEM_ROUTINE,
        QueueType: WORK_QUEUE_TYPE,
        Context: PVOID,
    );
    /// `IoFreeWorkItem`.
    pub fn IoFreeWorkItem(IoWorkItem: *mut IO_WORKITEM);
    /// `KeFlushQueuedDpcs`.
    pub fn KeFlushQueuedDpcs();
}
