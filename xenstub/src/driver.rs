//! The Windows glue of xenstub.sys: DriverEntry, AddDevice, and the PnP, power and WMI
//! dispatch routines, driven by the decisions in [`xenstub::pnp`] and [`xenstub::power`].

use core::mem::size_of;
use core::sync::atomic::{AtomicU8, Ordering};

use nt_kernel::device::{create_and_attach, AttachError};
use nt_kernel::irp::*;
use nt_kernel::ntdef::*;
use nt_kernel::pool::POOL_TAG;
use nt_kernel::remove_lock::RemoveLock;
use nt_kernel::wdm::*;
use nt_kernel::{error, info, trace};
use xenstub::pnp::{self, DeviceState, PnpAction, PnpMinor};
use xenstub::power::{self, PowerAction};

static DRIVER_NAME: &str = "xenstub";

/// Per-FDO state, in the device extension.
struct DeviceExtension {
    /// The device below us (the PDO created by xenpci, or a filter above it).
    lower: *mut DEVICE_OBJECT,
    /// [`DeviceState`] as a byte: PnP IRPs are serialised by the PnP manager, power IRPs read it.
    state: AtomicU8,
    /// The state before IRP_MN_QUERY_REMOVE_DEVICE, for the cancel.
    before_query_remove: AtomicU8,
    /// Held by every IRP in flight; IRP_MN_REMOVE_DEVICE waits for them before deleting.
    remove_lock: RemoveLock,
}

/// DriverEntry: registers AddDevice, the dispatch routines and DriverUnload.
#[no_mangle]
extern "system" fn DriverEntry(
    driver: *mut DRIVER_OBJECT,
    _registry_path: *mut UNICODE_STRING,
) -> NTSTATUS {
    nt_kernel::log::set_driver_name(&DRIVER_NAME);
    nt_kernel::pool::opt_in_nx();
    info!(
        "DriverEntry: xenstub {} (vfb, vkbd, console)",
        env!("CARGO_PKG_VERSION")
    );
    if driver.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: the I/O manager passes a valid, writable driver object to DriverEntry.
    let driver = unsafe { &mut *driver };
    driver.DriverUnload = Some(driver_unload);
    driver.MajorFunction[usize::from(IRP_MJ_PNP)] = Some(dispatch_pnp);
    driver.MajorFunction[usize::from(IRP_MJ_POWER)] = Some(dispatch_power);
    driver.MajorFunction[usize::from(IRP_MJ_SYSTEM_CONTROL)] = Some(dispatch_forward);
    // SAFETY: DriverExtension is valid for a driver object handed to DriverEntry.
    let extension = unsafe { driver.DriverExtension.as_mut() };
    match extension {
        Some(extension) => extension.AddDevice = Some(add_device),
        None => return STATUS_UNSUCCESSFUL,
    }
    STATUS_SUCCESS
}

unsafe extern "system" fn driver_unload(_driver: *mut DRIVER_OBJECT) {
    info!("DriverUnload");
}

/// AddDevice: creates the FDO and attaches it above the PDO.
unsafe extern "system" fn add_device(
    driver: *mut DRIVER_OBJECT,
    pdo: *mut DEVICE_OBJECT,
) -> NTSTATUS {
    // SAFETY: AddDevice at PASSIVE_LEVEL with our driver object and the PDO we were given.
    let attached = unsafe {
        create_and_attach(
            driver,
            pdo,
            size_of::<DeviceExtension>() as ULONG,
            FILE_DEVICE_UNKNOWN,
        )
    };
    let (fdo, lower) = match attached {
        Ok(pair) => pair,
        Err(AttachError::Create(status)) => {
            error!("AddDevice: IoCreateDevice failed {:#010x}", status);
            return status;
        }
        Err(AttachError::Attach) => {
            error!("AddDevice: IoAttachDeviceToDeviceStack failed");
            return STATUS_NO_SUCH_DEVICE;
        }
    };
    // SAFETY: `fdo` is valid and not yet visible to anyone else (DO_DEVICE_INITIALIZING).
    let fdo_ref = unsafe { &mut *fdo };
    let extension = fdo_ref.DeviceExtension.cast::<DeviceExtension>();
    // SAFETY: IoCreateDevice allocated a suitably aligned extension of the requested size.
    unsafe {
        extension.write(DeviceExtension {
            lower,
            state: AtomicU8::new(DeviceState::NotStarted as u8),
            before_query_remove: AtomicU8::new(DeviceState::NotStarted as u8),
            remove_lock: RemoveLock::zeroed(),
        })
    };
    // SAFETY: the extension stays at this address until IoDeleteDevice.
    unsafe { RemoveLock::initialize(core::ptr::addr_of_mut!((*extension).remove_lock), POOL_TAG) };
    // SAFETY: `lower` is a valid device object returned by the attach.
    let lower_flags = unsafe { (*lower).Flags };
    fdo_ref.Flags = nt_kernel::device::function_device_flags(fdo_ref.Flags, lower_flags);
    info!("AddDevice: attached");
    STATUS_SUCCESS
}

/// The extension of one of our FDOs.
///
/// # Safety
/// `device` must be an FDO created by `add_device` and not yet deleted.
unsafe fn extension<'a>(device: *mut DEVICE_OBJECT) -> &'a DeviceExtension {
    // SAFETY: forwarded caller guarantee; `add_device` initialised the extension.
    unsafe { &*(*device).DeviceExtension.cast::<DeviceExtension>() }
}

