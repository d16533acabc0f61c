"""How fast is the analytical cost of the kws space, and is it exact?

For N random architectures of the ``kws`` space, time (a) the layer IR plus the analytical cost
model (MACs, parameters, peak SRAM, flash, latency on cortex-m7) against (b) building the
``nn.Module``, folding batch norm and counting with ``torch.utils.flop_counter`` plus
``sum(p.numel())``, in the same run, and check that MACs and parameters agree exactly.

    python benchmarks/cost_throughput.py [--n 300] [--seed 0] [--json]

Prints a table (architectures per second, median per architecture). Timings are measured on
this machine, single process; results/cost_throughput.md keeps the last run's table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from edgenas.hardware import AnalyticalCostModel, load_target
from edgenas.spaces import KwsSpace
from edgenas.spaces.nn.blocks import fold_batchnorm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)

    space = KwsSpace()
    target = load_target("cortex-m7")
    model = AnalyticalCostModel()
    rng = np.random.default_rng(args.seed)
    archs = [space.named("ds-cnn-s")] + [space.sample(rng) for _ in range(args.n - 1)]

    analytical_s, torch_s, mismatches = [], [], []
    for arch in archs:
        t0 = time.perf_counter()
        cost = model.estimate(space.layers(arch), target)
        t1 = time.perf_counter()
        net = fold_batchnorm(space.build(arch).eval())
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(torch.zeros(1, *space.input_shape))
        macs = counter.get_total_flops() // 2
        params = sum(p.numel() for p in net.parameters())
        t2 = time.perf_counter()
        analytical_s.append(t1 - t0)
        torch_s.append(t2 - t1)
        if (macs, params) != (cost.macs, cost.params):
            mismatches.append((space.describe(arch), cost.macs, macs, cost.params, params))

    rows = []
    for name, times in (("analytical (IR + cost model)", analytical_s), ("torch build + flop_counter", torch_s)):
        rows.append({"method": name, "archs_per_s": len(times) / sum(times), "median_ms": 1000 * statistics.median(times)})
    result = {
        "n": len(archs),
        "exact_macs_and_params": not mismatches,
        "mismatches": mismatches[:5],
        "speedup": rows[0]["archs_per_s"] / rows[1]["archs_per_s"],
        "rows": rows,
        "machine": f"{platform.processor() or platform.machine()}, torch threads 1, python {platform.python_version()}",
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"kws space, {len(archs)} architectures (seed {args.seed}); {result['machine']}")
    print(f"{'method':<32}{'archs/s':>12}{'median ms/arch':>16}")
    for row in rows:
        print(f"{row['method']:<32}{row['archs_per_s']:>12,.0f}{row['median_ms']:>16.3f}")
    print(
        f"speed-up: {result['speedup']:,.0f}x; MACs and parameters agree exactly on all {len(archs)}: "
        f"{'yes' if not mismatches else 'NO ' + str(mismatches[:3])}"
    )


if __name__ == "__main__":
    main()
