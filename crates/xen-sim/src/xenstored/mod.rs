//! A xenstored: the tree, watches, transactions, and connections (dom0 clients called
//! directly; guests served over their `xenstore_domain_interface` page).

pub mod ring;
pub mod tree;

use std::collections::{BTreeMap, VecDeque};

use crate::abi;
pub use tree::{Access, Change, Perm, Perms, StoreError, Tree};

/// A connection to xenstored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u32);

/// A transaction id as seen on the wire (0 = none).
pub type TxId = u32;

/// A watch event delivered to a dom0 client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// Path of the change, relative if the watch was registered relative.
    pub path: String,
    /// The token given at registration.
    pub token: String,
}

struct Watch {
    /// Absolute path (or `@special`).
    path: String,
    token: String,
    relative: bool,
}

struct Transaction {
    tree: Tree,
    changes: Vec<Change>,
}

/// Per-connection state.
pub(crate) struct Connection {
    pub(crate) domid: u16,
    watches: Vec<Watch>,
    transactions: BTreeMap<TxId, Transaction>,
    /// Watch events of a dom0 client, or of a ring connection before they are encoded.
    pub(crate) events: VecDeque<WatchEvent>,
    pub(crate) ring: Option<ring::RingConn>,
}

/// Quota of open transactions per connection (C xenstored's default).
const MAX_TRANSACTIONS: usize = 10;
/// Quota of watches per connection (C xenstored's default).
const MAX_WATCHES: usize = 128;

/// The xenstore daemon.
pub struct Xenstored {
    /// The committed tree.
    pub tree: Tree,
    pub(crate) conns: BTreeMap<ConnId, Connection>,
    next_conn: u32,
    next_tx: TxId,
}

impl Default for Xenstored {
    fn default() -> Self {
        Self::new()
    }
}

/// The home path of a domain.
pub fn domain_path(domid: u16) -> String {
    format!("/local/domain/{domid}")
}

fn is_child(child: &str, parent: &str) -> bool {
    parent == "/"
        || child == parent
        || (child.starts_with(parent) && child.as_bytes().get(parent.len()) == Some(&b'/'))
}

impl Xenstored {
    /// A store holding `/`, `/local`, `/local/domain` and dom0's home, as xenstored starts.
    pub fn new() -> Xenstored {
        let mut tree = Tree::new();
        for path in ["/local", "/local/domain", "/local/domain/0"] {
            let _ = tree.write(0, path, b"");
        }
        Xenstored {
            tree,
            conns: BTreeMap::new(),
            next_conn: 0,
            next_tx: 1,
        }
    }

    /// A new connection of `domid` (dom0 clients: direct calls; guests: see [`ring`]).
    pub fn connect(&mut self, domid: u16) -> ConnId {
        self.next_conn += 1;
        let id = ConnId(self.next_conn);
        self.conns.insert(
            id,
            Connection {
                domid,
                watches: Vec::new(),
                transactions: BTreeMap::new(),
                events: VecDeque::new(),
                ring: None,
            },
        );
        id
    }

