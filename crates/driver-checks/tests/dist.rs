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
    // The fixture takes the hypercall-section page: the linked image has the section, one
    // page, read + execute and not writable, and passes the PE check with it.
    let image = read(&fixture);
    let (rva, size, flags) = pe::section(&image, pe::HYPERCALL_SECTION)
        .expect("the fixture image has no hypercall section");
    assert_eq!((rva % pe::PAGE_SIZE, size), (0, pe::PAGE_SIZE));
    assert_eq!(
        flags & (0x2000_0000 | 0x4000_0000 | 0x8000_0000),
        0x2000_0000 | 0x4000_0000,
        "{} characteristics {flags:#x}: want execute + read, not write",
        pe::HYPERCALL_SECTION
    );
    pe::check_driver(&image, &rules(), None).unwrap_or_else(|p| panic!("fixture: {p:?}"));
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
    // The NX opt-in ran (NonPagedPoolNx 512 where Wine's RtlIsNtDdiVersionAvailable says
    // Windows 8 or later, NonPagedPool 0 otherwise), and the image's hypercall-section page is
    // mapped, page-aligned and zero.
    assert!(
        text.contains("wine-fixture-driver: ERROR: non-paged pool type 512")
            || text.contains("wine-fixture-driver: ERROR: non-paged pool type 0"),
        "NX pool line missing or wrong in {}",
        log.display()
    );
    println!(
        "Wine fixture: NX pool opt-in chose {}",
        if text.contains("non-paged pool type 512") {
            "NonPagedPoolNx"
        } else {
            "NonPagedPool"
        }
    );
    assert!(
        text.contains("wine-fixture-driver: ERROR: hypercall section page: aligned zero page true"),
        "hypercall section line missing or wrong in {}",
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

/// Debug channels of the PnP runs: the drivers' DbgPrintEx lines, errors, and Wine's PnP
/// manager (which IRPs it sends to which device).
const PNP_DEBUG: &str = "+debugstr,err,+plugplay";
/// How long the fixture holds the started device before removing it.
const PNP_HOLD: std::time::Duration = std::time::Duration::from_secs(3);
/// Bound for a driver line to appear in the log after the step that causes it.
const PNP_LINE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// What a PnP run of one driver demonstrably did: line numbers in its log.
struct PnpTrace {
    log: PathBuf,
    text: String,
    /// Wine's root PDO of the test device, as Wine's plugplay channel prints it.
    pdo: String,
    add_device: usize,
    start_at_pdo: usize,
    removing: usize,
    surprise_at_pdo: usize,
    remove_at_pdo: usize,
    remove_line: usize,
    unload_line: usize,
}

/// Installs `inf` (for `driver`.sys) for a root device with `hardware_id` through Wine's PnP
/// manager, removes the device, stops the service, and checks the common part: the fixture's
/// steps all succeeded, DriverEntry and AddDevice ran, the driver passed IRP_MN_START_DEVICE
/// down to Wine's root PDO, Wine sent IRP_MN_SURPRISE_REMOVAL and IRP_MN_REMOVE_DEVICE to the
/// device and the driver passed both down, its REMOVE_DEVICE line came after them,
/// winedevice.exe was still running afterwards, DriverUnload ran at the stop, and nothing
/// crashed.
fn pnp_run(
    prefix: &wine::WinePrefix,
    driver: &str,
    hardware_id: &str,
    add_device_line: &str,
    inf: &Path,
) -> PnpTrace {
    let fixture = wine::build_pnp_fixture(&work_dir("pnp-fixture")).unwrap();
    let sys = sys(driver);
    let id_name: String = hardware_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let log = work_dir(&format!("{driver}-wine-pnp-{id_name}.log"));
    let run = prefix
        .pnp_install_and_remove(
            &fixture,
            &[inf, &sys],
            hardware_id,
            PNP_HOLD,
            PNP_DEBUG,
            &log,
        )
        .unwrap_or_else(|e| panic!("{driver}: {e}"));
    let steps = run.steps.join("\n  ");
    assert_eq!(
        run.exit_code,
        Some(0),
        "{driver}: the PnP fixture failed:\n  {steps}\n(log: {})",
        log.display()
    );
    let bound = format!("driver service: {driver}");
    for step in [
        "register device: ok",
        "install driver: ok",
        bound.as_str(),
        "remove device: ok",
    ] {
        assert!(
            run.steps.iter().any(|s| s == step),
            "{driver}: no `{step}` in:\n  {steps}"
        );
    }
    let at = |text: &str, from: usize, needle: &str| {
        wine::line_index(text, from, needle).unwrap_or_else(|| {
            panic!(
                "{driver}: no `{needle}` after line {from} of {}",
                log.display()
            )
        })
    };

    let (remove_line, text) = wine::wait_for_line(
        &log,
        0,
        &format!("{driver}: INFO: REMOVE_DEVICE: detached"),
        PNP_LINE_TIMEOUT,
    );
    let remove_line = remove_line
        .unwrap_or_else(|| panic!("{driver}: no REMOVE_DEVICE line in {}", log.display()));
    let entry = at(&text, 0, &format!("{driver}: INFO: DriverEntry"));
    let enumerated = at(
        &text,
        entry,
        r#"wine_enumerate_root_devices Adding new root-enumerated device L"ROOT\\XENPNPTEST\\"#,
    );
    let add_device = at(
        &text,
        enumerated,
        &format!("{driver}: INFO: {add_device_line}"),
    );
    // The PDO's address, from the removal Wine announces for our device.
    let removing = at(
        &text,
        add_device,
        r#"wine_enumerate_root_devices Removing device L"ROOT\\XENPNPTEST\\"#,
    );
    let surprise_sent = at(&text, removing, "send_remove_device_irp Removing device ");
    let pdo = text
        .lines()
        .nth(surprise_sent)
        .and_then(|l| l.split("Removing device ").nth(1))
        .and_then(|rest| rest.strip_suffix(", code 17."))
        .unwrap_or_else(|| {
            panic!(
                "{driver}: the first removal IRP is not IRP_MN_SURPRISE_REMOVAL (0x17) in {}",
                log.display()
            )
        })
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    let at_pdo = |from: usize, minor: &str| {
        let device = format!("pnp_manager_device_pnp device {pdo}, ");
        let function = format!("minor function {minor}.");
        lines
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, l)| l.contains(&device) && l.ends_with(&function))
            .map(|(i, _)| i)
            .unwrap_or_else(|| {
                panic!(
                    "{driver}: IRP minor {minor} never reached the PDO {pdo} after line {from} of {}",
                    log.display()
                )
            })
    };
    // The driver forwarded START to the PDO (Wine's PDO completes it), after AddDevice.
    let start_at_pdo = at_pdo(add_device, "0");
    assert!(
        start_at_pdo < removing,
        "{driver}: START reached the PDO only after removal began"
    );
    let surprise_at_pdo = at_pdo(surprise_sent, "0x17");
    let remove_sent = at(
        &text,
        surprise_at_pdo,
        &format!("send_remove_device_irp Removing device {pdo}, code 2."),
    );
    let remove_at_pdo = at_pdo(remove_sent, "0x2");
    assert!(
        remove_at_pdo < remove_line,
        "{driver}: REMOVE_DEVICE logged before it was passed down"
    );

    // winedevice.exe survived the removal: the service still runs; then it stops and unloads.
    let state = prefix.service_state(driver).unwrap();
    assert_eq!(
        state, 4,
        "{driver}: service not RUNNING after the device's removal (state {state})"
    );
    prefix.stop_service(driver).unwrap();
    let (unload_line, text) = wine::wait_for_line(
        &log,
        remove_line,
        &format!("{driver}: INFO: DriverUnload"),
        PNP_LINE_TIMEOUT,
    );
    let unload_line = unload_line.unwrap_or_else(|| {
        panic!(
            "{driver}: no DriverUnload after REMOVE_DEVICE in {}",
            log.display()
        )
    });

    let crashes = wine::crash_lines(&text);
    assert!(
        crashes.is_empty(),
        "{driver}: crash lines in {}:\n{}",
        log.display(),
        crashes.join("\n")
    );
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&format!("{driver}: ERROR")))
        .collect();
    assert!(
        errors.is_empty(),
        "{driver}: error lines:\n{}",
        errors.join("\n")
    );
    println!(
        "Wine PnP {driver}.sys ({hardware_id}): fixture {:.1} s; DriverEntry, AddDevice, START passed down to the root PDO {pdo}, SURPRISE_REMOVAL and REMOVE_DEVICE passed down, service still running, DriverUnload at stop; steps: {}",
        run.seconds,
        run.steps.join("; ")
    );
    PnpTrace {
        log,
        text,
        pdo,
        add_device,
        start_at_pdo,
        removing,
        surprise_at_pdo,
        remove_at_pdo,
        remove_line,
        unload_line,
    }
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn wine_pnp_xenstub_starts_and_is_removed() {
    // One prefix for the three IDs of xenstub.inf: each run loads the driver again after the
    // previous run's stop unloaded it.
    let prefix = wine::WinePrefix::create(&work_dir("wine-prefix-pnp-xenstub")).unwrap();
    for hardware_id in [r"XEN\VFB", r"XEN\VKBD", r"XEN\CONSOLE"] {
        xenstub_pnp(&prefix, hardware_id);
    }
    println!("Wine PnP: IRP_MN_QUERY_REMOVE_DEVICE / STOP: NOT RUN (Wine 8.0's DIF_REMOVE sends only SURPRISE_REMOVAL and REMOVE_DEVICE; CM_Query_And_Remove_SubTreeW is an unimplemented stub)");
}

