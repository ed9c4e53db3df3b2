"""Seconds per image-text matching iteration by trainable split of the image encoder (issue 19).

Times one outer iteration of the core trajectory matcher (8 student steps, loss + gradient + optimizer step)
for a dual encoder EfficientNet-Lite0 (ImageNet weights, 64 px) + projection of 384-d text embeddings, with
``image_trainable_blocks`` = 0 (whole encoder) or K (last K blocks; the rest frozen, run once per outer
iteration for MTT). Synthetic pairs and expert endpoints are random tensors: the cost does not depend on
their values. Bi-trajectory = MTT, every pair in every step; LoRS = TESLA, ``batch_syn`` 20, learned similarity.
``--device cuda`` times the same iteration on a GPU (synchronised before each clock read; the peak is then the
GPU's allocated memory).

    taskset -c 1 env OMP_NUM_THREADS=1 python benchmarks/image_text_matching_speed.py --blocks 0,1,2,3 --pairs 100
    python benchmarks/image_text_matching_speed.py --device cuda --blocks 0,2 --pairs 100 --image-size 224
    python benchmarks/image_text_matching_speed.py --device cuda --encoder nfnet_l0 --weights none --text-dim 768 \\
        --blocks 0 --image-size 224      # the papers' scale: NFNet-L0 over BERT-sized text embeddings, whole encoder

``--encoder`` / ``--weights`` take the recipe's ``image_encoder`` / ``image_weights`` (``none``: random init, which
times the same; NFNet-L0's weights are not reachable offline), ``--text-dim`` the text embedding width.

Prints one row per (method, blocks) and writes ``benchmarks/results/image_text_matching_speed.json`` (``--name``).
"""

from __future__ import annotations

import argparse
import resource
import time
from types import SimpleNamespace

import torch
from _common import print_table, write_result

from mmdistill.buffer import ParamLayout
from mmdistill.matchers.trajectory import TrajectoryMatching, add_step_size
from mmdistill.modalities.image_text.encoders import build_image_encoder
from mmdistill.modalities.image_text.model import DualEncoderFactory
from mmdistill.modalities.image_text.task import ContrastiveTask
from mmdistill.modalities.image_text.trajectory import PairStudent, dual_encoder_parts
from mmdistill.synthetic import SyntheticSet


