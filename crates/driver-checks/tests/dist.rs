//! Checks over the files `cargo xtask dist` built. They need the cross build, so they are
//! ignored in a plain `cargo test`; `cargo xtask test` builds everything and runs them with
//! `--ignored`, passing the directories in `XEN_WIN_PV_*` variables.

use std::path::{Path, PathBuf};

use driver_checks::def::ImportRules;
use driver_checks::pe::{self, patch, Problem};
use driver_checks::{inf, wine};

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var_os(name)
            .unwrap_or_else(|| panic!("{name} is not set: run `cargo xtask test`")),
    )
}

fn drivers() -> Vec<String> {
    let list = std::env::var("XEN_WIN_PV_DRIVERS")
        .expect("XEN_WIN_PV_DRIVERS is not set: run `cargo xtask test`");
    let drivers: Vec<String> = list
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    assert!(!drivers.is_empty(), "no drivers were built");
    drivers
}

fn rules() -> ImportRules {
    ImportRules::from_def_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../nt-kernel/def"))
        .unwrap()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// DriverEntry's RVA from the linker map of `name`.
fn driver_entry(name: &str, image: &[u8]) -> u32 {
    let map_path = env_path("XEN_WIN_PV_MAP_DIR").join(format!("{name}.map"));
    let map = std::fs::read_to_string(&map_path)
        .unwrap_or_else(|e| panic!("{}: {e}", map_path.display()));
    let base = pe::image_base(image).expect("image base");
    pe::driver_entry_from_map(&map, base)
        .unwrap_or_else(|| panic!("no DriverEntry in {}", map_path.display()))
}

fn sys(driver: &str) -> PathBuf {
    env_path("XEN_WIN_PV_DIST_DIR").join(format!("{driver}.sys"))
}

/// xenstub.sys, the image the negative cases patch.
fn reference_image() -> (Vec<u8>, u32) {
    let image = read(&sys("xenstub"));
    let entry = driver_entry("xenstub", &image);
    (image, entry)
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn every_built_driver_passes_the_pe_check() {
    let rules = rules();
    for driver in drivers() {
        let image = read(&sys(&driver));
        let entry = driver_entry(&driver, &image);
        let version = std::env::var("XEN_WIN_PV_VERSION").expect("XEN_WIN_PV_VERSION");
        assert_eq!(
            pe::file_version(&image).as_deref(),
            Some(version.as_str()),
            "{driver}.sys: version resource does not carry the workspace version"
        );
        match pe::check_driver(&image, &rules, Some(entry)) {
            Ok(report) => {
                let names: Vec<String> = report
                    .imports
                    .iter()
                    .map(|(d, n)| format!("{d}!{n}"))
                    .collect();
                println!(
                    "PE check {driver}.sys: ok (version {version}, AMD64 PE32+, native, checksum {:#x}, entry DriverEntry {:#x}, {} imports: {})",
                    report.checksum,
                    report.entry,
                    names.len(),
                    names.join(" ")
                );
            }
            Err(problems) => panic!(
                "{driver}.sys breaks the driver image rules:\n{}",
                problems
                    .iter()
                    .map(|p| format!("  - {p}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn pe_check_fails_on_a_wrong_subsystem() {
    let (mut image, entry) = reference_image();
    patch::set_subsystem(&mut image, 2).unwrap(); // IMAGE_SUBSYSTEM_WINDOWS_GUI
    let problems = pe::check_driver(&image, &rules(), Some(entry)).unwrap_err();
    assert_eq!(problems, vec![Problem::Subsystem(2)]);
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn pe_check_fails_on_a_stray_import() {
    let (mut image, entry) = reference_image();
    // KeSetEvent is listed in ntoskrnl.def; KeSetEvenX is not.
    patch::rename_import(&mut image, "KeSetEvent", "KeSetEvenX").unwrap();
    let problems = pe::check_driver(&image, &rules(), Some(entry)).unwrap_err();
    assert_eq!(
        problems,
        vec![Problem::StrayImport {
            dll: "ntoskrnl.exe".into(),
            name: "KeSetEvenX".into()
        }]
    );
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn pe_check_fails_on_an_import_from_another_module() {
    let (mut image, entry) = reference_image();
    patch::rename_module(&mut image, "ntoskrnl.exe", "kernel32.dll").unwrap();
    let problems = pe::check_driver(&image, &rules(), Some(entry)).unwrap_err();
    assert!(
        problems
            .iter()
            .all(|p| *p == Problem::ForbiddenModule("kernel32.dll".into())),
        "{problems:?}"
    );
    assert!(!problems.is_empty());
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn pe_check_fails_without_dynamic_base_and_nx_compat() {
    let (mut image, entry) = reference_image();
    patch::clear_dll_characteristics(&mut image, 0x0040 | 0x0100).unwrap();
    let problems = pe::check_driver(&image, &rules(), Some(entry)).unwrap_err();
    assert_eq!(
        problems,
        vec![
            Problem::MissingDllCharacteristic("DYNAMIC_BASE"),
            Problem::MissingDllCharacteristic("NX_COMPAT")
        ]
    );
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn pe_check_fails_on_a_stale_or_zero_checksum() {
    let (image, entry) = reference_image();
    let mut stale = image.clone();
    let middle = stale.len() / 2;
    stale[middle] ^= 0x5A;
    let problems = pe::check_driver(&stale, &rules(), Some(entry)).unwrap_err();
    assert!(
        matches!(problems.as_slice(), [Problem::WrongChecksum { .. }]),
        "{problems:?}"
    );

    let mut zero = image;
    let offset = pe::checksum_offset(&zero).unwrap();
    zero[offset..offset + 4].fill(0);
    let problems = pe::check_driver(&zero, &rules(), Some(entry)).unwrap_err();
    assert_eq!(problems, vec![Problem::ZeroChecksum]);
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn pe_check_fails_when_the_entry_point_is_not_driver_entry() {
    let (image, entry) = reference_image();
    let problems = pe::check_driver(&image, &rules(), Some(entry + 0x10)).unwrap_err();
    assert_eq!(
        problems,
        vec![Problem::EntryNotDriverEntry {
            entry,
            driver_entry: entry + 0x10
        }]
    );
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn every_built_inf_passes_the_inf_check() {
    let version = std::env::var("XEN_WIN_PV_VERSION").expect("XEN_WIN_PV_VERSION");
    for driver in drivers() {
        let path = env_path("XEN_WIN_PV_DIST_DIR").join(format!("{driver}.inf"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let expect = inf::Expectation {
            driver: &driver,
            service: &driver,
            version: &version,
            hardware_ids: xen_pv_ids::hardware_ids_of_driver(&driver).collect(),
        };
        let problems = inf::check(&text, &expect);
        assert!(
            problems.is_empty(),
            "{driver}.inf:\n  - {}",
            problems.join("\n  - ")
        );
        println!(
            "INF check {driver}.inf: ok (DriverVer {version}, hardware IDs {:?})",
            expect.hardware_ids
        );
    }
}

fn work_dir(name: &str) -> PathBuf {
    env_path("XEN_WIN_PV_WORK_DIR").join(name)
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn wine_smoke_loads_every_wdm_driver() {
    let rules = rules();
    let prefix = wine::WinePrefix::create(&work_dir("wine-prefix")).unwrap();
    let mut loaded = 0;
    for driver in drivers() {
        let path = sys(&driver);
        let image = read(&path);
        let report =
            pe::check_driver(&image, &rules, None).unwrap_or_else(|p| panic!("{driver}: {p:?}"));
        if report.imports_from("storport.sys") {
            println!("Wine smoke load {driver}.sys: NOT RUN (imports storport.sys, which Wine does not have; PE check only)");
            continue;
        }
        let log = work_dir(&format!("{driver}-wine.log"));
        let expected = format!("{driver}: INFO: DriverEntry");
        match prefix.smoke_load(&driver, &path, &expected, &log) {
            Ok(report) => {
                // Every WDM driver logs "DriverUnload" from its unload routine.
                let Some(unload) = report.unload_line else {
                    panic!("{driver}.sys stopped but its DriverUnload line never appeared");
                };
                println!(
                    "Wine smoke load {driver}.sys: RUNNING after {:.1} s, stopped cleanly; saw `{}` and `{}`",
                    report.start_seconds,
                    report.driver_entry_line.trim(),
                    unload.trim()
                );
                loaded += 1;
            }
            Err(e) => panic!(
                "Wine smoke load of {driver}.sys failed: {e}\n(log: {})",
                log.display()
            ),
        }
    }
    assert!(loaded > 0, "no WDM driver was smoke-loaded");
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn wine_smoke_test_reports_a_failing_driver_entry() {
    let fixture = env_path("XEN_WIN_PV_FIXTURE_DIR").join("wine-fixture-driver.sys");
    let prefix = wine::WinePrefix::create(&work_dir("wine-prefix-fixture")).unwrap();
    let log = work_dir("wine-fixture-driver-wine.log");
    let expected = "wine-fixture-driver: ERROR: DriverEntry: failing on purpose";
    let error = prefix
        .smoke_load("fixture", &fixture, expected, &log)
        .expect_err("a driver whose DriverEntry fails must not pass the smoke test");
    // The global allocator over non-paged pool worked inside Wine's ntoskrnl (0+1+...+999).
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("wine-fixture-driver: ERROR: allocator: 1000 values, sum 499500, 4096-aligned page true"),
        "allocator line missing or wrong in {}",
        log.display()
    );
    // The spin lock guard and the pool buffer worked too.
    assert!(
        text.contains("wine-fixture-driver: ERROR: spin lock counter 3, pool buffer true"),
        "spin lock / pool line missing or wrong in {}",
        log.display()
    );
    // DriverEntry ran (its line was seen), and the failure is the service not running.
    assert!(error.contains("did not reach RUNNING"), "{error}");
    assert!(error.contains("DriverEntry ran"), "{error}");
    println!("Wine smoke load of the failing fixture: reported as failed, as it must be: {error}");
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn a_panic_in_a_driver_bugchecks_with_the_rust_code() {
    let fixture = env_path("XEN_WIN_PV_FIXTURE_DIR").join("wine-fixture-driver.sys");
    let prefix = wine::WinePrefix::create(&work_dir("wine-prefix-panic")).unwrap();
    let log = work_dir("wine-fixture-panic-wine.log");
    // The service name ending in "panic" makes the fixture panic in DriverEntry.
    let expected = "wine-fixture-driver: ERROR: DriverEntry: panicking on purpose";
    let error = prefix
        .smoke_load("fixturepanic", &fixture, expected, &log)
        .expect_err("a panicking driver must not run");
    assert!(error.contains("did not reach RUNNING"), "{error}");
    let text = std::fs::read_to_string(&log).unwrap();
    let panic_line = text
        .lines()
        .find(|l| l.contains("wine-fixture-driver: ERROR: panic at "))
        .unwrap_or_else(|| panic!("no panic line in {}", log.display()));
    // "panic at <file>:<line>:<column>: <message>", all on one line.
    let (location, message) = panic_line
        .split_once("panic at ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .unwrap_or_else(|| panic!("malformed panic line: {panic_line}"));
    assert_eq!(message.trim(), "fixture panic");
    let mut parts = location.rsplitn(3, ':');
    let column: usize = parts.next().unwrap().parse().unwrap();
    let line: usize = parts.next().unwrap().parse().unwrap();
    assert!(
        parts
            .next()
            .unwrap()
            .ends_with("wine-fixture-driver/src/main.rs"),
        "{location}"
    );
    // Wine's KeBugCheckEx prints code and parameters in hex on the err channel:
    // 0x52555354 ("RUST"), then source line and column.
    let bugcheck = text
        .lines()
        .find(|l| l.contains(":KeBugCheckEx "))
        .unwrap_or_else(|| panic!("no KeBugCheckEx in {}", log.display()));
    let words: Vec<String> = bugcheck
        .split_whitespace()
        .skip(1)
        .take(3)
        .map(str::to_string)
        .collect();
    let expected = vec![
        "52555354".to_string(),
        format!("{line:x}"),
        format!("{column:x}"),
    ];
    assert_eq!(words, expected, "{bugcheck}");
    println!("panic handler: {}; {}", panic_line.trim(), bugcheck.trim());
}
