//! The Windows glue of xenpci.sys: DriverEntry (Xen detection, registry facts and image stamps,
//! the flushed arm record, unplug),
//! AddDevice, the FDO's PnP and power dispatch (IRP_MN_DEVICE_USAGE_NOTIFICATION counted,
//! QUERY_REMOVE refused while a child holds a paging/dump/hibernation file, S4 queries refused
//! while PV is up), platform bring-up at IRP_MN_START_DEVICE, the
//! interrupt (connected before Xen's callback is armed, disconnected after it is cleared; the
//! ISR acknowledges, the DPC dispatches event channels), and a work item that handles
//! xenstore watch events at PASSIVE_LEVEL (`device` → IoInvalidateDeviceRelations,
//! `control/shutdown` → the shutdownmon interface), the child PDOs through `pdo.rs`, and the
//! shutdownmon device interface (create/cleanup/close, METHOD_BUFFERED IOCTLs with a pended,
//! cancellable WAIT). Decisions live in `xenpci` (lib), `xen-platform` and `xen-bus`; this
//! file only carries them out.
//!
//! The children's interface tables reach the platform through `services.rs`
//! (`PlatformAccess` under Windows locks); the platform is freed only at REMOVE, after the
//! children, and the event DPC calls handlers with no lock held.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::mem::size_of;
use core::ptr::{addr_of, addr_of_mut, null_mut};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU16, AtomicU64, AtomicU8, Ordering};

use nt_kernel::cancel::*;
use nt_kernel::device::{create_and_attach, AttachError};
use nt_kernel::irp::*;
use nt_kernel::ntdef::*;
use nt_kernel::pool::POOL_TAG;
use nt_kernel::remove_lock::RemoveLock;
use nt_kernel::sync::SpinLock;
use nt_kernel::wdm::*;
use nt_kernel::work_item::*;
use nt_kernel::{error, info, trace, warn};
use xen_bus::interface::shared::{PlatformAccess, PlatformServices};
use xen_bus::shutdown_ioctl::{
    GUID_DEVINTERFACE_XENPCI_SHUTDOWN, IOCTL_XENPCI_SHUTDOWN_WAIT_REQUEST,
};
use xen_hal::{Hypervisor, SharedMemory};
use xen_hal::{OwnedPages, PhysicalMapper};
use xen_hypercall::arch::x86_64::{detect_xen, HypercallPage};
use xen_platform::bringup::StoreRing;
use xen_platform::evidence::{
    join_key, report_key_path, ArmWrite, EvidenceRecord, ImageStamp, PvClass, BUS_SERVICE,
    PARAMETERS_SUBKEY, REPORT_SUBKEY, SERVICES_KEY, VALUE_ARMED_BOOT, VALUE_ARMED_PATH,
    VALUE_BOOT_COUNT, VALUE_FAILED_PATH, VALUE_PRODUCT, VALUE_REPORT_BOOT, VALUE_REPORT_UNPLUGGED,
    VALUE_STARTED_BOOT, VALUE_UNPLUGGED_BOOT,
};
use xen_platform::shutdown::{self, ShutdownError, SHUTDOWN_WATCH_TOKEN};
use xen_platform::{
    acknowledge_upcall, collect_pending, unplug_decided, watch_devices, BootPlan, CallbackVia,
    Platform, PlatformConfig, PlatformResources, DEVICE_WATCH_TOKEN,
};
use xen_public_headers::hvm::params::HVM_PARAM_CALLBACK_IRQ;
use xenpci::boot::{self, RegistryFacts, ServiceRead, XenPresence};
use xenpci::fdo::{self, FdoAction, FdoState, PnpMinor};
use xenpci::resources::{self, Resource};
use xenpci::shutdown::{Bridge, IoctlOutcome};
use xenpci::usage::{Pagable, SpecialFiles, UsageType};
use xenstore::{Client, RingTransport};

use crate::hal::{self, HypercallRef, NtClock, NtHypervisor, NtMapper, PoolPages, Ports};
use crate::pdo;
use crate::registry::Key;
use crate::services::{EventWait, NtPlatform, Store};

/// First field of the FDO's extension; differs from [`pdo::PDO_EXTENSION_MAGIC`], which is how
/// a dispatch routine tells the FDO from a child PDO.
const FDO_EXTENSION_MAGIC: u32 = u32::from_le_bytes(*b"XFDO");

static DRIVER_NAME: &str = "xenpci";

/// Build number registered with the unplug protocol: the workspace version as
/// major << 16 | minor << 8 | patch.
const BUILD_NUMBER: u32 = {
    let v = env!("CARGO_PKG_VERSION").as_bytes();
    // "M.m.p" with single-digit parts, as the workspace versions so far; others give 0.
    if v.len() == 5 {
        (((v[0] - b'0') as u32) << 16) | (((v[2] - b'0') as u32) << 8) | ((v[4] - b'0') as u32)
    } else {
        0
    }
};

/// Xen was found in ring 0 and is new enough (DriverEntry's finding).
static XEN_USABLE: AtomicBool = AtomicBool::new(false);
/// Copy of the service key path (for `Parameters`), made at DriverEntry, freed at unload.
static SERVICE_KEY: AtomicPtr<ServiceKey> = AtomicPtr::new(null_mut());
/// The hypercall page, installed at the first start, freed at unload (every FDO is gone then).
static HYPERCALL_PAGE: AtomicPtr<HypercallPage<PoolPages>> = AtomicPtr::new(null_mut());
/// What this boot's step unplugged (`UnplugMask` bits; 0 on a reload).
static UNPLUGGED: AtomicU16 = AtomicU16::new(0);

/// The service key path: a counted string over its own buffer.
struct ServiceKey {
    string: UNICODE_STRING,
    /// The UTF-16 units `string.Buffer` points into (a heap buffer: stable when moved).
    _units: Vec<u16>,
}

/// `Box::new` without the abort on out-of-memory: `None` instead.
fn try_box<T>(value: T) -> Option<Box<T>> {
    let layout = core::alloc::Layout::new::<T>();
    if layout.size() == 0 {
        // Zero-sized: Box::new does not allocate.
        return Some(Box::new(value));
    }
    // SAFETY: a non-zero-sized layout.
    let memory = unsafe { alloc::alloc::alloc(layout) }.cast::<T>();
    if memory.is_null() {
        return None;
    }
    // SAFETY: fresh memory of T's layout, written once before the Box owns it.
    unsafe { memory.write(value) };
    // SAFETY: allocated by the global allocator with T's layout and initialised above.
    Some(unsafe { Box::from_raw(memory) })
}

/// Work item bookkeeping (under a spin lock, so "idle" is never signalled while one is queued).
struct WorkState {
    queued: bool,
    pending: u32,
    /// Teardown started: nothing new is queued (the running item still finishes).
    stopping: bool,
}

/// What runs while the platform is up (allocated at START, freed at REMOVE after the children
/// are gone: their interface tables point into `services`).
struct Running {
    mapper: NtMapper,
    services: PlatformServices<NtPlatform>,
    /// The xenstore ring page (mapped by `mapper`, unmapped when freed).
    store_page: SharedMemory,
    /// What the platform was brought up with.
    resources: PlatformResources,
}

impl Running {
    fn platform(&self) -> &NtPlatform {
        self.services.platform()
    }
}

/// Per-FDO state, in the device extension.
#[repr(C)]
struct DeviceExtension {
    /// [`FDO_EXTENSION_MAGIC`].
    magic: u32,
    pdo: *mut DEVICE_OBJECT,
    lower: *mut DEVICE_OBJECT,
    state: AtomicU8,
    before_query_remove: AtomicU8,
    remove_lock: RemoveLock,
    /// The platform while started; read by the ISR, DPC and work item.
    running: AtomicPtr<Running>,
    dpc: KDPC,
    /// Set by the store port's handler; xenstore waits on it.
    store_event: KEVENT,
    /// A synchronization event used as a mutex for the xenstore client.
    store_mutex: KEVENT,
    /// Signalled when no work item is queued or running.
    work_idle: KEVENT,
    work: SpinLock<WorkState>,
    work_item: *mut IO_WORKITEM,
    /// The `IoConnectInterruptEx` connection (null when not connected). Connected before the
    /// callback is armed, disconnected after it is cleared.
    interrupt: AtomicPtr<KINTERRUPT>,
    /// Paging, hibernation and dump files on the children ([`xenpci::usage::SpecialFiles`]
    /// packed; changed only on the PnP path, which PnP serialises).
    special_files: AtomicU64,
    /// The work item must rescan the children (a deferred child's old PDO was deleted).
    rescan: AtomicBool,
    /// The children (under `store_mutex`, as pdo.rs requires serialised calls).
    bus: UnsafeCell<pdo::Bus>,
    /// The shutdownmon side (under `store_mutex`).
    bridge: UnsafeCell<Bridge>,
    /// The file object that declared the shutdown features (under `store_mutex`).
    features_owner: UnsafeCell<PVOID>,
    /// The pended WAIT_REQUEST IRP (under the cancel spin lock).
    waiting: UnsafeCell<*mut IRP>,
    /// The shutdown interface's symbolic link (from IoRegisterDeviceInterface).
    interface_name: UnsafeCell<UNICODE_STRING>,
}

