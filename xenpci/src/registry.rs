//! Registry reads and writes DriverEntry needs (`ZwOpenKey`, `ZwQueryValueKey`, ...), and the
//! image stamps (`ZwQueryFullAttributesFile`), at PASSIVE_LEVEL.

use alloc::vec::Vec;
use core::mem::size_of;
use core::ptr::null_mut;

use nt_kernel::ntdef::*;
use nt_kernel::wdm::*;

/// Longest value read (SystemStartOptions is a few hundred bytes).
const MAX_VALUE_BYTES: usize = 8192;

/// A UTF-16 copy of an ASCII string with a `UNICODE_STRING` over it.
struct Unicode {
    units: Vec<u16>,
}

impl Unicode {
    fn new(text: &str) -> Option<Unicode> {
        let mut units = Vec::new();
        units.try_reserve_exact(text.len() + 1).ok()?;
        units.extend(text.encode_utf16());
        units.push(0);
        Some(Unicode { units })
    }

    fn string(&mut self) -> UNICODE_STRING {
        let bytes = (self.units.len().saturating_sub(1) * 2).min(usize::from(u16::MAX - 1)) as u16;
        UNICODE_STRING {
            Length: bytes,
            MaximumLength: bytes.saturating_add(2),
            Buffer: self.units.as_mut_ptr(),
        }
    }
}

/// An open key, closed on drop.
pub struct Key(HANDLE);

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: a handle from ZwOpenKey/ZwCreateKey, closed once.
        unsafe { ZwClose(self.0) };
    }
}

fn attributes(name: &mut UNICODE_STRING, root: HANDLE) -> OBJECT_ATTRIBUTES {
    OBJECT_ATTRIBUTES {
        Length: size_of::<OBJECT_ATTRIBUTES>() as ULONG,
        RootDirectory: root,
        ObjectName: name,
        Attributes: OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE,
        SecurityDescriptor: null_mut(),
        SecurityQualityOfService: null_mut(),
    }
}

impl Key {
    /// Opens `path` (absolute, `\Registry\Machine\...`) for reading.
    pub fn open(path: &str) -> Option<Key> {
        let mut name = Unicode::new(path)?;
        let mut string = name.string();
        Self::open_string(&mut string, null_mut(), KEY_READ)
    }

    /// Opens `path` (absolute) with `access`.
    pub fn open_with(path: &str, access: ACCESS_MASK) -> Option<Key> {
        let mut name = Unicode::new(path)?;
        let mut string = name.string();
        Self::open_string(&mut string, null_mut(), access)
    }

    /// Opens a key named by a `UNICODE_STRING` (the service key DriverEntry gets).
    pub fn open_unicode(path: &UNICODE_STRING, access: ACCESS_MASK) -> Option<Key> {
        let mut copy = *path;
        Self::open_string(&mut copy, null_mut(), access)
    }

    fn open_string(name: &mut UNICODE_STRING, root: HANDLE, access: ACCESS_MASK) -> Option<Key> {
        let mut attrs = attributes(name, root);
        let mut handle: HANDLE = null_mut();
        // SAFETY: `attrs` and the name it points to live for the call.
        let status = unsafe { ZwOpenKey(&mut handle, access, &mut attrs) };
        (NT_SUCCESS(status) && !handle.is_null()).then_some(Key(handle))
    }

    /// Opens or creates subkey `name` for reading and writing.
    pub fn create_subkey(&self, name: &str) -> Option<Key> {
        self.create(name, 0)
    }

    /// Opens or creates volatile subkey `name` (`REG_OPTION_VOLATILE`: gone at the next boot).
    pub fn create_volatile_subkey(&self, name: &str) -> Option<Key> {
        /// `REG_OPTION_VOLATILE` (wdm.h).
        const REG_OPTION_VOLATILE: ULONG = 1;
        self.create(name, REG_OPTION_VOLATILE)
    }

    fn create(&self, name: &str, options: ULONG) -> Option<Key> {
        let mut name = Unicode::new(name)?;
        let mut string = name.string();
        let mut attrs = attributes(&mut string, self.0);
        let mut handle: HANDLE = null_mut();
        let mut disposition: ULONG = 0;
        // SAFETY: `attrs` and its name live for the call; `self.0` is an open key.
        let status = unsafe {
            ZwCreateKey(
                &mut handle,
                KEY_READ | KEY_WRITE,
                &mut attrs,
                0,
                null_mut(),
                options,
                &mut disposition,
            )
        };
        (NT_SUCCESS(status) && !handle.is_null()).then_some(Key(handle))
    }

