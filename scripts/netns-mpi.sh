#!/usr/bin/env bash
# Two machines simulated on one: two network namespaces joined by a veth
# pair (10.77.0.1/24 and 10.77.0.2/24, no other interface, no route out),
# a host file naming the two addresses, and MPICH's mpiexec (Hydra)
# starting one rank in each namespace through this same script as its
# "ssh" (-launcher-exec). See docs/distributed.md.
#
#   sudo scripts/netns-mpi.sh [--timeout SECONDS] -- COMMAND [ARGS...]
#
# runs `mpiexec -f HOSTS -n 2 -ppn 1 COMMAND ARGS...`, e.g.
#
#   sudo scripts/netns-mpi.sh -- target/release/chainrule train --distributed \
#       --threads 1 --data digits --out runs/netns
#
# The ranks talk over TCP on the veth pair only (UCX_TLS=tcp,self: no
# shared memory between the "machines"); mpiexec runs inside the first
# namespace. The run is bounded by the timeout (default 300 s), and the
# namespaces are removed when the script ends, however it ends. At the
# end the script prints the bytes that crossed the veth pair:
# `netns-mpi: veth bytes a->b N, b->a M`. Needs root, iproute2 and MPICH.
set -euo pipefail

# Launcher mode: Hydra calls its launcher as `ssh`: `-x HOST COMMAND...`,
# with the command one shell string (split into words by Hydra). Run it
# in the namespace that holds HOST's address.
if [ "${1:-}" = "-x" ]; then
    host=$2
    shift 2
    case "$host" in
        10.77.0.1) ns=$NETNS_MPI_A ;;
        10.77.0.2) ns=$NETNS_MPI_B ;;
        *) echo "netns-mpi: no namespace holds host $host" >&2; exit 1 ;;
    esac
    exec ip netns exec "$ns" sh -c "$*"
fi

limit=300
if [ "${1:-}" = "--timeout" ]; then
    limit=$2
    shift 2
fi
[ "${1:-}" = "--" ] && shift
if [ $# -eq 0 ]; then
    echo "usage: $0 [--timeout SECONDS] -- COMMAND [ARGS...]" >&2
    exit 2
fi
[ "$(id -u)" = 0 ] || { echo "netns-mpi: needs root (network namespaces)" >&2; exit 1; }
command -v ip >/dev/null || { echo "netns-mpi: needs ip (iproute2)" >&2; exit 1; }
command -v mpiexec >/dev/null || { echo "netns-mpi: needs mpiexec (MPICH)" >&2; exit 1; }

tag="crmpi$$"
export NETNS_MPI_A="$tag-a" NETNS_MPI_B="$tag-b"
work=$(mktemp -d)
cleanup() {
    # Processes left in the namespaces (a rank that outlived a timeout)
    # are this script's own: end them before the namespaces go.
    for ns in "$NETNS_MPI_A" "$NETNS_MPI_B"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -9 "$pid" 2>/dev/null || true
        done
    done
    ip netns del "$NETNS_MPI_A" 2>/dev/null || true
    ip netns del "$NETNS_MPI_B" 2>/dev/null || true
    # A veth end not yet moved into its namespace (a failure in between).
    ip link del "$tag-va" 2>/dev/null || true
    ip link del "$tag-vb" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NETNS_MPI_A"
ip netns add "$NETNS_MPI_B"
ip link add "$tag-va" type veth peer name "$tag-vb"
ip link set "$tag-va" netns "$NETNS_MPI_A"
ip link set "$tag-vb" netns "$NETNS_MPI_B"
for side in A:va:10.77.0.1 B:vb:10.77.0.2; do
    IFS=: read -r which dev addr <<<"$side"
    ns=$([ "$which" = A ] && echo "$NETNS_MPI_A" || echo "$NETNS_MPI_B")
    ip -n "$ns" link set "$tag-$dev" name mpi0
    ip -n "$ns" addr add "$addr/24" dev mpi0
    ip -n "$ns" link set mpi0 up
    ip -n "$ns" link set lo up
done
printf '10.77.0.1:1\n10.77.0.2:1\n' >"$work/hosts"

self=$(readlink -f "$0")
status=0
timeout -k 5 "$limit" ip netns exec "$NETNS_MPI_A" \
    mpiexec -f "$work/hosts" -n 2 -ppn 1 -localhost 10.77.0.1 -iface mpi0 \
    -launcher ssh -launcher-exec "$self" \
    -genv UCX_TLS tcp,self -genv UCX_NET_DEVICES mpi0 \
    "$@" || status=$?
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "netns-mpi: stopped after the ${limit} s timeout" >&2
fi
tx=$(ip netns exec "$NETNS_MPI_A" cat /sys/class/net/mpi0/statistics/tx_bytes)
rx=$(ip netns exec "$NETNS_MPI_A" cat /sys/class/net/mpi0/statistics/rx_bytes)
echo "netns-mpi: veth bytes a->b $tx, b->a $rx"
exit "$status"