/// DriverEntry: Xen detection, the unplug (before the emulated storage stack starts: xenpci is
/// boot start in a group loaded before it), then the dispatch table.
#[no_mangle]
extern "system" fn DriverEntry(
    driver: *mut DRIVER_OBJECT,
    registry_path: *mut UNICODE_STRING,
) -> NTSTATUS {
    nt_kernel::log::set_driver_name(&DRIVER_NAME);
    // Non-executable pool from Windows 8 on, before anything is allocated.
    nt_kernel::pool::opt_in_nx();
    info!("DriverEntry: xenpci {}", env!("CARGO_PKG_VERSION"));
    if driver.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    remember_service_key(registry_path);
    early_unplug();

    // SAFETY: the I/O manager passes a valid, writable driver object to DriverEntry.
    let driver = unsafe { &mut *driver };
    driver.DriverUnload = Some(driver_unload);
    driver.MajorFunction[usize::from(IRP_MJ_PNP)] = Some(dispatch_pnp);
    driver.MajorFunction[usize::from(IRP_MJ_POWER)] = Some(dispatch_power);
    driver.MajorFunction[usize::from(IRP_MJ_SYSTEM_CONTROL)] = Some(dispatch_forward);
    driver.MajorFunction[usize::from(IRP_MJ_CREATE)] = Some(dispatch_create_close);
    driver.MajorFunction[usize::from(IRP_MJ_CLOSE)] = Some(dispatch_create_close);
    driver.MajorFunction[usize::from(IRP_MJ_CLEANUP)] = Some(dispatch_cleanup);
    driver.MajorFunction[usize::from(IRP_MJ_DEVICE_CONTROL)] = Some(dispatch_device_control);
    // SAFETY: DriverExtension is valid for a driver object handed to DriverEntry.
    match unsafe { driver.DriverExtension.as_mut() } {
        Some(extension) => extension.AddDevice = Some(add_device),
        None => return STATUS_UNSUCCESSFUL,
    }
    STATUS_SUCCESS
}

/// Keeps a copy of the service key path for later registry writes.
fn remember_service_key(registry_path: *mut UNICODE_STRING) {
    if registry_path.is_null() {
        return;
    }
    // SAFETY: the I/O manager's registry path is valid during DriverEntry.
    let path = unsafe { *registry_path };
    let units = usize::from(path.Length / 2);
    if path.Buffer.is_null() || units == 0 {
        return;
    }
    let mut copy: Vec<u16> = Vec::new();
    if copy.try_reserve_exact(units + 1).is_err() {
        return;
    }
    // SAFETY: `Buffer` holds `Length` bytes.
    copy.extend_from_slice(unsafe { core::slice::from_raw_parts(path.Buffer, units) });
    copy.push(0);
    let string = UNICODE_STRING {
        Length: path.Length,
        MaximumLength: path.Length.saturating_add(2),
        Buffer: copy.as_mut_ptr(),
    };
    let Some(key) = try_box(ServiceKey {
        string,
        _units: copy,
    }) else {
        return;
    };
    SERVICE_KEY.store(Box::into_raw(key), Ordering::Release);
}

/// The service key path, while the driver is loaded.
fn service_key() -> Option<&'static UNICODE_STRING> {
    let key = SERVICE_KEY.load(Ordering::Acquire);
    // SAFETY: set once in DriverEntry, freed only at unload (nothing runs after that).
    unsafe { key.as_ref() }.map(|k| &k.string)
}

fn service_parameters_key() -> Option<Key> {
    Key::open_unicode(service_key()?, KEY_READ | KEY_WRITE)?.create_subkey(PARAMETERS_SUBKEY)
}

/// The stamp of the image `service_key`'s `ImagePath` names (`None`: missing, unreadable).
fn image_stamp_of(service: &str, service_key: &Key) -> Option<ImageStamp> {
    let image_path = service_key.read_path("ImagePath");
    let path = boot::image_nt_path(service, image_path.as_deref())?;
    let stamp = crate::registry::file_stamp(&path);
    if stamp.is_none() {
        info!("{}: image not found or not readable", service);
    }
    stamp
}

/// A PV driver's service key, image stamp and evidence record.
fn read_service(name: &str, product: &mut Option<Vec<u16>>) -> ServiceRead<'static> {
    let Some(key) = join_key(&[SERVICES_KEY, name]).and_then(|p| Key::open(&p)) else {
        return ServiceRead::default();
    };
    let parameters = join_key(&[SERVICES_KEY, name, PARAMETERS_SUBKEY]).and_then(|p| Key::open(&p));
    let dword = |value: &str| parameters.as_ref().and_then(|k| k.read_dword(value));
    let stamp = |value: &str| parameters.as_ref().and_then(|k| k.read_path_stamp(value));
    *product = parameters
        .as_ref()
        .and_then(|k| k.read_utf16(VALUE_PRODUCT));
    ServiceRead {
        exists: true,
        product: None,
        start: key.read_dword("Start"),
        image: image_stamp_of(name, &key),
        record: EvidenceRecord {
            armed_boot: dword(VALUE_ARMED_BOOT),
            armed_path: stamp(VALUE_ARMED_PATH),
            unplugged_boot: dword(VALUE_UNPLUGGED_BOOT),
            failed_path: stamp(VALUE_FAILED_PATH),
            started_boot: dword(VALUE_STARTED_BOOT),
        },
    }
}

/// Writes `write` to `class`'s `Parameters` and flushes it; `true` only if all of it is on
/// disk.
fn persist_arm_write(class: PvClass, write: &ArmWrite) -> bool {
    let key = join_key(&[SERVICES_KEY, class.service(), PARAMETERS_SUBKEY])
        .and_then(|p| Key::open_with(&p, KEY_READ | KEY_WRITE));
    let Some(key) = key else {
        warn!(
            "{}: Parameters cannot be opened for writing",
            class.service()
        );
        return false;
    };
    // Every operation is attempted (a stale value left behind must not survive a failure of
    // another one unnoticed), then the key is flushed.
    let written = boot::arm_ops(write)
        .into_iter()
        .fold(true, |ok, op| key.apply(op) && ok);
    let flushed = written && key.flush();
    if !flushed {
        warn!(
            "{}: the boot record could not be persisted",
            class.service()
        );
    }
    flushed
}

/// Decides and carries out the unplug (once per boot, at the boot-time initialisation), then
/// publishes this boot's volatile report, logging why.
fn early_unplug() {
    let kernel_mode = hal::kernel_mode();
    let cpuid = detect_xen().map(|x| x.version);
    let presence = XenPresence::from_cpuid(kernel_mode, cpuid);
    info!("{}", presence);
    XEN_USABLE.store(presence.usable(), Ordering::Release);

    let options =
        Key::open(boot::CONTROL_KEY).and_then(|k| k.read_utf16(boot::START_OPTIONS_VALUE));
    let parameters = service_parameters_key();
    let (mut vbd_product, mut net_product) = (None, None);
    let mut xenvbd = read_service(PvClass::Disk.service(), &mut vbd_product);
    let mut xennet = read_service(PvClass::Net.service(), &mut net_product);
    xenvbd.product = vbd_product.as_deref();
    xennet.product = net_product.as_deref();
    let registry = RegistryFacts {
        start_options: options.as_deref(),
        report_exists: report_key_path().and_then(|p| Key::open(&p)).is_some(),
        storage_started: Key::open(boot::SCSI_DEVICEMAP_KEY).is_some(),
        boot_count: parameters
            .as_ref()
            .and_then(|k| k.read_dword(VALUE_BOOT_COUNT)),
        bus_image: service_key()
            .and_then(|path| Key::open_unicode(path, KEY_READ))
            .and_then(|key| image_stamp_of(BUS_SERVICE, &key)),
        xenvbd,
        xennet,
    };
    let plan = BootPlan::new(&boot::unplug_facts(presence, &registry));
    // BootCount and each class's arm record are written and flushed before any port write; a
    // class whose record is not on disk is not unplugged.
    let mut persisted = boot::Persisted::default();
    if let Some(boot_number) = plan.boot {
        persisted.boot_count = parameters
            .as_ref()
            .is_some_and(|k| k.write_dword(VALUE_BOOT_COUNT, boot_number) && k.flush());
        if !persisted.boot_count {
            warn!("BootCount {} could not be persisted", boot_number);
        }
        for class in PvClass::ALL {
            let ok = plan
                .write(class)
                .is_some_and(|write| persist_arm_write(class, write));
            match class {
                PvClass::Disk => persisted.disk = ok,
                PvClass::Net => persisted.net = ok,
            }
        }
    }
    let decision = plan.after_writes(|class| persisted.class(class));
    let unplugged = if presence.usable() {
        let outcome = unplug_decided(&Ports, decision, BUILD_NUMBER);
        match outcome.result {
            Ok(_) => info!("unplug: {}", outcome),
            Err(_) => warn!("unplug: {}", outcome),
        }
        outcome.unplugged()
    } else {
        // No port I/O without Xen in ring 0 (Wine, bare metal).
        info!("unplug: {}; nothing unplugged", decision);
        xen_platform::UnplugMask::NONE
    };
    UNPLUGGED.store(unplugged.0, Ordering::Release);
    let (Some(report), Some(parameters)) = (plan.report(unplugged), parameters) else {
        return;
    };
    let published = parameters
        .create_volatile_subkey(REPORT_SUBKEY)
        .is_some_and(|k| {
            k.write_dword(VALUE_REPORT_BOOT, report.boot)
                && k.write_dword(VALUE_REPORT_UNPLUGGED, u32::from(report.unplugged.0))
        });
    if !published {
        warn!(
            "could not publish this boot's report (boot {})",
            report.boot
        );
    }
}

