//! INF sanity: the sections Windows needs to install a driver package, our hardware IDs,
//! the service name and binary, `DriverVer` with the workspace version, and no undefined
//! `%strings%`.
//!
//! Two kinds of INF pass: a device INF ([Manufacturer] and models sections, each models line
//! with a hardware ID, no `DefaultInstall`) and a primitive INF (no [Manufacturer]; installed
//! through `[DefaultInstall.NTamd64]`, with `[DefaultUninstall.NTamd64]` for systems before
//! Windows 10 1903, both architecture-decorated and no undecorated form), never a mix.

use std::collections::BTreeMap;

/// What the INF of one driver must say.
#[derive(Debug, Clone)]
pub struct Expectation<'a> {
    /// Driver (and `.sys`) name, e.g. `xenstub`.
    pub driver: &'a str,
    /// Service name installed by `AddService`.
    pub service: &'a str,
    /// Four-part version `DriverVer` must carry, e.g. `0.1.0.0`.
    pub version: &'a str,
    /// Hardware IDs the models section must match (exactly this set).
    pub hardware_ids: Vec<&'a str>,
}

/// An INF file: section name (lower case) to its lines, comments and blanks removed.
#[derive(Debug, Clone, Default)]
pub struct Inf {
    sections: BTreeMap<String, Vec<String>>,
}

impl Inf {
    /// Parses INF text (`;` comments outside quotes, `[Section]` headers).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut inf = Inf::default();
        let mut current: Option<String> = None;
        for (number, raw) in text.lines().enumerate() {
            let line = strip_comment(raw).trim().to_string();
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                let name = name
                    .strip_suffix(']')
                    .ok_or_else(|| format!("line {}: bad section header", number + 1))?;
                let key = name.trim().to_ascii_lowercase();
                if inf.sections.contains_key(&key) {
                    return Err(format!(
                        "line {}: section [{name}] defined twice",
                        number + 1
                    ));
                }
                inf.sections.insert(key.clone(), Vec::new());
                current = Some(key);
            } else {
                let section = current
                    .as_ref()
                    .ok_or_else(|| format!("line {}: text before any section", number + 1))?;
                inf.sections.entry(section.clone()).or_default().push(line);
            }
        }
        Ok(inf)
    }

    /// The lines of a section (case-insensitive name).
    pub fn section(&self, name: &str) -> Option<&[String]> {
        self.sections
            .get(&name.to_ascii_lowercase())
            .map(Vec::as_slice)
    }

    /// `key = value` entries of a section (keys lower-cased, values unquoted).
    pub fn entries(&self, name: &str) -> Vec<(String, String)> {
        self.section(name)
            .unwrap_or_default()
            .iter()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect()
    }

    /// The value of `key` in a section.
    pub fn value(&self, section: &str, key: &str) -> Option<String> {
        let key = key.to_ascii_lowercase();
        self.entries(section)
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}

fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

fn fields(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|f| f.trim().trim_matches('"').to_string())
        .collect()
}

