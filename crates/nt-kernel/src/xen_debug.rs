//! Xen's HVM debug I/O port (0xE9): bytes written there appear on the hypervisor console
//! (`xl dmesg`, prefixed `(dN)`). Used only when CPUID shows Xen and the code runs in ring 0,
//! so the same driver stays harmless on bare metal, other hypervisors and in Wine (ring 3).

use core::sync::atomic::{AtomicU8, Ordering};

/// The port Xen's `hvm_print_line` listens on.
pub const XEN_DEBUG_PORT: u16 = 0xE9;

/// CPUID hypervisor leaves are searched from here in steps of 0x100 (Xen may sit behind a
/// Viridian leaf block).
const HYPERVISOR_LEAF_BASE: u32 = 0x4000_0000;
const HYPERVISOR_LEAF_STEP: u32 = 0x100;
const HYPERVISOR_LEAF_TRIES: u32 = 16;

const UNKNOWN: u8 = 0;
const ABSENT: u8 = 1;
const PRESENT: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// `(eax, ebx, ecx, edx)` of CPUID `leaf`.
#[cfg(target_arch = "x86_64")]
fn cpuid(leaf: u32) -> (u32, u32, u32, u32) {
    let (eax, ebx, ecx, edx): (u32, u32, u32, u32);
    // SAFETY: CPUID has no side effects; rbx is reserved by LLVM, so it is saved in a scratch
    // register and restored.
    unsafe {
        core::arch::asm!(
            "mov {tmp:r}, rbx",
            "cpuid",
            "xchg {tmp:r}, rbx",
            tmp = out(reg) ebx,
            inout("eax") leaf => eax,
            inout("ecx") 0u32 => ecx,
            out("edx") edx,
            options(nostack, preserves_flags),
        )
    };
    (eax, ebx, ecx, edx)
}

/// Whether the signature registers spell `XenVMMXenVMM`.
pub fn is_xen_signature(ebx: u32, ecx: u32, edx: u32) -> bool {
    let mut sig = [0u8; 12];
    sig[..4].copy_from_slice(&ebx.to_le_bytes());
    sig[4..8].copy_from_slice(&ecx.to_le_bytes());
    sig[8..].copy_from_slice(&edx.to_le_bytes());
    &sig == b"XenVMMXenVMM"
}

/// The current privilege level (low two bits of CS).
#[cfg(target_arch = "x86_64")]
fn current_privilege_level() -> u16 {
    let cs: u16;
    // SAFETY: reading CS has no side effects.
    unsafe {
        core::arch::asm!("mov {0:x}, cs", out(reg) cs, options(nomem, nostack, preserves_flags))
    };
    cs & 3
}

/// Whether the running CPU is a Xen guest in ring 0 (cached after the first call).
#[cfg(target_arch = "x86_64")]
pub fn available() -> bool {
    match STATE.load(Ordering::Relaxed) {
        PRESENT => return true,
        ABSENT => return false,
        _ => {}
    }
    let present = current_privilege_level() == 0
        && (0..HYPERVISOR_LEAF_TRIES).any(|i| {
            let (max, ebx, ecx, edx) = cpuid(HYPERVISOR_LEAF_BASE + i * HYPERVISOR_LEAF_STEP);
            max >= HYPERVISOR_LEAF_BASE + i * HYPERVISOR_LEAF_STEP
                && is_xen_signature(ebx, ecx, edx)
        });
    STATE.store(if present { PRESENT } else { ABSENT }, Ordering::Relaxed);
    present
}

/// Never available off x86_64.
#[cfg(not(target_arch = "x86_64"))]
pub fn available() -> bool {
    let _ = (
        &STATE,
        HYPERVISOR_LEAF_BASE,
        HYPERVISOR_LEAF_STEP,
        HYPERVISOR_LEAF_TRIES,
        UNKNOWN,
        ABSENT,
        PRESENT,
    );
    false
}

/// Writes `bytes` to the debug port when [`available`]; otherwise does nothing.
pub fn write(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if available() {
        for &byte in bytes {
            // SAFETY: ring 0 on Xen (checked above): port 0xE9 is Xen's debug port, and writing
            // it only prints.
            unsafe {
                core::arch::asm!("out dx, al", in("dx") XEN_DEBUG_PORT, in("al") byte, options(nomem, nostack, preserves_flags))
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_xen_signature_only() {
        let word = |s: &[u8; 4]| u32::from_le_bytes(*s);
        assert!(is_xen_signature(
            word(b"XenV"),
            word(b"MMXe"),
            word(b"nVMM")
        ));
        assert!(!is_xen_signature(
            word(b"KVMK"),
            word(b"VMKV"),
            word(b"M\0\0\0")
        ));
    }

    #[test]
    fn host_tests_run_in_ring_3_so_the_port_is_never_touched() {
        // A user-mode test process must never reach the `out` instruction (it would fault).
        assert!(!available());
        write(b"not printed\n");
    }
}
