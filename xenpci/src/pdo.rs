//! xenpci's child PDOs (Windows glue): creation and removal from xenstore scans, the
//! BusRelations answer, and the PnP and power IRPs that target a child. Every decision comes
//! from `xen-bus` ([`xen_bus::pdo`], [`xen_bus::hotplug`], [`xen_bus::capabilities`],
//! [`xen_bus::binding`], [`xen_bus::interface`]); this module only moves data in and out of
//! IRPs.
//!
//! Binding model (decided, see [`xen_bus::binding`]): physical miniports on the children, as
//! the XCP-ng drivers do. A vbd PDO is started by xenvbd as a *physical* StorPort miniport
//! (one adapter per disk, target 0 LUN 0): it answers IRP_MN_QUERY_RESOURCE_REQUIREMENTS with
//! one memory page and one level interrupt (anywhere), `GUID_BUS_INTERFACE_STANDARD` with
//! the parent PCI device's DMA adapter and no config space, IRP_MN_QUERY_BUS_INFORMATION with
//! `GUID_BUS_TYPE_INTERNAL` / `Internal`. A vif PDO is started by xennet as an NDIS 6 miniport
//! (`NdisInterfacePNPBus`) and needs no resources. Every child gets the versioned child
//! interface (xenstore, grants, event channels) by IRP_MN_QUERY_INTERFACE.
//!
//! Use by the FDO (all calls at PASSIVE_LEVEL, serialised by the FDO: its PnP dispatch and its
//! xenstore worker must not call into one [`Bus`] at the same time):
//! - [`Bus::new`] when the FDO is added; [`Bus::set_platform`] once the platform is up (before
//!   that no child is created);
//! - [`Bus::rescan`] at start and whenever the `device` watch fires; if it returns `true`, call
//!   `IoInvalidateDeviceRelations(<platform PDO>, BusRelations)`;
//! - [`Bus::query_bus_relations`] for IRP_MN_QUERY_DEVICE_RELATIONS / BusRelations, then pass
//!   the IRP down;
//! - [`is_pdo`] in every dispatch routine: IRPs for a child go to [`dispatch_pnp`] /
//!   [`dispatch_power`] / [`dispatch_other`] instead of the FDO's code;
//! - [`Bus::delete_all`] on the FDO's IRP_MN_REMOVE_DEVICE;
//! - [`Bus::child_deleted`] from the [`RemovalHook`] and [`Bus::take_rescan`] after a
//!   BusRelations answer: a child that came back while its old PDO waited for REMOVE gets its
//!   PDO then ([`xenpci::instances`]: never two PDOs with one instance ID).
//!
//! A vbd PDO sends IRP_MN_DEVICE_USAGE_NOTIFICATION on to the platform device's stack and
//! keeps its own count ([`xenpci::usage`]): `DO_POWER_PAGABLE` follows the paging count, and
//! QUERY_REMOVE / QUERY_STOP fail while a paging, hibernation or dump file is on it. Each PDO
//! holds its own reference on the parent's `BUS_INTERFACE_STANDARD` (dropped when it is
//! deleted); the bus drops the query's reference at the FDO's REMOVE.
// The WDK's enum constants (`BusQueryDeviceID`, ...) are matched by their WDK names.
#![allow(non_upper_case_globals)]

use alloc::string::String;
use alloc::vec::Vec;
use core::mem::size_of;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use nt_kernel::irp::*;
use nt_kernel::ntdef::*;
use nt_kernel::pnp_bus::*;
use nt_kernel::pool::POOL_TAG;
use nt_kernel::wdm::*;
use nt_kernel::{error, info, warn};
use xen_bus::binding::{
    interface_answer, resource_requirements, Guid, InterfaceAnswer, PlatformResources,
    BUS_INFORMATION,
};
use xen_bus::capabilities::capabilities;
use xen_bus::child::Child;
use xen_bus::hotplug::{ChildSet, HotplugAction};
use xen_bus::interface::{provider_accept, BusServices, ChildContext, XenBusChildInterfaceV1};
use xen_bus::pdo::{on_pnp, on_power, PdoAction, PdoContext, PdoState, PowerAction, Query};
use xen_hal::DomainId;
use xen_pv_ids::ChildClass;
use xenbus::{read_backend, DeviceRef, Store};
use xenpci::instances::{Admission, Instances};
use xenpci::usage::{SpecialFiles, UsageType};

/// First `u32` of every child PDO's device extension. The FDO's extension must not start with
/// this value ([`is_pdo`] tells the two apart by it).
pub const PDO_EXTENSION_MAGIC: u32 = u32::from_le_bytes(*b"XPDO");

/// The services the children's interface tables reach (the FDO's platform objects).
pub type Services = &'static dyn BusServices;

/// How a PDO deleted at PnP's IRP_MN_REMOVE_DEVICE tells its bus (the FDO takes its own
/// locks and calls [`Bus::child_deleted`]).
#[derive(Clone, Copy)]
pub struct RemovalHook {
    /// The FDO's context.
    pub context: usize,
    /// Called at PASSIVE_LEVEL, no lock held, before the PDO is deleted.
    pub deleted: fn(usize, &DeviceRef),
}

