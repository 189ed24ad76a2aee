//! (a) The xenstore client of the `xenstore` crate over the guest's ring page, against the
//! simulated xenstored: operations, permissions, watches and transactions end to end.

mod common;

use xen_sim::World;
use xenstore::{Error, XsErrno};

#[test]
fn read_write_directory_rm_over_the_ring() {
    let world = World::new();
    let guest = world.create_guest(7, "vm7");
    let mut xs = common::guest_store(&world, &guest);

    xs.write("data/testbed/kv", b"hello").unwrap();
    assert_eq!(xs.read("data/testbed/kv").unwrap(), b"hello");
    // The same node, absolute, from dom0's side.
    assert_eq!(
        world.xs_read("/local/domain/7/data/testbed/kv").unwrap(),
        b"hello"
    );
    xs.write("data/testbed/other", b"").unwrap();
    let mut names = xs.directory("data/testbed").unwrap();
    names.sort();
    assert_eq!(names, ["kv", "other"]);
    assert_eq!(xs.read_string("name").unwrap(), "vm7");
    assert_eq!(
        xs.get_domain_path(xen_hal::DomainId(7)).unwrap(),
        "/local/domain/7"
    );
    xs.rm("data/testbed/kv").unwrap();
    assert_eq!(xs.read("data/testbed/kv"), Err(Error::Xs(XsErrno::ENOENT)));
    assert_eq!(
        world.xs_read("/local/domain/7/data/testbed/kv").err(),
        Some(xen_sim::StoreError::ENOENT)
    );
    xs.mkdir("data/testbed/dir").unwrap();
    assert_eq!(xs.read("data/testbed/dir").unwrap(), b"");

    // Permissions: the guest owns what it creates; dom0's nodes are closed to it.
    let perms = xs.get_perms("data/testbed/dir").unwrap();
    assert_eq!(perms.owner, xen_hal::DomainId(7));
    world.xs_write("/local/domain/0/secret", b"x").unwrap();
    assert_eq!(
        xs.read("/local/domain/0/secret"),
        Err(Error::Xs(XsErrno::EACCES))
    );
    assert_eq!(
        xs.read("/local/domain/0/missing"),
        Err(Error::Xs(XsErrno::EACCES))
    );
    assert_eq!(
        xs.write("/local/domain/0/x", b"1"),
        Err(Error::Xs(XsErrno::EACCES))
    );
    // The toolstack's read-only nodes.
    assert_eq!(xs.write("name", b"evil"), Err(Error::Xs(XsErrno::EACCES)));
    assert_eq!(xs.read("data/nothing"), Err(Error::Xs(XsErrno::ENOENT)));
    // An invalid path is refused, by the client or by xenstored.
    let invalid = xs.read("bad//path");
    assert!(
        matches!(
            invalid,
            Err(Error::Request(_)) | Err(Error::Xs(XsErrno::EINVAL))
        ),
        "{invalid:?}"
    );

    // Every request went through the ring with a notification.
    assert!(world.with_sim(|sim| sim.xenstored.ring_requests(7)) >= 15);
    assert!(xs.transport().notifications() >= 15);
    assert_eq!(world.with_sim(|sim| sim.xenstored.ring_broken(7)), None);
}

#[test]
fn watches_fire_with_their_tokens_and_relative_paths() {
    let world = World::new();
    let guest = world.create_guest(7, "vm7");
    let mut xs = common::guest_store(&world, &guest);
    xs.watch("data/testbed/poke", "poke-token").unwrap();
    // xenstored fires once on registration.
    let deadline = xs.deadline_after_ms(10);
    let first = xs.wait_watch_event(deadline).unwrap();
    assert_eq!(
        (first.path.as_str(), first.token.as_str()),
        ("data/testbed/poke", "poke-token")
    );
    assert_eq!(xs.take_watch_event().unwrap(), None);

    // dom0 writes below the watched path: the event path is relative, as registered.
    world
        .xs_write("/local/domain/7/data/testbed/poke/now", b"1")
        .unwrap();
    let deadline = xs.deadline_after_ms(10);
    let event = xs.wait_watch_event(deadline).unwrap();
    assert_eq!(event.path, "data/testbed/poke/now");
    assert_eq!(event.token, "poke-token");

    // An absolute watch reports absolute paths; rm fires it too.
    xs.watch("/local/domain/7/data/abs", "abs").unwrap();
    let deadline = xs.deadline_after_ms(10);
    assert_eq!(
        xs.wait_watch_event(deadline).unwrap().path,
        "/local/domain/7/data/abs"
    );
    xs.write("data/abs", b"v").unwrap();
    world.xs_rm("/local/domain/7/data/abs").unwrap();
    let deadline = xs.deadline_after_ms(10);
    let e1 = xs.wait_watch_event(deadline).unwrap();
    let deadline = xs.deadline_after_ms(10);
    let e2 = xs.wait_watch_event(deadline).unwrap();
    assert_eq!(
        (e1.path.as_str(), e1.token.as_str()),
        ("/local/domain/7/data/abs", "abs")
    );
    assert_eq!(e2.path, "/local/domain/7/data/abs");

    // Unwatched: no more events, and a sibling never fired.
    xs.unwatch("data/testbed/poke", "poke-token").unwrap();
    world
        .xs_write("/local/domain/7/data/testbed/poke", b"2")
        .unwrap();
    world
        .xs_write("/local/domain/7/data/testbed/pokes", b"2")
        .unwrap();
    world.run_until_idle().unwrap();
    assert_eq!(xs.take_watch_event().unwrap(), None);
    assert_eq!(
        xs.unwatch("data/testbed/poke", "poke-token")
            .err()
            .map(|e| matches!(e, Error::WatchToken | Error::Xs(XsErrno::ENOENT))),
        Some(true)
    );
}

