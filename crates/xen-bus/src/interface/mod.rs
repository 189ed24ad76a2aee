//! The child interface: a versioned `#[repr(C)]` function table xenpci hands to its children
//! by IRP_MN_QUERY_INTERFACE ([`GUID_XEN_BUS_CHILD_INTERFACE`]), so xenvbd, xennet and xenstub
//! reach xenstore, grant tables and event channels through the bus instead of importing
//! functions from xenpci.sys.
//!
//! Versioning is checked on both sides:
//! - the child asks with `Size` = the size of the table it knows and `Version` = its version;
//!   the bus serves versions [`CHILD_INTERFACE_VERSION_MIN`]..=[`CHILD_INTERFACE_VERSION_MAX`]
//!   and refuses anything else, or a buffer smaller than the table of that version
//!   ([`provider_accept`]), with `STATUS_NOT_SUPPORTED` / `STATUS_INVALID_PARAMETER` and a log
//!   line;
//! - the child checks the answer ([`consumer_check`]): size, version and every function
//!   present; a mismatched pair fails the child's start with a clear log line, never a call
//!   through a missing or foreign pointer.
//!
//! A new version appends functions and bumps the version; the bus keeps serving the older
//! ones (a v1 table is a prefix of a v2 table).
//!
//! [`BusServices`] is what the bus offers; [`shared::PlatformServices`] implements it over
//! the platform objects given any OS's locks ([`shared::PlatformAccess`]); [`single`] is that
//! with `RefCell`s. [`ffi`] holds the thunks that serve a table from a [`ChildContext`] and the
//! child's safe wrapper ([`ffi::ChildInterface`]).

pub mod ffi;
mod gate;
pub mod shared;
pub mod single;

use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::fmt;

use xen_evtchn::EventHandler;
use xen_hal::{DomainId, EventChannelPort, GrantRef, Pfn};

use crate::binding::Guid;

/// `GUID_XEN_BUS_CHILD_INTERFACE` {2C9FA753-F9BF-431D-9AC2-72C70DC25E6D}.
pub const GUID_XEN_BUS_CHILD_INTERFACE: Guid = Guid {
    data1: 0x2c9f_a753,
    data2: 0xf9bf,
    data3: 0x431d,
    data4: [0x9a, 0xc2, 0x72, 0xc7, 0x0d, 0xc2, 0x5e, 0x6d],
};

/// Oldest version the bus serves.
pub const CHILD_INTERFACE_VERSION_MIN: u16 = 1;
/// Newest version the bus serves (and the one this crate's children ask for).
pub const CHILD_INTERFACE_VERSION_MAX: u16 = 1;

/// `NTSTATUS` as the table's functions return it.
pub type NtStatus = i32;

/// Status codes the table uses (values from ntstatus.h).
pub mod status {
    use super::NtStatus;
    /// `STATUS_SUCCESS`.
    pub const SUCCESS: NtStatus = 0;
    /// `STATUS_UNSUCCESSFUL`.
    pub const UNSUCCESSFUL: NtStatus = 0xC000_0001_u32 as i32;
    /// `STATUS_INVALID_PARAMETER`.
    pub const INVALID_PARAMETER: NtStatus = 0xC000_000D_u32 as i32;
    /// `STATUS_BUFFER_TOO_SMALL`.
    pub const BUFFER_TOO_SMALL: NtStatus = 0xC000_0023_u32 as i32;
    /// `STATUS_OBJECT_NAME_NOT_FOUND` (xenstore ENOENT).
    pub const OBJECT_NAME_NOT_FOUND: NtStatus = 0xC000_0034_u32 as i32;
    /// `STATUS_ACCESS_DENIED` (xenstore EACCES/EPERM).
    pub const ACCESS_DENIED: NtStatus = 0xC000_0022_u32 as i32;
    /// `STATUS_INSUFFICIENT_RESOURCES`.
    pub const INSUFFICIENT_RESOURCES: NtStatus = 0xC000_009A_u32 as i32;
    /// `STATUS_IO_TIMEOUT`.
    pub const IO_TIMEOUT: NtStatus = 0xC000_00B5_u32 as i32;
    /// `STATUS_NOT_SUPPORTED`.
    pub const NOT_SUPPORTED: NtStatus = 0xC000_00BB_u32 as i32;
    /// `STATUS_DEVICE_BUSY` (a grant the backend still maps).
    pub const DEVICE_BUSY: NtStatus = 0x8000_0011_u32 as i32;
    /// `STATUS_RETRY` (xenstore EAGAIN: the transaction conflicted; start it again).
    pub const RETRY: NtStatus = 0xC000_022D_u32 as i32;
}

