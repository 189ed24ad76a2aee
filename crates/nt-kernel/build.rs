//! Build script: import libraries from `def/*.def` (Windows targets) and layout asserts generated
//! from a C probe compiled against mingw-w64's DDK headers (whenever its compiler is present;
//! required for Windows targets).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Header prelude of the C probe: mingw-w64's `storport.h` redefines `_SCSI_WMI_REQUEST_BLOCK`
/// of `srb.h`, so only `srb.h` is included for the SCSI types.
const PROBE_PRELUDE: &str = "#include <ntddk.h>\n#include <srb.h>\n#include <stddef.h>\n";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=def");
    println!("cargo:rerun-if-changed=layout/probes.txt");
    println!("cargo:rerun-if-env-changed=NT_KERNEL_MINGW_GCC");
    println!("cargo:rerun-if-env-changed=LLVM_DLLTOOL");
    println!("cargo::rustc-check-cfg=cfg(nt_kernel_mingw_probe)");

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let windows = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows");

    if windows {
        import_libraries(&manifest.join("def"), &out);
    }
    layout_probe(&manifest.join("layout/probes.txt"), &out, windows);
}

/// Runs `llvm-dlltool` on every `.def` file, writing `<stem>.lib` into `out`.
fn import_libraries(def_dir: &Path, out: &Path) {
    let dlltool = find_tool(
        "LLVM_DLLTOOL",
        &["llvm-dlltool", "llvm-dlltool-22", "llvm-dlltool-19", "llvm-dlltool-16", "llvm-dlltool-14"],
    )
    .unwrap_or_else(|| {
        panic!("llvm-dlltool not found (install Debian's llvm-14, or set LLVM_DLLTOOL); cargo xtask dist installs it")
    });
    let mut defs: Vec<PathBuf> = fs::read_dir(def_dir)
        .expect("read def/")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "def"))
        .collect();
    defs.sort();
    for def in defs {
        let stem = def
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("def file name");
        let lib = out.join(format!("{stem}.lib"));
        let status = Command::new(&dlltool)
            .args(["-m", "i386:x86-64", "-d"])
            .arg(&def)
            .arg("-l")
            .arg(&lib)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {dlltool}: {e}"));
        assert!(status.success(), "{dlltool} failed on {}", def.display());
    }
    println!("cargo:rustc-link-search=native={}", out.display());
}

/// The tool named by the environment variable, or the first of `names` that can be started
/// (llvm-dlltool exits 1 on `--version`, so only starting it counts).
fn find_tool(var: &str, names: &[&str]) -> Option<String> {
    if let Ok(tool) = env::var(var) {
        return Some(tool);
    }
    names
        .iter()
        .map(|n| n.to_string())
        .find(|name| Command::new(name).arg("--version").output().is_ok())
}

/// One line of `layout/probes.txt`: `<module> <Type>` (size) or `<module> <Type> <field.path>`.
struct Probe {
    module: String,
    ty: String,
    field: Option<String>,
}

