//! INF stamping (`$ARCH$`, `$DRIVERVER$`), as the WDK's stampinf does for `.inx` templates.

use std::path::Path;
use std::process::Command;

/// `a.b.c` (a pre-release or build suffix dropped) as the four-part `a.b.c.0` Windows uses;
/// each part must fit 16 bits.
pub fn driver_version(cargo_version: &str) -> Result<String, String> {
    let core = cargo_version
        .split(['-', '+'])
        .next()
        .unwrap_or(cargo_version);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.parse::<u16>().is_err()) {
        return Err(format!(
            "workspace version `{cargo_version}` is not major.minor.patch with 16-bit parts"
        ));
    }
    Ok(format!("{}.0", parts.join(".")))
}

/// `mm/dd/yyyy` of the HEAD commit (reproducible builds), or today's date outside git.
pub fn build_date() -> String {
    let from_git = Command::new("git")
        .args(["log", "-1", "--format=%cd", "--date=format:%m/%d/%Y"])
        .current_dir(crate::util::workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|d| d.len() == 10);
    from_git.unwrap_or_else(|| {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (y, m, d) = civil_from_days((seconds / 86_400) as i64);
        format!("{m:02}/{d:02}/{y:04}")
    })
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Writes `inx` to `inf` with `$ARCH$` = amd64 and `$DRIVERVER$` = `date,version`.
pub fn stamp_inf(inx: &Path, inf: &Path, version: &str, date: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(inx).map_err(|e| format!("{}: {e}", inx.display()))?;
    if !text.contains("$DRIVERVER$") {
        return Err(format!(
            "{} has no `DriverVer = $DRIVERVER$` line",
            inx.display()
        ));
    }
    let stamped = text
        .replace("$ARCH$", "amd64")
        .replace("$DRIVERVER$", &format!("{date},{version}"));
    // INF files are read as ANSI or UTF-16; keep them ASCII with CRLF line ends.
    if !stamped.is_ascii() {
        return Err(format!("{} is not ASCII", inx.display()));
    }
    let crlf = stamped.replace("\r\n", "\n").replace('\n', "\r\n");
    std::fs::write(inf, crlf).map_err(|e| format!("{}: {e}", inf.display()))
}

/// The `VERSIONINFO` resource script of a driver image (no includes, so llvm-rc needs no
/// preprocessor): file and product version from `version` (`a.b.c.d`), `VOS_NT_WINDOWS32`,
/// `VFT_DRV`, `VFT2_DRV_SYSTEM`.
pub fn version_rc(driver: &str, version: &str, description: &str) -> Result<String, String> {
    let parts: Vec<u16> = version
        .split('.')
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("bad version `{version}`"))
        })
        .collect::<Result<_, _>>()?;
    let [a, b, c, d] = parts.as_slice() else {
        return Err(format!("version `{version}` does not have four parts"));
    };
    let clean = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii() && *c != '"' && *c != '\\')
            .collect::<String>()
    };
    let description = clean(description);
    let driver = clean(driver);
    Ok(format!(
        "1 VERSIONINFO\n\
         FILEVERSION {a},{b},{c},{d}\n\
         PRODUCTVERSION {a},{b},{c},{d}\n\
         FILEFLAGSMASK 0x3F\n\
         FILEFLAGS 0x0\n\
         FILEOS 0x40004\n\
         FILETYPE 0x3\n\
         FILESUBTYPE 0x7\n\
         BEGIN\n\
         \x20 BLOCK \"StringFileInfo\"\n\
         \x20 BEGIN\n\
         \x20   BLOCK \"040904B0\"\n\
         \x20   BEGIN\n\
         \x20     VALUE \"CompanyName\", \"Xen Project\"\n\
         \x20     VALUE \"FileDescription\", \"{description}\"\n\
         \x20     VALUE \"FileVersion\", \"{version}\"\n\
         \x20     VALUE \"InternalName\", \"{driver}.sys\"\n\
         \x20     VALUE \"OriginalFilename\", \"{driver}.sys\"\n\
         \x20     VALUE \"ProductName\", \"Xen PV drivers for Windows (Rust)\"\n\
         \x20     VALUE \"ProductVersion\", \"{version}\"\n\
         \x20   END\n\
         \x20 END\n\
         \x20 BLOCK \"VarFileInfo\"\n\
         \x20 BEGIN\n\
         \x20   VALUE \"Translation\", 0x409, 1200\n\
         \x20 END\n\
         END\n"
    ))
}

/// The `description` of a crate's Cargo.toml (the first `description = "..."` line).
pub fn crate_description(manifest: &Path) -> String {
    std::fs::read_to_string(manifest)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let value = line
                    .trim()
                    .strip_prefix("description")?
                    .trim_start()
                    .strip_prefix('=')?;
                Some(value.trim().trim_matches('"').to_string())
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_get_four_parts() {
        assert_eq!(driver_version("0.1.0").unwrap(), "0.1.0.0");
        assert_eq!(driver_version("1.2.3-rc.1").unwrap(), "1.2.3.0");
        assert!(driver_version("1.2").is_err());
        assert!(driver_version("1.70000.0").is_err());
    }

    #[test]
    fn version_resource_script_has_the_four_part_version() {
        let rc = version_rc("xenstub", "0.1.0.0", "null \"driver\"").unwrap();
        assert!(rc.contains("FILEVERSION 0,1,0,0\n"));
        assert!(rc.contains("VALUE \"FileVersion\", \"0.1.0.0\""));
        assert!(rc.contains("VALUE \"FileDescription\", \"null driver\""));
        assert!(rc.contains("FILETYPE 0x3\n"));
        assert!(version_rc("x", "0.1.0", "").is_err());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_413), (2025, 11, 21));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