/// A service failure, mapped to one NTSTATUS in [`ServiceError::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceError {
    /// No such node / port / reference.
    NotFound,
    /// Permission denied.
    Denied,
    /// Transaction conflict: start again.
    Retry,
    /// Timed out.
    Timeout,
    /// Out of memory, references or ports.
    NoResources,
    /// A bad argument (not UTF-8 path, unknown handle, ...).
    InvalidParameter,
    /// The backend still maps the granted page.
    Busy,
    /// Anything else (connection broken, hypervisor error).
    Failed,
}

impl ServiceError {
    /// The NTSTATUS the table returns.
    pub fn status(self) -> NtStatus {
        match self {
            ServiceError::NotFound => status::OBJECT_NAME_NOT_FOUND,
            ServiceError::Denied => status::ACCESS_DENIED,
            ServiceError::Retry => status::RETRY,
            ServiceError::Timeout => status::IO_TIMEOUT,
            ServiceError::NoResources => status::INSUFFICIENT_RESOURCES,
            ServiceError::InvalidParameter => status::INVALID_PARAMETER,
            ServiceError::Busy => status::DEVICE_BUSY,
            ServiceError::Failed => status::UNSUCCESSFUL,
        }
    }

    /// Back from an NTSTATUS (the child's side).
    pub fn from_status(s: NtStatus) -> ServiceError {
        match s {
            status::OBJECT_NAME_NOT_FOUND => ServiceError::NotFound,
            status::ACCESS_DENIED => ServiceError::Denied,
            status::RETRY => ServiceError::Retry,
            status::IO_TIMEOUT => ServiceError::Timeout,
            status::INSUFFICIENT_RESOURCES => ServiceError::NoResources,
            status::INVALID_PARAMETER => ServiceError::InvalidParameter,
            status::DEVICE_BUSY => ServiceError::Busy,
            _ => ServiceError::Failed,
        }
    }
}

impl From<xenstore::Error> for ServiceError {
    fn from(e: xenstore::Error) -> Self {
        use xenstore::{Error, XsErrno};
        match e {
            Error::Xs(XsErrno::ENOENT) => ServiceError::NotFound,
            Error::Xs(XsErrno::EACCES | XsErrno::EPERM) => ServiceError::Denied,
            Error::Xs(XsErrno::EAGAIN) => ServiceError::Retry,
            Error::Xs(XsErrno::EINVAL) => ServiceError::InvalidParameter,
            Error::Xs(XsErrno::ENOMEM | XsErrno::ENOSPC) | Error::Alloc => {
                ServiceError::NoResources
            }
            Error::Timeout => ServiceError::Timeout,
            _ => ServiceError::Failed,
        }
    }
}

impl From<xen_grant::GrantError> for ServiceError {
    fn from(e: xen_grant::GrantError) -> Self {
        use xen_grant::GrantError as G;
        match e {
            G::Exhausted | G::Alloc(_) => ServiceError::NoResources,
            G::StillInUse(_) => ServiceError::Busy,
            G::InvalidRef(_) | G::ReservedRef(_) | G::NotAllocated(_) | G::NotGranted(_) => {
                ServiceError::InvalidParameter
            }
            _ => ServiceError::Failed,
        }
    }
}