/// DriverUnload: every FDO and PDO is gone; frees the service key copy and the hypercall page.
unsafe extern "system" fn driver_unload(_driver: *mut DRIVER_OBJECT) {
    let key = SERVICE_KEY.swap(null_mut(), Ordering::AcqRel);
    if !key.is_null() {
        // SAFETY: made by Box::into_raw in remember_service_key, taken out once above.
        drop(unsafe { Box::from_raw(key) });
    }
    let page = HYPERCALL_PAGE.swap(null_mut(), Ordering::AcqRel);
    if !page.is_null() {
        // SAFETY: made by Box::into_raw in hypercall_page; no FDO is left to make hypercalls
        // (the I/O manager unloads only after every device object is deleted).
        drop(unsafe { Box::from_raw(page) });
    }
    info!("DriverUnload");
}

/// AddDevice: the FDO on the Xen platform PCI device.
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
            FILE_DEVICE_BUS_EXTENDER,
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
    // SAFETY: `fdo` was just created.
    let work_item = unsafe { IoAllocateWorkItem(fdo) };
    if work_item.is_null() {
        error!("AddDevice: IoAllocateWorkItem failed");
        // SAFETY: attached above and still initialising: nothing has reached it.
        unsafe { IoDetachDevice(lower) };
        // SAFETY: created above, now detached.
        unsafe { IoDeleteDevice(fdo) };
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    // SAFETY: `fdo` is valid and not yet visible to anyone else (DO_DEVICE_INITIALIZING).
    let fdo_ref = unsafe { &mut *fdo };
    let ext = fdo_ref.DeviceExtension.cast::<DeviceExtension>();
    // SAFETY: IoCreateDevice allocated a suitably aligned extension of the requested size;
    // the kernel objects are zeroed here and initialised in place below.
    unsafe {
        ext.write(DeviceExtension {
            magic: FDO_EXTENSION_MAGIC,
            pdo,
            lower,
            state: AtomicU8::new(FdoState::NotStarted as u8),
            before_query_remove: AtomicU8::new(FdoState::NotStarted as u8),
            remove_lock: RemoveLock::zeroed(),
            running: AtomicPtr::new(null_mut()),
            dpc: core::mem::zeroed(),
            store_event: core::mem::zeroed(),
            store_mutex: core::mem::zeroed(),
            work_idle: core::mem::zeroed(),
            work: SpinLock::new(WorkState {
                queued: false,
                pending: 0,
                stopping: false,
            }),
            interrupt: AtomicPtr::new(null_mut()),
            special_files: AtomicU64::new(0),
            rescan: AtomicBool::new(false),
            work_item,
            bus: UnsafeCell::new(pdo::Bus::new(
                driver,
                pdo,
                pdo::RemovalHook {
                    context: ext as usize,
                    deleted: child_deleted,
                },
            )),
            bridge: UnsafeCell::new(Bridge::new()),
            features_owner: UnsafeCell::new(null_mut()),
            waiting: UnsafeCell::new(null_mut()),
            interface_name: UnsafeCell::new(UNICODE_STRING {
                Length: 0,
                MaximumLength: 0,
                Buffer: null_mut(),
            }),
        })
    };
    let guid = GUID_DEVINTERFACE_XENPCI_SHUTDOWN;
    let guid = GUID {
        Data1: guid.data1,
        Data2: guid.data2,
        Data3: guid.data3,
        Data4: guid.data4,
    };
    // SAFETY: our PDO; the name is written into the extension, which outlives it.
    let status =
        unsafe { IoRegisterDeviceInterface(pdo, &guid, null_mut(), (*ext).interface_name.get()) };
    if !NT_SUCCESS(status) {
        warn!(
            "AddDevice: IoRegisterDeviceInterface failed {:#010x}",
            status
        );
    }
    // SAFETY: the extension stays at this address until IoDeleteDevice.
    unsafe { RemoveLock::initialize(addr_of_mut!((*ext).remove_lock), POOL_TAG) };
    // SAFETY: as above; the DPC's context is the extension.
    unsafe { KeInitializeDpc(addr_of_mut!((*ext).dpc), Some(dpc_routine), ext.cast()) };
    // SAFETY: as above.
    unsafe {
        KeInitializeEvent(
            addr_of_mut!((*ext).store_event),
            SynchronizationEvent,
            FALSE,
        )
    };
    // SAFETY: as above; signalled = the mutex is free.
    unsafe { KeInitializeEvent(addr_of_mut!((*ext).store_mutex), SynchronizationEvent, TRUE) };
    // SAFETY: as above; signalled = no work item pending.
    unsafe { KeInitializeEvent(addr_of_mut!((*ext).work_idle), NotificationEvent, TRUE) };
    // SAFETY: `lower` is a valid device object returned by the attach.
    let lower_flags = unsafe { (*lower).Flags };
    fdo_ref.Flags = nt_kernel::device::function_device_flags(fdo_ref.Flags, lower_flags);
    info!("AddDevice: attached to the Xen platform PCI device");
    STATUS_SUCCESS
}

/// A child PDO was deleted at PnP's REMOVE: if a child with its instance ID waits, rescan.
fn child_deleted(context: usize, device: &xenbus::DeviceRef) {
    // SAFETY: the FDO's extension (the hook's context); the FDO outlives its children.
    let ext = unsafe { &*(context as *const DeviceExtension) };
    lock_store(ext);
    // SAFETY: the mutex is held.
    let waiting = unsafe { (*ext.bus.get()).child_deleted(device) };
    unlock_store(ext);
    if waiting {
        ext.rescan.store(true, Ordering::Release);
        queue_work(ext, false);
    }
}

/// The extension of our FDO.
///
/// # Safety
/// `device` must be the FDO created by `add_device` and not yet deleted.
unsafe fn extension<'a>(device: *mut DEVICE_OBJECT) -> &'a DeviceExtension {
    // SAFETY: forwarded caller guarantee; `add_device` initialised the extension.
    unsafe { &*(*device).DeviceExtension.cast::<DeviceExtension>() }
}

// ---- PnP --------------------------------------------------------------------------------------

unsafe extern "system" fn dispatch_pnp(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: a device object of this driver.
    if unsafe { pdo::is_pdo(device) } {
        // SAFETY: a child PDO and an IRP we own.
        return unsafe { pdo::dispatch_pnp(device, irp) };
    }
    // SAFETY: the PnP manager calls us with our FDO and an IRP we own.
    let ext = unsafe { extension(device) };
    let guard = match ext.remove_lock.acquire() {
        Ok(guard) => guard,
        // SAFETY: we own the IRP.
        Err(status) => return unsafe { complete(irp, status) },
    };
    // SAFETY: as above.
    let stack = unsafe { &*IoGetCurrentIrpStackLocation(irp) };
    let minor_code = stack.MinorFunction;
    let state = FdoState::from_u8(ext.state.load(Ordering::Acquire));
    let before = FdoState::from_u8(ext.before_query_remove.load(Ordering::Acquire));
    let minor = PnpMinor::from_code(minor_code);
    trace!("PnP minor {:#04x} in {:?}", minor_code, state);
    let files = SpecialFiles::unpack(ext.special_files.load(Ordering::Acquire));
    match fdo::on_pnp(state, minor, before, files.in_use()) {
        FdoAction::StartLowerThenBringUp => {
            // SAFETY: PnP IRPs arrive at PASSIVE_LEVEL; we own the IRP.
            let status = unsafe { forward_and_wait(ext.lower, irp) };
            if NT_SUCCESS(status) {
                // SAFETY: `Parameters.StartDevice` is the active member for START_DEVICE.
                let (raw, translated) = unsafe {
                    (
                        stack.Parameters.StartDevice.AllocatedResources,
                        stack.Parameters.StartDevice.AllocatedResourcesTranslated,
                    )
                };
                start_platform(ext, raw, translated);
            } else {
                error!("START_DEVICE: the PCI bus driver failed {:#010x}", status);
            }
            let next = fdo::start_completed(state, NT_SUCCESS(status));
            ext.state.store(next as u8, Ordering::Release);
            // SAFETY: we own the IRP again.
            unsafe { complete(irp, status) }
        }
        FdoAction::Refuse => {
            if minor == PnpMinor::QueryRemove {
                info!(
                    "QUERY_REMOVE refused: a paging, hibernation or dump file is on a child disk ({:?})",
                    files
                );
            } else {
                info!(
                    "PnP minor {:#04x} refused (Xen's frames live in the BAR)",
                    minor_code
                );
            }
            // SAFETY: we own the IRP; not passed down.
            unsafe { complete(irp, STATUS_UNSUCCESSFUL) }
        }
        FdoAction::SucceedAndForward { next } => {
            if minor == PnpMinor::QueryRemove {
                ext.before_query_remove
                    .store(state as u8, Ordering::Release);
            }
            ext.state.store(next as u8, Ordering::Release);
            // SAFETY: we own the IRP.
            unsafe { (*irp).IoStatus.Status = STATUS_SUCCESS };
            // SAFETY: our extension and an IRP we own.
            unsafe { skip_and_call(ext.lower, irp) }
        }
        FdoAction::TearDownAndForward { next } => {
            quiesce_platform(ext);
            ext.state.store(next as u8, Ordering::Release);
            // SAFETY: we own the IRP.
            unsafe { (*irp).IoStatus.Status = STATUS_SUCCESS };
            // SAFETY: our extension and an IRP we own.
            unsafe { skip_and_call(ext.lower, irp) }
        }
        FdoAction::Remove => {
            ext.state.store(FdoState::Deleted as u8, Ordering::Release);
            guard.release_and_wait();
            quiesce_platform(ext);
            lock_store(ext);
            // SAFETY: the mutex is held; PnP removed the children before their parent.
            unsafe { (*ext.bus.get()).delete_all() };
            unlock_store(ext);
            // The children are gone: nothing references the platform's services any more.
            free_platform(ext);
            let name = ext.interface_name.get();
            // SAFETY: the string lives in the extension; only AddDevice wrote it.
            let allocated = unsafe { !(*name).Buffer.is_null() };
            if allocated {
                // SAFETY: the name IoRegisterDeviceInterface allocated, freed once.
                unsafe { RtlFreeUnicodeString(name) };
            }
            let lower = ext.lower;
            let work_item = ext.work_item;
            // SAFETY: we own the IRP.
            unsafe { (*irp).IoStatus.Status = STATUS_SUCCESS };
            // SAFETY: our extension and an IRP we own; not touched afterwards.
            let status = unsafe { skip_and_call(ext.lower, irp) };
            // SAFETY: no work item is queued or running (quiesce_platform waited for idle).
            unsafe { IoFreeWorkItem(work_item) };
            // SAFETY: the device we attached to in AddDevice.
            unsafe { IoDetachDevice(lower) };
            // SAFETY: our FDO, detached; nothing references the extension after this.
            unsafe { IoDeleteDevice(device) };
            info!("REMOVE_DEVICE: detached and deleted");
            status
        }
        FdoAction::Relations => {
            // SAFETY: `Parameters.QueryDeviceRelations` is the active member.
            let kind = unsafe { stack.Parameters.QueryDeviceRelations.Type };
            if kind == BusRelations {
                lock_store(ext);
                // SAFETY: the mutex is held; PASSIVE_LEVEL; we own the IRP.
                let status = unsafe { (*ext.bus.get()).query_bus_relations(irp) };
                // SAFETY: as above.
                let rescan = unsafe { (*ext.bus.get()).take_rescan() };
                unlock_store(ext);
                if rescan {
                    ext.rescan.store(true, Ordering::Release);
                    queue_work(ext, false);
                }
                if !NT_SUCCESS(status) {
                    // SAFETY: we own the IRP; not passed down on failure.
                    return unsafe { complete(irp, status) };
                }
            }
            // SAFETY: our extension and an IRP we own.
            unsafe { skip_and_call(ext.lower, irp) }
        }
        FdoAction::UsageNotification => {
            // SAFETY: `Parameters.UsageNotification` is the active member.
            let notice = unsafe { stack.Parameters.UsageNotification };
            // SAFETY: our FDO and an IRP we own, at PASSIVE_LEVEL.
            let status = unsafe {
                usage_notification(device, ext.lower, irp, notice.Type, notice.InPath != 0)
            };
            // SAFETY: we own the IRP again.
            unsafe { complete(irp, status) }
        }
        // SAFETY: our extension and an IRP we own.
        FdoAction::Forward => unsafe { skip_and_call(ext.lower, irp) },
    }
}

