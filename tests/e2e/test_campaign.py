"""A short random campaign: a few random drills, each from the baseline, with the audit after each.

The long campaign is `bench/failover.py --campaign N`. The seed is printed so a failure can be replayed
(HE_E2E_SEED=<seed>)."""

import os
import random
import time


def test_random_drills_keep_one_healthy_engine(steady):
    seed = int(os.environ.get("HE_E2E_SEED", time.time()))
    print(f"campaign seed {seed}")
    rng = random.Random(seed)
    for _ in range(3):
        result = steady.drill(rng.choice(("vm-crash", "engine-unhealthy", "network-loss")), f"seed {seed}")
        assert result.boots_after >= result.boots_before
