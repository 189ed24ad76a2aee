//! Debian packages of the bed: resolved, fetched with `apt-get download` into a cache under
//! `target/testbed/debs`, unpacked with `dpkg -x`. Nothing is installed on the host.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Packages the bed needs besides the kernel (resolved at run time, see [`resolve_kernel`]).
const PACKAGES: &[&str] = &[
    "xen-hypervisor-4.17-amd64",
    "xen-utils-4.17",
    "xen-utils-common",
    "xenstore-utils",
    "libxencall1",
    "libxenevtchn1",
    "libxenforeignmemory1",
    "libxengnttab1",
    "libxenmisc4.17",
    "libxenstore4",
    "libxentoollog1",
    "libxendevicemodel1",
    "libxenhypfs1",
    "libxentoolcore1",
    "libyajl2",
    "busybox-static",
    "qemu-system-xen",
    "qemu-system-data",
    "seabios",
];

/// The unpacked packages.
pub struct Unpacked {
    /// Root of the `dpkg -x` tree.
    pub root: PathBuf,
    /// Kernel release, e.g. `6.1.0-56-amd64`.
    pub kernel_release: String,
}

/// The kernel package `linux-image-amd64` currently depends on, from `apt-cache show` output.
pub fn kernel_package_from_show(show: &str) -> Option<String> {
    let depends = show.lines().find_map(|l| l.strip_prefix("Depends:"))?;
    depends
        .split([',', '|'])
        .map(|alt| alt.split_whitespace().next().unwrap_or(""))
        .find(|name| name.starts_with("linux-image-") && name.len() > "linux-image-".len())
        .map(str::to_owned)
}

/// Asks apt for the current kernel package name (e.g. `linux-image-6.1.0-56-amd64`); runs
/// `apt-get update` once when apt's lists do not know the package (a fresh machine).
fn resolve_kernel() -> Result<String, String> {
    resolve_kernel_once().or_else(|first| {
        println!("testbed: {first}; running apt-get update");
        apt_update()?;
        resolve_kernel_once()
    })
}

/// `apt-get update`, quietly.
fn apt_update() -> Result<(), String> {
    let status = Command::new("apt-get")
        .args(["-qq", "-o", "DPkg::Lock::Timeout=300", "update"])
        .status()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("apt-get update failed ({status})"))
    }
}

fn resolve_kernel_once() -> Result<String, String> {
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions", "linux-image-amd64"])
        .output()
        .map_err(|e| format!("cannot run apt-cache: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    kernel_package_from_show(&text).ok_or_else(|| {
        format!(
            "apt-cache show linux-image-amd64 names no kernel package ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// The newest `.deb` of `package` in `dir` (files are named `<package>_<version>_<arch>.deb`).
fn find_deb(dir: &Path, package: &str) -> Option<PathBuf> {
    let prefix = format!("{package}_");
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            let time = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(t, _)| time > *t) {
                best = Some((time, entry.path()));
            }
        }
    }
    best.map(|(_, path)| path)
}

/// Fetches (or reuses) and unpacks the packages under `cache`. An `Err` here means the packages
/// cannot be had: the caller reports the bed as SKIPPED.
pub fn fetch_and_unpack(cache: &Path) -> Result<Unpacked, String> {
    let debs = cache.join("debs");
    fs::create_dir_all(&debs).map_err(|e| format!("cannot create {}: {e}", debs.display()))?;
    let stamp = debs.join("kernel-package");
    let kernel = match resolve_kernel() {
        Ok(kernel) => kernel,
        // Offline with a filled cache: reuse what was fetched last time.
        Err(e) => match fs::read_to_string(&stamp) {
            Ok(cached) if find_deb(&debs, cached.trim()).is_some() => {
                println!("testbed: {e}; reusing the cached {}", cached.trim());
                cached.trim().to_owned()
            }
            _ => return Err(e),
        },
    };
    let mut wanted: Vec<&str> = PACKAGES.to_vec();
    wanted.push(&kernel);
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| find_deb(&debs, p).is_none())
        .collect();
    if !missing.is_empty() {
        println!("testbed: apt-get download {}", missing.join(" "));
        let download = || {
            let out = Command::new("apt-get")
                .args(["-q", "-o", "DPkg::Lock::Timeout=300", "download"])
                .args(&missing)
                .current_dir(&debs)
                .output()
                .map_err(|e| format!("cannot run apt-get: {e}"))?;
            if out.status.success() {
                return Ok(());
            }
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| l.starts_with("E:"))
                .unwrap_or("");
            Err(format!("apt-get download failed: {}", last.trim()))
        };
        // Stale lists name versions the mirror no longer has: update once and try again.
        download().or_else(|first| {
            println!("testbed: {first}; running apt-get update");
            apt_update()?;
            download()
        })?;
    }
    fs::write(&stamp, &kernel).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;

    let mut files = Vec::new();
    for p in &wanted {
        files.push(find_deb(&debs, p).ok_or_else(|| format!("{p} was not downloaded"))?);
    }
    let kernel_release = kernel.trim_start_matches("linux-image-").to_owned();
    let listing: String = files
        .iter()
        .filter_map(|f| f.file_name())
        .map(|f| format!("{}\n", f.to_string_lossy()))
        .collect();
    let root = cache.join("root");
    let root_stamp = cache.join("root.list");
    if fs::read_to_string(&root_stamp).ok().as_deref() != Some(listing.as_str()) {
        println!("testbed: unpacking {} packages", files.len());
        if root.exists() {
            fs::remove_dir_all(&root)
                .map_err(|e| format!("cannot clear {}: {e}", root.display()))?;
        }
        fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        for f in &files {
            let status = Command::new("dpkg")
                .arg("-x")
                .arg(f)
                .arg(&root)
                .status()
                .map_err(|e| format!("cannot run dpkg: {e}"))?;
            if !status.success() {
                return Err(format!("dpkg -x {} failed", f.display()));
            }
        }
        fs::write(&root_stamp, &listing).map_err(|e| format!("cannot write stamp: {e}"))?;
    }
    if !root.join("lib/modules").join(&kernel_release).is_dir() {
        return Err(format!("{kernel} has no modules for {kernel_release}"));
    }
    Ok(Unpacked {
        root,
        kernel_release,
    })
}

#[cfg(test)]
mod tests {
    use super::kernel_package_from_show;

    #[test]
    fn finds_the_kernel_dependency() {
        let show = "Package: linux-image-amd64\nVersion: 6.1.192-2\n\
                    Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\nDescription: x\n";
        assert_eq!(
            kernel_package_from_show(show).as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
    }

    #[test]
    fn no_depends_line_is_none() {
        assert_eq!(
            kernel_package_from_show("Package: linux-image-amd64\n"),
            None
        );
        assert_eq!(kernel_package_from_show("Depends: libc6 (>= 2)\n"), None);
    }
}
