//! PE rules for a kernel driver image: AMD64, PE32+, native subsystem, a correct non-zero
//! checksum, DYNAMIC_BASE and NX_COMPAT, relocations, no writable+executable section, no
//! executable section but `.text` and the hypercall page's [`HYPERCALL_SECTION`] (one
//! page-aligned page, read + execute), entry point at `DriverEntry`, and imports only from our
//! modules and only names our `.def` files list.

use std::fmt;

use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, ImageThunkData, PeFile64};
use object::LittleEndian as LE;

use crate::def::ImportRules;

/// The section of the page Xen writes its hypercall stubs into (`nt_kernel::hypercall_section`):
/// besides `.text`, the only section that may be executable.
pub const HYPERCALL_SECTION: &str = ".hcall";
/// The size and alignment of that section.
pub const PAGE_SIZE: u32 = 4096;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not a PE image that `object` can parse.
    Unreadable(String),
    /// Optional header magic is not PE32+ (0x20B).
    Magic(u16),
    /// Machine is not AMD64 (0x8664).
    Machine(u16),
    /// Subsystem is not NATIVE (1).
    Subsystem(u16),
    /// The checksum field is zero.
    ZeroChecksum,
    /// The checksum field does not match the image.
    WrongChecksum {
        /// Value in the header.
        stored: u32,
        /// Value computed over the file.
        computed: u32,
    },
    /// A required DllCharacteristics flag is missing.
    MissingDllCharacteristic(&'static str),
    /// No base relocations: the image cannot be loaded at another address.
    NoRelocations,
    /// A section is both writable and executable.
    WritableExecutable(String),
    /// An executable section other than `.text` and [`HYPERCALL_SECTION`].
    UnexpectedExecutable(String),
    /// [`HYPERCALL_SECTION`] is not one page-aligned page of read + execute memory.
    HypercallSectionShape {
        /// Its RVA.
        rva: u32,
        /// Its virtual size.
        size: u32,
        /// Its characteristics.
        characteristics: u32,
    },
    /// The entry point is not in an executable section.
    EntryNotExecutable(u32),
    /// The entry point is not `DriverEntry` (per the linker map).
    EntryNotDriverEntry {
        /// AddressOfEntryPoint.
        entry: u32,
        /// DriverEntry's RVA from the map.
        driver_entry: u32,
    },
    /// Import from a module other than ntoskrnl.exe, hal.dll, storport.sys, ndis.sys.
    ForbiddenModule(String),
    /// Import of a name our `.def` for that module does not list.
    StrayImport {
        /// Module.
        dll: String,
        /// Function name.
        name: String,
    },
    /// Import by ordinal (our `.def` files only import by name).
    ImportByOrdinal {
        /// Module.
        dll: String,
        /// Ordinal.
        ordinal: u16,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unreadable(e) => write!(f, "not a readable PE image: {e}"),
            Problem::Magic(m) => write!(f, "optional header magic {m:#x}, want 0x20b (PE32+)"),
            Problem::Machine(m) => write!(f, "machine {m:#x}, want 0x8664 (AMD64)"),
            Problem::Subsystem(s) => write!(f, "subsystem {s}, want 1 (NATIVE)"),
            Problem::ZeroChecksum => write!(f, "checksum is zero"),
            Problem::WrongChecksum { stored, computed } => {
                write!(
                    f,
                    "checksum {stored:#x} does not match the image ({computed:#x})"
                )
            }
            Problem::MissingDllCharacteristic(flag) => write!(f, "DllCharacteristics lacks {flag}"),
            Problem::NoRelocations => write!(f, "no base relocations"),
            Problem::WritableExecutable(s) => write!(f, "section {s} is writable and executable"),
            Problem::UnexpectedExecutable(s) => write!(
                f,
                "section {s} is executable (only .text and {HYPERCALL_SECTION} may be)"
            ),
            Problem::HypercallSectionShape {
                rva,
                size,
                characteristics,
            } => write!(
                f,
                "section {HYPERCALL_SECTION} at {rva:#x}, {size:#x} bytes, characteristics \
                 {characteristics:#x}: want one page-aligned page, readable and executable"
            ),
            Problem::EntryNotExecutable(e) => {
                write!(f, "entry point {e:#x} is not in an executable section")
            }
            Problem::EntryNotDriverEntry {
                entry,
                driver_entry,
            } => {
                write!(
                    f,
                    "entry point {entry:#x} is not DriverEntry ({driver_entry:#x})"
                )
            }
            Problem::ForbiddenModule(d) => write!(f, "imports from {d}"),
            Problem::StrayImport { dll, name } => {
                write!(f, "imports {dll}!{name}, which no .def file lists")
            }
            Problem::ImportByOrdinal { dll, ordinal } => {
                write!(f, "imports {dll} ordinal {ordinal}")
            }
        }
    }
}

