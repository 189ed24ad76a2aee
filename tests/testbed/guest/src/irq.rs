//! The callback interrupt, taken the way the Windows bus driver takes it: Xen raises the
//! platform device's GSI (`HVM_PARAM_CALLBACK_IRQ`, type GSI) on the virtual I/O APIC, which is
//! programmed level-triggered, active low, to this CPU's local APIC at [`CALLBACK_VECTOR`].
//! The service routine runs `xen_platform::service_upcall` (acknowledge `evtchn_upcall_pending`,
//! then collect the pending ports and call their handlers from the event-channel table, which
//! lives here so the routine can reach it) and ends with the local APIC's EOI.
//!
//! The guest runs with interrupts off except inside [`run_enabled`]; code outside the routine
//! takes the table with interrupts off ([`with_events`]), so the routine never finds it held.
//! Every vector from 32 up has a gate: a stray vector is counted and acknowledged, the local
//! APIC's spurious vector counted (it needs no EOI); nothing here panics.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use xen_evtchn::{EventChannels, HandlerBinding};
use xen_hal::{EventChannelPort, PortIo, SharedMemory};

use crate::apic::{IoApic, LocalApic, Redirection};
use crate::platform::{self, Idt, Lock, Ports};

/// The vector of the callback interrupt.
pub const CALLBACK_VECTOR: u8 = 0x50;
/// The local APIC's spurious-interrupt vector.
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// Ports one collect round of the service routine takes.
const BATCH: usize = 16;
/// Kernel code segment selector (`boot_gdt` in boot.rs).
const KERNEL_CS: u64 = 0x08;
/// Gate type: present, DPL 0, 64-bit interrupt gate (IF cleared on entry).
const INTERRUPT_GATE: u64 = 0x8e;

static IDT: Idt = [const { AtomicU64::new(0) }; 512];

/// What the service routine needs.
struct State {
    shared_info: SharedMemory,
    local_apic: Option<LocalApic>,
    events: EventChannels,
}

static STATE: Lock<Option<State>> = Lock::new(None);

static CALLBACKS: AtomicU32 = AtomicU32::new(0);
static NOT_OURS: AtomicU32 = AtomicU32::new(0);
static DISPATCHED: AtomicU32 = AtomicU32::new(0);
static UNBOUND: AtomicU32 = AtomicU32::new(0);
static LEFT_PENDING: AtomicU32 = AtomicU32::new(0);
static ERRORS: AtomicU32 = AtomicU32::new(0);
static STRAY: AtomicU32 = AtomicU32::new(0);
static LAST_STRAY: AtomicU32 = AtomicU32::new(0);
static APIC_SPURIOUS: AtomicU32 = AtomicU32::new(0);
static IN_SERVICE: AtomicBool = AtomicBool::new(false);

/// Counters of the interrupt path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Callback interrupts taken (service routine entries).
    pub callbacks: u32,
    /// Of those, with `evtchn_upcall_pending` clear (spurious: nothing scanned).
    pub not_ours: u32,
    /// Handlers called from the service routine.
    pub dispatched: u32,
    /// Pending ports without a handler.
    pub unbound: u32,
    /// Routines that hit their round bound with events left pending.
    pub left_pending: u32,
    /// Routines that failed to reach shared_info or the table.
    pub errors: u32,
    /// Interrupts on other vectors (acknowledged, otherwise ignored).
    pub stray: u32,
    /// The last such vector.
    pub last_stray: u32,
    /// Local APIC spurious interrupts.
    pub apic_spurious: u32,
}

/// The counters so far.
pub fn stats() -> Stats {
    Stats {
        callbacks: CALLBACKS.load(Ordering::SeqCst),
        not_ours: NOT_OURS.load(Ordering::SeqCst),
        dispatched: DISPATCHED.load(Ordering::SeqCst),
        unbound: UNBOUND.load(Ordering::SeqCst),
        left_pending: LEFT_PENDING.load(Ordering::SeqCst),
        errors: ERRORS.load(Ordering::SeqCst),
        stray: STRAY.load(Ordering::SeqCst),
        last_stray: LAST_STRAY.load(Ordering::SeqCst),
        apic_spurious: APIC_SPURIOUS.load(Ordering::SeqCst),
    }
}

/// Whether the caller runs inside the callback's service routine (event handlers use it to
/// tell interrupt delivery from polling).
pub fn in_service_routine() -> bool {
    IN_SERVICE.load(Ordering::SeqCst)
}