/// Checks `text` against `expect`; returns every problem found.
pub fn check(text: &str, expect: &Expectation<'_>) -> Vec<String> {
    let inf = match Inf::parse(text) {
        Ok(inf) => inf,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    let mut need = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };

    // [Version]
    need(
        inf.section("Version").is_some(),
        "no [Version] section".into(),
    );
    let signature = inf.value("Version", "Signature").unwrap_or_default();
    need(
        signature
            .trim_matches('"')
            .eq_ignore_ascii_case("$WINDOWS NT$"),
        format!("Signature is `{signature}`, want \"$WINDOWS NT$\""),
    );
    for key in ["Class", "ClassGuid", "Provider", "CatalogFile", "DriverVer"] {
        need(
            inf.value("Version", key).is_some(),
            format!("[Version] has no {key}"),
        );
    }
    if let Some(guid) = inf.value("Version", "ClassGuid") {
        need(
            is_guid(&guid),
            format!("ClassGuid `{guid}` is not a {{GUID}}"),
        );
    }
    if let Some(driver_ver) = inf.value("Version", "DriverVer") {
        match driver_ver.split_once(',') {
            Some((date, version)) => {
                need(
                    is_inf_date(date.trim()),
                    format!("DriverVer date `{}` is not mm/dd/yyyy", date.trim()),
                );
                need(
                    version.trim() == expect.version,
                    format!(
                        "DriverVer version `{}`, want `{}`",
                        version.trim(),
                        expect.version
                    ),
                );
            }
            None => need(false, format!("DriverVer `{driver_ver}` has no version")),
        }
    }

    // A primitive INF: DefaultInstall/DefaultUninstall for amd64 only, no models.
    let primitive = inf.section("Manufacturer").is_none();
    let default_sections: Vec<&String> = inf
        .sections
        .keys()
        .filter(|k| k.starts_with("defaultinstall") || k.starts_with("defaultuninstall"))
        .collect();
    if primitive {
        need(
            expect.hardware_ids.is_empty(),
            format!(
                "no [Manufacturer] (a primitive INF), but hardware IDs {:?} are expected",
                expect.hardware_ids
            ),
        );
        for section in ["DefaultInstall", "DefaultUninstall"] {
            need(
                inf.section(&format!("{section}.NTamd64")).is_some(),
                format!("primitive INF without [{section}.NTamd64]"),
            );
            for undecorated in [section.to_string(), format!("{section}.NT")] {
                need(
                    inf.section(&undecorated).is_none(),
                    format!("primitive INF with an undecorated [{undecorated}]"),
                );
            }
        }
    } else {
        need(
            default_sections.is_empty(),
            format!("[Manufacturer] mixed with DefaultInstall/DefaultUninstall sections {default_sections:?}"),
        );
    }

    // [Manufacturer] -> models sections for amd64.
    let manufacturer = inf.entries("Manufacturer");
    need(
        primitive || !manufacturer.is_empty(),
        "no [Manufacturer] entry".into(),
    );
    let mut hardware_ids = Vec::new();
    let mut install_sections = Vec::new();
    if primitive {
        install_sections.push("DefaultInstall".to_string());
    }
    for (_, value) in &manufacturer {
        let parts = fields(value);
        let Some(models) = parts.first() else {
            continue;
        };
        let decorations: Vec<&String> = parts.iter().skip(1).collect();
        need(
            decorations
                .iter()
                .any(|d| d.to_ascii_lowercase().starts_with("ntamd64")),
            format!("manufacturer entry `{value}` has no NTamd64 decoration"),
        );
        for decoration in decorations {
            let section = format!("{models}.{decoration}");
            let lines = inf.entries(&section);
            need(
                inf.section(&section).is_some(),
                format!("models section [{section}] missing"),
            );
            for (_, model) in lines {
                let parts = fields(&model);
                if let Some(install) = parts.first() {
                    install_sections.push(install.clone());
                }
                need(
                    parts.iter().skip(1).any(|id| !id.is_empty()),
                    format!("models line `{model}` in [{section}] has no hardware ID"),
                );
                hardware_ids.extend(parts.into_iter().skip(1).filter(|s| !s.is_empty()));
            }
        }
    }
    let mut found_ids = hardware_ids.clone();
    found_ids.sort();
    found_ids.dedup();
    let mut wanted: Vec<String> = expect.hardware_ids.iter().map(|s| s.to_string()).collect();
    wanted.sort();
    need(
        found_ids
            .iter()
            .map(|s| s.to_ascii_uppercase())
            .eq(wanted.iter().map(|s| s.to_ascii_uppercase())),
        format!("hardware IDs {found_ids:?}, want {wanted:?}"),
    );

    // Install sections, their .Services, the service.
    need(
        !install_sections.is_empty(),
        "no install section referenced".into(),
    );
    install_sections.sort();
    install_sections.dedup();
    let sys_name = format!("{}.sys", expect.driver);
    for install in &install_sections {
        let candidates = if primitive {
            vec![format!("{install}.NTamd64")]
        } else {
            vec![
                format!("{install}.NTamd64"),
                format!("{install}.NT"),
                install.clone(),
            ]
        };
        let base = candidates.into_iter().find(|s| inf.section(s).is_some());
        let Some(base) = base else {
            need(false, format!("install section [{install}] missing"));
            continue;
        };
        if let Some(copy) = inf.value(&base, "CopyFiles") {
            for list in copy.split(',') {
                let list = list.trim();
                if let Some(file) = list.strip_prefix('@') {
                    need(
                        file.eq_ignore_ascii_case(&sys_name),
                        format!("CopyFiles {list} is not @{sys_name}"),
                    );
                } else {
                    let files = inf.section(list).unwrap_or_default();
                    need(
                        inf.section(list).is_some(),
                        format!("CopyFiles section [{list}] missing"),
                    );
                    need(
                        files
                            .iter()
                            .any(|f| fields(f)[0].eq_ignore_ascii_case(&sys_name)),
                        format!("[{list}] does not copy {sys_name}"),
                    );
                }
            }
        } else {
            need(false, format!("[{base}] has no CopyFiles"));
        }
        let services = format!("{base}.Services");
        let add = inf
            .entries(&services)
            .into_iter()
            .filter(|(k, _)| k == "addservice")
            .map(|(_, v)| v)
            .collect::<Vec<_>>();
        need(!add.is_empty(), format!("[{services}] has no AddService"));
        for entry in add {
            let parts = fields(&entry);
            let name = parts.first().cloned().unwrap_or_default();
            need(
                name.eq_ignore_ascii_case(expect.service),
                format!("AddService installs `{name}`, want `{}`", expect.service),
            );
            let Some(section) = parts.get(2) else {
                need(
                    false,
                    format!("AddService `{entry}` names no service section"),
                );
                continue;
            };
            need(
                inf.section(section).is_some(),
                format!("service section [{section}] missing"),
            );
            need(
                inf.value(section, "ServiceType").as_deref() == Some("1"),
                format!("[{section}] ServiceType is not 1 (kernel driver)"),
            );
            let start = inf
                .value(section, "StartType")
                .and_then(|v| v.parse::<u32>().ok());
            need(
                start.is_some_and(|s| s <= 4),
                format!("[{section}] StartType missing or not 0..4"),
            );
            need(
                inf.value(section, "ErrorControl").is_some(),
                format!("[{section}] has no ErrorControl"),
            );
            let binary = inf.value(section, "ServiceBinary").unwrap_or_default();
            need(
                binary
                    .to_ascii_lowercase()
                    .ends_with(&format!("\\{sys_name}")),
                format!("[{section}] ServiceBinary `{binary}` is not ...\\{sys_name}"),
            );
        }
    }

    // Source media and destination.
    need(
        inf.section("SourceDisksNames").is_some(),
        "no [SourceDisksNames]".into(),
    );
    let source_files = inf.entries("SourceDisksFiles");
    need(
        source_files
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(&sys_name)),
        format!("[SourceDisksFiles] lacks {sys_name}"),
    );
    need(
        inf.value("DestinationDirs", "DefaultDestDir").is_some(),
        "[DestinationDirs] has no DefaultDestDir".into(),
    );

    // Every %token% is defined in [Strings] (numeric dirids excepted).
    let strings: Vec<String> = inf.entries("Strings").into_iter().map(|(k, _)| k).collect();
    for (name, lines) in &inf.sections {
        if name == "strings" {
            continue;
        }
        for line in lines {
            for token in line.split('%').skip(1).step_by(2) {
                if token.is_empty() || token.chars().all(|c| c.is_ascii_digit()) {
                    continue;
                }
                need(
                    strings.contains(&token.to_ascii_lowercase()),
                    format!("%{token}% is not defined in [Strings]"),
                );
            }
        }
    }
    problems
}