    /// Drops a connection with its watches and transactions.
    pub fn disconnect(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    fn domid(&self, conn: ConnId) -> Result<u16, StoreError> {
        self.conns
            .get(&conn)
            .map(|c| c.domid)
            .ok_or(StoreError::EINVAL)
    }

    /// Canonical absolute path of `path` for `domid` (relative paths are under its home),
    /// with xenstored's character and length rules.
    pub fn canonical(domid: u16, path: &str, allow_special: bool) -> Result<String, StoreError> {
        if allow_special && path.starts_with('@') {
            return if path.len() <= abi::XENSTORE_ABS_PATH_MAX {
                Ok(path.to_string())
            } else {
                Err(StoreError::EINVAL)
            };
        }
        let absolute = if path.starts_with('/') {
            path.to_string()
        } else {
            if path.len() > abi::XENSTORE_REL_PATH_MAX {
                return Err(StoreError::EINVAL);
            }
            format!("{}/{path}", domain_path(domid))
        };
        let valid_chars = absolute
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/_@".contains(&b));
        if !valid_chars
            || absolute.contains("//")
            || (absolute.len() > 1 && absolute.ends_with('/'))
            || absolute.len() > abi::XENSTORE_ABS_PATH_MAX
        {
            return Err(StoreError::EINVAL);
        }
        Ok(absolute)
    }

    fn with_tree<T>(
        &mut self,
        conn: ConnId,
        tx: TxId,
        f: impl FnOnce(&mut Tree, u16) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let c = self.conns.get_mut(&conn).ok_or(StoreError::EINVAL)?;
        let domid = c.domid;
        if tx == 0 {
            f(&mut self.tree, domid)
        } else {
            let t = c.transactions.get_mut(&tx).ok_or(StoreError::ENOENT)?;
            f(&mut t.tree, domid)
        }
    }

    fn modify(
        &mut self,
        conn: ConnId,
        tx: TxId,
        f: impl FnOnce(&mut Tree, u16) -> Result<Vec<Change>, StoreError>,
    ) -> Result<(), StoreError> {
        let changes = self.with_tree(conn, tx, f)?;
        if tx == 0 {
            self.fire(&changes);
        } else if let Some(t) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.transactions.get_mut(&tx))
        {
            t.changes.extend(changes);
        }
        Ok(())
    }

    /// `XS_READ`.
    pub fn read(&mut self, conn: ConnId, tx: TxId, path: &str) -> Result<Vec<u8>, StoreError> {
        let path = Self::canonical(self.domid(conn)?, path, false)?;
        self.with_tree(conn, tx, |t, d| t.read(d, &path))
    }

    /// `XS_WRITE`.
    pub fn write(
        &mut self,
        conn: ConnId,
        tx: TxId,
        path: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let path = Self::canonical(self.domid(conn)?, path, false)?;
        self.modify(conn, tx, |t, d| t.write(d, &path, value))
    }

    /// `XS_MKDIR`.
    pub fn mkdir(&mut self, conn: ConnId, tx: TxId, path: &str) -> Result<(), StoreError> {
        let path = Self::canonical(self.domid(conn)?, path, false)?;
        self.modify(conn, tx, |t, d| t.mkdir(d, &path))
    }

    /// `XS_RM`.
    pub fn rm(&mut self, conn: ConnId, tx: TxId, path: &str) -> Result<(), StoreError> {
        let path = Self::canonical(self.domid(conn)?, path, false)?;
        self.modify(conn, tx, |t, d| t.rm(d, &path))
    }

    /// `XS_DIRECTORY`.
    pub fn directory(
        &mut self,
        conn: ConnId,
        tx: TxId,
        path: &str,
    ) -> Result<Vec<String>, StoreError> {
        let path = Self::canonical(self.domid(conn)?, path, false)?;
        self.with_tree(conn, tx, |t, d| t.directory(d, &path))
    }

    /// `XS_GET_PERMS`.
    pub fn get_perms(&mut self, conn: ConnId, tx: TxId, path: &str) -> Result<Perms, StoreError> {
        let path = Self::canonical(self.domid(conn)?, path, false)?;
        self.with_tree(conn, tx, |t, d| t.get_perms(d, &path))
    }

    /// `XS_SET_PERMS`.
    pub fn set_perms(
        &mut self,
        conn: ConnId,
        tx: TxId,
        path: &str,
        perms: Perms,
    ) -> Result<(), StoreError> {
        let path = Self::canonical(self.domid(conn)?, path, false)?;
        self.modify(conn, tx, |t, d| t.set_perms(d, &path, perms))
    }

    /// `XS_WATCH`: registers and fires once at once, as xenstored does.
    pub fn watch(&mut self, conn: ConnId, path: &str, token: &str) -> Result<(), StoreError> {
        let domid = self.domid(conn)?;
        let absolute = Self::canonical(domid, path, true)?;
        let relative = !path.starts_with('/') && !path.starts_with('@');
        let c = self.conns.get_mut(&conn).ok_or(StoreError::EINVAL)?;
        if c.watches
            .iter()
            .any(|w| w.path == absolute && w.token == token)
        {
            return Err(StoreError::EEXIST);
        }
        if c.watches.len() >= MAX_WATCHES {
            return Err(StoreError::E2BIG);
        }
        c.watches.push(Watch {
            path: absolute,
            token: token.to_string(),
            relative,
        });
        c.events.push_back(WatchEvent {
            path: path.to_string(),
            token: token.to_string(),
        });
        Ok(())
    }

