#!/usr/bin/env python3
"""A rank that dies mid-training must not leave the others waiting on it: under mpirun, the run
ends non-zero within 30 seconds and the message names the lost rank.

Usage: lost_rank.py MPIRUN DIST_CHECK"""
import subprocess
import sys
import time

mpirun, dist_check = sys.argv[1], sys.argv[2]
start = time.monotonic()
try:
    run = subprocess.run([mpirun, "--oversubscribe", "-np", "2", dist_check, "--kill-last-rank-at", "20"],
                         capture_output=True, text=True, timeout=60)
except subprocess.TimeoutExpired:
    sys.exit("FAILED: the run was still going after 60 s; the surviving rank waits for the lost one")
elapsed = time.monotonic() - start
output = run.stdout + run.stderr
problems = []
if run.returncode == 0:
    problems.append("the run exited 0")
if elapsed > 30:
    problems.append(f"the run took {elapsed:.1f} s to end")
if "rank 1" not in output:
    problems.append("no message names rank 1")
if problems:
    sys.exit("FAILED: " + "; ".join(problems) + "\n--- output ---\n" + output)
print(f"the run ended with status {run.returncode} after {elapsed:.1f} s, naming the lost rank:")
print("\n".join(line for line in output.splitlines() if "rank 1" in line))
