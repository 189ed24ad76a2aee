//! Core hypervisor interface (`xen.h`, `arch-x86/xen.h`, `arch-x86/xen-x86_64.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Newest guest interface version the 4.17 headers know; the layouts here follow it.
pub const __XEN_LATEST_INTERFACE_VERSION__: u32 = 0x0004_0e00;

/// A domain identifier.
pub type domid_t = u16;
/// A guest page frame number (the C `unsigned long` on x86_64).
pub type xen_pfn_t = u64;
/// The natural register-sized unsigned integer of the ABI (`unsigned long` on x86_64).
pub type xen_ulong_t = u64;

// Hypercall numbers: the index of the 32-byte stub in the hypercall page.

/// Hypercall: install a PV trap table.
pub const __HYPERVISOR_set_trap_table: u32 = 0;
/// Hypercall: batch of page-table updates.
pub const __HYPERVISOR_mmu_update: u32 = 1;
/// Hypercall: set a PV guest's GDT.
pub const __HYPERVISOR_set_gdt: u32 = 2;
/// Hypercall: switch the PV kernel stack.
pub const __HYPERVISOR_stack_switch: u32 = 3;
/// Hypercall: register PV event and failsafe callbacks.
pub const __HYPERVISOR_set_callbacks: u32 = 4;
/// Hypercall: set or clear CR0.TS for a PV guest.
pub const __HYPERVISOR_fpu_taskswitch: u32 = 5;
/// Hypercall: the pre-3.0.1 scheduler operation.
pub const __HYPERVISOR_sched_op_compat: u32 = 6;
/// Hypercall: platform (dom0) operations.
pub const __HYPERVISOR_platform_op: u32 = 7;
/// Hypercall: write a debug register.
pub const __HYPERVISOR_set_debugreg: u32 = 8;
/// Hypercall: read a debug register.
pub const __HYPERVISOR_get_debugreg: u32 = 9;
/// Hypercall: update one descriptor table entry.
pub const __HYPERVISOR_update_descriptor: u32 = 10;
/// Hypercall: memory reservation and physmap operations (`XENMEM_*`).
pub const __HYPERVISOR_memory_op: u32 = 12;
/// Hypercall: run several hypercalls in one trap.
pub const __HYPERVISOR_multicall: u32 = 13;
/// Hypercall: update a PV mapping by virtual address.
pub const __HYPERVISOR_update_va_mapping: u32 = 14;
/// Hypercall: arm the one-shot timer.
pub const __HYPERVISOR_set_timer_op: u32 = 15;
/// Hypercall: the pre-3.2.2 event channel operation.
pub const __HYPERVISOR_event_channel_op_compat: u32 = 16;
/// Hypercall: version and feature queries (`XENVER_*`).
pub const __HYPERVISOR_xen_version: u32 = 17;
/// Hypercall: hypervisor console I/O.
pub const __HYPERVISOR_console_io: u32 = 18;
/// Hypercall: the pre-3.2.2 physical device operation.
pub const __HYPERVISOR_physdev_op_compat: u32 = 19;
/// Hypercall: grant table operations (`GNTTABOP_*`).
pub const __HYPERVISOR_grant_table_op: u32 = 20;
/// Hypercall: enable or disable VM assists.
pub const __HYPERVISOR_vm_assist: u32 = 21;
/// Hypercall: update a mapping in another domain's address space.
pub const __HYPERVISOR_update_va_mapping_otherdomain: u32 = 22;
/// Hypercall: PV return from interrupt.
pub const __HYPERVISOR_iret: u32 = 23;
/// Hypercall: per-vCPU operations.
pub const __HYPERVISOR_vcpu_op: u32 = 24;
/// Hypercall: set an x86_64 segment base.
pub const __HYPERVISOR_set_segment_base: u32 = 25;
/// Hypercall: extended MMU operations.
pub const __HYPERVISOR_mmuext_op: u32 = 26;
/// Hypercall: security module operations.
pub const __HYPERVISOR_xsm_op: u32 = 27;
/// Hypercall: NMI callback control.
pub const __HYPERVISOR_nmi_op: u32 = 28;
/// Hypercall: scheduler operations (`SCHEDOP_*`).
pub const __HYPERVISOR_sched_op: u32 = 29;
/// Hypercall: register callbacks.
pub const __HYPERVISOR_callback_op: u32 = 30;
/// Hypercall: profiling.
pub const __HYPERVISOR_xenoprof_op: u32 = 31;
/// Hypercall: event channel operations (`EVTCHNOP_*`).
pub const __HYPERVISOR_event_channel_op: u32 = 32;
/// Hypercall: physical device operations.
pub const __HYPERVISOR_physdev_op: u32 = 33;
/// Hypercall: HVM operations (`HVMOP_*`).
pub const __HYPERVISOR_hvm_op: u32 = 34;
/// Hypercall: system control (toolstack).
pub const __HYPERVISOR_sysctl: u32 = 35;
/// Hypercall: domain control (toolstack).
pub const __HYPERVISOR_domctl: u32 = 36;
/// Hypercall: kexec operations.
pub const __HYPERVISOR_kexec_op: u32 = 37;
/// Hypercall: transcendent memory (retired).
pub const __HYPERVISOR_tmem_op: u32 = 38;
/// Hypercall: Argo inter-domain messaging.
pub const __HYPERVISOR_argo_op: u32 = 39;
/// Hypercall: PMU operations.
pub const __HYPERVISOR_xenpmu_op: u32 = 40;
/// Hypercall: device model operations.
pub const __HYPERVISOR_dm_op: u32 = 41;
/// Hypercall: hypervisor file system.
pub const __HYPERVISOR_hypfs_op: u32 = 42;
/// Architecture-specific hypercall 0.
pub const __HYPERVISOR_arch_0: u32 = 48;
/// Architecture-specific hypercall 1 (x86: machine check).
pub const __HYPERVISOR_arch_1: u32 = 49;
/// Architecture-specific hypercall 2.
pub const __HYPERVISOR_arch_2: u32 = 50;
/// Architecture-specific hypercall 3.
pub const __HYPERVISOR_arch_3: u32 = 51;
/// Architecture-specific hypercall 4.
pub const __HYPERVISOR_arch_4: u32 = 52;
/// Architecture-specific hypercall 5.
pub const __HYPERVISOR_arch_5: u32 = 53;
/// Architecture-specific hypercall 6.
pub const __HYPERVISOR_arch_6: u32 = 54;
/// Architecture-specific hypercall 7.
pub const __HYPERVISOR_arch_7: u32 = 55;

