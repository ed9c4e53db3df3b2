"""mmdistill's iterations against the *reference code's computation structure*, side by side in one process.

Each ``ref_*`` function below re-implements, in a few lines, how the field's reference code computes one
iteration (same network, data shapes and augmentation ops; no code copied):

* ``dm``  — VICO-UoE/DatasetCondensation ``main_DM.py``: a fresh ConvNet with frozen weights, then for each
  class: ``batch_real`` real images of the class, one DSA seed for the class's real and synthetic images,
  ``embed`` of each (eager, real side without ``no_grad``: the reference only ``detach``es), the squared
  distance of the mean embeddings summed over classes; one backward and SGD step on the images.
* ``dc``  — the same repository's ``main.py`` + ``utils.py`` (``match_loss``/``distance_wb``, ``epoch``): per
  outer loop, per class the gradient of the real batch's loss w.r.t. the weights, the gradient of the
  synthetic batch's loss with ``create_graph``, the layer-wise distance summed over classes, a step on the
  images, then ``inner_loop`` epochs of training the network on the synthetic set (DSA per sample).
* ``mtt`` — GeorgeCazenavette/mtt-distillation ``distill.py``: the student starts at an expert's flat
  parameter vector, takes ``syn_steps`` unrolled SGD steps (``create_graph``) on shuffled minibatches of the
  synthetic set (DSA per sample), the loss is ``||w_N - w_target||^2 / ||w_0 - w_target||^2``; one backward
  and a step on the images and the learnable step size.
* ``eval`` — the papers' evaluation: K networks trained one after the other (``train_from_scratch``)
  against mmdistill's runs in cache-sized chunks, the same runs several at a time on threads
  (``mmdistill.concurrency``, the CPU default) and its vectorised ensemble (``mmdistill.ensemble``).

Timing: the variants alternate (ref, mmdistill, ref, mmdistill, ...) ``--pairs`` times after a warm-up, in
one process; the table gives the medians and the median of the per-pair ratios mmdistill / reference.
The result goes to ``benchmarks/results/reference_speed_<what>_<device>.json`` (the recorded one), or to
``NAME.json`` with ``--name NAME`` for a side measurement that must not replace it.
Data are random reference-shaped tensors (timing needs shapes, not pixels).

    python benchmarks/reference_speed.py dm   [--pairs 6] [--batch-real 256] [--ipc 10] [--compile] [--one-batch]
    python benchmarks/reference_speed.py dc   [--pairs 6] [--ipc 1]            # (outer, inner) loops by IPC
    python benchmarks/reference_speed.py mtt  [--pairs 6] [--syn-steps 20]
    python benchmarks/reference_speed.py eval [--pairs 3] [--epochs 300] [--runs 5] [--set-size 100] [--eval-threads N]
"""

from __future__ import annotations

import argparse
import functools
import statistics
from typing import Callable

import torch
import torch.nn.functional as F
from _common import interleave, print_table, write_result

from mmdistill.augment import DSA, dsa_strategy_for
from mmdistill.buffer import ParamLayout
from mmdistill.data import LabeledTensors
from mmdistill.ensemble import train_many_from_scratch
from mmdistill.matchers.distribution import DistributionMatching
from mmdistill.matchers.gradient import GradientMatching, gradient_distance
from mmdistill.matchers.trajectory import ClassificationStudent, TrajectoryMatching, add_step_size
from mmdistill.nets import build_network, reinitialize
from mmdistill.seeding import draw_seed, generator
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask
from mmdistill.training import TrainProtocol, train_from_scratch
from mmdistill.compile import maybe_compile
from mmdistill.concurrency import default_threads, run_jobs
from mmdistill.host_memory import keep_freed_memory
from mmdistill.recipes import image_dc


class ReferenceLayoutDSA(DSA):
    """DSA whose crop returns the reference's memory layout: the reference's ``rand_crop`` gathers from a
    ``permute(0, 2, 3, 1)``'d tensor and permutes back, so its output has channels-last strides, which the
    following convolution propagates (mmdistill's DSA returns row-major strides). Same values."""

    def _apply(self, x, seed, groups, num_groups, frames):
        out = super()._apply(x, seed, groups, num_groups, frames)
        cropped = "crop" in self.chosen_ops(seed)
        return out.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) if cropped and x.dim() == 4 else out