/// IRP_MN_DEVICE_USAGE_NOTIFICATION on the FDO: passed down and waited for; the counts and
/// `DO_POWER_PAGABLE` follow [`xenpci::usage`]. Returns the status to complete with.
///
/// # Safety
/// PASSIVE_LEVEL; `device` is our FDO, `lower` the device below it, `irp` ours.
unsafe fn usage_notification(
    device: *mut DEVICE_OBJECT,
    lower: *mut DEVICE_OBJECT,
    irp: *mut IRP,
    kind: u32,
    in_path: bool,
) -> NTSTATUS {
    // SAFETY: caller guarantee.
    let ext = unsafe { extension(device) };
    let mut files = SpecialFiles::unpack(ext.special_files.load(Ordering::Acquire));
    // SAFETY: our FDO.
    let inrush = unsafe { (*device).Flags } & DO_POWER_INRUSH != 0;
    let (notice, change) = files.before(UsageType::from_code(kind), in_path, inrush);
    // SAFETY: our FDO, on the PnP path.
    unsafe { set_pagable(device, change) };
    // SAFETY: caller guarantee.
    let status = unsafe { forward_and_wait(lower, irp) };
    let (change, succeeded) = files.after(notice, NT_SUCCESS(status));
    // SAFETY: as above.
    unsafe { set_pagable(device, change) };
    ext.special_files.store(files.pack(), Ordering::Release);
    info!(
        "usage notification type {} in path {}: {:#010x}, now {:?}",
        kind, in_path, status, files
    );
    if succeeded {
        STATUS_SUCCESS
    } else {
        status
    }
}

/// Applies a `DO_POWER_PAGABLE` change to one of our device objects.
///
/// # Safety
/// `device` is a live device object of this driver; called on its PnP path.
pub(crate) unsafe fn set_pagable(device: *mut DEVICE_OBJECT, change: Pagable) {
    // SAFETY: caller guarantee.
    let flags = unsafe { &mut (*device).Flags };
    match change {
        Pagable::Keep => {}
        Pagable::Set => *flags |= DO_POWER_PAGABLE,
        Pagable::Clear => *flags &= !DO_POWER_PAGABLE,
    }
}

/// Reads up to 32 partial descriptors of the first full descriptor of `list`.
///
/// # Safety
/// `list` is null or a resource list from IRP_MN_START_DEVICE.
unsafe fn decode_resources(list: *mut CM_RESOURCE_LIST) -> Vec<Resource> {
    let mut out = Vec::new();
    if list.is_null() {
        return out;
    }
    // SAFETY: a valid list (caller); `Count` is read unaligned (packed).
    let count = unsafe { addr_of!((*list).Count).read_unaligned() };
    if count == 0 {
        return out;
    }
    // SAFETY: the first full descriptor exists when Count > 0.
    let partial = unsafe { addr_of!((*list).List[0].PartialResourceList) };
    // SAFETY: as above.
    let partial_count = unsafe { addr_of!((*partial).Count).read_unaligned() }.min(32) as usize;
    if out.try_reserve_exact(partial_count).is_err() {
        return out;
    }
    // SAFETY: the descriptors follow in place.
    let first =
        unsafe { addr_of!((*partial).PartialDescriptors) }.cast::<CM_PARTIAL_RESOURCE_DESCRIPTOR>();
    for index in 0..partial_count {
        // SAFETY: `index < Count`: inside the list the PnP manager built.
        let descriptor = unsafe { first.add(index).read_unaligned() };
        let u = descriptor.u;
        let kind = descriptor.Type;
        out.push(if kind == CmResourceTypePort {
            Resource::Port {
                start: u.start() as u64,
                length: u.length(),
            }
        } else if kind == CmResourceTypeMemory {
            Resource::Memory {
                start: u.start() as u64,
                length: u.length(),
            }
        } else if kind == CmResourceTypeInterrupt {
            Resource::Interrupt {
                level: u.interrupt_level(),
                vector: u.interrupt_vector(),
            }
        } else {
            Resource::Other(kind)
        });
    }
    out
}

