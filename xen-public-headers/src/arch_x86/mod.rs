//! x86-specific interfaces (`arch-x86/*.h`) beyond what [`crate::xen`] holds.

pub mod cpuid;
