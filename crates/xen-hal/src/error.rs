//! Error types shared by all portable crates.

use core::fmt;

/// An error returned by the hypervisor: the positive errno value of a negative hypercall result
/// (Xen's public `errno.h` uses the Linux numbering on x86).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct XenError(pub i32);

impl XenError {
    /// Operation not permitted.
    pub const EPERM: XenError = XenError(1);
    /// No such file or directory (also xenstore's "no such node").
    pub const ENOENT: XenError = XenError(2);
    /// I/O error.
    pub const EIO: XenError = XenError(5);
    /// Bad file number / bad port.
    pub const EBADF: XenError = XenError(9);
    /// Try again (xenstore transaction conflict).
    pub const EAGAIN: XenError = XenError(11);
    /// Out of memory.
    pub const ENOMEM: XenError = XenError(12);
    /// Permission denied.
    pub const EACCES: XenError = XenError(13);
    /// Bad address.
    pub const EFAULT: XenError = XenError(14);
    /// Device or resource busy.
    pub const EBUSY: XenError = XenError(16);
    /// Already exists.
    pub const EEXIST: XenError = XenError(17);
    /// Is a directory.
    pub const EISDIR: XenError = XenError(21);
    /// Invalid argument.
    pub const EINVAL: XenError = XenError(22);
    /// No space left.
    pub const ENOSPC: XenError = XenError(28);
    /// Read-only file system.
    pub const EROFS: XenError = XenError(30);
    /// Result out of range.
    pub const ERANGE: XenError = XenError(34);
    /// Function not implemented.
    pub const ENOSYS: XenError = XenError(38);
    /// Value too large.
    pub const E2BIG: XenError = XenError(7);
    /// Connection reset / quota exceeded are reported with their own numbers by xenstore.
    pub const EQUOTA: XenError = XenError(122);

    /// Turns a raw hypercall return value into a result: negative values are errors.
    pub fn check(ret: isize) -> Result<usize, XenError> {
        if ret < 0 {
            // Errno values are small; anything that does not fit is reported as EINVAL.
            let errno = (ret as i64)
                .checked_neg()
                .and_then(|e| i32::try_from(e).ok());
            Err(XenError(errno.unwrap_or(22)))
        } else {
            Ok(ret as usize)
        }
    }
}

impl fmt::Display for XenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Xen error {}", self.0)
    }
}

/// An access outside the bounds (or alignment) of a shared memory region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfBounds {
    /// Offset of the attempted access.
    pub offset: usize,
    /// Length of the attempted access.
    pub len: usize,
}

/// A fallible allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocError;

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("allocation failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_maps_negative_returns_to_errno() {
        assert_eq!(XenError::check(0), Ok(0));
        assert_eq!(XenError::check(7), Ok(7));
        assert_eq!(XenError::check(-2), Err(XenError::ENOENT));
        assert_eq!(XenError::check(isize::MIN), Err(XenError::EINVAL));
    }
}
