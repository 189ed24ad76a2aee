//! xen-hal's capabilities on Windows, for xenpci: port I/O, the clock, the platform BAR and
//! other guest frames as shared memory, the page for Xen's hypercall stubs, and a copyable
//! [`Hypervisor`] over that page.
//!
//! Wine (the smoke test) lacks some HAL exports (`READ_PORT_UCHAR`, `WRITE_PORT_ULONG`) and
//! `KeQueryPerformanceCounter` in ntoskrnl, and a driver importing a missing name does not
//! load; port I/O is therefore done with `in`/`out` as the HAL does on x64, and time is read
//! from `KUSER_SHARED_DATA.InterruptTime`. Neither runs unless Xen was found in ring 0.

use core::ptr::NonNull;

use nt_kernel::ntdef::*;
use nt_kernel::wdm::*;
use xen_hal::{
    AllocError, Clock, DomainId, EventChannelPort, EventChannelStatus, GrantTableSize, Hypervisor,
    Instant, MapError, PageAllocator, PageRange, Pfn, PhysicalMapper, PortIo, SharedMemory, VcpuId,
    XenError, XenVersion, PAGE_SHIFT, PAGE_SIZE,
};
use xen_hypercall::arch::x86_64::HypercallPage;
use xen_hypercall::{Hypercall, Xen};

/// Whether this code runs in ring 0 (Wine runs drivers in a user process, ring 3).
pub fn kernel_mode() -> bool {
    let cs: u16;
    // SAFETY: reading CS has no side effects.
    unsafe {
        core::arch::asm!("mov {0:x}, cs", out(reg) cs, options(nomem, nostack, preserves_flags))
    };
    cs & 3 == 0
}

/// x86 port I/O with `in`/`out` (ring 0 only: callers check `xen_debug::available()`).
#[derive(Clone, Copy)]
pub struct Ports;

impl PortIo for Ports {
    fn read_u8(&self, port: u16) -> u8 {
        let value: u8;
        // SAFETY: ring 0 (callers' contract); reading a port has no memory effects.
        unsafe {
            core::arch::asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
        };
        value
    }
    fn read_u16(&self, port: u16) -> u16 {
        let value: u16;
        // SAFETY: as `read_u8`.
        unsafe {
            core::arch::asm!("in ax, dx", in("dx") port, out("ax") value, options(nomem, nostack, preserves_flags))
        };
        value
    }
    fn read_u32(&self, port: u16) -> u32 {
        let value: u32;
        // SAFETY: as `read_u8`.
        unsafe {
            core::arch::asm!("in eax, dx", in("dx") port, out("eax") value, options(nomem, nostack, preserves_flags))
        };
        value
    }
    fn write_u8(&self, port: u16, value: u8) {
        // SAFETY: ring 0 (callers' contract); the ports written are the Xen platform device's.
        unsafe {
            core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
        };
    }
    fn write_u16(&self, port: u16, value: u16) {
        // SAFETY: as `write_u8`.
        unsafe {
            core::arch::asm!("out dx, ax", in("dx") port, in("ax") value, options(nomem, nostack, preserves_flags))
        };
    }
    fn write_u32(&self, port: u16, value: u32) {
        // SAFETY: as `write_u8`.
        unsafe {
            core::arch::asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
        };
    }
}

/// `KUSER_SHARED_DATA` in kernel mode (x64), and its `InterruptTime` (`KSYSTEM_TIME`: LowPart,
/// High1Time, High2Time) at offset 8, in 100 ns units since boot.
const KUSER_SHARED_DATA: usize = 0xFFFF_F780_0000_0000;
const INTERRUPT_TIME: usize = KUSER_SHARED_DATA + 0x8;

/// The monotonic interrupt time.
#[derive(Clone, Copy)]
pub struct NtClock;

impl Clock for NtClock {
    fn now(&self) -> Instant {
        let base = INTERRUPT_TIME as *const u32;
        // Bounded retry: the writer updates High2Time, LowPart, High1Time in that order.
        let mut ticks = 0u64;
        for _ in 0..64 {
            // SAFETY: KUSER_SHARED_DATA is mapped read-only in every kernel address space.
            let high1 = unsafe { core::ptr::read_volatile(base.wrapping_add(1)) };
            // SAFETY: as above.
            let low = unsafe { core::ptr::read_volatile(base) };
            // SAFETY: as above.
            let high2 = unsafe { core::ptr::read_volatile(base.wrapping_add(2)) };
            ticks = (u64::from(high1) << 32) | u64::from(low);
            if high1 == high2 {
                break;
            }
        }
        Instant(ticks.saturating_mul(100))
    }