/// `IoConnectInterruptEx` / `IoDisconnectInterruptEx`, looked up at run time: Wine (the smoke
/// test) lacks them, and a missing import would stop the image from loading at all.
type ConnectEx = unsafe extern "system" fn(*mut IO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS;
type DisconnectEx = unsafe extern "system" fn(*mut IO_DISCONNECT_INTERRUPT_PARAMETERS);

fn system_routine(name: &str) -> PVOID {
    let mut units: Vec<u16> = Vec::new();
    if units.try_reserve_exact(name.len() + 1).is_err() {
        return null_mut();
    }
    units.extend(name.encode_utf16());
    units.push(0);
    let mut string = UNICODE_STRING {
        Length: (name.len() * 2) as u16,
        MaximumLength: (name.len() * 2 + 2) as u16,
        Buffer: units.as_mut_ptr(),
    };
    // SAFETY: a valid counted string for the call.
    unsafe { MmGetSystemRoutineAddress(&mut string) }
}

/// The hypercall page, installed on first use.
fn hypercall_page() -> Option<HypercallRef> {
    let page = HYPERCALL_PAGE.load(Ordering::Acquire);
    // SAFETY: only ever set to a leaked, live page.
    if let Some(page) = unsafe { page.as_ref() } {
        return Some(HypercallRef(page));
    }
    let xen = detect_xen()?;
    let pages = match OwnedPages::new(PoolPages, 1) {
        Ok(pages) => pages,
        Err(_) => {
            error!("no memory for the hypercall page");
            return None;
        }
    };
    // SAFETY: ring 0 in a Xen HVM guest (XEN_USABLE was checked by the caller); `pages` is the
    // image's executable, non-paged hypercall page whose frame is from MmGetPhysicalAddress.
    let installed = match unsafe { HypercallPage::install(&xen, pages) } {
        Ok(page) => page,
        Err(e) => {
            error!("installing the hypercall page failed: {:?}", e);
            return None;
        }
    };
    let Some(page) = try_box(installed) else {
        error!("no memory for the hypercall page's bookkeeping");
        return None;
    };
    let page = Box::into_raw(page);
    HYPERCALL_PAGE.store(page, Ordering::Release);
    // SAFETY: just stored; freed only at DriverUnload, after every user is gone.
    Some(HypercallRef(unsafe { &*page }))
}

/// Brings the platform up from the start resources; on failure logs why and leaves the FDO
/// started without children.
///
/// Order (issue 18, item 6): the ISR is connected first (it claims nothing while no platform
/// is published), then the bring-up arms the callback last with every port masked, the
/// platform is published, and only then is the xenstore port bound and unmasked.
fn start_platform(
    ext: &DeviceExtension,
    raw: *mut CM_RESOURCE_LIST,
    translated: *mut CM_RESOURCE_LIST,
) {
    if !XEN_USABLE.load(Ordering::Acquire) {
        warn!("START_DEVICE: Xen is not usable here; the platform stays down");
        return;
    }
    if !ext.running.load(Ordering::Acquire).is_null() {
        // A repeated start (the platform cannot move: Xen's frames stay where they are).
        info!("START_DEVICE: the platform is already up");
        return;
    }
    ext.work.lock().stopping = false;
    // SAFETY: the lists of this START_DEVICE IRP.
    let raw = unsafe { decode_resources(raw) };
    // SAFETY: as above.
    let translated = unsafe { decode_resources(translated) };
    let selected = match resources::select(&raw, &translated) {
        Ok(selected) => selected,
        Err(e) => {
            error!("START_DEVICE: {}", e);
            return;
        }
    };
    info!(
        "platform device: memory {:#x} ({} KiB), ports {:?}, GSI {}",
        selected.bar_start,
        selected.bar_length >> 10,
        selected.port,
        selected.gsi
    );
    let Some(page) = hypercall_page() else {
        return;
    };
    let hv = NtHypervisor(page);
    let Some(mapper) = NtMapper::new(selected.bar_start, selected.bar_length) else {
        error!("mapping the platform BAR failed");
        return;
    };
    // The platform's bookkeeping is allocated before anything is armed, so no allocation can
    // fail once Xen raises the callback (issue 18, item 11: a failed start, not a bug check).
    let Some(slot) = try_box(core::mem::MaybeUninit::<Running>::uninit()) else {
        error!("START_DEVICE: no memory for the platform");
        return;
    };
    if !connect_interrupt(ext) {
        return;
    }
    let resources = PlatformResources {
        bar_base: mapper.bar_base(),
        bar_len: selected.bar_length,
        callback: CallbackVia::Gsi(selected.gsi),
    };
    let platform = match Platform::bring_up(hv, &mapper, resources, PlatformConfig::default()) {
        Ok(platform) => platform,
        Err(e) => {
            error!("platform bring-up failed: {}", e);
            disconnect_interrupt(ext);
            return;
        }
    };
    info!(
        "Xen {}.{}: shared_info at frame {:#x}, {} grant frames, callback {:#x}, xenstore frame {:#x} port {}",
        platform.version().major,
        platform.version().minor,
        resources.bar_base.0,
        platform.grant_frames().len(),
        platform.callback_param(),
        platform.store().pfn.0,
        platform.store().port.0
    );
    let parts = platform.into_parts();
    let store = parts.store;
    let nt_platform = NtPlatform::new(
        parts.hv,
        parts.shared_info,
        parts.events,
        parts.grants,
        addr_of!(ext.store_mutex).cast_mut(),
    );
    let running = Box::into_raw(slot).cast::<Running>();
    // SAFETY: `slot` was allocated for a Running (MaybeUninit has its layout); written once
    // here, then owned through the raw pointer (freed by free_platform with Box::from_raw).
    unsafe {
        running.write(Running {
            mapper,
            services: PlatformServices::new(nt_platform),
            store_page: store.page,
            resources: parts.resources,
        })
    };
    ext.running.store(running, Ordering::Release);
    // SAFETY: just published; freed only by free_platform on this PnP path.
    let running_ref = unsafe { &*running };
    let ext_ptr = core::ptr::from_ref(ext) as usize;
    let bound = running_ref.platform().events().lock().bind_handler(
        &running_ref.platform().hv(),
        store.port,
        store_fired,
        ext_ptr,
    );
    if let Err(e) = bound {
        error!("binding the xenstore event channel failed: {}", e);
        // The ring mapping and everything else are freed with the platform.
        quiesce_platform(ext);
        free_platform(ext);
        return;
    }
    connect_store(ext, running_ref, store);
}

/// Clears vCPU 0's upcall-pending flag, so a callback armed later (by a reload of the driver
/// in the same domain) does not raise a level interrupt left over from before.
fn acknowledge_stale_upcall(shared_info: SharedMemory) {
    let _ = acknowledge_upcall(shared_info);
}

/// Connects the ISR to the platform device's line-based interrupt (the ISR claims nothing
/// until a platform is published).
fn connect_interrupt(ext: &DeviceExtension) -> bool {
    let routine = system_routine("IoConnectInterruptEx");
    if routine.is_null() {
        error!("IoConnectInterruptEx is not available");
        return false;
    }
    // SAFETY: the routine the kernel exports under that name has this signature.
    let connect: ConnectEx = unsafe { core::mem::transmute::<PVOID, ConnectEx>(routine) };
    let mut interrupt: *mut KINTERRUPT = null_mut();
    let mut parameters = IO_CONNECT_INTERRUPT_PARAMETERS {
        Version: CONNECT_LINE_BASED,
        LineBased: IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS {
            PhysicalDeviceObject: ext.pdo,
            InterruptObject: &mut interrupt,
            ServiceRoutine: Some(isr),
            ServiceContext: core::ptr::from_ref(ext).cast_mut().cast(),
            SpinLock: null_mut(),
            SynchronizeIrql: 0,
            FloatingSave: FALSE,
        },
        _FullySpecifiedTail: [0; 3],
    };
    // SAFETY: PASSIVE_LEVEL in START_DEVICE; the parameters live for the call.
    let status = unsafe { connect(&mut parameters) };
    if !NT_SUCCESS(status) || interrupt.is_null() {
        error!("IoConnectInterruptEx failed {:#010x}", status);
        return false;
    }
    ext.interrupt.store(interrupt, Ordering::Release);
    info!("interrupt connected");
    true
}

/// Disconnects the ISR (idempotent), then waits for DPCs it queued.
fn disconnect_interrupt(ext: &DeviceExtension) {
    let interrupt = ext.interrupt.swap(null_mut(), Ordering::AcqRel);
    if interrupt.is_null() {
        return;
    }
    let routine = system_routine("IoDisconnectInterruptEx");
    if !routine.is_null() {
        // SAFETY: the kernel's export of that name has this signature.
        let disconnect: DisconnectEx =
            unsafe { core::mem::transmute::<PVOID, DisconnectEx>(routine) };
        let mut parameters = IO_DISCONNECT_INTERRUPT_PARAMETERS {
            Version: CONNECT_LINE_BASED,
            ConnectionContext: interrupt.cast(),
        };
        // SAFETY: the connection made in connect_interrupt, disconnected once (swapped out).
        unsafe { disconnect(&mut parameters) };
    }
    // SAFETY: no ISR can queue the DPC any more; wait for any queued or running one.
    unsafe { KeFlushQueuedDpcs() };
}

/// Takes the xenstore mutex.
fn lock_store(ext: &DeviceExtension) {
    // SAFETY: PASSIVE_LEVEL; the event lives in the extension.
    unsafe {
        KeWaitForSingleObject(
            addr_of!(ext.store_mutex).cast_mut().cast(),
            Executive,
            KernelMode,
            FALSE,
            null_mut(),
        )
    };
}

fn unlock_store(ext: &DeviceExtension) {
    // SAFETY: the event lives in the extension.
    unsafe { KeSetEvent(addr_of!(ext.store_mutex).cast_mut(), 0, FALSE) };
}

/// The xenstore client, if the platform is up. Call with `store_mutex` held (the client is
/// used by one thread at a time).
fn store_client<'a>(ext: &'a DeviceExtension) -> Option<&'a mut Store> {
    // SAFETY: the platform is freed only after being unpublished under the mutex, which the
    // caller holds.
    let running = unsafe { ext.running.load(Ordering::Acquire).as_ref() }?;
    // SAFETY: the mutex is held (caller), so this is the only reference to the slot.
    unsafe { running.platform().store_slot() }
        .as_mut()
        .map(|(client, _)| client)
}

