//! The `.def` files list exactly the functions nt-kernel declares for each module: a declared
//! import missing from a `.def` would not link, and a listed name nothing declares would let an
//! undeclared import through the PE check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use driver_checks::def::parse_def;

/// `link(name = "...")` values to the module they import from.
fn module_of(link_name: &str) -> &'static str {
    match link_name {
        "ntoskrnl" => "ntoskrnl.exe",
        "hal" => "hal.dll",
        "storport" => "storport.sys",
        "ndis" => "ndis.sys",
        other => panic!("unknown link name {other}"),
    }
}

/// Functions declared in `extern` blocks, grouped by the module of their `link` attribute.
fn declared(sources: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(sources).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut module: Option<&'static str> = None;
        let mut in_block = false;
        for line in text.lines() {
            let trimmed = line.trim();
            if let Some(rest) =
                trimmed.strip_prefix("#[cfg_attr(target_os = \"windows\", link(name = \"")
            {
                module = Some(module_of(rest.split('"').next().unwrap()));
            } else if trimmed.starts_with("unsafe extern") && module.is_some() {
                in_block = true;
            } else if in_block && trimmed == "}" && !line.starts_with(' ') {
                in_block = false;
                module = None;
            } else if in_block {
                if let Some(rest) = trimmed.strip_prefix("pub fn ") {
                    let name = rest.split('(').next().unwrap().to_string();
                    out.entry(module.unwrap().to_string())
                        .or_default()
                        .insert(name);
                }
            }
        }
    }
    out
}

#[test]
fn def_files_match_the_declared_imports() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nt-kernel");
    let declared = declared(&root.join("src"));
    let mut listed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(root.join("def")).unwrap() {
        let path = entry.unwrap().path();
        let (dll, names) = parse_def(&std::fs::read_to_string(&path).unwrap()).unwrap();
        listed.insert(dll, names);
    }
    assert_eq!(
        declared.keys().collect::<Vec<_>>(),
        listed.keys().collect::<Vec<_>>()
    );
    for (dll, names) in &declared {
        let in_def = &listed[dll];
        let undeclared: Vec<_> = in_def.difference(names).collect();
        let unlisted: Vec<_> = names.difference(in_def).collect();
        assert!(
            undeclared.is_empty(),
            "{dll}: listed in the .def but not declared: {undeclared:?}"
        );
        assert!(
            unlisted.is_empty(),
            "{dll}: declared but not in the .def: {unlisted:?}"
        );
    }
    // The parser saw the blocks at all.
    assert!(declared["ntoskrnl.exe"].contains("IofCallDriver"));
    assert!(declared["hal.dll"].contains("READ_PORT_UCHAR"));
}