/// A child PDO's device extension.
#[repr(C)]
struct PdoExtension {
    magic: u32,
    state: AtomicU8,
    before_query: AtomicU8,
    /// Left out of a BusRelations answer: delete on IRP_MN_REMOVE_DEVICE.
    reported_missing: AtomicBool,
    /// `DEVICE_POWER_STATE` last set.
    power: AtomicU32,
    device: *mut DEVICE_OBJECT,
    child: Child,
    /// `None` when the platform has no services (then QUERY_INTERFACE for the child interface
    /// fails and the child driver does not start, with a log line).
    interface: Option<ChildContext<Services>>,
    /// The parent PCI device's bus interface (DMA adapter), if it gave one; this PDO holds a
    /// reference on it (taken at creation, dropped at deletion).
    parent_bus: Option<BUS_INTERFACE_STANDARD>,
    /// The platform PCI device's PDO: IRP_MN_DEVICE_USAGE_NOTIFICATION goes to its stack.
    parent: *mut DEVICE_OBJECT,
    /// Paging, hibernation and dump files on this child ([`SpecialFiles`] packed; changed
    /// only on this PDO's PnP path).
    special_files: AtomicU64,
    /// Told when PnP removes this PDO for good.
    removal: RemovalHook,
}

/// Whether `device` is one of our child PDOs.
///
/// # Safety
/// `device` is a device object of this driver (the FDO or a PDO) with an extension of at
/// least 4 bytes.
pub unsafe fn is_pdo(device: *mut DEVICE_OBJECT) -> bool {
    if device.is_null() {
        return false;
    }
    // SAFETY: caller guarantee: a live device object of ours.
    let extension = unsafe { (*device).DeviceExtension };
    if extension.is_null() {
        return false;
    }
    // SAFETY: every extension of ours has at least 4 readable bytes (caller guarantee).
    let magic = unsafe { extension.cast::<u32>().read() };
    magic == PDO_EXTENSION_MAGIC
}

/// # Safety
/// `device` is a live child PDO (checked with [`is_pdo`]).
unsafe fn extension<'a>(device: *mut DEVICE_OBJECT) -> &'a PdoExtension {
    // SAFETY: caller guarantee: a live PDO of ours.
    let ext = unsafe { (*device).DeviceExtension }.cast::<PdoExtension>();
    // SAFETY: `create_pdo` initialised the extension; it lives as long as the PDO.
    unsafe { &*ext }
}

struct Entry {
    device: DeviceRef,
    pdo: *mut DEVICE_OBJECT,
    /// Included in a BusRelations answer at least once.
    reported: bool,
    /// No longer listed or backend gone: to be left out of the next answer.
    missing: bool,
}

/// The bus: the children known from xenstore and their PDOs.
pub struct Bus {
    driver: *mut DRIVER_OBJECT,
    /// The platform PCI device's PDO (the FDO's stack).
    parent: *mut DEVICE_OBJECT,
    removal: RemovalHook,
    children: ChildSet,
    entries: Vec<Entry>,
    /// Every PDO not yet deleted, by instance (one at a time per instance ID).
    instances: Instances<DeviceRef>,
    platform: Option<(PlatformResources, Option<Services>)>,
    /// The parent's bus interface; the bus holds the reference the query returned.
    parent_bus: Option<BUS_INTERFACE_STANDARD>,
    /// A deletion here let a deferred child in: the FDO rescans ([`Bus::take_rescan`]).
    rescan: bool,
}

impl Bus {
    /// An empty bus for `driver` on the platform device `parent`.
    pub fn new(
        driver: *mut DRIVER_OBJECT,
        parent: *mut DEVICE_OBJECT,
        removal: RemovalHook,
    ) -> Bus {
        Bus {
            driver,
            parent,
            removal,
            children: ChildSet::new(),
            entries: Vec::new(),
            instances: Instances::new(),
            platform: None,
            parent_bus: None,
            rescan: false,
        }
    }

    /// Whether a deferred child may now get its PDO (then the FDO rescans); clears the flag.
    pub fn take_rescan(&mut self) -> bool {
        core::mem::take(&mut self.rescan)
    }

    /// A PDO PnP removed was deleted (from [`RemovalHook`]); returns whether a child with its
    /// instance ID waits, so the caller rescans.
    ///
    /// # Safety
    /// Serialised with every other call on this bus.
    pub unsafe fn child_deleted(&mut self, device: &DeviceRef) -> bool {
        self.instances.deleted(device)
    }

    /// The platform is up: its raw resources (logged; the children's requirements do not point
    /// into them), the services behind the child interface, and the parent PCI device's bus
    /// interface
    /// (from [`query_parent_bus_interface`]; `None` if it gave none).
    ///
    /// # Safety
    /// `services` stays valid until [`Bus::delete_all`] has run (it is `'static` only to the
    /// type system: the FDO keeps the platform alive while children exist).
    pub unsafe fn set_platform(
        &mut self,
        resources: PlatformResources,
        services: Option<Services>,
        parent_bus: Option<BUS_INTERFACE_STANDARD>,
    ) {
        info!(
            "bus: platform BAR {:#x}+{:#x}, interrupt {}; child interface {}",
            resources.memory_start,
            resources.memory_length,
            resources.interrupt_vector,
            if services.is_some() {
                "served"
            } else {
                "not served (no services)"
            }
        );
        self.platform = Some((resources, services));
        release_interface(self.parent_bus.take());
        self.parent_bus = parent_bus;
    }

