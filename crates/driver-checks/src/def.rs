//! Reads the `.def` files the import libraries are generated from: the allow-list of imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Imports a driver may have: lower-case DLL name to the function names its `.def` lists.
#[derive(Debug, Clone, Default)]
pub struct ImportRules {
    allowed: BTreeMap<String, BTreeSet<String>>,
}

/// The only modules a driver may import from.
pub const ALLOWED_DLLS: [&str; 4] = ["ntoskrnl.exe", "hal.dll", "storport.sys", "ndis.sys"];

impl ImportRules {
    /// Reads every `*.def` in `dir`.
    pub fn from_def_dir(dir: &Path) -> Result<Self, String> {
        let mut rules = Self::default();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.extension().is_some_and(|e| e == "def") {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let (dll, names) =
                    parse_def(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                rules.allowed.entry(dll).or_default().extend(names);
            }
        }
        if rules.allowed.is_empty() {
            return Err(format!("no .def files in {}", dir.display()));
        }
        Ok(rules)
    }

    /// Whether `dll!name` is allowed.
    pub fn allows(&self, dll: &str, name: &str) -> bool {
        self.allowed
            .get(&dll.to_ascii_lowercase())
            .is_some_and(|names| names.contains(name))
    }

    /// Whether `dll` is one of ours (has a `.def` file and is an allowed module).
    pub fn knows_dll(&self, dll: &str) -> bool {
        let dll = dll.to_ascii_lowercase();
        ALLOWED_DLLS.contains(&dll.as_str()) && self.allowed.contains_key(&dll)
    }

    /// The names listed for `dll`.
    pub fn names(&self, dll: &str) -> impl Iterator<Item = &str> {
        self.allowed
            .get(&dll.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

/// Parses `LIBRARY <dll>` / `EXPORTS` / one name a line (`;` starts a comment).
pub fn parse_def(text: &str) -> Result<(String, BTreeSet<String>), String> {
    let mut library = None;
    let mut in_exports = false;
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("LIBRARY") {
            library = Some(rest.trim().trim_matches('"').to_ascii_lowercase());
        } else if line == "EXPORTS" {
            in_exports = true;
        } else if in_exports {
            let name = line.split_whitespace().next().unwrap_or(line);
            if !names.insert(name.to_string()) {
                return Err(format!("{name} listed twice"));
            }
        } else {
            return Err(format!("unexpected line `{line}`"));
        }
    }
    let library = library.ok_or("no LIBRARY line")?;
    Ok((library, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_library_and_exports_with_comments() {
        let (dll, names) =
            parse_def("; c\nLIBRARY ntoskrnl.exe\nEXPORTS\nKeSetEvent ; x\nIofCallDriver\n")
                .unwrap();
        assert_eq!(dll, "ntoskrnl.exe");
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["IofCallDriver", "KeSetEvent"]
        );
    }

    #[test]
    fn rejects_duplicates_and_a_missing_library() {
        assert!(parse_def("LIBRARY a.dll\nEXPORTS\nX\nX\n").is_err());
        assert!(parse_def("EXPORTS\nX\n").is_err());
    }

    #[test]
    fn the_projects_def_files_list_only_allowed_modules() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nt-kernel/def");
        let rules = ImportRules::from_def_dir(&dir).unwrap();
        for dll in rules.allowed.keys() {
            assert!(ALLOWED_DLLS.contains(&dll.as_str()), "{dll}");
        }
        assert!(rules.allows("NTOSKRNL.EXE", "IofCallDriver"));
        assert!(!rules.allows("ntoskrnl.exe", "ExAllocatePool2"));
    }
}
