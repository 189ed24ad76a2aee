//! The C side of the child interface: the bus's thunks that serve a table from a
//! [`ChildContext`], and the child's safe wrapper that calls through a checked table.
//!
//! The only module of the crate with `unsafe`: a function table crossing a driver boundary
//! carries a context pointer and buffers as raw pointers, and turning them back into
//! references cannot be done in safe Rust. Each thunk checks every pointer for null and every
//! length against a bound before making a reference, and never unwinds (it returns an
//! NTSTATUS for every failure).
#![allow(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;

use xen_evtchn::EventHandler;
use xen_hal::{DomainId, EventChannelPort, GrantRef, Pfn};

use super::{
    consumer_check, status, BusServices, ChildContext, InterfaceError, NtStatus, ServiceError,
    WatchCallback, XenBusChildInterfaceV1, CHILD_INTERFACE_V1_SIZE,
};

/// Longest path a child may pass (xenstore's absolute path limit is 3072).
pub const MAX_PATH_LEN: usize = 3072;
/// Longest value a child may write (one xenstore payload).
pub const MAX_VALUE_LEN: usize = 4096;

/// # Safety
/// `context` is null or the pointer [`ChildContext::fill`] stored, and that context is alive.
unsafe fn context_ref<'a, S: BusServices>(context: *mut c_void) -> Option<&'a ChildContext<S>> {
    let context = context.cast::<ChildContext<S>>().cast_const();
    // SAFETY: the caller guarantees the pointer is null or a live ChildContext<S>; `as_ref`
    // returns None for null.
    unsafe { context.as_ref() }
}