    /// Scans xenstore and creates PDOs for new children, marks gone ones missing. Returns
    /// whether BusRelations changed (then the FDO invalidates them). A scan that fails
    /// (xenstore error) changes nothing and is retried on the next watch event.
    ///
    /// # Safety
    /// PASSIVE_LEVEL, serialised with every other call on this bus.
    pub unsafe fn rescan<S: Store + ?Sized>(
        &mut self,
        store: &mut S,
        own_domid: Option<DomainId>,
    ) -> bool {
        let Some((_, services)) = self.platform else {
            return false;
        };
        let actions = match self.children.scan(store, "device", own_domid) {
            Ok(a) => a,
            Err(e) => {
                warn!("child scan failed: {}", e);
                return false;
            }
        };
        let mut changed = false;
        for action in actions {
            match action {
                HotplugAction::Added(child) => {
                    if self.instances.admit(&child.device) == Admission::Defer {
                        // The old PDO of this instance still waits for PnP's REMOVE: a second
                        // one with the same instance ID would be a duplicate (bug check 0xCA).
                        info!(
                            "child {} back before its old PDO was removed: deferred",
                            child.device
                        );
                        self.children.forget(&child.device);
                        continue;
                    }
                    if self.instances.reserve().is_err() {
                        self.children.forget(&child.device);
                        continue;
                    }
                    let backend = match read_backend(store, &child.device, own_domid) {
                        Ok(b) => b,
                        Err(e) => {
                            warn!("{}: backend unreadable ({:?}), no PDO", child.device, e);
                            // Looked at again on the next scan.
                            self.children.forget(&child.device);
                            continue;
                        }
                    };
                    if self.entries.try_reserve(1).is_err() {
                        self.children.forget(&child.device);
                        continue;
                    }
                    // SAFETY: PASSIVE_LEVEL (caller); our driver object.
                    let pdo = unsafe {
                        create_pdo(
                            self.driver,
                            &child,
                            backend.path,
                            backend.id,
                            services,
                            self.parent_bus,
                            self.parent,
                            self.removal,
                        )
                    };
                    if pdo.is_null() {
                        self.children.forget(&child.device);
                        continue;
                    }
                    self.instances.created(child.device.clone());
                    info!(
                        "child {} added ({})",
                        child.device,
                        child.class.hardware_id()
                    );
                    self.entries.push(Entry {
                        device: child.device,
                        pdo,
                        reported: false,
                        missing: false,
                    });
                    changed = true;
                }
                HotplugAction::Removed(child) | HotplugAction::SurpriseRemoved(child, _) => {
                    info!("child {} gone", child.device);
                    if let Some(e) = self.entries.iter_mut().find(|e| e.device == child.device) {
                        e.missing = true;
                        changed = true;
                    }
                }
            }
        }
        changed
    }

    /// Answers IRP_MN_QUERY_DEVICE_RELATIONS / BusRelations: the present children are added to
    /// whatever list an upper driver already put in `IoStatus.Information`; the missing ones
    /// are left out (and deleted at once if PnP never saw them). Sets the IRP's status and
    /// returns it; the FDO then passes the IRP down.
    ///
    /// # Safety
    /// PASSIVE_LEVEL, the FDO owns `irp`, serialised with every other call on this bus.
    pub unsafe fn query_bus_relations(&mut self, irp: *mut IRP) -> NTSTATUS {
        // Left out from now on: PnP removes (and our REMOVE_DEVICE deletes) the reported ones.
        let mut kept = Vec::new();
        if kept.try_reserve(self.entries.len()).is_err() {
            return STATUS_INSUFFICIENT_RESOURCES;
        }
        for entry in self.entries.drain(..) {
            if !entry.missing {
                kept.push(entry);
            } else if entry.reported {
                // SAFETY: the PDO lives until PnP's REMOVE_DEVICE, which comes after this IRP.
                unsafe { extension(entry.pdo) }
                    .reported_missing
                    .store(true, Ordering::Release);
            } else {
                self.rescan |= self.instances.deleted(&entry.device);
                // SAFETY: PnP never saw this PDO; nobody else holds it.
                unsafe { delete_pdo(entry.pdo) };
            }
        }
        self.entries = kept;

        // SAFETY: the FDO owns the IRP.
        let existing = unsafe { (*irp).IoStatus.Information } as *mut DEVICE_RELATIONS;
        let previous = if existing.is_null() {
            0
        } else {
            // SAFETY: a DEVICE_RELATIONS from an upper driver.
            unsafe { (*existing).Count as usize }
        };
        let count = previous + self.entries.len();
        let bytes = size_of::<DEVICE_RELATIONS>() + count.saturating_sub(1) * size_of::<usize>();
        // SAFETY: plain allocation; PnP frees the list with ExFreePool.
        let list =
            unsafe { ExAllocatePoolWithTag(PagedPool, bytes, POOL_TAG) }.cast::<DEVICE_RELATIONS>();
        if list.is_null() {
            error!("BusRelations: out of memory");
            return STATUS_INSUFFICIENT_RESOURCES;
        }
        // SAFETY: `list` has room for `count` objects (allocated above).
        let objects =
            unsafe { core::ptr::addr_of_mut!((*list).Objects) }.cast::<*mut DEVICE_OBJECT>();
        for i in 0..previous {
            let from = existing
                .cast::<u8>()
                .wrapping_add(size_of::<usize>())
                .cast::<*mut DEVICE_OBJECT>()
                .wrapping_add(i);
            // SAFETY: `existing` holds `previous` objects after its 8-byte `Count` slot.
            let object = unsafe { from.read() };
            // SAFETY: `objects` has room for `count` > i entries.
            unsafe { objects.wrapping_add(i).write(object) };
        }
        for (i, entry) in self.entries.iter_mut().enumerate() {
            // SAFETY: a live PDO; PnP drops this reference.
            unsafe { ObfReferenceObject(entry.pdo.cast()) };
            // SAFETY: index below `count`, inside the allocation.
            unsafe { objects.wrapping_add(previous + i).write(entry.pdo) };
            entry.reported = true;
        }
        // SAFETY: `list` is ours.
        unsafe { (*list).Count = count as ULONG };
        if !existing.is_null() {
            // SAFETY: the old list was pool memory handed to us; replaced by ours.
            unsafe { ExFreePoolWithTag(existing.cast(), 0) };
        }
        // SAFETY: the FDO owns the IRP.
        unsafe { (*irp).IoStatus.Information = list as usize };
        // SAFETY: as above.
        unsafe { (*irp).IoStatus.Status = STATUS_SUCCESS };
        STATUS_SUCCESS
    }

