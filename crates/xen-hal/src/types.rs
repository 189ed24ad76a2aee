//! Newtypes for the identifiers Xen hands out, so a port is never passed where a grant reference belongs.

/// A domain id (`domid_t`). Dom0 is 0; `DOMID_SELF` is 0x7FF0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainId(pub u16);

impl DomainId {
    /// The control domain.
    pub const DOM0: DomainId = DomainId(0);
    /// `DOMID_SELF`: the calling domain.
    pub const SELF: DomainId = DomainId(0x7FF0);
}

/// An event channel port (`evtchn_port_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventChannelPort(pub u32);

/// A grant reference (`grant_ref_t`): an index into the granting domain's grant table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantRef(pub u32);

/// A guest page frame number (guest physical address >> 12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pfn(pub u64);

impl Pfn {
    /// The guest physical address of the first byte of the frame.
    pub const fn address(self) -> u64 {
        self.0 << crate::memory::PAGE_SHIFT
    }
}

/// A virtual CPU number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VcpuId(pub u32);