    /// Reads value `name`: its type and data.
    pub fn read(&self, name: &str) -> Option<(ULONG, Vec<u8>)> {
        let mut name = Unicode::new(name)?;
        let mut string = name.string();
        let header = size_of::<KEY_VALUE_PARTIAL_INFORMATION>();
        let mut buffer: Vec<u8> = Vec::new();
        buffer.try_reserve_exact(header + MAX_VALUE_BYTES).ok()?;
        buffer.resize(header + MAX_VALUE_BYTES, 0);
        let mut result: ULONG = 0;
        // SAFETY: the buffer is writable for its length; the name lives for the call.
        let status = unsafe {
            ZwQueryValueKey(
                self.0,
                &mut string,
                KeyValuePartialInformation,
                buffer.as_mut_ptr().cast(),
                buffer.len() as ULONG,
                &mut result,
            )
        };
        if !NT_SUCCESS(status) {
            return None;
        }
        let word = |at: usize| {
            buffer
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
        };
        let value_type = word(4)?;
        let length = word(8)? as usize;
        // `Data` starts at offset 12.
        let data = buffer.get(12..12usize.checked_add(length)?)?;
        let mut out = Vec::new();
        out.try_reserve_exact(data.len()).ok()?;
        out.extend_from_slice(data);
        Some((value_type, out))
    }

    /// Reads a REG_DWORD.
    pub fn read_dword(&self, name: &str) -> Option<u32> {
        match self.read(name)? {
            (REG_DWORD, data) => data.get(..4)?.try_into().ok().map(u32::from_le_bytes),
            _ => None,
        }
    }

    /// Reads a REG_QWORD path stamp ([`xenpci::boot::path_stamp_value`]).
    pub fn read_path_stamp(&self, name: &str) -> Option<xen_platform::evidence::PathStamp> {
        let (value_type, data) = self.read(name)?;
        xenpci::boot::path_stamp_value(value_type, &data)
    }

    /// Reads a REG_SZ as UTF-16 units.
    pub fn read_utf16(&self, name: &str) -> Option<Vec<u16>> {
        self.read_string(name, false)
    }

    /// Reads a REG_SZ or REG_EXPAND_SZ (unexpanded) as UTF-16 units (`ImagePath`).
    pub fn read_path(&self, name: &str) -> Option<Vec<u16>> {
        self.read_string(name, true)
    }

    fn read_string(&self, name: &str, expand_ok: bool) -> Option<Vec<u16>> {
        let (value_type, data) = self.read(name)?;
        if value_type != REG_SZ && !(expand_ok && value_type == REG_EXPAND_SZ) {
            return None;
        }
        let mut units = Vec::new();
        units.try_reserve_exact(data.len() / 2).ok()?;
        units.extend(
            data.chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]])),
        );
        Some(units)
    }

    /// Writes a REG_DWORD.
    pub fn write_dword(&self, name: &str, value: u32) -> bool {
        self.write_bytes(name, REG_DWORD, &mut value.to_le_bytes())
    }

    /// Writes a REG_QWORD.
    pub fn write_qword(&self, name: &str, value: u64) -> bool {
        self.write_bytes(name, REG_QWORD, &mut value.to_le_bytes())
    }

    fn write_bytes(&self, name: &str, value_type: ULONG, data: &mut [u8]) -> bool {
        let Some(mut name) = Unicode::new(name) else {
            return false;
        };
        let mut string = name.string();
        // SAFETY: the name and the data bytes live for the call.
        let status = unsafe {
            ZwSetValueKey(
                self.0,
                &mut string,
                0,
                value_type,
                data.as_mut_ptr().cast(),
                data.len() as ULONG,
            )
        };
        NT_SUCCESS(status)
    }

    /// Deletes value `name`; a value that does not exist counts as deleted.
    pub fn delete_value(&self, name: &str) -> bool {
        let Some(mut name) = Unicode::new(name) else {
            return false;
        };
        let mut string = name.string();
        // SAFETY: an open key; the name lives for the call.
        let status = unsafe { ZwDeleteValueKey(self.0, &mut string) };
        NT_SUCCESS(status) || status == STATUS_OBJECT_NAME_NOT_FOUND
    }

    /// Carries out one operation of the arm write.
    pub fn apply(&self, op: xenpci::boot::RegistryOp) -> bool {
        use xenpci::boot::RegistryOp;
        match op {
            RegistryOp::Dword(name, value) => self.write_dword(name, value),
            RegistryOp::Qword(name, value) => self.write_qword(name, value),
            RegistryOp::Delete(name) => self.delete_value(name),
        }
    }

    /// `ZwFlushKey`: the key's changes are on disk when this returns `true`.
    pub fn flush(&self) -> bool {
        // SAFETY: an open key.
        NT_SUCCESS(unsafe { ZwFlushKey(self.0) })
    }
}

/// The stamp (size, last-write time) of the file at NT path `path` (UTF-16, no NUL), `None`
/// if it cannot be queried.
pub fn file_stamp(path: &[u16]) -> Option<xen_platform::evidence::ImageStamp> {
    let mut units = Vec::new();
    units.try_reserve_exact(path.len() + 1).ok()?;
    units.extend_from_slice(path);
    units.push(0);
    let mut name = Unicode { units };
    let mut string = name.string();
    let mut attrs = attributes(&mut string, null_mut());
    let mut info = FILE_NETWORK_OPEN_INFORMATION::default();
    // SAFETY: PASSIVE_LEVEL (DriverEntry); `attrs`, its name and `info` live for the call.
    let status = unsafe { ZwQueryFullAttributesFile(&mut attrs, &mut info) };
    if !NT_SUCCESS(status) {
        return None;
    }
    xenpci::boot::image_stamp(info.EndOfFile, info.LastWriteTime)
}