unsafe extern "system" fn dispatch_pnp(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the I/O manager calls us with one of our FDOs and an IRP we own.
    let ext = unsafe { extension(device) };
    let guard = match ext.remove_lock.acquire() {
        Ok(guard) => guard,
        // SAFETY: we own the IRP.
        Err(status) => return unsafe { complete(irp, status) },
    };
    // SAFETY: as above.
    let minor_code = unsafe { (*IoGetCurrentIrpStackLocation(irp)).MinorFunction };
    let state = DeviceState::from_u8(ext.state.load(Ordering::Acquire));
    let before = DeviceState::from_u8(ext.before_query_remove.load(Ordering::Acquire));
    let minor = PnpMinor::from_code(minor_code);
    trace!("PnP minor {:#04x} in {:?}", minor_code, state);
    match pnp::on_pnp(state, minor, before) {
        PnpAction::ForwardAndWait => {
            // SAFETY: PnP IRPs arrive at PASSIVE_LEVEL; we own the IRP.
            let status = unsafe { forward_and_wait(ext.lower, irp) };
            let next = pnp::start_completed(state, status);
            ext.state.store(next as u8, Ordering::Release);
            info!("START_DEVICE: {:#010x}, now {:?}", status, next);
            // SAFETY: we own the IRP again (completion routine kept it).
            unsafe { (*irp).IoStatus.Status = status };
            // SAFETY: completing an IRP we own, once.
            unsafe { IoCompleteRequest(irp, IO_NO_INCREMENT) };
            status
        }
        PnpAction::SucceedAndForward { next } => {
            if minor == PnpMinor::QueryRemove {
                ext.before_query_remove
                    .store(state as u8, Ordering::Release);
            }
            ext.state.store(next as u8, Ordering::Release);
            info!("PnP minor {:#04x}: {:?} -> {:?}", minor_code, state, next);
            // SAFETY: we own the IRP.
            unsafe { (*irp).IoStatus.Status = STATUS_SUCCESS };
            // SAFETY: our FDO and an IRP we own.
            unsafe { skip_and_call(ext.lower, irp) }
        }
        PnpAction::SucceedForwardAndDelete => {
            ext.state
                .store(DeviceState::Deleted as u8, Ordering::Release);
            let lower = ext.lower;
            // Wait for every other IRP in flight; later ones fail with STATUS_DELETE_PENDING.
            guard.release_and_wait();
            // SAFETY: we own the IRP.
            unsafe { (*irp).IoStatus.Status = STATUS_SUCCESS };
            // SAFETY: our FDO and an IRP we own; the IRP is not touched afterwards.
            let status = unsafe { skip_and_call(ext.lower, irp) };
            // SAFETY: `lower` is the device we attached to in AddDevice.
            unsafe { IoDetachDevice(lower) };
            // SAFETY: our FDO, detached; nothing references the extension after this.
            unsafe { IoDeleteDevice(device) };
            info!("REMOVE_DEVICE: detached and deleted");
            status
        }
        // SAFETY: our FDO and an IRP we own.
        PnpAction::Forward => unsafe { skip_and_call(ext.lower, irp) },
    }
}

unsafe extern "system" fn dispatch_power(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the power manager calls us with one of our FDOs and an IRP we own.
    let ext = unsafe { extension(device) };
    let _guard = match ext.remove_lock.acquire() {
        Ok(guard) => guard,
        Err(status) => {
            // SAFETY: required for every power IRP before Vista; we own the IRP.
            unsafe { PoStartNextPowerIrp(irp) };
            // SAFETY: we own the IRP.
            return unsafe { complete(irp, status) };
        }
    };
    // SAFETY: as above.
    let stack = unsafe { &*IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: `Parameters.Power` is the active member for IRP_MJ_POWER.
    let (state_type, state) = unsafe {
        (
            stack.Parameters.Power.Type,
            stack.Parameters.Power.State.DeviceState,
        )
    };
    let gone = DeviceState::from_u8(ext.state.load(Ordering::Acquire)).is_gone();
    // SAFETY: required before Vista for every power IRP, harmless after; we own the IRP.
    unsafe { PoStartNextPowerIrp(irp) };
    match power::on_power(gone, stack.MinorFunction, state_type, state) {
        PowerAction::Forward {
            set_device_power_state,
        } => {
            if let Some(device_state) = set_device_power_state {
                trace!("SET_POWER D{}", device_state.saturating_sub(1));
                // SAFETY: our FDO; reporting the new device power state.
                unsafe {
                    PoSetPowerState(
                        device,
                        DevicePowerState,
                        POWER_STATE {
                            DeviceState: device_state,
                        },
                    )
                };
            }
            // SAFETY: we own the IRP.
            unsafe { IoSkipCurrentIrpStackLocation(irp) };
            // SAFETY: the lower device and an IRP set up for it.
            unsafe { PoCallDriver(ext.lower, irp) }
        }
        // SAFETY: we own the IRP.
        PowerAction::FailDeleted => unsafe { complete(irp, STATUS_NO_SUCH_DEVICE) },
    }
}

/// IRP_MJ_SYSTEM_CONTROL (WMI): not ours, passed down.
unsafe extern "system" fn dispatch_forward(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the I/O manager calls us with one of our FDOs.
    let ext = unsafe { extension(device) };
    let _guard = match ext.remove_lock.acquire() {
        Ok(guard) => guard,
        // SAFETY: we own the IRP.
        Err(status) => return unsafe { complete(irp, status) },
    };
    // SAFETY: our FDO and an IRP we own.
    unsafe { skip_and_call(ext.lower, irp) }
}
