//! `hello`: the boot path works; prints what the guest learnt at boot.

use alloc::format;
use alloc::vec::Vec;

use super::{Guest, Outcome};
use crate::{fact, memory};

/// Prints the command line, RAM size, E820 map and TSC frequency, and checks the heap.
pub fn run(guest: &Guest<'_>) -> Outcome {
    fact!("cmdline", "{}", guest.boot.cmdline());
    fact!("loader", "{:#x}", guest.boot.loader);
    fact!("e820-entries", "{}", guest.boot.e820().len());
    for entry in guest.boot.e820() {
        crate::say!(
            "e820 {:#014x}-{:#014x} type {}",
            entry.address,
            entry.address.saturating_add(entry.size),
            entry.kind
        );
    }
    fact!("ram-mib", "{}", guest.boot.ram_bytes() >> 20);
    fact!("free-mib", "{}", memory::PAGES.free_bytes() >> 20);
    fact!("tsc-mhz", "{}", guest.clock.hz() / 1_000_000);
    if guest.boot.ram_bytes() == 0 {
        return Err("no RAM in the E820 map".into());
    }
    // The heap works: a few allocations of different classes, and a large one.
    let mut blocks = Vec::new();
    for size in [1usize, 24, 100, 3000, 20_000] {
        let mut block = Vec::new();
        block
            .try_reserve_exact(size)
            .map_err(|_| format!("heap allocation of {size} bytes failed"))?;
        block.resize(size, size as u8);
        blocks.push(block);
    }
    if blocks
        .iter()
        .zip([1usize, 24, 100, 3000, 20_000])
        .any(|(b, size)| b.len() != size || b.iter().any(|&byte| byte != size as u8))
    {
        return Err("heap blocks overlap".into());
    }
    Ok(())
}
