//! Device and backend paths: `device/<type>/<id>` and `/local/domain/<id>/backend/<type>/<domid>/<id>`.

use alloc::string::String;
use core::fmt;

use xen_hal::DomainId;
use xen_public_headers::xen::DOMID_FIRST_RESERVED;
use xenstore::perms::parse_decimal_u32;

use crate::error::{Mismatch, PathError, XenbusError};

/// The root of a frontend's devices, relative to its home path.
pub const DEVICE_ROOT: &str = "device";

/// Whether `s` is a plausible device type (`vbd`, `vif`, `qdisk`, `vbd3`, ...).
pub fn valid_device_type(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn domid(s: &str) -> Result<DomainId, PathError> {
    let n = parse_decimal_u32(s.as_bytes()).ok_or(PathError::Number)?;
    let n = u16::try_from(n).map_err(|_| PathError::Number)?;
    if n >= DOMID_FIRST_RESERVED {
        return Err(PathError::Number);
    }
    Ok(DomainId(n))
}

/// A frontend device: `device/<kind>/<id>` (relative to the guest's home path).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceRef {
    /// Device type (`vbd`, `vif`, ...).
    pub kind: String,
    /// Device id (the last path component, decimal).
    pub id: u32,
}

impl DeviceRef {
    /// A device of type `kind` (validated) and id `id`.
    pub fn new(kind: &str, id: u32) -> Result<Self, XenbusError> {
        if !valid_device_type(kind) {
            return Err(XenbusError::BadDevice);
        }
        let mut k = String::new();
        k.try_reserve_exact(kind.len())
            .map_err(|_| XenbusError::Store(xenstore::Error::Alloc))?;
        k.push_str(kind);
        Ok(DeviceRef { kind: k, id })
    }

    /// Parses `device/<kind>/<id>[/...]` (e.g. a watch event path); `None` if it is not one.
    pub fn from_path(path: &str) -> Option<DeviceRef> {
        let rest = path.strip_prefix(DEVICE_ROOT)?.strip_prefix('/')?;
        let mut parts = rest.split('/');
        let kind = parts.next()?;
        let id = parse_decimal_u32(parts.next()?.as_bytes())?;
        DeviceRef::new(kind, id).ok()
    }

    /// The directory `device/<kind>/<id>`.
    pub fn dir(&self) -> Result<String, XenbusError> {
        let mut s = String::new();
        s.try_reserve(DEVICE_ROOT.len() + self.kind.len() + 12)
            .map_err(|_| XenbusError::Store(xenstore::Error::Alloc))?;
        use core::fmt::Write as _;
        write!(s, "{DEVICE_ROOT}/{}/{}", self.kind, self.id)
            .map_err(|_| XenbusError::Store(xenstore::Error::Alloc))?;
        Ok(s)
    }
}

impl fmt::Display for DeviceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{DEVICE_ROOT}/{}/{}", self.kind, self.id)
    }
}

/// A parsed backend path `/local/domain/<backend>/backend/<type>/<frontend>/<devid>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendPath {
    /// The backend's domain.
    pub backend_domid: DomainId,
    /// The backend type (may differ from the frontend's: `qdisk` or `vbd3` serve `vbd`).
    pub backend_type: String,
    /// The frontend's domain.
    pub frontend_domid: DomainId,
    /// The device id.
    pub devid: u32,
}

impl BackendPath {
    /// Parses and validates a backend path: exactly this shape, canonical decimals, domain ids
    /// below `DOMID_FIRST_RESERVED`.
    pub fn parse(path: &str) -> Result<BackendPath, PathError> {
        let mut parts = path.split('/');
        let mut next = || parts.next().ok_or(PathError::Shape);
        if !next()?.is_empty() || next()? != "local" || next()? != "domain" {
            return Err(PathError::Shape);
        }
        let backend_domid = domid(next()?)?;
        if next()? != "backend" {
            return Err(PathError::Shape);
        }
        let backend_type = next()?;
        if !valid_device_type(backend_type) {
            return Err(PathError::DeviceType);
        }
        let frontend_domid = domid(next()?)?;
        let devid = parse_decimal_u32(next()?.as_bytes()).ok_or(PathError::Number)?;
        if parts.next().is_some() {
            return Err(PathError::Shape);
        }
        let mut t = String::new();
        t.try_reserve_exact(backend_type.len())
            .map_err(|_| PathError::Shape)?;
        t.push_str(backend_type);
        Ok(BackendPath {
            backend_domid,
            backend_type: t,
            frontend_domid,
            devid,
        })
    }