    /// The FDO is being removed: every remaining PDO is deleted (PnP has removed the children
    /// already; the ones it never saw are ours alone).
    ///
    /// # Safety
    /// PASSIVE_LEVEL, from the FDO's IRP_MN_REMOVE_DEVICE.
    pub unsafe fn delete_all(&mut self) {
        for entry in self.entries.drain(..) {
            self.instances.deleted(&entry.device);
            // SAFETY: PnP removed the children before the parent; the PDO is unused.
            unsafe { delete_pdo(entry.pdo) };
        }
        // The bus's own reference on the parent's interface (issue 18, item 9).
        release_interface(self.parent_bus.take());
    }
}

/// Drops one reference on a bus interface (`InterfaceDereference`), if there is one.
fn release_interface(interface: Option<BUS_INTERFACE_STANDARD>) {
    if let Some(dereference) = interface.and_then(|i| i.InterfaceDereference) {
        if let Some(i) = interface {
            // SAFETY: the interface's own routine with its own context, for a reference this
            // holder took (the query's, or InterfaceReference at PDO creation).
            unsafe { dereference(i.Context) };
        }
    }
}

/// Creates a child PDO; null on failure (logged).
///
/// # Safety
/// PASSIVE_LEVEL; `driver` is our driver object.
unsafe fn create_pdo(
    driver: *mut DRIVER_OBJECT,
    child: &Child,
    backend_path: String,
    backend_domid: DomainId,
    services: Option<Services>,
    parent_bus: Option<BUS_INTERFACE_STANDARD>,
    parent: *mut DEVICE_OBJECT,
    removal: RemovalHook,
) -> *mut DEVICE_OBJECT {
    let own_path = match child.device.dir() {
        Ok(p) => p,
        Err(_) => return null_mut(),
    };
    let mut pdo: *mut DEVICE_OBJECT = null_mut();
    // SAFETY: our driver object; `pdo` receives the device. PDOs need a name: autogenerated.
    let status = unsafe {
        IoCreateDevice(
            driver,
            size_of::<PdoExtension>() as ULONG,
            null_mut(),
            FILE_DEVICE_BUS_EXTENDER,
            FILE_AUTOGENERATED_DEVICE_NAME | FILE_DEVICE_SECURE_OPEN,
            FALSE,
            &mut pdo,
        )
    };
    if !NT_SUCCESS(status) || pdo.is_null() {
        error!("{}: IoCreateDevice failed {:#010x}", child.device, status);
        return null_mut();
    }
    let interface = services.map(|s| ChildContext::new(s, own_path, backend_path, backend_domid));
    // SAFETY: a new device object with an extension of our size, not visible to PnP yet.
    let ext = unsafe { (*pdo).DeviceExtension }.cast::<PdoExtension>();
    // SAFETY: IoCreateDevice allocated a suitably aligned extension of the requested size.
    unsafe {
        ext.write(PdoExtension {
            magic: PDO_EXTENSION_MAGIC,
            state: AtomicU8::new(PdoState::NotStarted as u8),
            before_query: AtomicU8::new(PdoState::NotStarted as u8),
            reported_missing: AtomicBool::new(false),
            power: AtomicU32::new(PowerDeviceD3),
            device: pdo,
            child: child.clone(),
            interface,
            parent_bus,
            parent,
            special_files: AtomicU64::new(0),
            removal,
        })
    };
    // The PDO's own reference on the parent's interface, dropped in delete_pdo.
    if let Some(bus) = parent_bus {
        if let Some(reference) = bus.InterfaceReference {
            // SAFETY: the parent's routine with its own context.
            unsafe { reference(bus.Context) };
        }
    }
    // SAFETY: our new device object.
    let flags = unsafe { &mut (*pdo).Flags };
    *flags |= DO_POWER_PAGABLE;
    *flags &= !DO_DEVICE_INITIALIZING;
    pdo
}

/// Drops a PDO's extension and deletes it.
///
/// # Safety
/// `pdo` is a live child PDO nobody uses any more.
unsafe fn delete_pdo(pdo: *mut DEVICE_OBJECT) {
    // SAFETY: caller guarantee; the extension was initialised by `create_pdo`.
    let ext = unsafe { (*pdo).DeviceExtension }.cast::<PdoExtension>();
    // SAFETY: as above; it is dropped once, and its magic cleared so a stale pointer is not
    // taken for a PDO.
    let references = unsafe { (*ext).interface.as_ref().map(|c| c.references()) };
    if let Some(n) = references.filter(|&n| n != 0) {
        warn!(
            "deleting a child PDO whose driver still holds {} interface references",
            n
        );
    }
    // SAFETY: as above (read before the extension is dropped).
    let parent_bus = unsafe { (*ext).parent_bus };
    release_interface(parent_bus);
    // SAFETY: as above.
    unsafe { core::ptr::drop_in_place(ext) };
    // SAFETY: as above.
    unsafe { ext.cast::<u32>().write(0) };
    // SAFETY: our device object, unused (caller guarantee).
    unsafe { IoDeleteDevice(pdo) };
}

/// Completes `irp` with the status it already has.
///
/// # Safety
/// As [`nt_kernel::irp::complete`].
unsafe fn complete_unchanged(irp: *mut IRP) -> NTSTATUS {
    // SAFETY: we own the IRP.
    let status = unsafe { (*irp).IoStatus.Status };
    // SAFETY: completing an IRP we own, once.
    unsafe { IoCompleteRequest(irp, IO_NO_INCREMENT) };
    status
}

