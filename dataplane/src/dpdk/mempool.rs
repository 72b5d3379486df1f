//! [`Mempool`]: a DPDK packet-mbuf pool (`rte_pktmbuf_pool_create`).

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use dpdk_sys as sys;

use super::eal::{lifecycle, PoolRecord};
use super::error::DpdkError;

/// Headroom DPDK reserves in front of packet data in every mbuf.
pub const MBUF_HEADROOM: u16 = sys::RTE_PKTMBUF_HEADROOM as u16;
/// DPDK's default data room: 2048 bytes of packet plus [`MBUF_HEADROOM`].
pub const DEFAULT_DATA_ROOM: u16 = sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;
/// "Any NUMA socket".
pub const SOCKET_ANY: i32 = sys::SOCKET_ID_ANY;

/// A pool of packet mbufs.
///
/// # Design
/// A cheap, clonable handle (`Arc`) to a pool that DPDK owns. The pool's
/// memory is never given back while EAL runs: an mbuf may be on its way back
/// into the pool on another thread (inside `rte_pktmbuf_free`, after the
/// counters already show it home), and nothing tells us when the last one has
/// landed, so freeing would risk a use after free. Create pools once at
/// start-up; a pool whose handles all dropped is leaked, and its name stays
/// taken.
///
/// The handle's methods need a running EAL, which [`Eal::cleanup`] ensures
/// by refusing while any handle exists.
///
/// [`Eal::cleanup`]: super::Eal::cleanup
///
/// # Threads
/// `Send + Sync`: DPDK pools are multi-producer/multi-consumer (default
/// flags); each registered lcore has its own cache, touched only by that
/// lcore, and unregistered threads bypass the caches. The counters read by
/// [`available`](Self::available) are approximate while other threads
/// allocate or free.
#[derive(Clone)]
pub struct Mempool {
    raw: NonNull<sys::rte_mempool>,
    inner: Arc<PoolInner>,
}

struct PoolInner {
    name: String,
    capacity: u32,
    data_room: u16,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        let mut lc = lifecycle();
        lc.pool_handles = lc.pool_handles.saturating_sub(1);
    }
}

// SAFETY: see "Threads" above: every operation reachable through a Mempool
// (mbuf alloc/free, pool counters) is thread-safe in DPDK, and the pool is
// never freed while a handle exists (it is never freed at all).
unsafe impl Send for Mempool {}
// SAFETY: as for Send; the handle itself is immutable.
unsafe impl Sync for Mempool {}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.inner.name)
            .field("capacity", &self.inner.capacity)
            .field("data_room", &self.inner.data_room)
            .finish()
    }
}

impl Mempool {
    /// Creates a pool of `n_mbufs` mbufs whose buffers hold `data_room`
    /// bytes (headroom included: use [`DEFAULT_DATA_ROOM`] for 2048-byte
    /// packets), with a per-lcore cache of `cache_size` mbufs, on NUMA
    /// `socket` ([`SOCKET_ANY`] or a socket id).
    ///
    /// DPDK limits: `cache_size` ≤ 512 and ≤ `n_mbufs / 1.5`; `n_mbufs` is
    /// best a power of two minus one; the name must be unique in the process
    /// and at most 25 bytes.
    pub fn new(
        name: &str,
        n_mbufs: u32,
        cache_size: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool, DpdkError> {
        let invalid = |detail: String| DpdkError::InvalidArgument {
            what: "mempool",
            detail,
        };
        if name.is_empty() {
            return Err(invalid("empty name".to_owned()));
        }
        let c_name =
            CString::new(name).map_err(|_| invalid(format!("name {name:?} contains NUL")))?;
        if n_mbufs == 0 {
            return Err(invalid(format!("{name:?}: n_mbufs must be at least 1")));
        }
        if data_room <= MBUF_HEADROOM {
            return Err(invalid(format!(
                "{name:?}: data_room {data_room} leaves no room after the {MBUF_HEADROOM}-byte headroom"
            )));
        }

        let mut lc = lifecycle();
        lc.ensure_running()?;
        // SAFETY: EAL is running (checked under the lock, so cleanup cannot
        // run concurrently); c_name is a valid NUL-terminated string that
        // DPDK copies.
        let raw = unsafe {
            sys::rte_pktmbuf_pool_create(c_name.as_ptr(), n_mbufs, cache_size, 0, data_room, socket)
        };
        let raw = NonNull::new(raw).ok_or_else(|| {
            DpdkError::from_rte_errno(format!(
                "rte_pktmbuf_pool_create(name={name:?}, n_mbufs={n_mbufs}, cache_size={cache_size}, \
                 data_room={data_room}, socket={socket})"
            ))
        })?;
        lc.pool_handles += 1;
        lc.pools.push(PoolRecord(raw));
        Ok(Mempool {
            raw,
            inner: Arc::new(PoolInner {
                name: name.to_owned(),
                capacity: n_mbufs,
                data_room,
            }),
        })
    }

    /// Mbufs currently in the pool (ring plus per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid for the life of the process (never
        // freed); the count is a read-only walk of the ring and caches.
        unsafe { sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Mbufs currently out of the pool (held by the application or queued
    /// in a device's rx/tx rings).
    pub fn in_use(&self) -> u32 {
        // SAFETY: as for `available`.
        unsafe { sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// Number of mbufs the pool was created with.
    pub fn capacity(&self) -> u32 {
        self.inner.capacity
    }

    /// Buffer size of each mbuf, headroom included.
    pub fn data_room(&self) -> u16 {
        self.inner.data_room
    }

    /// The name the pool was created with.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    #[inline]
    pub(super) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.raw.as_ptr()
    }
}
