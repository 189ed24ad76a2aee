//! StorPort miniport declarations (`srb.h`, `storport.h`): SCSI request blocks, the
//! initialisation data, port configuration, scatter-gather lists, notification codes and the
//! storport.sys imports the block miniport calls.
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]

use crate::ntdef::*;

/// `STOR_PHYSICAL_ADDRESS` / `SCSI_PHYSICAL_ADDRESS`.
pub type STOR_PHYSICAL_ADDRESS = PHYSICAL_ADDRESS;
/// `INTERFACE_TYPE`.
pub type INTERFACE_TYPE = u32;
/// `Internal`.
pub const Internal: INTERFACE_TYPE = 0;
/// `PCIBus`.
pub const PCIBus: INTERFACE_TYPE = 5;

/// `SCSI_REQUEST_BLOCK` (x64).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SCSI_REQUEST_BLOCK {
    /// `Length`.
    pub Length: USHORT,
    /// `Function` (`SRB_FUNCTION_*`).
    pub Function: UCHAR,
    /// `SrbStatus` (`SRB_STATUS_*`).
    pub SrbStatus: UCHAR,
    /// `ScsiStatus` (`SCSISTAT_*`).
    pub ScsiStatus: UCHAR,
    /// `PathId`.
    pub PathId: UCHAR,
    /// `TargetId`.
    pub TargetId: UCHAR,
    /// `Lun`.
    pub Lun: UCHAR,
    /// `QueueTag`.
    pub QueueTag: UCHAR,
    /// `QueueAction`.
    pub QueueAction: UCHAR,
    /// `CdbLength`.
    pub CdbLength: UCHAR,
    /// `SenseInfoBufferLength`.
    pub SenseInfoBufferLength: UCHAR,
    /// `SrbFlags` (`SRB_FLAGS_*`).
    pub SrbFlags: ULONG,
    /// `DataTransferLength`.
    pub DataTransferLength: ULONG,
    /// `TimeOutValue` in seconds.
    pub TimeOutValue: ULONG,
    /// `DataBuffer`.
    pub DataBuffer: PVOID,
    /// `SenseInfoBuffer`.
    pub SenseInfoBuffer: PVOID,
    /// `NextSrb`.
    pub NextSrb: *mut SCSI_REQUEST_BLOCK,
    /// `OriginalRequest`.
    pub OriginalRequest: PVOID,
    /// `SrbExtension`.
    pub SrbExtension: PVOID,
    /// `InternalStatus` (union with `QueueSortKey`, `LinkTimeoutValue`).
    pub InternalStatus: ULONG,
    /// `Reserved` (x64 only).
    pub Reserved: ULONG,
    /// `Cdb[16]`.
    pub Cdb: [UCHAR; 16],
}

/// `ACCESS_RANGE`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ACCESS_RANGE {
    /// `RangeStart`.
    pub RangeStart: STOR_PHYSICAL_ADDRESS,
    /// `RangeLength`.
    pub RangeLength: ULONG,
    /// `RangeInMemory`.
    pub RangeInMemory: BOOLEAN,
}

/// `PHW_INITIALIZE`.
pub type PHW_INITIALIZE = Option<unsafe extern "system" fn(DeviceExtension: PVOID) -> BOOLEAN>;
/// `PHW_STARTIO` (also `PHW_BUILDIO`).
pub type PHW_STARTIO = Option<
    unsafe extern "system" fn(DeviceExtension: PVOID, Srb: *mut SCSI_REQUEST_BLOCK) -> BOOLEAN,
>;
/// `PHW_BUILDIO`.
pub type PHW_BUILDIO = PHW_STARTIO;
/// `PHW_INTERRUPT`.
pub type PHW_INTERRUPT = Option<unsafe extern "system" fn(DeviceExtension: PVOID) -> BOOLEAN>;
/// `PHW_FIND_ADAPTER` (StorPort form; returns `SP_RETURN_*`).
pub type PHW_FIND_ADAPTER = Option<
    unsafe extern "system" fn(
        DeviceExtension: PVOID,
        HwContext: PVOID,
        BusInformation: PVOID,
        ArgumentString: *mut u8,
        ConfigInfo: *mut PORT_CONFIGURATION_INFORMATION,
        Reserved3: *mut BOOLEAN,
    ) -> ULONG,
