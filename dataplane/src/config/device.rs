//! DPDK device strings: a PCI address (a physical function or an SR-IOV
//! virtual function, optionally with devargs) or a virtual device.

/// Drivers we accept for `--vdev` devices, with what they are for.
const VDEV_DRIVERS: &[(&str, &str)] = &[
    ("net_tap", "kernel tap interface"),
    ("net_pcap", "pcap file or kernel interface"),
    ("net_ring", "in-memory rings"),
    ("net_null", "null device (benchmarks)"),
    ("net_vhost", "vhost-user VM port"),
    ("net_virtio_user", "virtio-user (container port)"),
    ("net_af_xdp", "AF_XDP socket on a kernel interface"),
    ("net_af_packet", "AF_PACKET socket on a kernel interface"),
    ("net_memif", "shared-memory interface"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// PCI device, passed to EAL with `--allow`.
    Pci,
    /// Virtual device, passed with `--vdev`.
    Vdev,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub kind: DeviceKind,
    /// The full string as given (EAL argument).
    pub spec: String,
    /// The ethdev name DPDK gives the port (`net_tap0`, `0000:3b:02.0`).
    pub name: String,
    /// Driver (`net_tap`, or `pci`).
    pub driver: String,
    /// `key=value` device arguments.
    pub args: Vec<(String, String)>,
}

impl Device {
    /// Parses a device string; an error carries the byte offset of the
    /// offending character within `s`.
    pub fn parse(s: &str) -> Result<Device, (usize, String)> {
        let (head, rest) = match s.find(',') {
            Some(i) => (&s[..i], Some(i)),
            None => (s, None),
        };
        if head.is_empty() {
            return Err((0, "empty device name; expected a PCI address (0000:3b:02.0) or a vdev (net_tap0,iface=...)".into()));
        }
        let args = match rest {
            Some(i) => parse_args(&s[i + 1..], i + 1)?,
            None => Vec::new(),
        };
        if let Some(name) = pci_address(head) {
            return Ok(Device {
                kind: DeviceKind::Pci,
                spec: s.to_string(),
                name,
                driver: "pci".into(),
                args,
            });
        }
        if head.as_bytes()[0].is_ascii_hexdigit() && head.contains(':') {
            return Err((0, format!("bad PCI address {head:?}; expected DOMAIN:BUS:DEVICE.FUNCTION such as 0000:3b:02.0")));
        }
        let driver = VDEV_DRIVERS
            .iter()
            .map(|(d, _)| *d)
            .filter(|d| head.starts_with(d))
            .max_by_key(|d| d.len())
            .ok_or_else(|| {
                let known: Vec<&str> = VDEV_DRIVERS.iter().map(|(d, _)| *d).collect();
                (0, format!("unknown device {head:?}; expected a PCI address or a vdev named after its driver: {}", known.join(", ")))
            })?;
        let suffix = &head[driver.len()..];
        if let Some(bad) = suffix.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            return Err((
                driver.len() + bad,
                format!("bad character in device name {head:?}; expected letters, digits or '_'"),
            ));
        }
        if suffix.is_empty() {
            return Err((
                driver.len(),
                format!("vdev name {head:?} needs an instance suffix, e.g. {driver}0"),
            ));
        }
        Ok(Device {
            kind: DeviceKind::Vdev,
            spec: s.to_string(),
            name: head.to_string(),
            driver: driver.into(),
            args,
        })
    }

    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Queue limit implied by the device arguments, where the driver has one.
    pub fn max_queues(&self) -> Option<u16> {
        let key = match self.driver.as_str() {
            "net_vhost" => "queues",
            "net_af_xdp" => "queue_count",
            "net_virtio_user" => "queues",
            _ => return None,
        };
        Some(self.arg(key).and_then(|v| v.parse().ok()).unwrap_or(1))
    }
}

fn parse_args(s: &str, base: usize) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    let mut off = 0;
    for part in s.split(',') {
        let at = base + off;
        let Some(eq) = part.find('=') else {
            return Err((
                at,
                format!("device argument {part:?} has no '='; expected key=value"),
            ));
        };
        let (k, v) = (&part[..eq], &part[eq + 1..]);
        if k.is_empty() {
            return Err((at, "empty device argument key; expected key=value".into()));
        }
        if let Some(bad) = k.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
            return Err((
                at + bad,
                format!("bad character in device argument key {k:?}"),
            ));
        }
        if v.is_empty() {
            return Err((
                at + eq + 1,
                format!("device argument {k:?} has an empty value"),
            ));
        }
        out.push((k.to_string(), v.to_string()));
        off += part.len() + 1;
    }
    Ok(out)
}

/// `0000:3b:02.0` or `3b:02.0` → the full, lower-case address.
fn pci_address(s: &str) -> Option<String> {
    let hex = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = s.split(':').collect();
    let (dom, bus, devfn) = match parts.as_slice() {
        [d, b, df] => (*d, *b, *df),
        [b, df] => ("0000", *b, *df),
        _ => return None,
    };
    let (dev, func) = devfn.split_once('.')?;
    let ok = hex(dom, 4)
        && hex(bus, 2)
        && hex(dev, 2)
        && func.len() == 1
        && matches!(func.as_bytes()[0], b'0'..=b'7');
    ok.then(|| format!("{dom}:{bus}:{dev}.{func}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_forms() {
        let d = Device::parse("0000:3B:02.1").unwrap();
        assert_eq!((d.kind, d.name.as_str()), (DeviceKind::Pci, "0000:3b:02.1"));
        let d = Device::parse("3b:02.0,txq_inline=0").unwrap();
        assert_eq!(d.name, "0000:3b:02.0");
        assert_eq!(d.arg("txq_inline"), Some("0"));
        assert!(Device::parse("3b:02.9").unwrap_err().1.contains("PCI"));
    }

    #[test]
    fn vdev_forms() {
        let d = Device::parse("net_tap0,iface=sl0").unwrap();
        assert_eq!(
            (d.kind, d.name.as_str(), d.driver.as_str()),
            (DeviceKind::Vdev, "net_tap0", "net_tap")
        );
        let d = Device::parse("net_vhost1,iface=/tmp/vm1.sock,queues=4").unwrap();
        assert_eq!(d.max_queues(), Some(4));
        assert_eq!(
            Device::parse("net_af_xdp0,iface=eth0")
                .unwrap()
                .max_queues(),
            Some(1)
        );
        assert_eq!(
            Device::parse("net_virtio_user0,path=/x").unwrap().driver,
            "net_virtio_user"
        );
    }

    #[test]
    fn errors_point_at_the_character() {
        assert_eq!(Device::parse("net_tap0,iface").unwrap_err().0, 9);
        assert_eq!(Device::parse("net_tap0,iface=a,=b").unwrap_err().0, 17);
        assert_eq!(Device::parse("net_tap0,iface=").unwrap_err().0, 15);
        assert_eq!(Device::parse("net_ta p0").unwrap_err().0, 0);
        assert_eq!(Device::parse("net_tap$").unwrap_err().0, 7);
        assert!(Device::parse("net_tap")
            .unwrap_err()
            .1
            .contains("instance suffix"));
        assert!(Device::parse("eth0")
            .unwrap_err()
            .1
            .contains("unknown device"));
        assert!(Device::parse("").is_err());
    }
}
