//! Fuzz the pcap reader on arbitrary files: typed errors, no panics, no
//! runaway allocation; every record read is then parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::wire::pcap::PcapReader;
use sluice::wire::{parse, FlowKey};

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = PcapReader::new(data) else {
        return;
    };
    let mut key = FlowKey::default();
    for rec in reader.take(10_000) {
        match rec {
            Ok(r) => {
                let _ = parse(&r.data, 0, &mut key);
            }
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
});