    fn stall_us(&self, us: u32) {
        // SAFETY: a busy wait, callable at any IRQL.
        unsafe { KeStallExecutionProcessor(us) };
    }
}

/// The platform BAR mapped once with `MmMapIoSpace`; frames inside it are windows of that
/// mapping, other frames (the xenstore ring in RAM) get their own cached mapping.
pub struct NtMapper {
    bar_base: Pfn,
    bar_frames: u64,
    bar: SharedMemory,
}

// SAFETY: the mapping is valid system address space for the mapper's life; access goes through
// `SharedMemory`.
unsafe impl Send for NtMapper {}
// SAFETY: as above.
unsafe impl Sync for NtMapper {}

impl NtMapper {
    /// Maps the BAR (`length` bytes at physical `start`), uncached as MMIO must be.
    pub fn new(start: u64, length: u64) -> Option<NtMapper> {
        let length_usize = usize::try_from(length).ok()?;
        // SAFETY: `start`/`length` is the memory BAR the PnP manager assigned to our device.
        let va = unsafe { MmMapIoSpace(start as PHYSICAL_ADDRESS, length_usize, MmNonCached) };
        let va = NonNull::new(va.cast::<u8>())?;
        // SAFETY: the mapping is `length` bytes long and lives until `Drop`.
        let bar = unsafe { SharedMemory::new(va, length_usize) };
        Some(NtMapper {
            bar_base: Pfn(start >> PAGE_SHIFT),
            bar_frames: length >> PAGE_SHIFT,
            bar,
        })
    }

    /// First frame of the BAR.
    pub fn bar_base(&self) -> Pfn {
        self.bar_base
    }

    fn in_bar(&self, pfn: Pfn, count: usize) -> Option<usize> {
        let index = pfn.0.checked_sub(self.bar_base.0)?;
        let end = index.checked_add(count as u64)?;
        (end <= self.bar_frames).then_some(index as usize)
    }
}

impl Drop for NtMapper {
    fn drop(&mut self) {
        // SAFETY: mapped in `new` with this length; no window is used after the mapper is gone
        // (the platform that used it was dropped first).
        unsafe { MmUnmapIoSpace(self.bar.as_ptr().cast(), self.bar.len()) };
    }
}

impl PhysicalMapper for NtMapper {
    fn map_frames(&self, pfn: Pfn, count: usize) -> Result<SharedMemory, MapError> {
        if count == 0 {
            return Err(MapError::NoSuchFrames);
        }
        if let Some(index) = self.in_bar(pfn, count) {
            return self
                .bar
                .window(index * PAGE_SIZE, count * PAGE_SIZE)
                .map_err(|_| MapError::NoSuchFrames);
        }
        let bytes = count.checked_mul(PAGE_SIZE).ok_or(MapError::NoSuchFrames)?;
        // SAFETY: a guest frame named by Xen (the xenstore ring page), mapped cached as the
        // RAM it is.
        let va = unsafe { MmMapIoSpace(pfn.address() as PHYSICAL_ADDRESS, bytes, MmCached) };
        let va = NonNull::new(va.cast::<u8>()).ok_or(MapError::OutOfResources)?;
        // SAFETY: the mapping is `bytes` long and lives until `unmap_frames`.
        Ok(unsafe { SharedMemory::new(va, bytes) })
    }

    unsafe fn unmap_frames(&self, memory: SharedMemory) {
        let start = self.bar.as_ptr() as usize;
        let address = memory.as_ptr() as usize;
        if address >= start && address < start + self.bar.len() {
            return;
        }
        // SAFETY: mapped by `map_frames` outside the BAR with this length (caller's contract).
        unsafe { MmUnmapIoSpace(memory.as_ptr().cast(), memory.len()) };
    }
}

/// The page of xenpci's image made for the hypercall stubs (`nt_kernel::hypercall_section`:
/// its own page-aligned `.hcall` section, non-paged, mapped read + execute). Pool is not
/// executable from Windows 8 on (`NonPagedPoolNx`), and an executable pool page would be
/// writable and executable at once. Xen writes the stubs through the page's frame; nothing here
/// writes through the mapping. The page goes with the image: freeing it does nothing.
#[derive(Clone, Copy)]
pub struct PoolPages;

