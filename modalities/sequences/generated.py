"""``generated[:USERS:ITEMS]``: a seeded Markov-ish interaction log, made without files (the sequences default)."""

from __future__ import annotations

import torch

from .log_columns import Row


def generated_log(num_users: int = 300, num_items: int = 200, seed: int = 0) -> list[Row]:
    """A seeded Markov-ish log: items form clusters of 20; each user prefers two clusters and mostly walks
    to the next item of its cluster (70 %), else jumps within its clusters (20 %) or anywhere (10 %);
    sequence lengths 15-60. A sequential model learns it far better than popularity."""
    gen = torch.Generator().manual_seed(seed)
    cluster = min(20, num_items)  # fewer than 20 items: one cluster of all of them
    n_clusters = max(1, num_items // cluster)
    rows: list[Row] = []
    t = 0
    for u in range(num_users):
        prefs = torch.randint(0, n_clusters, (2,), generator=gen).tolist()
        length = int(torch.randint(15, 61, (1,), generator=gen))
        c = prefs[0]
        item = c * cluster + int(torch.randint(0, cluster, (1,), generator=gen))
        for _ in range(length):
            rows.append((f"u{u}", f"i{item}", str(t)))
            t += 1
            r = float(torch.rand(1, generator=gen))
            if r < 0.7:
                item = (item // cluster) * cluster + (item % cluster + 1) % cluster
            elif r < 0.9:
                c = prefs[int(torch.randint(0, 2, (1,), generator=gen))]
                item = c * cluster + int(torch.randint(0, cluster, (1,), generator=gen))
            else:
                item = int(torch.randint(0, n_clusters * cluster, (1,), generator=gen))
    return rows