/// # Safety
/// `ptr` is null or valid for reads of `len` bytes for `'a`.
unsafe fn bytes_arg<'a>(ptr: *const u8, len: usize, max: usize) -> Option<&'a [u8]> {
    if len > max {
        return None;
    }
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null, and the caller guarantees `len` readable bytes that nothing writes
    // during the call.
    Some(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// # Safety
/// As [`bytes_arg`].
unsafe fn str_arg<'a>(ptr: *const u8, len: usize) -> Option<&'a str> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { bytes_arg(ptr, len, MAX_PATH_LEN) }?;
    core::str::from_utf8(bytes).ok()
}

/// # Safety
/// `out` is null or valid for a write of `T`.
unsafe fn write_out<T>(out: *mut T, value: T) -> bool {
    if out.is_null() {
        return false;
    }
    // SAFETY: non-null and writable per the caller.
    unsafe { out.write_unaligned(value) };
    true
}

/// Copies `value` to `buffer` and its length to `len_out`; `BUFFER_TOO_SMALL` (with the
/// length) when it does not fit.
///
/// # Safety
/// `buffer` is null or valid for writes of `buffer_len` bytes; `len_out` is null or writable.
unsafe fn copy_out(
    value: &[u8],
    buffer: *mut u8,
    buffer_len: usize,
    len_out: *mut usize,
) -> NtStatus {
    // SAFETY: forwarded contract on `len_out`.
    if !unsafe { write_out(len_out, value.len()) } {
        return status::INVALID_PARAMETER;
    }
    if value.len() > buffer_len {
        return status::BUFFER_TOO_SMALL;
    }
    if value.is_empty() {
        return status::SUCCESS;
    }
    if buffer.is_null() {
        return status::INVALID_PARAMETER;
    }
    // SAFETY: `buffer` holds `buffer_len >= value.len()` writable bytes (caller), and a
    // child's buffer cannot overlap the bus's freshly allocated value.
    unsafe { core::ptr::copy_nonoverlapping(value.as_ptr(), buffer, value.len()) };
    status::SUCCESS
}

fn result(r: Result<(), ServiceError>) -> NtStatus {
    match r {
        Ok(()) => status::SUCCESS,
        Err(e) => e.status(),
    }
}

macro_rules! context_or_fail {
    ($S:ty, $context:expr) => {
        // SAFETY: the table's contract: `Context` is the pointer `fill` stored, alive while
        // the child holds the interface.
        match unsafe { context_ref::<$S>($context) } {
            Some(c) => c,
            None => return status::INVALID_PARAMETER,
        }
    };
}

unsafe extern "C" fn interface_reference<S: BusServices>(context: *mut c_void) {
    // SAFETY: as in `context_or_fail`.
    if let Some(c) = unsafe { context_ref::<S>(context) } {
        c.reference();
    }
}

unsafe extern "C" fn interface_dereference<S: BusServices>(context: *mut c_void) {
    // SAFETY: as in `context_or_fail`.
    if let Some(c) = unsafe { context_ref::<S>(context) } {
        c.dereference();
    }
}

unsafe extern "C" fn store_read<S: BusServices>(
    context: *mut c_void,
    tx: u32,
    path: *const u8,
    path_len: usize,
    buffer: *mut u8,
    buffer_len: usize,
    value_len: *mut usize,
) -> NtStatus {
    let c = context_or_fail!(S, context);
    // SAFETY: the table's contract: `path` points to `path_len` readable bytes.
    let Some(path) = (unsafe { str_arg(path, path_len) }) else {
        return status::INVALID_PARAMETER;
    };
    match c.services.store_read(tx, path) {
        // SAFETY: the table's contract on `buffer`/`buffer_len` and `value_len`.
        Ok(v) => unsafe { copy_out(&v, buffer, buffer_len, value_len) },
        Err(e) => e.status(),
    }
}

unsafe extern "C" fn store_write<S: BusServices>(
    context: *mut c_void,
    tx: u32,
    path: *const u8,
    path_len: usize,
    value: *const u8,
    value_len: usize,
) -> NtStatus {
    let c = context_or_fail!(S, context);
    // SAFETY: the table's contract: `path` points to `path_len` readable bytes.
    let Some(path) = (unsafe { str_arg(path, path_len) }) else {
        return status::INVALID_PARAMETER;
    };
    // SAFETY: the table's contract: `value` points to `value_len` readable bytes.
    let Some(value) = (unsafe { bytes_arg(value, value_len, MAX_VALUE_LEN) }) else {
        return status::INVALID_PARAMETER;
    };
    result(c.services.store_write(tx, path, value))
}

unsafe extern "C" fn transaction_start<S: BusServices>(
    context: *mut c_void,
    tx: *mut u32,
) -> NtStatus {
    let c = context_or_fail!(S, context);
    if tx.is_null() {
        return status::INVALID_PARAMETER;
    }
    match c.services.transaction_start() {
        Ok(id) => {
            // SAFETY: non-null, writable per the table's contract.
            unsafe { write_out(tx, id) };
            status::SUCCESS
        }
        Err(e) => e.status(),
    }
}

unsafe extern "C" fn transaction_end<S: BusServices>(
    context: *mut c_void,
    tx: u32,
    commit: u8,
) -> NtStatus {
    let c = context_or_fail!(S, context);
    result(c.services.transaction_end(tx, commit != 0))
}

unsafe extern "C" fn store_watch<S: BusServices>(
    context: *mut c_void,
    path: *const u8,
    path_len: usize,
    callback: Option<WatchCallback>,
    callback_context: usize,
    handle: *mut u32,
) -> NtStatus {
    let c = context_or_fail!(S, context);
    // SAFETY: the table's contract: `path` points to `path_len` readable bytes.
    let Some(path) = (unsafe { str_arg(path, path_len) }) else {
        return status::INVALID_PARAMETER;
    };
    let Some(callback) = callback else {
        return status::INVALID_PARAMETER;
    };
    if handle.is_null() {
        return status::INVALID_PARAMETER;
    }
    match c.services.store_watch(path, callback, callback_context) {
        Ok(h) => {
            // SAFETY: non-null, writable per the table's contract.
            unsafe { write_out(handle, h) };
            status::SUCCESS
        }
        Err(e) => e.status(),
    }
}

unsafe extern "C" fn store_unwatch<S: BusServices>(context: *mut c_void, handle: u32) -> NtStatus {
    let c = context_or_fail!(S, context);
    result(c.services.store_unwatch(handle))
}

unsafe extern "C" fn grant_access<S: BusServices>(
    context: *mut c_void,
    domid: u16,
    pfn: u64,
    readonly: u8,
    reference: *mut u32,
) -> NtStatus {
    let c = context_or_fail!(S, context);
    if reference.is_null() {
        return status::INVALID_PARAMETER;
    }
    match c
        .services
        .grant_access(DomainId(domid), Pfn(pfn), readonly != 0)
    {
        Ok(r) => {
            // SAFETY: non-null, writable per the table's contract.
            unsafe { write_out(reference, r.0) };
            status::SUCCESS
        }
        Err(e) => e.status(),
    }
}

unsafe extern "C" fn grant_end<S: BusServices>(context: *mut c_void, reference: u32) -> NtStatus {
    let c = context_or_fail!(S, context);
    result(c.services.grant_end(GrantRef(reference)))
}

unsafe extern "C" fn evtchn_bind<S: BusServices>(
    context: *mut c_void,
    remote: u16,
    handler: Option<EventHandler>,
    handler_context: usize,
    port: *mut u32,
) -> NtStatus {
    let c = context_or_fail!(S, context);
    let Some(handler) = handler else {
        return status::INVALID_PARAMETER;
    };
    if port.is_null() {
        return status::INVALID_PARAMETER;
    }
    match c
        .services
        .evtchn_bind(DomainId(remote), handler, handler_context)
    {
        Ok(p) => {
            // SAFETY: non-null, writable per the table's contract.
            unsafe { write_out(port, p.0) };
            status::SUCCESS
        }
        Err(e) => e.status(),
    }
}

unsafe extern "C" fn evtchn_notify<S: BusServices>(context: *mut c_void, port: u32) -> NtStatus {
    let c = context_or_fail!(S, context);
    result(c.services.evtchn_notify(EventChannelPort(port)))
}

unsafe extern "C" fn evtchn_unbind<S: BusServices>(context: *mut c_void, port: u32) -> NtStatus {
    let c = context_or_fail!(S, context);
    result(c.services.evtchn_unbind(EventChannelPort(port)))
}

unsafe extern "C" fn own_path<S: BusServices>(
    context: *mut c_void,
    buffer: *mut u8,
    buffer_len: usize,
    len: *mut usize,
) -> NtStatus {
    let c = context_or_fail!(S, context);
    // SAFETY: the table's contract on `buffer`/`buffer_len` and `len`.
    unsafe { copy_out(c.own_path.as_bytes(), buffer, buffer_len, len) }
}

unsafe extern "C" fn backend_path<S: BusServices>(
    context: *mut c_void,
    buffer: *mut u8,
    buffer_len: usize,
    len: *mut usize,
) -> NtStatus {
    let c = context_or_fail!(S, context);
    // SAFETY: the table's contract on `buffer`/`buffer_len` and `len`.
    unsafe { copy_out(c.backend_path.as_bytes(), buffer, buffer_len, len) }
}

unsafe extern "C" fn backend_domid<S: BusServices>(context: *mut c_void) -> u16 {
    // SAFETY: as in `context_or_fail`.
    match unsafe { context_ref::<S>(context) } {
        Some(c) => c.backend_domid.0,
        None => u16::MAX,
    }
}

unsafe extern "C" fn own_domid<S: BusServices>(context: *mut c_void) -> u16 {
    // SAFETY: as in `context_or_fail`.
    match unsafe { context_ref::<S>(context) } {
        Some(c) => c.services.own_domid().0,
        None => u16::MAX,
    }
}

impl<S: BusServices> ChildContext<S> {
    /// Fills `table` (already accepted by [`super::provider_accept`]) with version 1 and this
    /// context, and takes one reference for the child, as IRP_MN_QUERY_INTERFACE requires.
    ///
    /// The table holds `self`'s address: the PDO keeps the context at a fixed place (boxed in
    /// its device extension) until the child dropped its last reference and the PDO is
    /// removed.
    pub fn fill(&self, table: &mut XenBusChildInterfaceV1) {
        *table = XenBusChildInterfaceV1 {
            size: CHILD_INTERFACE_V1_SIZE as u16,
            version: 1,
            context: (self as *const Self).cast_mut().cast::<c_void>(),
            interface_reference: Some(interface_reference::<S>),
            interface_dereference: Some(interface_dereference::<S>),
            store_read: Some(store_read::<S>),
            store_write: Some(store_write::<S>),
            transaction_start: Some(transaction_start::<S>),
            transaction_end: Some(transaction_end::<S>),
            store_watch: Some(store_watch::<S>),
            store_unwatch: Some(store_unwatch::<S>),
            grant_access: Some(grant_access::<S>),
            grant_end: Some(grant_end::<S>),
            evtchn_bind: Some(evtchn_bind::<S>),
            evtchn_notify: Some(evtchn_notify::<S>),
            evtchn_unbind: Some(evtchn_unbind::<S>),
            own_path: Some(own_path::<S>),
            backend_path: Some(backend_path::<S>),
            backend_domid: Some(backend_domid::<S>),
            own_domid: Some(own_domid::<S>),
        };
        self.reference();
    }
}

/// The child's view of a checked table: safe calls into the bus.
pub struct ChildInterface<'a> {
    table: &'a XenBusChildInterfaceV1,
}