/// What a passing image looks like, for the report.
#[derive(Debug, Clone)]
pub struct Report {
    /// `(module, name)` of every import.
    pub imports: Vec<(String, String)>,
    /// AddressOfEntryPoint.
    pub entry: u32,
    /// The checksum.
    pub checksum: u32,
}

impl Report {
    /// Whether the image imports from `dll` (case-insensitive).
    pub fn imports_from(&self, dll: &str) -> bool {
        self.imports
            .iter()
            .any(|(d, _)| d.eq_ignore_ascii_case(dll))
    }
}

/// File offset of the PE signature (`e_lfanew`).
fn nt_offset(image: &[u8]) -> Option<usize> {
    let bytes = image.get(0x3C..0x40)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?) as usize)
}

/// File offset of the checksum field (PE signature 4 + file header 20 + 64 into the optional header).
pub fn checksum_offset(image: &[u8]) -> Option<usize> {
    let offset = nt_offset(image)? + 4 + 20 + 64;
    (offset + 4 <= image.len()).then_some(offset)
}

/// The PE checksum as the loader computes it (16-bit one's-complement-style sum of the file
/// with the checksum field taken as zero, plus the file length).
pub fn compute_checksum(image: &[u8]) -> u32 {
    let skip = checksum_offset(image);
    let mut sum: u64 = 0;
    let mut offset = 0;
    while offset < image.len() {
        let low = u64::from(image[offset]);
        let high = image.get(offset + 1).copied().map_or(0, u64::from);
        let in_field = skip.is_some_and(|s| offset >= s && offset < s + 4);
        if !in_field {
            sum += low | (high << 8);
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        offset += 2;
    }
    sum = (sum & 0xFFFF) + (sum >> 16);
    (sum as u32).wrapping_add(image.len() as u32)
}

/// Writes the correct checksum into `image` (used after patching a copy in tests).
pub fn fix_checksum(image: &mut [u8]) {
    if let Some(offset) = checksum_offset(image) {
        image[offset..offset + 4].copy_from_slice(&[0; 4]);
        let sum = compute_checksum(image);
        image[offset..offset + 4].copy_from_slice(&sum.to_le_bytes());
    }
}

/// The RVA of `DriverEntry` in an lld-link `/MAP` file (column `Rva+Base` minus `image_base`).
pub fn driver_entry_from_map(map: &str, image_base: u64) -> Option<u32> {
    map.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let _section = words.next()?;
        if words.next()? != "DriverEntry" {
            return None;
        }
        let address = u64::from_str_radix(words.next()?, 16).ok()?;
        u32::try_from(address.checked_sub(image_base)?).ok()
    })
}

/// The file version (`a.b.c.d`) of the `VS_FIXEDFILEINFO` in the image's version resource,
/// found by its signature `0xFEEF04BD`.
pub fn file_version(image: &[u8]) -> Option<String> {
    let signature = 0xFEEF_04BD_u32.to_le_bytes();
    let at = image.windows(4).position(|w| w == signature)?;
    let word = |offset: usize| -> Option<u32> {
        let bytes = image.get(at + offset..at + offset + 4)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
    };
    let (ms, ls) = (word(8)?, word(12)?);
    Some(format!(
        "{}.{}.{}.{}",
        ms >> 16,
        ms & 0xFFFF,
        ls >> 16,
        ls & 0xFFFF
    ))
}

/// RVA, virtual size and characteristics of the section `name`, if the image has one.
pub fn section(image: &[u8], name: &str) -> Option<(u32, u32, u32)> {
    let file = PeFile64::parse(image).ok()?;
    file.section_table()
        .iter()
        .find(|s| s.raw_name() == name.as_bytes())
        .map(|s| {
            (
                s.virtual_address.get(LE),
                s.virtual_size.get(LE),
                s.characteristics.get(LE),
            )
        })
}

/// The image base from the optional header.
pub fn image_base(image: &[u8]) -> Option<u64> {
    let file = PeFile64::parse(image).ok()?;
    Some(file.nt_headers().optional_header().image_base())
}