/// What [`connect`] set up.
#[derive(Clone, Copy, Debug)]
pub struct Connected {
    /// The GSI programmed.
    pub gsi: u32,
    /// Its vector.
    pub vector: u8,
    /// The destination (this CPU's APIC id).
    pub apic_id: u8,
    /// The local APIC's registers.
    pub local_apic_base: u64,
    /// The local APIC's version register.
    pub local_apic_version: u32,
    /// The spurious-interrupt vector register as read back (bit 8: enabled).
    pub local_apic_svr: u32,
    /// The I/O APIC's pins.
    pub ioapic_pins: u32,
    /// The redirection entry as read back.
    pub entry: Redirection,
}

/// The 16-byte gate of `vector` as two words, or `None` if the vector has no stub.
fn gate(vector: u8) -> Option<(u64, u64)> {
    platform::interrupt_stub(vector).map(encode_gate)
}

/// A 64-bit interrupt gate to `handler` in the kernel code segment, IST 0, as two words.
fn encode_gate(handler: u64) -> (u64, u64) {
    let low = (handler & 0xffff)
        | (KERNEL_CS << 16)
        | (INTERRUPT_GATE << 40)
        | ((handler >> 16) & 0xffff) << 48;
    (low, handler >> 32)
}

/// Takes the platform's event-channel table (and its shared_info) over, for the service
/// routine and for everyone else through [`with_events`].
pub fn adopt(shared_info: SharedMemory, events: EventChannels) {
    let _ = platform::without_interrupts(|| {
        STATE.with(|state| {
            *state = Some(State {
                shared_info,
                local_apic: None,
                events,
            })
        })
    });
}

/// Readies this CPU for interrupts without routing any line: the 8259s masked (their
/// virtual-wire input is masked at the local APIC too), gates for vectors 32-255 loaded, the
/// local APIC enabled (spurious vector, TPR 0) and every I/O APIC entry masked. Needs
/// [`adopt`] first. Interrupts stay off.
pub fn prepare_cpu() -> Result<(LocalApic, IoApic), crate::apic::ApicError> {
    platform::disable_interrupts();
    let io = Ports;
    io.write_u8(0x21, 0xff);
    io.write_u8(0xa1, 0xff);
    for vector in 0..=255u8 {
        if let Some((low, high)) = gate(vector) {
            let index = usize::from(vector) * 2;
            if let (Some(l), Some(h)) = (IDT.get(index), IDT.get(index + 1)) {
                l.store(low, Ordering::SeqCst);
                h.store(high, Ordering::SeqCst);
            }
        }
    }
    platform::load_idt(&IDT);
    let local_apic = LocalApic::find()?;
    local_apic.enable(SPURIOUS_VECTOR);
    let ioapic = IoApic::find()?;
    ioapic.mask_all();
    let adopted = STATE
        .with(|state| {
            state
                .as_mut()
                .map(|state| state.local_apic = Some(local_apic))
        })
        .flatten();
    if adopted.is_none() {
        return Err(crate::apic::ApicError::NoEventTable);
    }
    Ok((local_apic, ioapic))
}

/// Connects the callback interrupt, as IoConnectInterruptEx does for xenpci: [`prepare_cpu`],
/// then the `gsi` entry programmed for [`CALLBACK_VECTOR`]. Interrupts stay off until
/// [`run_enabled`].
pub fn connect(gsi: u32) -> Result<Connected, crate::apic::ApicError> {
    let (local_apic, ioapic) = prepare_cpu()?;
    let apic_id = local_apic.id();
    ioapic.program(gsi, Redirection::pci_intx(CALLBACK_VECTOR, apic_id))?;
    Ok(Connected {
        gsi,
        vector: CALLBACK_VECTOR,
        apic_id,
        local_apic_base: local_apic.base(),
        local_apic_version: local_apic.version(),
        local_apic_svr: local_apic.svr(),
        ioapic_pins: ioapic.pins(),
        entry: ioapic.entry(gsi),
    })
}

/// Sends `vector` to this CPU as an inter-processor interrupt (for tests of the routine's
/// spurious and stray paths); `false` if the local APIC is unusable.
pub fn send_self(vector: u8) -> bool {
    match LocalApic::find() {
        Ok(apic) => {
            apic.send_self(vector);
            true
        }
        Err(_) => false,
    }
}

