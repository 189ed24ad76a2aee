//! Error numbers returned (negated) by hypercalls (`errno.h`).
//!
//! Hypercalls return `-XEN_E*` on failure. The values match Linux's and are stable across
//! architectures; the hypervisor-internal `EINTR` and `ERESTART` are not exposed to guests.

/// Xen error: operation not permitted.
pub const XEN_EPERM: i32 = 1;
/// Xen error: no such entry.
pub const XEN_ENOENT: i32 = 2;
/// Xen error: no such process or domain.
pub const XEN_ESRCH: i32 = 3;
/// Xen error: input/output error.
pub const XEN_EIO: i32 = 5;
/// Xen error: no such device or address.
pub const XEN_ENXIO: i32 = 6;
/// Xen error: argument list too long.
pub const XEN_E2BIG: i32 = 7;
/// Xen error: bad executable format.
pub const XEN_ENOEXEC: i32 = 8;
/// Xen error: bad handle.
pub const XEN_EBADF: i32 = 9;
/// Xen error: no child.
pub const XEN_ECHILD: i32 = 10;
/// Xen error: temporarily unavailable, try again.
pub const XEN_EAGAIN: i32 = 11;
/// Xen error: would block (same value as XEN_EAGAIN).
pub const XEN_EWOULDBLOCK: i32 = 11;
/// Xen error: out of memory.
pub const XEN_ENOMEM: i32 = 12;
/// Xen error: access denied.
pub const XEN_EACCES: i32 = 13;
/// Xen error: bad guest address.
pub const XEN_EFAULT: i32 = 14;
/// Xen error: resource busy.
pub const XEN_EBUSY: i32 = 16;
/// Xen error: already exists.
pub const XEN_EEXIST: i32 = 17;
/// Xen error: cross-device link.
pub const XEN_EXDEV: i32 = 18;
/// Xen error: no such device.
pub const XEN_ENODEV: i32 = 19;
/// Xen error: not a directory.
pub const XEN_ENOTDIR: i32 = 20;
/// Xen error: is a directory.
pub const XEN_EISDIR: i32 = 21;
/// Xen error: invalid argument.
pub const XEN_EINVAL: i32 = 22;
/// Xen error: file table overflow.
pub const XEN_ENFILE: i32 = 23;
/// Xen error: too many open handles.
pub const XEN_EMFILE: i32 = 24;
/// Xen error: no space left.
pub const XEN_ENOSPC: i32 = 28;
/// Xen error: read-only.
pub const XEN_EROFS: i32 = 30;
/// Xen error: too many links.
pub const XEN_EMLINK: i32 = 31;
/// Xen error: argument out of domain.
pub const XEN_EDOM: i32 = 33;
/// Xen error: result out of range.
pub const XEN_ERANGE: i32 = 34;
/// Xen error: deadlock avoided.
pub const XEN_EDEADLK: i32 = 35;
/// Xen error: deadlock avoided (same value as XEN_EDEADLK).
pub const XEN_EDEADLOCK: i32 = 35;
/// Xen error: name too long.
pub const XEN_ENAMETOOLONG: i32 = 36;
/// Xen error: no locks available.
pub const XEN_ENOLCK: i32 = 37;
/// Xen error: operation not implemented.
pub const XEN_ENOSYS: i32 = 38;
/// Xen error: not empty.
pub const XEN_ENOTEMPTY: i32 = 39;
/// Xen error: no data.
pub const XEN_ENODATA: i32 = 61;
/// Xen error: timer expired.
pub const XEN_ETIME: i32 = 62;
/// Xen error: malformed message.
pub const XEN_EBADMSG: i32 = 74;
/// Xen error: value too large.
pub const XEN_EOVERFLOW: i32 = 75;
/// Xen error: illegal byte sequence.
pub const XEN_EILSEQ: i32 = 84;
/// Xen error: not a socket.
pub const XEN_ENOTSOCK: i32 = 88;
/// Xen error: message too large.
pub const XEN_EMSGSIZE: i32 = 90;
/// Xen error: operation not supported.
pub const XEN_EOPNOTSUPP: i32 = 95;
/// Xen error: address in use.
pub const XEN_EADDRINUSE: i32 = 98;
/// Xen error: address not available.
pub const XEN_EADDRNOTAVAIL: i32 = 99;
/// Xen error: no buffer space.
pub const XEN_ENOBUFS: i32 = 105;
/// Xen error: already connected.
pub const XEN_EISCONN: i32 = 106;
/// Xen error: not connected.
pub const XEN_ENOTCONN: i32 = 107;
/// Xen error: timed out.
pub const XEN_ETIMEDOUT: i32 = 110;
/// Xen error: connection refused.
pub const XEN_ECONNREFUSED: i32 = 111;
