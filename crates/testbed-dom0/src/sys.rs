//! Linux's Xen devices `/dev/xen/evtchn` and `/dev/xen/gntdev`: the only `unsafe` of the helper
//! (ioctl, poll, mmap). Argument layouts follow Linux's uapi `xen/evtchn.h` and `xen/gntdev.h`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Size of a Xen page.
pub const PAGE_SIZE: usize = 4096;

/// `_IOC(_IOC_NONE, ty, nr, size)` on x86 (direction bits 0).
const fn ioc_none(ty: u8, nr: u8, size: usize) -> u64 {
    ((size as u64) << 16) | ((ty as u64) << 8) | nr as u64
}

/// `struct ioctl_evtchn_bind_interdomain`.
#[repr(C)]
struct BindInterdomain {
    remote_domain: u32,
    remote_port: u32,
}

/// `struct ioctl_evtchn_notify` (also the layout of `ioctl_evtchn_unbind`).
#[repr(C)]
struct Port {
    port: u32,
}

/// `struct ioctl_gntdev_map_grant_ref` with one `ioctl_gntdev_grant_ref`.
#[repr(C)]
struct MapGrantRef {
    count: u32,
    pad: u32,
    index: u64,
    domid: u32,
    gref: u32,
}

/// `struct ioctl_gntdev_unmap_grant_ref`.
#[repr(C)]
struct UnmapGrantRef {
    index: u64,
    count: u32,
    pad: u32,
}

/// `IOCTL_EVTCHN_BIND_INTERDOMAIN`.
pub const IOCTL_EVTCHN_BIND_INTERDOMAIN: u64 = ioc_none(b'E', 1, size_of::<BindInterdomain>());
/// `IOCTL_EVTCHN_NOTIFY`.
pub const IOCTL_EVTCHN_NOTIFY: u64 = ioc_none(b'E', 4, size_of::<Port>());
/// `IOCTL_GNTDEV_MAP_GRANT_REF`.
pub const IOCTL_GNTDEV_MAP_GRANT_REF: u64 = ioc_none(b'G', 0, size_of::<MapGrantRef>());
/// `IOCTL_GNTDEV_UNMAP_GRANT_REF`.
pub const IOCTL_GNTDEV_UNMAP_GRANT_REF: u64 = ioc_none(b'G', 1, size_of::<UnmapGrantRef>());

fn open(path: &str) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open {path}: {e}"))
}

/// `ioctl(file, request, arg)`; the kernel's return value, or the OS error.
fn ioctl<T>(file: &File, request: u64, arg: &mut T, what: &str) -> Result<i32, String> {
    let arg: *mut T = arg;
    // SAFETY: `file` is an open descriptor of a Xen device whose `request` takes a pointer to
    // exactly a `T` (the layouts above follow Linux's uapi headers); `arg` is valid and
    // exclusively borrowed for the call, and the kernel does not keep it afterwards.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request as libc::c_ulong, arg) };
    if rc < 0 {
        Err(format!("{what}: {}", std::io::Error::last_os_error()))
    } else {
        Ok(rc)
    }
}

/// An open `/dev/xen/evtchn`; closing it unbinds every port bound through it.
pub struct EventChannels {
    file: File,
}

impl EventChannels {
    /// Opens the device.
    pub fn open() -> Result<EventChannels, String> {
        Ok(EventChannels {
            file: open("/dev/xen/evtchn")?,
        })
    }

    /// Binds a local port to `remote_port` of domain `domid`; returns the local port.
    pub fn bind_interdomain(&self, domid: u32, remote_port: u32) -> Result<u32, String> {
        let mut arg = BindInterdomain {
            remote_domain: domid,
            remote_port,
        };
        let port = ioctl(
            &self.file,
            IOCTL_EVTCHN_BIND_INTERDOMAIN,
            &mut arg,
            "IOCTL_EVTCHN_BIND_INTERDOMAIN",
        )?;
        u32::try_from(port).map_err(|_| format!("bind returned port {port}"))
    }

    /// Sends an event on local `port`.
    pub fn notify(&self, port: u32) -> Result<(), String> {
        let mut arg = Port { port };
        ioctl(
            &self.file,
            IOCTL_EVTCHN_NOTIFY,
            &mut arg,
            "IOCTL_EVTCHN_NOTIFY",
        )
        .map(|_| ())
    }

    /// Waits up to `limit` for an event; returns the port it fired on (masked until [`unmask`]).
    ///
    /// [`unmask`]: EventChannels::unmask
    pub fn wait(&self, limit: Duration) -> Result<u32, String> {
        let mut fd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = i32::try_from(limit.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `fd` is one valid, exclusively borrowed pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut fd, 1, millis) };
        if rc < 0 {
            return Err(format!("poll: {}", std::io::Error::last_os_error()));
        }
        if rc == 0 {
            return Err(format!("no event within {}s", limit.as_secs()));
        }
        let mut bytes = [0u8; 4];
        (&self.file)
            .read_exact(&mut bytes)
            .map_err(|e| format!("read /dev/xen/evtchn: {e}"))?;
        Ok(u32::from_ne_bytes(bytes))
    }

    /// Unmasks `port` after an event was read.
    pub fn unmask(&self, port: u32) -> Result<(), String> {
        (&self.file)
            .write_all(&port.to_ne_bytes())
            .map_err(|e| format!("unmask port {port}: {e}"))
    }
}