/// Disconnects: masks the `gsi` entry (interrupts stay off).
pub fn disconnect(gsi: u32) {
    platform::disable_interrupts();
    if let Ok(ioapic) = IoApic::find() {
        ioapic.mask(gsi);
    }
}

/// The redirection entry of `gsi` and whether the callback vector is requested or in service
/// at the local APIC (for failure messages).
pub fn describe(gsi: u32) -> (Option<Redirection>, bool, bool) {
    let entry = IoApic::find().ok().map(|ioapic| ioapic.entry(gsi));
    match LocalApic::find() {
        Ok(apic) => (
            entry,
            apic.vector_bit(CALLBACK_VECTOR, false),
            apic.vector_bit(CALLBACK_VECTOR, true),
        ),
        Err(_) => (entry, false, false),
    }
}

/// Runs `f` on the event-channel table with interrupts off; `None` before [`connect`].
pub fn with_events<R>(f: impl FnOnce(&mut EventChannels) -> R) -> Option<R> {
    platform::without_interrupts(|| {
        STATE
            .with(|state| state.as_mut().map(|state| f(&mut state.events)))
            .flatten()
    })
}

/// Runs `f` with interrupts enabled (the only place the guest takes them), then disables them.
pub fn run_enabled<R>(f: impl FnOnce() -> R) -> R {
    platform::enable_interrupts();
    let result = f();
    platform::disable_interrupts();
    result
}

/// Called by the entry stubs with the vector number, interrupts off.
pub fn on_interrupt(vector: u8) {
    match vector {
        CALLBACK_VECTOR => service_callback(),
        // The local APIC's spurious vector is not in service: no EOI.
        SPURIOUS_VECTOR => {
            APIC_SPURIOUS.fetch_add(1, Ordering::SeqCst);
        }
        _ => {
            STRAY.fetch_add(1, Ordering::SeqCst);
            LAST_STRAY.store(u32::from(vector), Ordering::SeqCst);
            if let Ok(apic) = LocalApic::find() {
                apic.eoi();
            }
        }
    }
}

/// The callback's service routine.
fn service_callback() {
    CALLBACKS.fetch_add(1, Ordering::SeqCst);
    let parts = STATE
        .with(|state| {
            state
                .as_ref()
                .and_then(|state| Some((state.shared_info, state.local_apic?)))
        })
        .flatten();
    let Some((shared_info, local_apic)) = parts else {
        // Not connected (or the table held, which `with_events` rules out): acknowledge the
        // interrupt so the CPU is not stuck with the vector in service.
        ERRORS.fetch_add(1, Ordering::SeqCst);
        if let Ok(apic) = LocalApic::find() {
            apic.eoi();
        }
        return;
    };
    IN_SERVICE.store(true, Ordering::SeqCst);
    let mut batch = [EventChannelPort(0); BATCH];
    let lookup = |port: EventChannelPort| -> Option<HandlerBinding> {
        STATE
            .with(|state| state.as_ref().and_then(|state| state.events.handler(port)))
            .flatten()
    };
    match xen_platform::service_upcall(shared_info, &mut batch, lookup) {
        Ok(done) => {
            if !done.acknowledged {
                NOT_OURS.fetch_add(1, Ordering::SeqCst);
            }
            DISPATCHED.fetch_add(done.dispatched, Ordering::SeqCst);
            UNBOUND.fetch_add(done.unbound, Ordering::SeqCst);
            if done.more {
                LEFT_PENDING.fetch_add(1, Ordering::SeqCst);
            }
        }
        Err(_) => {
            ERRORS.fetch_add(1, Ordering::SeqCst);
        }
    }
    IN_SERVICE.store(false, Ordering::SeqCst);
    // Xen lowered the line when the upcall flag was cleared; the EOI clears Remote IRR, and a
    // line raised again meanwhile is delivered again.
    local_apic.eoi();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_encoding_splits_the_handler_address() {
        let (low, high) = encode_gate(0x1234_5678_9abc_def0);
        assert_eq!(low & 0xffff, 0xdef0);
        assert_eq!((low >> 16) & 0xffff, KERNEL_CS);
        assert_eq!((low >> 32) & 0xff, 0, "IST 0");
        assert_eq!((low >> 40) & 0xff, 0x8e, "present interrupt gate, DPL 0");
        assert_eq!(low >> 48, 0x9abc);
        assert_eq!(high, 0x1234_5678);
    }
}
