//! In-flight request ids: a fixed-capacity table mapping each id to the caller's shadow data.
//!
//! The frontend allocates an id for every request it pushes and stores there what it needs
//! when the response comes back (and to replay the request after resume: blkfront's
//! `shadow`). A response's id is peer data: [`IdTable::complete`] checks it and returns a typed
//! error for an id out of range, one never issued, or one already completed.

use alloc::vec::Vec;
use core::fmt;

use xen_hal::AllocError;

/// Why a response's id was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdError {
    /// The id is outside the table.
    Unknown {
        /// The id received.
        id: u64,
    },
    /// The id is inside the table but was never issued (or the table was reset since).
    NotInFlight {
        /// The id received.
        id: u64,
    },
    /// The id was completed already and not issued again since: a duplicate response.
    DuplicateCompletion {
        /// The id received.
        id: u64,
    },
    /// Every id is in flight.
    Exhausted,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Unknown { id } => write!(f, "response id {id} out of range"),
            IdError::NotInFlight { id } => write!(f, "response id {id} was never issued"),
            IdError::DuplicateCompletion { id } => write!(f, "response id {id} completed twice"),
            IdError::Exhausted => f.write_str("no free request id"),
        }
    }
}

/// "No id": the end of the free list.
const NONE: u32 = u32::MAX;

enum Slot<T> {
    /// Never issued since creation or the last reset; free, followed on the free list by `next`.
    Unused { next: u32 },
    /// Issued; the response has not come back.
    InFlight(T),
    /// Completed and free again (a second completion is a duplicate); followed by `next`.
    Completed { next: u32 },
}

/// A fixed-capacity table of in-flight request ids with their shadow data.
///
/// Free ids are reused in first-in first-out order, so a stale duplicate response is likely to
/// find its id still completed (and be reported as [`IdError::DuplicateCompletion`]) rather
/// than reissued. The free list is threaded through the table itself (each free slot names
/// the next), as Linux blkfront threads its shadow array, but kept in FIFO order with a tail.
pub struct IdTable<T> {
    slots: Vec<Slot<T>>,
    /// First free id (`NONE` if every id is in flight).
    head: u32,
    /// Last free id (`NONE` if none is free).
    tail: u32,
    free: usize,
    in_flight: usize,
}

impl<T> IdTable<T> {
    /// A table of `capacity` ids (`0..capacity`), usually the ring size; allocation is fallible.
    /// Ids are below `capacity`, so `u32::MAX` (the end of the free list) is never one.
    pub fn new(capacity: u32) -> Result<Self, AllocError> {
        let len = capacity as usize;
        let mut slots = Vec::new();
        slots.try_reserve_exact(len).map_err(|_| AllocError)?;
        let mut table = IdTable {
            slots,
            head: NONE,
            tail: NONE,
            free: 0,
            in_flight: 0,
        };
        table.reset(capacity);
        Ok(table)
    }

    /// Every id unused and free, in order (the allocation was reserved by `new`).
    fn reset(&mut self, capacity: u32) {
        self.slots.clear();
        for id in 0..capacity {
            let next = if id + 1 < capacity { id + 1 } else { NONE };
            self.slots.push(Slot::Unused { next });
        }
        (self.head, self.tail) = match capacity {
            0 => (NONE, NONE),
            n => (0, n - 1),
        };
        self.free = capacity as usize;
        self.in_flight = 0;
    }

    /// Number of ids.
    pub fn capacity(&self) -> u32 {
        // `new` made at most `u32::MAX` slots.
        self.slots.len() as u32
    }

    /// Number of ids in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Number of free ids.
    pub fn free(&self) -> usize {
        self.free
    }

    /// Takes a free id and remembers `shadow` under it.
    #[inline]
    pub fn allocate(&mut self, shadow: T) -> Result<u32, IdError> {
        let id = self.head;
        let slot = self.slots.get_mut(id as usize).ok_or(IdError::Exhausted)?;
        let next = match *slot {
            Slot::Unused { next } | Slot::Completed { next } => next,
            // The free list never names an in-flight id; kept as an error rather than a panic.
            Slot::InFlight(_) => return Err(IdError::Exhausted),
        };
        *slot = Slot::InFlight(shadow);
        self.head = next;
        if next == NONE {
            self.tail = NONE;
        }
        self.free -= 1;
        self.in_flight += 1;
        Ok(id)
    }

    /// Completes `id` (a value taken from a response, so untrusted): returns its shadow and
    /// frees the id.
    #[inline]
    pub fn complete(&mut self, id: u64) -> Result<T, IdError> {
        let index = usize::try_from(id).map_err(|_| IdError::Unknown { id })?;
        let slot = self.slots.get_mut(index).ok_or(IdError::Unknown { id })?;
        if !matches!(slot, Slot::InFlight(_)) {
            return Err(match slot {
                Slot::Completed { .. } => IdError::DuplicateCompletion { id },
                _ => IdError::NotInFlight { id },
            });
        }
        let Slot::InFlight(shadow) = core::mem::replace(slot, Slot::Completed { next: NONE })
        else {
            return Err(IdError::NotInFlight { id });
        };
        // `index` is a slot index, below `u32::MAX` (see `new`).
        let id32 = index as u32;
        match self.slots.get_mut(self.tail as usize) {
            Some(Slot::Unused { next } | Slot::Completed { next }) => *next = id32,
            _ => self.head = id32,
        }
        self.tail = id32;
        self.free += 1;
        self.in_flight -= 1;
        Ok(shadow)
    }