impl From<xen_evtchn::EvtchnError> for ServiceError {
    fn from(e: xen_evtchn::EvtchnError) -> Self {
        use xen_evtchn::EvtchnError as E;
        match e {
            E::Alloc(_) => ServiceError::NoResources,
            E::PortOutOfRange(_) | E::NotOpen(_) | E::NotBound(_) | E::AlreadyBound(_) => {
                ServiceError::InvalidParameter
            }
            _ => ServiceError::Failed,
        }
    }
}

/// A watch callback: called (at PASSIVE_LEVEL, from the bus's xenstore worker) with the
/// context given at registration and the watch handle, whenever something at or under the
/// watched path changes, and once soon after registration (xenstored fires every new watch).
/// Events that arrive together may be delivered as one call. The child re-reads what it needs.
/// Callbacks (of all the children's watches) run one at a time, never two at once; none runs
/// once [`BusServices::store_unwatch`] of its watch has returned.
pub type WatchCallback = extern "C" fn(context: usize, handle: u32);

/// What the bus offers its children, implemented over the platform objects (xenstore client,
/// grant table, event channels). Methods take `&self`: implementations lock inside.
pub trait BusServices {
    /// Reads a node (`tx` 0 = outside transactions).
    fn store_read(&self, tx: u32, path: &str) -> Result<Vec<u8>, ServiceError>;
    /// Writes a node.
    fn store_write(&self, tx: u32, path: &str, value: &[u8]) -> Result<(), ServiceError>;
    /// Starts a transaction.
    fn transaction_start(&self) -> Result<u32, ServiceError>;
    /// Ends a transaction (`Retry` when a commit conflicted).
    fn transaction_end(&self, tx: u32, commit: bool) -> Result<(), ServiceError>;
    /// Watches `path`; returns a handle. PASSIVE_LEVEL.
    fn store_watch(
        &self,
        path: &str,
        callback: WatchCallback,
        context: usize,
    ) -> Result<u32, ServiceError>;
    /// Removes a watch. PASSIVE_LEVEL. Does not return while the watch's callback is running
    /// in another context (it waits for that call to return), and the callback is not called
    /// once it has returned: the child may free the callback's context then. May be called
    /// from the watch's own callback (it does not wait for itself). The caller must not hold
    /// anything the running callback waits for.
    fn store_unwatch(&self, handle: u32) -> Result<(), ServiceError>;
    /// Grants `domid` access to frame `pfn`.
    fn grant_access(
        &self,
        domid: DomainId,
        pfn: Pfn,
        readonly: bool,
    ) -> Result<GrantRef, ServiceError>;
    /// Ends a grant. `Busy` if the backend still maps the page: access is not ended yet, the
    /// reference is no longer the child's (the bus keeps it on its deferred list and frees it
    /// once the backend unmaps it; do not end it again), and the page must stay allocated (the
    /// backend can still read or write it; a child that must go leaks it).
    fn grant_end(&self, reference: GrantRef) -> Result<(), ServiceError>;
    /// Opens an unbound port for `remote` and binds `handler` (called at DISPATCH_LEVEL from
    /// the bus's event DPC). IRQL <= DISPATCH_LEVEL. Handlers (of all ports) run one at a
    /// time: a port's handler never runs on two CPUs at once, nor alongside another port's.
    fn evtchn_bind(
        &self,
        remote: DomainId,
        handler: EventHandler,
        context: usize,
    ) -> Result<EventChannelPort, ServiceError>;
    /// Notifies the remote end. Any IRQL up to DISPATCH_LEVEL; no lock is taken.
    fn evtchn_notify(&self, port: EventChannelPort) -> Result<(), ServiceError>;
    /// Unbinds and closes a port. IRQL <= DISPATCH_LEVEL. Does not return while the port's
    /// handler is running on another CPU (it spins until that call returns; handlers are
    /// short), and the handler is not called once it has returned: the child may free the
    /// handler's context then. May be called from the port's own handler (it does not wait
    /// for itself) or another port's. The caller must not hold a lock the handler takes.
    fn evtchn_unbind(&self, port: EventChannelPort) -> Result<(), ServiceError>;
    /// Our domain id.
    fn own_domid(&self) -> DomainId;
}