>;
/// `PHW_RESET_BUS`.
pub type PHW_RESET_BUS =
    Option<unsafe extern "system" fn(DeviceExtension: PVOID, PathId: ULONG) -> BOOLEAN>;
/// `PHW_ADAPTER_CONTROL`: `(DeviceExtension, SCSI_ADAPTER_CONTROL_TYPE, Parameters)` to
/// `SCSI_ADAPTER_CONTROL_STATUS`.
pub type PHW_ADAPTER_CONTROL = Option<
    unsafe extern "system" fn(DeviceExtension: PVOID, ControlType: u32, Parameters: PVOID) -> u32,
>;
/// Any other optional callback, kept as a raw pointer.
pub type PHW_OTHER = PVOID;

/// StorPort's `HW_INITIALIZATION_DATA`: the SCSI-port-compatible part up to `HwAdapterControl`
/// (128 bytes, probed against mingw-w64's `srb.h`), then StorPort's additions (`storport.h`,
/// Windows 8 and later; Windows 7 StorPort reads only up to `HwBuildIo`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HW_INITIALIZATION_DATA {
    /// `HwInitializationDataSize`.
    pub HwInitializationDataSize: ULONG,
    /// `AdapterInterfaceType`.
    pub AdapterInterfaceType: INTERFACE_TYPE,
    /// `HwInitialize`.
    pub HwInitialize: PHW_INITIALIZE,
    /// `HwStartIo`.
    pub HwStartIo: PHW_STARTIO,
    /// `HwInterrupt`.
    pub HwInterrupt: PHW_INTERRUPT,
    /// `HwFindAdapter`.
    pub HwFindAdapter: PHW_FIND_ADAPTER,
    /// `HwResetBus`.
    pub HwResetBus: PHW_RESET_BUS,
    /// `HwDmaStarted`.
    pub HwDmaStarted: PHW_OTHER,
    /// `HwAdapterState`.
    pub HwAdapterState: PHW_OTHER,
    /// `DeviceExtensionSize`.
    pub DeviceExtensionSize: ULONG,
    /// `SpecificLuExtensionSize`.
    pub SpecificLuExtensionSize: ULONG,
    /// `SrbExtensionSize`.
    pub SrbExtensionSize: ULONG,
    /// `NumberOfAccessRanges`.
    pub NumberOfAccessRanges: ULONG,
    /// `Reserved`.
    pub Reserved: PVOID,
    /// `MapBuffers` (`STOR_MAP_*`).
    pub MapBuffers: UCHAR,
    /// `NeedPhysicalAddresses`.
    pub NeedPhysicalAddresses: BOOLEAN,
    /// `TaggedQueuing`.
    pub TaggedQueuing: BOOLEAN,
    /// `AutoRequestSense`.
    pub AutoRequestSense: BOOLEAN,
    /// `MultipleRequestPerLu`.
    pub MultipleRequestPerLu: BOOLEAN,
    /// `ReceiveEvent`.
    pub ReceiveEvent: BOOLEAN,
    /// `VendorIdLength`.
    pub VendorIdLength: USHORT,
    /// `VendorId`.
    pub VendorId: PVOID,
    /// `ReservedUshort` / `PortVersionFlags`.
    pub ReservedUshort: USHORT,
    /// `DeviceIdLength`.
    pub DeviceIdLength: USHORT,
    /// `DeviceId`.
    pub DeviceId: PVOID,
    /// `HwAdapterControl`.
    pub HwAdapterControl: PHW_ADAPTER_CONTROL,
    /// `HwBuildIo`.
    pub HwBuildIo: PHW_BUILDIO,
    /// `HwFreeAdapterResources`.
    pub HwFreeAdapterResources: PHW_OTHER,
    /// `HwProcessServiceRequest`.
    pub HwProcessServiceRequest: PHW_OTHER,
    /// `HwCompleteServiceIrp`.
    pub HwCompleteServiceIrp: PHW_OTHER,
    /// `HwInitializeTracing`.
    pub HwInitializeTracing: PHW_OTHER,
    /// `HwCleanupTracing`.
    pub HwCleanupTracing: PHW_OTHER,
    /// `HwTracingEnabled`.
    pub HwTracingEnabled: PHW_OTHER,
    /// `FeatureSupport`.
    pub FeatureSupport: ULONG,
    /// `SrbTypeFlags`.
    pub SrbTypeFlags: ULONG,
    /// `AddressTypeFlags`.
    pub AddressTypeFlags: ULONG,
    /// `Reserved1`.
    pub Reserved1: ULONG,
    /// `HwUnitControl`.
    pub HwUnitControl: PHW_OTHER,
}

