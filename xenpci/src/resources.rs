//! Choosing the Xen platform device's resources from the lists IRP_MN_START_DEVICE carries.
//!
//! The device (`5853:0001`) has BAR 0 = 256 I/O ports and BAR 1 = a prefetchable memory BAR
//! (16 MiB on qemu-xen) whose pages become the home of `shared_info` and the grant frames, and
//! one line-based interrupt (INTA#). The **raw** list gives the interrupt's line as the I/O APIC
//! sees it, which is the GSI Xen must raise (`HVM_PARAM_CALLBACK_IRQ` type 0); the
//! **translated** list gives the CPU-physical address to map and the port to use.

use core::fmt;

/// One `CM_PARTIAL_RESOURCE_DESCRIPTOR`, decoded by the glue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// `CmResourceTypePort`.
    Port {
        /// First port.
        start: u64,
        /// Number of ports.
        length: u32,
    },
    /// `CmResourceTypeMemory`.
    Memory {
        /// Physical address.
        start: u64,
        /// Length in bytes.
        length: u32,
    },
    /// `CmResourceTypeInterrupt`.
    Interrupt {
        /// Raw: the IRQ line / GSI. Translated: the IRQL.
        level: u32,
        /// Raw: the IRQ line / GSI. Translated: the IDT vector.
        vector: u32,
    },
    /// Any other type (DMA, device-specific, ...), ignored.
    Other(u8),
}

/// What the bring-up needs from the lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformDeviceResources {
    /// CPU-physical address of the memory BAR (translated).
    pub bar_start: u64,
    /// Its length.
    pub bar_length: u64,
    /// First I/O port of BAR 0 (translated), if assigned.
    pub port: Option<u16>,
    /// The interrupt's GSI (raw list).
    pub gsi: u32,
}

/// A resource the platform device cannot run without is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceError {
    /// No memory BAR in the translated list.
    NoMemory,
    /// No interrupt in the raw list.
    NoInterrupt,
}

impl fmt::Display for ResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceError::NoMemory => {
                f.write_str("no memory BAR was assigned to the Xen platform device")
            }
            ResourceError::NoInterrupt => {
                f.write_str("no interrupt was assigned to the Xen platform device")
            }
        }
    }
}

/// Picks the largest memory range and the first port range from `translated`, and the first
/// interrupt's line from `raw`.
pub fn select(
    raw: &[Resource],
    translated: &[Resource],
) -> Result<PlatformDeviceResources, ResourceError> {
    let mut bar: Option<(u64, u64)> = None;
    let mut port = None;
    for resource in translated {
        match *resource {
            Resource::Memory { start, length } => {
                let length = u64::from(length);
                if bar.is_none_or(|(_, len)| length > len) {
                    bar = Some((start, length));
                }
            }
            Resource::Port { start, .. } if port.is_none() => port = u16::try_from(start).ok(),
            _ => {}
        }
    }
    let (bar_start, bar_length) = bar.ok_or(ResourceError::NoMemory)?;
    let gsi = raw
        .iter()
        .find_map(|r| match *r {
            Resource::Interrupt { vector, .. } => Some(vector),
            _ => None,
        })
        .ok_or(ResourceError::NoInterrupt)?;
    Ok(PlatformDeviceResources {
        bar_start,
        bar_length,
        port,
        gsi,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_xen_platform_device() {
        // What Windows assigns on qemu-xen: ports at 0xc000, 16 MiB at 0xf0000000, IRQ 28
        // (raw) translated to IRQL 8 / vector 0x80.
        let raw = [
            Resource::Port {
                start: 0xc000,
                length: 256,
            },
            Resource::Memory {
                start: 0xf000_0000,
                length: 16 << 20,
            },
            Resource::Interrupt {
                level: 28,
                vector: 28,
            },
        ];
        let translated = [
            Resource::Port {
                start: 0xc000,
                length: 256,
            },
            Resource::Memory {
                start: 0xf000_0000,
                length: 16 << 20,
            },
            Resource::Interrupt {
                level: 8,
                vector: 0x80,
            },
        ];
        assert_eq!(
            select(&raw, &translated),
            Ok(PlatformDeviceResources {
                bar_start: 0xf000_0000,
                bar_length: 16 << 20,
                port: Some(0xc000),
                gsi: 28
            })
        );
    }

    #[test]
    fn largest_memory_range_wins_and_others_are_ignored() {
        let translated = [
            Resource::Other(7),
            Resource::Memory {
                start: 0x1000,
                length: 4096,
            },
            Resource::Memory {
                start: 0xf100_0000,
                length: 1 << 20,
            },
            Resource::Port {
                start: 0x1_0000,
                length: 4,
            },
        ];
        let raw = [Resource::Interrupt {
            level: 5,
            vector: 5,
        }];
        let r = select(&raw, &translated).unwrap();
        assert_eq!((r.bar_start, r.bar_length), (0xf100_0000, 1 << 20));
        // A port number beyond 16 bits is not a port.
        assert_eq!(r.port, None);
        assert_eq!(r.gsi, 5);
    }

    #[test]
    fn missing_resources_are_named() {
        let raw = [Resource::Interrupt {
            level: 5,
            vector: 5,
        }];
        assert_eq!(select(&raw, &[]), Err(ResourceError::NoMemory));
        let translated = [Resource::Memory {
            start: 0xf000_0000,
            length: 1 << 24,
        }];
        assert_eq!(select(&[], &translated), Err(ResourceError::NoInterrupt));
    }
}
