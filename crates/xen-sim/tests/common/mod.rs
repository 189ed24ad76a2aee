//! Shared set-up of the end-to-end tests: a guest's xenstore client over its ring page.
#![allow(dead_code)]

pub mod blkfront;
pub mod raw_hypercall;

use xen_hal::{Instant, PhysicalMapper};
use xen_sim::{Guest, SimClock, SimHypervisor, World};
use xenstore::{Client, RingTransport};

/// The guest's blocking xenstore client, waiting through the world's pump.
pub type GuestStore<H = SimHypervisor> =
    Client<RingTransport<H>, SimClock, Box<dyn FnMut(Instant)>>;

/// Connects `guest`'s xenstore client the way a driver does: ring page and port from the HVM
/// params, notifications through its hypervisor.
pub fn guest_store(world: &World, guest: &Guest) -> GuestStore {
    guest_store_with(world, guest, guest.hypervisor.clone())
}

/// The same over a given hypercall interface.
pub fn guest_store_with<H: xen_hal::Hypervisor>(
    world: &World,
    guest: &Guest,
    hv: H,
) -> GuestStore<H> {
    use xen_public_headers::hvm::params::{HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN};
    let pfn = xen_hal::Pfn(hv.hvm_get_param(HVM_PARAM_STORE_PFN).unwrap());
    let port = xen_hal::EventChannelPort(hv.hvm_get_param(HVM_PARAM_STORE_EVTCHN).unwrap() as u32);
    let page = guest.memory.map_frames(pfn, 1).unwrap();
    let transport = RingTransport::new(page, hv, port).unwrap();
    let mut client = Client::new(
        transport,
        world.clock(),
        Box::new(world.waiter()) as Box<dyn FnMut(Instant)>,
    )
    .unwrap();
    client.set_timeout_ms(50);
    client
}
