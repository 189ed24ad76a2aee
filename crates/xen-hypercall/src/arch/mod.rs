//! Architecture glue: the only place with inline assembly.
//!
//! Only x86_64 exists. Its code compiles on any x86_64 host, but the MSR write and the
//! hypercalls need ring 0 inside a Xen guest: host tests exercise only `cpuid`, and the testbed
//! guest exercises the rest.

#[cfg(target_arch = "x86_64")]
pub mod x86_64;
