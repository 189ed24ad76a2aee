//! What the boot loader and the real-mode setup code left in the zero page (boot_params): the
//! command line and the E820 memory map, copied out once at start.

use crate::platform;

/// E820 type of usable RAM.
pub const E820_RAM: u32 = 1;
/// Offset of `e820_entries` (u8) in boot_params.
const E820_ENTRIES: usize = 0x1e8;
/// Offset of `e820_table` (128 entries of 20 bytes) in boot_params.
const E820_TABLE: usize = 0x2d0;
/// Size of one `boot_e820_entry`.
const E820_ENTRY_SIZE: usize = 20;
/// Offset of `hdr.cmd_line_ptr` (u32) in boot_params.
const CMD_LINE_PTR: usize = 0x228;
/// Offset of `hdr.type_of_loader` (u8).
const TYPE_OF_LOADER: usize = 0x210;
/// Maximum E820 entries in boot_params.
pub const MAX_E820: usize = 128;
/// Longest command line kept (the header's `cmdline_size`).
pub const MAX_CMDLINE: usize = 2047;

/// One entry of the E820 map.
#[derive(Clone, Copy, Debug, Default)]
pub struct E820Entry {
    /// Physical start address.
    pub address: u64,
    /// Length in bytes.
    pub size: u64,
    /// Type (1 = RAM, 2 = reserved, ...).
    pub kind: u32,
}

/// The boot information, copied out of the zero page.
pub struct BootInfo {
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    e820: [E820Entry; MAX_E820],
    e820_len: usize,
    /// The loader's `type_of_loader` byte (QEMU writes 0xB0).
    pub loader: u8,
}

impl BootInfo {
    /// Reads the zero page at physical `address`. A missing or unreadable zero page gives an
    /// empty command line and memory map.
    pub fn read(address: u64) -> BootInfo {
        let mut info = BootInfo {
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            e820: [E820Entry::default(); MAX_E820],
            e820_len: 0,
            loader: 0,
        };
        let Some(page) = platform::identity_window(address, 4096) else {
            return info;
        };
        info.loader = page.read_u8(TYPE_OF_LOADER).unwrap_or(0);
        let count = usize::from(page.read_u8(E820_ENTRIES).unwrap_or(0)).min(MAX_E820);
        for i in 0..count {
            let mut raw = [0u8; E820_ENTRY_SIZE];
            if page
                .read_bytes(E820_TABLE + i * E820_ENTRY_SIZE, &mut raw)
                .is_err()
            {
                break;
            }
            let (address, rest) = raw.split_at(8);
            let (size, kind) = rest.split_at(8);
            if let (Some(entry), Ok(a), Ok(s), Ok(k)) = (
                info.e820.get_mut(info.e820_len),
                <[u8; 8]>::try_from(address),
                <[u8; 8]>::try_from(size),
                <[u8; 4]>::try_from(kind),
            ) {
                *entry = E820Entry {
                    address: u64::from_le_bytes(a),
                    size: u64::from_le_bytes(s),
                    kind: u32::from_le_bytes(k),
                };
                info.e820_len += 1;
            }
        }
        let mut ptr = [0u8; 4];
        let cmdline_ptr = match page.read_bytes(CMD_LINE_PTR, &mut ptr) {
            Ok(()) => u64::from(u32::from_le_bytes(ptr)),
            Err(_) => 0,
        };
        if let Some(cmdline) = platform::identity_window(cmdline_ptr, MAX_CMDLINE) {
            for (i, byte) in info.cmdline.iter_mut().enumerate() {
                match cmdline.read_u8(i) {
                    Ok(0) | Err(_) => break,
                    Ok(b) => {
                        *byte = b;
                        info.cmdline_len = i + 1;
                    }
                }
            }
        }
        info
    }

    /// The command line (non-UTF-8 bytes make it empty).
    pub fn cmdline(&self) -> &str {
        self.cmdline
            .get(..self.cmdline_len)
            .and_then(|bytes| core::str::from_utf8(bytes).ok())
            .unwrap_or("")
    }

    /// The value of `key=value` on the command line.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.cmdline().split_ascii_whitespace().find_map(|word| {
            let (k, v) = word.split_once('=')?;
            (k == key).then_some(v)
        })
    }

    /// The E820 map.
    pub fn e820(&self) -> &[E820Entry] {
        self.e820.get(..self.e820_len).unwrap_or(&[])
    }

    /// Total RAM in the E820 map.
    pub fn ram_bytes(&self) -> u64 {
        self.e820()
            .iter()
            .filter(|e| e.kind == E820_RAM)
            .map(|e| e.size)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cmdline(text: &[u8]) -> BootInfo {
        let mut info = BootInfo {
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: text.len(),
            e820: [E820Entry::default(); MAX_E820],
            e820_len: 2,
            loader: 0,
        };
        info.cmdline[..text.len()].copy_from_slice(text);
        info.e820[0] = E820Entry {
            address: 0,
            size: 0x9fc00,
            kind: E820_RAM,
        };
        info.e820[1] = E820Entry {
            address: 0xfc00_0000,
            size: 0x1000,
            kind: 2,
        };
        info
    }

    #[test]
    fn arguments_are_found_by_exact_key() {
        let info = with_cmdline(b"scenario=shutdown  mode=reboot xscenario=no flag");
        assert_eq!(info.arg("scenario"), Some("shutdown"));
        assert_eq!(info.arg("mode"), Some("reboot"));
        assert_eq!(info.arg("flag"), None);
        assert_eq!(info.arg("missing"), None);
        assert_eq!(info.ram_bytes(), 0x9fc00);
    }

    #[test]
    fn non_utf8_command_line_reads_as_empty() {
        let info = with_cmdline(b"scenario=\xff");
        assert_eq!(info.cmdline(), "");
        assert_eq!(info.arg("scenario"), None);
    }
}
