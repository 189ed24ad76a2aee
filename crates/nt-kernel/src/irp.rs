//! The WDK's IRP macros and inline functions (`IoGetCurrentIrpStackLocation`,
//! `IoSkipCurrentIrpStackLocation`, `IoSetCompletionRoutine`, ...) as Rust functions.
#![allow(non_snake_case)]

use crate::ntdef::*;
use crate::wdm::*;

/// `IoGetCurrentIrpStackLocation`.
///
/// # Safety
/// `irp` must point to a valid IRP owned by the caller's dispatch or completion routine.
#[inline]
pub unsafe fn IoGetCurrentIrpStackLocation(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
    // SAFETY: the caller guarantees `irp` is valid.
    let irp = unsafe { &*irp };
    // SAFETY: `Tail.Overlay` is the active union member while a driver processes the IRP.
    unsafe { irp.Tail.Overlay.CurrentStackLocation }
}

/// `IoGetNextIrpStackLocation`: the location the next-lower driver will see.
///
/// # Safety
/// As [`IoGetCurrentIrpStackLocation`]; the IRP must have a location below the current one.
#[inline]
pub unsafe fn IoGetNextIrpStackLocation(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
    // SAFETY: forwarded caller guarantee.
    let current = unsafe { IoGetCurrentIrpStackLocation(irp) };
    current.wrapping_sub(1)
}

/// `IoSkipCurrentIrpStackLocation`: the next driver reuses the current location.
///
/// # Safety
/// As [`IoGetCurrentIrpStackLocation`]; call only right before passing the IRP down.
#[inline]
pub unsafe fn IoSkipCurrentIrpStackLocation(irp: *mut IRP) {
    // SAFETY: the caller guarantees `irp` is valid and owned.
    let irp = unsafe { &mut *irp };
    irp.CurrentLocation = irp.CurrentLocation.wrapping_add(1);
    // SAFETY: `Tail.Overlay` is the active member while a driver owns the IRP.
    let overlay = unsafe { &mut irp.Tail.Overlay };
    overlay.CurrentStackLocation = overlay.CurrentStackLocation.wrapping_add(1);
}

/// `IoCopyCurrentIrpStackLocationToNext`: copies everything but the completion routine and
/// context, and clears `Control`.
///
/// # Safety
/// As [`IoGetNextIrpStackLocation`].
#[inline]
pub unsafe fn IoCopyCurrentIrpStackLocationToNext(irp: *mut IRP) {
    // SAFETY: forwarded caller guarantee.
    let current = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: forwarded caller guarantee.
    let next = unsafe { IoGetNextIrpStackLocation(irp) };
    // SAFETY: a valid stack location of the IRP.
    let current = unsafe { &*current };
    // SAFETY: a valid stack location of the IRP, distinct from `current`.
    let next = unsafe { &mut *next };
    next.MajorFunction = current.MajorFunction;
    next.MinorFunction = current.MinorFunction;
    next.Flags = current.Flags;
    next.Parameters = current.Parameters;
    next.DeviceObject = current.DeviceObject;
    next.FileObject = current.FileObject;
    next.Control = 0;
    next.CompletionRoutine = None;
    next.Context = core::ptr::null_mut();
}

/// `IoSetCompletionRoutine`.
///
/// # Safety
/// As [`IoGetNextIrpStackLocation`]; `context` must stay valid until the routine runs.
#[inline]
pub unsafe fn IoSetCompletionRoutine(
    irp: *mut IRP,
    routine: PIO_COMPLETION_ROUTINE,
    context: PVOID,
    invoke_on_success: bool,
    invoke_on_error: bool,
    invoke_on_cancel: bool,
) {
    // SAFETY: forwarded caller guarantee.
    let next = unsafe { IoGetNextIrpStackLocation(irp) };
    // SAFETY: the next stack location of a valid IRP.
    let next = unsafe { &mut *next };
    next.CompletionRoutine = routine;
    next.Context = context;
    let mut control = 0;
    if invoke_on_success {
        control |= SL_INVOKE_ON_SUCCESS;
    }
    if invoke_on_error {
        control |= SL_INVOKE_ON_ERROR;
    }
    if invoke_on_cancel {
        control |= SL_INVOKE_ON_CANCEL;
    }
    next.Control = control;
}

/// `IoMarkIrpPending`.
///
/// # Safety
/// As [`IoGetCurrentIrpStackLocation`].
#[inline]
pub unsafe fn IoMarkIrpPending(irp: *mut IRP) {
    // SAFETY: forwarded caller guarantee.
    let current = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: the current stack location of a valid IRP.
    let current = unsafe { &mut *current };
    current.Control |= SL_PENDING_RETURNED;
}

/// `IoCallDriver`.
///
/// # Safety
/// `device` must be a valid device object and `irp` an IRP set up for it.
#[inline]
pub unsafe fn IoCallDriver(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: forwarded caller guarantee.
    unsafe { IofCallDriver(device, irp) }
}

/// `IoCompleteRequest`.
///
/// # Safety
/// `irp` must be owned by the caller and not touched after this call.
#[inline]
pub unsafe fn IoCompleteRequest(irp: *mut IRP, priority_boost: CCHAR) {
    // SAFETY: forwarded caller guarantee.
    unsafe { IofCompleteRequest(irp, priority_boost) }
}

