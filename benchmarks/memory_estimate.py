"""Memory planning checked: the estimated peak memory of one DM or MTT iteration against the measured peak.

Each configuration runs in a fresh process: Fashion-MNIST-shaped random data (10 classes of 28x28), the
matching ConvNet, DSA, SGD with momentum 0.5, one warm-up iteration, then one measured iteration (MTT: a
stub buffer whose two rows are the network's parameters and a perturbation of them).
On a GPU the measure is ``torch.cuda.max_memory_allocated`` above what was allocated before the iteration;
on a CPU it is the process's peak resident memory (``VmHWM``, reset through ``/proc/self/clear_refs``)
above its resident memory before the iteration, with glibc's mmap threshold fixed at 128 KiB
(``MALLOC_MMAP_THRESHOLD_``) so freed tensors go back to the system. Compared with the estimate's
iteration part (:attr:`mmdistill.memory.MemoryEstimate.iteration`: what the iteration adds to the resident
data, network, set and optimizer state). Target (issue 20): within +-25 %.

    python benchmarks/memory_estimate.py [--device cpu] [--configs 10:256:0,50:256:0]        # DM: ipc:batch_real:per_class
    python benchmarks/memory_estimate.py --method mtt [--configs 5:50,10:50,10:100]           # MTT: syn_steps:batch_syn (ipc 10)

Writes ``benchmarks/results/memory_estimate_<device>.json`` (MTT: ``memory_estimate_mtt_<device>.json``; ``--name``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _common import print_table, write_result

_CHILD = r"""
import json, sys, torch
from mmdistill.augment import DSA
from mmdistill.data import LabeledTensors
from mmdistill.matchers.distribution import DistributionMatching
from mmdistill.nets import build_network, reinitialize
from mmdistill.synthetic import SyntheticSet

ipc, batch_real, per_class, dev = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", torch.device(sys.argv[4])
g = torch.Generator().manual_seed(0)
real = LabeledTensors(torch.randn(10 * max(batch_real, 300), 1, 28, 28, generator=g).to(dev),
                      (torch.arange(10 * max(batch_real, 300)) % 10).to(dev), [str(c) for c in range(10)])
x = torch.randn(10 * ipc, 1, 28, 28, generator=g).to(dev).requires_grad_(True)
syn = SyntheticSet({"x": x}, (torch.arange(10 * ipc) // ipc).to(dev), 10)
net = build_network("convnet", (1, 28, 28), 10).to(dev)
opt = torch.optim.SGD([x], lr=1.0, momentum=0.5)
dm = DistributionMatching(net, reinitialize, real, batch_real=batch_real, augment=DSA(), per_class=per_class)
est = dm.memory_estimate(syn, opt)
matcher = dm

"""

# shared by both children: a warm-up step (kernels, caches, the momentum buffer), then the measured step
_MEASURE = r"""
matcher.step(syn, opt, torch.Generator().manual_seed(1))

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

if dev.type == "cuda":
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    matcher.step(syn, opt, torch.Generator().manual_seed(2)); torch.cuda.synchronize()
    measured = torch.cuda.max_memory_allocated() - before
else:
    before = status("VmRSS:")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    matcher.step(syn, opt, torch.Generator().manual_seed(2))
    measured = status("VmHWM:") - before
print(json.dumps({"estimate": est.iteration, "estimate_total": est.total, "parts": est.parts, "measured": measured}))
"""

_MTT = r"""
import json, sys, types, torch
from mmdistill.augment import DSA
from mmdistill.buffer import ParamLayout
from mmdistill.matchers.trajectory import ClassificationStudent, TrajectoryMatching, add_step_size
from mmdistill.nets import build_network
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask

steps, batch, dev = int(sys.argv[1]), int(sys.argv[2]), torch.device(sys.argv[4])
g = torch.Generator().manual_seed(0)
net = build_network("convnet", (1, 28, 28), 10).to(dev)
layout = ParamLayout.of(net)
w0 = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
rows = torch.stack([w0, w0 + 0.01 * torch.randn(w0.shape, generator=g).to(dev)])
buf = types.SimpleNamespace(epochs=2, num_params=layout.num_params, path="stub", num_experts=1, rows=lambda e, r: rows)
x = torch.randn(100, 1, 28, 28, generator=g).to(dev).requires_grad_(True)
syn = SyntheticSet({"x": x}, (torch.arange(100) // 10).to(dev), 10)
lr = add_step_size(syn, 0.01).requires_grad_(True)
opt = torch.optim.SGD([{"params": [x], "lr": 1.0}, {"params": [lr], "lr": 1e-5}], momentum=0.5)  # MTT's lr_lr (a rate of 1 drove it below 0)
mtt = TrajectoryMatching(ClassificationStudent(net, ClassificationTask(), augment=DSA()), layout, buf, syn_steps=steps,
                         expert_epochs=1, max_start_epoch=1, batch_syn=batch, device=dev)
est = mtt.memory_estimate(syn, opt)
matcher = mtt

"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu",
                    help="torch device: cpu (peak resident memory) or cuda[:N] (max_memory_allocated) (default %(default)s)")
    ap.add_argument("--method", default="dm", choices=["dm", "mtt"],
                    help="the iteration measured: dm or mtt; sets what --configs means (default %(default)s)")
    ap.add_argument("--configs", default=None,
                    help="DM: ipc:batch_real:per_class, per_class 0 or 1 (default 10:256:0,10:256:1,50:256:0,50:64:0); "
                         "MTT: syn_steps:batch_syn (default 5:50,10:50,10:100); comma-separated, each in a fresh process")
    ap.add_argument("--name", default=None,
                    help="the JSON's name under benchmarks/results (default memory_estimate[_mtt]_<device type>)")
    args = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "131072"}
    rows, records = [], []
    configs = args.configs or ("10:256:0,10:256:1,50:256:0,50:64:0" if args.method == "dm" else "5:50,10:50,10:100")
    for conf in configs.split(","):
        ipc, batch, per = (conf.split(":") + ["0"])[:3]
        proc = subprocess.run([sys.executable, "-c", (_CHILD if args.method == "dm" else _MTT) + _MEASURE, ipc, batch, per, args.device],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        err = r["estimate"] / r["measured"] - 1
        names = ("ipc", "batch_real") if args.method == "dm" else ("syn_steps", "batch_syn")
        records.append({names[0]: int(ipc), names[1]: int(batch), "per_class": per == "1", **r, "relative_error": err})
        rows.append([ipc, batch, "yes" if per == "1" else "no", f"{r['estimate'] / 2**20:.1f}", f"{r['measured'] / 2**20:.1f}",
                     f"{100 * err:+.0f} %", f"{r['estimate_total'] / 2**20:.1f}"])
        print(rows[-1], flush=True)
    print(f"\n{args.method.upper()} iteration on {args.device}, Fashion-MNIST-shaped data, ConvNet-3 width 128, DSA, 1 thread")
    head = ["ipc", "batch_real", "per class"] if args.method == "dm" else ["syn_steps", "batch_syn", "-"]
    print_table([*head, "estimate MiB", "measured MiB", "error", "estimate with resident MiB"], rows)
    suffix = "" if args.method == "dm" else "_mtt"
    write_result(args.name or f"memory_estimate{suffix}_{args.device.split(':')[0]}",
                 {"benchmark": f"{args.method.upper()} peak memory of one iteration: estimate vs measured", "device": args.device,
                  "method": args.method, "runs": records})


if __name__ == "__main__":
    main()