def reference_dsa(args) -> DSA:
    """The reference side's DSA: the reference's memory layout unless ``--row-major-reference``."""
    cls = DSA if args.row_major_reference else ReferenceLayoutDSA
    return cls(dsa_strategy_for(args.dataset))


def _layout_note(args) -> str:
    return " (its DSA with mmdistill's row-major crop)" if args.row_major_reference else " (crop with the reference's channels-last layout)"


def report(title: str, times: dict[str, list[float]], record: dict, target: float | None) -> None:
    ref = times["reference"]
    rows = []
    for k, ts in times.items():
        ratio = statistics.median([t / r for t, r in zip(ts, ref)])
        ok = "" if k == "reference" or target is None else ("yes" if ratio <= target else "NO")
        rows.append([k, f"{statistics.median(ts):.3f}", f"{ratio:.2f}", ok])
        record[k] = {"median_s": statistics.median(ts), "ratio_to_reference": ratio, "times_s": ts}
    print(f"\n{title}")
    print_table(["variant", "median s", "ratio (median of pairs)", f"<= {target}x" if target else ""], rows)


def real_data(classes: int, per_class: int, shape: tuple[int, ...], device: torch.device) -> LabeledTensors:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(classes * per_class, *shape, generator=g)
    y = torch.arange(classes).repeat_interleave(per_class)
    return LabeledTensors(x.to(device), y.to(device), [str(c) for c in range(classes)])