impl<T: BusServices + ?Sized> BusServices for &T {
    fn store_read(&self, tx: u32, path: &str) -> Result<Vec<u8>, ServiceError> {
        (**self).store_read(tx, path)
    }
    fn store_write(&self, tx: u32, path: &str, value: &[u8]) -> Result<(), ServiceError> {
        (**self).store_write(tx, path, value)
    }
    fn transaction_start(&self) -> Result<u32, ServiceError> {
        (**self).transaction_start()
    }
    fn transaction_end(&self, tx: u32, commit: bool) -> Result<(), ServiceError> {
        (**self).transaction_end(tx, commit)
    }
    fn store_watch(&self, path: &str, cb: WatchCallback, ctx: usize) -> Result<u32, ServiceError> {
        (**self).store_watch(path, cb, ctx)
    }
    fn store_unwatch(&self, handle: u32) -> Result<(), ServiceError> {
        (**self).store_unwatch(handle)
    }
    fn grant_access(&self, d: DomainId, pfn: Pfn, ro: bool) -> Result<GrantRef, ServiceError> {
        (**self).grant_access(d, pfn, ro)
    }
    fn grant_end(&self, reference: GrantRef) -> Result<(), ServiceError> {
        (**self).grant_end(reference)
    }
    fn evtchn_bind(
        &self,
        remote: DomainId,
        handler: EventHandler,
        context: usize,
    ) -> Result<EventChannelPort, ServiceError> {
        (**self).evtchn_bind(remote, handler, context)
    }
    fn evtchn_notify(&self, port: EventChannelPort) -> Result<(), ServiceError> {
        (**self).evtchn_notify(port)
    }
    fn evtchn_unbind(&self, port: EventChannelPort) -> Result<(), ServiceError> {
        (**self).evtchn_unbind(port)
    }
    fn own_domid(&self) -> DomainId {
        (**self).own_domid()
    }
}

/// `InterfaceReference` / `InterfaceDereference`.
pub type ReferenceFn = unsafe extern "C" fn(context: *mut c_void);
/// `store_read(context, tx, path, path_len, buffer, buffer_len, value_len)`: copies the value
/// into `buffer`; `BUFFER_TOO_SMALL` with `*value_len` = the size needed if it does not fit.
pub type StoreReadFn = unsafe extern "C" fn(
    *mut c_void,
    u32,
    *const u8,
    usize,
    *mut u8,
    usize,
    *mut usize,
) -> NtStatus;
/// `store_write(context, tx, path, path_len, value, value_len)`.
pub type StoreWriteFn =
    unsafe extern "C" fn(*mut c_void, u32, *const u8, usize, *const u8, usize) -> NtStatus;
