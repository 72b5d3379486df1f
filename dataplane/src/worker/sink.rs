//! The worker's side of the pipeline's [`Sink`]: outputs go into the tx
//! buffers of their ports, copies and packet-ins come from the mempool.

use super::count_tx;
use crate::dpdk::{Mbuf, Mempool, TxBuffer, TxQueue};
use crate::pipeline::{PacketInInfo, Sink};
use crate::stats::{DropReason, WorkerStats};

pub(super) struct WorkerSink<'a> {
    pool: &'a Mempool,
    tx: &'a mut [TxQueue],
    txbuf: &'a mut [TxBuffer],
    stats: &'a WorkerStats,
    punt: &'a crossbeam_channel::Sender<(Mbuf, PacketInInfo)>,
    /// Ports with packets buffered during this burst (bit per port index).
    touched: u64,
    /// Ports that are administratively down (bit per port index).
    down: u64,
}

impl<'a> WorkerSink<'a> {
    pub(super) fn new(
        pool: &'a Mempool,
        tx: &'a mut [TxQueue],
        txbuf: &'a mut [TxBuffer],
        stats: &'a WorkerStats,
        punt: &'a crossbeam_channel::Sender<(Mbuf, PacketInInfo)>,
        down: u64,
    ) -> Self {
        Self {
            pool,
            tx,
            txbuf,
            stats,
            punt,
            touched: 0,
            down,
        }
    }

    /// Queues `m` for port index `port` (flushing that buffer when full).
    #[inline]
    pub(super) fn push(&mut self, port: usize, m: Mbuf) {
        if port >= self.tx.len() {
            // The pipeline only outputs to configured ports; be safe anyway.
            self.stats.count_drop(DropReason::NoRoute, 1);
            return;
        }
        if self.down >> port & 1 == 1 {
            self.stats.count_drop(DropReason::PortDown, 1);
            return;
        }
        self.touched |= 1 << port;
        let r = self.txbuf[port].push(m, &mut self.tx[port]);
        count_tx(self.stats, port, r);
    }

    /// Sends what this burst buffered.
    pub(super) fn flush(&mut self) {
        while self.touched != 0 {
            let p = self.touched.trailing_zeros() as usize;
            self.touched &= self.touched - 1;
            let r = self.txbuf[p].flush(&mut self.tx[p]);
            count_tx(self.stats, p, r);
        }
    }
}

impl Sink<Mbuf> for WorkerSink<'_> {
    #[inline]
    fn copy_out(&mut self, port: u32, _queue: Option<u32>, pkt: &Mbuf) {
        match pkt.try_copy(self.pool) {
            Some(c) => self.push(port as usize, c),
            None => self.stats.count_drop(DropReason::NoMbuf, 1),
        }
    }

    #[inline]
    fn send(&mut self, port: u32, _queue: Option<u32>, pkt: Mbuf) {
        self.push(port as usize, pkt);
    }

    fn packet_in(&mut self, info: &PacketInInfo, pkt: &Mbuf) {
        let len = info.len.min(pkt.len());
        match Mbuf::from_slice(self.pool, &pkt.data()[..len]) {
            Some(c) => {
                if self.punt.try_send((c, *info)).is_err() {
                    self.stats.count_drop(DropReason::PuntFull, 1);
                } else {
                    self.stats.punted.add(1);
                }
            }
            None => self.stats.count_drop(DropReason::NoMbuf, 1),
        }
    }

    #[inline]
    fn clone_packet(&mut self, pkt: &Mbuf) -> Option<Mbuf> {
        pkt.try_copy(self.pool)
    }
}