    /// Checks the path against the device it should serve and the `backend-id` published
    /// beside it; `frontend_domid` is ours, if known.
    pub fn check(
        &self,
        device: &DeviceRef,
        backend_id: DomainId,
        frontend_domid: Option<DomainId>,
    ) -> Result<(), Mismatch> {
        if backend_id != self.backend_domid {
            return Err(Mismatch::BackendId {
                published: backend_id.0,
                in_path: self.backend_domid.0,
            });
        }
        if let Some(ours) = frontend_domid {
            if ours != self.frontend_domid {
                return Err(Mismatch::FrontendDomain {
                    expected: ours.0,
                    in_path: self.frontend_domid.0,
                });
            }
        }
        if device.id != self.devid {
            return Err(Mismatch::DeviceId {
                expected: device.id,
                in_path: self.devid,
            });
        }
        if !backend_serves(&self.backend_type, &device.kind) {
            return Err(Mismatch::DeviceType);
        }
        Ok(())
    }
}

/// Whether a backend of type `backend` may serve frontend devices of type `frontend`.
pub fn backend_serves(backend: &str, frontend: &str) -> bool {
    backend == frontend || (frontend == "vbd" && matches!(backend, "qdisk" | "vbd3" | "tap"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_paths_parse_strictly() {
        let p = BackendPath::parse("/local/domain/0/backend/vbd/5/768").unwrap();
        assert_eq!(p.backend_domid, DomainId(0));
        assert_eq!(p.backend_type, "vbd");
        assert_eq!(p.frontend_domid, DomainId(5));
        assert_eq!(p.devid, 768);
        for bad in [
            "",
            "/",
            "local/domain/0/backend/vbd/5/768",
            "/local/domain/0/backend/vbd/5/768/",
            "/local/domain/0/backend/vbd/5/768/x",
            "/local/domain/0/backend/vbd/5",
            "/local/domain/0/frontend/vbd/5/768",
            "/local/dom/0/backend/vbd/5/768",
        ] {
            assert_eq!(BackendPath::parse(bad), Err(PathError::Shape), "{bad}");
        }
        for bad in [
            "/local/domain/x/backend/vbd/5/768",
            "/local/domain//backend/vbd/5/768",
            "/local/domain/0/backend/vbd/05/768",
            "/local/domain/0/backend/vbd/5/-1",
            "/local/domain/32752/backend/vbd/5/768",
            "/local/domain/0/backend/vbd/70000/768",
            "/local/domain/0/backend/vbd/5/4294967296",
        ] {
            assert_eq!(BackendPath::parse(bad), Err(PathError::Number), "{bad}");
        }
        assert_eq!(
            BackendPath::parse("/local/domain/0/backend/V B D/5/768"),
            Err(PathError::DeviceType)
        );
        assert_eq!(
            BackendPath::parse("/local/domain/0/backend//5/768"),
            Err(PathError::DeviceType)
        );
    }

    #[test]
    fn backend_paths_are_checked_against_the_device() {
        let vbd = DeviceRef::new("vbd", 768).unwrap();
        let p = BackendPath::parse("/local/domain/0/backend/qdisk/5/768").unwrap();
        assert_eq!(p.check(&vbd, DomainId(0), Some(DomainId(5))), Ok(()));
        assert_eq!(
            p.check(&vbd, DomainId(1), None),
            Err(Mismatch::BackendId {
                published: 1,
                in_path: 0
            })
        );
        assert_eq!(
            p.check(&vbd, DomainId(0), Some(DomainId(6))),
            Err(Mismatch::FrontendDomain {
                expected: 6,
                in_path: 5
            })
        );
        let other = DeviceRef::new("vbd", 832).unwrap();
        assert!(matches!(
            p.check(&other, DomainId(0), None),
            Err(Mismatch::DeviceId { .. })
        ));
        let vif = DeviceRef::new("vif", 768).unwrap();
        assert_eq!(p.check(&vif, DomainId(0), None), Err(Mismatch::DeviceType));
    }

    #[test]
    fn device_refs_from_paths() {
        assert_eq!(
            DeviceRef::from_path("device/vbd/768/state"),
            Some(DeviceRef::new("vbd", 768).unwrap())
        );
        assert_eq!(
            DeviceRef::from_path("device/vif/0"),
            Some(DeviceRef::new("vif", 0).unwrap())
        );
        assert_eq!(DeviceRef::from_path("device/vif"), None);
        assert_eq!(DeviceRef::from_path("device/vif/abc"), None);
        assert_eq!(DeviceRef::from_path("devices/vif/1"), None);
        assert_eq!(DeviceRef::from_path("device"), None);
        assert_eq!(
            DeviceRef::new("vbd", 5).unwrap().dir().unwrap(),
            "device/vbd/5"
        );
    }
}
