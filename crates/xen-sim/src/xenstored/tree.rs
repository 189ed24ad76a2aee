//! The xenstore tree: nodes with values, permissions and generation counts.
//!
//! Permission rules are those of C xenstored: dom0 may do anything; a node's owner (first
//! permission entry) has full access; others get the access of their own entry, or the
//! default (the owner entry's letter). A missing node reports `ENOENT` only to a caller who
//! may read (or write, for creation) its nearest existing ancestor, `EACCES` otherwise. New
//! nodes inherit their parent's permissions, but unprivileged domains own what they create.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// An error of a xenstore operation, by its xenstore name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// Invalid argument or path.
    EINVAL,
    /// Permission denied.
    EACCES,
    /// Already exists.
    EEXIST,
    /// No such node (or transaction).
    ENOENT,
    /// Out of quota.
    ENOSPC,
    /// Transaction conflict.
    EAGAIN,
    /// Too big.
    E2BIG,
    /// Not permitted.
    EPERM,
}

impl StoreError {
    /// The name xenstored sends in an `XS_ERROR` reply.
    pub fn name(self) -> &'static str {
        match self {
            StoreError::EINVAL => "EINVAL",
            StoreError::EACCES => "EACCES",
            StoreError::EEXIST => "EEXIST",
            StoreError::ENOENT => "ENOENT",
            StoreError::ENOSPC => "ENOSPC",
            StoreError::EAGAIN => "EAGAIN",
            StoreError::E2BIG => "E2BIG",
            StoreError::EPERM => "EPERM",
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Access granted by one permission entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `n`
    None,
    /// `r`
    Read,
    /// `w`
    Write,
    /// `b`
    Both,
}

impl Access {
    fn letter(self) -> char {
        match self {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        }
    }
    fn can(self, want: Access) -> bool {
        match want {
            Access::None => true,
            Access::Read => matches!(self, Access::Read | Access::Both),
            Access::Write => matches!(self, Access::Write | Access::Both),
            Access::Both => self == Access::Both,
        }
    }
}

/// One permission entry: a domain and its access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// The domain.
    pub domid: u16,
    /// Its access.
    pub access: Access,
}

impl Perm {
    /// Parses `r5`, `n0`, ...
    pub fn parse(text: &str) -> Option<Perm> {
        let mut chars = text.chars();
        let access = match chars.next()? {
            'n' => Access::None,
            'r' => Access::Read,
            'w' => Access::Write,
            'b' => Access::Both,
            _ => return None,
        };
        let domid = chars.as_str().parse().ok()?;
        Some(Perm { domid, access })
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.access.letter(), self.domid)
    }
}

/// A node's permissions: the owner (whose letter is the default for unlisted domains), then
/// an access list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Perms(pub Vec<Perm>);

impl Perms {
    /// Owned by `owner`, no access for others.
    pub fn owned_by(owner: u16) -> Perms {
        Perms(vec![Perm {
            domid: owner,
            access: Access::None,
        }])
    }

    /// Adds an access list entry.
    pub fn with(mut self, domid: u16, access: Access) -> Perms {
        self.0.push(Perm { domid, access });
        self
    }

    /// The owner.
    pub fn owner(&self) -> u16 {
        self.0.first().map_or(0, |p| p.domid)
    }

    /// What `domid` may do (`perm_for_conn`).
    pub fn access_for(&self, domid: u16) -> Access {
        if domid == 0 {
            return Access::Both;
        }
        let Some(first) = self.0.first() else {
            return Access::None;
        };
        if first.domid == domid {
            return Access::Both;
        }
        self.0
            .iter()
            .skip(1)
            .find(|p| p.domid == domid)
            .map_or(first.access, |p| p.access)
    }
}

/// A node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its value.
    pub value: Vec<u8>,
    /// Its permissions.
    pub perms: Perms,
    /// Changes on every modification of the node (value, permissions, child list).
    pub generation: u64,
}

/// A node that changed, for watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Absolute path.
    pub path: String,
    /// Only watches on exactly this path fire (descendants of a removed node).
    pub exact: bool,
    /// The node's permissions (before removal, for removed nodes), for the watcher's read check.
    pub perms: Perms,
}

/// The tree. Also used as a transaction's snapshot, then recording what the transaction
/// accessed (with the generation it saw) and what it modified.
#[derive(Clone)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
    next_generation: u64,
    /// For a transaction: first-seen generation (None = absent) of every path accessed.
    pub(crate) accessed: Option<BTreeMap<String, Option<u64>>>,
    /// For a transaction: paths it modified.
    pub(crate) modified: BTreeSet<String>,
}

