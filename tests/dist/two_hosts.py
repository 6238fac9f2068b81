#!/usr/bin/env python3
"""Two ranks on two "hosts" talking TCP only: two network namespaces joined by a veth pair stand
for two machines, and Open MPI launches one rank in each (through `ip netns exec`, as it would
through ssh) with shared memory turned off. The program it runs checks its training against one
process, as under a plain mpirun.

Usage: two_hosts.py MPIRUN PROGRAM [ARGS...]
Exits 77 (skipped) where namespaces cannot be made: not root, or no `ip` (iproute2)."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

SKIPPED = 77
SUBNET = "10.77.0.0/24"
STARTED = "rank(s), backend"  # the program's first line on rank 0 (dist_check.cpp)


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, text=True)


def run_ranks(command):
    """mpirun's exit status. A launch that never reached the program (no rank-0 banner) is tried
    once more, since under a full `ctest -j 2` Open MPI's start-up of the second host's daemon
    has failed now and then (its session directory, once); a failed check is never retried."""
    for attempt in (1, 2):
        print(" ".join(command), flush=True)
        run = subprocess.run(command, capture_output=True, text=True, timeout=280)
        sys.stdout.write(run.stdout)
        sys.stderr.write(run.stderr)
        started = STARTED in run.stdout
        if run.returncode == 0 or started or attempt == 2:
            return run.returncode
        print(f"two_hosts.py: Open MPI did not start the ranks (exit {run.returncode}); launching once more",
              flush=True)


def main():
    # Killed by CTest's timeout: still delete the namespaces (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("two_hosts.py: terminated"))
    mpirun, program = sys.argv[1], sys.argv[2:]
    if os.geteuid() != 0 or not shutil.which("ip"):
        print("skipped: making network namespaces needs root and ip (iproute2)")
        return SKIPPED
    # Namespace names are the hosts' names, so they must be valid host names (no underscore).
    hosts = [f"stheno-a{os.getpid()}", f"stheno-b{os.getpid()}"]
    veth = [f"sta{os.getpid() % 100000}", f"stb{os.getpid() % 100000}"]
    try:
        sh("ip", "netns", "add", hosts[0])
    except subprocess.CalledProcessError as e:
        print(f"skipped: cannot make a network namespace here ({e.stderr.strip()})")
        return SKIPPED
    try:
        sh("ip", "netns", "add", hosts[1])
        sh("ip", "link", "add", veth[0], "type", "veth", "peer", "name", veth[1])
        for i, (host, link) in enumerate(zip(hosts, veth)):
            sh("ip", "link", "set", link, "netns", host)
            sh("ip", "-n", host, "addr", "add", f"10.77.0.{i + 1}/24", "dev", link)
            sh("ip", "-n", host, "link", "set", link, "up")
            sh("ip", "-n", host, "link", "set", "lo", "up")
        with tempfile.TemporaryDirectory() as tmp:
            # mpirun starts each host's daemon through this, as through ssh: host name, then command.
            agent = Path(tmp) / "netns-agent"
            agent.write_text('#!/bin/sh\nhost="$1"\nshift\nexec ip netns exec "$host" sh -c "$*"\n')
            agent.chmod(0o755)
            # The veth link's packets are delivered by kernel work that needs the same two cores the
            # ranks busy-poll on: without yielding, each message waited for a timer tick (4 ms).
            # The second host's daemon (orted) writes the machine's topology into shared memory at
            # a hole it picks in its address space, and Open MPI 4.1 with hwloc 2.9 crashed there in
            # about one start in seven (hwloc_shmem_topology_write); nothing here binds ranks to
            # cores, so that runtime-control component is left out. Both "hosts" share /tmp and the
            # machine's host name, so their daemons' session directories go under this run's own
            # directory: under /tmp, a directory left by an earlier run whose launcher had the same
            # process id (job family) stopped a daemon ("mkdir ... File exists").
            command = ["ip", "netns", "exec", hosts[0], mpirun, "--allow-run-as-root", "--host", ",".join(hosts),
                       "-np", "2", "--mca", "orte_tmpdir_base", tmp,
                       "--mca", "mpi_yield_when_idle", "1", "--mca", "rtc", "^hwloc",
                       "--mca", "plm_rsh_agent", str(agent), "--mca", "btl", "tcp,self",
                       "--mca", "btl_tcp_if_include", SUBNET, "--mca", "oob_tcp_if_include", SUBNET, *program]
            return run_ranks(command)
    finally:
        for host in hosts:
            subprocess.run(["ip", "netns", "delete", host], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
