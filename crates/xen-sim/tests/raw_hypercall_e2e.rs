//! The guest stack as it runs on real Xen: `xen_hypercall::Xen` marshalling every operation
//! into Xen's ABI structs, decoded independently by the simulator. The whole block frontend
//! and the xenstore client run through it.

mod common;

use common::blkfront::{MiniBlkfront, Platform, CLOSED};
use common::raw_hypercall::RawXen;
use xen_hal::{DomainId, EventChannelPort, EventChannelStatus, Hypervisor, XenError, XenVersion};
use xen_public_headers::sched::SHUTDOWN_reboot;
use xen_public_headers::xen::{__HYPERVISOR_event_channel_op, __HYPERVISOR_memory_op};
use xen_sim::World;

#[test]
fn typed_operations_survive_the_abi_round_trip() {
    let world = World::new();
    let guest = world.create_guest(12, "vm12");
    let xen = RawXen::new(guest.hypervisor.clone(), DomainId(12));
    assert_eq!(
        xen.xen_version().unwrap(),
        XenVersion {
            major: 4,
            minor: 17
        }
    );
    assert_eq!(
        xen.hvm_get_param(xen_public_headers::hvm::params::HVM_PARAM_STORE_PFN)
            .unwrap(),
        guest.store_pfn.0
    );
    assert_eq!(xen.grant_table_query_size().unwrap().max_nr_frames, 64);
    let port = xen.evtchn_alloc_unbound(DomainId::DOM0).unwrap();
    assert_eq!(
        xen.evtchn_status(port).unwrap(),
        EventChannelStatus::Unbound {
            remote: DomainId::DOM0
        }
    );
    let dom0_port = world
        .with_sim(|sim| {
            sim.hv
                .evtchn_bind_interdomain(DomainId::DOM0, DomainId(12), port)
        })
        .unwrap();
    assert_eq!(
        xen.evtchn_status(port).unwrap(),
        EventChannelStatus::Interdomain {
            remote: DomainId::DOM0,
            remote_port: dom0_port
        }
    );
    xen.evtchn_send(port).unwrap();
    assert!(world.with_sim(|sim| sim.hv.evtchn_take_pending(DomainId::DOM0, dom0_port)));
    xen.evtchn_bind_vcpu(port, xen_hal::VcpuId(0)).unwrap();
    assert_eq!(
        xen.evtchn_close(EventChannelPort(999)),
        Err(XenError::EINVAL)
    );
    xen.evtchn_close(port).unwrap();
    xen.sched_poll(&[guest.store_port], 0).unwrap();
    xen.sched_yield().unwrap();
    xen.sched_shutdown(SHUTDOWN_reboot).unwrap();
    assert_eq!(world.shutdowns(DomainId(12)), vec![SHUTDOWN_reboot]);
}

#[test]
fn block_frontend_through_raw_hypercalls() {
    let world = World::new();
    let guest = world.create_guest(12, "vm12");
    let memory = guest.memory.clone();
    let (_paths, blkback) = world.attach_vbd(12, 768, 128);
    let xen = RawXen::new(guest.hypervisor.clone(), DomainId(12));
    let mut p = Platform::with_hypervisor(&world, &guest, &memory, xen.clone());
    let mut front = MiniBlkfront::probe(&mut p, 768).unwrap();
    front.connect(&mut p).unwrap();
    let data: Vec<u8> = (0..8192).map(|i| (i % 251) as u8).collect();
    front.write(&mut p, 7, &data).unwrap();
    assert_eq!(front.read(&mut p, 7, 16).unwrap(), data);
    assert_eq!(&blkback.borrow().disk()[7 * 512..23 * 512], data.as_slice());
    front.disconnect(&mut p).unwrap();
    assert_eq!(blkback.borrow().state(), CLOSED);
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        0
    );
    assert_eq!(p.grants.in_use(), 0);
    // The platform really went through the raw ABI: physmap placements and event channels.
    let log = xen.log();
    assert!(
        log.iter()
            .filter(|(op, _)| *op == __HYPERVISOR_memory_op)
            .count()
            >= 2
    );
    assert!(
        log.iter()
            .filter(|(op, _)| *op == __HYPERVISOR_event_channel_op)
            .count()
            >= 5
    );
}