/// Copies `units` into paged pool (PnP frees it); null on failure.
fn pool_copy_u16(units: &[u16]) -> *mut u16 {
    let bytes = units.len() * 2;
    // SAFETY: plain allocation.
    let p = unsafe { ExAllocatePoolWithTag(PagedPool, bytes, POOL_TAG) }.cast::<u16>();
    if !p.is_null() {
        // SAFETY: `p` has room for `units.len()` u16s, fresh memory, no overlap.
        unsafe { core::ptr::copy_nonoverlapping(units.as_ptr(), p, units.len()) };
    }
    p
}

fn share(exclusive: bool) -> UCHAR {
    if exclusive {
        CmResourceShareDeviceExclusive
    } else {
        CmResourceShareShared
    }
}

fn utf16_sz(s: &str) -> Option<Vec<u16>> {
    xen_bus::wide::sz(s).ok()
}

fn to_guid(g: &GUID) -> Guid {
    Guid {
        data1: g.Data1,
        data2: g.Data2,
        data3: g.Data3,
        data4: g.Data4,
    }
}

unsafe extern "system" fn bus_data_none(
    _context: PVOID,
    _data_type: ULONG,
    _buffer: PVOID,
    _offset: ULONG,
    _length: ULONG,
) -> ULONG {
    // No config space behind a xenbus child.
    0
}

/// Sends a PnP IRP set up by `setup` to the top of the stack `device` is in, waits for it,
/// and returns its final status (STATUS_INSUFFICIENT_RESOURCES if no IRP could be made).
///
/// # Safety
/// PASSIVE_LEVEL; `device` is a live device object; whatever `setup` points the IRP at lives
/// until this returns.
unsafe fn call_stack(
    device: *mut DEVICE_OBJECT,
    setup: impl FnOnce(&mut IO_STACK_LOCATION),
) -> NTSTATUS {
    // SAFETY: a valid device; returns a referenced top-of-stack device.
    let target = unsafe { IoGetAttachedDeviceReference(device) };
    if target.is_null() {
        return STATUS_NO_SUCH_DEVICE;
    }
    // SAFETY: PASSIVE_LEVEL (caller); `target` is live and referenced; `setup`'s pointers live
    // until this returns (caller).
    let status = unsafe { nt_kernel::irp::send_pnp_and_wait(target, setup) }
        .map_or(STATUS_INSUFFICIENT_RESOURCES, |result| result.Status);
    // SAFETY: drops the reference IoGetAttachedDeviceReference took.
    unsafe { ObfDereferenceObject(target.cast()) };
    status
}

/// Sends IRP_MN_QUERY_INTERFACE for `GUID_BUS_INTERFACE_STANDARD` to the top of the parent's
/// stack (below the FDO) and returns the answer: the children's `GetDmaAdapter` is the parent
/// PCI device's. The caller holds the one reference the answer carries (dropped by
/// [`Bus::delete_all`] once handed to [`Bus::set_platform`]).
///
/// # Safety
/// PASSIVE_LEVEL; `lower` is the device the FDO is attached to.
pub unsafe fn query_parent_bus_interface(
    lower: *mut DEVICE_OBJECT,
) -> Option<BUS_INTERFACE_STANDARD> {
    let mut interface = core::mem::MaybeUninit::<BUS_INTERFACE_STANDARD>::zeroed();
    let interface_ptr = interface.as_mut_ptr();
    // SAFETY: PASSIVE_LEVEL (caller); the GUID is static, the interface buffer lives here.
    let status = unsafe {
        call_stack(lower, |next| {
            next.MinorFunction = IRP_MN_QUERY_INTERFACE;
            next.Parameters.QueryInterface = IO_STACK_LOCATION_QueryInterface {
                InterfaceType: &GUID_BUS_INTERFACE_STANDARD,
                Size: size_of::<BUS_INTERFACE_STANDARD>() as USHORT,
                Version: 1,
                Interface: interface_ptr.cast(),
                InterfaceSpecificData: null_mut(),
            };
        })
    };
    if NT_SUCCESS(status) {
        // SAFETY: the parent filled the interface.
        Some(unsafe { interface.assume_init() })
    } else {
        warn!(
            "parent gave no bus interface ({:#010x}): children get no DMA adapter",
            status
        );
        None
    }
}

/// IRP_MN_DEVICE_USAGE_NOTIFICATION on a vbd PDO (issue 18, item 8): sent on to the platform
/// device's stack (our FDO counts it there and refuses QUERY_REMOVE while it holds), counted
/// here ([`xenpci::usage`]), `DO_POWER_PAGABLE` changed per the rule. Returns the status to
/// complete the child's IRP with.
///
/// # Safety
/// PASSIVE_LEVEL; `device` is the PDO of `ext`, on its PnP path.
unsafe fn usage_notification(
    ext: &PdoExtension,
    device: *mut DEVICE_OBJECT,
    kind: u32,
    in_path: bool,
) -> NTSTATUS {
    let mut files = SpecialFiles::unpack(ext.special_files.load(Ordering::Acquire));
    // SAFETY: our PDO.
    let inrush = unsafe { (*device).Flags } & DO_POWER_INRUSH != 0;
    let (notice, change) = files.before(UsageType::from_code(kind), in_path, inrush);
    // SAFETY: our PDO, on its PnP path.
    unsafe { crate::driver::set_pagable(device, change) };
    // SAFETY: PASSIVE_LEVEL; the parent PDO outlives its children.
    let status = unsafe {
        call_stack(ext.parent, |next| {
            next.MinorFunction = IRP_MN_DEVICE_USAGE_NOTIFICATION;
            next.Parameters.UsageNotification = IO_STACK_LOCATION_UsageNotification {
                InPath: BOOLEAN::from(in_path),
                Reserved: [0; 3],
                _Pad0: 0,
                Type: kind,
            };
        })
    };
    let (change, succeeded) = files.after(notice, NT_SUCCESS(status));
    // SAFETY: as above.
    unsafe { crate::driver::set_pagable(device, change) };
    ext.special_files.store(files.pack(), Ordering::Release);
    info!(
        "{}: usage notification type {} in path {}: parent {:#010x}, now {:?}",
        ext.child.device, kind, in_path, status, files
    );
    if succeeded {
        STATUS_SUCCESS
    } else {
        status
    }
}

