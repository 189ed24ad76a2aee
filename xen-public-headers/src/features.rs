//! Feature bits reported by `XENVER_get_features` (`features.h`).

/// PV: page tables may be writable.
pub const XENFEAT_writable_page_tables: u32 = 0;
/// PV: descriptor tables may be writable.
pub const XENFEAT_writable_descriptor_tables: u32 = 1;
/// The guest sees pseudo-physical addresses translated by Xen (always so for HVM).
pub const XENFEAT_auto_translated_physmap: u32 = 2;
/// PV: the kernel runs in ring 0.
pub const XENFEAT_supervisor_mode_kernel: u32 = 3;
/// PV: PAE page directories may sit above 4 GiB.
pub const XENFEAT_pae_pgdir_above_4gb: u32 = 4;
/// PV: MMU updates preserve accessed/dirty bits.
pub const XENFEAT_mmu_pt_update_preserve_ad: u32 = 5;
/// PV: highmem assist available.
pub const XENFEAT_highmem_assist: u32 = 6;
/// Grant mappings may use the available PTE bits.
pub const XENFEAT_gnttab_map_avail_bits: u32 = 7;
/// `HVM_PARAM_CALLBACK_TYPE_VECTOR` delivery is supported.
pub const XENFEAT_hvm_callback_vector: u32 = 8;
/// The HVM guest may use the PV clock safely.
pub const XENFEAT_hvm_safe_pvclock: u32 = 9;
/// Physical interrupts of the HVM guest arrive as event channels.
pub const XENFEAT_hvm_pirqs: u32 = 10;
/// The domain is dom0.
pub const XENFEAT_dom0: u32 = 11;
/// `XENMEM_get_vnumainfo` is supported.
pub const XENFEAT_memory_op_vnode_supported: u32 = 13;
/// Arm SMCCC is supported.
pub const XENFEAT_ARM_SMCCC_supported: u32 = 14;
/// The RSDP may be placed anywhere (Linux PVH).
pub const XENFEAT_linux_rsdp_unrestricted: u32 = 15;
/// Guest memory is not direct mapped (Arm).
pub const XENFEAT_not_direct_mapped: u32 = 16;
/// Guest memory is direct mapped (Arm).
pub const XENFEAT_direct_mapped: u32 = 17;
/// Number of 32-bit feature submaps.
pub const XENFEAT_NR_SUBMAPS: u32 = 1;