/// Connects xenstore, sets the watches, hands the platform to the bus, and enumerates the
/// children.
fn connect_store(ext: &DeviceExtension, running: &Running, store: StoreRing) {
    let transport = match RingTransport::new(store.page, running.platform().hv(), store.port) {
        Ok(transport) => transport,
        Err(e) => {
            error!("xenstore ring: {:?}", e);
            return;
        }
    };
    let wait = EventWait {
        event: addr_of!(ext.store_event).cast_mut(),
    };
    let mut client = match Client::new(transport, NtClock, wait) {
        Ok(client) => client,
        Err(e) => {
            error!("xenstore client: {:?}", e);
            return;
        }
    };
    // START runs on the PnP thread: its xenstore requests get a short deadline each, and the
    // first one that times out ends the connection attempt (xenstore is not answering).
    client.set_timeout_ms(START_REQUEST_TIMEOUT_MS);
    // Fail closed without our domain id: children would be told DOMID_SELF and no backend path
    // could be checked against it (the bus's scan refuses to run without it too).
    let own_domid = match xenbus::handshake::read_own_domid(&mut client) {
        Ok(domid) => {
            info!("xenstore connected (domid {})", domid.0);
            domid
        }
        Err(e) => {
            error!(
                "xenstore: reading domid failed ({:?}): no children are offered",
                e
            );
            return;
        }
    };
    if let Err(e) = watch_devices(&mut client) {
        error!("xenstore: watch on device failed: {:?}", e);
        if e == xenstore::Error::Timeout {
            return;
        }
    }
    if let Err(e) = shutdown::watch(&mut client) {
        error!("xenstore: watch on control/shutdown failed: {:?}", e);
        if e == xenstore::Error::Timeout {
            return;
        }
    }
    // SAFETY: PASSIVE_LEVEL in START_DEVICE; `lower` is the device we attached to.
    let parent_bus = unsafe { pdo::query_parent_bus_interface(ext.lower) };
    if parent_bus.is_none() {
        warn!("the PCI bus driver gave no bus interface: children get no DMA adapter");
    }
    let child_resources = xen_bus::binding::PlatformResources {
        // Raw and translated memory addresses are the same on x86.
        memory_start: running.resources.bar_base.0 << xen_hal::PAGE_SHIFT,
        memory_length: running.resources.bar_len,
        interrupt_vector: match running.resources.callback {
            CallbackVia::Gsi(gsi) => gsi,
            CallbackVia::PciIntx { .. } => 0,
        },
        level_triggered: true,
    };
    let services: *const PlatformServices<NtPlatform> = &running.services;
    // SAFETY: `running` lives until free_platform, which runs at REMOVE after delete_all,
    // so the children never see the services freed.
    let services: pdo::Services = unsafe { &*services };
    lock_store(ext);
    // SAFETY: the mutex is held.
    unsafe { running.platform().set_store(client, own_domid) };
    // SAFETY: the mutex is held: the bus is ours.
    let bus = unsafe { &mut *ext.bus.get() };
    // SAFETY: the services outlive the children (see above).
    unsafe { bus.set_platform(child_resources, Some(services), parent_bus) };
    let changed = match store_client(ext) {
        Some(client) => {
            // SAFETY: PASSIVE_LEVEL, serialised by the store mutex.
            let changed = unsafe { bus.rescan(client, Some(own_domid)) };
            // From here on the work item and the children wait the normal deadline.
            client.set_timeout_ms(xenstore::client::DEFAULT_TIMEOUT_MS);
            changed
        }
        None => false,
    };
    unlock_store(ext);
    // SAFETY: the registered name (empty if registration failed, then this fails harmlessly).
    let status = unsafe { IoSetDeviceInterfaceState(ext.interface_name.get(), TRUE) };
    if !NT_SUCCESS(status) {
        warn!("enabling the shutdown interface failed {:#010x}", status);
    }
    if changed {
        // SAFETY: the PDO we were added for.
        unsafe { IoInvalidateDeviceRelations(ext.pdo, BusRelations) };
    }
    // Watch events that arrived while the client was not yet published (a shutdown request
    // already waiting at boot) are handled now rather than at the next store event.
    queue_work(ext, false);
}

/// Stops work and interrupts (surprise removal, remove, a failed start), in this order
/// (issue 18, items 6 and 7): no new work item is queued and the one running finishes while
/// the ISR still wakes its xenstore waits; the xenstore client is taken away (later requests,
/// from the shutdown interface or a child, fail at once instead of waiting out a deadline);
/// every port is masked and Xen's callback cleared; only then is the ISR disconnected and
/// the DPCs flushed. The objects stay (children may still call their interface until they
/// are removed); idempotent.
fn quiesce_platform(ext: &DeviceExtension) {
    ext.work.lock().stopping = true;
    // SAFETY: the event lives in the extension; PASSIVE_LEVEL on the PnP path.
    unsafe {
        KeWaitForSingleObject(
            addr_of!(ext.work_idle).cast_mut().cast(),
            Executive,
            KernelMode,
            FALSE,
            null_mut(),
        )
    };
    // SAFETY: freed only by free_platform, on this PnP path.
    if let Some(running) = unsafe { ext.running.load(Ordering::Acquire).as_ref() } {
        lock_store(ext);
        // SAFETY: the mutex is held.
        let client = unsafe { running.platform().store_slot() }.take();
        unlock_store(ext);
        drop(client);
        let _ = running.platform().events().lock().mask_all();
        if let Err(e) = running
            .platform()
            .hv()
            .hvm_set_param(HVM_PARAM_CALLBACK_IRQ, 0)
        {
            warn!("clearing HVM_PARAM_CALLBACK_IRQ failed: {}", e);
        }
        acknowledge_stale_upcall(running.platform().shared_info());
    }
    disconnect_interrupt(ext);
    // SAFETY: the registered name; disabling an unregistered one fails harmlessly.
    unsafe { IoSetDeviceInterfaceState(ext.interface_name.get(), FALSE) };
    if let Some(irp) = take_waiting(ext) {
        // SAFETY: taken from the slot with its cancel routine cleared: ours to complete.
        unsafe { complete_information(irp, STATUS_DEVICE_REMOVED, 0) };
    }
    info!("platform quiesced");
}

/// Frees the platform (REMOVE, after the children are deleted; or a failed start).
fn free_platform(ext: &DeviceExtension) {
    // IOCTL and cleanup paths use the platform under the store mutex: unpublish it under the
    // mutex too, so none of them still holds it when it is freed below.
    lock_store(ext);
    let running = ext.running.swap(null_mut(), Ordering::AcqRel);
    unlock_store(ext);
    if running.is_null() {
        return;
    }
    // SAFETY: created by Box::into_raw in start_platform; unpublished above, quiesced before.
    let running = unsafe { Box::from_raw(running) };
    let Running {
        mapper,
        services,
        store_page,
        ..
    } = *running;
    // Grants still in use stay in Xen's table (the frames stay in the BAR): the next start's
    // table reads every entry, ends what is no longer mapped and defers the rest.
    let grants = services.retry_deferred_grants().and_then(|_| {
        services
            .platform()
            .with_grants(|g| (g.in_use(), g.deferred_count()))
    });
    if let Ok((in_use, deferred)) = grants {
        if in_use > 0 {
            warn!(
                "platform freed with {} grant references in use ({} still mapped by a backend)",
                in_use, deferred
            );
        }
    }
    drop(services);
    // SAFETY: the ring page was mapped by this mapper and is no longer used.
    unsafe { mapper.unmap_frames(store_page) };
    drop(mapper);
    info!("platform freed");
}

// ---- interrupt, DPC, work item ------------------------------------------------------------------

/// The ISR: ours if vCPU 0 has an upcall pending; acknowledges it and queues the DPC.
unsafe extern "system" fn isr(_interrupt: *mut KINTERRUPT, context: PVOID) -> BOOLEAN {
    // SAFETY: the context is our extension, alive while the interrupt is connected.
    let ext = unsafe { &*context.cast::<DeviceExtension>() };
    // SAFETY: freed only after the interrupt is disconnected.
    let Some(running) = (unsafe { ext.running.load(Ordering::Acquire).as_ref() }) else {
        return FALSE;
    };
    if !acknowledge_upcall(running.platform().shared_info()) {
        return FALSE;
    }
    // SAFETY: the DPC was initialised in AddDevice.
    unsafe { KeInsertQueueDpc(addr_of!(ext.dpc).cast_mut(), null_mut(), null_mut()) };
    TRUE
}

/// The DPC: dispatches pending event channels to their handlers (no lock held while they run).
unsafe extern "system" fn dpc_routine(
    _dpc: *mut KDPC,
    context: PVOID,
    _argument1: PVOID,
    _argument2: PVOID,
) {
    // SAFETY: the context is our extension (KeInitializeDpc in AddDevice).
    let ext = unsafe { &*context.cast::<DeviceExtension>() };
    // SAFETY: freed only after KeFlushQueuedDpcs.
    let Some(running) = (unsafe { ext.running.load(Ordering::Acquire).as_ref() }) else {
        return;
    };
    let shared_info = running.platform().shared_info();
    let more = running
        .services
        .dispatch_events(|ports| collect_pending(shared_info, ports).ok());
    if more {
        // Bounded per DPC; come back for the rest.
        // SAFETY: the DPC is initialised.
        unsafe { KeInsertQueueDpc(addr_of!(ext.dpc).cast_mut(), null_mut(), null_mut()) };
    }
}

/// The xenstore port's handler (DPC level): wake xenstore waiters and queue the work item.
extern "C" fn store_fired(context: usize, _port: u32) {
    // SAFETY: bound with our extension's address; unbound (platform down) before it goes.
    let ext = unsafe { &*(context as *const DeviceExtension) };
    // SAFETY: the event lives in the extension.
    unsafe { KeSetEvent(addr_of!(ext.store_event).cast_mut(), 0, FALSE) };
    queue_work(ext, true);
}

/// Queues the work item unless it is already queued (`at_dpc`: called at DISPATCH_LEVEL).
fn queue_work(ext: &DeviceExtension, at_dpc: bool) {
    let queue = {
        let mut work = if at_dpc {
            ext.work.lock_at_dpc_level()
        } else {
            ext.work.lock()
        };
        if work.queued || work.stopping {
            false
        } else {
            work.queued = true;
            work.pending += 1;
            if work.pending == 1 {
                // SAFETY: the event lives in the extension.
                unsafe { KeClearEvent(addr_of!(ext.work_idle).cast_mut()) };
            }
            true
        }
    };
    if queue {
        // SAFETY: the work item was allocated for our FDO; the extension outlives it
        // (teardown waits for `work_idle`).
        unsafe {
            IoQueueWorkItem(
                ext.work_item,
                Some(work_routine),
                DelayedWorkQueue,
                core::ptr::from_ref(ext).cast_mut().cast(),
            )
        };
    }
}

