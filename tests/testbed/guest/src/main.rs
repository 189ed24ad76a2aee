//! Testbed guest kernel: an x86_64 HVM guest booted through the Linux boot protocol that runs
//! one scenario of the testbed protocol against real Xen, using the project's portable crates.
//!
//! `unsafe` is confined to `platform` (CPU instructions, port I/O, raw memory) and `boot` (the
//! entry symbol); everything else is safe code over the xen-hal traits.
//!
//! Host tests (`cargo test --target x86_64-unknown-linux-gnu`) cover the plain logic; the boot
//! code, entry point, allocator and panic handler exist only in the kernel build.
#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]
#![deny(unsafe_code)]

extern crate alloc;

mod apic;
#[cfg(not(test))]
mod boot;
mod bootinfo;
mod clock;
mod console;
mod irq;
mod memory;
mod pages;
mod pci;
mod platform;
mod power;
mod pv;
mod pvconsole;
mod scenarios;
mod xen;

use bootinfo::BootInfo;
use clock::TscClock;
use platform::{Lock, Ports};

#[cfg(not(test))]
#[global_allocator]
static HEAP: platform::Heap = platform::Heap::new();

/// Longest scenario name kept for the panic message.
const MAX_NAME: usize = 64;

/// The running scenario's name, for the panic handler.
static SCENARIO: Lock<([u8; MAX_NAME], usize)> = Lock::new(([0; MAX_NAME], 0));

/// TSC frequency assumed when the PIT does not answer.
const FALLBACK_TSC_HZ: u64 = 1_000_000_000;

/// Called by `boot.rs` in long mode with the physical address of the zero page.
fn kernel_start(boot_params: u64) -> ! {
    console::init();
    let boot = BootInfo::read(boot_params);
    let name = boot.arg("scenario").unwrap_or("hello");
    SCENARIO.with(|(buf, len)| {
        let n = name.len().min(MAX_NAME);
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), name.as_bytes().get(..n)) {
            dst.copy_from_slice(src);
            *len = n;
        }
    });
    say!("boot: scenario={name} cmdline='{}'", boot.cmdline());
    if let Some(ms) = boot.arg("peer-wait-ms").and_then(|v| v.parse::<u64>().ok()) {
        scenarios::xenstore::set_peer_wait_ms(ms);
    }
    let free = memory::PAGES.init(boot.e820());
    say!("boot: {} MiB free for pages", free >> 20);
    let io = Ports;
    let clock = TscClock::calibrate(&io).unwrap_or_else(|error| {
        say!("boot: TSC calibration failed ({error:?}), assuming 1 GHz");
        TscClock::assume(FALLBACK_TSC_HZ)
    });
    let xen = match xen::setup() {
        Ok(Some(state)) => {
            match pvconsole::PvConsole::open(state) {
                Some(pv) => {
                    let (frame, port) = pv.describe();
                    console::attach_pv_console(pv);
                    say!("boot: PV console ring at frame {frame:#x}, event channel {port}");
                }
                None => say!("boot: no PV console"),
            }
            say!(
                "boot: Xen {}.{} at CPUID {:#x}, hypercall page installed",
                state.cpuid.version.major,
                state.cpuid.version.minor,
                state.cpuid.base
            );
            Some(state)
        }
        Ok(None) => {
            say!("boot: not running on Xen");
            None
        }
        Err(error) => {
            say!("FAIL {name}: Xen setup: {error}");
            power::off(power::SHUTDOWN_POWEROFF)
        }
    };
    let guest = scenarios::Guest {
        boot: &boot,
        io,
        clock,
        xen,
    };
    match scenarios::run(name, &guest) {
        Some(Ok(())) => say!("PASS {name}"),
        Some(Err(reason)) => say!("FAIL {name}: {reason}"),
        None => say!("FAIL {name}: no such scenario"),
    }
    power::off(power::SHUTDOWN_POWEROFF)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;

    // One line, as the protocol wants: `FAIL <scenario>: panic at <file>:<line>: <message>`.
    let mut line = console::LineBuffer::new();
    {
        let mut out = console::OneLine(&mut line);
        let _ = out.write_str("TESTBED-GUEST: FAIL ");
        let printed = SCENARIO.with(|(buf, len)| {
            let name = buf
                .get(..*len)
                .and_then(|b| core::str::from_utf8(b).ok())
                .unwrap_or("?");
            let _ = out.write_str(name);
        });
        if printed.is_none() {
            let _ = out.write_str("?");
        }
        let _ = out.write_str(": panic");
        if let Some(location) = info.location() {
            let _ = write!(out, " at {}:{}", location.file(), location.line());
        }
        let _ = write!(out, ": {}", info.message());
    }
    line.finish();
    console::emit(&line);
    power::off(power::SHUTDOWN_POWEROFF)
}
