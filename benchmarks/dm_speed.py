"""Cost of one DM iteration against its floor, in the same run and on the same network.

floor = bare forward of the real batch (no autograd) + forward/backward of the synthetic batch.
Target (issue 2): one DM iteration <= 1.3x the floor. Data: random 1x28x28 'images' (the cost does not
depend on the pixel values), 10 classes, batch_real 256 per class, IPC 10 — the reference DM setting.

    python benchmarks/dm_speed.py [--ipc 10] [--batch-real 256] [--repeats 20] [--device cpu]

Times DM with DSA and without augmentation, the iteration and the floor alternating (medians, ms; the ratio is the
median of the per-pair ratios) and writes ``benchmarks/results/dm_speed_<device>.json``.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from _common import interleave, print_table, write_result

from mmdistill.augment import DSA
from mmdistill.data import LabeledTensors
from mmdistill.matchers.distribution import DistributionMatching
from mmdistill.nets import build_network, reinitialize
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ipc", type=int, default=10, help="synthetic images per class (default %(default)s)")
    ap.add_argument("--batch-real", type=int, default=256, help="real images per class per DM iteration (default %(default)s)")
    ap.add_argument("--classes", type=int, default=10, help="number of classes (default %(default)s)")
    ap.add_argument("--size", type=int, default=28, help="image height and width in pixels (default %(default)s)")
    ap.add_argument("--channels", type=int, default=1, help="image channels (default %(default)s)")
    ap.add_argument("--repeats", type=int, default=20,
                    help="timed (iteration, floor) pairs, alternating, after 3 warm-ups; the medians and the median "
                         "of the per-pair ratios are reported (default %(default)s)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available, else cpu; here %(default)s)")
    ap.add_argument("--name", default=None, help="the JSON's name under benchmarks/results (default dm_speed_<device>, the "
                    "recorded one; give another for a side measurement)")
    args = ap.parse_args()
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    C, shape = args.classes, (args.channels, args.size, args.size)
    n_real = max(args.batch_real, args.ipc) * 4
    real = LabeledTensors(torch.randn(C * n_real, *shape, generator=g).to(device), torch.arange(C).repeat_interleave(n_real).to(device), [str(c) for c in range(C)])
    syn = SyntheticSet.from_real(real, args.ipc, generator(0)).to(device).requires_grad_(True)
    net = build_network("convnet", shape, C).to(device)
    opt = torch.optim.SGD(syn.parameters(), lr=1.0, momentum=0.5)
    rows, record = [], {}
    for label, aug in (("DM + DSA", DSA()), ("DM, no augmentation", None)):
        matcher = DistributionMatching(net=net, reinit=reinitialize, real=real, batch_real=args.batch_real, augment=aug)
        it = iter(range(10**9))
        step = lambda: matcher.step(syn, opt, generator(0, "it", next(it)))
        x_real = real.x[: C * args.batch_real]

        def floor() -> None:
            with torch.no_grad():
                net.embed(x_real)
            xs = syn.x.detach().requires_grad_(True)
            net.embed(xs).sum().backward()

        for p in net.parameters():
            p.requires_grad_(False)
        times = interleave({"step": step, "floor": floor}, args.repeats, device, warmup=3, progress=False)
        steps, floors = times["step"], times["floor"]
        t_step, t_floor = statistics.median(steps), statistics.median(floors)
        ratio = statistics.median(a / b for a, b in zip(steps, floors))  # median of the per-pair ratios
        rows.append([label, f"{1000 * t_step:.1f}", f"{1000 * t_floor:.1f}", f"{ratio:.2f}", "yes" if ratio <= 1.3 else "NO"])
        record[label] = {"iteration_ms": 1000 * t_step, "floor_ms": 1000 * t_floor, "ratio": ratio, "target": 1.3}
    print(f"\nDM iteration cost, ConvNet-3, {C} classes x {args.batch_real} real, ipc {args.ipc}, {shape}, {device} "
          f"({torch.get_num_threads()} threads), median of {args.repeats} interleaved pairs")
    print_table(["variant", "iteration ms", "floor ms", "ratio", "<= 1.3x"], rows)
    write_result(args.name or f"dm_speed_{device.type}", {"benchmark": "dm iteration vs floor", "settings": vars(args), "results": record})


if __name__ == "__main__":
    main()
