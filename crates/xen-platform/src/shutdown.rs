//! Shutdown control: the toolstack's requests in `control/shutdown` (`xl shutdown`, `xl reboot`,
//! `xl save`), typed, acknowledged as Xen expects, and the `control/feature-*` keys that tell
//! the toolstack what this guest handles.
//!
//! Protocol (libxl and Linux's `drivers/xen/manage.c`): the toolstack writes the request into
//! `control/shutdown`; the guest reads it in a transaction and acknowledges a request it will
//! carry out by writing the empty string back; a request the guest does not handle is left in
//! place (not acknowledged), so the toolstack reports that the guest did not respond instead of
//! waiting on a shutdown that never comes. `control/feature-poweroff`, `feature-reboot` and
//! `feature-suspend` set to `1` advertise support; only what the suite implements is advertised.

use core::fmt;

use xen_hal::Clock;
use xenstore::{Client, Error, Transport, Wait, XsErrno};

/// The node the toolstack writes requests to.
pub const CONTROL_SHUTDOWN: &str = "control/shutdown";
/// The watch token of [`CONTROL_SHUTDOWN`].
pub const SHUTDOWN_WATCH_TOKEN: &str = "xen-platform:shutdown";
/// Longest request read (the known ones are a few bytes).
pub const MAX_REQUEST_LEN: usize = 64;

/// A request of the toolstack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShutdownRequest {
    /// `poweroff`: shut down and power off.
    Poweroff,
    /// `reboot`: shut down and restart.
    Reboot,
    /// `halt`: shut down (Windows powers off).
    Halt,
    /// `suspend`: suspend the domain for save/migration (`SCHEDOP_shutdown(SHUTDOWN_suspend)`).
    Suspend,
}

impl ShutdownRequest {
    /// Every request, in a fixed order.
    pub const ALL: [ShutdownRequest; 4] = [
        ShutdownRequest::Poweroff,
        ShutdownRequest::Reboot,
        ShutdownRequest::Halt,
        ShutdownRequest::Suspend,
    ];

    /// The word in `control/shutdown`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownRequest::Poweroff => "poweroff",
            ShutdownRequest::Reboot => "reboot",
            ShutdownRequest::Halt => "halt",
            ShutdownRequest::Suspend => "suspend",
        }
    }

    /// The `control/feature-*` key that advertises it (`halt` has none: libxl sends it
    /// whenever poweroff is supported).
    pub fn feature_key(self) -> Option<&'static str> {
        match self {
            ShutdownRequest::Poweroff => Some("control/feature-poweroff"),
            ShutdownRequest::Reboot => Some("control/feature-reboot"),
            ShutdownRequest::Halt => None,
            ShutdownRequest::Suspend => Some("control/feature-suspend"),
        }
    }

    /// The `SHUTDOWN_*` reason passed to `SCHEDOP_shutdown` when the guest carries it out
    /// itself (Windows shuts down through the OS first; suspend goes straight to Xen).
    pub fn sched_reason(self) -> u32 {
        use xen_public_headers::sched::{SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_suspend};
        match self {
            ShutdownRequest::Poweroff | ShutdownRequest::Halt => SHUTDOWN_poweroff,
            ShutdownRequest::Reboot => SHUTDOWN_reboot,
            ShutdownRequest::Suspend => SHUTDOWN_suspend,
        }
    }

    /// Parses the node's value (trailing NUL and surrounding whitespace tolerated). Empty →
    /// `Ok(None)`; anything else unknown → [`ShutdownError::Unknown`].
    pub fn parse(value: &[u8]) -> Result<Option<ShutdownRequest>, ShutdownError> {
        let value = value.strip_suffix(&[0]).unwrap_or(value).trim_ascii();
        if value.is_empty() {
            return Ok(None);
        }
        ShutdownRequest::ALL
            .into_iter()
            .find(|r| r.as_str().as_bytes() == value)
            .map(Some)
            .ok_or_else(|| ShutdownError::Unknown(RequestText::new(value)))
    }
}

impl fmt::Display for ShutdownRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The requests a driver carries out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Supported {
    /// `poweroff`.
    pub poweroff: bool,
    /// `reboot`.
    pub reboot: bool,
    /// `halt`.
    pub halt: bool,
    /// `suspend`.
    pub suspend: bool,
}

impl Supported {
    /// What the suite implements today: the OS shutdowns (shutdownmon carries them out).
    /// Suspend/resume (re-bringing the platform up after `SHUTDOWN_suspend`) is not
    /// implemented and therefore not advertised.
    pub const SUITE: Supported = Supported {
        poweroff: true,
        reboot: true,
        halt: true,
        suspend: false,
    };

    /// Whether `request` is carried out.
    pub fn contains(&self, request: ShutdownRequest) -> bool {
        match request {
            ShutdownRequest::Poweroff => self.poweroff,
            ShutdownRequest::Reboot => self.reboot,
            ShutdownRequest::Halt => self.halt,
            ShutdownRequest::Suspend => self.suspend,
        }
    }
}

/// The (cut, printable) text of a request that was not understood, for the log.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestText {
    bytes: [u8; 32],
    len: u8,
}

impl RequestText {
    fn new(value: &[u8]) -> RequestText {
        let mut text = RequestText {
            bytes: [0; 32],
            len: 0,
        };
        for (slot, &b) in text.bytes.iter_mut().zip(value) {
            *slot = if b.is_ascii_graphic() || b == b' ' {
                b
            } else {
                b'?'
            };
            text.len += 1;
        }
        text
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("?")
    }
}