fn is_guid(text: &str) -> bool {
    let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
        return false;
    };
    let groups: Vec<&str> = inner.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_inf_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    let [m, d, y] = parts.as_slice() else {
        return false;
    };
    let (Ok(m), Ok(d), Ok(y)) = (m.parse::<u32>(), d.parse::<u32>(), y.parse::<u32>()) else {
        return false;
    };
    (1..=12).contains(&m) && (1..=31).contains(&d) && (2000..=2999).contains(&y)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[Version]
Signature = "$WINDOWS NT$"
Class = System
ClassGuid = {4D36E97D-E325-11CE-BFC1-08002BE10318}
Provider = %Provider%
CatalogFile = xenstub.cat
DriverVer = 11/21/2026,0.1.0.0
PnpLockdown = 1

[DestinationDirs]
DefaultDestDir = 12

[SourceDisksNames]
1 = %Disk%,,,""

[SourceDisksFiles]
xenstub.sys = 1,,

[Manufacturer]
%Provider% = XenStub, NTamd64

[XenStub.NTamd64]
%Vfb% = XenStub_Install, XEN\VFB
%Vkbd% = XenStub_Install, XEN\VKBD ; keyboard
%Console% = XenStub_Install, XEN\CONSOLE

[XenStub_Install.NT]
CopyFiles = XenStub_Files

