//! Guest RAM: [`xen_hal::fake::FakePageAllocator`] in its small-frame mode.
//!
//! Frame numbers start at 0x100 and are never reused, so a v1 grant (32-bit frame field) can
//! hold them and a stale reference finds nothing; create it with
//! [`FakePageAllocator::small_frames`](xen_hal::fake::FakePageAllocator::small_frames).

/// A guest's RAM.
pub type GuestMemory = xen_hal::fake::FakePageAllocator;