/// One PnP run of xenstub for `hardware_id`: START seen succeeding on the way up (state
/// Started), SURPRISE_REMOVAL in state Started, then REMOVE_DEVICE, no warning.
fn xenstub_pnp(prefix: &wine::WinePrefix, hardware_id: &str) {
    let inf = env_path("XEN_WIN_PV_DIST_DIR").join("xenstub.inf");
    let trace = pnp_run(prefix, "xenstub", hardware_id, "AddDevice: attached", &inf);
    let text = &trace.text;
    let log = trace.log.display();
    let line = |from: usize, needle: &str| {
        wine::line_index(text, from, needle)
            .unwrap_or_else(|| panic!("no `{needle}` after line {from} of {log}"))
    };
    // START: passed down, the PDO's success seen on the way up, state Started.
    let started = line(
        trace.start_at_pdo,
        "xenstub: INFO: START_DEVICE: 0x00000000, now Started",
    );
    assert!(
        started < trace.removing,
        "START completed only after removal began ({log})"
    );
    // SURPRISE_REMOVAL reached the driver in state Started, then REMOVE.
    let surprise = line(
        started,
        "xenstub: INFO: PnP minor 0x17: Started -> SurpriseRemoved",
    );
    assert!(
        surprise > trace.removing && surprise < trace.remove_line,
        "surprise removal out of order ({log})"
    );
    assert!(trace.add_device < trace.start_at_pdo && trace.surprise_at_pdo < trace.remove_at_pdo);
    assert!(trace.unload_line > trace.remove_line);
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("xenstub: WARN"))
        .collect();
    assert!(warnings.is_empty(), "xenstub warnings: {warnings:?}");
    println!(
        "Wine PnP xenstub.sys {hardware_id}: `{}` / `{}` / `{}` (PDO {})",
        text.lines().nth(started).unwrap_or_default().trim(),
        text.lines().nth(surprise).unwrap_or_default().trim(),
        text.lines()
            .nth(trace.remove_line)
            .unwrap_or_default()
            .trim(),
        trace.pdo
    );
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn wine_pnp_xenpci_starts_without_xen_and_is_removed() {
    let prefix = wine::WinePrefix::create(&work_dir("wine-prefix-pnp-xenpci")).unwrap();
    let trace = pnp_run(
        &prefix,
        "xenpci",
        r"PCI\VEN_5853&DEV_0001",
        "AddDevice: attached to the Xen platform PCI device",
        &env_path("XEN_WIN_PV_DIST_DIR").join("xenpci.inf"),
    );
    let text = &trace.text;
    let log = trace.log.display();
    let line = |from: usize, needle: &str| {
        wine::line_index(text, from, needle)
            .unwrap_or_else(|| panic!("no `{needle}` after line {from} of {log}"))
    };
    // DriverEntry found no Xen (user mode) and unplugged nothing.
    let no_xen = line(
        0,
        "xenpci: INFO: not running in kernel mode (e.g. Wine): no Xen platform device, PV off",
    );
    assert!(no_xen < trace.add_device);
    // START: the lower device (Wine's root PDO) completed it first, then the bring-up saw that
    // Xen is unusable and left the platform down; the FDO stays started without children (the
    // driver's documented choice), so no "PCI bus driver failed" and no platform lines.
    let down = line(
        trace.start_at_pdo,
        "xenpci: WARN: START_DEVICE: Xen is not usable here; the platform stays down",
    );
    assert!(
        down < trace.removing,
        "START's outcome logged only after removal began ({log})"
    );
    for absent in [
        "the PCI bus driver failed",
        "platform device: memory",
        "xenpci: WARN: enabling",
    ] {
        assert!(!text.contains(absent), "unexpected `{absent}` in {log}");
    }
    let warnings = text.lines().filter(|l| l.contains("xenpci: WARN")).count();
    assert_eq!(
        warnings, 1,
        "exactly the one START warning expected in {log}"
    );
    assert!(trace.surprise_at_pdo < trace.remove_at_pdo && trace.remove_at_pdo < trace.remove_line);
    assert!(trace.unload_line > trace.remove_line);
    println!(
        "Wine PnP xenpci.sys: `{}` / `{}` (PDO {})",
        text.lines().nth(down).unwrap_or_default().trim(),
        text.lines()
            .nth(trace.remove_line)
            .unwrap_or_default()
            .trim(),
        trace.pdo
    );
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn wine_pnp_fixture_reports_an_inf_that_does_not_match() {
    // xenstub.inf lists vfb, vkbd and console, not vif: the install must be reported as failed
    // and no driver code may run, so a passing PnP run above is not the fixture's doing.
    let prefix = wine::WinePrefix::create(&work_dir("wine-prefix-pnp-mismatch")).unwrap();
    let fixture = wine::build_pnp_fixture(&work_dir("pnp-fixture")).unwrap();
    let inf = env_path("XEN_WIN_PV_DIST_DIR").join("xenstub.inf");
    let sys = sys("xenstub");
    let log = work_dir("xenstub-wine-pnp-mismatch.log");
    let run = prefix
        .pnp_install_and_remove(
            &fixture,
            &[&inf, &sys],
            r"XEN\VIF",
            std::time::Duration::ZERO,
            PNP_DEBUG,
            &log,
        )
        .unwrap();
    assert_eq!(run.exit_code, Some(6), "steps: {:?}", run.steps);
    // Wine 8.0's UpdateDriverForPlugAndPlayDevices claims success even then; the fixture sees
    // that no service was bound to the device.
    assert!(
        run.steps
            .iter()
            .any(|s| s.starts_with("driver service: none")),
        "{:?}",
        run.steps
    );
    assert!(
        run.steps.iter().any(|s| s == "remove device: ok"),
        "{:?}",
        run.steps
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("xenstub: INFO: AddDevice"),
        "AddDevice ran for an ID the INF does not list ({})",
        log.display()
    );
    println!(
        "Wine PnP fixture with a non-matching ID: reported as failed ({})",
        run.steps
            .iter()
            .find(|s| s.starts_with("driver service"))
            .map_or("", String::as_str)
    );
}

/// A minimal INF that installs xenhide.sys as the function driver of devices with any of
/// `hardware_ids` (demand start). Wine 8.0 loads only a device's function driver (`SPDRP_SERVICE`), never class
/// upper filters, so xenhide's own INF (a System-class UpperFilters entry) cannot place it above
/// a device in Wine; as the function driver of a device carrying a PCI root bus ID it takes the
/// same AddDevice, pass-through and removal paths it takes as a filter.
fn xenhide_test_inf(hardware_ids: &[&str]) -> String {
    let models: String = hardware_ids
        .iter()
        .map(|id| format!("%Description% = Test_Install, {id}\n"))
        .collect();
    format!(
        "\
; Generated by crates/driver-checks/tests/dist.rs for the Wine PnP test only.
[Version]
Signature = \"$WINDOWS NT$\"
Class = System
ClassGuid = {{4D36E97D-E325-11CE-BFC1-08002BE10318}}
Provider = %Provider%
DriverVer = 01/01/2026,0.0.0.1

[DestinationDirs]
DefaultDestDir = 12

[SourceDisksNames]
1 = %Disk%,,,\"\"

[SourceDisksFiles]
xenhide.sys = 1,,

[Manufacturer]
%Provider% = Test, NTamd64

[Test.NTamd64]
{models}
[Test_Install.NT]
CopyFiles = Test_Files

[Test_Files]
xenhide.sys

[Test_Install.NT.Services]
AddService = xenhide, 0x00000002, Test_Service

[Test_Service]
ServiceType = 1
StartType = 3
ErrorControl = 1
ServiceBinary = %12%\\xenhide.sys

[Strings]
Provider = \"xen-win-pv tests\"
Disk = \"test media\"
Description = \"PCI root bus stand-in\"
"
    )
}

#[test]
#[ignore = "needs `cargo xtask dist` output; `cargo xtask test` runs it"]
fn wine_pnp_xenhide_attaches_above_a_pci_root_id_and_is_removed() {
    let hardware_id = r"ACPI\PNP0A03";
    // A serial port's ID: not a PCI root bus, so xenhide must leave it alone.
    let other_id = r"ACPI\PNP0501";
    let inf = work_dir("xenhide-pnp-test.inf");
    std::fs::create_dir_all(work_dir("")).unwrap();
    std::fs::write(&inf, xenhide_test_inf(&[hardware_id, other_id])).unwrap();
    let prefix = wine::WinePrefix::create(&work_dir("wine-prefix-pnp-xenhide")).unwrap();
    let trace = pnp_run(
        &prefix,
        "xenhide",
        hardware_id,
        "AddDevice: filtering the PCI root bus",
        &inf,
    );
    let text = &trace.text;
    let log = trace.log.display();
    // No xenpci report under Wine: nothing is hidden, whatever BusRelations brings.
    assert!(!text.contains("xenhide: INFO: hiding "), "{log}");
    assert!(trace.add_device < trace.start_at_pdo);
    assert!(trace.surprise_at_pdo < trace.remove_at_pdo && trace.remove_at_pdo < trace.remove_line);
    assert!(trace.unload_line > trace.remove_line);
    let warnings = text.lines().filter(|l| l.contains("xenhide: WARN")).count();
    assert_eq!(warnings, 0, "{log}");
    println!(
        "Wine PnP xenhide.sys (as function driver of {hardware_id}, generated INF): `{}` (PDO {})",
        text.lines()
            .nth(trace.remove_line)
            .unwrap_or_default()
            .trim(),
        trace.pdo
    );

    // The same driver for a device that is not a PCI root bus: AddDevice declines (no device
    // object, no line), the device starts and goes without xenhide in its stack.
    let fixture = wine::build_pnp_fixture(&work_dir("pnp-fixture")).unwrap();
    let other_log = work_dir("xenhide-wine-pnp-not-a-root-bus.log");
    let run = prefix
        .pnp_install_and_remove(
            &fixture,
            &[&inf, &sys("xenhide")],
            other_id,
            PNP_HOLD,
            PNP_DEBUG,
            &other_log,
        )
        .unwrap();
    assert_eq!(run.exit_code, Some(0), "{:?}", run.steps);
    assert!(
        run.steps.iter().any(|s| s == "driver service: xenhide"),
        "{:?}",
        run.steps
    );
    let other = std::fs::read_to_string(&other_log).unwrap();
    let shown = other_log.display();
    let entry = wine::line_index(&other, 0, "xenhide: INFO: DriverEntry")
        .unwrap_or_else(|| panic!("xenhide not loaded for {other_id} ({shown})"));
    let added = wine::line_index(&other, entry, "load_function_driver AddDevice routine ")
        .unwrap_or_else(|| panic!("AddDevice not called for {other_id} ({shown})"));
    assert!(
        other
            .lines()
            .nth(added)
            .is_some_and(|l| l.ends_with("returned 0.")),
        "xenhide's AddDevice must succeed without attaching ({shown})"
    );
    wine::line_index(&other, added, r#"Removing device L"ROOT\\XENPNPTEST\\"#)
        .unwrap_or_else(|| panic!("device not removed ({shown})"));
    for absent in [
        "xenhide: INFO: AddDevice",
        "xenhide: INFO: REMOVE_DEVICE",
        "xenhide: ERROR",
    ] {
        assert!(
            !other.contains(absent),
            "`{absent}` for {other_id} ({shown})"
        );
    }
    let crashes = wine::crash_lines(&other);
    assert!(crashes.is_empty(), "{crashes:?} ({shown})");
    println!("Wine PnP xenhide.sys for {other_id}: AddDevice returned success without attaching; the device was removed with xenhide out of its stack");
}