/// IRP_MJ_PNP for a child PDO.
///
/// # Safety
/// `device` is one of our PDOs ([`is_pdo`]); the caller owns `irp`.
pub unsafe fn dispatch_pnp(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: caller guarantee.
    let ext = unsafe { extension(device) };
    // SAFETY: an IRP we own.
    let stack = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: its current stack location, valid while we own the IRP.
    let stack = unsafe { &*stack };
    let minor = stack.MinorFunction;
    let state = PdoState::from_u8(ext.state.load(Ordering::Acquire));
    let ctx = PdoContext {
        state,
        before_query: PdoState::from_u8(ext.before_query.load(Ordering::Acquire)),
        reported_missing: ext.reported_missing.load(Ordering::Acquire),
        class: ext.child.class,
    };
    let files = SpecialFiles::unpack(ext.special_files.load(Ordering::Acquire));
    if minor == IRP_MN_DEVICE_USAGE_NOTIFICATION && ext.child.class == ChildClass::Vbd {
        // SAFETY: the member for IRP_MN_DEVICE_USAGE_NOTIFICATION.
        let notice = unsafe { stack.Parameters.UsageNotification };
        // SAFETY: PASSIVE_LEVEL (PnP); our PDO and an IRP we own.
        let status = unsafe { usage_notification(ext, device, notice.Type, notice.InPath != 0) };
        // SAFETY: we own the IRP.
        return unsafe { complete(irp, status) };
    }
    if matches!(minor, IRP_MN_QUERY_REMOVE_DEVICE | IRP_MN_QUERY_STOP_DEVICE) && !files.may_remove()
    {
        info!(
            "{}: removal refused: paging, hibernation or dump file on it ({:?})",
            ext.child.device, files
        );
        // SAFETY: we own the IRP.
        return unsafe { complete(irp, STATUS_UNSUCCESSFUL) };
    }
    // Each arm reads the `Parameters` member of its minor function.
    let argument = match minor {
        // SAFETY: the member for IRP_MN_QUERY_ID.
        IRP_MN_QUERY_ID => unsafe { stack.Parameters.QueryId.IdType },
        // SAFETY: the member for IRP_MN_QUERY_DEVICE_TEXT.
        IRP_MN_QUERY_DEVICE_TEXT => unsafe { stack.Parameters.QueryDeviceText.DeviceTextType },
        // SAFETY: the member for IRP_MN_QUERY_DEVICE_RELATIONS.
        IRP_MN_QUERY_DEVICE_RELATIONS => unsafe { stack.Parameters.QueryDeviceRelations.Type },
        _ => 0,
    };
    match on_pnp(&ctx, minor, argument) {
        PdoAction::Succeed { next } => {
            if matches!(next, PdoState::StopPending | PdoState::RemovePending) && state != next {
                ext.before_query.store(state as u8, Ordering::Release);
            }
            ext.state.store(next as u8, Ordering::Release);
            // SAFETY: we own the IRP.
            unsafe { complete(irp, STATUS_SUCCESS) }
        }
        PdoAction::Fail(status) => {
            // SAFETY: we own the IRP.
            unsafe { complete(irp, status) }
        }
        PdoAction::LeaveStatus => {
            // SAFETY: we own the IRP.
            unsafe { complete_unchanged(irp) }
        }
        PdoAction::Delete => {
            info!("{}: removed", ext.child.device);
            ext.state.store(PdoState::Deleted as u8, Ordering::Release);
            // SAFETY: we own the IRP; completed before the device goes away.
            let status = unsafe { complete(irp, STATUS_SUCCESS) };
            // The bus may now create a PDO with this instance ID again.
            (ext.removal.deleted)(ext.removal.context, &ext.child.device);
            // SAFETY: PnP's last IRP to this PDO; the bus forgot it when it reported it missing.
            unsafe { delete_pdo(device) };
            status
        }
        PdoAction::Answer(query) => {
            // SAFETY: caller guarantees; `answer` fills the IRP and returns the status.
            let status = unsafe { answer(ext, stack, irp, query) };
            match status {
                Some(status) => {
                    // SAFETY: we own the IRP.
                    unsafe { complete(irp, status) }
                }
                // SAFETY: we own the IRP.
                None => unsafe { complete_unchanged(irp) },
            }
        }
    }
}

