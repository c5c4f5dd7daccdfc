"""A seeded run repeats exactly, in any Python process: what lessons and their checks rely on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

RUN = textwrap.dedent(
    """
    import hashlib, json, sys
    import jmesos
    from jmesos.teaching import VirtualCluster
    from jmesos.teaching.workloads import Job, JobSpec

    policy = sys.argv[1]
    vc = VirtualCluster(agents=8, cpus=2, mem="2GiB", allocation_interval=0.2, task_seconds=0.5, quiet=True,
                        policy=policy, policy_options={"seed": 3} if policy == "lottery" else {})
    vc.add_framework(Job(JobSpec("batch", jmesos.Resources(cpus=1, mem=256), [0.5] * 30)), name="batch")
    vc.add_framework(Job(JobSpec("web", jmesos.Resources(cpus=0.5, mem=512), [0.3] * 40)), name="web", at=0.1)
    vc.add_framework(Job(JobSpec("ml", jmesos.Resources(cpus=2, mem=1024), [1.0] * 6)), name="ml", at=0.2)
    vc.run(until=30)
    rows = [(e.time, e.kind, e.source, e.dest, json.dumps(e.data, sort_keys=True, default=str)) for e in vc.events]
    print(len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    """
)


def _digest(policy: str, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", RUN, policy], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip()


def test_a_virtual_run_gives_the_same_events_whatever_the_hash_seed():
    """Sets of agent ids were iterated in hash order, which Python salts per process."""
    for policy in ("drf", "lottery"):
        digests = {_digest(policy, seed) for seed in ("1", "2", "3")}
        assert len(digests) == 1, f"{policy}: {digests}"