/// PASSIVE_LEVEL: drains xenstore watch events.
unsafe extern "system" fn work_routine(_device: *mut DEVICE_OBJECT, context: PVOID) {
    // SAFETY: queued with our extension, which outlives the item.
    let ext = unsafe { &*context.cast::<DeviceExtension>() };
    ext.work.lock().queued = false;
    // SAFETY: non-null until teardown, which waits for this routine first.
    if let Some(running) = unsafe { ext.running.load(Ordering::Acquire).as_ref() } {
        handle_watches(ext, running);
    }
    let mut work = ext.work.lock();
    work.pending = work.pending.saturating_sub(1);
    if work.pending == 0 {
        // SAFETY: the event lives in the extension.
        unsafe { KeSetEvent(addr_of!(ext.work_idle).cast_mut(), 0, FALSE) };
    }
}

/// Deadline of each xenstore request made on the PnP thread at START (the default, 10 s, is
/// for the work item and the children).
const START_REQUEST_TIMEOUT_MS: u64 = 2_000;

/// Most events of each of the bus's own watches handled per work item run (then it requeues).
const MAX_EVENTS_PER_WORK: usize = 64;
/// Most events per child watch delivered per run.
const MAX_CHILD_EVENTS_PER_WORK: usize = 16;

/// Takes the queued events of `token` (bounded); returns (any taken, bound reached).
fn drain_token(client: &mut Store, token: &str) -> (bool, bool) {
    let mut taken = 0;
    while taken < MAX_EVENTS_PER_WORK {
        if client.core().take_watch_event_for(token).is_none() {
            return (taken > 0, false);
        }
        taken += 1;
    }
    (true, true)
}

fn handle_watches(ext: &DeviceExtension, running: &Running) {
    let mut invalidate = false;
    let mut more = false;
    lock_store(ext);
    if let Some(client) = store_client(ext) {
        if let Err(e) = client.pump() {
            warn!("xenstore: {:?}", e);
        }
        // Only the bus's own tokens here; the children's are delivered below, unlocked.
        let (devices_changed, devices_more) = drain_token(client, DEVICE_WATCH_TOKEN);
        let (shutdown_changed, shutdown_more) = drain_token(client, SHUTDOWN_WATCH_TOKEN);
        more = devices_more || shutdown_more;
        let rescan = ext.rescan.swap(false, Ordering::AcqRel);
        if devices_changed || rescan {
            let own_domid = xenbus::handshake::read_own_domid(client).ok();
            // SAFETY: the mutex is held; PASSIVE_LEVEL.
            invalidate = unsafe { (*ext.bus.get()).rescan(client, own_domid) };
        }
        if shutdown_changed {
            // SAFETY: the mutex is held.
            let bridge = unsafe { &mut *ext.bridge.get() };
            match bridge.take(client) {
                Ok(None) => {}
                Ok(Some(request)) => {
                    info!(
                        "shutdown request '{}' acknowledged, passed to the shutdown service",
                        request.action.xenstore_name()
                    );
                    complete_waiting(ext, bridge);
                }
                Err(ShutdownError::Unsupported(request)) => info!(
                    "shutdown request '{}' not taken: no shutdown service declared it",
                    request
                ),
                Err(e) => warn!("{}", e),
            }
        }
    }
    unlock_store(ext);
    // The children's watches: callbacks run with no lock held (they may call back in).
    match running
        .services
        .dispatch_watch_events(MAX_CHILD_EVENTS_PER_WORK)
    {
        Ok(done) => more |= done.more,
        Err(e) => warn!("children's watch events: {:?}", e),
    }
    // Grants a child ended while the backend still mapped them: free those it let go of.
    match running.services.retry_deferred_grants() {
        Ok(summary) if summary.freed > 0 => trace!(
            "deferred grants: {} freed, {} still mapped",
            summary.freed,
            summary.deferred
        ),
        Ok(_) => {}
        Err(e) => warn!("retrying deferred grants: {:?}", e),
    }
    if invalidate {
        trace!("children changed: invalidating bus relations");
        // SAFETY: the PDO we were added for.
        unsafe { IoInvalidateDeviceRelations(ext.pdo, BusRelations) };
    }
    if more {
        // The per-run bound was reached: the rest in another run, not lost.
        queue_work(ext, false);
    }
}

// ---- power, WMI ---------------------------------------------------------------------------------

/// Power IRPs go to the PCI bus driver (the platform device has no device power states of its
/// own to manage; the children's power is handled on their PDOs), except a query for S4
/// while the PV platform is up, which fails ([`fdo::query_power`]; issue 18, item 4).
unsafe extern "system" fn dispatch_power(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: a device object of this driver.
    if unsafe { pdo::is_pdo(device) } {
        // SAFETY: a child PDO and an IRP we own.
        return unsafe { pdo::dispatch_power(device, irp) };
    }
    // SAFETY: the power manager calls us with our FDO and an IRP we own.
    let ext = unsafe { extension(device) };
    // SAFETY: required before Vista, harmless after; we own the IRP.
    unsafe { PoStartNextPowerIrp(irp) };
    let _guard = match ext.remove_lock.acquire() {
        Ok(guard) => guard,
        // SAFETY: we own the IRP.
        Err(status) => return unsafe { complete(irp, status) },
    };
    // SAFETY: we own the IRP.
    let stack = unsafe { &*IoGetCurrentIrpStackLocation(irp) };
    if stack.MinorFunction == IRP_MN_QUERY_POWER {
        // SAFETY: `Parameters.Power` is the active member of a power IRP.
        let power = unsafe { stack.Parameters.Power };
        // SAFETY: a 32-bit enum either way; only read as a system state when Type says so.
        let state = unsafe { power.State.SystemState };
        let pv_up = !ext.running.load(Ordering::Acquire).is_null()
            || UNPLUGGED.load(Ordering::Acquire) != 0;
        if let Some(reason) = fdo::query_power(power.Type, state, pv_up) {
            info!("{}", reason);
            // SAFETY: we own the IRP; a failed query is completed here, not passed down.
            return unsafe { complete(irp, STATUS_UNSUCCESSFUL) };
        }
    }
    // SAFETY: we own the IRP.
    unsafe { IoSkipCurrentIrpStackLocation(irp) };
    // SAFETY: the lower device and an IRP set up for it.
    unsafe { PoCallDriver(ext.lower, irp) }
}

/// IRP_MJ_SYSTEM_CONTROL (WMI): passed down.
unsafe extern "system" fn dispatch_forward(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: a device object of this driver.
    if unsafe { pdo::is_pdo(device) } {
        // SAFETY: a child PDO and an IRP we own.
        return unsafe { pdo::dispatch_other(device, irp) };
    }
    // SAFETY: the I/O manager calls us with our FDO.
    let ext = unsafe { extension(device) };
    let _guard = match ext.remove_lock.acquire() {
        Ok(guard) => guard,
        // SAFETY: we own the IRP.
        Err(status) => return unsafe { complete(irp, status) },
    };
    // SAFETY: our extension and an IRP we own.
    unsafe { skip_and_call(ext.lower, irp) }
}

// ---- the shutdownmon interface ------------------------------------------------------------------

/// `STATUS_DEVICE_BUSY`.
const STATUS_DEVICE_BUSY: NTSTATUS = 0x8000_0011_u32 as i32;
/// Longest IOCTL input copied (the messages are 16 bytes).
const MAX_IOCTL_INPUT: usize = 64;

/// Completes `irp` with `status` and `information` bytes.
///
/// # Safety
/// The caller owns `irp` and does not touch it afterwards.
unsafe fn complete_information(irp: *mut IRP, status: NTSTATUS, information: usize) -> NTSTATUS {
    // SAFETY: we own the IRP.
    unsafe { (*irp).IoStatus.Information = information };
    // SAFETY: as above.
    unsafe { complete(irp, status) }
}

type CancelRoutine = unsafe extern "system" fn(*mut DEVICE_OBJECT, *mut IRP);

/// `IoSetCancelRoutine`: atomically replaces `IRP.CancelRoutine`; returns whether one was set.
///
/// # Safety
/// `irp` is a live IRP owned (or pended) by the caller.
unsafe fn set_cancel_routine(irp: *mut IRP, routine: Option<CancelRoutine>) -> bool {
    // SAFETY: `PDRIVER_CANCEL` is a nullable function pointer with the size and alignment of a
    // `usize`; the field is only changed atomically, as the WDK macro does.
    let field =
        unsafe { &*addr_of_mut!((*irp).CancelRoutine).cast::<core::sync::atomic::AtomicUsize>() };
    let new = routine.map_or(0, |f| f as usize);
    field.swap(new, Ordering::SeqCst) != 0
}

/// Takes the pended WAIT IRP out of its slot, clearing its cancel routine; `None` if there is
/// none or its cancellation already started (the cancel routine completes it then).
fn take_waiting(ext: &DeviceExtension) -> Option<*mut IRP> {
    let mut irql: KIRQL = 0;
    // SAFETY: IRQL <= DISPATCH_LEVEL; released below.
    unsafe { IoAcquireCancelSpinLock(&mut irql) };
    // SAFETY: the slot is guarded by the cancel spin lock, held.
    let irp = unsafe { core::mem::replace(&mut *ext.waiting.get(), null_mut()) };
    // SAFETY: a pended IRP of ours, if any.
    let taken = (!irp.is_null() && unsafe { set_cancel_routine(irp, None) }).then_some(irp);
    // SAFETY: acquired above.
    unsafe { IoReleaseCancelSpinLock(irql) };
    taken
}

