//! The local APIC and the I/O APIC (xAPIC MMIO at 0xFEE00000 and 0xFEC00000, which `boot.rs`
//! maps uncached), as far as the callback interrupt needs them: software enable with a spurious
//! vector, task priority 0, the local timer and LINT0 masked, end of interrupt, and one I/O APIC
//! redirection entry. Register access goes through volatile 32-bit operations on
//! [`SharedMemory`] windows of the identity map (no `unsafe` here).

use core::sync::atomic::Ordering;

use xen_hal::SharedMemory;

use crate::platform;

/// IA32_APIC_BASE.
const IA32_APIC_BASE: u32 = 0x1b;
/// IA32_APIC_BASE: the APIC is globally enabled.
const APIC_GLOBAL_ENABLE: u64 = 1 << 11;
/// IA32_APIC_BASE: x2APIC mode (MMIO registers unavailable).
const APIC_X2APIC_MODE: u64 = 1 << 10;
/// Where the I/O APIC is on PC-compatible machines (and in every Xen HVM guest).
pub const IOAPIC_BASE: u64 = 0xfec0_0000;

// Local APIC register offsets (Intel SDM vol. 3, table "Local APIC Register Address Map").
const LAPIC_ID: usize = 0x20;
const LAPIC_VERSION: usize = 0x30;
const LAPIC_TPR: usize = 0x80;
const LAPIC_EOI: usize = 0xb0;
const LAPIC_SVR: usize = 0xf0;
const LAPIC_ISR: usize = 0x100;
const LAPIC_IRR: usize = 0x200;
const LAPIC_ICR_LOW: usize = 0x300;
const LAPIC_LVT_TIMER: usize = 0x320;
const LAPIC_LVT_LINT0: usize = 0x350;
const LAPIC_LVT_ERROR: usize = 0x370;
const LAPIC_SIZE: usize = 0x400;
/// SVR bit 8: APIC software enable.
const SVR_ENABLE: u32 = 1 << 8;
/// LVT and redirection entries: masked.
const MASKED: u32 = 1 << 16;

// I/O APIC: index register, data window, and registers reached through them.
const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const IOAPIC_SIZE: usize = 0x20;
const IOAPIC_VERSION: u32 = 0x01;
const IOAPIC_REDIRECTION: u32 = 0x10;
/// Redirection entry: level-triggered.
const LEVEL: u32 = 1 << 15;
/// Redirection entry: active low.
const ACTIVE_LOW: u32 = 1 << 13;
/// Redirection entry: Remote IRR (a level interrupt accepted, no EOI yet).
const REMOTE_IRR: u32 = 1 << 14;

/// Why the interrupt controllers could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApicError {
    /// IA32_APIC_BASE says the local APIC is disabled or in x2APIC mode.
    LocalApicUnusable(u64),
    /// The register window is outside the identity map.
    NoWindow(u64),
    /// No event-channel table was handed to the interrupt path (`irq::adopt`).
    NoEventTable,
    /// The I/O APIC has no pin for this GSI (it has `pins`).
    NoSuchPin {
        /// The GSI asked for.
        gsi: u32,
        /// Redirection entries of the I/O APIC.
        pins: u32,
    },
}

impl core::fmt::Display for ApicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ApicError::LocalApicUnusable(msr) => {
                write!(f, "local APIC unusable (IA32_APIC_BASE {msr:#x})")
            }
            ApicError::NoWindow(address) => write!(f, "no window onto {address:#x}"),
            ApicError::NoEventTable => write!(f, "no event-channel table adopted"),
            ApicError::NoSuchPin { gsi, pins } => {
                write!(f, "the I/O APIC has {pins} pins, none for GSI {gsi}")
            }
        }
    }
}

/// The boot CPU's local APIC.
#[derive(Clone, Copy, Debug)]
pub struct LocalApic {
    regs: SharedMemory,
    base: u64,
}

impl LocalApic {
    /// The local APIC named by IA32_APIC_BASE (xAPIC mode, globally enabled).
    pub fn find() -> Result<LocalApic, ApicError> {
        let msr = platform::read_msr(IA32_APIC_BASE);
        if msr & APIC_GLOBAL_ENABLE == 0 || msr & APIC_X2APIC_MODE != 0 {
            return Err(ApicError::LocalApicUnusable(msr));
        }
        let base = msr & 0x000f_ffff_ffff_f000;
        let regs = platform::identity_window(base, LAPIC_SIZE).ok_or(ApicError::NoWindow(base))?;
        Ok(LocalApic { regs, base })
    }

    /// Physical address of the registers.
    pub fn base(&self) -> u64 {
        self.base
    }

    fn read(&self, register: usize) -> u32 {
        self.regs
            .load_u32(register, Ordering::SeqCst)
            .unwrap_or(u32::MAX)
    }

    fn write(&self, register: usize, value: u32) {
        let _ = self.regs.store_u32(register, value, Ordering::SeqCst);
    }

    /// This CPU's APIC id (the destination of the redirection entry).
    pub fn id(&self) -> u8 {
        (self.read(LAPIC_ID) >> 24) as u8
    }

    /// The version register.
    pub fn version(&self) -> u32 {
        self.read(LAPIC_VERSION)
    }

    /// Software-enables the APIC with `spurious` as the spurious-interrupt vector, task
    /// priority 0 (every vector accepted), and the timer, LINT0 (the 8259's virtual-wire
    /// input) and error LVTs masked: only I/O APIC messages reach this CPU.
    pub fn enable(&self, spurious: u8) {
        self.write(LAPIC_LVT_TIMER, MASKED);
        self.write(LAPIC_LVT_LINT0, MASKED);
        self.write(LAPIC_LVT_ERROR, MASKED);
        self.write(LAPIC_TPR, 0);
        self.write(LAPIC_SVR, SVR_ENABLE | u32::from(spurious));
    }

