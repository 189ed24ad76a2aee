//! The Windows glue of xenhide.sys: DriverEntry, AddDevice (attach above PCI root buses only),
//! pass-through dispatch, and the BusRelations filtering driven by [`xenhide::plan`] with the
//! classes xenpci's volatile report of this boot names, latched at the first BusRelations. The
//! children's hardware and compatible IDs are asked with IRP_MN_QUERY_ID at the top of each
//! child's stack (as XCP-ng's xenfilt does): PnP has not initialised a PDO it has just been
//! told about, and `IoGetDeviceProperty` fails for it.

use alloc::string::String;
use alloc::vec::Vec;
use core::mem::size_of;
use core::ptr::null_mut;

use nt_kernel::device::{create_and_attach, AttachError};
use nt_kernel::irp::*;
use nt_kernel::ntdef::*;
use nt_kernel::pool::POOL_TAG;
use nt_kernel::remove_lock::RemoveLock;
use nt_kernel::sync::SpinLock;
use nt_kernel::wdm::*;
use nt_kernel::{error, info, warn};
use xen_bus::hide::HideLatch;
use xen_platform::evidence::{VALUE_REPORT_BOOT, VALUE_REPORT_UNPLUGGED};
use xen_platform::BootReport;
use xenhide::{is_pci_root_bus, plan, report_key_path};

static DRIVER_NAME: &str = "xenhide";

/// The hide classes of this boot, latched at the first BusRelations.
static LATCH: SpinLock<HideLatch> = SpinLock::new(HideLatch::new());
/// Longest registry value read (SystemStartOptions is a few hundred bytes).
const MAX_VALUE_BYTES: usize = 4096;
/// Longest hardware-ID MULTI_SZ read with IoGetDeviceProperty (AddDevice), in UTF-16 units.
const MAX_ID_UNITS: usize = 1024;
/// Most children looked at in one BusRelations answer.
const MAX_CHILDREN: usize = 256;

/// Per filter device state, in the device extension.
struct FilterExtension {
    /// The device below us (the PCI bus FDO).
    lower: *mut DEVICE_OBJECT,
    /// Held by every IRP in flight; IRP_MN_REMOVE_DEVICE waits for them.
    remove_lock: RemoveLock,
}

/// A UTF-16 copy of an ASCII string, NUL-terminated, with a `UNICODE_STRING` over it.
fn unicode(text: &str, units: &mut Vec<u16>) -> Option<UNICODE_STRING> {
    units.try_reserve_exact(text.len() + 1).ok()?;
    units.extend(text.encode_utf16());
    units.push(0);
    let bytes = u16::try_from(text.len() * 2).ok()?;
    Some(UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes.saturating_add(2),
        Buffer: units.as_mut_ptr(),
    })
}

/// An open registry key, closed on drop.
struct Key(HANDLE);

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: a handle from ZwOpenKey, closed once.
        unsafe { ZwClose(self.0) };
    }
}

impl Key {
    /// Opens `path` for reading (PASSIVE_LEVEL).
    fn open(path: &str) -> Option<Key> {
        let mut units = Vec::new();
        let mut name = unicode(path, &mut units)?;
        let mut attributes = OBJECT_ATTRIBUTES {
            Length: size_of::<OBJECT_ATTRIBUTES>() as ULONG,
            RootDirectory: null_mut(),
            ObjectName: &mut name,
            Attributes: OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE,
            SecurityDescriptor: null_mut(),
            SecurityQualityOfService: null_mut(),
        };
        let mut handle: HANDLE = null_mut();
        // SAFETY: `attributes` and the name it points to live for the call.
        let status = unsafe { ZwOpenKey(&mut handle, KEY_READ, &mut attributes) };
        (NT_SUCCESS(status) && !handle.is_null()).then_some(Key(handle))
    }