/// `transaction_start(context, tx_out)`.
pub type TransactionStartFn = unsafe extern "C" fn(*mut c_void, *mut u32) -> NtStatus;
/// `transaction_end(context, tx, commit)`: `RETRY` if the commit conflicted.
pub type TransactionEndFn = unsafe extern "C" fn(*mut c_void, u32, u8) -> NtStatus;
/// `store_watch(context, path, path_len, callback, callback_context, handle_out)`.
pub type StoreWatchFn = unsafe extern "C" fn(
    *mut c_void,
    *const u8,
    usize,
    Option<WatchCallback>,
    usize,
    *mut u32,
) -> NtStatus;
/// `store_unwatch(context, handle)`: returns once the watch's callback is not running and will
/// not run again (see [`BusServices::store_unwatch`]).
pub type StoreUnwatchFn = unsafe extern "C" fn(*mut c_void, u32) -> NtStatus;
/// `grant_access(context, domid, pfn, readonly, ref_out)`.
pub type GrantAccessFn = unsafe extern "C" fn(*mut c_void, u16, u64, u8, *mut u32) -> NtStatus;
/// `grant_end(context, ref)`: `DEVICE_BUSY` when the backend still maps the page (the reference
/// is then the bus's; see [`BusServices::grant_end`]).
pub type GrantEndFn = unsafe extern "C" fn(*mut c_void, u32) -> NtStatus;
/// `evtchn_bind(context, remote_domid, handler, handler_context, port_out)`: the handler runs
/// at DISPATCH_LEVEL.
pub type EvtchnBindFn =
    unsafe extern "C" fn(*mut c_void, u16, Option<EventHandler>, usize, *mut u32) -> NtStatus;
/// `evtchn_notify(context, port)` / `evtchn_unbind(context, port)`.
pub type EvtchnPortFn = unsafe extern "C" fn(*mut c_void, u32) -> NtStatus;
/// `own_path` / `backend_path(context, buffer, buffer_len, len_out)`: the child's xenstore
/// directory (relative: `device/vbd/768`) and its backend's (absolute), without NUL.
pub type PathFn = unsafe extern "C" fn(*mut c_void, *mut u8, usize, *mut usize) -> NtStatus;
/// `backend_domid` / `own_domid(context)`.
pub type DomidFn = unsafe extern "C" fn(*mut c_void) -> u16;

/// Version 1 of the child interface. Starts with the WDK's `INTERFACE` header (`Size`,
/// `Version`, `Context`, `InterfaceReference`, `InterfaceDereference`), so it travels in
/// IRP_MN_QUERY_INTERFACE as any bus interface does. Every pointer is an `Option` so a table
/// the bus did not fill reads as `None`, never as a dangling function.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenBusChildInterfaceV1 {
    /// `INTERFACE.Size`: bytes of the table.
    pub size: u16,
    /// `INTERFACE.Version`.
    pub version: u16,
    /// `INTERFACE.Context`: the bus's per-child context.
    pub context: *mut c_void,
    /// `INTERFACE.InterfaceReference`.
    pub interface_reference: Option<ReferenceFn>,
    /// `INTERFACE.InterfaceDereference`.
    pub interface_dereference: Option<ReferenceFn>,
    /// Read a node.
    pub store_read: Option<StoreReadFn>,
    /// Write a node.
    pub store_write: Option<StoreWriteFn>,
    /// Start a transaction.
    pub transaction_start: Option<TransactionStartFn>,
    /// End a transaction.
    pub transaction_end: Option<TransactionEndFn>,
    /// Add a watch.
    pub store_watch: Option<StoreWatchFn>,
    /// Remove a watch.
    pub store_unwatch: Option<StoreUnwatchFn>,
    /// Grant a page.
    pub grant_access: Option<GrantAccessFn>,
    /// End a grant.
    pub grant_end: Option<GrantEndFn>,
    /// Open and bind an event channel.
    pub evtchn_bind: Option<EvtchnBindFn>,
    /// Notify through an event channel.
    pub evtchn_notify: Option<EvtchnPortFn>,
    /// Unbind and close an event channel.
    pub evtchn_unbind: Option<EvtchnPortFn>,
    /// The child's own xenstore directory.
    pub own_path: Option<PathFn>,
    /// The backend's xenstore directory.
    pub backend_path: Option<PathFn>,
    /// The backend's domain.
    pub backend_domid: Option<DomidFn>,
    /// Our domain.
    pub own_domid: Option<DomidFn>,
}