[XenStub_Files]
xenstub.sys

[XenStub_Install.NT.Services]
AddService = xenstub, 0x00000002, XenStub_Service

[XenStub_Service]
ServiceType = 1
StartType = 3
ErrorControl = 1
ServiceBinary = %12%\xenstub.sys

[Strings]
Provider = "Xen PV"
Disk = "Xen PV drivers"
Vfb = "Xen frame buffer"
Vkbd = "Xen keyboard"
Console = "Xen console"
"#;

    fn expect() -> Expectation<'static> {
        Expectation {
            driver: "xenstub",
            service: "xenstub",
            version: "0.1.0.0",
            hardware_ids: vec!["XEN\\VFB", "XEN\\VKBD", "XEN\\CONSOLE"],
        }
    }

    #[test]
    fn a_complete_inf_passes() {
        assert_eq!(check(GOOD, &expect()), Vec::<String>::new());
    }

    fn broken(from: &str, to: &str) -> Vec<String> {
        assert!(GOOD.contains(from), "{from}");
        check(&GOOD.replace(from, to), &expect())
    }

    #[test]
    fn each_defect_is_reported() {
        let cases = [
            (
                "DriverVer = 11/21/2026,0.1.0.0",
                "DriverVer = 11/21/2026,0.0.9.0",
                "DriverVer version",
            ),
            (
                "DriverVer = 11/21/2026,",
                "DriverVer = 2026-11-21,",
                "mm/dd/yyyy",
            ),
            (
                "%Console% = XenStub_Install, XEN\\CONSOLE",
                "",
                "hardware IDs",
            ),
            ("XEN\\VKBD", "XEN\\KBD", "hardware IDs"),
            (
                "AddService = xenstub,",
                "AddService = xenstuff,",
                "AddService installs",
            ),
            (
                "ServiceBinary = %12%\\xenstub.sys",
                "ServiceBinary = %12%\\other.sys",
                "ServiceBinary",
            ),
            ("ServiceType = 1", "ServiceType = 16", "ServiceType"),
            ("[XenStub_Service]", "[XenStub_Svc]", "service section"),
            (
                "Signature = \"$WINDOWS NT$\"",
                "Signature = \"$Chicago$\"",
                "Signature",
            ),
            ("Vfb = \"Xen frame buffer\"", "", "%Vfb%"),
            (
                "%Provider% = XenStub, NTamd64",
                "%Provider% = XenStub, NTx86",
                "NTamd64",
            ),
            ("xenstub.sys = 1,,", "xenpci.sys = 1,,", "SourceDisksFiles"),
            (
                "ClassGuid = {4D36E97D-E325-11CE-BFC1-08002BE10318}",
                "ClassGuid = 4D36E97D",
                "ClassGuid",
            ),
        ];
        for (from, to, needle) in cases {
            let problems = broken(from, to);
            assert!(
                problems.iter().any(|p| p.contains(needle)),
                "{from} -> {to}: {problems:?}"
            );
        }
    }

    const PRIMITIVE: &str = r#"
