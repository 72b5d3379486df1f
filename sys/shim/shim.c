/* One-line forwarders to DPDK's static-inline functions; see shim.h. */
#include "shim.h"

int sluice_errno(void) { return rte_errno; }

unsigned int sluice_lcore_id(void) { return rte_lcore_id(); }

uint16_t sluice_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			     struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t sluice_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			     struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *sluice_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int sluice_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			      unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void sluice_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

char *sluice_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_prepend(m, len);
}

char *sluice_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_adj(m, len);
}

char *sluice_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

int sluice_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

uint16_t sluice_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value)
{
	return rte_mbuf_refcnt_update(m, value);
}

uint64_t sluice_rdtsc(void) { return rte_rdtsc(); }

void sluice_prefetch0(const void *p) { rte_prefetch0(p); }

uint64_t sluice_eth_rss_ip_tcp_udp(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}