    /// `XS_UNWATCH`.
    pub fn unwatch(&mut self, conn: ConnId, path: &str, token: &str) -> Result<(), StoreError> {
        let domid = self.domid(conn)?;
        let absolute = Self::canonical(domid, path, true)?;
        let c = self.conns.get_mut(&conn).ok_or(StoreError::EINVAL)?;
        let before = c.watches.len();
        c.watches
            .retain(|w| !(w.path == absolute && w.token == token));
        if c.watches.len() == before {
            return Err(StoreError::ENOENT);
        }
        Ok(())
    }

    /// `XS_RESET_WATCHES`.
    pub fn reset_watches(&mut self, conn: ConnId) -> Result<(), StoreError> {
        let c = self.conns.get_mut(&conn).ok_or(StoreError::EINVAL)?;
        c.watches.clear();
        Ok(())
    }

    /// `XS_TRANSACTION_START`.
    pub fn transaction_start(&mut self, conn: ConnId) -> Result<TxId, StoreError> {
        let snapshot = self.tree.snapshot();
        let c = self.conns.get_mut(&conn).ok_or(StoreError::EINVAL)?;
        if c.transactions.len() >= MAX_TRANSACTIONS {
            return Err(StoreError::ENOSPC);
        }
        self.next_tx = self.next_tx.wrapping_add(1).max(1);
        let id = self.next_tx;
        c.transactions.insert(
            id,
            Transaction {
                tree: snapshot,
                changes: Vec::new(),
            },
        );
        Ok(id)
    }

    /// `XS_TRANSACTION_END`: commit (EAGAIN on conflict) or abort.
    pub fn transaction_end(
        &mut self,
        conn: ConnId,
        tx: TxId,
        commit: bool,
    ) -> Result<(), StoreError> {
        let c = self.conns.get_mut(&conn).ok_or(StoreError::EINVAL)?;
        let t = c.transactions.remove(&tx).ok_or(StoreError::ENOENT)?;
        if !commit {
            return Ok(());
        }
        self.tree.commit(&t.tree)?;
        self.fire(&t.changes);
        Ok(())
    }

    /// Queues watch events for every watch that `changes` trigger.
    fn fire(&mut self, changes: &[Change]) {
        for change in changes {
            for c in self.conns.values_mut() {
                if !change.perms.access_for(c.domid).can_read() {
                    continue;
                }
                let home = format!("{}/", domain_path(c.domid));
                for w in &c.watches {
                    let hit = if change.exact {
                        change.path == w.path
                    } else {
                        is_child(&change.path, &w.path)
                    };
                    if !hit {
                        continue;
                    }
                    let path = if w.relative {
                        change
                            .path
                            .strip_prefix(&home)
                            .unwrap_or(&change.path)
                            .to_string()
                    } else {
                        change.path.clone()
                    };
                    c.events.push_back(WatchEvent {
                        path,
                        token: w.token.clone(),
                    });
                }
            }
        }
    }

    /// Fires the special watch `@introduceDomain` / `@releaseDomain` (dom0 watchers only).
    pub fn fire_special(&mut self, name: &str) {
        for c in self.conns.values_mut() {
            if c.domid != 0 {
                continue;
            }
            for w in &c.watches {
                if w.path == name {
                    c.events.push_back(WatchEvent {
                        path: name.to_string(),
                        token: w.token.clone(),
                    });
                }
            }
        }
    }

    /// Takes the pending watch events of a dom0 client.
    pub fn take_events(&mut self, conn: ConnId) -> Vec<WatchEvent> {
        self.conns
            .get_mut(&conn)
            .map(|c| c.events.drain(..).collect())
            .unwrap_or_default()
    }

    /// Open transactions of a connection.
    pub fn open_transactions(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.transactions.len())
    }

    /// Watches registered by a connection, as (absolute path, token).
    pub fn watches(&self, conn: ConnId) -> Vec<(String, String)> {
        self.conns.get(&conn).map_or(Vec::new(), |c| {
            c.watches
                .iter()
                .map(|w| (w.path.clone(), w.token.clone()))
                .collect()
        })
    }
}