/// Size of the version-1 table: the 24-byte `INTERFACE` header (2 + 2 + pad 4 + 3 pointers)
/// is 32 bytes on x64, plus 15 function pointers.
pub const CHILD_INTERFACE_V1_SIZE: usize = 32 + 15 * 8;
const _: () = assert!(core::mem::size_of::<XenBusChildInterfaceV1>() == CHILD_INTERFACE_V1_SIZE);
const _: () = assert!(core::mem::offset_of!(XenBusChildInterfaceV1, context) == 8);
const _: () = assert!(core::mem::offset_of!(XenBusChildInterfaceV1, store_read) == 32);

impl XenBusChildInterfaceV1 {
    /// The table a child passes down: its size and version set, nothing else.
    pub fn request() -> Self {
        XenBusChildInterfaceV1 {
            size: CHILD_INTERFACE_V1_SIZE as u16,
            version: 1,
            context: core::ptr::null_mut(),
            interface_reference: None,
            interface_dereference: None,
            store_read: None,
            store_write: None,
            transaction_start: None,
            transaction_end: None,
            store_watch: None,
            store_unwatch: None,
            grant_access: None,
            grant_end: None,
            evtchn_bind: None,
            evtchn_notify: None,
            evtchn_unbind: None,
            own_path: None,
            backend_path: None,
            backend_domid: None,
            own_domid: None,
        }
    }

    /// The name of the first function the table lacks, if any.
    pub fn missing_function(&self) -> Option<&'static str> {
        let present: [(&'static str, bool); 17] = [
            ("InterfaceReference", self.interface_reference.is_some()),
            ("InterfaceDereference", self.interface_dereference.is_some()),
            ("store_read", self.store_read.is_some()),
            ("store_write", self.store_write.is_some()),
            ("transaction_start", self.transaction_start.is_some()),
            ("transaction_end", self.transaction_end.is_some()),
            ("store_watch", self.store_watch.is_some()),
            ("store_unwatch", self.store_unwatch.is_some()),
            ("grant_access", self.grant_access.is_some()),
            ("grant_end", self.grant_end.is_some()),
            ("evtchn_bind", self.evtchn_bind.is_some()),
            ("evtchn_notify", self.evtchn_notify.is_some()),
            ("evtchn_unbind", self.evtchn_unbind.is_some()),
            ("own_path", self.own_path.is_some()),
            ("backend_path", self.backend_path.is_some()),
            ("backend_domid", self.backend_domid.is_some()),
            ("own_domid", self.own_domid.is_some()),
        ];
        present.iter().find(|(_, p)| !p).map(|(name, _)| *name)
    }
}

/// Why an interface request or answer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterfaceError {
    /// The child asked for a version older than the bus serves.
    TooOld {
        /// Asked for.
        requested: u16,
        /// Oldest served.
        oldest: u16,
    },
    /// The child asked for a version newer than the bus serves.
    TooNew {
        /// Asked for.
        requested: u16,
        /// Newest served.
        newest: u16,
    },
    /// The size does not fit the version's table.
    SizeMismatch {
        /// The size given.
        size: u16,
        /// The size the version needs.
        needed: u16,
    },
    /// The bus answered another version than the child asked for.
    VersionMismatch {
        /// Asked for.
        requested: u16,
        /// Answered.
        answered: u16,
    },
    /// The answered table lacks a function.
    MissingFunction(&'static str),
}

impl InterfaceError {
    /// The NTSTATUS the bus completes the IRP with.
    pub fn status(&self) -> NtStatus {
        match self {
            InterfaceError::SizeMismatch { .. } => status::INVALID_PARAMETER,
            _ => status::NOT_SUPPORTED,
        }
    }
}

impl fmt::Display for InterfaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceError::TooOld { requested, oldest } => write!(
                f,
                "child interface version {requested} is older than this xenpci serves \
                 (oldest {oldest}): update the child driver"
            ),
            InterfaceError::TooNew { requested, newest } => write!(
                f,
                "child interface version {requested} is newer than this xenpci serves \
                 (newest {newest}): update xenpci"
            ),
            InterfaceError::SizeMismatch { size, needed } => write!(
                f,
                "child interface size {size} does not match the {needed} bytes of its version"
            ),
            InterfaceError::VersionMismatch {
                requested,
                answered,
            } => write!(
                f,
                "xenpci answered child interface version {answered} to a request for \
                 {requested}: drivers from different releases"
            ),
            InterfaceError::MissingFunction(name) => {
                write!(
                    f,
                    "xenpci's child interface lacks {name}: drivers from different releases"
                )
            }
        }
    }
}