/// `PORT_CONFIGURATION_INFORMATION`: the fields common to SCSI port and StorPort, through
/// `WmiDataProvider` (probed against mingw-w64's `srb.h`). StorPort's later fields
/// (`SynchronizationModel`, `VirtualDevice`, `DumpMode`, `MaxNumberOfIO`, ...) are not declared
/// yet; StorPort owns the structure, so drivers only ever use a pointer to it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PORT_CONFIGURATION_INFORMATION {
    /// `Length`.
    pub Length: ULONG,
    /// `SystemIoBusNumber`.
    pub SystemIoBusNumber: ULONG,
    /// `AdapterInterfaceType`.
    pub AdapterInterfaceType: INTERFACE_TYPE,
    /// `BusInterruptLevel`.
    pub BusInterruptLevel: ULONG,
    /// `BusInterruptVector`.
    pub BusInterruptVector: ULONG,
    /// `InterruptMode` (`KINTERRUPT_MODE`).
    pub InterruptMode: u32,
    /// `MaximumTransferLength`.
    pub MaximumTransferLength: ULONG,
    /// `NumberOfPhysicalBreaks`.
    pub NumberOfPhysicalBreaks: ULONG,
    /// `DmaChannel`.
    pub DmaChannel: ULONG,
    /// `DmaPort`.
    pub DmaPort: ULONG,
    /// `DmaWidth`.
    pub DmaWidth: u32,
    /// `DmaSpeed`.
    pub DmaSpeed: u32,
    /// `AlignmentMask`.
    pub AlignmentMask: ULONG,
    /// `NumberOfAccessRanges`.
    pub NumberOfAccessRanges: ULONG,
    /// `AccessRanges`.
    pub AccessRanges: *mut ACCESS_RANGE,
    /// `MiniportDumpData` (`Reserved` in SCSI port).
    pub MiniportDumpData: PVOID,
    /// `NumberOfBuses`.
    pub NumberOfBuses: UCHAR,
    /// `InitiatorBusId[8]`.
    pub InitiatorBusId: [CCHAR; 8],
    /// `ScatterGather`.
    pub ScatterGather: BOOLEAN,
    /// `Master`.
    pub Master: BOOLEAN,
    /// `CachesData`.
    pub CachesData: BOOLEAN,
    /// `AdapterScansDown`.
    pub AdapterScansDown: BOOLEAN,
    /// `AtdiskPrimaryClaimed`.
    pub AtdiskPrimaryClaimed: BOOLEAN,
    /// `AtdiskSecondaryClaimed`.
    pub AtdiskSecondaryClaimed: BOOLEAN,
    /// `Dma32BitAddresses`.
    pub Dma32BitAddresses: BOOLEAN,
    /// `DemandMode`.
    pub DemandMode: BOOLEAN,
    /// `MapBuffers`.
    pub MapBuffers: UCHAR,
    /// `NeedPhysicalAddresses`.
    pub NeedPhysicalAddresses: BOOLEAN,
    /// `TaggedQueuing`.
    pub TaggedQueuing: BOOLEAN,
    /// `AutoRequestSense`.
    pub AutoRequestSense: BOOLEAN,
    /// `MultipleRequestPerLu`.
    pub MultipleRequestPerLu: BOOLEAN,
    /// `ReceiveEvent`.
    pub ReceiveEvent: BOOLEAN,
    /// `RealModeInitialized`.
    pub RealModeInitialized: BOOLEAN,
    /// `BufferAccessScsiPortControlled`.
    pub BufferAccessScsiPortControlled: BOOLEAN,
    /// `MaximumNumberOfTargets`.
    pub MaximumNumberOfTargets: UCHAR,
    /// `ReservedUchars[2]`.
    pub ReservedUchars: [UCHAR; 2],
    /// `SlotNumber`.
    pub SlotNumber: ULONG,
    /// `BusInterruptLevel2`.
    pub BusInterruptLevel2: ULONG,
    /// `BusInterruptVector2`.
    pub BusInterruptVector2: ULONG,
    /// `InterruptMode2`.
    pub InterruptMode2: u32,
    /// `DmaChannel2`.
    pub DmaChannel2: ULONG,
    /// `DmaPort2`.
    pub DmaPort2: ULONG,
    /// `DmaWidth2`.
    pub DmaWidth2: u32,
    /// `DmaSpeed2`.
    pub DmaSpeed2: u32,
    /// `DeviceExtensionSize`.
    pub DeviceExtensionSize: ULONG,
    /// `SpecificLuExtensionSize`.
    pub SpecificLuExtensionSize: ULONG,
    /// `SrbExtensionSize`.
    pub SrbExtensionSize: ULONG,
    /// `Dma64BitAddresses`.
    pub Dma64BitAddresses: UCHAR,
    /// `ResetTargetSupported`.
    pub ResetTargetSupported: BOOLEAN,
    /// `MaximumNumberOfLogicalUnits`.
    pub MaximumNumberOfLogicalUnits: UCHAR,
    /// `WmiDataProvider`.
    pub WmiDataProvider: BOOLEAN,
}

