//! The bridge between Xen's shutdown requests (`xen-platform`) and the shutdownmon IOCTL
//! interface (`xen-bus`): which requests xenpci takes from `control/shutdown` depends on what
//! the service declared with SET_FEATURES, so nothing is acknowledged towards Xen (or
//! advertised in `control/feature-*`) unless a service is there to carry it out.

use xen_bus::shutdown_ioctl::{
    self, CodecError, Dispatched, Features, ShutdownAction, ShutdownServer,
};
use xen_hal::Clock;
use xen_platform::shutdown::{self, ShutdownError};
use xen_platform::{ShutdownRequest, Supported};
use xenstore::{Client, Transport, Wait};

/// `STATUS_SUCCESS`.
pub const STATUS_SUCCESS: i32 = 0;
/// `STATUS_PENDING`.
pub const STATUS_PENDING: i32 = 0x0000_0103;
/// `STATUS_BUFFER_TOO_SMALL`.
pub const STATUS_BUFFER_TOO_SMALL: i32 = 0xC000_0023_u32 as i32;
/// `STATUS_INVALID_PARAMETER`.
pub const STATUS_INVALID_PARAMETER: i32 = 0xC000_000D_u32 as i32;
/// `STATUS_REVISION_MISMATCH`.
pub const STATUS_REVISION_MISMATCH: i32 = 0xC000_0059_u32 as i32;
/// `STATUS_INVALID_DEVICE_REQUEST`.
pub const STATUS_INVALID_DEVICE_REQUEST: i32 = 0xC000_0010_u32 as i32;

/// The IOCTL action of a Xen request.
pub fn action_of(request: ShutdownRequest) -> ShutdownAction {
    match request {
        ShutdownRequest::Poweroff => ShutdownAction::Poweroff,
        ShutdownRequest::Reboot => ShutdownAction::Reboot,
        ShutdownRequest::Halt => ShutdownAction::Halt,
        ShutdownRequest::Suspend => ShutdownAction::Suspend,
    }
}

/// What xenpci takes from `control/shutdown`: exactly what the service declared. Suspend is
/// never taken (xenpci does not implement suspend/resume; see `xen_platform::Supported`).
pub fn supported(features: Features) -> Supported {
    Supported {
        poweroff: features.has(ShutdownAction::Poweroff),
        reboot: features.has(ShutdownAction::Reboot),
        halt: features.has(ShutdownAction::Halt),
        suspend: false,
    }
}

/// The NTSTATUS an IOCTL completes with for a codec error (`NothingPending` pends the IRP).
pub fn status_of(error: CodecError) -> i32 {
    match error {
        CodecError::TooShort => STATUS_BUFFER_TOO_SMALL,
        CodecError::BadSize | CodecError::BadValue | CodecError::StaleSequence => {
            STATUS_INVALID_PARAMETER
        }
        CodecError::BadVersion(_) => STATUS_REVISION_MISMATCH,
        CodecError::UnknownIoctl(_) => STATUS_INVALID_DEVICE_REQUEST,
        CodecError::NothingPending => STATUS_PENDING,
    }
}

/// What the glue does with an IOCTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoctlOutcome {
    /// Complete with this status and `IoStatus.Information`.
    Complete {
        /// NTSTATUS.
        status: i32,
        /// Bytes of output.
        information: usize,
    },
    /// WAIT_REQUEST with nothing pending: pend the IRP (cancellable) until [`Bridge::take`]
    /// posts a request, then call [`Bridge::ioctl`] again for it.
    Pend,
    /// The service declared its features: write them with [`Bridge::advertise`], then
    /// complete with success.
    Advertise(Supported),
}

/// xenpci's side of the shutdown interface: the IOCTL server plus the xenstore steps.
#[derive(Clone, Debug, Default)]
pub struct Bridge {
    server: ShutdownServer,
    advertised: Supported,
}

impl Bridge {
    /// No service connected.
    pub fn new() -> Bridge {
        Bridge::default()
    }

    /// What the connected service carries out (nothing before SET_FEATURES).
    pub fn supported(&self) -> Supported {
        supported(self.server.features())
    }

    /// Handles one METHOD_BUFFERED IOCTL.
    pub fn ioctl(&mut self, code: u32, input: &[u8], output: &mut [u8]) -> IoctlOutcome {
        match self.server.dispatch(code, input, output) {
            Ok(Dispatched::Done(information)) => IoctlOutcome::Complete {
                status: STATUS_SUCCESS,
                information,
            },
            Ok(Dispatched::FeaturesChanged(features)) => {
                IoctlOutcome::Advertise(supported(features))
            }
            Ok(Dispatched::Acknowledged(_)) => IoctlOutcome::Complete {
                status: STATUS_SUCCESS,
                information: 0,
            },
            Err(CodecError::NothingPending) => IoctlOutcome::Pend,
            Err(e) => IoctlOutcome::Complete {
                status: status_of(e),
                information: 0,
            },
        }
    }

