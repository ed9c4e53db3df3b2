"""Peak memory and time of one trajectory-matching step, MTT (unrolled) vs TESLA (constant memory), at
syn_steps 10, 20, 40, 80 with the same network, batch and IPC.

Targets (issue 3): TESLA's peak at 80 steps <= 1.2x its peak at 10 steps; TESLA's time per step <= 1.1x MTT's.

Setup: ConvNet-3 (width 128, instance norm) on 1x28x28 inputs (Fashion-MNIST's shape), 10 classes, IPC 10
(100 synthetic images, batch_syn = all), DSA on, one expert segment (two parameter vectors). Memory is what the
step adds on top of what was allocated before it: on a GPU ``torch.cuda.max_memory_allocated``; on a CPU the
growth of the process's resident high-water mark, each configuration in a fresh process. Time is the median of
``--repeats`` steps after one warm-up step.

    python benchmarks/trajectory_memory.py [--device cuda] [--steps 10,20,40,80] [--ipc 10] [--repeats 3]

Writes ``benchmarks/results/trajectory_memory_<device>.json`` (``--name``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import print_table, write_result


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(method: str, steps: int, ipc: int, device: str, repeats: int) -> dict[str, float]:
    """One configuration in this process: returns peak extra memory (MiB) and median seconds per step."""
    from mmdistill.augment import DSA
    from mmdistill.data import LabeledTensors
    from mmdistill.buffer import ExpertSpec, ParamLayout
    from mmdistill.experts import ExpertTraining, train_experts
    from mmdistill.matchers.trajectory import ClassificationStudent, TrajectoryMatching, add_step_size
    from mmdistill.nets import build_network, reinitialize
    from mmdistill.seeding import generator
    from mmdistill.synthetic import SyntheticSet
    from mmdistill.task import ClassificationTask

    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    real = LabeledTensors(torch.randn(10 * ipc, 1, 28, 28, generator=g), torch.arange(10 * ipc) % 10, [str(c) for c in range(10)])

    def make_net(gen: torch.Generator) -> torch.nn.Module:
        net = build_network("convnet", (1, 28, 28), 10)
        reinitialize(net, gen)
        return net

    net = make_net(generator(0)).to(dev)
    spec = ExpertSpec("noise", "convnet", 10, ParamLayout.of(net), [1, 28, 28])

    def drift(n: torch.nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator) -> float:  # a stand-in expert epoch
        with torch.no_grad():
            for p in n.parameters():
                p.add_(0.01 * torch.randn(p.shape, generator=gen))
        return 0.0

    with tempfile.TemporaryDirectory() as tmp:
        buffer = train_experts(tmp, spec, ExpertTraining(num_experts=1, epochs=2), make_net, drift, progress=False)
        syn = SyntheticSet.from_real(real, ipc, generator(0, "init"))
        syn.to(dev)
        add_step_size(syn, 0.01)
        syn.requires_grad_(True)
        matcher = TrajectoryMatching(ClassificationStudent(net, ClassificationTask(), augment=DSA()), ParamLayout.of(net), buffer,
                                     syn_steps=steps, expert_epochs=1, max_start_epoch=1, method=method, device=dev)
        opt = torch.optim.SGD(syn.parameters(), lr=0.0)
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            base = _rss_mib()
        times = []
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            matcher.step(syn, opt, generator(0, "it", r))
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if r > 0:
                times.append(time.perf_counter() - t0)
        if dev.type == "cuda":
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    return {"peak_mib": peak, "seconds_per_step": statistics.median(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="torch device, e.g. cpu, cuda (default: cuda if available, else cpu; here %(default)s)")
    ap.add_argument("--steps", default="10,20,40,80",
                    help="comma-separated syn_steps, each run by MTT and TESLA in a fresh process; the TESLA peak target "
                         "compares the last with the first (default %(default)s)")
    ap.add_argument("--ipc", type=int, default=10,
                    help="synthetic images per class, all in each step's batch (default %(default)s)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed steps after one warm-up; the median is reported (default %(default)s)")
    ap.add_argument("--name", default=None,
                    help="the JSON's name under benchmarks/results (default trajectory_memory_<device type>)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: method:steps in this process
    args = ap.parse_args()
    if args.one:
        method, steps = args.one.split(":")
        print(json.dumps(measure(method, int(steps), args.ipc, args.device, args.repeats)))
        return
    rows, records = [], {}
    for steps in [int(s) for s in args.steps.split(",")]:
        for method in ("mtt", "tesla"):
            proc = subprocess.run([sys.executable, __file__, "--one", f"{method}:{steps}", "--device", args.device, "--ipc", str(args.ipc),
                                   "--repeats", str(args.repeats)], capture_output=True, text=True, cwd=Path(__file__).parent,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-3000:])
            records[f"{method}:{steps}"] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(method, steps, records[f"{method}:{steps}"], flush=True)
    steps_list = [int(s) for s in args.steps.split(",")]
    for steps in steps_list:
        m, t = records[f"mtt:{steps}"], records[f"tesla:{steps}"]
        rows.append([steps, f"{m['peak_mib']:.0f}", f"{t['peak_mib']:.0f}", f"{1000 * m['seconds_per_step']:.0f}",
                     f"{1000 * t['seconds_per_step']:.0f}", f"{t['seconds_per_step'] / m['seconds_per_step']:.2f}"])
    lo, hi = records[f"tesla:{steps_list[0]}"]["peak_mib"], records[f"tesla:{steps_list[-1]}"]["peak_mib"]
    print(f"\nOne distillation step, ConvNet-3, 1x28x28, IPC {args.ipc}, DSA, on {args.device}: peak extra memory (MiB) and time")
    print_table(["syn_steps", "MTT MiB", "TESLA MiB", "MTT ms", "TESLA ms", "TESLA/MTT time"], rows)
    print(f"TESLA peak at {steps_list[-1]} steps / at {steps_list[0]} steps: {hi / lo:.2f} (target <= 1.2)")
    name = args.name or f"trajectory_memory_{args.device.split(':')[0]}"
    write_result(name, {"benchmark": "trajectory step memory and time", "device": args.device, "ipc": args.ipc, "results": records,
                        "tesla_peak_ratio": hi / lo})


if __name__ == "__main__":
    main()