/// `STOR_SCATTER_GATHER_ELEMENT`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct STOR_SCATTER_GATHER_ELEMENT {
    /// `PhysicalAddress`.
    pub PhysicalAddress: STOR_PHYSICAL_ADDRESS,
    /// `Length`.
    pub Length: ULONG,
    /// `Reserved`.
    pub Reserved: ULONG_PTR,
}

/// `STOR_SCATTER_GATHER_LIST` (elements continue past `List[0]`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct STOR_SCATTER_GATHER_LIST {
    /// `NumberOfElements`.
    pub NumberOfElements: ULONG,
    /// `Reserved`.
    pub Reserved: ULONG_PTR,
    /// `List[]`.
    pub List: [STOR_SCATTER_GATHER_ELEMENT; 0],
}

// SRB functions.
/// `SRB_FUNCTION_EXECUTE_SCSI`.
pub const SRB_FUNCTION_EXECUTE_SCSI: UCHAR = 0x00;
/// `SRB_FUNCTION_IO_CONTROL`.
pub const SRB_FUNCTION_IO_CONTROL: UCHAR = 0x02;
/// `SRB_FUNCTION_SHUTDOWN`.
pub const SRB_FUNCTION_SHUTDOWN: UCHAR = 0x07;
/// `SRB_FUNCTION_FLUSH`.
pub const SRB_FUNCTION_FLUSH: UCHAR = 0x08;
/// `SRB_FUNCTION_ABORT_COMMAND`.
pub const SRB_FUNCTION_ABORT_COMMAND: UCHAR = 0x10;
/// `SRB_FUNCTION_RESET_BUS`.
pub const SRB_FUNCTION_RESET_BUS: UCHAR = 0x12;
/// `SRB_FUNCTION_RESET_DEVICE`.
pub const SRB_FUNCTION_RESET_DEVICE: UCHAR = 0x13;
/// `SRB_FUNCTION_WMI`.
pub const SRB_FUNCTION_WMI: UCHAR = 0x17;
/// `SRB_FUNCTION_RESET_LOGICAL_UNIT`.
pub const SRB_FUNCTION_RESET_LOGICAL_UNIT: UCHAR = 0x20;
/// `SRB_FUNCTION_POWER`.
pub const SRB_FUNCTION_POWER: UCHAR = 0x23;
/// `SRB_FUNCTION_PNP`.
pub const SRB_FUNCTION_PNP: UCHAR = 0x24;

