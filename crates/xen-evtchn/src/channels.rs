//! The port table over `shared_info`, and upcall dispatch.

use alloc::vec::Vec;
use core::mem::{offset_of, size_of};
use core::sync::atomic::Ordering;

use xen_hal::{DomainId, EventChannelPort, Hypervisor, SharedMemory, VcpuId};
use xen_public_headers::event_channel::EVTCHN_2L_NR_CHANNELS;
use xen_public_headers::xen::{shared_info, vcpu_info, XEN_LEGACY_MAX_VCPUS};

use crate::error::EvtchnError;

/// A handler: called with its context and the port that fired, in the context the OS glue
/// dispatches from ([`EventChannels::handle_upcall`] calls it in the upcall's; on Windows,
/// xenpci calls it from its event DPC at DISPATCH_LEVEL). It must not block.
pub type EventHandler = extern "C" fn(context: usize, port: u32);

/// A handler with its context.
#[derive(Clone, Copy, Debug)]
pub struct HandlerBinding {
    /// The function called.
    pub handler: EventHandler,
    /// Its first argument.
    pub context: usize,
}

/// Rounds of "take the selector, dispatch" in one [`EventChannels::handle_upcall`]; events still
/// pending after them are reported in [`UpcallStats::more_pending`].
pub const MAX_UPCALL_ROUNDS: u32 = 8;

/// Bits per `xen_ulong_t` word of the bitmaps.
const BITS_PER_WORD: usize = 64;
const PENDING: usize = offset_of!(shared_info, evtchn_pending);
const MASK: usize = offset_of!(shared_info, evtchn_mask);
const VCPU_INFO: usize = offset_of!(shared_info, vcpu_info);
const VCPU_INFO_SIZE: usize = size_of::<vcpu_info>();
const UPCALL_PENDING: usize = offset_of!(vcpu_info, evtchn_upcall_pending);
const PENDING_SEL: usize = offset_of!(vcpu_info, evtchn_pending_sel);

/// What one [`EventChannels::handle_upcall`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpcallStats {
    /// Handlers called.
    pub dispatched: u32,
    /// Pending, unmasked ports without a handler (cleared, counted, otherwise ignored).
    pub spurious: u32,
    /// The last such port.
    pub last_spurious: Option<EventChannelPort>,
    /// Rounds that found a non-zero selector.
    pub rounds: u32,
    /// Events were still signalled when the round limit was reached: call again (e.g. from a
    /// requeued DPC) rather than loop here.
    pub more_pending: bool,
}

#[derive(Clone, Copy)]
struct Slot {
    /// Opened through this table (`alloc_unbound`/`bind_interdomain`), so ours to close.
    open: bool,
    binding: Option<HandlerBinding>,
}

const EMPTY: Slot = Slot {
    open: false,
    binding: None,
};

/// Event channel ports of this domain: the handler table and the 2-level bitmaps.
pub struct EventChannels {
    shared_info: SharedMemory,
    slots: Vec<Slot>,
}

/// (word offset in a bitmap, bit) of `port`.
fn word_and_bit(port: usize) -> (usize, u64) {
    ((port / BITS_PER_WORD) * 8, 1u64 << (port % BITS_PER_WORD))
}

impl EventChannels {
    /// A table for ports `1..capacity` over the mapped `shared_info` page. `capacity` is at most
    /// `EVTCHN_2L_NR_CHANNELS` (4096); the table is allocated now, once.
    pub fn new(shared_info: SharedMemory, capacity: usize) -> Result<Self, EvtchnError> {
        if shared_info.len() < size_of::<shared_info>() {
            return Err(EvtchnError::SharedInfoTooSmall);
        }
        if capacity > EVTCHN_2L_NR_CHANNELS {
            return Err(EvtchnError::CapacityTooLarge);
        }
        let mut slots = Vec::new();
        slots.try_reserve_exact(capacity)?;
        slots.resize(capacity, EMPTY);
        Ok(EventChannels { shared_info, slots })
    }