/// Checks `image`. `driver_entry` is DriverEntry's RVA from the linker map, when known.
pub fn check_driver(
    image: &[u8],
    rules: &ImportRules,
    driver_entry: Option<u32>,
) -> Result<Report, Vec<Problem>> {
    // Magic first, so a PE32 image gets a precise message rather than a parse error.
    if let Some(nt) = nt_offset(image) {
        if let Some(magic) = image.get(nt + 24..nt + 26) {
            let magic = u16::from_le_bytes([magic[0], magic[1]]);
            if magic != pe::IMAGE_NT_OPTIONAL_HDR64_MAGIC {
                return Err(vec![Problem::Magic(magic)]);
            }
        }
    }
    let file = PeFile64::parse(image).map_err(|e| vec![Problem::Unreadable(e.to_string())])?;
    let mut problems = Vec::new();
    let nt = file.nt_headers();
    let header = nt.file_header();
    let optional = nt.optional_header();

    let machine = header.machine.get(LE);
    if machine != pe::IMAGE_FILE_MACHINE_AMD64 {
        problems.push(Problem::Machine(machine));
    }
    if optional.subsystem() != pe::IMAGE_SUBSYSTEM_NATIVE {
        problems.push(Problem::Subsystem(optional.subsystem()));
    }
    let checksum = optional.check_sum();
    if checksum == 0 {
        problems.push(Problem::ZeroChecksum);
    } else {
        let computed = compute_checksum(image);
        if computed != checksum {
            problems.push(Problem::WrongChecksum {
                stored: checksum,
                computed,
            });
        }
    }
    let characteristics = optional.dll_characteristics();
    if characteristics & pe::IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE == 0 {
        problems.push(Problem::MissingDllCharacteristic("DYNAMIC_BASE"));
    }
    if characteristics & pe::IMAGE_DLLCHARACTERISTICS_NX_COMPAT == 0 {
        problems.push(Problem::MissingDllCharacteristic("NX_COMPAT"));
    }
    let relocations = file.data_directory(pe::IMAGE_DIRECTORY_ENTRY_BASERELOC);
    if relocations.is_none_or(|d| d.size.get(LE) == 0) {
        problems.push(Problem::NoRelocations);
    }

    let entry = optional.address_of_entry_point();
    let mut entry_executable = false;
    for section in file.section_table().iter() {
        let flags = section.characteristics.get(LE);
        let name = String::from_utf8_lossy(section.raw_name()).into_owned();
        let executable = flags & pe::IMAGE_SCN_MEM_EXECUTE != 0;
        let start = section.virtual_address.get(LE);
        let size = section.virtual_size.get(LE);
        problems.extend(section_problems(&name, flags, start, size));
        if executable && entry >= start && entry - start < size {
            entry_executable = true;
        }
    }
    if !entry_executable {
        problems.push(Problem::EntryNotExecutable(entry));
    }
    if let Some(driver_entry) = driver_entry {
        if driver_entry != entry {
            problems.push(Problem::EntryNotDriverEntry {
                entry,
                driver_entry,
            });
        }
    }

    let mut imports = Vec::new();
    match list_imports(&file) {
        Ok(list) => {
            for import in list {
                match import {
                    ImportEntry::Name { dll, name } => {
                        if !rules.knows_dll(&dll) {
                            problems.push(Problem::ForbiddenModule(dll.clone()));
                        } else if !rules.allows(&dll, &name) {
                            problems.push(Problem::StrayImport {
                                dll: dll.clone(),
                                name: name.clone(),
                            });
                        }
                        imports.push((dll, name));
                    }
                    ImportEntry::Ordinal { dll, ordinal } => {
                        problems.push(Problem::ImportByOrdinal { dll, ordinal });
                    }
                }
            }
        }
        Err(e) => problems.push(Problem::Unreadable(format!("import table: {e}"))),
    }
    problems.dedup();
    if problems.is_empty() {
        Ok(Report {
            imports,
            entry,
            checksum,
        })
    } else {
        Err(problems)
    }
}

/// The problems of one section: `name` as in the section header, `characteristics`, and its
/// RVA and virtual size.
pub fn section_problems(name: &str, characteristics: u32, rva: u32, size: u32) -> Vec<Problem> {
    let mut problems = Vec::new();
    let executable = characteristics & pe::IMAGE_SCN_MEM_EXECUTE != 0;
    if executable && characteristics & pe::IMAGE_SCN_MEM_WRITE != 0 {
        problems.push(Problem::WritableExecutable(name.to_string()));
    }
    if name == HYPERCALL_SECTION {
        let readable = characteristics & pe::IMAGE_SCN_MEM_READ != 0;
        let discardable = characteristics & pe::IMAGE_SCN_MEM_DISCARDABLE != 0;
        if !executable
            || !readable
            || discardable
            || !rva.is_multiple_of(PAGE_SIZE)
            || size != PAGE_SIZE
        {
            problems.push(Problem::HypercallSectionShape {
                rva,
                size,
                characteristics,
            });
        }
    } else if executable && name != ".text" {
        problems.push(Problem::UnexpectedExecutable(name.to_string()));
    }
    problems
}

