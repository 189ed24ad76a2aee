//! The guest's Xen state: detection and the hypercall page (filled in once xen-hypercall lands).

/// Shuts the domain down through Xen; `None` if Xen is not set up (the caller falls back).
pub fn shutdown(_reason: u32) -> Option<&'static str> {
    None
}