/// Domain ids from here up are reserved for special meanings.
pub const DOMID_FIRST_RESERVED: domid_t = 0x7FF0;
/// The calling domain.
pub const DOMID_SELF: domid_t = 0x7FF0;
/// Pseudo-domain owning I/O memory.
pub const DOMID_IO: domid_t = 0x7FF1;
/// Pseudo-domain owning Xen's own heap pages.
pub const DOMID_XEN: domid_t = 0x7FF2;
/// Owner of shared copy-on-write pages.
pub const DOMID_COW: domid_t = 0x7FF3;
/// No valid owner.
pub const DOMID_INVALID: domid_t = 0x7FF4;
/// The idle domain.
pub const DOMID_IDLE: domid_t = 0x7FFF;
/// Mask of the bits a domain id may use.
pub const DOMID_MASK: domid_t = 0x7FFF;

/// Number of `vcpu_info` slots embedded in [`shared_info`].
pub const XEN_LEGACY_MAX_VCPUS: usize = 32;
/// Number of `xen_ulong_t` words in each 2-level event bitmap of [`shared_info`]
/// (not a C macro: the C array dimension `sizeof(xen_ulong_t) * 8`).
pub const EVTCHN_2L_NR_WORDS: usize = 64;

/// I/O port of Xen's HVM debug console: bytes written there appear in the hypervisor log.
pub const XEN_HVM_DEBUGCONS_IOPORT: u16 = 0xe9;

