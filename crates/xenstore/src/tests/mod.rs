//! Host tests of the client against the fake xenstored, the ring transport and property tests.

mod client;
mod props;
mod ring;

use xen_hal::fake::FakeClock;
use xen_hal::Clock;

use crate::client::Client;
use crate::fake::{ClockRef, FakeXenstored};

/// A client over the fake store whose wait hook advances the shared clock by 1 ms.
pub(crate) fn client<'a>(
    store: &'a mut FakeXenstored,
    clock: &'a FakeClock,
) -> Client<&'a mut FakeXenstored, ClockRef<'a, FakeClock>, impl FnMut(xen_hal::Instant) + 'a> {
    let mut client = Client::new(store, ClockRef(clock), move |_| clock.stall_us(1000)).unwrap();
    client.set_timeout_ms(100);
    client
}