fn layout_probe(spec: &Path, out: &Path, required: bool) {
    let generated = out.join("mingw_layout.rs");
    let Some(gcc) = find_tool("NT_KERNEL_MINGW_GCC", &["x86_64-w64-mingw32-gcc"]) else {
        assert!(
            !required,
            "x86_64-w64-mingw32-gcc not found: the layout probe is required for Windows builds \
             (install gcc-mingw-w64-x86-64 and mingw-w64-x86-64-dev; cargo xtask dist does)"
        );
        println!("cargo:warning=x86_64-w64-mingw32-gcc not found: mingw layout asserts not compiled (documented-size asserts still are)");
        return;
    };
    let text = fs::read_to_string(spec).expect("read layout/probes.txt");
    let probes: Vec<Probe> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut words = line.split_whitespace();
            let module = words.next().expect("module").to_string();
            let ty = words
                .next()
                .unwrap_or_else(|| panic!("type missing in `{line}`"))
                .to_string();
            let field = words.next().map(str::to_string);
            Probe { module, ty, field }
        })
        .collect();

    let mut c = String::from(PROBE_PRELUDE);
    for (index, probe) in probes.iter().enumerate() {
        let expr = match &probe.field {
            None => format!("sizeof({})", probe.ty),
            Some(field) => format!("offsetof({}, {field})", probe.ty),
        };
        writeln!(c, "const unsigned long long layout_{index} = {expr};").unwrap();
        // A field's width too: a field declared wider than the C one reads its neighbour.
        if let Some(field) = &probe.field {
            writeln!(
                c,
                "const unsigned long long width_{index} = sizeof((({} *)0)->{field});",
                probe.ty
            )
            .unwrap();
        }
    }
    let c_path = out.join("probe.c");
    let s_path = out.join("probe.s");
    fs::write(&c_path, c).expect("write probe.c");
    let include = env::var("NT_KERNEL_MINGW_DDK")
        .unwrap_or_else(|_| "/usr/x86_64-w64-mingw32/include/ddk".into());
    let output = Command::new(&gcc)
        .arg("-S")
        .arg(format!("-I{include}"))
        .arg("-o")
        .arg(&s_path)
        .arg(&c_path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {gcc}: {e}"));
    assert!(
        output.status.success(),
        "layout probe failed to compile:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let asm = fs::read_to_string(&s_path).expect("read probe.s");
    let values = parse_quads(&asm, "layout_");
    let widths = parse_quads(&asm, "width_");

    let mut rust = String::from(
        "// Generated by build.rs from layout/probes.txt and mingw-w64's DDK headers.\n",
    );
    for (index, probe) in probes.iter().enumerate() {
        let value = values
            .get(&index)
            .unwrap_or_else(|| panic!("no value for probe {index} in probe.s"));
        let path = format!("crate::{}::{}", probe.module, probe.ty);
        let (expr, what) = match &probe.field {
            None => (
                format!("::core::mem::size_of::<{path}>()"),
                format!("size_of {}", probe.ty),
            ),
            Some(field) => (
                format!("::core::mem::offset_of!({path}, {field})"),
                format!("offset_of {}.{field}", probe.ty),
            ),
        };
        writeln!(
            rust,
            "const _: () = assert!({expr} == {value}, \"{what} differs from mingw-w64 ddk headers ({value})\");"
        )
        .unwrap();
        if let Some(field) = &probe.field {
            let width = widths
                .get(&index)
                .unwrap_or_else(|| panic!("no width for probe {index} in probe.s"));
            writeln!(
                rust,
                "const _: () = assert!(field_size!({path}, {field}) == {width}, \"size of {}.{field} differs from mingw-w64 ddk headers ({width})\");",
                probe.ty
            )
            .unwrap();
        }
    }
    fs::write(&generated, rust).expect("write mingw_layout.rs");
    println!("cargo:rustc-cfg=nt_kernel_mingw_probe");
}

/// Maps `<prefix>N:` labels to the `.quad` value that follows each.
fn parse_quads(asm: &str, prefix: &str) -> std::collections::HashMap<usize, u64> {
    let mut values = std::collections::HashMap::new();
    let mut current: Option<usize> = None;
    for line in asm.lines().map(str::trim) {
        if let Some(label) = line.strip_suffix(':') {
            // Any label ends the previous one: only `<prefix>N:` starts a value of ours.
            current = label.strip_prefix(prefix).and_then(|n| n.parse().ok());
        } else if let Some(index) = current {
            // gcc writes a zero constant as `.zero 8` or `.space 8` instead of `.quad 0`.
            let value = match line.strip_prefix(".quad") {
                Some(value) => value.trim().parse().ok(),
                None => (line.starts_with(".zero") || line.starts_with(".space")).then_some(0),
            };
            if let Some(v) = value {
                values.insert(index, v);
                current = None;
            }
        }
    }
    values
}
