//! What every driver image needs from the crate on Windows: the global allocator over
//! non-paged pool and a panic handler that bugchecks with [`RUST_PANIC_BUGCHECK`].

use crate::pool::PoolAllocator;

/// The bug-check code of a Rust panic in a driver: `0x52555354`, "RUST" in ASCII.
/// Parameters: 1 = source line, 2 = source column, 3 = address of the file name bytes,
/// 4 = length of the file name.
pub const RUST_PANIC_BUGCHECK: u32 = u32::from_be_bytes(*b"RUST");

#[global_allocator]
static ALLOCATOR: PoolAllocator = PoolAllocator;

/// MSVC's marker that floating point is used; referenced by compiler-generated code.
#[no_mangle]
#[used]
static _fltused: i32 = 0;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let (line, column, file) = match info.location() {
        Some(location) => (location.line(), location.column(), location.file()),
        None => (0, 0, ""),
    };
    // One line, so that it reads well in the debugger and on Xen's console.
    crate::error!("panic at {}:{}:{}: {}", file, line, column, info.message());
    // SAFETY: KeBugCheckEx may be called at any IRQL and never returns.
    unsafe {
        crate::wdm::KeBugCheckEx(
            RUST_PANIC_BUGCHECK,
            line as usize,
            column as usize,
            file.as_ptr() as usize,
            file.len(),
        )
    }
}