/// One import of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ImportEntry {
    Name { dll: String, name: String },
    Ordinal { dll: String, ordinal: u16 },
}

fn list_imports(file: &PeFile64<'_>) -> object::Result<Vec<ImportEntry>> {
    let mut out = Vec::new();
    let Some(table) = file.import_table()? else {
        return Ok(out);
    };
    let mut descriptors = table.descriptors()?;
    while let Some(descriptor) = descriptors.next()? {
        let dll = String::from_utf8_lossy(table.name(descriptor.name.get(LE))?).into_owned();
        let lookup = match descriptor.original_first_thunk.get(LE) {
            0 => descriptor.first_thunk.get(LE),
            rva => rva,
        };
        let mut thunks = table.thunks(lookup)?;
        while let Some(thunk) = thunks.next::<object::pe::ImageNtHeaders64>()? {
            if thunk.is_ordinal() {
                out.push(ImportEntry::Ordinal {
                    dll: dll.clone(),
                    ordinal: thunk.ordinal(),
                });
            } else {
                let (_hint, name) = table.hint_name(thunk.address())?;
                out.push(ImportEntry::Name {
                    dll: dll.clone(),
                    name: String::from_utf8_lossy(name).into_owned(),
                });
            }
        }
    }
    Ok(out)
}

/// Deliberate defects, for the tests that prove the checks fail (each keeps the checksum right,
/// so only the intended rule breaks).
pub mod patch {
    use super::*;

    /// Sets the optional header's subsystem.
    pub fn set_subsystem(image: &mut [u8], subsystem: u16) -> Result<(), String> {
        let nt = nt_offset(image).ok_or("no e_lfanew")?;
        // Subsystem is at offset 68 of the optional header.
        let offset = nt + 4 + 20 + 68;
        image
            .get_mut(offset..offset + 2)
            .ok_or("short image")?
            .copy_from_slice(&subsystem.to_le_bytes());
        fix_checksum(image);
        Ok(())
    }

    /// Clears DllCharacteristics bits.
    pub fn clear_dll_characteristics(image: &mut [u8], bits: u16) -> Result<(), String> {
        let nt = nt_offset(image).ok_or("no e_lfanew")?;
        let offset = nt + 4 + 20 + 70;
        let field = image.get_mut(offset..offset + 2).ok_or("short image")?;
        let value = u16::from_le_bytes([field[0], field[1]]) & !bits;
        field.copy_from_slice(&value.to_le_bytes());
        fix_checksum(image);
        Ok(())
    }

    /// Renames the imported function `from` (of any module) to `to`, which must have the same
    /// length, in the hint/name table.
    pub fn rename_import(image: &mut [u8], from: &str, to: &str) -> Result<(), String> {
        rename_string(image, from, to, false)
    }

    /// Renames an imported module `from` to `to` (same length) in the import descriptors.
    pub fn rename_module(image: &mut [u8], from: &str, to: &str) -> Result<(), String> {
        rename_string(image, from, to, true)
    }

