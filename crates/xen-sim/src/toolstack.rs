//! What `xl block-attach` does in xenstore: the backend and frontend directories of a vbd,
//! with libxl's permissions, and a blkback to serve it.

use std::cell::RefCell;
use std::rc::Rc;

use xen_hal::DomainId;

use crate::blkback::Blkback;
use crate::netback::Netback;
use crate::world::World;
use crate::xenstored::{domain_path, Access, Perms};

/// The xenstore paths of an attached device (vbd or vif).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VbdPaths {
    /// `/local/domain/0/backend/vbd/<domid>/<devid>`.
    pub backend: String,
    /// `/local/domain/<domid>/device/vbd/<devid>`.
    pub frontend: String,
}

/// The paths libxl uses for vbd `devid` of `domid` served by dom0.
pub fn vbd_paths(domid: u16, devid: u32) -> VbdPaths {
    VbdPaths {
        backend: format!("{}/backend/vbd/{domid}/{devid}", domain_path(0)),
        frontend: format!("{}/device/vbd/{devid}", domain_path(domid)),
    }
}

impl World {
    /// Attaches a RAM disk of `sectors` 512-byte sectors to `domid` as vbd `devid` (e.g. 768
    /// for `hda`/`xvda`), the way `xl block-attach` does: the backend directory (owned by dom0,
    /// readable by the guest) with `frontend`, `frontend-id`, `online`, `state`=1, `params`,
    /// `mode`, `type`, `dev`, `device-type`, `removable`; the frontend directory (owned by the
    /// guest, readable by dom0) with `backend`, `backend-id`, `state`=1, `virtual-device`,
    /// `device-type`. The blkback joins the pump and goes `InitWait` on the next round.
    pub fn attach_vbd(
        &self,
        domid: u16,
        devid: u32,
        sectors: u64,
    ) -> (VbdPaths, Rc<RefCell<Blkback>>) {
        let paths = vbd_paths(domid, devid);
        let backend_perms = Perms::owned_by(0).with(domid, Access::Read);
        let frontend_perms = Perms::owned_by(domid).with(0, Access::Read);
        let be = &paths.backend;
        let fe = &paths.frontend;
        let entries: [(&str, String); 10] = [
            ("frontend", fe.clone()),
            ("frontend-id", domid.to_string()),
            ("online", "1".into()),
            ("removable", "0".into()),
            ("bootable", "1".into()),
            ("state", "1".into()),
            ("dev", "xvda".into()),
            ("type", "phy".into()),
            ("mode", "w".into()),
            ("device-type", "disk".into()),
        ];
        let blkback = self.with_sim(|sim| {
            Rc::new(RefCell::new(Blkback::new(
                sim,
                DomainId(domid),
                be,
                sectors,
            )))
        });
        // Creation of the directory with its permissions first, as libxl does in one transaction.
        self.xs_write(be, b"").ok();
        self.xs_set_perms(be, backend_perms.clone()).ok();
        self.xs_write(&format!("{be}/params"), format!("ram:{sectors}").as_bytes())
            .ok();
        self.xs_write(fe, b"").ok();
        self.xs_set_perms(fe, frontend_perms.clone()).ok();
        for (key, value) in &entries {
            self.xs_write(&format!("{be}/{key}"), value.as_bytes()).ok();
        }
        for (key, value) in [
            ("backend", be.clone()),
            ("backend-id", "0".to_string()),
            ("state", "1".to_string()),
            ("virtual-device", devid.to_string()),
            ("device-type", "disk".to_string()),
        ] {
            let path = format!("{fe}/{key}");
            self.xs_write(&path, value.as_bytes()).ok();
            self.xs_set_perms(&path, frontend_perms.clone()).ok();
        }
        self.add_backend(blkback.clone());
        (paths, blkback)
    }

    /// What `xl block-detach` does: takes the backend offline and asks it to close
    /// (`online` = 0, `state` = Closing). The frontend sees the backend closing and closes; once
    /// both are Closed the device's directories are removed.
    pub fn detach_vbd(&self, paths: &VbdPaths) -> Result<(), crate::xenstored::StoreError> {
        self.xs_write(&format!("{}/online", paths.backend), b"0")?;
        self.xs_write(&format!("{}/state", paths.backend), b"5")
    }

    /// Attaches a network interface `devid` with `mac` to `domid`, the way `xl network-attach`
    /// does: the backend directory `/local/domain/0/backend/vif/<domid>/<devid>` (owned by
    /// dom0, readable by the guest) with `frontend`, `frontend-id`, `online`, `state`=1,
    /// `handle`, `mac`, `type`; the frontend directory `device/vif/<devid>` (owned by the guest,
    /// readable by dom0) with `backend`, `backend-id`, `state`=1, `handle`, `mac`. The netback
    /// joins the pump.
    pub fn attach_vif(
        &self,
        domid: u16,
        devid: u32,
        mac: &str,
    ) -> (VbdPaths, Rc<RefCell<Netback>>) {
        let paths = VbdPaths {
            backend: format!("{}/backend/vif/{domid}/{devid}", domain_path(0)),
            frontend: format!("{}/device/vif/{devid}", domain_path(domid)),
        };
        let backend_perms = Perms::owned_by(0).with(domid, Access::Read);
        let frontend_perms = Perms::owned_by(domid).with(0, Access::Read);
        let be = &paths.backend;
        let fe = &paths.frontend;
        let netback =
            self.with_sim(|sim| Rc::new(RefCell::new(Netback::new(sim, DomainId(domid), be))));
        self.xs_write(be, b"").ok();
        self.xs_set_perms(be, backend_perms).ok();
        for (key, value) in [
            ("frontend", fe.clone()),
            ("frontend-id", domid.to_string()),
            ("online", "1".into()),
            ("handle", devid.to_string()),
            ("mac", mac.to_string()),
            ("type", "vif".into()),
            ("state", "1".into()),
        ] {
            self.xs_write(&format!("{be}/{key}"), value.as_bytes()).ok();
        }
        self.xs_write(fe, b"").ok();
        self.xs_set_perms(fe, frontend_perms.clone()).ok();
        for (key, value) in [
            ("backend", be.clone()),
            ("backend-id", "0".to_string()),
            ("handle", devid.to_string()),
            ("mac", mac.to_string()),
            ("state", "1".to_string()),
        ] {
            let path = format!("{fe}/{key}");
            self.xs_write(&path, value.as_bytes()).ok();
            self.xs_set_perms(&path, frontend_perms.clone()).ok();
        }
        self.add_backend(netback.clone());
        (paths, netback)
    }
}