// SRB status.
/// `SRB_STATUS_PENDING`.
pub const SRB_STATUS_PENDING: UCHAR = 0x00;
/// `SRB_STATUS_SUCCESS`.
pub const SRB_STATUS_SUCCESS: UCHAR = 0x01;
/// `SRB_STATUS_ABORTED`.
pub const SRB_STATUS_ABORTED: UCHAR = 0x02;
/// `SRB_STATUS_ERROR`.
pub const SRB_STATUS_ERROR: UCHAR = 0x04;
/// `SRB_STATUS_BUSY`.
pub const SRB_STATUS_BUSY: UCHAR = 0x05;
/// `SRB_STATUS_INVALID_REQUEST`.
pub const SRB_STATUS_INVALID_REQUEST: UCHAR = 0x06;
/// `SRB_STATUS_NO_DEVICE`.
pub const SRB_STATUS_NO_DEVICE: UCHAR = 0x08;
/// `SRB_STATUS_TIMEOUT`.
pub const SRB_STATUS_TIMEOUT: UCHAR = 0x09;
/// `SRB_STATUS_BUS_RESET`.
pub const SRB_STATUS_BUS_RESET: UCHAR = 0x0E;
/// `SRB_STATUS_DATA_OVERRUN`.
pub const SRB_STATUS_DATA_OVERRUN: UCHAR = 0x12;
/// `SRB_STATUS_INVALID_LUN`.
pub const SRB_STATUS_INVALID_LUN: UCHAR = 0x20;
/// `SRB_STATUS_INVALID_TARGET_ID`.
pub const SRB_STATUS_INVALID_TARGET_ID: UCHAR = 0x21;
/// `SRB_STATUS_AUTOSENSE_VALID`.
pub const SRB_STATUS_AUTOSENSE_VALID: UCHAR = 0x80;
/// `SRB_FLAGS_DATA_IN`.
pub const SRB_FLAGS_DATA_IN: ULONG = 0x0000_0040;
/// `SRB_FLAGS_DATA_OUT`.
pub const SRB_FLAGS_DATA_OUT: ULONG = 0x0000_0080;
/// `SCSISTAT_GOOD`.
pub const SCSISTAT_GOOD: UCHAR = 0x00;
/// `SCSISTAT_CHECK_CONDITION`.
pub const SCSISTAT_CHECK_CONDITION: UCHAR = 0x02;

/// `SP_RETURN_NOT_FOUND`.
pub const SP_RETURN_NOT_FOUND: ULONG = 0;
/// `SP_RETURN_FOUND`.
pub const SP_RETURN_FOUND: ULONG = 1;
/// `SP_RETURN_ERROR`.
pub const SP_RETURN_ERROR: ULONG = 2;
/// `SP_RETURN_BAD_CONFIG`.
pub const SP_RETURN_BAD_CONFIG: ULONG = 3;
/// `STOR_MAP_NO_BUFFERS`.
pub const STOR_MAP_NO_BUFFERS: UCHAR = 0;
/// `STOR_MAP_ALL_BUFFERS`.
pub const STOR_MAP_ALL_BUFFERS: UCHAR = 1;
/// `STOR_MAP_NON_READ_WRITE_BUFFERS`.
pub const STOR_MAP_NON_READ_WRITE_BUFFERS: UCHAR = 2;

/// `SCSI_NOTIFICATION_TYPE` values for `StorPortNotification`.
pub type SCSI_NOTIFICATION_TYPE = u32;
/// `RequestComplete`.
pub const RequestComplete: SCSI_NOTIFICATION_TYPE = 0;
/// `NextRequest`.
pub const NextRequest: SCSI_NOTIFICATION_TYPE = 1;
/// `NextLuRequest`.
pub const NextLuRequest: SCSI_NOTIFICATION_TYPE = 2;
/// `ResetDetected`.
pub const ResetDetected: SCSI_NOTIFICATION_TYPE = 3;
/// `RequestTimerCall`.
pub const RequestTimerCall: SCSI_NOTIFICATION_TYPE = 6;
/// `BusChangeDetected`.
pub const BusChangeDetected: SCSI_NOTIFICATION_TYPE = 7;
/// `EnablePassiveInitialization`.
pub const EnablePassiveInitialization: SCSI_NOTIFICATION_TYPE = 0x1000;
/// `InitializeDpc`.
pub const InitializeDpc: SCSI_NOTIFICATION_TYPE = 0x1001;
/// `IssueDpc`.
pub const IssueDpc: SCSI_NOTIFICATION_TYPE = 0x1002;
/// `AcquireSpinLock`.
pub const AcquireSpinLock: SCSI_NOTIFICATION_TYPE = 0x1003;
/// `ReleaseSpinLock`.
pub const ReleaseSpinLock: SCSI_NOTIFICATION_TYPE = 0x1004;

