//! Checks every item of the crate against the C headers of Debian's libxen-dev (Xen 4.17).
//!
//! `probe_table` lists each struct (with every field), type alias and constant once; the macros
//! turn each entry into both the Rust-side value (`size_of`, `offset_of!`, the constant) and
//! the C expression that should equal it. `layout_matches_c_headers` writes a C program printing
//! every C expression, compiles it with gcc against `/usr/include/xen`, runs it and compares.
//! `every_public_item_is_probed` scans `src/` so that no `pub struct`, `pub const`, `pub type`
//! or struct field can be added without an entry here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use core::mem::{align_of, offset_of, size_of};

/// The Rust-side value of a constant.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(i128),
    Str(&'static str),
    /// A table of (number, name) pairs, compared with a C array of `{errnum, errstring}`.
    ErrorTable(Vec<(i128, &'static str)>),
}

trait ProbeValue {
    fn probe_value(&self) -> Value;
}

macro_rules! int_probe_value {
    ($($t:ty),*) => {
        $(impl ProbeValue for $t {
            fn probe_value(&self) -> Value {
                Value::Int(i128::from(*self))
            }
        })*
    };
}
int_probe_value!(u8, u16, u32, u64, i8, i16, i32, i64);

impl ProbeValue for usize {
    fn probe_value(&self) -> Value {
        Value::Int(i128::try_from(*self).expect("usize fits i128"))
    }
}

impl ProbeValue for &'static str {
    fn probe_value(&self) -> Value {
        Value::Str(self)
    }
}

impl<const N: usize> ProbeValue for [(i32, &'static str); N] {
    fn probe_value(&self) -> Value {
        Value::ErrorTable(self.iter().map(|&(n, s)| (i128::from(n), s)).collect())
    }
}

/// Signedness of a type alias, if it is an integer.
trait AliasKind {
    fn signed() -> Option<bool>;
}

macro_rules! alias_kind {
    ($($t:ty => $s:expr),*) => {
        $(impl AliasKind for $t {
            fn signed() -> Option<bool> {
                $s
            }
        })*
    };
}
alias_kind!(u8 => Some(false), u16 => Some(false), u32 => Some(false), u64 => Some(false),
    i8 => Some(true), i16 => Some(true), i32 => Some(true), i64 => Some(true));

impl<const N: usize> AliasKind for [u8; N] {
    fn signed() -> Option<bool> {
        None
    }
}

struct ConstProbe {
    key: String,
    c_expr: String,
    value: Value,
}

struct FieldProbe {
    name: &'static str,
    c_name: &'static str,
    offset: usize,
    size: usize,
    kind: u8,
}

struct StructProbe {
    key: String,
    c_type: String,
    c_size: Option<String>,
    size: usize,
    align: usize,
    fields: Vec<FieldProbe>,
}

struct AliasProbe {
    key: String,
    c_type: String,
    size: usize,
    signed: Option<bool>,
}

#[derive(Default)]
struct Table {
    consts: Vec<ConstProbe>,
    structs: Vec<StructProbe>,
    aliases: Vec<AliasProbe>,
    /// Extra C-side checks that are not items: (description, C condition, Rust value).
    ring_sizes: Vec<(String, String, i128)>,
}

fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// Integer kind of a field, found by method resolution on the concrete field type:
/// 0 unsigned, 1 signed (also for arrays of such integers), 2 anything else.
struct Kind<F>(core::marker::PhantomData<F>);

fn kind_of<T, F>(_: fn(&T) -> &F) -> Kind<F> {
    Kind(core::marker::PhantomData)
}

trait IntegerKind {
    fn kind(&self) -> u8;
}

macro_rules! integer_kind {
    ($($t:ty => $k:expr),*) => {
        $(impl IntegerKind for Kind<$t> {
            fn kind(&self) -> u8 {
                $k
            }
        }
        impl<const N: usize> IntegerKind for Kind<[$t; N]> {
            fn kind(&self) -> u8 {
                $k
            }
        })*
    };
}
integer_kind!(u8 => 0, u16 => 0, u32 => 0, u64 => 0, i8 => 1, i16 => 1, i32 => 1, i64 => 1);

trait OtherKind {
    fn kind(&self) -> u8 {
        2
    }
}
impl<F> OtherKind for &Kind<F> {}

/// First argument if there is only one, else the second (the override).
macro_rules! c_or {
    ($default:expr) => {
        $default
    };
    ($default:expr, $c:expr) => {
        $c
    };
}

macro_rules! consts {
    ($t:ident, $($m:ident)::+ : $($name:ident $(= $c:literal)?),+ $(,)?) => {{
        use xen_public_headers::$($m)::+ as module;
        let prefix = concat!($(stringify!($m), "::",)+);
        $($t.consts.push(ConstProbe {
            key: format!("{prefix}{}", stringify!($name)),
            c_expr: c_or!(stringify!($name) $(, $c)?).to_string(),
            value: ProbeValue::probe_value(&module::$name),
        });)+
    }};
}

macro_rules! aliases {
    ($t:ident, $($m:ident)::+ : $($name:ident),+ $(,)?) => {{
        use xen_public_headers::$($m)::+ as module;
        let prefix = concat!($(stringify!($m), "::",)+);
        $($t.aliases.push(AliasProbe {
            key: format!("{prefix}{}", stringify!($name)),
            c_type: stringify!($name).to_string(),
            size: size_of::<module::$name>(),
            signed: <module::$name as AliasKind>::signed(),
        });)+
    }};
}

macro_rules! structs {
    ($t:ident, $($m:ident)::+ : $name:ident $(as $cty:literal)? $(size $csize:literal)?
        { $($f:ident $(= $cf:literal)? $([$aggregate:ident])?),* $(,)? }) => {{
        type T = xen_public_headers::$($m)::+::$name;
        #[allow(unused_mut)]
        let mut fields = Vec::new();
        $(fields.push(FieldProbe {
            name: stringify!($f).trim_start_matches("r#"),
            c_name: c_or!(stringify!($f) $(, $cf)?),
            offset: offset_of!(T, $f),
            size: field_size(|s: &T| &s.$f),
            // `[handle]`/`[union]`: C has a guest handle or union that Rust keeps as a raw
            // integer or byte array; C must then report "not an integer".
            kind: c_or!((&kind_of(|s: &T| &s.$f)).kind() $(, { let _ = stringify!($aggregate); 2 })?),
        });)*
        #[allow(unused_mut, unused_assignments)]
        let mut c_size = None;
        $(c_size = Some($csize.to_string());)?
        $t.structs.push(StructProbe {
            key: concat!($(stringify!($m), "::",)+ stringify!($name)).to_string(),
            c_type: c_or!(concat!("struct ", stringify!($name)) $(, $cty)?).to_string(),
            c_size,
            size: size_of::<T>(),
            align: align_of::<T>(),
            fields,
        });
    }};
}

/// Every item of the crate, with the C expression it must equal.
fn probe_table() -> Table {
    let mut t = Table::default();

    // xen.h and the x86_64 arch headers.
    aliases!(t, xen: domid_t, xen_pfn_t, xen_ulong_t);
    consts!(t, xen: __XEN_LATEST_INTERFACE_VERSION__,
        __HYPERVISOR_set_trap_table, __HYPERVISOR_mmu_update, __HYPERVISOR_set_gdt,
        __HYPERVISOR_stack_switch, __HYPERVISOR_set_callbacks, __HYPERVISOR_fpu_taskswitch,
        __HYPERVISOR_sched_op_compat, __HYPERVISOR_platform_op, __HYPERVISOR_set_debugreg,
        __HYPERVISOR_get_debugreg, __HYPERVISOR_update_descriptor, __HYPERVISOR_memory_op,
        __HYPERVISOR_multicall, __HYPERVISOR_update_va_mapping, __HYPERVISOR_set_timer_op,
        __HYPERVISOR_event_channel_op_compat, __HYPERVISOR_xen_version,
        __HYPERVISOR_console_io, __HYPERVISOR_physdev_op_compat, __HYPERVISOR_grant_table_op,
        __HYPERVISOR_vm_assist, __HYPERVISOR_update_va_mapping_otherdomain, __HYPERVISOR_iret,
        __HYPERVISOR_vcpu_op, __HYPERVISOR_set_segment_base, __HYPERVISOR_mmuext_op,
        __HYPERVISOR_xsm_op, __HYPERVISOR_nmi_op, __HYPERVISOR_sched_op,
        __HYPERVISOR_callback_op, __HYPERVISOR_xenoprof_op, __HYPERVISOR_event_channel_op,
        __HYPERVISOR_physdev_op, __HYPERVISOR_hvm_op, __HYPERVISOR_sysctl, __HYPERVISOR_domctl,
        __HYPERVISOR_kexec_op, __HYPERVISOR_tmem_op, __HYPERVISOR_argo_op,
        __HYPERVISOR_xenpmu_op, __HYPERVISOR_dm_op, __HYPERVISOR_hypfs_op, __HYPERVISOR_arch_0,
        __HYPERVISOR_arch_1, __HYPERVISOR_arch_2, __HYPERVISOR_arch_3, __HYPERVISOR_arch_4,
        __HYPERVISOR_arch_5, __HYPERVISOR_arch_6, __HYPERVISOR_arch_7,
        DOMID_FIRST_RESERVED, DOMID_SELF, DOMID_IO, DOMID_XEN, DOMID_COW, DOMID_INVALID,
        DOMID_IDLE, DOMID_MASK, XEN_LEGACY_MAX_VCPUS,
        EVTCHN_2L_NR_WORDS = "sizeof(((struct shared_info *)0)->evtchn_pending) / sizeof(xen_ulong_t)",
        XEN_PVCLOCK_TSC_STABLE_BIT, XEN_PVCLOCK_GUEST_STOPPED, XEN_HVM_DEBUGCONS_IOPORT);

    // arch-x86/cpuid.h
    consts!(t, arch_x86::cpuid: XEN_CPUID_FIRST_LEAF, XEN_CPUID_SIGNATURE_EBX,
        XEN_CPUID_SIGNATURE_ECX, XEN_CPUID_SIGNATURE_EDX,
        XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD, XEN_HVM_CPUID_APIC_ACCESS_VIRT,
        XEN_HVM_CPUID_X2APIC_VIRT, XEN_HVM_CPUID_IOMMU_MAPPINGS, XEN_HVM_CPUID_VCPU_ID_PRESENT,
        XEN_HVM_CPUID_DOMID_PRESENT, XEN_HVM_CPUID_EXT_DEST_ID, XEN_HVM_CPUID_UPCALL_VECTOR,
        XEN_CPUID_MACHINE_ADDRESS_WIDTH_MASK, XEN_CPUID_MAX_NUM_LEAVES);
    structs!(t, xen: vcpu_time_info {
        version, pad0, tsc_timestamp, system_time, tsc_to_system_mul, tsc_shift, flags, pad1
    });
    structs!(t, xen: arch_vcpu_info { cr2, pad });
    structs!(t, xen: vcpu_info {
        evtchn_upcall_pending, evtchn_upcall_mask, evtchn_pending_sel, arch, time
    });
    structs!(t, xen: arch_shared_info {
        max_pfn, pfn_to_mfn_frame_list_list, nmi_reason, p2m_cr3, p2m_vaddr, p2m_generation
    });
    structs!(t, xen: shared_info {
        vcpu_info, evtchn_pending, evtchn_mask, wc_version, wc_sec, wc_nsec, wc_sec_hi, arch
    });

    // errno.h
    consts!(t, errno: XEN_EPERM, XEN_ENOENT, XEN_ESRCH, XEN_EIO, XEN_ENXIO, XEN_E2BIG,
        XEN_ENOEXEC, XEN_EBADF, XEN_ECHILD, XEN_EAGAIN, XEN_EWOULDBLOCK, XEN_ENOMEM,
        XEN_EACCES, XEN_EFAULT, XEN_EBUSY, XEN_EEXIST, XEN_EXDEV, XEN_ENODEV, XEN_ENOTDIR,
        XEN_EISDIR, XEN_EINVAL, XEN_ENFILE, XEN_EMFILE, XEN_ENOSPC, XEN_EROFS, XEN_EMLINK,
        XEN_EDOM, XEN_ERANGE, XEN_EDEADLK, XEN_EDEADLOCK, XEN_ENAMETOOLONG, XEN_ENOLCK,
        XEN_ENOSYS, XEN_ENOTEMPTY, XEN_ENODATA, XEN_ETIME, XEN_EBADMSG, XEN_EOVERFLOW,
        XEN_EILSEQ, XEN_ENOTSOCK, XEN_EMSGSIZE, XEN_EOPNOTSUPP, XEN_EADDRINUSE,
        XEN_EADDRNOTAVAIL, XEN_ENOBUFS, XEN_EISCONN, XEN_ENOTCONN, XEN_ETIMEDOUT,
        XEN_ECONNREFUSED);

    // event_channel.h
    aliases!(t, event_channel: evtchn_port_t);
    consts!(t, event_channel: EVTCHNOP_bind_interdomain, EVTCHNOP_bind_virq,
        EVTCHNOP_bind_pirq, EVTCHNOP_close, EVTCHNOP_send, EVTCHNOP_status,
        EVTCHNOP_alloc_unbound, EVTCHNOP_bind_ipi, EVTCHNOP_bind_vcpu, EVTCHNOP_unmask,
        EVTCHNOP_reset, EVTCHNOP_init_control, EVTCHNOP_expand_array, EVTCHNOP_set_priority,
        EVTCHNSTAT_closed, EVTCHNSTAT_unbound, EVTCHNSTAT_interdomain, EVTCHNSTAT_pirq,
        EVTCHNSTAT_virq, EVTCHNSTAT_ipi, EVTCHN_2L_NR_CHANNELS);
    structs!(t, event_channel: evtchn_alloc_unbound { dom, remote_dom, port });
    structs!(t, event_channel: evtchn_bind_interdomain { remote_dom, remote_port, local_port });
    structs!(t, event_channel: evtchn_close { port });
    structs!(t, event_channel: evtchn_send { port });
    structs!(t, event_channel: evtchn_unmask { port });
    structs!(t, event_channel: evtchn_bind_vcpu { port, vcpu });
    structs!(t, event_channel: evtchn_status { dom, port, status, vcpu, u [union] });
    structs!(t, event_channel: evtchn_status_unbound
        as "__typeof__(((struct evtchn_status *)0)->u.unbound)" { dom });
    structs!(t, event_channel: evtchn_status_interdomain
        as "__typeof__(((struct evtchn_status *)0)->u.interdomain)" { dom, port });

    // grant_table.h
    aliases!(t, grant_table: grant_ref_t);
    structs!(t, grant_table: grant_entry_v1 { flags, domid, frame });
    structs!(t, grant_table: gnttab_setup_table { dom, nr_frames, status, frame_list [handle] });
    structs!(t, grant_table: gnttab_query_size { dom, nr_frames, max_nr_frames, status });
    consts!(t, grant_table: GNTTAB_NR_RESERVED_ENTRIES, GNTTAB_RESERVED_CONSOLE,
        GNTTAB_RESERVED_XENSTORE, GTF_invalid, GTF_permit_access, GTF_accept_transfer,
        GTF_transitive, GTF_type_mask, _GTF_readonly, GTF_readonly, _GTF_reading, GTF_reading,
        _GTF_writing, GTF_writing, GTF_PWT, GTF_PCD, GTF_PAT, GTF_sub_page,
        GTF_transfer_committed, GTF_transfer_completed, GNTTABOP_map_grant_ref,
        GNTTABOP_unmap_grant_ref, GNTTABOP_setup_table, GNTTABOP_dump_table, GNTTABOP_transfer,
        GNTTABOP_copy, GNTTABOP_query_size, GNTTABOP_unmap_and_replace, GNTTABOP_set_version,
        GNTTABOP_get_status_frames, GNTTABOP_get_version, GNTTABOP_swap_grant_ref,
        GNTTABOP_cache_flush, GNTST_okay, GNTST_general_error, GNTST_bad_domain,
        GNTST_bad_gntref, GNTST_bad_handle, GNTST_bad_virt_addr, GNTST_bad_dev_addr,
        GNTST_no_device_space, GNTST_permission_denied, GNTST_bad_page, GNTST_bad_copy_arg,
        GNTST_address_too_big, GNTST_eagain, GNTST_no_space);

    // memory.h
    consts!(t, memory: XENMEM_increase_reservation, XENMEM_decrease_reservation,
        XENMEM_populate_physmap, XENMEM_add_to_physmap, XENMEM_remove_from_physmap,
        XENMAPSPACE_shared_info, XENMAPSPACE_grant_table, XENMAPSPACE_gmfn,
        XENMAPSPACE_gmfn_range, XENMAPSPACE_gmfn_foreign, XENMAPSPACE_dev_mmio,
        XENMAPIDX_grant_table_status);
    structs!(t, memory: xen_add_to_physmap { domid, size, space, idx, gpfn });
    structs!(t, memory: xen_remove_from_physmap { domid, gpfn });
    structs!(t, memory: xen_memory_reservation {
        extent_start [handle], nr_extents, extent_order, mem_flags, domid
    });

    // hvm/params.h and hvm/hvm_op.h
    consts!(t, hvm::params: HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_CALLBACK_IRQ_TYPE_MASK,
        HVM_PARAM_CALLBACK_TYPE_GSI, HVM_PARAM_CALLBACK_TYPE_PCI_INTX,
        HVM_PARAM_CALLBACK_TYPE_VECTOR, HVM_PARAM_STORE_PFN, HVM_PARAM_STORE_EVTCHN,
        HVM_PARAM_IOREQ_PFN, HVM_PARAM_BUFIOREQ_PFN, HVM_PARAM_VIRIDIAN, HVM_PARAM_TIMER_MODE,
        HVM_PARAM_HPET_ENABLED, HVM_PARAM_IDENT_PT, HVM_PARAM_ACPI_S_STATE, HVM_PARAM_VM86_TSS,
        HVM_PARAM_VPT_ALIGN, HVM_PARAM_CONSOLE_PFN, HVM_PARAM_CONSOLE_EVTCHN,
        HVM_PARAM_ACPI_IOPORTS_LOCATION, HVM_PARAM_PAGING_RING_PFN,
        HVM_PARAM_MONITOR_RING_PFN, HVM_PARAM_SHARING_RING_PFN, HVM_PARAM_TRIPLE_FAULT_REASON,
        HVM_PARAM_IOREQ_SERVER_PFN, HVM_PARAM_NR_IOREQ_SERVER_PAGES,
        HVM_PARAM_VM_GENERATION_ID_ADDR, HVM_PARAM_ALTP2M, HVM_PARAM_X87_FIP_WIDTH,
        HVM_PARAM_VM86_TSS_SIZED, HVM_PARAM_MCA_CAP, HVM_NR_PARAMS);
    consts!(t, hvm::hvm_op: HVMOP_set_param, HVMOP_get_param, HVMOP_set_evtchn_upcall_vector);
    structs!(t, hvm::hvm_op: xen_hvm_param { domid, pad, index, value });
    structs!(t, hvm::hvm_op: xen_hvm_evtchn_upcall_vector { vcpu, vector });

    // sched.h
    consts!(t, sched: SCHEDOP_yield, SCHEDOP_block, SCHEDOP_shutdown, SCHEDOP_poll,
        SCHEDOP_remote_shutdown, SCHEDOP_shutdown_code, SCHEDOP_watchdog, SCHEDOP_pin_override,
        SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_suspend, SHUTDOWN_crash,
        SHUTDOWN_watchdog, SHUTDOWN_soft_reset, SHUTDOWN_MAX);
    structs!(t, sched: sched_shutdown { reason });
    structs!(t, sched: sched_poll { ports [handle], nr_ports, timeout });

    // version.h
    consts!(t, version: XENVER_version, XENVER_extraversion, XENVER_compile_info,
        XENVER_capabilities, XENVER_changeset, XENVER_platform_parameters, XENVER_get_features,
        XENVER_pagesize, XENVER_guest_handle, XENVER_commandline, XENVER_build_id,
        XEN_EXTRAVERSION_LEN, XEN_CAPABILITIES_INFO_LEN, XEN_CHANGESET_INFO_LEN);
    aliases!(t, version: xen_extraversion_t, xen_capabilities_info_t, xen_changeset_info_t);
    structs!(t, version: xen_compile_info {
        compiler, compile_by, compile_domain, compile_date
    });
    structs!(t, version: xen_platform_parameters { virt_start });
    structs!(t, version: xen_feature_info { submap_idx, submap });

    // features.h
    consts!(t, features: XENFEAT_writable_page_tables, XENFEAT_writable_descriptor_tables,
        XENFEAT_auto_translated_physmap, XENFEAT_supervisor_mode_kernel,
        XENFEAT_pae_pgdir_above_4gb, XENFEAT_mmu_pt_update_preserve_ad,
        XENFEAT_highmem_assist, XENFEAT_gnttab_map_avail_bits, XENFEAT_hvm_callback_vector,
        XENFEAT_hvm_safe_pvclock, XENFEAT_hvm_pirqs, XENFEAT_dom0, XENFEAT_memory_op_vnode_supported, XENFEAT_ARM_SMCCC_supported,
        XENFEAT_linux_rsdp_unrestricted, XENFEAT_not_direct_mapped, XENFEAT_direct_mapped,
        XENFEAT_NR_SUBMAPS);

    // io/ring.h
    aliases!(t, io::ring: RING_IDX);
    consts!(t, io::ring: XEN_PAGE_SHIFT);
    structs!(t, io::ring: sring_header as "struct blkif_sring"
        size "offsetof(struct blkif_sring, ring)" {
        req_prod, req_event, rsp_prod, rsp_event, pvt [union], __pad
    });
    for entry in PROBE_RING_ENTRY_SIZES {
        for pages in [1usize, 2, 3, 4, 8, 16, 32] {
            t.ring_sizes.push((
                format!("const_ring_size({pages},{entry})"),
                format!("__CONST_RING_SIZE(probe{entry}, {pages} * 4096)"),
                i128::from(xen_public_headers::io::ring::const_ring_size(pages, entry)),
            ));
        }
    }

    // io/xs_wire.h
    consts!(t, io::xs_wire: XS_CONTROL, XS_DEBUG, XS_DIRECTORY, XS_READ, XS_GET_PERMS,
        XS_WATCH, XS_UNWATCH, XS_TRANSACTION_START, XS_TRANSACTION_END, XS_INTRODUCE,
        XS_RELEASE, XS_GET_DOMAIN_PATH, XS_WRITE, XS_MKDIR, XS_RM, XS_SET_PERMS,
        XS_WATCH_EVENT, XS_ERROR, XS_IS_DOMAIN_INTRODUCED, XS_RESUME, XS_SET_TARGET,
        XS_RESET_WATCHES, XS_DIRECTORY_PART, XS_TYPE_COUNT, XS_INVALID, XS_WATCH_PATH,
        XS_WATCH_TOKEN, XS_WRITE_NONE, XS_WRITE_CREATE, XS_WRITE_CREATE_EXCL, xsd_errors,
        XENSTORE_RING_SIZE, XENSTORE_PAYLOAD_MAX, XENSTORE_ABS_PATH_MAX,
        XENSTORE_REL_PATH_MAX, XENSTORE_SERVER_FEATURE_RECONNECTION,
        XENSTORE_SERVER_FEATURE_ERROR, XENSTORE_CONNECTED, XENSTORE_RECONNECT,
        XENSTORE_ERROR_NONE, XENSTORE_ERROR_COMM, XENSTORE_ERROR_RINGIDX,
        XENSTORE_ERROR_PROTO);
    aliases!(t, io::xs_wire: XENSTORE_RING_IDX);
    structs!(t, io::xs_wire: xsd_sockmsg { r#type = "type", req_id, tx_id, len });
    structs!(t, io::xs_wire: xenstore_domain_interface {
        req, rsp, req_cons, req_prod, rsp_cons, rsp_prod, server_features, connection, error
    });

    // io/xenbus.h
    aliases!(t, io::xenbus: XenbusState);
    consts!(t, io::xenbus: XenbusStateUnknown, XenbusStateInitialising, XenbusStateInitWait,
        XenbusStateInitialised, XenbusStateConnected, XenbusStateClosing, XenbusStateClosed,
        XenbusStateReconfiguring, XenbusStateReconfigured);

    // io/console.h
    aliases!(t, io::console: XENCONS_RING_IDX);
    structs!(t, io::console: xencons_interface {
        r#in = "in", out, in_cons, in_prod, out_cons, out_prod
    });

    // io/protocols.h
    consts!(t, io::protocols: XEN_IO_PROTO_ABI_X86_32, XEN_IO_PROTO_ABI_X86_64,
        XEN_IO_PROTO_ABI_ARM, XEN_IO_PROTO_ABI_NATIVE);

    // io/blkif.h
    aliases!(t, io::blkif: blkif_vdev_t, blkif_sector_t);
    consts!(t, io::blkif: BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_WRITE_BARRIER,
        BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_RESERVED_1, BLKIF_OP_DISCARD, BLKIF_OP_INDIRECT,
        BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
        BLKIF_DISCARD_SECURE, BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY,
        VDISK_CDROM, VDISK_REMOVABLE, VDISK_READONLY,
        BLKIF_RING_ENTRY_SIZE = "sizeof(union blkif_sring_entry)",
        BLKIF_RING_SIZE = "__CONST_RING_SIZE(blkif, 4096)");
    structs!(t, io::blkif: blkif_request_segment { gref, first_sect, last_sect });
    structs!(t, io::blkif: blkif_request {
        operation, nr_segments, handle, id, sector_number, seg
    });
    structs!(t, io::blkif: blkif_request_discard {
        operation, flag, handle, id, sector_number, nr_sectors
    });
    structs!(t, io::blkif: blkif_request_indirect {
        operation, indirect_op, nr_segments, id, sector_number, handle, indirect_grefs
    });
    structs!(t, io::blkif: blkif_response { id, operation, status });

    // io/netif.h
    consts!(t, io::netif: XEN_NETIF_NR_SLOTS_MIN, XEN_NETIF_MAX_TX_SIZE, NETTXF_csum_blank,
        NETTXF_data_validated, NETTXF_more_data, NETTXF_extra_info, NETRXF_data_validated,
        NETRXF_csum_blank, NETRXF_more_data, NETRXF_extra_info, NETRXF_gso_prefix,
        XEN_NETIF_EXTRA_TYPE_NONE, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
        XEN_NETIF_EXTRA_TYPE_MCAST_DEL, XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_MAX,
        XEN_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_GSO_TYPE_NONE, XEN_NETIF_GSO_TYPE_TCPV4,
        XEN_NETIF_GSO_TYPE_TCPV6, _XEN_NETIF_CTRL_HASH_TYPE_IPV4, XEN_NETIF_CTRL_HASH_TYPE_IPV4,
        _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
        _XEN_NETIF_CTRL_HASH_TYPE_IPV6, XEN_NETIF_CTRL_HASH_TYPE_IPV6,
        _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP, XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP,
        XEN_NETIF_CTRL_HASH_ALGORITHM_NONE, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
        NETIF_RSP_DROPPED, NETIF_RSP_ERROR, NETIF_RSP_OKAY, NETIF_RSP_NULL,
        XEN_NETIF_TX_RING_ENTRY_SIZE = "sizeof(union netif_tx_sring_entry)",
        XEN_NETIF_RX_RING_ENTRY_SIZE = "sizeof(union netif_rx_sring_entry)",
        XEN_NETIF_TX_RING_SIZE = "__CONST_RING_SIZE(netif_tx, 4096)",
        XEN_NETIF_RX_RING_SIZE = "__CONST_RING_SIZE(netif_rx, 4096)");
    structs!(t, io::netif: netif_tx_request { gref, offset, flags, id, size });
    structs!(t, io::netif: netif_tx_response { id, status });
    structs!(t, io::netif: netif_rx_request { id, pad, gref });
    structs!(t, io::netif: netif_rx_response { id, offset, flags, status });
    structs!(t, io::netif: netif_extra_info { r#type = "type", flags, u [union] });
    structs!(t, io::netif: netif_extra_info_gso
        as "__typeof__(((struct netif_extra_info *)0)->u.gso)" {
        size, r#type = "type", pad, features
    });
    structs!(t, io::netif: netif_extra_info_mcast
        as "__typeof__(((struct netif_extra_info *)0)->u.mcast)" { addr });
    structs!(t, io::netif: netif_extra_info_hash
        as "__typeof__(((struct netif_extra_info *)0)->u.hash)" {
        r#type = "type", algorithm, value
    });

    t
}

/// Entry sizes of the synthetic `PROBE_RING`s in the C prelude.
const PROBE_RING_ENTRY_SIZES: [usize; 15] = [
    1, 3, 8, 12, 16, 24, 36, 64, 112, 200, 1000, 2016, 4032, 4033, 5000,
];

const C_PRELUDE: &str = r#"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#define xen_mb() __sync_synchronize()
#define xen_rmb() __sync_synchronize()
#define xen_wmb() __sync_synchronize()
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/hvm/params.h>
#include <xen/hvm/hvm_op.h>
#include <xen/sched.h>
#include <xen/version.h>
#include <xen/features.h>
#include <xen/arch-x86/cpuid.h>
#include <errno.h>
#include <xen/io/ring.h>
#include <xen/io/xs_wire.h>
#include <xen/io/xenbus.h>
#include <xen/io/console.h>
#include <xen/io/protocols.h>
#include <xen/io/blkif.h>
#include <xen/io/netif.h>

/* Rings of synthetic entry sizes, to compare __CONST_RING_SIZE with the Rust const fn. */
#define PROBE_RING(n) \
    struct probe_entry_##n { char bytes[n]; }; \
    DEFINE_RING_TYPES(probe##n, struct probe_entry_##n, struct probe_entry_##n);
PROBE_RING(1) PROBE_RING(3) PROBE_RING(8) PROBE_RING(12) PROBE_RING(16) PROBE_RING(24)
PROBE_RING(36) PROBE_RING(64) PROBE_RING(112) PROBE_RING(200) PROBE_RING(1000)
PROBE_RING(2016) PROBE_RING(4032) PROBE_RING(4033) PROBE_RING(5000)

static void print_int(const char *key, int negative, unsigned long long magnitude)
{
    printf("%s %s%llu\n", key, negative ? "-" : "", magnitude);
}
#define PI(key, expr) \
    do { \
        if ((expr) < 0) \
            print_int(key, 1, -(unsigned long long)(long long)(expr)); \
        else \
            print_int(key, 0, (unsigned long long)(expr)); \
    } while (0)
/* Same encoding as the Rust `IntegerKind`; plain char counts as unsigned (Rust uses u8). */
#define KIND(x) _Generic((x), \
    char: 0, unsigned char: 0, unsigned short: 0, unsigned int: 0, unsigned long: 0, \
    unsigned long long: 0, signed char: 1, short: 1, int: 1, long: 1, long long: 1, \
    char *: 0, unsigned char *: 0, unsigned short *: 0, unsigned int *: 0, \
    unsigned long *: 0, unsigned long long *: 0, signed char *: 1, short *: 1, int *: 1, \
    long *: 1, long long *: 1, default: 2)
static void print_str(const char *key, const char *s)
{
    printf("%s x", key);
    for (; *s; s++)
        printf("%02x", (unsigned char)*s);
    printf("\n");
}

int main(void)
{
"#;

fn hex(s: &str) -> String {
    s.bytes().fold(String::from("x"), |mut acc, b| {
        let _ = write!(acc, "{b:02x}");
        acc
    })
}

/// The C program, and the lines it must print when the Rust side agrees with C.
fn generate(t: &Table) -> (String, BTreeMap<String, String>) {
    let mut c = String::from(C_PRELUDE);
    let mut expected = BTreeMap::new();
    let int =
        |c: &mut String, e: &mut BTreeMap<String, String>, key: String, expr: &str, v: i128| {
            let _ = writeln!(c, "    PI(\"{key}\", {expr});");
            e.insert(key, v.to_string());
        };
    for s in &t.structs {
        let size_expr = s
            .c_size
            .clone()
            .unwrap_or_else(|| format!("sizeof({})", s.c_type));
        int(
            &mut c,
            &mut expected,
            format!("size:{}", s.key),
            &size_expr,
            s.size as i128,
        );
        if s.c_size.is_none() {
            int(
                &mut c,
                &mut expected,
                format!("align:{}", s.key),
                &format!("_Alignof({})", s.c_type),
                s.align as i128,
            );
        }
        for f in &s.fields {
            let key = format!("{}.{}", s.key, f.name);
            int(
                &mut c,
                &mut expected,
                format!("offset:{key}"),
                &format!("offsetof({}, {})", s.c_type, f.c_name),
                f.offset as i128,
            );
            int(
                &mut c,
                &mut expected,
                format!("size:{key}"),
                &format!("sizeof((({} *)0)->{})", s.c_type, f.c_name),
                f.size as i128,
            );
            int(
                &mut c,
                &mut expected,
                format!("kind:{key}"),
                &format!("KIND((({} *)0)->{})", s.c_type, f.c_name),
                i128::from(f.kind),
            );
        }
    }
    for a in &t.aliases {
        int(
            &mut c,
            &mut expected,
            format!("size:{}", a.key),
            &format!("sizeof({})", a.c_type),
            a.size as i128,
        );
        if let Some(signed) = a.signed {
            int(
                &mut c,
                &mut expected,
                format!("signed:{}", a.key),
                &format!("(({})-1 < 0)", a.c_type),
                i128::from(signed),
            );
        }
    }
    for (key, expr, value) in &t.ring_sizes {
        int(&mut c, &mut expected, format!("ring:{key}"), expr, *value);
    }
    for k in &t.consts {
        let key = format!("const:{}", k.key);
        match &k.value {
            Value::Int(v) => int(&mut c, &mut expected, key, &k.c_expr, *v),
            Value::Str(s) => {
                let _ = writeln!(c, "    print_str(\"{key}\", {});", k.c_expr);
                expected.insert(key, hex(s));
            }
            Value::ErrorTable(rows) => {
                let _ = writeln!(
                    c,
                    "    PI(\"{key}.len\", sizeof({0}) / sizeof({0}[0]));\n    \
                     for (size_t i = 0; i < sizeof({0}) / sizeof({0}[0]); i++) {{\n        \
                     char k[128];\n        \
                     snprintf(k, sizeof k, \"{key}[%zu].num\", i);\n        \
                     PI(k, {0}[i].errnum);\n        \
                     snprintf(k, sizeof k, \"{key}[%zu].name\", i);\n        \
                     print_str(k, {0}[i].errstring);\n    }}",
                    k.c_expr
                );
                expected.insert(format!("{key}.len"), rows.len().to_string());
                for (i, (num, name)) in rows.iter().enumerate() {
                    expected.insert(format!("{key}[{i}].num"), num.to_string());
                    expected.insert(format!("{key}[{i}].name"), hex(name));
                }
            }
        }
    }
    c.push_str("    return 0;\n}\n");
    (c, expected)
}

const MISSING_HEADERS: &str = "the Xen C headers are missing (/usr/include/xen/xen.h): \
     install them with `apt-get install libxen-dev`; this check never skips";

/// Compiles and runs the probe, returning its `key value` lines.
fn run_probe(c_source: &str) -> BTreeMap<String, String> {
    assert!(
        Path::new("/usr/include/xen/xen.h").is_file(),
        "{MISSING_HEADERS}"
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("xen-abi-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create probe directory");
    let source = dir.join("probe.c");
    let binary = dir.join("probe");
    std::fs::write(&source, c_source).expect("write probe.c");
    let output = Command::new("gcc")
        .args([
            "-std=gnu11",
            "-O0",
            // The newest interface the headers offer, as modern guests use.
            "-D__XEN_INTERFACE_VERSION__=__XEN_LATEST_INTERFACE_VERSION__",
            "-o",
        ])
        .arg(&binary)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| panic!("cannot run gcc (apt-get install gcc): {e}"));
    assert!(
        output.status.success(),
        "gcc failed on {} (if the Xen headers are missing: apt-get install libxen-dev):\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let run = Command::new(&binary).output().expect("run the probe");
    assert!(run.status.success(), "probe exited with {}", run.status);
    // Kept on failure above for inspection; removed once it ran.
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(run.stdout)
        .expect("probe output is ASCII")
        .lines()
        .map(|line| {
            let (k, v) = line.split_once(' ').expect("probe line is `key value`");
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn layout_matches_c_headers() {
    let table = probe_table();
    let (c_source, expected) = generate(&table);
    let actual = run_probe(&c_source);
    let mut mismatches = Vec::new();
    for (key, want) in &expected {
        match actual.get(key) {
            Some(got) if got == want => {}
            Some(got) => mismatches.push(format!("{key}: Rust {want}, C {got}")),
            None => mismatches.push(format!("{key}: not printed by the C probe")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches between the crate and the C headers:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The comparison above covered every check; make sure it was not vacuous.
    assert_eq!(
        actual.len(),
        expected.len(),
        "probe printed unexpected lines"
    );
    assert!(expected.len() > 300, "only {} checks", expected.len());
}

/// Items declared in `src/`: `const:`, `struct:`, `type:` and `field:` keys.
fn scan_sources() -> BTreeSet<String> {
    fn module_path(src: &Path, file: &Path) -> String {
        let rel = file.strip_prefix(src).expect("file under src");
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
            parts.pop();
        }
        parts.join("::")
    }
    fn visit(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                visit(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    fn ident(rest: &str) -> String {
        rest.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    let mut items = BTreeSet::new();
    for file in files {
        let module = module_path(&src, &file);
        let text = std::fs::read_to_string(&file).expect("read source");
        let mut current_struct: Option<String> = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(name) = &current_struct {
                if line.starts_with('}') {
                    current_struct = None;
                } else if let Some(rest) = line.strip_prefix("pub ") {
                    let field = ident(rest.trim_start_matches("r#"));
                    if !field.starts_with("_pad") {
                        items.insert(format!("field:{module}::{name}.{field}"));
                    }
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("pub struct ") {
                let name = ident(rest);
                items.insert(format!("struct:{module}::{name}"));
                if line.ends_with('{') {
                    current_struct = Some(name);
                }
            } else if let Some(rest) = line.strip_prefix("pub const ") {
                if !rest.starts_with("fn ") {
                    items.insert(format!("const:{module}::{}", ident(rest)));
                }
            } else if let Some(rest) = line.strip_prefix("pub type ") {
                items.insert(format!("type:{module}::{}", ident(rest)));
            }
        }
    }
    items
}

#[test]
fn every_public_item_is_probed() {
    let table = probe_table();
    let mut probed = BTreeSet::new();
    for k in &table.consts {
        probed.insert(format!("const:{}", k.key));
    }
    for a in &table.aliases {
        probed.insert(format!("type:{}", a.key));
    }
    for s in &table.structs {
        probed.insert(format!("struct:{}", s.key));
        for f in &s.fields {
            probed.insert(format!("field:{}.{}", s.key, f.name));
        }
    }
    let declared = scan_sources();
    let unprobed: Vec<_> = declared.difference(&probed).collect();
    let unknown: Vec<_> = probed.difference(&declared).collect();
    assert!(
        unprobed.is_empty(),
        "public items without an entry in probe_table (add them so C checks them):\n{unprobed:#?}"
    );
    assert!(
        unknown.is_empty(),
        "probe_table entries the source scan did not find (scanner out of date?):\n{unknown:#?}"
    );
    assert!(
        declared.len() > 300,
        "scan found only {} items",
        declared.len()
    );
}