    /// Reads value `name`: its type and data.
    fn read(&self, name: &str) -> Option<(ULONG, Vec<u8>)> {
        let mut units = Vec::new();
        let mut value_name = unicode(name, &mut units)?;
        let header = size_of::<KEY_VALUE_PARTIAL_INFORMATION>();
        let mut buffer: Vec<u8> = Vec::new();
        buffer.try_reserve_exact(header + MAX_VALUE_BYTES).ok()?;
        buffer.resize(header + MAX_VALUE_BYTES, 0);
        let mut length: ULONG = 0;
        // SAFETY: `buffer` is writable for its length; the name lives for the call.
        let status = unsafe {
            ZwQueryValueKey(
                self.0,
                &mut value_name,
                KeyValuePartialInformation,
                buffer.as_mut_ptr().cast(),
                buffer.len() as ULONG,
                &mut length,
            )
        };
        if !NT_SUCCESS(status) {
            return None;
        }
        // KEY_VALUE_PARTIAL_INFORMATION: TitleIndex, Type, DataLength, then the data.
        let field = |i: usize| -> Option<u32> {
            let b = buffer.get(i * 4..i * 4 + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let kind = field(1)?;
        let len = usize::try_from(field(2)?).ok()?;
        let data_start: usize = 12;
        let data = buffer.get(data_start..data_start.checked_add(len)?)?;
        let mut out = Vec::new();
        out.try_reserve_exact(data.len()).ok()?;
        out.extend_from_slice(data);
        Some((kind, out))
    }
}

/// xenpci's volatile report of this boot, if it published one.
fn read_report() -> Option<BootReport> {
    let key = Key::open(&report_key_path()?)?;
    let dword = |name: &str| {
        key.read(name)
            .filter(|(kind, data)| *kind == REG_DWORD && data.len() >= 4)
            .map(|(_, d)| u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
    };
    xenhide::report(dword(VALUE_REPORT_BOOT), dword(VALUE_REPORT_UNPLUGGED))
}

/// DriverEntry: registers AddDevice and the dispatch routines.
#[no_mangle]
extern "system" fn DriverEntry(
    driver: *mut DRIVER_OBJECT,
    _registry_path: *mut UNICODE_STRING,
) -> NTSTATUS {
    nt_kernel::log::set_driver_name(&DRIVER_NAME);
    nt_kernel::pool::opt_in_nx();
    info!("DriverEntry: xenhide {}", env!("CARGO_PKG_VERSION"));
    if driver.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: the I/O manager passes a valid, writable driver object to DriverEntry.
    let driver = unsafe { &mut *driver };
    driver.DriverUnload = Some(driver_unload);
    for major in driver.MajorFunction.iter_mut() {
        *major = Some(dispatch_pass);
    }
    driver.MajorFunction[usize::from(IRP_MJ_PNP)] = Some(dispatch_pnp);
    driver.MajorFunction[usize::from(IRP_MJ_POWER)] = Some(dispatch_power);
    // SAFETY: DriverExtension is valid for a driver object handed to DriverEntry.
    match unsafe { driver.DriverExtension.as_mut() } {
        Some(extension) => extension.AddDevice = Some(add_device),
        None => return STATUS_UNSUCCESSFUL,
    }
    STATUS_SUCCESS
}

unsafe extern "system" fn driver_unload(_driver: *mut DRIVER_OBJECT) {
    info!("DriverUnload");
}

/// Appends the ASCII strings of a UTF-16 MULTI_SZ to `ids` (allocation failures drop strings:
/// a device with fewer IDs is only less likely to be hidden).
fn push_ascii_ids(multi_sz: &[u16], ids: &mut Vec<String>) {
    let mut buf = [0u8; 200];
    xen_bus::hide::for_each_ascii_id(multi_sz, &mut buf, |id| {
        let mut s = String::new();
        if s.try_reserve_exact(id.len()).is_ok() && ids.try_reserve(1).is_ok() {
            s.push_str(id);
            ids.push(s);
        }
        false
    });
}

/// The hardware IDs of `device`, a PDO PnP has initialised (the one AddDevice is given), as
/// ASCII strings. `IoGetDeviceProperty` is valid only for such PDOs: for the children of a
/// BusRelations answer, use [`query_ids`].
///
/// # Safety
/// PASSIVE_LEVEL; `device` is a live PDO PnP has initialised.
unsafe fn hardware_ids(device: *mut DEVICE_OBJECT) -> Vec<String> {
    let mut ids = Vec::new();
    let mut units: Vec<u16> = Vec::new();
    if units.try_reserve_exact(MAX_ID_UNITS).is_err() {
        return ids;
    }
    units.resize(MAX_ID_UNITS, 0);
    let mut length: ULONG = 0;
    // SAFETY: `units` is writable for the length given.
    let status = unsafe {
        IoGetDeviceProperty(
            device,
            DevicePropertyHardwareID,
            (units.len() * 2) as ULONG,
            units.as_mut_ptr().cast(),
            &mut length,
        )
    };
    if !NT_SUCCESS(status) {
        return ids;
    }
    let used = (length as usize / 2).min(units.len());
    push_ascii_ids(&units[..used], &mut ids);
    ids
}

/// Sends IRP_MN_QUERY_ID of `id_type` to the top of `top`'s stack and appends the IDs of the
/// answer to `ids`; the answer's buffer is freed. Nothing is appended when the stack does not
/// answer (the IRP stays STATUS_NOT_SUPPORTED, as the PnP rules require it to start).
///
/// # Safety
/// PASSIVE_LEVEL; `top` is a referenced device object at the top of a live stack.
unsafe fn query_id(top: *mut DEVICE_OBJECT, id_type: BUS_QUERY_ID_TYPE, ids: &mut Vec<String>) {
    // SAFETY: PASSIVE_LEVEL, `top` live and referenced (caller); the IRP points at nothing.
    let answer = unsafe {
        nt_kernel::irp::send_pnp_and_wait(top, |location| {
            location.MinorFunction = IRP_MN_QUERY_ID;
            location.Parameters.QueryId = IO_STACK_LOCATION_QueryId { IdType: id_type };
        })
    };
    let Some(result) = answer else {
        return;
    };
    let buffer = result.Information as *const u16;
    if !NT_SUCCESS(result.Status) || buffer.is_null() {
        return;
    }
    // Each unit is read only after the one before was not the list's terminator.
    let len = xen_bus::hide::multi_sz_len(xen_bus::hide::MAX_ID_LIST_UNITS, |i| {
        // SAFETY: the bus driver's NUL-terminated MULTI_SZ; `i` does not pass its terminator.
        unsafe { buffer.wrapping_add(i).read_unaligned() }
    });
    match len {
        // SAFETY: the first `len` units were just read from the buffer.
        Some(len) => push_ascii_ids(unsafe { core::slice::from_raw_parts(buffer, len) }, ids),
        None => warn!("an IRP_MN_QUERY_ID answer has no terminator within bounds: ignored"),
    }
    // SAFETY: the answer's buffer is ours to free (pool from the bus driver, no tag of ours).
    unsafe { ExFreePool(buffer.cast_mut().cast()) };
}

/// The hardware and compatible IDs of `pdo`, a child the PCI bus just reported, asked with
/// IRP_MN_QUERY_ID at the top of its stack (for a new child, the PDO itself): PnP has not
/// initialised a new PDO yet, so `IoGetDeviceProperty` would fail for it.
///
/// # Safety
/// PASSIVE_LEVEL; `pdo` is a child PDO referenced by the BusRelations list we own.
unsafe fn query_ids(pdo: *mut DEVICE_OBJECT) -> Vec<String> {
    let mut ids = Vec::new();
    // SAFETY: a live PDO (caller); the reference is released below.
    let top = unsafe { IoGetAttachedDeviceReference(pdo) };
    if top.is_null() {
        return ids;
    }
    for id_type in [BusQueryHardwareIDs, BusQueryCompatibleIDs] {
        // SAFETY: PASSIVE_LEVEL; `top` is referenced.
        unsafe { query_id(top, id_type, &mut ids) };
    }
    // SAFETY: the reference IoGetAttachedDeviceReference took.
    unsafe { ObfDereferenceObject(top.cast()) };
    ids
}

/// AddDevice: attaches above PCI root buses; every other device is left alone.
unsafe extern "system" fn add_device(
    driver: *mut DRIVER_OBJECT,
    pdo: *mut DEVICE_OBJECT,
) -> NTSTATUS {
    // SAFETY: PnP calls AddDevice at PASSIVE_LEVEL with a live PDO.
    let ids = unsafe { hardware_ids(pdo) };
    if !is_pci_root_bus(ids.iter().map(String::as_str)) {
        return STATUS_SUCCESS;
    }
    // SAFETY: AddDevice at PASSIVE_LEVEL with our driver object and the PDO we were given.
    let attached = unsafe {
        create_and_attach(
            driver,
            pdo,
            size_of::<FilterExtension>() as ULONG,
            FILE_DEVICE_BUS_EXTENDER,
        )
    };
    // Not attaching leaves the bus working, unfiltered.
    let (filter, lower) = match attached {
        Ok(pair) => pair,
        Err(AttachError::Create(status)) => {
            error!(
                "AddDevice: IoCreateDevice failed {:#010x}; PCI bus left unfiltered",
                status
            );
            return STATUS_SUCCESS;
        }
        Err(AttachError::Attach) => {
            error!("AddDevice: attach failed; PCI bus left unfiltered");
            return STATUS_SUCCESS;
        }
    };
    // SAFETY: `filter` is ours and not yet visible (DO_DEVICE_INITIALIZING).
    let filter_ref = unsafe { &mut *filter };
    let extension = filter_ref.DeviceExtension.cast::<FilterExtension>();
    // SAFETY: IoCreateDevice allocated a suitably aligned extension of the requested size.
    unsafe {
        extension.write(FilterExtension {
            lower,
            remove_lock: RemoveLock::zeroed(),
        })
    };
    // SAFETY: the extension stays at this address until IoDeleteDevice.
    unsafe { RemoveLock::initialize(core::ptr::addr_of_mut!((*extension).remove_lock), POOL_TAG) };
    // SAFETY: `lower` is a valid device object returned by the attach.
    let (lower_flags, lower_type, lower_characteristics) = unsafe {
        (
            (*lower).Flags,
            (*lower).DeviceType,
            (*lower).Characteristics,
        )
    };
    filter_ref.Flags |=
        lower_flags & (DO_BUFFERED_IO | DO_DIRECT_IO | DO_POWER_PAGABLE | DO_POWER_INRUSH);
    filter_ref.DeviceType = lower_type;
    filter_ref.Characteristics = lower_characteristics;
    filter_ref.Flags &= !DO_DEVICE_INITIALIZING;
    info!("AddDevice: filtering the PCI root bus");
    STATUS_SUCCESS
}

/// # Safety
/// `device` is one of our filter devices, not yet deleted.
unsafe fn extension<'a>(device: *mut DEVICE_OBJECT) -> &'a FilterExtension {
    // SAFETY: caller guarantee.
    let ext = unsafe { (*device).DeviceExtension }.cast::<FilterExtension>();
    // SAFETY: `add_device` initialised it; it lives until IoDeleteDevice.
    unsafe { &*ext }
}

/// Removes the hidden devices from the BusRelations list the PCI bus returned in `irp`.
///
/// # Safety
/// PASSIVE_LEVEL; we own `irp` again after a successful synchronous forward.
unsafe fn filter_relations(irp: *mut IRP) {
    // SAFETY: we own the IRP.
    let relations = unsafe { (*irp).IoStatus.Information } as *mut DEVICE_RELATIONS;
    if relations.is_null() {
        return;
    }
    // SAFETY: the bus driver's DEVICE_RELATIONS.
    let count = unsafe { (*relations).Count } as usize;
    if count > MAX_CHILDREN {
        warn!("BusRelations with {} children: not filtered", count);
        return;
    }
    // SAFETY: `Objects` has `count` entries.
    let objects =
        unsafe { core::ptr::addr_of_mut!((*relations).Objects) }.cast::<*mut DEVICE_OBJECT>();
    let mut children: Vec<Vec<String>> = Vec::new();
    if children.try_reserve_exact(count).is_err() {
        return;
    }
    for i in 0..count {
        // SAFETY: index below `count`.
        let child = unsafe { objects.wrapping_add(i).read() };
        // SAFETY: a referenced child PDO of the bus, PASSIVE_LEVEL.
        children.push(unsafe { query_ids(child) });
    }
    // PASSIVE_LEVEL here; the registry read happens before the latch is taken.
    let report = read_report();
    let classes = LATCH.lock().classes(report.as_ref());
    let Ok(verdict) = plan(classes, &children) else {
        return;
    };
    let mut kept = 0;
    for (i, hide) in verdict.hide.iter().enumerate() {
        // SAFETY: index below `count`.
        let child = unsafe { objects.wrapping_add(i).read() };
        match hide {
            Some(entry) => {
                info!(
                    "hiding {} ({}) from the PCI bus: PV drivers replace it",
                    entry.name,
                    children[i].first().map(String::as_str).unwrap_or("?")
                );
                // SAFETY: the reference the bus driver took for this list entry.
                unsafe { ObfDereferenceObject(child.cast()) };
            }
            None => {
                // SAFETY: kept <= i < count.
                unsafe { objects.wrapping_add(kept).write(child) };
                kept += 1;
            }
        }
    }
    // SAFETY: the list we own now; fewer entries than before.
    unsafe { (*relations).Count = kept as ULONG };
}

unsafe extern "system" fn dispatch_pnp(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the I/O manager calls us with one of our filter devices.
    let ext = unsafe { extension(device) };
    let guard = match ext.remove_lock.acquire() {
        Ok(guard) => guard,
        // SAFETY: we own the IRP.
        Err(status) => return unsafe { complete(irp, status) },
    };
    // SAFETY: an IRP we own.
    let stack = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: its current stack location.
    let stack = unsafe { &*stack };
    match stack.MinorFunction {
        IRP_MN_QUERY_DEVICE_RELATIONS => {
            // SAFETY: the member for IRP_MN_QUERY_DEVICE_RELATIONS.
            let kind = unsafe { stack.Parameters.QueryDeviceRelations.Type };
            if kind != BusRelations {
                // SAFETY: our filter's lower device and an IRP we own.
                return unsafe { skip_and_call(ext.lower, irp) };
            }
            // SAFETY: PnP IRPs arrive at PASSIVE_LEVEL; we own the IRP.
            let status = unsafe { forward_and_wait(ext.lower, irp) };
            if NT_SUCCESS(status) {
                // SAFETY: we own the IRP again, at PASSIVE_LEVEL.
                unsafe { filter_relations(irp) };
            }
            // SAFETY: completing an IRP we own, once, with the bus driver's status.
            unsafe { IoCompleteRequest(irp, IO_NO_INCREMENT) };
            status
        }
        IRP_MN_REMOVE_DEVICE => {
            let lower = ext.lower;
            guard.release_and_wait();
            // SAFETY: the lower device and an IRP we own; not touched afterwards.
            let status = unsafe { skip_and_call(lower, irp) };
            // SAFETY: the device we attached to in AddDevice.
            unsafe { IoDetachDevice(lower) };
            // SAFETY: our filter device, detached; nothing uses the extension after this.
            unsafe { IoDeleteDevice(device) };
            info!("REMOVE_DEVICE: detached");
            status
        }
        // SAFETY: the lower device and an IRP we own.
        _ => unsafe { skip_and_call(ext.lower, irp) },
    }
}

unsafe extern "system" fn dispatch_power(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the power manager calls us with one of our filter devices.
    let ext = unsafe { extension(device) };
    // SAFETY: required before Vista for every power IRP, harmless after; we own the IRP.
    unsafe { PoStartNextPowerIrp(irp) };
    let _guard = match ext.remove_lock.acquire() {
        Ok(guard) => guard,
        // SAFETY: we own the IRP.
        Err(status) => return unsafe { complete(irp, status) },
    };
    // SAFETY: we own the IRP.
    unsafe { IoSkipCurrentIrpStackLocation(irp) };
    // SAFETY: the lower device and an IRP set up for it.
    unsafe { PoCallDriver(ext.lower, irp) }
}

/// Every other major function: passed down untouched.
unsafe extern "system" fn dispatch_pass(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the I/O manager calls us with one of our filter devices.
    let ext = unsafe { extension(device) };
    let _guard = match ext.remove_lock.acquire() {
        Ok(guard) => guard,
        // SAFETY: we own the IRP.
        Err(status) => return unsafe { complete(irp, status) },
    };
    // SAFETY: the lower device and an IRP we own.
    unsafe { skip_and_call(ext.lower, irp) }
}