    fn rename_string(image: &mut [u8], from: &str, to: &str, module: bool) -> Result<(), String> {
        if from.len() != to.len() {
            return Err("names must have the same length".into());
        }
        let offset = {
            let file = PeFile64::parse(&*image).map_err(|e| e.to_string())?;
            let table = file
                .import_table()
                .map_err(|e| e.to_string())?
                .ok_or("no imports")?;
            let mut descriptors = table.descriptors().map_err(|e| e.to_string())?;
            let mut found = None;
            while let Some(descriptor) = descriptors.next().map_err(|e| e.to_string())? {
                let dll = table
                    .name(descriptor.name.get(LE))
                    .map_err(|e| e.to_string())?;
                if module {
                    if dll.eq_ignore_ascii_case(from.as_bytes()) {
                        found = Some(dll.as_ptr() as usize - image.as_ptr() as usize);
                        break;
                    }
                    continue;
                }
                let mut thunks = table
                    .thunks(descriptor.original_first_thunk.get(LE))
                    .map_err(|e| e.to_string())?;
                while let Some(thunk) = thunks
                    .next::<object::pe::ImageNtHeaders64>()
                    .map_err(|e| e.to_string())?
                {
                    if thunk.is_ordinal() {
                        continue;
                    }
                    let (_, name) = table
                        .hint_name(thunk.address())
                        .map_err(|e| e.to_string())?;
                    if name == from.as_bytes() {
                        found = Some(name.as_ptr() as usize - image.as_ptr() as usize);
                    }
                }
            }
            found.ok_or_else(|| format!("{from} not found among the imports"))?
        };
        image[offset..offset + to.len()].copy_from_slice(to.as_bytes());
        fix_checksum(image);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_known_bytes() {
        // No PE header: the whole buffer is summed. Words 0x0201 + 0x0403 = 0x0604, plus length 4.
        assert_eq!(compute_checksum(&[1, 2, 3, 4]), 0x0604 + 4);
        // Carries fold back into 16 bits.
        assert_eq!(compute_checksum(&[0xFF, 0xFF, 0x02, 0x00]), 0x0002 + 4);
    }

    #[test]
    fn map_line_gives_driver_entry_rva() {
        let map = "  Address  Publics by Value  Rva+Base  Lib:Object\n\n 0001:00000000       DriverEntry                0000000140001000     x.o\n";
        assert_eq!(driver_entry_from_map(map, 0x1_4000_0000), Some(0x1000));
        assert_eq!(driver_entry_from_map("nothing here", 0x1_4000_0000), None);
    }

    #[test]
    fn file_version_is_read_after_the_signature() {
        let mut blob = vec![0u8; 8];
        blob.extend_from_slice(&0xFEEF_04BD_u32.to_le_bytes());
        blob.extend_from_slice(&0x0001_0000_u32.to_le_bytes()); // dwStrucVersion
        blob.extend_from_slice(&0x0002_0003_u32.to_le_bytes()); // dwFileVersionMS
        blob.extend_from_slice(&0x0004_0005_u32.to_le_bytes()); // dwFileVersionLS
        assert_eq!(file_version(&blob).as_deref(), Some("2.3.4.5"));
        assert_eq!(file_version(&blob[..20]), None);
        assert_eq!(file_version(b"no resource"), None);
    }

    #[test]
    fn only_text_and_the_hypercall_page_may_be_executable() {
        const CODE: u32 =
            pe::IMAGE_SCN_CNT_CODE | pe::IMAGE_SCN_MEM_EXECUTE | pe::IMAGE_SCN_MEM_READ;
        // What lld-link makes of the static with /SECTION:.hcall,RE.
        const HCALL: u32 =
            pe::IMAGE_SCN_CNT_INITIALIZED_DATA | pe::IMAGE_SCN_MEM_EXECUTE | pe::IMAGE_SCN_MEM_READ;
        const DATA: u32 =
            pe::IMAGE_SCN_CNT_INITIALIZED_DATA | pe::IMAGE_SCN_MEM_READ | pe::IMAGE_SCN_MEM_WRITE;
        assert_eq!(section_problems(".text", CODE, 0x1000, 0x5432), []);
        assert_eq!(section_problems(".data", DATA, 0x9000, 0x123), []);
        assert_eq!(
            section_problems(HYPERCALL_SECTION, HCALL, 0x8000, 0x1000),
            []
        );
        // Executable data elsewhere, or code under another name.
        assert_eq!(
            section_problems(
                ".rdata",
                DATA & !pe::IMAGE_SCN_MEM_WRITE | pe::IMAGE_SCN_MEM_EXECUTE,
                0x7000,
                0x10
            ),
            [Problem::UnexpectedExecutable(".rdata".into())]
        );
        assert_eq!(
            section_problems("INIT", CODE, 0xA000, 0x10),
            [Problem::UnexpectedExecutable("INIT".into())]
        );
        // The hypercall section: writable, not executable (linker argument missing), not one
        // page, not page-aligned, or discardable.
        let writable = HCALL | pe::IMAGE_SCN_MEM_WRITE;
        assert_eq!(
            section_problems(HYPERCALL_SECTION, writable, 0x8000, 0x1000),
            [Problem::WritableExecutable(HYPERCALL_SECTION.into())]
        );
        for (flags, rva, size) in [
            (DATA, 0x8000, 0x1000),
            (HCALL, 0x8000, 0x2000),
            (HCALL, 0x8000, 0xFFF),
            (HCALL, 0x8800, 0x1000),
            (HCALL | pe::IMAGE_SCN_MEM_DISCARDABLE, 0x8000, 0x1000),
        ] {
            assert!(
                matches!(
                    section_problems(HYPERCALL_SECTION, flags, rva, size).as_slice(),
                    [Problem::HypercallSectionShape { .. }]
                ),
                "{flags:#x} {rva:#x} {size:#x}"
            );
        }
    }

    #[test]
    fn garbage_is_rejected_not_panicked_on() {
        let rules = ImportRules::default();
        assert!(check_driver(b"MZ", &rules, None).is_err());
        assert!(check_driver(&[0u8; 4096], &rules, None).is_err());
    }
}
