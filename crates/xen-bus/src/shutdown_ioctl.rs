//! The user-mode shutdown interface: how the shutdownmon service learns of Xen shutdown
//! requests (`control/shutdown`) from xenpci and tells xenpci what it implements.
//!
//! - xenpci registers the device interface [`GUID_DEVINTERFACE_XENPCI_SHUTDOWN`] on its FDO;
//!   shutdownmon finds it with `SetupDiGetClassDevs(DIGCF_DEVICEINTERFACE)` and opens it with
//!   `CreateFile` (administrators only).
//! - [`IOCTL_XENPCI_SHUTDOWN_QUERY_VERSION`] (out: [`VersionInfo`]): the interface version;
//!   the service refuses to run against another version.
//! - [`IOCTL_XENPCI_SHUTDOWN_SET_FEATURES`] (in: [`Features`]): what the service implements;
//!   xenpci writes `control/feature-<name>` = 1 for those only (and removes them when the
//!   handle closes).
//! - [`IOCTL_XENPCI_SHUTDOWN_WAIT_REQUEST`] (out: [`ShutdownRequest`]): completes when a
//!   request is pending (at once if one already is); xenpci pends the IRP, cancellable.
//! - [`IOCTL_XENPCI_SHUTDOWN_ACKNOWLEDGE`] (in: [`Acknowledge`]): the service took (or could
//!   not take) the request of that sequence number; a stale sequence is refused.
//!
//! All messages are little-endian `u32` fields starting with their size and the interface
//! version, METHOD_BUFFERED. [`ShutdownServer`] is xenpci's side (the glue hands it the
//! system buffer); [`Client`] is the service's side. Acknowledging the request towards Xen
//! (clearing `control/shutdown`) is xenpci's job when it reads the request, as the Xen
//! protocol expects; this interface only carries it to user mode.

use crate::binding::Guid;

/// `GUID_DEVINTERFACE_XENPCI_SHUTDOWN` {65FEC07D-B434-4602-BF7E-F8EF16CE2991}.
pub const GUID_DEVINTERFACE_XENPCI_SHUTDOWN: Guid = Guid {
    data1: 0x65fe_c07d,
    data2: 0xb434,
    data3: 0x4602,
    data4: [0xbf, 0x7e, 0xf8, 0xef, 0x16, 0xce, 0x29, 0x91],
};

/// `CTL_CODE(DeviceType, Function, Method, Access)` as winioctl.h defines it.
pub const fn ctl_code(device_type: u32, function: u32, method: u32, access: u32) -> u32 {
    (device_type << 16) | (access << 14) | (function << 2) | method
}

/// Our device type (vendor range starts at 0x8000; 0x58 is 'X').
pub const FILE_DEVICE_XENPCI: u32 = 0x8058;
/// `METHOD_BUFFERED`.
pub const METHOD_BUFFERED: u32 = 0;
/// `FILE_READ_ACCESS`.
pub const FILE_READ_ACCESS: u32 = 1;
/// `FILE_WRITE_ACCESS`.
pub const FILE_WRITE_ACCESS: u32 = 2;

/// Query the interface version.
pub const IOCTL_XENPCI_SHUTDOWN_QUERY_VERSION: u32 =
    ctl_code(FILE_DEVICE_XENPCI, 0x800, METHOD_BUFFERED, FILE_READ_ACCESS);
/// Wait for a shutdown request.
pub const IOCTL_XENPCI_SHUTDOWN_WAIT_REQUEST: u32 =
    ctl_code(FILE_DEVICE_XENPCI, 0x801, METHOD_BUFFERED, FILE_READ_ACCESS);
/// Acknowledge a request.
pub const IOCTL_XENPCI_SHUTDOWN_ACKNOWLEDGE: u32 = ctl_code(
    FILE_DEVICE_XENPCI,
    0x802,
    METHOD_BUFFERED,
    FILE_WRITE_ACCESS,
);
/// Declare the features the service implements.
pub const IOCTL_XENPCI_SHUTDOWN_SET_FEATURES: u32 = ctl_code(
    FILE_DEVICE_XENPCI,
    0x803,
    METHOD_BUFFERED,
    FILE_WRITE_ACCESS,
);