fn check(s: NtStatus) -> Result<(), ServiceError> {
    if s == status::SUCCESS {
        Ok(())
    } else {
        Err(ServiceError::from_status(s))
    }
}

impl<'a> ChildInterface<'a> {
    /// Checks the bus's answer to a request for `requested` ([`consumer_check`]); only a table
    /// that passes is ever called through.
    ///
    /// # Safety
    /// `table` is the bus's IRP_MN_QUERY_INTERFACE answer (filled by [`ChildContext::fill`]),
    /// and the child holds the reference it came with for as long as the wrapper lives: the
    /// bus keeps `Context` valid for that time.
    pub unsafe fn new(
        table: &'a XenBusChildInterfaceV1,
        requested: u16,
    ) -> Result<Self, InterfaceError> {
        consumer_check(table, requested)?;
        Ok(ChildInterface { table })
    }

    /// Reads a node (tx 0 = none). Values up to [`MAX_VALUE_LEN`] bytes.
    pub fn read(&self, tx: u32, path: &str) -> Result<Vec<u8>, ServiceError> {
        let f = self.table.store_read.ok_or(ServiceError::Failed)?;
        let mut buffer = Vec::new();
        buffer
            .try_reserve_exact(MAX_VALUE_LEN)
            .map_err(|_| ServiceError::NoResources)?;
        buffer.resize(MAX_VALUE_LEN, 0);
        let mut len = 0usize;
        // SAFETY: a checked table; `path` and `buffer` are valid for their lengths and `len`
        // is writable for the duration of the call.
        let s = unsafe {
            f(
                self.table.context,
                tx,
                path.as_ptr(),
                path.len(),
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut len,
            )
        };
        check(s)?;
        buffer.truncate(len.min(MAX_VALUE_LEN));
        Ok(buffer)
    }

