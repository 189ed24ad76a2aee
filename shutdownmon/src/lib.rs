//! `shutdownmon`: placeholder crate. Its driver logic lands with its own issue; nothing here is done yet.
#![no_std]
#![forbid(unsafe_code)]