/// The interface version of this crate.
pub const SHUTDOWN_INTERFACE_VERSION: u32 = 1;

/// A shutdown action (the `control/shutdown` values the suite implements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownAction {
    /// `poweroff`: shut down and power off.
    Poweroff = 1,
    /// `reboot`.
    Reboot = 2,
    /// `halt`: shut down (power off, as the XCP-ng agent and GPLPV do).
    Halt = 3,
    /// `suspend`: save and suspend (xenpci handles it in the kernel; reported for logging).
    Suspend = 4,
}

impl ShutdownAction {
    /// From the wire value.
    pub fn from_u32(v: u32) -> Option<ShutdownAction> {
        match v {
            1 => Some(Self::Poweroff),
            2 => Some(Self::Reboot),
            3 => Some(Self::Halt),
            4 => Some(Self::Suspend),
            _ => None,
        }
    }

    /// The `control/shutdown` value and the `control/feature-<name>` suffix.
    pub fn xenstore_name(self) -> &'static str {
        match self {
            Self::Poweroff => "poweroff",
            Self::Reboot => "reboot",
            Self::Halt => "halt",
            Self::Suspend => "suspend",
        }
    }

    /// Its bit in [`Features`].
    pub fn feature_bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// Why a message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// The buffer is shorter than the message (`STATUS_BUFFER_TOO_SMALL`).
    TooShort,
    /// The size field is not the message's size (`STATUS_INVALID_PARAMETER`).
    BadSize,
    /// Another interface version (`STATUS_REVISION_MISMATCH`).
    BadVersion(u32),
    /// A field has a value outside its range (`STATUS_INVALID_PARAMETER`).
    BadValue,
    /// Unknown IOCTL code (`STATUS_INVALID_DEVICE_REQUEST`).
    UnknownIoctl(u32),
    /// No request is pending: the IRP is to be pended (`STATUS_PENDING`).
    NothingPending,
    /// The acknowledged sequence is not the pending request's (`STATUS_INVALID_PARAMETER`).
    StaleSequence,
}

fn get(b: &[u8], index: usize) -> Result<u32, CodecError> {
    let start = index.checked_mul(4).ok_or(CodecError::TooShort)?;
    let bytes = b.get(start..start + 4).ok_or(CodecError::TooShort)?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn put(b: &mut [u8], index: usize, v: u32) -> Result<(), CodecError> {
    let start = index * 4;
    b.get_mut(start..start + 4)
        .ok_or(CodecError::TooShort)?
        .copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Checks the common header (size, version) of a message of `fields` u32s.
fn check_header(b: &[u8], fields: usize) -> Result<(), CodecError> {
    let size = fields * 4;
    if b.len() < size {
        return Err(CodecError::TooShort);
    }
    if get(b, 0)? as usize != size {
        return Err(CodecError::BadSize);
    }
    let version = get(b, 1)?;
    if version != SHUTDOWN_INTERFACE_VERSION {
        return Err(CodecError::BadVersion(version));
    }
    Ok(())
}

fn emit(out: &mut [u8], fields: &[u32]) -> Result<usize, CodecError> {
    let size = fields.len() * 4;
    if out.len() < size {
        return Err(CodecError::TooShort);
    }
    for (i, &v) in fields.iter().enumerate() {
        put(out, i, v)?;
    }
    Ok(size)
}

/// Answer to QUERY_VERSION: `{size, version, features_supported}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// The driver's interface version.
    pub version: u32,
    /// The actions the driver can report (bits of [`ShutdownAction::feature_bit`]).
    pub actions: u32,
}

impl VersionInfo {
    /// Size on the wire.
    pub const SIZE: usize = 12;
    /// Writes it; returns the bytes written.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, CodecError> {
        emit(out, &[Self::SIZE as u32, self.version, self.actions])
    }
    /// Reads it. The version is returned as found (the client compares it).
    pub fn parse(b: &[u8]) -> Result<VersionInfo, CodecError> {
        if b.len() < Self::SIZE {
            return Err(CodecError::TooShort);
        }
        if get(b, 0)? as usize != Self::SIZE {
            return Err(CodecError::BadSize);
        }
        Ok(VersionInfo {
            version: get(b, 1)?,
            actions: get(b, 2)?,
        })
    }
}