    /// Writes a node.
    pub fn write(&self, tx: u32, path: &str, value: &[u8]) -> Result<(), ServiceError> {
        let f = self.table.store_write.ok_or(ServiceError::Failed)?;
        // SAFETY: a checked table; both slices are valid for their lengths.
        check(unsafe {
            f(
                self.table.context,
                tx,
                path.as_ptr(),
                path.len(),
                value.as_ptr(),
                value.len(),
            )
        })
    }

    /// Starts a transaction.
    pub fn transaction_start(&self) -> Result<u32, ServiceError> {
        let f = self.table.transaction_start.ok_or(ServiceError::Failed)?;
        let mut tx = 0u32;
        // SAFETY: a checked table; `tx` is writable.
        check(unsafe { f(self.table.context, &mut tx) })?;
        Ok(tx)
    }

    /// Ends a transaction (`Retry` on conflict).
    pub fn transaction_end(&self, tx: u32, commit: bool) -> Result<(), ServiceError> {
        let f = self.table.transaction_end.ok_or(ServiceError::Failed)?;
        // SAFETY: a checked table; plain values.
        check(unsafe { f(self.table.context, tx, u8::from(commit)) })
    }

    /// Watches `path`.
    pub fn watch(
        &self,
        path: &str,
        callback: WatchCallback,
        context: usize,
    ) -> Result<u32, ServiceError> {
        let f = self.table.store_watch.ok_or(ServiceError::Failed)?;
        let mut handle = 0u32;
        // SAFETY: a checked table; `path` valid, `handle` writable.
        check(unsafe {
            f(
                self.table.context,
                path.as_ptr(),
                path.len(),
                Some(callback),
                context,
                &mut handle,
            )
        })?;
        Ok(handle)
    }

    /// Removes a watch.
    pub fn unwatch(&self, handle: u32) -> Result<(), ServiceError> {
        let f = self.table.store_unwatch.ok_or(ServiceError::Failed)?;
        // SAFETY: a checked table; plain values.
        check(unsafe { f(self.table.context, handle) })
    }