[Version]
Signature = "$WINDOWS NT$"
Class = System
ClassGuid = {4D36E97D-E325-11CE-BFC1-08002BE10318}
Provider = %Provider%
CatalogFile = xenhide.cat
DriverVer = 11/21/2026,0.1.0.0
PnpLockdown = 1

[DestinationDirs]
DefaultDestDir = 12

[SourceDisksNames]
1 = %Disk%,,,""

[SourceDisksFiles]
xenhide.sys = 1,,

[DefaultInstall.NTamd64]
CopyFiles = XenHide_Files
AddReg = XenHide_AddReg

[DefaultInstall.NTamd64.Services]
AddService = xenhide, , XenHide_Service

[DefaultUninstall.NTamd64]
DelReg = XenHide_DelReg

[DefaultUninstall.NTamd64.Services]
DelService = xenhide, 0x200

[XenHide_Files]
xenhide.sys

[XenHide_AddReg]
HKLM, System\CurrentControlSet\Control\Class\{4D36E97D-E325-11CE-BFC1-08002BE10318}, UpperFilters, 0x00010008, xenhide

[XenHide_DelReg]
HKLM, System\CurrentControlSet\Control\Class\{4D36E97D-E325-11CE-BFC1-08002BE10318}, UpperFilters, 0x00018002, xenhide

[XenHide_Service]
ServiceType = 1
StartType = 0
ErrorControl = 1
ServiceBinary = %12%\xenhide.sys

[Strings]
Provider = "Xen PV"
Disk = "Xen PV drivers"
"#;

    fn expect_primitive() -> Expectation<'static> {
        Expectation {
            driver: "xenhide",
            service: "xenhide",
            version: "0.1.0.0",
            hardware_ids: vec![],
        }
    }

    #[test]
    fn primitive_infs_are_checked_as_such_and_never_mixed() {
        assert_eq!(check(PRIMITIVE, &expect_primitive()), Vec::<String>::new());
        let cases = [
            // The old xenhide.inx: a models line without a hardware ID next to DefaultInstall.
            (
                "[DefaultInstall.NTamd64]\n",
                "[Manufacturer]\n%Provider% = XenHide, NTamd64\n[XenHide.NTamd64]\n%Provider% = DefaultInstall\n[DefaultInstall.NTamd64]\n",
                "mixed with DefaultInstall",
            ),
            (
                "[DefaultInstall.NTamd64]\n",
                "[Manufacturer]\n%Provider% = XenHide, NTamd64\n[XenHide.NTamd64]\n%Provider% = DefaultInstall\n[DefaultInstall.NTamd64]\n",
                "has no hardware ID",
            ),
            ("[DefaultInstall.NTamd64]\n", "[DefaultInstall]\n", "[DefaultInstall.NTamd64]"),
            ("[DefaultInstall.NTamd64]\n", "[DefaultInstall]\n", "undecorated [DefaultInstall]"),
            ("[DefaultUninstall.NTamd64]\n", "[DefaultUninstall.NT]\n", "undecorated [DefaultUninstall.NT]"),
            ("[DefaultInstall.NTamd64.Services]", "[DefaultInstall.NTx86.Services]", "has no AddService"),
            ("XenHide_Files]\nxenhide.sys", "XenHide_Files]\nother.sys", "does not copy xenhide.sys"),
        ];
        for (from, to, needle) in cases {
            assert!(PRIMITIVE.contains(from), "{from}");
            let problems = check(&PRIMITIVE.replacen(from, to, 1), &expect_primitive());
            assert!(
                problems.iter().any(|p| p.contains(needle)),
                "{from} -> {to}: {problems:?}"
            );
        }
        // A primitive INF where a device INF is expected.
        let problems = check(PRIMITIVE, &expect());
        assert!(
            problems.iter().any(|p| p.contains("primitive INF")),
            "{problems:?}"
        );
    }

    #[test]
    fn duplicate_sections_and_orphan_lines_are_parse_errors() {
        assert!(Inf::parse("[A]\nx\n[a]\n").is_err());
        assert!(Inf::parse("x = 1\n").is_err());
        assert_eq!(strip_comment("a = \"b;c\" ; d"), "a = \"b;c\" ");
    }
}