/// Input of SET_FEATURES: `{size, version, actions}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// Bits of [`ShutdownAction::feature_bit`] the service implements.
    pub actions: u32,
}

impl Features {
    /// Size on the wire.
    pub const SIZE: usize = 12;
    /// Every defined bit.
    pub const ALL: u32 = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4);
    /// Writes it.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, CodecError> {
        emit(
            out,
            &[Self::SIZE as u32, SHUTDOWN_INTERFACE_VERSION, self.actions],
        )
    }
    /// Reads it; undefined bits are refused.
    pub fn parse(b: &[u8]) -> Result<Features, CodecError> {
        check_header(b, 3)?;
        let actions = get(b, 2)?;
        if actions & !Self::ALL != 0 {
            return Err(CodecError::BadValue);
        }
        Ok(Features { actions })
    }
    /// Whether `action` is declared.
    pub fn has(&self, action: ShutdownAction) -> bool {
        self.actions & action.feature_bit() != 0
    }
}

/// Output of WAIT_REQUEST: `{size, version, sequence, action}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownRequest {
    /// Increases with each request (never 0).
    pub sequence: u32,
    /// What Xen asked for.
    pub action: ShutdownAction,
}

impl ShutdownRequest {
    /// Size on the wire.
    pub const SIZE: usize = 16;
    /// Writes it.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, CodecError> {
        emit(
            out,
            &[
                Self::SIZE as u32,
                SHUTDOWN_INTERFACE_VERSION,
                self.sequence,
                self.action as u32,
            ],
        )
    }
    /// Reads it.
    pub fn parse(b: &[u8]) -> Result<ShutdownRequest, CodecError> {
        check_header(b, 4)?;
        let sequence = get(b, 2)?;
        let action = ShutdownAction::from_u32(get(b, 3)?).ok_or(CodecError::BadValue)?;
        if sequence == 0 {
            return Err(CodecError::BadValue);
        }
        Ok(ShutdownRequest { sequence, action })
    }
}

/// The service's answer to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckResult {
    /// The shutdown was started.
    Started = 0,
    /// The service does not implement this action.
    Unsupported = 1,
    /// Starting it failed (e.g. `InitiateSystemShutdownEx` refused).
    Failed = 2,
}

/// Input of ACKNOWLEDGE: `{size, version, sequence, result}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acknowledge {
    /// The request's sequence.
    pub sequence: u32,
    /// What happened.
    pub result: AckResult,
}

impl Acknowledge {
    /// Size on the wire.
    pub const SIZE: usize = 16;
    /// Writes it.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, CodecError> {
        emit(
            out,
            &[
                Self::SIZE as u32,
                SHUTDOWN_INTERFACE_VERSION,
                self.sequence,
                self.result as u32,
            ],
        )
    }
    /// Reads it.
    pub fn parse(b: &[u8]) -> Result<Acknowledge, CodecError> {
        check_header(b, 4)?;
        let result = match get(b, 3)? {
            0 => AckResult::Started,
            1 => AckResult::Unsupported,
            2 => AckResult::Failed,
            _ => return Err(CodecError::BadValue),
        };
        Ok(Acknowledge {
            sequence: get(b, 2)?,
            result,
        })
    }
}

/// xenpci's side: the pending request and the declared features. The glue calls
/// [`ShutdownServer::post`] when xenpci reads a request from `control/shutdown`, and
/// [`ShutdownServer::dispatch`] for each IOCTL with the METHOD_BUFFERED system buffer.
#[derive(Clone, Debug, Default)]
pub struct ShutdownServer {
    pending: Option<ShutdownRequest>,
    last_sequence: u32,
    features: Features,
    acknowledged: Option<Acknowledge>,
}