/// Fills the answer to `query`; `None` = leave the status as it is.
///
/// # Safety
/// `stack` is the current location of `irp`, which the caller owns.
unsafe fn answer(
    ext: &PdoExtension,
    stack: &IO_STACK_LOCATION,
    irp: *mut IRP,
    query: Query,
) -> Option<NTSTATUS> {
    let set_information = |value: usize| {
        // SAFETY: we own the IRP (caller guarantee).
        unsafe { (*irp).IoStatus.Information = value };
    };
    match query {
        Query::Id(kind) => {
            let child = &ext.child;
            let units = match kind {
                BusQueryDeviceID => utf16_sz(child.device_id()),
                BusQueryHardwareIDs => child.hardware_ids_utf16().ok(),
                BusQueryCompatibleIDs => child.compatible_ids_utf16().ok(),
                BusQueryInstanceID => child.instance_id().ok().and_then(|s| utf16_sz(&s)),
                _ => return None,
            };
            let Some(units) = units else {
                return Some(STATUS_INSUFFICIENT_RESOURCES);
            };
            let p = pool_copy_u16(&units);
            if p.is_null() {
                return Some(STATUS_INSUFFICIENT_RESOURCES);
            }
            set_information(p as usize);
            Some(STATUS_SUCCESS)
        }
        Query::Text(kind) => {
            let text = match kind {
                DeviceTextDescription => ext.child.description(),
                DeviceTextLocationInformation => ext.child.location(),
                _ => return None,
            };
            let Some(units) = text.ok().and_then(|s| utf16_sz(&s)) else {
                return Some(STATUS_INSUFFICIENT_RESOURCES);
            };
            let p = pool_copy_u16(&units);
            if p.is_null() {
                return Some(STATUS_INSUFFICIENT_RESOURCES);
            }
            set_information(p as usize);
            Some(STATUS_SUCCESS)
        }
        Query::Capabilities => {
            // SAFETY: the member for IRP_MN_QUERY_CAPABILITIES.
            let caps = unsafe { stack.Parameters.DeviceCapabilities.Capabilities };
            if caps.is_null() {
                return Some(STATUS_INVALID_PARAMETER);
            }
            // SAFETY: PnP's DEVICE_CAPABILITIES for this IRP.
            let caps = unsafe { &mut *caps };
            if caps.Version != 1 || usize::from(caps.Size) < size_of::<DEVICE_CAPABILITIES>() {
                return Some(STATUS_UNSUCCESSFUL);
            }
            let c = capabilities(&ext.child);
            use capability_bits::*;
            let mut flags = caps.Flags
                & !(DeviceD1
                    | DeviceD2
                    | LockSupported
                    | EjectSupported
                    | Removable
                    | UniqueID
                    | SilentInstall
                    | RawDeviceOK
                    | SurpriseRemovalOK);
            for (on, bit) in [
                (c.device_d1_d2, DeviceD1 | DeviceD2),
                (c.lock_supported, LockSupported),
                (c.eject_supported, EjectSupported),
                (c.removable, Removable),
                (c.unique_id, UniqueID),
                (c.silent_install, SilentInstall),
                (c.raw_device_ok, RawDeviceOK),
                (c.surprise_removal_ok, SurpriseRemovalOK),
            ] {
                if on {
                    flags |= bit;
                }
            }
            caps.Flags = flags;
            caps.Address = c.address;
            caps.UINumber = c.ui_number;
            caps.DeviceState = c.device_state;
            caps.SystemWake = c.wake.0;
            caps.DeviceWake = c.wake.1;
            Some(STATUS_SUCCESS)
        }
        Query::ResourceRequirements => {
            let req = resource_requirements(ext.child.class);
            if req.is_empty() {
                return None;
            }
            let count = usize::from(req.memory.is_some()) + usize::from(req.interrupt.is_some());
            let bytes = size_of::<IO_RESOURCE_REQUIREMENTS_LIST>()
                + (count - 1) * size_of::<IO_RESOURCE_DESCRIPTOR>();
            // SAFETY: plain allocation; PnP frees it.
            let list = unsafe { ExAllocatePoolWithTag(PagedPool, bytes, POOL_TAG) }
                .cast::<IO_RESOURCE_REQUIREMENTS_LIST>();
            if list.is_null() {
                return Some(STATUS_INSUFFICIENT_RESOURCES);
            }
            // SAFETY: `list` has `bytes` writable bytes; zero them first.
            unsafe { core::ptr::write_bytes(list.cast::<u8>(), 0, bytes) };
            // SAFETY: our fresh allocation.
            let l = unsafe { &mut *list };
            l.ListSize = bytes as ULONG;
            l.InterfaceType = Internal;
            l.AlternativeLists = 1;
            l.List[0].Version = 1;
            l.List[0].Revision = 1;
            l.List[0].Count = count as ULONG;
            // The descriptors array has `count` entries inside the allocation.
            let descriptors =
                core::ptr::addr_of_mut!(l.List[0].Descriptors).cast::<IO_RESOURCE_DESCRIPTOR>();
            let mut index = 0;
            if let Some(m) = req.memory {
                let mut d = IO_RESOURCE_DESCRIPTOR::zeroed();
                d.Type = CmResourceTypeMemory;
                d.ShareDisposition = share(m.exclusive);
                d.Flags = CM_RESOURCE_MEMORY_READ_WRITE;
                d.set_memory(m.length, m.alignment, m.minimum, m.maximum);
                // SAFETY: index < count.
                unsafe { descriptors.wrapping_add(index).write(d) };
                index += 1;
            }
            if let Some(i) = req.interrupt {
                let mut d = IO_RESOURCE_DESCRIPTOR::zeroed();
                d.Type = CmResourceTypeInterrupt;
                d.ShareDisposition = share(i.exclusive);
                d.Flags = if i.level_triggered {
                    CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE
                } else {
                    CM_RESOURCE_INTERRUPT_LATCHED
                };
                d.set_interrupt(i.minimum_vector, i.maximum_vector);
                // SAFETY: index < count.
                unsafe { descriptors.wrapping_add(index).write(d) };
            }
            set_information(list as usize);
            Some(STATUS_SUCCESS)
        }
        // No boot configuration: PnP assigns from the requirements.
        Query::Resources => None,
        Query::BusInformation => {
            // SAFETY: plain allocation; PnP frees it.
            let info = unsafe {
                ExAllocatePoolWithTag(PagedPool, size_of::<PNP_BUS_INFORMATION>(), POOL_TAG)
            }
            .cast::<PNP_BUS_INFORMATION>();
            if info.is_null() {
                return Some(STATUS_INSUFFICIENT_RESOURCES);
            }
            let g = BUS_INFORMATION.bus_type;
            // SAFETY: our fresh allocation of the right size.
            unsafe {
                info.write(PNP_BUS_INFORMATION {
                    BusTypeGuid: GUID {
                        Data1: g.data1,
                        Data2: g.data2,
                        Data3: g.data3,
                        Data4: g.data4,
                    },
                    LegacyBusType: BUS_INFORMATION.legacy_bus_type as INTERFACE_TYPE,
                    BusNumber: BUS_INFORMATION.bus_number,
                })
            };
            set_information(info as usize);
            Some(STATUS_SUCCESS)
        }
        Query::TargetRelation => {
            // SAFETY: plain allocation; PnP frees it.
            let list = unsafe {
                ExAllocatePoolWithTag(PagedPool, size_of::<DEVICE_RELATIONS>(), POOL_TAG)
            }
            .cast::<DEVICE_RELATIONS>();
            if list.is_null() {
                return Some(STATUS_INSUFFICIENT_RESOURCES);
            }
            // SAFETY: a live PDO; PnP drops this reference.
            unsafe { ObfReferenceObject(ext.device.cast()) };
            // SAFETY: our fresh allocation.
            unsafe {
                list.write(DEVICE_RELATIONS {
                    Count: 1,
                    Objects: [ext.device],
                })
            };
            set_information(list as usize);
            Some(STATUS_SUCCESS)
        }
        Query::Interface => {
            // SAFETY: we own the IRP (caller guarantee).
            let current = unsafe { (*irp).IoStatus.Status };
            if current != STATUS_NOT_SUPPORTED {
                // A driver above already answered (or failed) it: leave its answer.
                return None;
            }
            // SAFETY: the member for IRP_MN_QUERY_INTERFACE.
            let q = unsafe { stack.Parameters.QueryInterface };
            if q.InterfaceType.is_null() || q.Interface.is_null() {
                return None;
            }
            // SAFETY: PnP's GUID for this IRP.
            let guid = to_guid(unsafe { &*q.InterfaceType });
            match interface_answer(&guid) {
                InterfaceAnswer::NotOurs => None,
                InterfaceAnswer::ChildInterface => {
                    let Some(context) = ext.interface.as_ref() else {
                        error!(
                            "{}: child interface requested but the Xen platform is not up",
                            ext.child.device
                        );
                        return Some(STATUS_NOT_SUPPORTED);
                    };
                    match provider_accept(q.Size, q.Version) {
                        Ok(_) => {
                            // SAFETY: `provider_accept` checked that the caller's buffer holds
                            // at least a version-1 table.
                            let table =
                                unsafe { &mut *q.Interface.cast::<XenBusChildInterfaceV1>() };
                            context.fill(table);
                            Some(STATUS_SUCCESS)
                        }
                        Err(e) => {
                            error!("{}: {}", ext.child.device, e);
                            Some(e.status())
                        }
                    }
                }
                InterfaceAnswer::BusInterfaceStandard => {
                    let parent = ext.parent_bus?;
                    if usize::from(q.Size) < size_of::<BUS_INTERFACE_STANDARD>() || q.Version != 1 {
                        return Some(STATUS_INVALID_PARAMETER);
                    }
                    let mut ours = parent;
                    ours.Size = size_of::<BUS_INTERFACE_STANDARD>() as USHORT;
                    ours.SetBusData = bus_data_none as PVOID;
                    ours.GetBusData = bus_data_none as PVOID;
                    if let Some(reference) = parent.InterfaceReference {
                        // SAFETY: the parent's interface, with its own context.
                        unsafe { reference(parent.Context) };
                    }
                    // SAFETY: the caller's buffer holds a BUS_INTERFACE_STANDARD (size checked).
                    unsafe { q.Interface.cast::<BUS_INTERFACE_STANDARD>().write(ours) };
                    Some(STATUS_SUCCESS)
                }
            }
        }
    }
}

