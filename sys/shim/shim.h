/*
 * Sluice's C shim over DPDK.
 *
 * DPDK's fast-path API (rx/tx burst, mbuf alloc/free/prepend/...) is made of
 * static-inline functions and thread-local macros (rte_errno, rte_lcore_id)
 * that have no symbol to link against. Each sluice_* function below forwards
 * to exactly one of them, with the same arguments, and nothing else: no
 * logic lives here. bindgen reads this header (it also pulls in the DPDK
 * headers the Rust side binds) and generates the Rust declarations, so the
 * two sides cannot drift apart.
 */
#ifndef SLUICE_SHIM_H
#define SLUICE_SHIM_H

#include <stdint.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_version.h>

/* rte_errno of the calling thread (a per-lcore TLS variable behind a macro). */
int sluice_errno(void);

/* rte_lcore_id(): LCORE_ID_ANY for threads that are neither EAL lcores nor registered. */
unsigned int sluice_lcore_id(void);

uint16_t sluice_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			     struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t sluice_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			     struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

struct rte_mbuf *sluice_pktmbuf_alloc(struct rte_mempool *mp);
int sluice_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			      unsigned int count);
void sluice_pktmbuf_free(struct rte_mbuf *m);

char *sluice_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *sluice_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
char *sluice_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
int sluice_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);

uint16_t sluice_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value);

uint64_t sluice_rdtsc(void);
void sluice_prefetch0(const void *p);

/* RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP: built from RTE_BIT64()
 * macros, which bindgen cannot evaluate. */
uint64_t sluice_eth_rss_ip_tcp_udp(void);

#endif /* SLUICE_SHIM_H */