impl fmt::Debug for RequestText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A request that is not carried out, or a failure to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShutdownError {
    /// Not a request this protocol knows (left unacknowledged).
    Unknown(RequestText),
    /// A known request this driver does not carry out (left unacknowledged).
    Unsupported(ShutdownRequest),
    /// Longer than [`MAX_REQUEST_LEN`] (left unacknowledged).
    TooLong(usize),
    /// Xenstore failed.
    Store(Error),
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownError::Unknown(text) => {
                write!(f, "unknown shutdown request {:?} ignored", text.as_str())
            }
            ShutdownError::Unsupported(r) => write!(f, "shutdown request '{r}' not supported"),
            ShutdownError::TooLong(n) => write!(f, "shutdown request of {n} bytes ignored"),
            ShutdownError::Store(e) => write!(f, "xenstore: {e:?}"),
        }
    }
}

/// Writes `1` to the feature key of every supported request. Every key is attempted; the
/// first failure is returned.
pub fn advertise<S: xenbus::Store + ?Sized>(
    store: &mut S,
    supported: Supported,
) -> Result<(), Error> {
    let mut first_error = Ok(());
    for request in ShutdownRequest::ALL {
        let Some(key) = request.feature_key() else {
            continue;
        };
        if supported.contains(request) {
            if let Err(e) = store.write(key, b"1") {
                if first_error.is_ok() {
                    first_error = Err(e);
                }
            }
        }
    }
    first_error
}

/// Sets the watch on [`CONTROL_SHUTDOWN`] (it fires once at once, then on every change).
pub fn watch<T: Transport, C: Clock, W: Wait>(client: &mut Client<T, C, W>) -> Result<(), Error> {
    client.watch(CONTROL_SHUTDOWN, SHUTDOWN_WATCH_TOKEN)
}

enum Seen {
    Nothing,
    Take(ShutdownRequest),
    Refuse(ShutdownError),
}

/// Looks at [`CONTROL_SHUTDOWN`] in a transaction: nothing there → `Ok(None)`; a supported
/// request → acknowledged (node set to the empty string) and returned; anything else → an error
/// and the node left as it is.
pub fn take_request<T: Transport, C: Clock, W: Wait>(
    client: &mut Client<T, C, W>,
    supported: Supported,
) -> Result<Option<ShutdownRequest>, ShutdownError> {
    let seen = client
        .transaction(|tx| {
            let value = match tx.read(CONTROL_SHUTDOWN) {
                Ok(value) => value,
                Err(Error::Xs(XsErrno::ENOENT)) => return Ok(Seen::Nothing),
                Err(e) => return Err(e),
            };
            if value.len() > MAX_REQUEST_LEN {
                return Ok(Seen::Refuse(ShutdownError::TooLong(value.len())));
            }
            match ShutdownRequest::parse(&value) {
                Ok(None) => Ok(Seen::Nothing),
                Ok(Some(request)) if supported.contains(request) => {
                    tx.write(CONTROL_SHUTDOWN, b"")?;
                    Ok(Seen::Take(request))
                }
                Ok(Some(request)) => Ok(Seen::Refuse(ShutdownError::Unsupported(request))),
                Err(e) => Ok(Seen::Refuse(e)),
            }
        })
        .map_err(ShutdownError::Store)?;
    match seen {
        Seen::Nothing => Ok(None),
        Seen::Take(request) => Ok(Some(request)),
        Seen::Refuse(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_requests_and_rejects_garbage() {
        for r in ShutdownRequest::ALL {
            assert_eq!(ShutdownRequest::parse(r.as_str().as_bytes()), Ok(Some(r)));
        }
        assert_eq!(
            ShutdownRequest::parse(b"reboot\0"),
            Ok(Some(ShutdownRequest::Reboot))
        );
        assert_eq!(
            ShutdownRequest::parse(b" halt\n"),
            Ok(Some(ShutdownRequest::Halt))
        );
        assert_eq!(ShutdownRequest::parse(b""), Ok(None));
        assert_eq!(ShutdownRequest::parse(b"\0"), Ok(None));
        for garbage in [
            &b"POWEROFF"[..],
            b"s3",
            b"crash",
            b"\xff\x00x",
            b"reboot now",
        ] {
            match ShutdownRequest::parse(garbage) {
                Err(ShutdownError::Unknown(text)) => assert!(!text.as_str().is_empty()),
                other => panic!("{garbage:?}: {other:?}"),
            }
        }
        let long = [b'x'; 100];
        match ShutdownRequest::parse(&long) {
            Err(ShutdownError::Unknown(text)) => assert_eq!(text.as_str().len(), 32),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reasons_and_features() {
        use xen_public_headers::sched::{SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_suspend};
        assert_eq!(ShutdownRequest::Halt.sched_reason(), SHUTDOWN_poweroff);
        assert_eq!(ShutdownRequest::Reboot.sched_reason(), SHUTDOWN_reboot);
        assert_eq!(ShutdownRequest::Suspend.sched_reason(), SHUTDOWN_suspend);
        assert_eq!(ShutdownRequest::Halt.feature_key(), None);
        assert!(!Supported::SUITE.contains(ShutdownRequest::Suspend));
        assert!(Supported::SUITE.contains(ShutdownRequest::Halt));
    }
}
