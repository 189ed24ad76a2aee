//! Xen's CPUID leaves (`arch-x86/cpuid.h`).
//!
//! Xen's leaves start at [`XEN_CPUID_FIRST_LEAF`], or at a multiple of `0x100` above it when
//! another hypervisor interface (Viridian) occupies the first range. Relative to that base:
//! leaf 0 gives the largest leaf and the signature, leaf 1 the version, leaf 2 the hypercall
//! page MSR, leaf 4 the HVM features below.

/// First possible base of Xen's CPUID leaves.
pub const XEN_CPUID_FIRST_LEAF: u32 = 0x4000_0000;
/// Signature in EBX of the base leaf (`"XenV"`).
pub const XEN_CPUID_SIGNATURE_EBX: u32 = 0x566e_6558;
/// Signature in ECX of the base leaf (`"MMXe"`).
pub const XEN_CPUID_SIGNATURE_ECX: u32 = 0x6558_4d4d;
/// Signature in EDX of the base leaf (`"nVMM"`).
pub const XEN_CPUID_SIGNATURE_EDX: u32 = 0x4d4d_566e;
/// Leaf 2 ECX: PV MMU updates preserve accessed/dirty bits.
pub const XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD: u32 = 1 << 0;

/// Leaf 4 EAX: APIC register accesses are virtualised.
pub const XEN_HVM_CPUID_APIC_ACCESS_VIRT: u32 = 1 << 0;
/// Leaf 4 EAX: x2APIC accesses are virtualised.
pub const XEN_HVM_CPUID_X2APIC_VIRT: u32 = 1 << 1;
/// Leaf 4 EAX: IOMMU mappings of guest memory are available.
pub const XEN_HVM_CPUID_IOMMU_MAPPINGS: u32 = 1 << 2;
/// Leaf 4 EAX: EBX holds this vCPU's Xen vCPU id.
pub const XEN_HVM_CPUID_VCPU_ID_PRESENT: u32 = 1 << 3;
/// Leaf 4 EAX: ECX holds the domain id.
pub const XEN_HVM_CPUID_DOMID_PRESENT: u32 = 1 << 4;
/// Leaf 4 EAX: extended destination id for MSI and I/O APIC.
pub const XEN_HVM_CPUID_EXT_DEST_ID: u32 = 1 << 5;
/// Leaf 4 EAX: per-vCPU upcall vectors (`HVMOP_set_evtchn_upcall_vector`) work with PIRQs.
pub const XEN_HVM_CPUID_UPCALL_VECTOR: u32 = 1 << 6;
/// Leaf 5 EBX: mask of the machine address width (PV).
pub const XEN_CPUID_MACHINE_ADDRESS_WIDTH_MASK: u32 = 0xff;
/// Number of Xen leaves this interface defines.
pub const XEN_CPUID_MAX_NUM_LEAVES: u32 = 5;