/// The table size of `version` (`None` for versions this crate does not know).
pub fn table_size(version: u16) -> Option<u16> {
    match version {
        1 => Some(CHILD_INTERFACE_V1_SIZE as u16),
        _ => None,
    }
}

/// The bus's check of a request (`INTERFACE.Size`, `INTERFACE.Version` from the IRP's
/// `QueryInterface` parameters): the version to fill in, or why not.
pub fn provider_accept(size: u16, version: u16) -> Result<u16, InterfaceError> {
    if version < CHILD_INTERFACE_VERSION_MIN {
        return Err(InterfaceError::TooOld {
            requested: version,
            oldest: CHILD_INTERFACE_VERSION_MIN,
        });
    }
    if version > CHILD_INTERFACE_VERSION_MAX {
        return Err(InterfaceError::TooNew {
            requested: version,
            newest: CHILD_INTERFACE_VERSION_MAX,
        });
    }
    let needed = table_size(version).ok_or(InterfaceError::TooNew {
        requested: version,
        newest: CHILD_INTERFACE_VERSION_MAX,
    })?;
    if size < needed {
        return Err(InterfaceError::SizeMismatch { size, needed });
    }
    Ok(version)
}

/// The child's check of the answer to its request for `requested`.
pub fn consumer_check(
    table: &XenBusChildInterfaceV1,
    requested: u16,
) -> Result<(), InterfaceError> {
    if table.version != requested {
        return Err(InterfaceError::VersionMismatch {
            requested,
            answered: table.version,
        });
    }
    let needed = table_size(requested).ok_or(InterfaceError::TooNew {
        requested,
        newest: CHILD_INTERFACE_VERSION_MAX,
    })?;
    if table.size != needed {
        return Err(InterfaceError::SizeMismatch {
            size: table.size,
            needed,
        });
    }
    if let Some(name) = table.missing_function() {
        return Err(InterfaceError::MissingFunction(name));
    }
    Ok(())
}

/// The bus's per-child state behind a table's `Context`: the services, the child's paths and
/// the count of references the child holds.
pub struct ChildContext<S: BusServices> {
    /// The services the table reaches.
    pub services: S,
    /// `device/<type>/<id>`.
    pub own_path: String,
    /// The backend directory (absolute).
    pub backend_path: String,
    /// The backend's domain.
    pub backend_domid: DomainId,
    references: core::sync::atomic::AtomicU32,
}

impl<S: BusServices> ChildContext<S> {
    /// A context for a child.
    pub fn new(
        services: S,
        own_path: String,
        backend_path: String,
        backend_domid: DomainId,
    ) -> Self {
        ChildContext {
            services,
            own_path,
            backend_path,
            backend_domid,
            references: core::sync::atomic::AtomicU32::new(0),
        }
    }

    /// References the children hold (InterfaceReference minus InterfaceDereference). The PDO
    /// must not free the context while this is not 0.
    pub fn references(&self) -> u32 {
        self.references.load(core::sync::atomic::Ordering::Acquire)
    }

    fn reference(&self) {
        self.references
            .fetch_add(1, core::sync::atomic::Ordering::AcqRel);
    }

    fn dereference(&self) {
        // Saturating: an unbalanced dereference from a buggy child must not wrap.
        let _ = self.references.fetch_update(
            core::sync::atomic::Ordering::AcqRel,
            core::sync::atomic::Ordering::Acquire,
            |n| n.checked_sub(1),
        );
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod thread_tests;