    /// Grants `domid` access to `pfn`.
    pub fn grant_access(
        &self,
        domid: DomainId,
        pfn: Pfn,
        readonly: bool,
    ) -> Result<GrantRef, ServiceError> {
        let f = self.table.grant_access.ok_or(ServiceError::Failed)?;
        let mut r = 0u32;
        // SAFETY: a checked table; `r` writable.
        check(unsafe {
            f(
                self.table.context,
                domid.0,
                pfn.0,
                u8::from(readonly),
                &mut r,
            )
        })?;
        Ok(GrantRef(r))
    }

    /// Ends a grant.
    pub fn grant_end(&self, reference: GrantRef) -> Result<(), ServiceError> {
        let f = self.table.grant_end.ok_or(ServiceError::Failed)?;
        // SAFETY: a checked table; plain values.
        check(unsafe { f(self.table.context, reference.0) })
    }

    /// Opens a port for `remote` with `handler` bound.
    pub fn evtchn_bind(
        &self,
        remote: DomainId,
        handler: EventHandler,
        context: usize,
    ) -> Result<EventChannelPort, ServiceError> {
        let f = self.table.evtchn_bind.ok_or(ServiceError::Failed)?;
        let mut port = 0u32;
        // SAFETY: a checked table; `port` writable.
        check(unsafe {
            f(
                self.table.context,
                remote.0,
                Some(handler),
                context,
                &mut port,
            )
        })?;
        Ok(EventChannelPort(port))
    }

    /// Notifies the remote end of `port`.
    pub fn evtchn_notify(&self, port: EventChannelPort) -> Result<(), ServiceError> {
        let f = self.table.evtchn_notify.ok_or(ServiceError::Failed)?;
        // SAFETY: a checked table; plain values.
        check(unsafe { f(self.table.context, port.0) })
    }

    /// Unbinds and closes `port`.
    pub fn evtchn_unbind(&self, port: EventChannelPort) -> Result<(), ServiceError> {
        let f = self.table.evtchn_unbind.ok_or(ServiceError::Failed)?;
        // SAFETY: a checked table; plain values.
        check(unsafe { f(self.table.context, port.0) })
    }

    fn path(&self, f: Option<super::PathFn>) -> Result<String, ServiceError> {
        let f = f.ok_or(ServiceError::Failed)?;
        let mut buffer = [0u8; 256];
        let mut len = 0usize;
        // SAFETY: a checked table; `buffer` writable for its length, `len` writable.
        check(unsafe {
            f(
                self.table.context,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut len,
            )
        })?;
        let bytes = buffer.get(..len).ok_or(ServiceError::Failed)?;
        let text = core::str::from_utf8(bytes).map_err(|_| ServiceError::Failed)?;
        let mut s = String::new();
        s.try_reserve_exact(text.len())
            .map_err(|_| ServiceError::NoResources)?;
        s.push_str(text);
        Ok(s)
    }

    /// The child's own directory (`device/<type>/<id>`).
    pub fn own_path(&self) -> Result<String, ServiceError> {
        self.path(self.table.own_path)
    }

    /// The backend's directory.
    pub fn backend_path(&self) -> Result<String, ServiceError> {
        self.path(self.table.backend_path)
    }

    /// The backend's domain.
    pub fn backend_domid(&self) -> Result<DomainId, ServiceError> {
        let f = self.table.backend_domid.ok_or(ServiceError::Failed)?;
        // SAFETY: a checked table.
        Ok(DomainId(unsafe { f(self.table.context) }))
    }

    /// Our domain.
    pub fn own_domid(&self) -> Result<DomainId, ServiceError> {
        let f = self.table.own_domid.ok_or(ServiceError::Failed)?;
        // SAFETY: a checked table.
        Ok(DomainId(unsafe { f(self.table.context) }))
    }

    /// `InterfaceReference`.
    pub fn reference(&self) {
        if let Some(f) = self.table.interface_reference {
            // SAFETY: a checked table.
            unsafe { f(self.table.context) }
        }
    }

    /// `InterfaceDereference` (the child calls it once per reference, last when it stops).
    pub fn dereference(&self) {
        if let Some(f) = self.table.interface_dereference {
            // SAFETY: a checked table.
            unsafe { f(self.table.context) }
        }
    }
}