impl PageAllocator for PoolPages {
    fn alloc_pages(&self, count: usize) -> Result<PageRange, AllocError> {
        if count != 1 {
            return Err(AllocError);
        }
        // Handed out once: a second installation attempt in the same image gets nothing.
        let va = nt_kernel::hypercall_section::take().ok_or(AllocError)?;
        // SAFETY: `va` is a resident page of this driver's image.
        let physical = unsafe { MmGetPhysicalAddress(va.as_ptr().cast()) } as u64;
        // SAFETY: the section is one page, owned by this allocation for the image's lifetime
        // (only read through this mapping: it is read + execute).
        let memory = unsafe { SharedMemory::new(va, PAGE_SIZE) };
        Ok(PageRange {
            memory,
            pfn: Pfn(physical >> PAGE_SHIFT),
            count,
        })
    }

    unsafe fn free_pages(&self, _range: PageRange) {
        // The page is part of the image and goes when it unloads.
    }
}

/// The installed hypercall page, shared for the driver's lifetime (never freed: a hypercall
/// could be in flight on another CPU until the image unloads).
#[derive(Clone, Copy)]
pub struct HypercallRef(pub &'static HypercallPage<PoolPages>);

// SAFETY: forwards to the installed page, which issues exactly `op` with `args`.
unsafe impl Hypercall for HypercallRef {
    unsafe fn hypercall(&self, op: u32, args: [usize; 5]) -> isize {
        // SAFETY: the caller's pointer-validity contract is passed on unchanged.
        unsafe { self.0.hypercall(op, args) }
    }
}

/// A copyable [`Hypervisor`] over the hypercall page (the xenstore transport keeps a copy).
#[derive(Clone, Copy)]
pub struct NtHypervisor(pub HypercallRef);

impl NtHypervisor {
    fn xen(&self) -> Xen<HypercallRef> {
        Xen::new(self.0)
    }
}

impl Hypervisor for NtHypervisor {
    fn xen_version(&self) -> Result<XenVersion, XenError> {
        self.xen().xen_version()
    }
    fn hvm_get_param(&self, index: u32) -> Result<u64, XenError> {
        self.xen().hvm_get_param(index)
    }
    fn hvm_set_param(&self, index: u32, value: u64) -> Result<(), XenError> {
        self.xen().hvm_set_param(index, value)
    }
    fn add_to_physmap(&self, space: u32, idx: u64, gpfn: Pfn) -> Result<(), XenError> {
        self.xen().add_to_physmap(space, idx, gpfn)
    }
    fn grant_table_query_size(&self) -> Result<GrantTableSize, XenError> {
        self.xen().grant_table_query_size()
    }
    fn evtchn_alloc_unbound(&self, remote: DomainId) -> Result<EventChannelPort, XenError> {
        self.xen().evtchn_alloc_unbound(remote)
    }
    fn evtchn_bind_interdomain(
        &self,
        remote: DomainId,
        remote_port: EventChannelPort,
    ) -> Result<EventChannelPort, XenError> {
        self.xen().evtchn_bind_interdomain(remote, remote_port)
    }
    fn evtchn_send(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.xen().evtchn_send(port)
    }
    fn evtchn_close(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.xen().evtchn_close(port)
    }
    fn evtchn_unmask(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.xen().evtchn_unmask(port)
    }
    fn evtchn_bind_vcpu(&self, port: EventChannelPort, vcpu: VcpuId) -> Result<(), XenError> {
        self.xen().evtchn_bind_vcpu(port, vcpu)
    }
    fn evtchn_status(&self, port: EventChannelPort) -> Result<EventChannelStatus, XenError> {
        self.xen().evtchn_status(port)
    }
    fn sched_shutdown(&self, reason: u32) -> Result<(), XenError> {
        self.xen().sched_shutdown(reason)
    }
    fn sched_yield(&self) -> Result<(), XenError> {
        self.xen().sched_yield()
    }
    fn sched_poll(&self, ports: &[EventChannelPort], timeout_ns: u64) -> Result<(), XenError> {
        self.xen().sched_poll(ports, timeout_ns)
    }
}