    /// Number of ports the table can hold (ports `1..capacity`).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn slot(&self, port: EventChannelPort) -> Result<&Slot, EvtchnError> {
        match port.0 {
            0 => None,
            p => self.slots.get(p as usize),
        }
        .ok_or(EvtchnError::PortOutOfRange(port))
    }

    fn slot_mut(&mut self, port: EventChannelPort) -> Result<&mut Slot, EvtchnError> {
        match port.0 {
            0 => None,
            p => self.slots.get_mut(p as usize),
        }
        .ok_or(EvtchnError::PortOutOfRange(port))
    }

    /// Masks every port of the 2-level ABI (at start-up, before any handler is bound, so stale
    /// state from an earlier kernel delivers nothing).
    pub fn mask_all(&self) -> Result<(), EvtchnError> {
        for word in 0..EVTCHN_2L_NR_CHANNELS / BITS_PER_WORD {
            self.shared_info
                .store_u64(MASK + word * 8, u64::MAX, Ordering::SeqCst)?;
        }
        Ok(())
    }

    /// Takes a port Xen handed out: masked, marked open. Past the capacity it is closed again.
    fn adopt(&mut self, hv: &impl Hypervisor, port: EventChannelPort) -> Result<(), EvtchnError> {
        if self.slot(port).is_err() {
            // Not ours to track: give it back rather than leak it in Xen.
            let _ = hv.evtchn_close(port);
            return Err(EvtchnError::PortOutOfRange(port));
        }
        // Masked until a handler is bound, so an early event waits pending instead of being lost.
        self.mask(port)?;
        *self.slot_mut(port)? = Slot {
            open: true,
            binding: None,
        };
        Ok(())
    }

    /// `EVTCHNOP_alloc_unbound`: a new port that `remote` may bind to. Returned masked.
    pub fn alloc_unbound(
        &mut self,
        hv: &impl Hypervisor,
        remote: DomainId,
    ) -> Result<EventChannelPort, EvtchnError> {
        let port = hv.evtchn_alloc_unbound(remote)?;
        self.adopt(hv, port)?;
        Ok(port)
    }

    /// `EVTCHNOP_bind_interdomain`: a local port connected to `remote_port` of `remote`.
    /// Returned masked.
    pub fn bind_interdomain(
        &mut self,
        hv: &impl Hypervisor,
        remote: DomainId,
        remote_port: EventChannelPort,
    ) -> Result<EventChannelPort, EvtchnError> {
        let port = hv.evtchn_bind_interdomain(remote, remote_port)?;
        self.adopt(hv, port)?;
        Ok(port)
    }

    /// Binds `handler` to `port` and unmasks the port (through Xen, which delivers an event that
    /// arrived while masked). The port may also be one this table did not open (the xenstore
    /// and console ports named by HVM params).
    pub fn bind_handler(
        &mut self,
        hv: &impl Hypervisor,
        port: EventChannelPort,
        handler: EventHandler,
        context: usize,
    ) -> Result<(), EvtchnError> {
        let slot = self.slot_mut(port)?;
        if slot.binding.is_some() {
            return Err(EvtchnError::AlreadyBound(port));
        }
        slot.binding = Some(HandlerBinding { handler, context });
        if let Err(e) = self.unmask(hv, port) {
            self.slot_mut(port)?.binding = None;
            return Err(e);
        }
        Ok(())
    }

    /// Masks `port` and removes its handler, returning it.
    pub fn unbind_handler(
        &mut self,
        port: EventChannelPort,
    ) -> Result<HandlerBinding, EvtchnError> {
        self.slot(port)?;
        self.mask(port)?;
        self.slot_mut(port)?
            .binding
            .take()
            .ok_or(EvtchnError::NotBound(port))
    }

    /// The handler bound to `port`, if any.
    pub fn handler(&self, port: EventChannelPort) -> Option<HandlerBinding> {
        self.slot(port).ok().and_then(|s| s.binding)
    }

    /// Whether `port` was opened through this table and not closed.
    pub fn is_open(&self, port: EventChannelPort) -> bool {
        self.slot(port).map(|s| s.open).unwrap_or(false)
    }

    /// `EVTCHNOP_close` of a port this table opened: masked, handler removed, pending cleared.
    /// If Xen refuses, the port stays open (masked, without handler) and the error is returned.
    pub fn close(
        &mut self,
        hv: &impl Hypervisor,
        port: EventChannelPort,
    ) -> Result<(), EvtchnError> {
        if !self.slot(port)?.open {
            return Err(EvtchnError::NotOpen(port));
        }
        self.mask(port)?;
        self.slot_mut(port)?.binding = None;
        hv.evtchn_close(port)?;
        self.clear_pending(port)?;
        *self.slot_mut(port)? = EMPTY;
        Ok(())
    }

    /// `EVTCHNOP_send`: notifies the other end of `port`.
    pub fn notify(&self, hv: &impl Hypervisor, port: EventChannelPort) -> Result<(), EvtchnError> {
        self.slot(port)?;
        Ok(hv.evtchn_send(port)?)
    }

    /// `EVTCHNOP_bind_vcpu`: delivers `port` to `vcpu` from now on. Only vCPU 0 is accepted
    /// (other vCPUs fail with [`EvtchnError::VcpuNotServiced`] and no hypercall is made): the
    /// callback interrupt (`HVM_PARAM_CALLBACK_IRQ` as a GSI or PCI INTx) is raised for vCPU 0's
    /// upcall only, and the platform scans only vCPU 0's selector, so a port moved to another
    /// vCPU would set that vCPU's selector, raise no interrupt and never be handled.
    pub fn bind_vcpu(
        &self,
        hv: &impl Hypervisor,
        port: EventChannelPort,
        vcpu: VcpuId,
    ) -> Result<(), EvtchnError> {
        self.slot(port)?;
        if vcpu.0 as usize >= XEN_LEGACY_MAX_VCPUS {
            return Err(EvtchnError::VcpuOutOfRange(vcpu));
        }
        if vcpu != VcpuId(0) {
            return Err(EvtchnError::VcpuNotServiced(vcpu));
        }
        Ok(hv.evtchn_bind_vcpu(port, vcpu)?)
    }

    /// Sets the mask bit of `port` (local: no hypercall).
    pub fn mask(&self, port: EventChannelPort) -> Result<(), EvtchnError> {
        self.slot(port)?;
        let (word, bit) = word_and_bit(port.0 as usize);
        self.shared_info.fetch_or_u64(MASK + word, bit)?;
        Ok(())
    }

    /// `EVTCHNOP_unmask`: Xen clears the mask bit and, if the port is pending, raises the upcall.
    pub fn unmask(&self, hv: &impl Hypervisor, port: EventChannelPort) -> Result<(), EvtchnError> {
        self.slot(port)?;
        Ok(hv.evtchn_unmask(port)?)
    }

    /// Whether the mask bit of `port` is set.
    pub fn is_masked(&self, port: EventChannelPort) -> Result<bool, EvtchnError> {
        self.bit(MASK, port)
    }

    /// Whether the pending bit of `port` is set.
    pub fn is_pending(&self, port: EventChannelPort) -> Result<bool, EvtchnError> {
        self.bit(PENDING, port)
    }

    /// Clears the pending bit of `port`.
    pub fn clear_pending(&self, port: EventChannelPort) -> Result<(), EvtchnError> {
        self.slot(port)?;
        let (word, bit) = word_and_bit(port.0 as usize);
        self.shared_info.fetch_and_u64(PENDING + word, !bit)?;
        Ok(())
    }

    fn bit(&self, bitmap: usize, port: EventChannelPort) -> Result<bool, EvtchnError> {
        self.slot(port)?;
        let (word, bit) = word_and_bit(port.0 as usize);
        Ok(self.shared_info.load_u64(bitmap + word, Ordering::SeqCst)? & bit != 0)
    }

    /// Handles an upcall on `vcpu`: clears `evtchn_upcall_pending`, takes `evtchn_pending_sel`,
    /// and for each selected word dispatches every pending, unmasked port, clearing its pending
    /// bit first (so an event arriving during the handler raises it again). Repeats while Xen
    /// signals more, at most [`MAX_UPCALL_ROUNDS`] times. Ports without a handler are cleared and
    /// counted as spurious. Every pending, unmasked port of a selected word is dispatched here,
    /// whichever vCPU it is bound to (Xen selects words on the bound vCPU; a port of the same
    /// word bound elsewhere is simply handled earlier).
    pub fn handle_upcall(&self, vcpu: VcpuId) -> Result<UpcallStats, EvtchnError> {
        let index = vcpu.0 as usize;
        if index >= XEN_LEGACY_MAX_VCPUS {
            return Err(EvtchnError::VcpuOutOfRange(vcpu));
        }
        let info = VCPU_INFO + index * VCPU_INFO_SIZE;
        let mut stats = UpcallStats::default();
        for _ in 0..MAX_UPCALL_ROUNDS {
            self.shared_info.swap_u8(info + UPCALL_PENDING, 0)?;
            let selector = self.shared_info.swap_u64(info + PENDING_SEL, 0)?;
            if selector == 0 {
                return Ok(stats);
            }
            stats.rounds += 1;
            for word in bits(selector) {
                self.dispatch_word(word, &mut stats)?;
            }
        }
        stats.more_pending = self.shared_info.read_u8(info + UPCALL_PENDING)? != 0
            || self
                .shared_info
                .load_u64(info + PENDING_SEL, Ordering::SeqCst)?
                != 0;
        Ok(stats)
    }

    fn dispatch_word(&self, word: usize, stats: &mut UpcallStats) -> Result<(), EvtchnError> {
        let offset = word * 8;
        let pending = self
            .shared_info
            .load_u64(PENDING + offset, Ordering::SeqCst)?;
        let mask = self.shared_info.load_u64(MASK + offset, Ordering::SeqCst)?;
        for bit in bits(pending & !mask) {
            let flag = 1u64 << bit;
            let before = self.shared_info.fetch_and_u64(PENDING + offset, !flag)?;
            if before & flag == 0 {
                // Taken by another vCPU's upcall meanwhile.
                continue;
            }
            let port = EventChannelPort((word * BITS_PER_WORD + bit) as u32);
            match self.handler(port) {
                Some(binding) => {
                    (binding.handler)(binding.context, port.0);
                    stats.dispatched = stats.dispatched.saturating_add(1);
                }
                None => {
                    stats.spurious = stats.spurious.saturating_add(1);
                    stats.last_spurious = Some(port);
                }
            }
        }
        Ok(())
    }
}

/// Indices of the set bits of `value`, lowest first.
fn bits(mut value: u64) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        if value == 0 {
            None
        } else {
            let bit = value.trailing_zeros() as usize;
            value &= value - 1;
            Some(bit)
        }
    })
}