def one_setting(blocks: int, pairs: int, method: str, repeats: int, size: int, device: torch.device,
                encoder: str = "efficientnet_lite0", weights: str = "default", text_dim: int = 384) -> dict[str, float | str | None]:
    torch.manual_seed(0)
    image = build_image_encoder(encoder, weights, size)
    net = DualEncoderFactory(image, text_dim, trainable_blocks=blocks).make(torch.Generator().manual_seed(0)).to(device)
    layout = ParamLayout.of(net)
    w0 = torch.cat([p.detach().reshape(-1) for p in net.parameters() if p.requires_grad])
    target = w0 + 1e-3 * torch.randn_like(w0)
    buffer = SimpleNamespace(epochs=2, num_params=layout.num_params, num_experts=1, path="(timing)",
                             rows=lambda e, idx: torch.stack([w0, target]))
    lors = method == "tesla"
    data = {"images": torch.randn(pairs, 3, size, size, device=device), "text": torch.randn(pairs, text_dim, device=device)}
    if lors:
        data.update(sim_diag=torch.ones(pairs, device=device), sim_left=torch.randn(pairs, 10, device=device),
                    sim_right=torch.zeros(pairs, 10, device=device))
    syn = SyntheticSet(data=data, labels=torch.zeros(pairs, dtype=torch.long), num_classes=1, meta={"sim_alpha": 3.0})
    parts = dual_encoder_parts(layout, {"image": 0.1, "text": 0.1})
    for part in parts:
        add_step_size(syn, part.initial_step, part.step_key)
    for t in syn.data.values():
        t.requires_grad_(True)
    from mmdistill.modalities.image_text import MODALITY

    student = PairStudent(net, ContrastiveTask(soft_loss="wbce"), MODALITY.decode, share_prefix=method == "mtt")
    matcher = TrajectoryMatching(student=student, layout=layout, buffer=buffer, syn_steps=8, expert_epochs=1, max_start_epoch=1,  # type: ignore[arg-type]
                                 batch_syn=20 if lors else None, method=method, segments={p.name: p.params for p in parts},
                                 step_sizes={p.name: p.step_key for p in parts}, device=device)
    opt = torch.optim.SGD([t for t in syn.data.values()], lr=1e-6, momentum=0.5)
    estimate_mb = matcher.memory_estimate(syn, opt).total / 2**20  # what a run's planner checks against the device
    if repeats == 0:
        return {"blocks": blocks, "trainable_params": layout.num_params, "seconds": None, "peak_mb": None, "estimate_mb": estimate_mb}
    gen = torch.Generator().manual_seed(0)
    cuda = device.type == "cuda"
    times = []
    try:
        for i in range(repeats + 1):  # the first is a warm-up
            if cuda:
                torch.cuda.synchronize(device)
                if i == 1:
                    torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            matcher.step(syn, opt, gen)
            if cuda:
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t0)
    except torch.OutOfMemoryError:  # e.g. unrolled MTT at the papers' scale: recorded next to the estimate, the next setting runs
        return {"blocks": blocks, "trainable_params": layout.num_params, "seconds": None, "peak_mb": None, "estimate_mb": estimate_mb,
                "error": "out of memory"}
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"blocks": blocks, "trainable_params": layout.num_params, "seconds": sum(times[1:]) / repeats, "peak_mb": peak,
            "estimate_mb": estimate_mb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", default="1,2,3",
                    help="comma list of image_trainable_blocks: K = the last K blocks trainable, 0 = the whole encoder "
                         "(default %(default)s)")
    ap.add_argument("--pairs", type=int, default=100, help="synthetic image-text pairs (default %(default)s)")
    ap.add_argument("--methods", default="mtt,tesla",
                    help="comma list: mtt (bi-trajectory), tesla (LoRS) (default %(default)s)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="timed iterations after one warm-up, averaged; 0: only the planner's estimate (default %(default)s)")
    ap.add_argument("--image-size", type=int, default=64, help="image side in pixels (default %(default)s)")
    ap.add_argument("--name", default="image_text_matching_speed",
                    help="the JSON's name under benchmarks/results (default %(default)s)")
    ap.add_argument("--device", default="cpu", help="cpu (the issue's 2-core figure) or cuda (default %(default)s)")
    ap.add_argument("--encoder", default="efficientnet_lite0", help="the recipe's image_encoder (default %(default)s)")
    ap.add_argument("--weights", default="default",
                    help="the recipe's image_weights: default (the encoder's pretrained ones) or none (random init)")
    ap.add_argument("--text-dim", type=int, default=384,
                    help="text embedding width (MiniLM 384, BERT-base 768; default %(default)s)")
    args = ap.parse_args()
    device = torch.device(args.device)
    peak_label = "peak GPU MB (allocated)" if device.type == "cuda" else "peak RSS MB (process)"
    rows, records = [], []
    for method in args.methods.split(","):
        for blocks in (int(b) for b in args.blocks.split(",")):
            r = one_setting(blocks, args.pairs, method, args.repeats, args.image_size, device, args.encoder, args.weights, args.text_dim)
            if device.type == "cuda":
                torch.cuda.empty_cache()  # the next setting starts from an empty allocator (after an out-of-memory too)
            rows.append([method, blocks or "whole", r["trainable_params"], r.get("error") or ("-" if r["seconds"] is None else f"{r['seconds']:.2f}"),
                         "-" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}", f"{r['estimate_mb']:.0f}"])
            records.append({"method": method, "pairs": args.pairs, "threads": torch.get_num_threads(), **r})
            print(rows[-1], flush=True)
    print_table(["method", "trainable blocks", "trainable params", "s / iteration", peak_label, "planner's estimate MB"], rows)
    write_result(args.name, {"settings": vars(args), "results": records})


if __name__ == "__main__":
    main()