/// An open `/dev/xen/gntdev`.
pub struct GrantDevice {
    file: File,
}

impl GrantDevice {
    /// Opens the device.
    pub fn open() -> Result<GrantDevice, String> {
        Ok(GrantDevice {
            file: open("/dev/xen/gntdev")?,
        })
    }

    /// Maps grant `gref` of domain `domid` read-only; unmapped when the mapping is dropped.
    pub fn map(&self, domid: u32, gref: u32) -> Result<Mapping<'_>, String> {
        let mut arg = MapGrantRef {
            count: 1,
            pad: 0,
            index: 0,
            domid,
            gref,
        };
        ioctl(
            &self.file,
            IOCTL_GNTDEV_MAP_GRANT_REF,
            &mut arg,
            "IOCTL_GNTDEV_MAP_GRANT_REF",
        )?;
        let index = arg.index;
        let offset = match libc::off_t::try_from(index) {
            Ok(offset) => offset,
            Err(_) => {
                release(&self.file, index);
                return Err(format!("gntdev gave offset {index:#x}"));
            }
        };
        // SAFETY: a fresh shared mapping chosen by the kernel (null hint) of one page at the
        // offset gntdev just returned for this descriptor; no existing memory is affected.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE_SIZE,
                libc::PROT_READ,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                offset,
            )
        };
        if address == libc::MAP_FAILED {
            let error = std::io::Error::last_os_error();
            release(&self.file, index);
            return Err(format!("mmap of gref {gref} from domain {domid}: {error}"));
        }
        Ok(Mapping {
            device: self,
            index,
            address: address.cast::<u8>(),
        })
    }
}

/// Gives a grant mapping's gntdev slot back.
fn release(file: &File, index: u64) {
    let mut arg = UnmapGrantRef {
        index,
        count: 1,
        pad: 0,
    };
    if let Err(e) = ioctl(
        file,
        IOCTL_GNTDEV_UNMAP_GRANT_REF,
        &mut arg,
        "IOCTL_GNTDEV_UNMAP_GRANT_REF",
    ) {
        println!("testbed-dom0: {e}");
    }
}

/// One page of another domain mapped through gntdev.
pub struct Mapping<'a> {
    device: &'a GrantDevice,
    index: u64,
    address: *mut u8,
}

impl Mapping<'_> {
    /// Copies the page out with volatile reads (the other domain may write it meanwhile).
    pub fn read(&self) -> Result<Vec<u8>, String> {
        let mut page = Vec::new();
        page.try_reserve_exact(PAGE_SIZE)
            .map_err(|e| format!("allocation: {e}"))?;
        for offset in 0..PAGE_SIZE {
            // SAFETY: `address` is a live read-only mapping of PAGE_SIZE bytes (unmapped only in
            // Drop), and `offset < PAGE_SIZE`, so the pointer stays inside it.
            let byte_address = unsafe { self.address.add(offset) };
            // SAFETY: `byte_address` points into the live mapping (see above); a byte has no
            // alignment requirement; volatile because another domain owns the page.
            page.push(unsafe { byte_address.read_volatile() });
        }
        Ok(page)
    }
}

impl Drop for Mapping<'_> {
    fn drop(&mut self) {
        // SAFETY: `address` is the start of the PAGE_SIZE mapping made in `map`, not yet
        // unmapped; no reference into it outlives this call (reads copy out).
        let rc = unsafe { libc::munmap(self.address.cast(), PAGE_SIZE) };
        if rc != 0 {
            println!("testbed-dom0: munmap: {}", std::io::Error::last_os_error());
        }
        release(&self.device.file, self.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The ioctl numbers and argument sizes agree with the C headers (libxen-dev's copies of
    /// Linux's uapi headers), compiled and printed by gcc.
    #[test]
    fn ioctl_numbers_match_the_c_headers() {
        let dir = std::env::temp_dir().join(format!("testbed-dom0-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("probe.c");
        std::fs::write(
            &source,
            "#include <stdio.h>\n#include <stdint.h>\n#include <sys/ioctl.h>\n#include <xen/xen.h>\n\
             #include <xen/sys/evtchn.h>\n#include <xen/sys/gntdev.h>\n\
             int main(void) { printf(\"%lu %lu %lu %lu\\n\",\n\
             (unsigned long)IOCTL_EVTCHN_BIND_INTERDOMAIN, (unsigned long)IOCTL_EVTCHN_NOTIFY,\n\
             (unsigned long)IOCTL_GNTDEV_MAP_GRANT_REF, (unsigned long)IOCTL_GNTDEV_UNMAP_GRANT_REF);\n\
             return 0; }\n",
        )
        .unwrap();
        let binary = dir.join("probe");
        let status = Command::new("gcc")
            .arg("-o")
            .arg(&binary)
            .arg(&source)
            .status()
            .expect("gcc (installed by .ci/run with libxen-dev)");
        assert!(status.success(), "the C probe did not compile");
        let out = Command::new(&binary).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let numbers: Vec<u64> = text
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(
            numbers,
            vec![
                IOCTL_EVTCHN_BIND_INTERDOMAIN,
                IOCTL_EVTCHN_NOTIFY,
                IOCTL_GNTDEV_MAP_GRANT_REF,
                IOCTL_GNTDEV_UNMAP_GRANT_REF
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
