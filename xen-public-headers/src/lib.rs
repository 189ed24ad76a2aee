//! The Xen public ABI. (Being written: see the foundation issue.)
#![no_std]
#![forbid(unsafe_code)]