/// What a dispatched IOCTL did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatched {
    /// Completed successfully with this many output bytes (`IoStatus.Information`).
    Done(usize),
    /// Features changed: write `control/feature-*` for these, then complete with 0 bytes.
    FeaturesChanged(Features),
    /// The service acknowledged: log it, complete with 0 bytes.
    Acknowledged(Acknowledge),
}

impl ShutdownServer {
    /// A server with no request pending.
    pub fn new() -> ShutdownServer {
        ShutdownServer::default()
    }

    /// A request arrived from Xen: it replaces an unacknowledged one (Xen's latest word wins).
    /// Returns it with its sequence number.
    pub fn post(&mut self, action: ShutdownAction) -> ShutdownRequest {
        self.last_sequence = self.last_sequence.wrapping_add(1).max(1);
        let request = ShutdownRequest {
            sequence: self.last_sequence,
            action,
        };
        self.pending = Some(request);
        request
    }

    /// The request a waiting IRP would get now.
    pub fn pending(&self) -> Option<ShutdownRequest> {
        self.pending
    }

    /// The features the service declared.
    pub fn features(&self) -> Features {
        self.features
    }

    /// The last acknowledgement.
    pub fn last_acknowledge(&self) -> Option<Acknowledge> {
        self.acknowledged
    }

    /// Handles one IOCTL: `input` and `output` are the system buffer's input and output views.
    /// `Err(NothingPending)` for a WAIT with nothing to report: the glue pends the IRP and
    /// calls this again after the next [`ShutdownServer::post`].
    pub fn dispatch(
        &mut self,
        code: u32,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<Dispatched, CodecError> {
        match code {
            IOCTL_XENPCI_SHUTDOWN_QUERY_VERSION => {
                let info = VersionInfo {
                    version: SHUTDOWN_INTERFACE_VERSION,
                    actions: Features::ALL,
                };
                Ok(Dispatched::Done(info.emit(output)?))
            }
            IOCTL_XENPCI_SHUTDOWN_SET_FEATURES => {
                self.features = Features::parse(input)?;
                Ok(Dispatched::FeaturesChanged(self.features))
            }
            IOCTL_XENPCI_SHUTDOWN_WAIT_REQUEST => {
                if output.len() < ShutdownRequest::SIZE {
                    return Err(CodecError::TooShort);
                }
                let request = self.pending.ok_or(CodecError::NothingPending)?;
                Ok(Dispatched::Done(request.emit(output)?))
            }
            IOCTL_XENPCI_SHUTDOWN_ACKNOWLEDGE => {
                let ack = Acknowledge::parse(input)?;
                match self.pending {
                    Some(p) if p.sequence == ack.sequence => {
                        self.pending = None;
                        self.acknowledged = Some(ack);
                        Ok(Dispatched::Acknowledged(ack))
                    }
                    _ => Err(CodecError::StaleSequence),
                }
            }
            other => Err(CodecError::UnknownIoctl(other)),
        }
    }
}

/// The service's side, over any way of issuing an IOCTL (`DeviceIoControl` on Windows; the
/// server directly in tests): `io(code, input, output) -> bytes returned`.
pub struct Client<F> {
    io: F,
}

/// Why a client call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError<E> {
    /// The IOCTL itself failed.
    Io(E),
    /// The answer did not decode.
    Codec(CodecError),
    /// The driver speaks another interface version.
    VersionMismatch {
        /// Ours.
        ours: u32,
        /// The driver's.
        driver: u32,
    },
}

impl<E, F: FnMut(u32, &[u8], &mut [u8]) -> Result<usize, E>> Client<F> {
    /// A client over `io`.
    pub fn new(io: F) -> Self {
        Client { io }
    }