/// Parent of an absolute canonical path ("/" for top-level nodes).
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// Last component of a path.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn child_prefix(path: &str) -> String {
    if path == "/" {
        "/".to_string()
    } else {
        format!("{path}/")
    }
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// A tree holding only `/` (owned by dom0, no access for others).
    pub fn new() -> Tree {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "/".to_string(),
            Node {
                value: Vec::new(),
                perms: Perms::owned_by(0),
                generation: 1,
            },
        );
        Tree {
            nodes,
            next_generation: 2,
            accessed: None,
            modified: BTreeSet::new(),
        }
    }

    /// A snapshot for a transaction.
    pub fn snapshot(&self) -> Tree {
        Tree {
            nodes: self.nodes.clone(),
            next_generation: self.next_generation,
            accessed: Some(BTreeMap::new()),
            modified: BTreeSet::new(),
        }
    }

    fn note(&mut self, path: &str) {
        let seen = self.nodes.get(path).map(|n| n.generation);
        if let Some(accessed) = &mut self.accessed {
            accessed.entry(path.to_string()).or_insert(seen);
        }
    }

    fn touch(&mut self, path: &str) {
        self.note(path);
        self.next_generation += 1;
        let generation = self.next_generation;
        if let Some(node) = self.nodes.get_mut(path) {
            node.generation = generation;
        }
        if self.accessed.is_some() {
            self.modified.insert(path.to_string());
        }
    }

    /// The node at `path`, without permission checks.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Generation of `path` (None if absent).
    pub fn generation(&self, path: &str) -> Option<u64> {
        self.nodes.get(path).map(|n| n.generation)
    }

    /// Checks that `domid` may `want` on `path`; a missing node yields ENOENT or EACCES.
    fn check(&mut self, domid: u16, path: &str, want: Access) -> Result<&Node, StoreError> {
        self.note(path);
        if self.nodes.contains_key(path) {
            let node = self.nodes.get(path).ok_or(StoreError::ENOENT)?;
            return if node.perms.access_for(domid).can(want) {
                Ok(node)
            } else {
                Err(StoreError::EACCES)
            };
        }
        Err(self.missing(domid, path, want))
    }

    /// The errno for a missing node: ENOENT if the nearest existing ancestor allows `want`.
    fn missing(&self, domid: u16, path: &str, want: Access) -> StoreError {
        let mut current = parent(path);
        while let Some(p) = current {
            if let Some(node) = self.nodes.get(p) {
                return if node.perms.access_for(domid).can(want) {
                    StoreError::ENOENT
                } else {
                    StoreError::EACCES
                };
            }
            current = parent(p);
        }
        StoreError::ENOENT
    }

    /// `XS_READ`.
    pub fn read(&mut self, domid: u16, path: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.check(domid, path, Access::Read)?.value.clone())
    }

    /// `XS_GET_PERMS`.
    pub fn get_perms(&mut self, domid: u16, path: &str) -> Result<Perms, StoreError> {
        Ok(self.check(domid, path, Access::Read)?.perms.clone())
    }

    /// `XS_DIRECTORY`: child names, sorted.
    pub fn directory(&mut self, domid: u16, path: &str) -> Result<Vec<String>, StoreError> {
        self.check(domid, path, Access::Read)?;
        Ok(self.children(path))
    }

    /// Names of the children of `path` (no checks).
    pub fn children(&self, path: &str) -> Vec<String> {
        let prefix = child_prefix(path);
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| k.len() > prefix.len() && !k[prefix.len()..].contains('/'))
            .map(|(k, _)| k[prefix.len()..].to_string())
            .collect()
    }

    /// Creates `path` and its missing ancestors; the caller checked permissions.
    fn create(
        &mut self,
        domid: u16,
        path: &str,
        changes: &mut Vec<Change>,
    ) -> Result<(), StoreError> {
        let parent_path = parent(path).ok_or(StoreError::EINVAL)?;
        if !self.nodes.contains_key(parent_path) {
            self.create(domid, parent_path, &mut Vec::new())?;
        }
        self.note(path);
        let mut perms = self
            .nodes
            .get(parent_path)
            .map(|n| n.perms.clone())
            .ok_or(StoreError::ENOENT)?;
        if domid != 0 {
            if let Some(first) = perms.0.first_mut() {
                first.domid = domid;
            }
        }
        self.nodes.insert(
            path.to_string(),
            Node {
                value: Vec::new(),
                perms: perms.clone(),
                generation: 0,
            },
        );
        self.touch(path);
        self.touch(parent_path);
        // Like C xenstored, only the node the request named fires watches; created ancestors
        // are covered by watches above it.
        if changes.is_empty() {
            changes.push(Change {
                path: path.to_string(),
                exact: false,
                perms,
            });
        }
        Ok(())
    }

    /// `XS_WRITE`: creates missing nodes; returns the changed nodes for watches.
    pub fn write(
        &mut self,
        domid: u16,
        path: &str,
        value: &[u8],
    ) -> Result<Vec<Change>, StoreError> {
        let mut changes = Vec::new();
        match self.check(domid, path, Access::Write) {
            Ok(_) => {}
            Err(StoreError::ENOENT) => self.create(domid, path, &mut changes)?,
            Err(e) => return Err(e),
        }
        let node = self.nodes.get_mut(path).ok_or(StoreError::ENOENT)?;
        node.value = value.to_vec();
        let perms = node.perms.clone();
        self.touch(path);
        // One event per write, for the written node (created ancestors fire their own).
        changes.retain(|c| c.path != path);
        changes.push(Change {
            path: path.to_string(),
            exact: false,
            perms,
        });
        Ok(changes)
    }

    /// `XS_MKDIR`: creates an empty node if absent (existing nodes are left alone).
    pub fn mkdir(&mut self, domid: u16, path: &str) -> Result<Vec<Change>, StoreError> {
        let mut changes = Vec::new();
        match self.check(domid, path, Access::Write) {
            Ok(_) => {}
            Err(StoreError::ENOENT) => self.create(domid, path, &mut changes)?,
            Err(e) => return Err(e),
        }
        Ok(changes)
    }

    /// `XS_RM`: removes the subtree. Removing a missing node whose parent exists succeeds.
    pub fn rm(&mut self, domid: u16, path: &str) -> Result<Vec<Change>, StoreError> {
        if path == "/" {
            return Err(StoreError::EINVAL);
        }
        match self.check(domid, path, Access::Write) {
            Ok(_) => {}
            Err(StoreError::ENOENT) => {
                let parent_path = parent(path).ok_or(StoreError::EINVAL)?;
                self.note(parent_path);
                return if self.nodes.contains_key(parent_path) {
                    Ok(Vec::new())
                } else {
                    Err(StoreError::ENOENT)
                };
            }
            Err(e) => return Err(e),
        }
        let prefix = child_prefix(path);
        let descendants: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        let mut changes = Vec::new();
        for d in descendants.iter().rev() {
            self.note(d);
            if let Some(node) = self.nodes.remove(d) {
                if self.accessed.is_some() {
                    self.modified.insert(d.clone());
                }
                changes.push(Change {
                    path: d.clone(),
                    exact: true,
                    perms: node.perms,
                });
            }
        }
        self.note(path);
        if let Some(node) = self.nodes.remove(path) {
            if self.accessed.is_some() {
                self.modified.insert(path.to_string());
            }
            changes.push(Change {
                path: path.to_string(),
                exact: false,
                perms: node.perms,
            });
        }
        if let Some(parent_path) = parent(path) {
            self.touch(parent_path);
        }
        Ok(changes)
    }

    /// `XS_SET_PERMS`: only the owner (or dom0) may; unprivileged callers keep the owner.
    pub fn set_perms(
        &mut self,
        domid: u16,
        path: &str,
        perms: Perms,
    ) -> Result<Vec<Change>, StoreError> {
        if perms.0.is_empty() {
            return Err(StoreError::EINVAL);
        }
        let node = self.check(domid, path, Access::Write)?;
        if domid != 0 && node.perms.owner() != domid {
            return Err(StoreError::EACCES);
        }
        if domid != 0 && perms.owner() != node.perms.owner() {
            return Err(StoreError::EPERM);
        }
        if let Some(node) = self.nodes.get_mut(path) {
            node.perms = perms.clone();
        }
        self.touch(path);
        Ok(vec![Change {
            path: path.to_string(),
            exact: false,
            perms,
        }])
    }

    /// Commits transaction `tx` into `self`: EAGAIN if anything it accessed changed since its
    /// snapshot; otherwise copies every node it modified.
    pub fn commit(&mut self, tx: &Tree) -> Result<(), StoreError> {
        let accessed = tx.accessed.as_ref().ok_or(StoreError::EINVAL)?;
        for (path, seen) in accessed {
            if self.generation(path) != *seen {
                return Err(StoreError::EAGAIN);
            }
        }
        for path in &tx.modified {
            match tx.nodes.get(path) {
                Some(node) => {
                    self.next_generation += 1;
                    let mut node = node.clone();
                    node.generation = self.next_generation;
                    self.nodes.insert(path.clone(), node);
                }
                None => {
                    self.nodes.remove(path);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest_tree() -> Tree {
        let mut t = Tree::new();
        t.write(0, "/local/domain/5", b"").unwrap();
        t.set_perms(0, "/local/domain/5", Perms::owned_by(5))
            .unwrap();
        t.write(0, "/local/domain/0/backend/vbd/5/768/state", b"1")
            .unwrap();
        t.set_perms(
            0,
            "/local/domain/0/backend/vbd/5/768/state",
            Perms::owned_by(0).with(5, Access::Read),
        )
        .unwrap();
        t
    }

    #[test]
    fn permissions_follow_xenstored() {
        let mut t = guest_tree();
        // The guest owns its subtree, creates below it and owns what it creates.
        t.write(5, "/local/domain/5/data/x", b"1").unwrap();
        assert_eq!(t.get("/local/domain/5/data").unwrap().perms.owner(), 5);
        assert_eq!(t.read(5, "/local/domain/5/data/x").unwrap(), b"1");
        // Another guest can neither read nor learn of missing nodes.
        assert_eq!(t.read(6, "/local/domain/5/data/x"), Err(StoreError::EACCES));
        assert_eq!(
            t.read(6, "/local/domain/5/nothing"),
            Err(StoreError::EACCES)
        );
        assert_eq!(
            t.read(5, "/local/domain/5/nothing"),
            Err(StoreError::ENOENT)
        );
        // Read access by ACL, no write.
        assert_eq!(
            t.read(5, "/local/domain/0/backend/vbd/5/768/state")
                .unwrap(),
            b"1"
        );
        assert_eq!(
            t.write(5, "/local/domain/0/backend/vbd/5/768/state", b"6"),
            Err(StoreError::EACCES)
        );
        assert_eq!(
            t.write(5, "/local/domain/0/x", b"6"),
            Err(StoreError::EACCES)
        );
        // Unprivileged owners may not give their nodes away.
        assert_eq!(
            t.set_perms(5, "/local/domain/5/data/x", Perms::owned_by(6)),
            Err(StoreError::EPERM)
        );
        assert_eq!(t.rm(0, "/"), Err(StoreError::EINVAL));
    }

    #[test]
    fn rm_removes_subtrees_and_reports_them() {
        let mut t = guest_tree();
        t.write(5, "/local/domain/5/a/b/c", b"x").unwrap();
        let changes = t.rm(5, "/local/domain/5/a").unwrap();
        let paths: Vec<_> = changes.iter().map(|c| (c.path.as_str(), c.exact)).collect();
        assert_eq!(
            paths,
            vec![
                ("/local/domain/5/a/b/c", true),
                ("/local/domain/5/a/b", true),
                ("/local/domain/5/a", false)
            ]
        );
        assert!(t.get("/local/domain/5/a/b").is_none());
        // Missing node with an existing parent: fine; missing parent: ENOENT.
        assert!(t.rm(5, "/local/domain/5/a").unwrap().is_empty());
        assert_eq!(t.rm(5, "/local/domain/5/a/b"), Err(StoreError::ENOENT));
        assert_eq!(t.children("/local/domain/5"), Vec::<String>::new());
    }

    #[test]
    fn transactions_conflict_on_what_they_touched() {
        let mut t = guest_tree();
        t.write(5, "/local/domain/5/counter", b"1").unwrap();
        let mut tx = t.snapshot();
        assert_eq!(tx.read(5, "/local/domain/5/counter").unwrap(), b"1");
        tx.write(5, "/local/domain/5/counter", b"2").unwrap();
        // Unrelated change: no conflict.
        let mut ok = t.clone();
        ok.write(5, "/local/domain/5/other", b"z").unwrap();
        ok.commit(&tx).unwrap();
        assert_eq!(ok.read(5, "/local/domain/5/counter").unwrap(), b"2");
        // Conflicting change.
        t.write(0, "/local/domain/5/counter", b"5").unwrap();
        assert_eq!(t.commit(&tx), Err(StoreError::EAGAIN));
        assert_eq!(t.read(5, "/local/domain/5/counter").unwrap(), b"5");
        // A node the transaction saw as absent, created meanwhile: conflict too.
        let mut tx = t.snapshot();
        assert_eq!(tx.read(5, "/local/domain/5/new"), Err(StoreError::ENOENT));
        tx.write(5, "/local/domain/5/flag", b"1").unwrap();
        t.write(5, "/local/domain/5/new", b"1").unwrap();
        assert_eq!(t.commit(&tx), Err(StoreError::EAGAIN));
    }
}