#[test]
fn conflicting_transaction_is_retried_and_committed() {
    let world = World::new();
    let guest = world.create_guest(7, "vm7");
    let mut xs = common::guest_store(&world, &guest);
    xs.write("data/testbed/counter", b"41").unwrap();

    // By hand: a transaction reads, dom0 writes meanwhile, the commit gets EAGAIN.
    let tx = xs.transaction_start().unwrap();
    let seen = xs
        .in_transaction(tx)
        .read_string("data/testbed/counter")
        .unwrap();
    world
        .xs_write("/local/domain/7/data/testbed/counter", b"100")
        .unwrap();
    xs.in_transaction(tx)
        .write(
            "data/testbed/counter",
            format!("{}", seen.parse::<u32>().unwrap() + 1).as_bytes(),
        )
        .unwrap();
    // Inside the transaction its own write is visible, outside it is not.
    assert_eq!(
        xs.in_transaction(tx).read("data/testbed/counter").unwrap(),
        b"42"
    );
    assert_eq!(xs.read("data/testbed/counter").unwrap(), b"100");
    assert_eq!(
        xs.transaction_end(tx, true),
        Err(Error::Xs(XsErrno::EAGAIN))
    );
    assert_eq!(xs.read("data/testbed/counter").unwrap(), b"100");
    // The transaction is gone.
    assert_eq!(
        xs.transaction_end(tx, true),
        Err(Error::Xs(XsErrno::ENOENT))
    );

    // With the client's retry loop: the first attempt conflicts (dom0 pokes during it), the
    // second commits.
    let mut attempts = 0;
    let poke = world.clone();
    let result = xs.transaction(|t| {
        attempts += 1;
        let value: u32 = t.read_string("data/testbed/counter")?.parse().unwrap();
        if attempts == 1 {
            poke.xs_write("/local/domain/7/data/testbed/counter", b"200")
                .unwrap();
        }
        t.write("data/testbed/counter", (value + 1).to_string().as_bytes())?;
        Ok(value + 1)
    });
    assert_eq!(result, Ok(201));
    assert_eq!(attempts, 2);
    assert_eq!(xs.last_transaction_retries(), 1);
    assert_eq!(
        world
            .xs_read_string("/local/domain/7/data/testbed/counter")
            .unwrap(),
        "201"
    );
    assert_eq!(
        world.with_sim(|sim| sim
            .xenstored
            .ring_conn(7)
            .map(|c| sim.xenstored.open_transactions(c))),
        Some(0)
    );
}

#[test]
fn payloads_larger_than_the_ring_cross_it_in_pieces() {
    let world = World::new();
    let guest = world.create_guest(7, "vm7");
    let mut xs = common::guest_store(&world, &guest);
    // 4000 bytes: request and reply each need four rounds through the 1 KiB rings, with the
    // indices wrapping; every round depends on a notification in each direction.
    let value: Vec<u8> = (0..4000u32).map(|i| b'a' + (i % 26) as u8).collect();
    xs.write("data/big", &value).unwrap();
    assert_eq!(world.xs_read("/local/domain/7/data/big").unwrap(), value);
    assert_eq!(xs.read("data/big").unwrap(), value);
    // Many small requests wrap the indices many times.
    for i in 0..300 {
        xs.write("data/n", i.to_string().as_bytes()).unwrap();
    }
    assert_eq!(xs.read_string("data/n").unwrap(), "299");
    // A value over XENSTORE_PAYLOAD_MAX is refused (by the client, or by xenstored).
    let too_big = vec![b'x'; 4097];
    assert!(xs.write("data/big", &too_big).is_err());
    assert_eq!(world.with_sim(|sim| sim.xenstored.ring_broken(7)), None);
}

#[test]
fn guests_are_isolated_from_each_other() {
    let world = World::new();
    let a = world.create_guest(7, "a");
    let b = world.create_guest(8, "b");
    let mut xa = common::guest_store(&world, &a);
    let mut xb = common::guest_store(&world, &b);
    xa.write("data/secret", b"a's").unwrap();
    assert_eq!(
        xb.read("/local/domain/7/data/secret"),
        Err(Error::Xs(XsErrno::EACCES))
    );
    assert_eq!(
        xb.write("/local/domain/7/data/x", b"1"),
        Err(Error::Xs(XsErrno::EACCES))
    );
    assert_eq!(
        xb.rm("/local/domain/7/data/secret"),
        Err(Error::Xs(XsErrno::EACCES))
    );
    // A watch on the other's node never reports its changes.
    xb.watch("/local/domain/7/data", "peek").unwrap();
    let deadline = xb.deadline_after_ms(5);
    assert_eq!(xb.wait_watch_event(deadline).unwrap().token, "peek");
    xa.write("data/secret", b"changed").unwrap();
    world.run_until_idle().unwrap();
    assert_eq!(xb.take_watch_event().unwrap(), None);
    // Giving read access through the ACL opens it, owner unchanged.
    let mut perms = xa.get_perms("data/secret").unwrap();
    perms.acl.push(xenstore::Permission {
        domid: xen_hal::DomainId(8),
        access: xenstore::Access::Read,
    });
    xa.set_perms("data/secret", &perms).unwrap();
    assert_eq!(xb.read("/local/domain/7/data/secret").unwrap(), b"changed");
    assert_eq!(
        xb.write("/local/domain/7/data/secret", b"no"),
        Err(Error::Xs(XsErrno::EACCES))
    );
    assert_eq!(
        world.with_sim(|sim| sim
            .xenstored
            .tree
            .get("/local/domain/7/data/secret")
            .map(|n| n.perms.owner())),
        Some(7)
    );
}