    fn call(
        &mut self,
        code: u32,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, ClientError<E>> {
        (self.io)(code, input, output).map_err(ClientError::Io)
    }

    /// Checks the driver's version; returns the actions it can report.
    pub fn handshake(&mut self) -> Result<u32, ClientError<E>> {
        let mut out = [0u8; VersionInfo::SIZE];
        let n = self.call(IOCTL_XENPCI_SHUTDOWN_QUERY_VERSION, &[], &mut out)?;
        let info = VersionInfo::parse(out.get(..n).unwrap_or(&[])).map_err(ClientError::Codec)?;
        if info.version != SHUTDOWN_INTERFACE_VERSION {
            return Err(ClientError::VersionMismatch {
                ours: SHUTDOWN_INTERFACE_VERSION,
                driver: info.version,
            });
        }
        Ok(info.actions)
    }

    /// Declares what the service implements.
    pub fn set_features(&mut self, features: Features) -> Result<(), ClientError<E>> {
        let mut input = [0u8; Features::SIZE];
        features.emit(&mut input).map_err(ClientError::Codec)?;
        self.call(IOCTL_XENPCI_SHUTDOWN_SET_FEATURES, &input, &mut [])?;
        Ok(())
    }

    /// Waits for (or takes the pending) request.
    pub fn wait_request(&mut self) -> Result<ShutdownRequest, ClientError<E>> {
        let mut out = [0u8; ShutdownRequest::SIZE];
        let n = self.call(IOCTL_XENPCI_SHUTDOWN_WAIT_REQUEST, &[], &mut out)?;
        ShutdownRequest::parse(out.get(..n).unwrap_or(&[])).map_err(ClientError::Codec)
    }

    /// Acknowledges a request.
    pub fn acknowledge(&mut self, ack: Acknowledge) -> Result<(), ClientError<E>> {
        let mut input = [0u8; Acknowledge::SIZE];
        ack.emit(&mut input).map_err(ClientError::Codec)?;
        self.call(IOCTL_XENPCI_SHUTDOWN_ACKNOWLEDGE, &input, &mut [])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::RefCell;

    #[test]
    fn ioctl_codes() {
        // CTL_CODE(0x8058, 0x800, METHOD_BUFFERED, FILE_READ_ACCESS):
        // 0x8058 << 16 = 0x8058_0000, 1 << 14 = 0x4000, 0x800 << 2 = 0x2000.
        assert_eq!(IOCTL_XENPCI_SHUTDOWN_QUERY_VERSION, 0x8058_6000);
        assert_eq!(IOCTL_XENPCI_SHUTDOWN_WAIT_REQUEST, 0x8058_6004);
        // FILE_WRITE_ACCESS: 2 << 14 = 0x8000.
        assert_eq!(IOCTL_XENPCI_SHUTDOWN_ACKNOWLEDGE, 0x8058_a008);
        assert_eq!(IOCTL_XENPCI_SHUTDOWN_SET_FEATURES, 0x8058_a00c);
        // winioctl.h's own example: IOCTL_DISK_GET_DRIVE_GEOMETRY = CTL_CODE(7, 0, 0, 0).
        assert_eq!(ctl_code(7, 0, 0, 0), 0x0007_0000);
        // IOCTL_STORAGE_QUERY_PROPERTY = CTL_CODE(0x2d, 0x500, 0, 0) = 0x2d1400.
        assert_eq!(ctl_code(0x2d, 0x500, 0, 0), 0x002d_1400);
    }

    #[test]
    fn golden_bytes() {
        let mut b = [0u8; 16];
        ShutdownRequest {
            sequence: 3,
            action: ShutdownAction::Reboot,
        }
        .emit(&mut b)
        .unwrap();
        assert_eq!(b, [16, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(
            ShutdownRequest::parse(&b).unwrap(),
            ShutdownRequest {
                sequence: 3,
                action: ShutdownAction::Reboot
            }
        );
        let mut bad = b;
        bad[12] = 9;
        assert_eq!(ShutdownRequest::parse(&bad), Err(CodecError::BadValue));
        let mut bad = b;
        bad[4] = 2;
        assert_eq!(ShutdownRequest::parse(&bad), Err(CodecError::BadVersion(2)));
        let mut bad = b;
        bad[0] = 12;
        assert_eq!(ShutdownRequest::parse(&bad), Err(CodecError::BadSize));
        assert_eq!(ShutdownRequest::parse(&b[..15]), Err(CodecError::TooShort));
    }

    #[test]
    fn host_client_against_the_server() {
        let server = RefCell::new(ShutdownServer::new());
        let mut client = Client::new(|code, input: &[u8], output: &mut [u8]| {
            match server.borrow_mut().dispatch(code, input, output) {
                Ok(Dispatched::Done(n)) => Ok(n),
                Ok(_) => Ok(0),
                Err(e) => Err(e),
            }
        });
        assert_eq!(client.handshake().unwrap(), Features::ALL);
        let declared = Features {
            actions: ShutdownAction::Poweroff.feature_bit() | ShutdownAction::Reboot.feature_bit(),
        };
        client.set_features(declared).unwrap();
        // Nothing yet: the driver would pend the IRP.
        assert_eq!(
            client.wait_request(),
            Err(ClientError::Io(CodecError::NothingPending))
        );
        let posted = server.borrow_mut().post(ShutdownAction::Reboot);
        let got = client.wait_request().unwrap();
        assert_eq!(got, posted);
        assert_eq!(got.action.xenstore_name(), "reboot");
        // A stale acknowledgement is refused and leaves the request pending.
        let stale = Acknowledge {
            sequence: got.sequence + 1,
            result: AckResult::Started,
        };
        assert_eq!(
            client.acknowledge(stale),
            Err(ClientError::Io(CodecError::StaleSequence))
        );
        client
            .acknowledge(Acknowledge {
                sequence: got.sequence,
                result: AckResult::Started,
            })
            .unwrap();
        let s = server.borrow();
        assert!(s.pending().is_none());
        assert!(
            s.features().has(ShutdownAction::Reboot) && !s.features().has(ShutdownAction::Halt)
        );
        assert_eq!(s.last_acknowledge().map(|a| a.sequence), Some(got.sequence));
    }

    #[test]
    fn version_mismatch_is_reported() {
        let mut client = Client::new(|_code, _input: &[u8], output: &mut [u8]| {
            emit(output, &[12, 7, 0]).map_err(|_| ())
        });
        assert_eq!(
            client.handshake(),
            Err(ClientError::VersionMismatch { ours: 1, driver: 7 })
        );
    }

    #[test]
    fn server_refuses_garbage() {
        let mut s = ShutdownServer::new();
        let mut out = [0u8; 64];
        assert_eq!(
            s.dispatch(0x1234, &[], &mut out),
            Err(CodecError::UnknownIoctl(0x1234))
        );
        assert_eq!(
            s.dispatch(
                IOCTL_XENPCI_SHUTDOWN_SET_FEATURES,
                &[12, 0, 0, 0, 1, 0, 0, 0, 0x40, 0, 0, 0],
                &mut out
            ),
            Err(CodecError::BadValue)
        );
        s.post(ShutdownAction::Halt);
        assert_eq!(
            s.dispatch(IOCTL_XENPCI_SHUTDOWN_WAIT_REQUEST, &[], &mut out[..8]),
            Err(CodecError::TooShort)
        );
    }

    proptest::proptest! {
        #[test]
        fn dispatch_never_panics(code in proptest::prop_oneof![
            proptest::strategy::Just(IOCTL_XENPCI_SHUTDOWN_ACKNOWLEDGE),
            proptest::strategy::Just(IOCTL_XENPCI_SHUTDOWN_SET_FEATURES),
            proptest::strategy::Just(IOCTL_XENPCI_SHUTDOWN_WAIT_REQUEST),
            proptest::strategy::Just(IOCTL_XENPCI_SHUTDOWN_QUERY_VERSION),
            proptest::num::u32::ANY],
            input in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            out_len in 0usize..40)
        {
            let mut s = ShutdownServer::new();
            s.post(ShutdownAction::Poweroff);
            let mut out = alloc::vec![0u8; out_len];
            let _ = s.dispatch(code, &input, &mut out);
        }
    }
}