# ------------------------------------------------------------------------------------------------- DM
def bench_dm(args, device) -> dict:
    C, shape = args.classes, (args.channels, args.size, args.size)
    real = real_data(C, args.batch_real * 2, shape, device)
    aug, ref_aug = DSA(dsa_strategy_for(args.dataset)), reference_dsa(args)
    net = build_network("convnet", shape, C).to(device)
    syn = SyntheticSet.from_real(real, args.ipc, generator(0)).to(device).requires_grad_(True)
    opt = torch.optim.SGD(syn.parameters(), lr=1.0, momentum=0.5)
    idx_by_class = real.class_indices()
    counter = iter(range(10**9))

    def reference() -> None:
        gen = generator(0, "ref", next(counter))
        reinitialize(net, gen)
        net.train()
        for p in net.parameters():
            p.requires_grad_(False)
        loss = torch.zeros((), device=device)
        for c in range(C):
            idx = idx_by_class[c]
            img_real = real.x[idx[torch.randperm(idx.numel(), generator=gen)[: args.batch_real]]]
            img_syn = syn.x[c * args.ipc : (c + 1) * args.ipc]
            seed = draw_seed(gen)
            img_real, img_syn = ref_aug(img_real, seed=seed), ref_aug(img_syn, seed=seed)
            out_real = net.embed(img_real).detach()
            out_syn = net.embed(img_syn)
            loss = loss + ((out_real.mean(0) - out_syn.mean(0)) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()

    fns = {"reference": reference}
    variants = [("mmdistill", args.real_chunk, False)]
    if args.one_batch and args.real_chunk != 0:
        variants.append(("mmdistill, real in one batch", 0, False))
    if args.compile:
        variants.append(("mmdistill, compiled embed", args.real_chunk, True))
    for label, chunk, comp in variants:
        m = DistributionMatching(net=net, reinit=reinitialize, real=real, batch_real=args.batch_real, augment=aug,
                                 real_chunk=chunk, embed=maybe_compile(net.embed, comp))
        fns[label] = (lambda m=m: m.step(syn, opt, generator(0, "mm", next(counter))))
    times = interleave(fns, args.pairs, device)
    record: dict = {}
    report(f"DM iteration, ConvNet-3 (instance norm), {C} classes x {args.batch_real} real, ipc {args.ipc}, {shape}, DSA, "
           f"{device} ({torch.get_num_threads()} threads), {args.pairs} pairs; reference{_layout_note(args)}", times, record, 0.6)
    return record


# ------------------------------------------------------------------------------------------------- DC/DSA
def bench_dc(args, device) -> dict:
    C, shape = args.classes, (args.channels, args.size, args.size)
    real = real_data(C, args.batch_real * 2, shape, device)
    aug = DSA(dsa_strategy_for(args.dataset)) if not args.no_dsa else None
    ref_aug = reference_dsa(args) if not args.no_dsa else None
    net = build_network("convnet", shape, C).to(device)
    syn = SyntheticSet.from_real(real, args.ipc, generator(0)).to(device).requires_grad_(True)
    opt = torch.optim.SGD(syn.parameters(), lr=0.1, momentum=0.5)
    cfg = image_dc.RECIPE.config(ipc=args.ipc)  # DC's (outer_loop, inner_loop) table by IPC
    outer, inner = cfg.outer_loop, cfg.inner_loop
    idx_by_class = real.class_indices()
    counter = iter(range(10**9))

    def reference() -> None:
        gen = generator(0, "ref", next(counter))
        reinitialize(net, gen)
        net.train()
        params = list(net.parameters())
        for p in params:
            p.requires_grad_(True)
        net_opt = torch.optim.SGD(params, lr=0.01)
        for ol in range(outer):
            loss = torch.zeros((), device=device)
            for c in range(C):
                idx = idx_by_class[c]
                img_real = real.x[idx[torch.randperm(idx.numel(), generator=gen)[: args.batch_real]]]
                lab_real = torch.full((img_real.shape[0],), c, device=device)
                img_syn = syn.x[c * args.ipc : (c + 1) * args.ipc]
                lab_syn = torch.full((args.ipc,), c, device=device)
                if ref_aug is not None:
                    seed = draw_seed(gen)
                    img_real, img_syn = ref_aug(img_real, seed=seed), ref_aug(img_syn, seed=seed)
                gw_real = [g.detach().clone() for g in torch.autograd.grad(F.cross_entropy(net(img_real), lab_real), params)]
                gw_syn = torch.autograd.grad(F.cross_entropy(net(img_syn), lab_syn), params, create_graph=True)
                loss = loss + gradient_distance(gw_syn, gw_real)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if ol == outer - 1:
                break
            x_tr, y_tr = syn.x.detach().clone(), syn.labels.clone()
            for _ in range(inner):  # epoch('train', DataLoader(shuffle=True, batch 256), aug per sample)
                order = torch.randperm(len(x_tr), generator=gen)
                for s in range(0, len(x_tr), 256):
                    b = order[s : s + 256]
                    xb = x_tr[b] if ref_aug is None else ref_aug(x_tr[b], seed=draw_seed(gen), groups=torch.arange(len(b)), num_groups=len(b))
                    lo = F.cross_entropy(net(xb), y_tr[b])
                    net_opt.zero_grad()
                    lo.backward()
                    net_opt.step()

    m = GradientMatching(net=net, reinit=reinitialize, real=real, task=ClassificationTask(), outer_loop=outer,
                         inner_loop=inner, batch_real=args.batch_real, augment=aug)
    fns = {"reference": reference, "mmdistill": lambda: m.step(syn, opt, generator(0, "mm", next(counter)))}
    times = interleave(fns, args.pairs, device)
    record: dict = {}
    report(f"{'DC' if aug is None else 'DSA'} iteration, ConvNet-3, {C} classes x {args.batch_real} real, ipc {args.ipc} "
           f"(outer {outer}, inner {inner}), {shape}, {device} ({torch.get_num_threads()} threads), {args.pairs} pairs"
           f"; reference{_layout_note(args)}", times, record, 0.8)
    return record


# ------------------------------------------------------------------------------------------------- MTT
class _Buffer:
    """Two random 'expert' rows: the iteration's cost does not depend on the values."""

    def __init__(self, num_params: int, epochs: int, device: torch.device) -> None:
        g = torch.Generator().manual_seed(1)
        self.rows_ = 0.05 * torch.randn(epochs + 1, num_params, generator=g)
        self.num_experts, self.epochs, self.num_params, self.path = 1, epochs, num_params, "random"

    def rows(self, expert: int, epochs: list[int]) -> torch.Tensor:
        return self.rows_[epochs]


def bench_mtt(args, device) -> dict:
    C, shape = args.classes, (args.channels, args.size, args.size)
    real = real_data(C, 20, shape, device)
    aug, ref_aug = DSA(dsa_strategy_for(args.dataset)), reference_dsa(args)
    net = build_network("convnet", shape, C).to(device)
    layout = ParamLayout.of(net)
    buf = _Buffer(layout.num_params, 30, device)
    syn = SyntheticSet.from_real(real, args.ipc, generator(0)).to(device)
    add_step_size(syn, 0.01)
    syn.requires_grad_(True)
    opt = torch.optim.SGD(syn.parameters(), lr=1e-3, momentum=0.5)  # timing only: small steps keep random experts from diverging
    batch = args.batch_syn or len(syn)
    counter = iter(range(10**9))

    def reference() -> None:
        gen = generator(0, "ref", next(counter))
        start = int(torch.randint(20, (1,), generator=gen))
        w0, target = buf.rows(0, [start, start + 2]).to(device).unbind(0)
        student = [w0.clone().requires_grad_(True)]
        chunks: list[torch.Tensor] = []
        for _ in range(args.syn_steps):
            if not chunks:
                chunks = list(torch.split(torch.randperm(len(syn), generator=gen), batch))
            idx = chunks.pop()
            x = ref_aug(syn.x[idx], seed=draw_seed(gen), groups=torch.arange(len(idx)), num_groups=len(idx))
            out = torch.func.functional_call(net, layout.unflatten(student[-1]), (x,))
            ce = F.cross_entropy(out, syn.labels[idx])
            (grad,) = torch.autograd.grad(ce, student[-1], create_graph=True)
            student.append(student[-1] - syn.data["syn_lr"] * grad)
        loss = F.mse_loss(student[-1], target, reduction="sum") / F.mse_loss(w0, target, reduction="sum")
        opt.zero_grad()
        loss.backward()
        opt.step()

    m = TrajectoryMatching(student=ClassificationStudent(net, ClassificationTask(), augment=aug), layout=layout, buffer=buf,
                           syn_steps=args.syn_steps, expert_epochs=2, max_start_epoch=20, batch_syn=args.batch_syn)
    fns = {"reference": reference, "mmdistill": lambda: m.step(syn, opt, generator(0, "mm", next(counter)))}
    times = interleave(fns, args.pairs, device)
    record: dict = {}
    report(f"MTT iteration, ConvNet-3, {C} classes, ipc {args.ipc}, {args.syn_steps} unrolled steps, batch {batch}, "
           f"{shape}, DSA, {device} ({torch.get_num_threads()} threads), {args.pairs} pairs; reference{_layout_note(args)}", times, record, 1.0)
    return record


# ------------------------------------------------------------------------------------------------- evaluation
def bench_eval(args, device) -> dict:
    C, shape, K = args.classes, (args.channels, args.size, args.size), args.runs
    data = real_data(C, args.set_size // C, shape, device)
    aug, ref_aug = DSA(dsa_strategy_for(args.dataset)), reference_dsa(args)
    proto = TrainProtocol(epochs=args.epochs)

    def make(gen):
        n = build_network("convnet", shape, C).to(device)
        reinitialize(n, gen)
        return n

    results: dict[str, list] = {}

    def trained(r: int, augment, protocol: TrainProtocol) -> torch.nn.Module:
        """Run ``r``: a fresh network from ``generator(0, "eval", r)`` trained on the set."""
        gen = generator(0, "eval", r)
        net = make(gen)
        train_from_scratch(net, data.x, data.y, protocol, gen, augment=augment)
        return net

    def sequential(label: str, augment, protocol: TrainProtocol) -> Callable[[], None]:
        def run() -> None:
            results[label] = [trained(r, augment, protocol) for r in range(K)]
        return run

    def threaded() -> None:
        results["threaded"] = run_jobs([functools.partial(trained, r, aug, proto) for r in range(K)], threads=args.eval_threads)

    def ensemble() -> None:
        gens = [generator(0, "eval", r) for r in range(K)]
        nets = [make(g) for g in gens]
        train_many_from_scratch(nets, [data.x] * K, [data.y] * K, proto, gens, augment=aug)
        results["ensemble"] = nets

    fns = {"reference": sequential("reference", ref_aug, TrainProtocol(epochs=args.epochs, chunk=0)),
           "mmdistill, one at a time (chunked)": sequential("sequential", aug, proto)}
    if args.eval_threads > 1:
        fns[f"mmdistill, {args.eval_threads} at a time on threads"] = threaded
    if not args.no_ensemble:
        fns["mmdistill, vectorised ensemble"] = ensemble
    times = interleave(fns, args.pairs, device, warmup=0)
    record: dict = {}
    for label in [k for k in results if k != "reference"]:
        diff = max(float((p - q).abs().max()) for a, b in zip(results["reference"], results[label])
                   for p, q in zip(a.parameters(), b.parameters()))
        record[f"max_abs_weight_difference_{label}"] = diff
        print(f"largest weight difference reference vs {label} after {args.epochs} epochs: {diff:.2e}")
    report(f"Evaluation: {K} ConvNet-3 trained {args.epochs} epochs on {args.set_size} samples {shape}, DSA; reference = "
           f"one after the other, one batch per step{_layout_note(args)}; {device} ({torch.get_num_threads()} threads), "
           f"{args.pairs} pairs", times, record, 0.5)
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["dm", "dc", "mtt", "eval"], help="the computation timed: dm, dc (DC/DSA), mtt or eval")
    ap.add_argument("--pairs", type=int, default=6, help="alternating (reference, mmdistill) rounds timed (default %(default)s)")
    ap.add_argument("--classes", type=int, default=10, help="number of classes (default %(default)s)")
    ap.add_argument("--size", type=int, default=28, help="image height and width in pixels (default %(default)s)")
    ap.add_argument("--channels", type=int, default=1, help="image channels (default %(default)s)")
    ap.add_argument("--dataset", default="mnist",
                    help="name for the DSA strategy (digit datasets drop flip; default %(default)s)")
    ap.add_argument("--ipc", type=int, default=None, help="synthetic images per class (default: 10 for dm, mtt; 1 for dc)")
    ap.add_argument("--batch-real", type=int, default=256,
                    help="DM, DC: real images per class per iteration (default %(default)s)")
    ap.add_argument("--real-chunk", type=int, default=None, help="DM's real_chunk (default: the device's)")
    ap.add_argument("--compile", action="store_true", help="DM: also time the torch.compile'd embed")
    ap.add_argument("--one-batch", action="store_true", help="DM: also time mmdistill with the real side in one batch")
    ap.add_argument("--no-dsa", action="store_true", help="DC: no augmentation (DC instead of DSA)")
    ap.add_argument("--syn-steps", type=int, default=20, help="MTT: unrolled student steps per iteration (default %(default)s)")
    ap.add_argument("--batch-syn", type=int, default=None, help="MTT: synthetic images per student step (default: the whole set)")
    ap.add_argument("--epochs", type=int, default=300, help="eval: training epochs of each network (default %(default)s)")
    ap.add_argument("--runs", type=int, default=5, help="eval: networks trained per evaluation (default %(default)s)")
    ap.add_argument("--set-size", type=int, default=100,
                    help="eval: images in the trained-on set, split evenly over --classes (default %(default)s)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--row-major-reference", action="store_true",
                    help="give the reference mmdistill's row-major DSA output instead of its own channels-last crop output")
    ap.add_argument("--no-ensemble", action="store_true", help="eval: skip the vectorised ensemble variant")
    ap.add_argument("--eval-threads", type=int, default=None,
                    help="eval: runs at a time in the threaded variant (default: the device's, mmdistill.concurrency; 1 skips it)")
    ap.add_argument("--keep-freed-memory", action="store_true",
                    help="call mmdistill.host_memory.keep_freed_memory() first; it holds for both sides (malloc settings "
                         "belong to the process; benchmarks/host_allocator.py compares processes)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="torch device, e.g. cpu, cuda (default: cuda if available, else cpu; here %(default)s)")
    ap.add_argument("--name", default=None,
                    help="result name: benchmarks/results/NAME.json (default: reference_speed_WHAT_DEVICE, the recorded result)")
    args = ap.parse_args()
    if args.ipc is None:
        args.ipc = 1 if args.what == "dc" else 10
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.keep_freed_memory and not keep_freed_memory():
        raise SystemExit("--keep-freed-memory: not applied here (not glibc, or MALLOC_* / MMDISTILL_HOST_MALLOC set)")
    if args.eval_threads is None:
        args.eval_threads = default_threads(args.device)
    device = torch.device(args.device)
    record = {"dm": bench_dm, "dc": bench_dc, "mtt": bench_mtt, "eval": bench_eval}[args.what](args, device)
    write_result(args.name or f"reference_speed_{args.what}_{device.type}", {"benchmark": f"{args.what} vs reference structure",
                                                               "settings": vars(args), "results": record})


if __name__ == "__main__":
    main()