/// Completion routine of [`call_and_wait`]: signals the waiting event and keeps the IRP.
unsafe extern "system" fn signal_completion(
    _device: *mut DEVICE_OBJECT,
    _irp: *mut IRP,
    context: PVOID,
) -> NTSTATUS {
    // SAFETY: `context` is the KEVENT on the stack of `call_and_wait`, which waits for this
    // signal before returning.
    unsafe { KeSetEvent(context.cast(), 0, FALSE) };
    STATUS_MORE_PROCESSING_REQUIRED
}

/// Sends the IRP to `lower` and waits until it is completed there; returns its status. The
/// caller owns the IRP again afterwards (to finish its own part and complete it).
///
/// # Safety
/// Called at PASSIVE_LEVEL from a dispatch routine that owns `irp`; `lower` is the device the
/// caller is attached to.
pub unsafe fn forward_and_wait(lower: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the caller owns `irp`.
    unsafe { IoCopyCurrentIrpStackLocationToNext(irp) };
    // SAFETY: forwarded caller guarantee; the next location is set up for `lower`.
    unsafe { call_and_wait(lower, irp) };
    // SAFETY: the completion routine returned STATUS_MORE_PROCESSING_REQUIRED, so the caller
    // owns the IRP again.
    unsafe { (*irp).IoStatus.Status }
}

/// Sends `irp`, whose next location is set up for `target`, and waits until it is completed
/// there; the caller owns the IRP again afterwards.
///
/// # Safety
/// PASSIVE_LEVEL; the caller owns `irp`; `target` is live.
unsafe fn call_and_wait(target: *mut DEVICE_OBJECT, irp: *mut IRP) {
    let mut event = core::mem::MaybeUninit::<KEVENT>::uninit();
    let event_ptr = event.as_mut_ptr();
    // SAFETY: `event_ptr` is writable storage for a KEVENT living until the wait ends.
    unsafe { KeInitializeEvent(event_ptr, NotificationEvent, FALSE) };
    // SAFETY: the event outlives the completion routine (we wait below).
    unsafe {
        IoSetCompletionRoutine(
            irp,
            Some(signal_completion),
            event_ptr.cast(),
            true,
            true,
            true,
        )
    };
    // SAFETY: `target` is live; the IRP is set up for it.
    let status = unsafe { IoCallDriver(target, irp) };
    if status == STATUS_PENDING {
        // SAFETY: PASSIVE_LEVEL (caller guarantee); the event is initialised.
        unsafe {
            KeWaitForSingleObject(
                event_ptr.cast(),
                Executive,
                KernelMode,
                FALSE,
                core::ptr::null_mut(),
            )
        };
    }
}

/// Sends a PnP IRP of our own to `target` (the top of a stack) and waits for it: the IRP has one
/// location per driver of the stack, starts as STATUS_NOT_SUPPORTED with no information (as
/// the PnP rules require), its location is IRP_MJ_PNP with whatever `setup` fills in, and it is
/// freed afterwards. Returns its final `IoStatus`, or `None` when no IRP could be allocated.
///
/// # Safety
/// PASSIVE_LEVEL; `target` is a live, referenced device object; whatever `setup` points the IRP
/// at lives until this returns.
pub unsafe fn send_pnp_and_wait(
    target: *mut DEVICE_OBJECT,
    setup: impl FnOnce(&mut IO_STACK_LOCATION),
) -> Option<IO_STATUS_BLOCK> {
    // SAFETY: `target` is live (caller).
    let stack_size = unsafe { (*target).StackSize };
    // SAFETY: PASSIVE_LEVEL; an IRP with one location per driver of the stack.
    let irp = unsafe { IoAllocateIrp(stack_size, FALSE) };
    if irp.is_null() {
        return None;
    }
    // SAFETY: the IRP is ours until it is sent.
    unsafe {
        (*irp).IoStatus = IO_STATUS_BLOCK {
            Status: STATUS_NOT_SUPPORTED,
            PointerHigh: 0,
            Information: 0,
        }
    };
    // SAFETY: the location the top driver will see (IoAllocateIrp leaves the current location
    // past the last one).
    let location = unsafe { IoGetNextIrpStackLocation(irp) };
    // SAFETY: a location of the IRP we own, not yet seen by any driver.
    let location = unsafe { &mut *location };
    location.MajorFunction = IRP_MJ_PNP;
    setup(location);
    // SAFETY: PASSIVE_LEVEL, our IRP, set up for `target` (caller guarantees the rest).
    unsafe { call_and_wait(target, irp) };
    // SAFETY: the completion routine kept the IRP for us.
    let result = unsafe { (*irp).IoStatus };
    // SAFETY: allocated by IoAllocateIrp above, completed, not touched again.
    unsafe { IoFreeIrp(irp) };
    Some(result)
}

/// Passes the IRP to `lower` untouched.
///
/// # Safety
/// The caller owns `irp` and does not touch it afterwards; `lower` is the device the caller is
/// attached to.
pub unsafe fn skip_and_call(lower: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the caller owns the IRP.
    unsafe { IoSkipCurrentIrpStackLocation(irp) };
    // SAFETY: `lower` is the attached-to device; the IRP is set up for it.
    unsafe { IoCallDriver(lower, irp) }
}

/// Completes `irp` with `status` and returns `status`.
///
/// # Safety
/// The caller owns `irp` and does not touch it afterwards.
pub unsafe fn complete(irp: *mut IRP, status: NTSTATUS) -> NTSTATUS {
    // SAFETY: the caller owns the IRP.
    unsafe { (*irp).IoStatus.Status = status };
    // SAFETY: completing an IRP the caller owns, once.
    unsafe { IoCompleteRequest(irp, IO_NO_INCREMENT) };
    status
}
