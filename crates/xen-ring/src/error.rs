//! The errors of ring operations.

use core::fmt;

use xen_hal::OutOfBounds;

/// A failed ring operation.
///
/// Errors caused by the peer ([`RingError::is_peer_fault`]) and shared-memory access errors are
/// terminal: the ring that returned one returns it again from every later call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// A request or response type has size zero.
    ZeroSizedEntry,
    /// An entry's alignment exceeds the 64-byte header, so entries could not be laid out as in C.
    EntryAlignment {
        /// The alignment asked for.
        align: usize,
    },
    /// The shared region cannot hold the header and at least one entry.
    RegionTooSmall {
        /// Length of the region in bytes.
        len: usize,
    },
    /// A ring page order above [`crate::MAX_RING_PAGE_ORDER`].
    OrderTooLarge {
        /// The order asked for.
        order: u32,
    },
    /// The frontend has no free request slot (the caller must wait for responses).
    Full,
    /// The backend has no consumed request left to answer.
    NoRequestToAnswer,
    /// The backend published more responses than there are requests outstanding
    /// (`RING_RESPONSE_PROD_OVERFLOW`, checked against the requests actually published).
    ResponseProducerOverflow {
        /// The `rsp_prod` the backend published.
        rsp_prod: u32,
        /// The frontend's consumer index.
        rsp_cons: u32,
        /// The `req_prod` the frontend had published.
        req_prod: u32,
    },
    /// The frontend published more requests than the ring can hold
    /// (`RING_REQUEST_PROD_OVERFLOW`).
    RequestProducerOverflow {
        /// The `req_prod` the frontend published.
        req_prod: u32,
        /// The backend's private response producer index.
        rsp_prod_pvt: u32,
    },
    /// Attaching to an existing ring whose indices cannot be valid
    /// (`req_prod - rsp_prod` exceeds the ring size).
    InconsistentIndices {
        /// The shared request producer index.
        req_prod: u32,
        /// The shared response producer index.
        rsp_prod: u32,
    },
    /// A field written into a [`crate::Slot`] reaches past the entry (a caller bug; the ring is
    /// not wedged and the slot is not used).
    OutsideEntry {
        /// Byte offset of the field in the entry.
        offset: usize,
        /// Its length.
        len: usize,
    },
    /// A shared-memory access was out of bounds or misaligned (a layout bug or a bad window).
    Memory(OutOfBounds),
}

impl RingError {
    /// Whether the error was caused by data the peer wrote (a broken or hostile peer).
    pub fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            RingError::ResponseProducerOverflow { .. }
                | RingError::RequestProducerOverflow { .. }
                | RingError::InconsistentIndices { .. }
        )
    }

    /// Whether a ring that returned this error is wedged (returns it from every later call).
    pub fn is_terminal(&self) -> bool {
        self.is_peer_fault() || matches!(self, RingError::Memory(_))
    }
}

impl From<OutOfBounds> for RingError {
    fn from(e: OutOfBounds) -> Self {
        RingError::Memory(e)
    }
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::ZeroSizedEntry => f.write_str("ring entry type has size zero"),
            RingError::EntryAlignment { align } => {
                write!(f, "ring entry alignment {align} exceeds the header")
            }
            RingError::RegionTooSmall { len } => {
                write!(f, "shared region of {len} bytes cannot hold a ring")
            }
            RingError::OrderTooLarge { order } => write!(f, "ring page order {order} too large"),
            RingError::Full => f.write_str("no free request slot"),
            RingError::NoRequestToAnswer => f.write_str("no consumed request left to answer"),
            RingError::ResponseProducerOverflow {
                rsp_prod,
                rsp_cons,
                req_prod,
            } => write!(
                f,
                "backend response producer overflow: rsp_prod {rsp_prod}, rsp_cons {rsp_cons}, req_prod {req_prod}"
            ),
            RingError::RequestProducerOverflow {
                req_prod,
                rsp_prod_pvt,
            } => write!(
                f,
                "frontend request producer overflow: req_prod {req_prod}, rsp_prod_pvt {rsp_prod_pvt}"
            ),
            RingError::InconsistentIndices { req_prod, rsp_prod } => write!(
                f,
                "inconsistent ring indices: req_prod {req_prod}, rsp_prod {rsp_prod}"
            ),
            RingError::OutsideEntry { offset, len } => {
                write!(f, "field at {offset}, {len} bytes, lies outside the ring entry")
            }
            RingError::Memory(e) => write!(
                f,
                "shared memory access out of bounds: offset {} len {}",
                e.offset, e.len
            ),
        }
    }
}
