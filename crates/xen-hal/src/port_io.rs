//! x86 port I/O (the Xen platform device's unplug ports, the debug port 0xE9).

/// Port I/O as the OS offers it (`READ_PORT_UCHAR` on Windows, `in`/`out` in the test guest).
pub trait PortIo {
    /// Reads a byte.
    fn read_u8(&self, port: u16) -> u8;
    /// Reads a 16-bit word.
    fn read_u16(&self, port: u16) -> u16;
    /// Reads a 32-bit word.
    fn read_u32(&self, port: u16) -> u32;
    /// Writes a byte.
    fn write_u8(&self, port: u16, value: u8);
    /// Writes a 16-bit word.
    fn write_u16(&self, port: u16, value: u16);
    /// Writes a 32-bit word.
    fn write_u32(&self, port: u16, value: u32);
}
