//! Finding Xen through its CPUID leaves, from any `cpuid` function (real or a test table).
//!
//! Xen places its leaves at `0x40000000 + 0x100 * n`. A guest with Viridian (Hyper-V
//! enlightenments) enabled sees Hyper-V's leaves at `0x40000000` and Xen's at `0x40000100`, so
//! every candidate base is scanned, as Linux does.

use xen_hal::XenVersion;
use xen_public_headers::arch_x86::cpuid::{
    XEN_CPUID_FIRST_LEAF, XEN_CPUID_SIGNATURE_EBX, XEN_CPUID_SIGNATURE_ECX, XEN_CPUID_SIGNATURE_EDX,
};

/// The first candidate base leaf of a hypervisor.
pub const XEN_CPUID_FIRST_BASE: u32 = XEN_CPUID_FIRST_LEAF;
/// Distance between candidate base leaves.
pub const XEN_CPUID_BASE_STRIDE: u32 = 0x100;
/// Number of candidate base leaves scanned (`0x40000000..=0x4000FF00`).
pub const XEN_CPUID_BASE_COUNT: u32 = 0x100;
/// The signature in EBX, ECX, EDX of Xen's base leaf.
pub const XEN_CPUID_SIGNATURE: &[u8; 12] = b"XenVMMXenVMM";
/// Leaves Xen must offer past its base for this crate's use (version and hypercall page).
const XEN_CPUID_LEAVES_NEEDED: u32 = 2;
/// CPUID.1:ECX bit 31, set by every hypervisor ("hypervisor present").
const CPUID_1_ECX_HYPERVISOR: u32 = 1 << 31;

/// What Xen's CPUID leaves say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenCpuid {
    /// The base leaf (`0x40000000`, or `0x40000100` behind Viridian).
    pub base: u32,
    /// The largest Xen leaf (EAX of the base leaf).
    pub max_leaf: u32,
    /// Xen's version (leaf base+1, EAX = major << 16 | minor).
    pub version: XenVersion,
    /// Number of hypercall transfer pages (leaf base+2, EAX; Xen always reports 1).
    pub hypercall_pages: u32,
    /// The MSR that installs the hypercall page (leaf base+2, EBX).
    pub hypercall_msr: u32,
    /// Feature words 1 and 2 (leaf base+2, ECX and EDX).
    pub features: [u32; 2],
}

/// Whether a base leaf's EBX, ECX, EDX carry Xen's signature (the header's three words).
fn is_xen_signature(regs: [u32; 4]) -> bool {
    [regs[1], regs[2], regs[3]]
        == [
            XEN_CPUID_SIGNATURE_EBX,
            XEN_CPUID_SIGNATURE_ECX,
            XEN_CPUID_SIGNATURE_EDX,
        ]
}