    /// The shadow of an in-flight id, if it is one.
    pub fn get(&self, id: u64) -> Option<&T> {
        let index = usize::try_from(id).ok()?;
        match self.slots.get(index)? {
            Slot::InFlight(shadow) => Some(shadow),
            _ => None,
        }
    }

    /// The in-flight ids and their shadows, in id order (for recovery after resume).
    pub fn iter_in_flight(&self) -> impl Iterator<Item = (u32, &T)> + '_ {
        self.slots
            .iter()
            .zip(0u32..)
            .filter_map(|(slot, id)| match slot {
                Slot::InFlight(shadow) => Some((id, shadow)),
                _ => None,
            })
    }

    /// Removes every in-flight entry, handing `(id, shadow)` to `visit` in id order, and resets
    /// the table to its new state (blkfront's `recover`: the requests are reissued with fresh
    /// ids).
    pub fn drain_in_flight(&mut self, mut visit: impl FnMut(u32, T)) {
        let capacity = self.capacity();
        for (slot, id) in self.slots.iter_mut().zip(0u32..) {
            if let Slot::InFlight(shadow) = core::mem::replace(slot, Slot::Unused { next: NONE }) {
                visit(id, shadow);
            }
        }
        self.reset(capacity);
    }
}

impl<T> fmt::Debug for IdTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdTable")
            .field("capacity", &self.slots.len())
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn allocate_complete_round_trip() {
        let mut table = IdTable::new(4).unwrap();
        let a = table.allocate("a").unwrap();
        let b = table.allocate("b").unwrap();
        assert_ne!(a, b);
        assert_eq!(table.in_flight(), 2);
        assert_eq!(table.get(u64::from(b)), Some(&"b"));
        assert_eq!(table.complete(u64::from(b)), Ok("b"));
        assert_eq!(table.complete(u64::from(a)), Ok("a"));
        assert_eq!(table.in_flight(), 0);
        assert_eq!(table.free(), 4);
    }

    #[test]
    fn capacity_is_enforced() {
        let mut table = IdTable::new(2).unwrap();
        table.allocate(1).unwrap();
        table.allocate(2).unwrap();
        assert_eq!(table.allocate(3), Err(IdError::Exhausted));
        assert_eq!(table.complete(0), Ok(1));
        assert_eq!(table.allocate(3), Ok(0));
    }

    #[test]
    fn bad_ids_are_typed_errors() {
        let mut table = IdTable::new(4).unwrap();
        assert_eq!(table.complete(4), Err(IdError::Unknown { id: 4 }));
        assert_eq!(
            table.complete(u64::MAX),
            Err(IdError::Unknown { id: u64::MAX })
        );
        assert_eq!(table.complete(1), Err(IdError::NotInFlight { id: 1 }));
        let id = u64::from(table.allocate(()).unwrap());
        assert_eq!(table.complete(id), Ok(()));
        assert_eq!(table.complete(id), Err(IdError::DuplicateCompletion { id }));
        // The failed completions changed nothing.
        assert_eq!(table.in_flight(), 0);
        assert_eq!(table.free(), 4);
    }

    #[test]
    fn ids_are_reused_oldest_first() {
        let mut table = IdTable::new(3).unwrap();
        let ids: Vec<u32> = (0..3).map(|i| table.allocate(i).unwrap()).collect();
        assert_eq!(ids, vec![0, 1, 2]);
        table.complete(1).unwrap();
        table.complete(0).unwrap();
        assert_eq!(table.allocate(10), Ok(1));
        assert_eq!(table.allocate(11), Ok(0));
    }

    #[test]
    fn in_flight_entries_can_be_listed_and_drained_for_replay() {
        let mut table = IdTable::new(8).unwrap();
        for i in 0..5 {
            table.allocate(i * 10).unwrap();
        }
        table.complete(2).unwrap();
        let listed: Vec<(u32, i32)> = table.iter_in_flight().map(|(id, s)| (id, *s)).collect();
        assert_eq!(listed, vec![(0, 0), (1, 10), (3, 30), (4, 40)]);
        let mut drained = Vec::new();
        table.drain_in_flight(|id, shadow| drained.push((id, shadow)));
        assert_eq!(drained, vec![(0, 0), (1, 10), (3, 30), (4, 40)]);
        assert_eq!(table.in_flight(), 0);
        assert_eq!(table.free(), 8);
        assert_eq!(table.complete(3), Err(IdError::NotInFlight { id: 3 }));
        assert_eq!(table.allocate(99), Ok(0));
    }

    #[test]
    fn empty_table_refuses_everything() {
        let mut table: IdTable<()> = IdTable::new(0).unwrap();
        assert_eq!(table.allocate(()), Err(IdError::Exhausted));
        assert_eq!(table.complete(0), Err(IdError::Unknown { id: 0 }));
    }
}