impl Access {
    fn can_read(self) -> bool {
        matches!(self, Access::Read | Access::Both)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_fire_for_changes_at_or_below_with_relative_paths() {
        let mut xs = Xenstored::new();
        let dom0 = xs.connect(0);
        xs.write(dom0, 0, "/local/domain/5", b"").unwrap();
        xs.set_perms(dom0, 0, "/local/domain/5", Perms::owned_by(5))
            .unwrap();
        let guest = xs.connect(5);
        xs.watch(guest, "device", "tok").unwrap();
        xs.watch(dom0, "/local/domain/5/device/vbd", "abs").unwrap();
        // Initial events, as registered.
        assert_eq!(
            xs.take_events(guest),
            vec![WatchEvent {
                path: "device".into(),
                token: "tok".into()
            }]
        );
        assert_eq!(xs.take_events(dom0).len(), 1);
        xs.write(guest, 0, "device/vbd/768/state", b"1").unwrap();
        let events = xs.take_events(guest);
        assert!(events.contains(&WatchEvent {
            path: "device/vbd/768/state".into(),
            token: "tok".into()
        }));
        assert!(events.iter().all(|e| e.path.starts_with("device")));
        assert!(xs
            .take_events(dom0)
            .iter()
            .any(|e| e.path == "/local/domain/5/device/vbd/768/state" && e.token == "abs"));
        // A sibling does not fire.
        xs.write(guest, 0, "devices", b"x").unwrap();
        assert!(xs.take_events(guest).is_empty());
        // rm fires for watches below the removed node too.
        xs.watch(dom0, "/local/domain/5/device/vbd/768/state", "deep")
            .unwrap();
        xs.take_events(dom0);
        xs.rm(guest, 0, "device").unwrap();
        let events = xs.take_events(dom0);
        assert!(events.iter().any(|e| e.token == "deep"));
        assert_eq!(xs.unwatch(guest, "device", "nope"), Err(StoreError::ENOENT));
        assert_eq!(xs.watch(guest, "device", "tok"), Err(StoreError::EEXIST));
    }

    #[test]
    fn transaction_commit_fires_watches_and_conflicts_give_eagain() {
        let mut xs = Xenstored::new();
        let dom0 = xs.connect(0);
        xs.watch(dom0, "/local/domain/0/data", "t").unwrap();
        xs.take_events(dom0);
        let tx = xs.transaction_start(dom0).unwrap();
        xs.write(dom0, tx, "data/a", b"1").unwrap();
        assert!(xs.take_events(dom0).is_empty());
        assert_eq!(xs.read(dom0, 0, "data/a"), Err(StoreError::ENOENT));
        xs.transaction_end(dom0, tx, true).unwrap();
        assert_eq!(xs.take_events(dom0).len(), 1);
        assert_eq!(xs.read(dom0, 0, "data/a").unwrap(), b"1");

        let tx = xs.transaction_start(dom0).unwrap();
        xs.read(dom0, tx, "data/a").unwrap();
        xs.write(dom0, 0, "data/a", b"2").unwrap();
        xs.write(dom0, tx, "data/b", b"3").unwrap();
        assert_eq!(xs.transaction_end(dom0, tx, true), Err(StoreError::EAGAIN));
        assert_eq!(xs.read(dom0, 0, "data/b"), Err(StoreError::ENOENT));
        assert_eq!(xs.transaction_end(dom0, tx, true), Err(StoreError::ENOENT));
        assert_eq!(
            Xenstored::canonical(1, "a//b", false),
            Err(StoreError::EINVAL)
        );
        assert_eq!(
            Xenstored::canonical(1, "a/b/", false),
            Err(StoreError::EINVAL)
        );
        assert_eq!(
            Xenstored::canonical(1, "a b", false),
            Err(StoreError::EINVAL)
        );
        assert_eq!(
            Xenstored::canonical(1, "a/b", false).unwrap(),
            "/local/domain/1/a/b"
        );
    }
}
