//! HVM parameters (`hvm/params.h`), read and written with `HVMOP_get_param`/`HVMOP_set_param`.

/// How event channel upcalls reach vCPU 0: 0 disables them, otherwise bits 63:56 hold a
/// `HVM_PARAM_CALLBACK_TYPE_*` and the low bits its argument.
pub const HVM_PARAM_CALLBACK_IRQ: u32 = 0;
/// Mask of the delivery type bits in the `HVM_PARAM_CALLBACK_IRQ` value.
pub const HVM_PARAM_CALLBACK_IRQ_TYPE_MASK: u64 = 0xFF00_0000_0000_0000;
/// Delivery type: the low bits are a GSI (not 0).
pub const HVM_PARAM_CALLBACK_TYPE_GSI: u64 = 0;
/// Delivery type: the low bits name a PCI INTx line (domain 47:32, bus 31:16, devfn 15:8, pin 1:0).
pub const HVM_PARAM_CALLBACK_TYPE_PCI_INTX: u64 = 1;
/// Delivery type: bits 7:0 are an x86 interrupt vector (needs `XENFEAT_hvm_callback_vector`).
pub const HVM_PARAM_CALLBACK_TYPE_VECTOR: u64 = 2;

/// Guest frame of the xenstore ring page.
pub const HVM_PARAM_STORE_PFN: u32 = 1;
/// Event channel port of the xenstore ring.
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
/// Frame of the synchronous ioreq page (device model).
pub const HVM_PARAM_IOREQ_PFN: u32 = 5;
/// Frame of the buffered ioreq page (device model).
pub const HVM_PARAM_BUFIOREQ_PFN: u32 = 6;
/// Viridian (Hyper-V) enlightenment mask.
pub const HVM_PARAM_VIRIDIAN: u32 = 9;
/// Virtual platform timer mode.
pub const HVM_PARAM_TIMER_MODE: u32 = 10;
/// Whether the HPET is emulated.
pub const HVM_PARAM_HPET_ENABLED: u32 = 11;
/// Identity page table for unpaged real mode.
pub const HVM_PARAM_IDENT_PT: u32 = 12;
/// ACPI sleep state of the guest.
pub const HVM_PARAM_ACPI_S_STATE: u32 = 14;
/// VM86 TSS location.
pub const HVM_PARAM_VM86_TSS: u32 = 15;
/// Whether periodic timer ticks are aligned across vCPUs.
pub const HVM_PARAM_VPT_ALIGN: u32 = 16;
/// Guest frame of the PV console ring page.
pub const HVM_PARAM_CONSOLE_PFN: u32 = 17;
/// Event channel port of the PV console ring.
pub const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;
/// Location of the ACPI PM I/O ports.
pub const HVM_PARAM_ACPI_IOPORTS_LOCATION: u32 = 19;
/// Paging ring frame.
pub const HVM_PARAM_PAGING_RING_PFN: u32 = 27;
/// Monitor ring frame.
pub const HVM_PARAM_MONITOR_RING_PFN: u32 = 28;
/// Sharing ring frame.
pub const HVM_PARAM_SHARING_RING_PFN: u32 = 29;
/// Action on a guest triple fault.
pub const HVM_PARAM_TRIPLE_FAULT_REASON: u32 = 31;
/// First frame reserved for ioreq servers.
pub const HVM_PARAM_IOREQ_SERVER_PFN: u32 = 32;
/// Number of frames reserved for ioreq servers.
pub const HVM_PARAM_NR_IOREQ_SERVER_PAGES: u32 = 33;
/// Guest address of the VM generation ID.
pub const HVM_PARAM_VM_GENERATION_ID_ADDR: u32 = 34;
/// Alternate p2m mode.
pub const HVM_PARAM_ALTP2M: u32 = 35;
/// Width of the x87 FIP/FDP registers saved.
pub const HVM_PARAM_X87_FIP_WIDTH: u32 = 36;
/// VM86 TSS location with size.
pub const HVM_PARAM_VM86_TSS_SIZED: u32 = 37;
/// Machine check capabilities.
pub const HVM_PARAM_MCA_CAP: u32 = 38;
/// Number of HVM parameters.
pub const HVM_NR_PARAMS: u32 = 39;
