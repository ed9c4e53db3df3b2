"""The memory a process may still take: a control group's limit (a container's, a batch job's) counts, in both cgroup
layouts, at any level above the process's own group, less the reclaimable page cache (session 49: inside a 900 MiB
group the memory check compared with the host's 21 GB MemAvailable, passed, and the kernel killed the run, exit 137)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import mmdistill.host_limits as host_limits
from mmdistill.errors import ConfigError
from mmdistill.host_limits import cgroup_memory_left, memory_left
from mmdistill.memory import MemoryEstimate, check_fits, host_memory

MiB = 2**20


def _group(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text + "\n", encoding="ascii")


def test_a_v2_group_leaves_its_limit_less_its_working_set_and_a_parent_limit_binds_too(tmp_path):
    job = tmp_path / "user.slice" / "job"
    _group(tmp_path / "user.slice", {"memory.max": "max", "memory.current": str(900 * MiB), "memory.stat": "anon 1\n"})
    _group(job, {"memory.max": str(1024 * MiB), "memory.current": str(600 * MiB),
                 "memory.stat": f"anon {400 * MiB}\nfile {200 * MiB}\ninactive_file {200 * MiB}\nactive_file 0"})
    proc = "0::/user.slice/job"
    assert cgroup_memory_left(proc, tmp_path) == 1024 * MiB - (600 - 200) * MiB  # page cache the kernel reclaims first
    (tmp_path / "user.slice" / "memory.max").write_text(str(1000 * MiB))  # the parent's limit is nearer
    assert cgroup_memory_left(proc, tmp_path) == 100 * MiB
    _group(tmp_path, {"memory.max": str(512 * MiB), "memory.current": str(100 * MiB)})  # a container's group at the mount
    assert cgroup_memory_left("0::/", tmp_path) == 412 * MiB


def test_a_v1_group_is_read_in_the_memory_hierarchy_and_its_unlimited_value_is_no_limit(tmp_path):
    base = tmp_path / "memory"
    unlimited = "9223372036854771712"
    _group(base, {"memory.limit_in_bytes": unlimited, "memory.usage_in_bytes": str(5000 * MiB)})
    hybrid = "9:name=systemd:/\n4:memory:/process_api/abc\n3:cpuset:/\n0::/"  # v1 memory beside a v2 line: v1 holds it
    assert cgroup_memory_left(hybrid, tmp_path) is None  # no group of it has a limit
    _group(base / "process_api" / "abc", {"memory.limit_in_bytes": str(2048 * MiB), "memory.usage_in_bytes": str(1048 * MiB),
                                          "memory.stat": f"cache 1\ntotal_inactive_file {48 * MiB}"})
    assert cgroup_memory_left(hybrid, tmp_path) == 1048 * MiB
    # docker on v1 without a cgroup namespace: the host's path is not mounted; the container's group is the mount's root
    _group(base, {"memory.limit_in_bytes": str(300 * MiB), "memory.usage_in_bytes": str(100 * MiB)})
    assert cgroup_memory_left("4:memory:/docker/0123abcd", tmp_path) == 200 * MiB
    assert cgroup_memory_left("", tmp_path) is None and cgroup_memory_left("garbage", tmp_path) is None


def test_the_memory_check_names_a_control_group_that_leaves_less_than_the_host(monkeypatch):
    monkeypatch.setattr(host_limits, "available_memory", lambda: 20_000 * MiB)
    monkeypatch.setattr(host_limits, "cgroup_memory_left", lambda: 294 * MiB)
    monkeypatch.setattr(host_limits, "address_space_left", lambda: None)
    assert memory_left() == (294 * MiB, "cgroup") and host_memory() == 294 * MiB
    estimate = MemoryEstimate({"synthetic graph": 972 * MiB}, ("ipc", "batch_real"))
    with pytest.raises(ConfigError, match=r"which has 294 MiB left under this process's control-group memory limit "
                                          r"\(a container's or job's\) .*lower ipc, batch_real"):
        check_fits(estimate, torch.device("cpu"))
    monkeypatch.setattr(host_limits, "cgroup_memory_left", lambda: None)  # no group limit: the host's memory, unqualified
    with pytest.raises(ConfigError, match=r"which has 20000 MiB \(30000"):
        check_fits(MemoryEstimate({"synthetic graph": 30_000 * MiB}, ("ipc",)), torch.device("cpu"))
    monkeypatch.setattr(host_limits, "available_memory", lambda: None)
    assert memory_left() == (None, "") and host_memory() == 0  # nothing known: nothing to check against


def test_a_cpu_quota_is_read_in_both_layouts_and_threads_beyond_it_are_warned_once(tmp_path, caplog):
    from mmdistill.host_limits import cgroup_cpu_limit, warn_threads_over_cpu_limit

    _group(tmp_path / "job", {"cpu.max": "150000 100000"})  # v2: docker --cpus 1.5
    _group(tmp_path, {"cpu.max": "max 100000"})
    assert cgroup_cpu_limit("0::/job", tmp_path) == 1.5 and cgroup_cpu_limit("0::/", tmp_path) is None
    v1 = tmp_path / "v1" / "cpu,cpuacct"  # v1 mounts cpu with cpuacct
    _group(v1, {"cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000"})
    assert cgroup_cpu_limit("3:cpu,cpuacct:/", tmp_path / "v1") is None
    _group(v1 / "slurm" / "job_7", {"cpu.cfs_quota_us": "200000", "cpu.cfs_period_us": "100000"})
    assert cgroup_cpu_limit("3:cpu,cpuacct:/slurm/job_7\n0::/", tmp_path / "v1") == 2.0
    caplog.set_level("WARNING", logger="mmdistill")
    assert not warn_threads_over_cpu_limit(2, 1.5) and not warn_threads_over_cpu_limit(8, 16.0)
    assert warn_threads_over_cpu_limit(64, 2.0)
    assert "torch runs 64 threads, but this process's control group allows 2 CPU(s)" in caplog.text
    assert "set OMP_NUM_THREADS=2" in caplog.text
    assert not warn_threads_over_cpu_limit(64, 2.0)  # once a process: a notebook's second run is not warned again