/// IRP_MJ_POWER for a child PDO.
///
/// # Safety
/// `device` is one of our PDOs ([`is_pdo`]); the caller owns `irp`.
pub unsafe fn dispatch_power(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: caller guarantee.
    let ext = unsafe { extension(device) };
    // SAFETY: an IRP we own.
    let stack = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: its current stack location, valid while we own the IRP.
    let stack = unsafe { &*stack };
    let state = PdoState::from_u8(ext.state.load(Ordering::Acquire));
    // SAFETY: still required before Vista; harmless after.
    unsafe { PoStartNextPowerIrp(irp) };
    match on_power(state, stack.MinorFunction) {
        PowerAction::Succeed => {
            // SAFETY: the member for power IRPs.
            let power = unsafe { stack.Parameters.Power };
            if stack.MinorFunction == IRP_MN_SET_POWER && power.Type == DevicePowerState {
                // SAFETY: a 32-bit enum either way.
                let d = unsafe { power.State.DeviceState };
                ext.power.store(d, Ordering::Release);
                // SAFETY: our PDO, at the IRQL the power IRP came at.
                unsafe { PoSetPowerState(device, DevicePowerState, power.State) };
            }
            // SAFETY: we own the IRP.
            unsafe { complete(irp, STATUS_SUCCESS) }
        }
        // SAFETY: we own the IRP.
        PowerAction::Fail(status) => unsafe { complete(irp, status) },
        // SAFETY: we own the IRP.
        PowerAction::LeaveStatus => unsafe { complete_unchanged(irp) },
    }
}

/// Any other major function sent to a child PDO (WMI, create, ...): completed unchanged.
///
/// # Safety
/// As [`dispatch_pnp`].
pub unsafe fn dispatch_other(_device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: we own the IRP.
    unsafe { complete_unchanged(irp) }
}