/// Looks for Xen with `cpuid(leaf, subleaf) -> [eax, ebx, ecx, edx]`.
///
/// Returns `None` when no hypervisor is present (CPUID.1:ECX bit 31 clear) or none of the
/// candidate bases carries Xen's signature with at least the version and hypercall leaves.
/// Makes at most 259 `cpuid` calls.
pub fn detect(mut cpuid: impl FnMut(u32, u32) -> [u32; 4]) -> Option<XenCpuid> {
    if cpuid(1, 0)[2] & CPUID_1_ECX_HYPERVISOR == 0 {
        return None;
    }
    (0..XEN_CPUID_BASE_COUNT).find_map(|n| {
        let base = XEN_CPUID_FIRST_BASE + n * XEN_CPUID_BASE_STRIDE;
        let regs = cpuid(base, 0);
        let max_leaf = regs[0];
        if !is_xen_signature(regs) || max_leaf.checked_sub(base)? < XEN_CPUID_LEAVES_NEEDED {
            return None;
        }
        let version = cpuid(base + 1, 0)[0];
        let page = cpuid(base + 2, 0);
        Some(XenCpuid {
            base,
            max_leaf,
            version: XenVersion {
                major: (version >> 16) as u16,
                minor: version as u16,
            },
            hypercall_pages: page[0],
            hypercall_msr: page[1],
            features: [page[2], page[3]],
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    /// A CPUID table; leaves not in it read as zero, like an unknown leaf on many CPUs.
    struct Table {
        leaves: BTreeMap<u32, [u32; 4]>,
        calls: Vec<u32>,
    }

    fn regs_of(sig: &[u8; 12], eax: u32) -> [u32; 4] {
        let word = |i: usize| u32::from_le_bytes([sig[i], sig[i + 1], sig[i + 2], sig[i + 3]]);
        [eax, word(0), word(4), word(8)]
    }

    impl Table {
        fn new(hypervisor_bit: bool) -> Self {
            let mut leaves = BTreeMap::new();
            leaves.insert(1, [0, 0, if hypervisor_bit { 1 << 31 } else { 0 }, 0]);
            Table {
                leaves,
                calls: Vec::new(),
            }
        }
        fn with_xen(mut self, base: u32, major: u16, minor: u16) -> Self {
            self.leaves
                .insert(base, regs_of(XEN_CPUID_SIGNATURE, base + 5));
            self.leaves.insert(
                base + 1,
                [u32::from(major) << 16 | u32::from(minor), 0, 0, 0],
            );
            self.leaves.insert(base + 2, [1, 0x4000_0000, 0, 0]);
            self
        }
        fn cpuid(&mut self, leaf: u32, _subleaf: u32) -> [u32; 4] {
            self.calls.push(leaf);
            self.leaves.get(&leaf).copied().unwrap_or([0; 4])
        }
        fn detect(&mut self) -> Option<XenCpuid> {
            detect(|l, s| self.cpuid(l, s))
        }
    }

    #[test]
    fn plain_xen_at_the_first_base() {
        let mut t = Table::new(true).with_xen(0x4000_0000, 4, 17);
        let found = t.detect().unwrap();
        assert_eq!(
            found,
            XenCpuid {
                base: 0x4000_0000,
                max_leaf: 0x4000_0005,
                version: XenVersion {
                    major: 4,
                    minor: 17
                },
                hypercall_pages: 1,
                hypercall_msr: 0x4000_0000,
                features: [0, 0],
            }
        );
        // Stops at the first match: leaf 1, base, base+1, base+2.
        assert_eq!(t.calls, [1, 0x4000_0000, 0x4000_0001, 0x4000_0002]);
    }

    #[test]
    fn xen_behind_viridian_is_found_at_the_second_base() {
        let mut t = Table::new(true).with_xen(0x4000_0100, 4, 17);
        t.leaves
            .insert(0x4000_0000, regs_of(b"Microsoft Hv", 0x4000_0006));
        let found = t.detect().unwrap();
        assert_eq!(found.base, 0x4000_0100);
        assert_eq!(found.version.minor, 17);
        assert_eq!(found.hypercall_msr, 0x4000_0000);
    }

    #[test]
    fn xen_at_the_last_base_is_found() {
        let mut t = Table::new(true).with_xen(0x4000_FF00, 4, 19);
        assert_eq!(t.detect().unwrap().base, 0x4000_FF00);
    }

    #[test]
    fn kvm_is_not_xen() {
        let mut t = Table::new(true);
        t.leaves
            .insert(0x4000_0000, regs_of(b"KVMKVMKVM\0\0\0", 0x4000_0001));
        assert_eq!(t.detect(), None);
        // The whole range was scanned, and nothing past it.
        assert_eq!(t.calls.len(), 1 + 0x100);
        assert_eq!(t.calls.last(), Some(&0x4000_FF00));
    }

    #[test]
    fn bare_metal_is_not_scanned() {
        // Intel returns the highest basic leaf's data for unknown leaves: that must not matter.
        let mut t = Table::new(false).with_xen(0x4000_0000, 4, 17);
        assert_eq!(t.detect(), None);
        assert_eq!(t.calls, [1]);
    }

    #[test]
    fn no_hypervisor_leaves_at_all() {
        let mut t = Table::new(true);
        assert_eq!(t.detect(), None);
    }

    #[test]
    fn garbage_is_rejected() {
        // Near-miss signature.
        let mut t = Table::new(true);
        t.leaves
            .insert(0x4000_0000, regs_of(b"XenVMMXenVMm", 0x4000_0005));
        assert_eq!(t.detect(), None);
        // Right signature but too few leaves, and a max leaf below the base (wraps if unchecked).
        let mut t = Table::new(true).with_xen(0x4000_0000, 4, 17);
        t.leaves.get_mut(&0x4000_0000).unwrap()[0] = 0x4000_0001;
        assert_eq!(t.detect(), None);
        t.leaves.get_mut(&0x4000_0000).unwrap()[0] = 3;
        assert_eq!(t.detect(), None);
        // A broken first base does not hide a good second one.
        let mut t = Table::new(true).with_xen(0x4000_0100, 4, 17);
        t.leaves
            .insert(0x4000_0000, regs_of(XEN_CPUID_SIGNATURE, 0x4000_0001));
        assert_eq!(t.detect().unwrap().base, 0x4000_0100);
    }

    proptest::proptest! {
        /// Random tables never panic, and a result always names a base with Xen's signature.
        #[test]
        fn random_tables(entries in proptest::collection::vec((0u32..0x200, proptest::array::uniform4(proptest::num::u32::ANY)), 0..64), xen_at in proptest::option::of(0u32..0x100)) {
            let mut t = Table::new(true);
            for (i, regs) in entries {
                t.leaves.insert(0x4000_0000 + i, regs);
            }
            if let Some(n) = xen_at {
                t = t.with_xen(0x4000_0000 + n * 0x100, 4, 17);
            }
            let found = t.detect();
            if let Some(found) = found {
                let base = t.leaves[&found.base];
                proptest::prop_assert!(is_xen_signature(base));
                proptest::prop_assert!(base[0] >= found.base + 2);
                if let Some(n) = xen_at {
                    proptest::prop_assert!(found.base <= 0x4000_0000 + n * 0x100);
                }
            } else {
                proptest::prop_assert!(xen_at.is_none());
            }
        }
    }
}
