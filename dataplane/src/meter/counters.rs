//! Counter snapshots, summed over workers by the admin thread.
//!
//! Workers count in their own slots (single-writer `AtomicU64`s, bumped
//! with a relaxed load and store: a plain `mov` pair, no locked
//! instruction). The admin thread reads every worker's slots with relaxed
//! loads and adds them up into the plain structs below, which is what
//! metrics and `dump-meters` consume. A snapshot taken while workers run is
//! a consistent count per field, not across fields.

use std::ops::AddAssign;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::Color;

/// What happened to a packet after it was colored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Forwarded unchanged.
    Passed = 0,
    Dropped = 1,
    /// Forwarded with a new DSCP.
    Remarked = 2,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Passed, Outcome::Dropped, Outcome::Remarked];

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Dropped => "dropped",
            Outcome::Remarked => "remarked",
        }
    }
}

/// Packets and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Count {
    pub packets: u64,
    pub bytes: u64,
}

impl AddAssign for Count {
    fn add_assign(&mut self, o: Count) {
        self.packets = self.packets.wrapping_add(o.packets);
        self.bytes = self.bytes.wrapping_add(o.bytes);
    }
}

impl Count {
    pub(crate) fn load(cells: &[AtomicU64; 2]) -> Count {
        Count {
            packets: cells[0].load(Relaxed),
            bytes: cells[1].load(Relaxed),
        }
    }
}

/// Outcomes of the packets of one color.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ColorCounters {
    pub passed: Count,
    pub dropped: Count,
    pub remarked: Count,
}

impl ColorCounters {
    pub fn get(&self, outcome: Outcome) -> Count {
        match outcome {
            Outcome::Passed => self.passed,
            Outcome::Dropped => self.dropped,
            Outcome::Remarked => self.remarked,
        }
    }

    pub fn get_mut(&mut self, outcome: Outcome) -> &mut Count {
        match outcome {
            Outcome::Passed => &mut self.passed,
            Outcome::Dropped => &mut self.dropped,
            Outcome::Remarked => &mut self.remarked,
        }
    }

    /// Passed plus remarked.
    pub fn forwarded(&self) -> Count {
        let mut c = self.passed;
        c += self.remarked;
        c
    }

    pub fn total(&self) -> Count {
        let mut c = self.forwarded();
        c += self.dropped;
        c
    }
}

impl AddAssign for ColorCounters {
    fn add_assign(&mut self, o: ColorCounters) {
        self.passed += o.passed;
        self.dropped += o.dropped;
        self.remarked += o.remarked;
    }
}

/// A tenant's counters: per color, per outcome, packets and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TenantCounters {
    pub green: ColorCounters,
    pub yellow: ColorCounters,
    pub red: ColorCounters,
}

impl TenantCounters {
    pub fn color(&self, c: Color) -> &ColorCounters {
        match c {
            Color::Green => &self.green,
            Color::Yellow => &self.yellow,
            Color::Red => &self.red,
        }
    }

    pub fn color_mut(&mut self, c: Color) -> &mut ColorCounters {
        match c {
            Color::Green => &mut self.green,
            Color::Yellow => &mut self.yellow,
            Color::Red => &mut self.red,
        }
    }

    /// All colors, one outcome.
    pub fn outcome(&self, o: Outcome) -> Count {
        let mut c = self.green.get(o);
        c += self.yellow.get(o);
        c += self.red.get(o);
        c
    }

    /// Everything forwarded (passed or remarked), all colors.
    pub fn forwarded(&self) -> Count {
        let mut c = self.outcome(Outcome::Passed);
        c += self.outcome(Outcome::Remarked);
        c
    }

    pub fn total(&self) -> Count {
        let mut c = self.forwarded();
        c += self.outcome(Outcome::Dropped);
        c
    }
}

impl AddAssign for TenantCounters {
    fn add_assign(&mut self, o: TenantCounters) {
        self.green += o.green;
        self.yellow += o.yellow;
        self.red += o.red;
    }
}

/// An OpenFlow meter's statistics (`ofp_meter_stats` without the flow
/// count and duration, which the pipeline knows): packets and bytes that
/// entered the meter, and per band (in configured order) those the band
/// applied to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MeterCounters {
    pub input: Count,
    pub bands: Vec<Count>,
}

impl AddAssign<&MeterCounters> for MeterCounters {
    fn add_assign(&mut self, o: &MeterCounters) {
        self.input += o.input;
        if self.bands.len() < o.bands.len() {
            self.bands.resize(o.bands.len(), Count::default());
        }
        for (a, b) in self.bands.iter_mut().zip(&o.bands) {
            *a += *b;
        }
    }
}

/// Adds one packet of `len` bytes to a single-writer counter pair.
#[inline(always)]
pub(crate) fn bump(cells: &[AtomicU64; 2], len: u32) {
    let [p, b] = cells;
    p.store(p.load(Relaxed).wrapping_add(1), Relaxed);
    b.store(b.load(Relaxed).wrapping_add(u64::from(len)), Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums() {
        let mut t = TenantCounters::default();
        t.green.passed = Count {
            packets: 2,
            bytes: 200,
        };
        t.yellow.remarked = Count {
            packets: 1,
            bytes: 50,
        };
        t.red.dropped = Count {
            packets: 3,
            bytes: 300,
        };
        assert_eq!(
            t.forwarded(),
            Count {
                packets: 3,
                bytes: 250
            }
        );
        assert_eq!(
            t.total(),
            Count {
                packets: 6,
                bytes: 550
            }
        );
        let mut u = t;
        u += t;
        assert_eq!(
            u.outcome(Outcome::Dropped),
            Count {
                packets: 6,
                bytes: 600
            }
        );
        assert_eq!(u.color(Color::Yellow).forwarded().bytes, 100);

        let cells = [AtomicU64::new(0), AtomicU64::new(0)];
        bump(&cells, 1500);
        bump(&cells, 64);
        assert_eq!(
            Count::load(&cells),
            Count {
                packets: 2,
                bytes: 1564
            }
        );

        let mut m = MeterCounters::default();
        m += &MeterCounters {
            input: Count {
                packets: 1,
                bytes: 1,
            },
            bands: vec![
                Count {
                    packets: 1,
                    bytes: 1
                };
                2
            ],
        };
        m += &m.clone();
        assert_eq!(
            m.bands,
            vec![
                Count {
                    packets: 2,
                    bytes: 2
                };
                2
            ]
        );
    }
}