    /// The spurious-interrupt vector register.
    pub fn svr(&self) -> u32 {
        self.read(LAPIC_SVR)
    }

    /// Signals end of interrupt (for a level-triggered I/O APIC source this also clears the
    /// entry's Remote IRR, so a still-asserted line is delivered again).
    pub fn eoi(&self) {
        self.write(LAPIC_EOI, 0);
    }

    /// Sends `vector` to this CPU (ICR: fixed delivery, edge, assert, destination shorthand
    /// "self"); it is taken once interrupts are enabled.
    pub fn send_self(&self, vector: u8) {
        const ASSERT: u32 = 1 << 14;
        const SHORTHAND_SELF: u32 = 1 << 18;
        self.write(LAPIC_ICR_LOW, u32::from(vector) | ASSERT | SHORTHAND_SELF);
    }

    /// Whether `vector` is set in the in-service (`isr = true`) or request register.
    pub fn vector_bit(&self, vector: u8, isr: bool) -> bool {
        let base = if isr { LAPIC_ISR } else { LAPIC_IRR };
        let register = base + usize::from(vector / 32) * 0x10;
        self.read(register) & (1 << (vector % 32)) != 0
    }
}

/// One redirection entry, decoded for logging.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redirection {
    /// Low dword (vector, delivery, polarity, trigger, mask).
    pub low: u32,
    /// High dword (destination in bits 31:24).
    pub high: u32,
}

impl Redirection {
    /// The entry for a PCI INTx line: `vector`, fixed delivery, physical destination
    /// `apic_id`, active low, level-triggered, unmasked.
    pub fn pci_intx(vector: u8, apic_id: u8) -> Redirection {
        Redirection {
            low: u32::from(vector) | ACTIVE_LOW | LEVEL,
            high: u32::from(apic_id) << 24,
        }
    }

    /// Whether the entry is masked.
    pub fn masked(&self) -> bool {
        self.low & MASKED != 0
    }

    /// Whether a level interrupt was accepted and awaits its EOI.
    pub fn remote_irr(&self) -> bool {
        self.low & REMOTE_IRR != 0
    }
}

/// The I/O APIC.
#[derive(Clone, Copy, Debug)]
pub struct IoApic {
    regs: SharedMemory,
}

impl IoApic {
    /// The I/O APIC at [`IOAPIC_BASE`].
    pub fn find() -> Result<IoApic, ApicError> {
        let regs = platform::identity_window(IOAPIC_BASE, IOAPIC_SIZE)
            .ok_or(ApicError::NoWindow(IOAPIC_BASE))?;
        Ok(IoApic { regs })
    }

    fn read(&self, register: u32) -> u32 {
        let _ = self.regs.store_u32(IOREGSEL, register, Ordering::SeqCst);
        self.regs.load_u32(IOWIN, Ordering::SeqCst).unwrap_or(0)
    }

    fn write(&self, register: u32, value: u32) {
        let _ = self.regs.store_u32(IOREGSEL, register, Ordering::SeqCst);
        let _ = self.regs.store_u32(IOWIN, value, Ordering::SeqCst);
    }

    /// Number of redirection entries (pins).
    pub fn pins(&self) -> u32 {
        ((self.read(IOAPIC_VERSION) >> 16) & 0xff) + 1
    }

    /// Reads redirection entry `pin` (no check against [`IoApic::pins`]).
    pub fn entry(&self, pin: u32) -> Redirection {
        let register = IOAPIC_REDIRECTION + 2 * pin;
        Redirection {
            low: self.read(register),
            high: self.read(register + 1),
        }
    }

    /// Masks every redirection entry (nothing but the callback reaches the CPU afterwards).
    pub fn mask_all(&self) {
        for pin in 0..self.pins() {
            let register = IOAPIC_REDIRECTION + 2 * pin;
            let low = self.read(register);
            self.write(register, low | MASKED);
        }
    }

    /// Programs entry `gsi` (masked while the destination is written, then `entry` as given).
    pub fn program(&self, gsi: u32, entry: Redirection) -> Result<(), ApicError> {
        let pins = self.pins();
        if gsi >= pins {
            return Err(ApicError::NoSuchPin { gsi, pins });
        }
        let register = IOAPIC_REDIRECTION + 2 * gsi;
        self.write(register, MASKED);
        self.write(register + 1, entry.high);
        self.write(register, entry.low);
        Ok(())
    }

    /// Masks entry `gsi` (no effect if there is no such pin).
    pub fn mask(&self, gsi: u32) {
        if gsi < self.pins() {
            let register = IOAPIC_REDIRECTION + 2 * gsi;
            let low = self.read(register);
            self.write(register, low | MASKED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_intx_entry_is_level_active_low_unmasked() {
        let entry = Redirection::pci_intx(0x50, 3);
        assert_eq!(entry.low & 0xff, 0x50);
        assert_eq!(entry.low & (7 << 8), 0, "fixed delivery");
        assert_eq!(entry.low & (1 << 11), 0, "physical destination");
        assert_ne!(entry.low & LEVEL, 0);
        assert_ne!(entry.low & ACTIVE_LOW, 0);
        assert!(!entry.masked());
        assert_eq!(entry.high, 3 << 24);
    }
}