/// `vcpu_time_info.flags`: the TSC is stable across vCPUs.
pub const XEN_PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;
/// `vcpu_time_info.flags`: the guest was stopped by the toolstack.
pub const XEN_PVCLOCK_GUEST_STOPPED: u8 = 1 << 1;

/// Per-vCPU system time parameters, published by Xen under a version counter.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct vcpu_time_info {
    /// Odd while Xen updates the record; read until it is even and unchanged.
    pub version: u32,
    /// Unused.
    pub pad0: u32,
    /// TSC value at the last update.
    pub tsc_timestamp: u64,
    /// Nanoseconds since boot at `tsc_timestamp`.
    pub system_time: u64,
    /// Multiplier (32.32 fixed point) converting shifted TSC ticks to nanoseconds.
    pub tsc_to_system_mul: u32,
    /// Shift applied to a TSC delta before the multiplication.
    pub tsc_shift: i8,
    /// `XEN_PVCLOCK_*` flags.
    pub flags: u8,
    /// Unused.
    pub pad1: [u8; 2],
}

/// x86_64 architecture part of [`vcpu_info`].
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct arch_vcpu_info {
    /// Faulting address for PV page faults.
    pub cr2: u64,
    /// Unused.
    pub pad: u64,
}

/// Per-vCPU event delivery state and time, embedded in [`shared_info`].
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct vcpu_info {
    /// Set by Xen when an event upcall is pending for this vCPU.
    pub evtchn_upcall_pending: u8,
    /// Set by the guest to block event upcalls on this vCPU.
    pub evtchn_upcall_mask: u8,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 6],
    /// Selector: bit `n` set means word `n` of `evtchn_pending` may have pending ports.
    pub evtchn_pending_sel: xen_ulong_t,
    /// Architecture-specific state.
    pub arch: arch_vcpu_info,
    /// System time parameters.
    pub time: vcpu_time_info,
}

/// x86_64 architecture part of [`shared_info`].
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct arch_shared_info {
    /// Number of valid entries in the PV physical-to-machine table.
    pub max_pfn: u64,
    /// Frame of the top-level list of the PV p2m table.
    pub pfn_to_mfn_frame_list_list: xen_pfn_t,
    /// NMI reason bits.
    pub nmi_reason: u64,
    /// Root of the address space holding the linear p2m list.
    pub p2m_cr3: u64,
    /// Virtual address of the linear p2m list.
    pub p2m_vaddr: u64,
    /// Generation counter of p2m list updates.
    pub p2m_generation: u64,
}

/// The shared info page: vCPU event state, 2-level event bitmaps and wallclock time.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct shared_info {
    /// Event state of the first [`XEN_LEGACY_MAX_VCPUS`] vCPUs.
    pub vcpu_info: [vcpu_info; XEN_LEGACY_MAX_VCPUS],
    /// Pending bits of the 2-level event channel ABI, one bit per port.
    pub evtchn_pending: [xen_ulong_t; EVTCHN_2L_NR_WORDS],
    /// Mask bits of the 2-level event channel ABI, one bit per port.
    pub evtchn_mask: [xen_ulong_t; EVTCHN_2L_NR_WORDS],
    /// Version counter of the wallclock fields (same protocol as `vcpu_time_info.version`).
    pub wc_version: u32,
    /// Wallclock seconds at system time 0 (low 32 bits).
    pub wc_sec: u32,
    /// Wallclock nanoseconds at system time 0.
    pub wc_nsec: u32,
    /// Wallclock seconds at system time 0 (high 32 bits).
    pub wc_sec_hi: u32,
    /// Architecture-specific part.
    pub arch: arch_shared_info,
}