/// The METHOD_BUFFERED output view of `irp`.
///
/// # Safety
/// The caller owns `irp`, a DEVICE_CONTROL IRP; the view is used before it completes.
unsafe fn output_of<'a>(irp: *mut IRP) -> &'a mut [u8] {
    // SAFETY: caller guarantee; `DeviceIoControl` is the active member.
    let length = unsafe {
        (*IoGetCurrentIrpStackLocation(irp))
            .Parameters
            .DeviceIoControl
            .OutputBufferLength
    } as usize;
    // SAFETY: as above.
    let buffer = unsafe { (*irp).AssociatedIrp }.cast::<u8>();
    if buffer.is_null() || length == 0 {
        return &mut [];
    }
    // SAFETY: the I/O manager's system buffer is at least OutputBufferLength long.
    unsafe { core::slice::from_raw_parts_mut(buffer, length) }
}

/// Completes a pended WAIT with the bridge's request (called with `store_mutex` held, right
/// after a request was posted, so no post can slip between a check and a pend).
fn complete_waiting(ext: &DeviceExtension, bridge: &mut Bridge) {
    let Some(irp) = take_waiting(ext) else {
        return;
    };
    // SAFETY: the IRP is ours again.
    let output = unsafe { output_of(irp) };
    let (status, information) = match bridge.ioctl(IOCTL_XENPCI_SHUTDOWN_WAIT_REQUEST, &[], output)
    {
        IoctlOutcome::Complete {
            status,
            information,
        } => (status, information),
        _ => (STATUS_UNSUCCESSFUL, 0),
    };
    // SAFETY: ours to complete.
    unsafe { complete_information(irp, status, information) };
}

/// Cancel routine of the pended WAIT (called with the cancel spin lock held).
unsafe extern "system" fn cancel_wait(device: *mut DEVICE_OBJECT, irp: *mut IRP) {
    // SAFETY: our FDO (only its WAIT IRPs get this routine).
    let ext = unsafe { extension(device) };
    let slot = ext.waiting.get();
    // SAFETY: the slot is guarded by the cancel spin lock, which the I/O manager holds.
    if unsafe { *slot } == irp {
        // SAFETY: as above.
        unsafe { *slot = null_mut() };
    }
    // SAFETY: the I/O manager acquired it for us at this IRQL.
    unsafe { IoReleaseCancelSpinLock((*irp).CancelIrql) };
    // SAFETY: a cancelled IRP of ours, completed once here.
    unsafe { complete_information(irp, STATUS_CANCELLED, 0) };
}

/// Pends a WAIT (called with `store_mutex` held). One WAIT may be outstanding at a time.
///
/// # Safety
/// The caller owns `irp`.
unsafe fn pend_wait(ext: &DeviceExtension, irp: *mut IRP) -> NTSTATUS {
    let mut irql: KIRQL = 0;
    // SAFETY: PASSIVE_LEVEL; released on every path below.
    unsafe { IoAcquireCancelSpinLock(&mut irql) };
    // SAFETY: guarded by the cancel spin lock.
    let busy = unsafe { !(*ext.waiting.get()).is_null() };
    // SAFETY: we own the IRP.
    let cancelled = unsafe { (*irp).Cancel } != 0;
    if busy || cancelled {
        // SAFETY: acquired above.
        unsafe { IoReleaseCancelSpinLock(irql) };
        let status = if cancelled {
            STATUS_CANCELLED
        } else {
            STATUS_DEVICE_BUSY
        };
        // SAFETY: we own the IRP.
        return unsafe { complete_information(irp, status, 0) };
    }
    // SAFETY: we own the IRP; it becomes visible to others only through the slot below.
    unsafe { IoMarkIrpPending(irp) };
    // SAFETY: as above.
    unsafe { set_cancel_routine(irp, Some(cancel_wait)) };
    // SAFETY: guarded by the cancel spin lock.
    unsafe { *ext.waiting.get() = irp };
    // SAFETY: acquired above.
    unsafe { IoReleaseCancelSpinLock(irql) };
    STATUS_PENDING
}

/// IRP_MJ_CREATE / IRP_MJ_CLOSE on the FDO (the shutdown interface): succeed.
unsafe extern "system" fn dispatch_create_close(
    device: *mut DEVICE_OBJECT,
    irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: a device object of this driver.
    if unsafe { pdo::is_pdo(device) } {
        // SAFETY: a child PDO and an IRP we own.
        return unsafe { pdo::dispatch_other(device, irp) };
    }
    // SAFETY: we own the IRP.
    unsafe { complete_information(irp, STATUS_SUCCESS, 0) }
}

/// IRP_MJ_CLEANUP: a handle closed: its pended WAIT is cancelled, and if it was the service
/// that declared the shutdown features, they are withdrawn from xenstore.
unsafe extern "system" fn dispatch_cleanup(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: a device object of this driver.
    if unsafe { pdo::is_pdo(device) } {
        // SAFETY: a child PDO and an IRP we own.
        return unsafe { pdo::dispatch_other(device, irp) };
    }
    // SAFETY: our FDO.
    let ext = unsafe { extension(device) };
    // SAFETY: we own the IRP.
    let file = unsafe { (*IoGetCurrentIrpStackLocation(irp)).FileObject };
    lock_store(ext);
    if let Some(waiting) = take_waiting(ext) {
        // SAFETY: taken with its cancel routine cleared: ours.
        let owner = unsafe { (*IoGetCurrentIrpStackLocation(waiting)).FileObject };
        if owner == file {
            // SAFETY: as above.
            unsafe { complete_information(waiting, STATUS_CANCELLED, 0) };
        } else {
            // Another handle's WAIT: pend it again (the store mutex is held).
            // SAFETY: ours again.
            unsafe { pend_wait(ext, waiting) };
        }
    }
    let owner = ext.features_owner.get();
    // SAFETY: the mutex is held: the owner slot is ours.
    if unsafe { *owner } == file {
        // SAFETY: as above.
        unsafe { *owner = null_mut() };
        // SAFETY: as above: the bridge is ours.
        let bridge = unsafe { &mut *ext.bridge.get() };
        if let Some(client) = store_client(ext) {
            if let Err(e) = bridge.disconnect(client) {
                warn!("withdrawing the shutdown features failed: {:?}", e);
            }
        }
        info!("shutdown service disconnected");
    }
    unlock_store(ext);
    // SAFETY: we own the IRP.
    unsafe { complete_information(irp, STATUS_SUCCESS, 0) }
}

/// IRP_MJ_DEVICE_CONTROL: the shutdownmon IOCTLs (METHOD_BUFFERED).
unsafe extern "system" fn dispatch_device_control(
    device: *mut DEVICE_OBJECT,
    irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: a device object of this driver.
    if unsafe { pdo::is_pdo(device) } {
        // SAFETY: a child PDO and an IRP we own.
        return unsafe { pdo::dispatch_other(device, irp) };
    }
    // SAFETY: our FDO.
    let ext = unsafe { extension(device) };
    let _guard = match ext.remove_lock.acquire() {
        Ok(guard) => guard,
        // SAFETY: we own the IRP.
        Err(status) => return unsafe { complete(irp, status) },
    };
    // SAFETY: we own the IRP; `DeviceIoControl` is the active member.
    let (code, input_length, file) = unsafe {
        let stack = &*IoGetCurrentIrpStackLocation(irp);
        (
            stack.Parameters.DeviceIoControl.IoControlCode,
            stack.Parameters.DeviceIoControl.InputBufferLength as usize,
            stack.FileObject,
        )
    };
    // METHOD_BUFFERED: input and output share the system buffer; the input is copied first.
    let mut input = [0u8; MAX_IOCTL_INPUT];
    let input_length = input_length.min(MAX_IOCTL_INPUT);
    // SAFETY: we own the IRP.
    let buffer = unsafe { (*irp).AssociatedIrp }.cast::<u8>();
    if !buffer.is_null() && input_length > 0 {
        // SAFETY: the system buffer holds at least InputBufferLength bytes.
        let source = unsafe { core::slice::from_raw_parts(buffer, input_length) };
        if let Some(target) = input.get_mut(..input_length) {
            target.copy_from_slice(source);
        }
    }
    let input = input.get(..input_length).unwrap_or(&[]);
    // SAFETY: we own the IRP; the input copy above no longer borrows the buffer.
    let output = unsafe { output_of(irp) };
    lock_store(ext);
    // SAFETY: the mutex is held.
    let bridge = unsafe { &mut *ext.bridge.get() };
    let status = match bridge.ioctl(code, input, output) {
        IoctlOutcome::Complete {
            status,
            information,
        } => {
            // SAFETY: we own the IRP.
            unsafe { complete_information(irp, status, information) }
        }
        // SAFETY: we own the IRP; the mutex is held so no request is posted meanwhile.
        IoctlOutcome::Pend => unsafe { pend_wait(ext, irp) },
        IoctlOutcome::Advertise(wanted) => {
            let client = store_client(ext);
            let status = match client {
                Some(client) => match bridge.advertise(client, wanted) {
                    Ok(()) => {
                        // SAFETY: the mutex is held.
                        unsafe { *ext.features_owner.get() = file };
                        info!(
                            "shutdown service connected: poweroff {}, reboot {}, halt {}",
                            wanted.poweroff, wanted.reboot, wanted.halt
                        );
                        STATUS_SUCCESS
                    }
                    Err(e) => {
                        warn!("advertising the shutdown features failed: {:?}", e);
                        STATUS_UNSUCCESSFUL
                    }
                },
                None => STATUS_DEVICE_NOT_READY,
            };
            // SAFETY: we own the IRP.
            unsafe { complete_information(irp, status, 0) }
        }
    };
    unlock_store(ext);
    status
}