    /// Writes `control/feature-*` = 1 for `wanted` and clears the ones no longer wanted.
    pub fn advertise<T: Transport, C: Clock, W: Wait>(
        &mut self,
        client: &mut Client<T, C, W>,
        wanted: Supported,
    ) -> Result<(), xenstore::Error> {
        let result = shutdown::advertise(client, wanted);
        let mut cleared = Ok(());
        for request in ShutdownRequest::ALL {
            if let Some(key) = request.feature_key() {
                if self.advertised.contains(request) && !wanted.contains(request) {
                    if let Err(e) = client.write(key, b"") {
                        cleared = Err(e);
                    }
                }
            }
        }
        self.advertised = wanted;
        result.and(cleared)
    }

    /// The service's handle closed: features withdrawn (nothing is taken from xenstore any
    /// more) and their keys cleared.
    pub fn disconnect<T: Transport, C: Clock, W: Wait>(
        &mut self,
        client: &mut Client<T, C, W>,
    ) -> Result<(), xenstore::Error> {
        self.server = ShutdownServer::new();
        self.advertise(client, Supported::default())
    }

    /// The `control/shutdown` watch fired: takes (and acknowledges towards Xen) a request the
    /// service carries out and posts it for WAIT_REQUEST.
    pub fn take<T: Transport, C: Clock, W: Wait>(
        &mut self,
        client: &mut Client<T, C, W>,
    ) -> Result<Option<shutdown_ioctl::ShutdownRequest>, ShutdownError> {
        let taken = shutdown::take_request(client, self.supported())?;
        Ok(taken.map(|request| self.server.post(action_of(request))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_features_are_taken_and_suspend_never() {
        let none = supported(Features { actions: 0 });
        assert_eq!(none, Supported::default());
        let all = supported(Features {
            actions: Features::ALL,
        });
        assert!(all.poweroff && all.reboot && all.halt && !all.suspend);
        let reboot_only = supported(Features {
            actions: ShutdownAction::Reboot.feature_bit(),
        });
        assert!(reboot_only.reboot && !reboot_only.poweroff);
    }

    /// Issue 18, item 4: hibernation is refused while PV is up, so the toolstack is never told
    /// it could ask for it: no request advertises `control/feature-s4` (or S3), and a
    /// `hibernate` / `s4` request is not one xenpci takes.
    #[test]
    fn s4_is_never_advertised_or_taken() {
        for request in ShutdownRequest::ALL {
            let key = request.feature_key().unwrap_or("");
            assert!(!key.ends_with("-s4") && !key.ends_with("-s3"), "{key}");
        }
        for word in [&b"hibernate"[..], b"s4"] {
            assert!(ShutdownRequest::parse(word).is_err());
        }
    }

    #[test]
    fn every_request_maps_to_its_action() {
        for request in ShutdownRequest::ALL {
            assert_eq!(action_of(request).xenstore_name(), request.as_str());
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(status_of(CodecError::NothingPending), STATUS_PENDING);
        assert_eq!(
            status_of(CodecError::BadVersion(2)),
            STATUS_REVISION_MISMATCH
        );
        assert_eq!(
            status_of(CodecError::UnknownIoctl(7)),
            STATUS_INVALID_DEVICE_REQUEST
        );
        assert_eq!(status_of(CodecError::TooShort), STATUS_BUFFER_TOO_SMALL);
    }

    #[test]
    fn ioctl_outcomes() {
        let mut bridge = Bridge::new();
        let mut out = [0u8; 16];
        assert_eq!(
            bridge.ioctl(
                shutdown_ioctl::IOCTL_XENPCI_SHUTDOWN_WAIT_REQUEST,
                &[],
                &mut out
            ),
            IoctlOutcome::Pend
        );
        assert_eq!(
            bridge.ioctl(0x1234, &[], &mut out),
            IoctlOutcome::Complete {
                status: STATUS_INVALID_DEVICE_REQUEST,
                information: 0
            }
        );
        let mut input = [0u8; Features::SIZE];
        Features {
            actions: ShutdownAction::Poweroff.feature_bit(),
        }
        .emit(&mut input)
        .unwrap();
        match bridge.ioctl(
            shutdown_ioctl::IOCTL_XENPCI_SHUTDOWN_SET_FEATURES,
            &input,
            &mut [],
        ) {
            IoctlOutcome::Advertise(s) => assert!(s.poweroff && !s.reboot),
            other => panic!("{other:?}"),
        }
        assert!(bridge.supported().poweroff);
    }
}
