# Shared by the benchmark scripts (sourced, not run).

# sluice_mpps BIN CONFIG SECS WORKDIR: starts `BIN run --config CONFIG`,
# waits 2 s, and prints the Mpps sent on port "out" over SECS seconds
# (from /metrics counters and the measured interval).
sluice_mpps() {
  local bin=$1 config=$2 secs=$3 work=$4
  # Emptied here: the child's redirection may come after the first grep,
  # which would find the previous run's address.
  : >"$work/err"
  "$bin" run --config "$config" >"$work/out" 2>>"$work/err" &
  local pid=$! addr=""
  for _ in $(seq 600); do
    addr=$(grep -o 'admin listening on http://[^/]*/metrics' "$work/err" | sed 's|.*http://||; s|/metrics||' || true)
    [[ -n $addr ]] && break
    sleep 0.05
  done
  [[ -n $addr ]] || { cat "$work/err" >&2; kill "$pid"; return 1; }
  sleep 2
  local t0 p0 t1 p1
  t0=$(date +%s.%N); p0=$(port_counter "$addr" sluice_port_tx_packets_total out)
  sleep "$secs"
  t1=$(date +%s.%N); p1=$(port_counter "$addr" sluice_port_tx_packets_total out)
  kill -TERM "$pid"; wait "$pid" || true
  [[ -n $p0 && -n $p1 ]] || { echo "sluice_mpps: no counters; sluice said:" >&2; tail -5 "$work/err" >&2; echo nan; return 0; }
  python3 -c "print(f'{($p1-$p0)/($t1-$t0)/1e6:.2f}')"
}

# port_counter ADDR METRIC PORT: one port's sample from /metrics.
port_counter() {
  curl -fsS "http://$1/metrics" | awk -v n="$2" -v p="port=\"$3\"" '$1 ~ "^"n"\\{" && index($1, p) {print $2}'
}

# testpmd_tx_mpps LOGFILE: the median per-second Tx-pps of port 1 in a
# testpmd --stats-period=1 log, skipping the first SKIP samples (ramp-up).
testpmd_tx_mpps() {
  local log=$1 skip=${2:-2}
  awk '/NIC statistics for port 1/ {p1=1} /NIC statistics for port 0/ {p1=0}
       p1 && /Tx-pps:/ {for (i = 1; i < NF; i++) if ($i == "Tx-pps:") print $(i + 1)}' "$log" |
    tail -n +$((skip + 1)) | sort -n |
    awk '{a[NR]=$1} END {if (NR==0) {print "nan"; exit} printf "%.2f\n", a[int((NR+1)/2)]/1e6}'
}