/// `SCSI_ADAPTER_CONTROL_TYPE`: `ScsiQuerySupportedControlTypes`.
pub const ScsiQuerySupportedControlTypes: u32 = 0;
/// `ScsiStopAdapter`.
pub const ScsiStopAdapter: u32 = 1;
/// `ScsiRestartAdapter`.
pub const ScsiRestartAdapter: u32 = 2;
/// `ScsiSetBootConfig`.
pub const ScsiSetBootConfig: u32 = 3;
/// `ScsiSetRunningConfig`.
pub const ScsiSetRunningConfig: u32 = 4;
/// `ScsiAdapterControlSuccess`.
pub const ScsiAdapterControlSuccess: u32 = 0;
/// `ScsiAdapterControlUnsuccessful`.
pub const ScsiAdapterControlUnsuccessful: u32 = 1;

// storport.sys imports (each name is listed in def/storport.def).

#[cfg_attr(target_os = "windows", link(name = "storport"))]
unsafe extern "system" {
    /// `StorPortInitialize`.
    pub fn StorPortInitialize(
        Argument1: PVOID,
        Argument2: PVOID,
        HwInitializationData: *mut HW_INITIALIZATION_DATA,
        HwContext: PVOID,
    ) -> ULONG;
    /// `StorPortGetUncachedExtension`.
    pub fn StorPortGetUncachedExtension(
        HwDeviceExtension: PVOID,
        ConfigInfo: *mut PORT_CONFIGURATION_INFORMATION,
        NumberOfBytes: ULONG,
    ) -> PVOID;
    /// `StorPortGetPhysicalAddress`.
    pub fn StorPortGetPhysicalAddress(
        HwDeviceExtension: PVOID,
        Srb: *mut SCSI_REQUEST_BLOCK,
        VirtualAddress: PVOID,
        Length: *mut ULONG,
    ) -> STOR_PHYSICAL_ADDRESS;
    /// `StorPortGetScatterGatherList`.
    pub fn StorPortGetScatterGatherList(
        HwDeviceExtension: PVOID,
        Srb: *mut SCSI_REQUEST_BLOCK,
    ) -> *mut STOR_SCATTER_GATHER_LIST;
    /// `StorPortGetDeviceBase`.
    pub fn StorPortGetDeviceBase(
        HwDeviceExtension: PVOID,
        BusType: INTERFACE_TYPE,
        SystemIoBusNumber: ULONG,
        IoAddress: STOR_PHYSICAL_ADDRESS,
        NumberOfBytes: ULONG,
        InIoSpace: BOOLEAN,
    ) -> PVOID;
    /// `StorPortFreeDeviceBase`.
    pub fn StorPortFreeDeviceBase(HwDeviceExtension: PVOID, MappedAddress: PVOID);
    /// `StorPortGetLogicalUnit`.
    pub fn StorPortGetLogicalUnit(
        HwDeviceExtension: PVOID,
        PathId: UCHAR,
        TargetId: UCHAR,
        Lun: UCHAR,
    ) -> PVOID;
    /// `StorPortMoveMemory`.
    pub fn StorPortMoveMemory(WriteBuffer: PVOID, ReadBuffer: PVOID, Length: ULONG);
    /// `StorPortPause`.
    pub fn StorPortPause(HwDeviceExtension: PVOID, TimeOut: ULONG) -> BOOLEAN;
    /// `StorPortResume`.
    pub fn StorPortResume(HwDeviceExtension: PVOID) -> BOOLEAN;
    /// `StorPortReady`.
    pub fn StorPortReady(HwDeviceExtension: PVOID) -> BOOLEAN;
    /// `StorPortBusy`.
    pub fn StorPortBusy(HwDeviceExtension: PVOID, RequestsToComplete: ULONG) -> BOOLEAN;
}

#[cfg_attr(target_os = "windows", link(name = "storport"))]
unsafe extern "C" {
    /// `StorPortNotification(NotificationType, HwDeviceExtension, ...)`.
    pub fn StorPortNotification(
        NotificationType: SCSI_NOTIFICATION_TYPE,
        HwDeviceExtension: PVOID,
        ...
    );
    /// `StorPortExtendedFunction(FunctionCode, HwDeviceExtension, ...)`.
    pub fn StorPortExtendedFunction(FunctionCode: u32, HwDeviceExtension: PVOID, ...) -> ULONG;
    /// `StorPortDebugPrint(DebugPrintLevel, DebugMessage, ...)`.
    pub fn StorPortDebugPrint(DebugPrintLevel: ULONG, DebugMessage: PCSTR, ...);
}
