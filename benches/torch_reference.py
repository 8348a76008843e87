#!/usr/bin/env python3
"""The standard Deep Image Prior network and training iteration in PyTorch, to
compare with `dip bench` (src/bench.rs) on the same machine.

Our own implementation of the paper's "skip" net: 5 scales of 128 channels down
and up, 4 skip channels, reflection padding, bilinear upsampling, BatchNorm in
training mode, LeakyReLU(0.2), a 1x1 head and a sigmoid (2,217,831 parameters
for 3 output channels, 2,217,573 for 1). One iteration: forward on z (32
channels, uniform in [0, 0.1)), MSE to a target image, backward, Adam step.

    python benches/torch_reference.py --size 256 --channels 3 --iterations 5
    python benches/torch_reference.py --count-params --channels 1
    python benches/torch_reference.py --size 256 --flops
    python benches/torch_reference.py --size 64 --count-ops
    python benches/torch_reference.py --size 256 --record results/bench/pytorch-cpu-256-c3.json

The last line is `median seconds per iteration: X`, as for `dip bench`. With
`--record FILE` the result is also written as JSON with the fields of
`dip bench --record` (`dip::reproduce::record::BenchRecord`), for the book's table.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn

INPUT_CHANNELS = 32


def conv(cin, cout, k, stride=1):
    """Reflection-pad (k - 1) / 2, then an unpadded conv with bias."""
    pad = (k - 1) // 2
    layers = [nn.ReflectionPad2d(pad)] if pad > 0 else []
    return nn.Sequential(*layers, nn.Conv2d(cin, cout, k, stride, padding=0, bias=True))


def bn(c):
    return nn.BatchNorm2d(c)


def act():
    return nn.LeakyReLU(0.2, inplace=True)


def concat_cropped(a, b):
    """Concatenate along the channels, both centre-cropped to the smaller height and
    width where they differ: with sides that are not multiples of 2^depth (Table 1's
    66 x 66) the upsampled deeper branch is one pixel larger than the skip branch."""
    h, w = min(a.shape[2], b.shape[2]), min(a.shape[3], b.shape[3])

    def crop(t):
        top, left = (t.shape[2] - h) // 2, (t.shape[3] - w) // 2
        return t[:, :, top:top + h, left:left + w]

    return torch.cat([crop(a), crop(b)], dim=1)


class Level(nn.Module):
    """One scale: a skip branch and a deeper branch (holding the next scale), merged."""

    def __init__(self, cin, down, up, skip, below, deeper):
        super().__init__()
        self.skip = nn.Sequential(conv(cin, skip, 1), bn(skip), act()) if skip else None
        self.deep = nn.Sequential(
            conv(cin, down, 3, 2), bn(down), act(),
            conv(down, down, 3), bn(down), act(),
            *([deeper] if deeper is not None else []),
            nn.Upsample(scale_factor=2, mode="bilinear"),
        )
        merged = skip + below
        self.merge = nn.Sequential(
            bn(merged),
            conv(merged, up, 3), bn(up), act(),
            conv(up, up, 1), bn(up), act(),
        )

    def forward(self, x):
        deep = self.deep(x)
        if self.skip is not None:
            deep = concat_cropped(self.skip(x), deep)
        return self.merge(deep)


def skip_net(cin=INPUT_CHANNELS, cout=3, channels=128, skip=4, depth=5):
    level = None
    for i in reversed(range(depth)):
        below = channels  # the next scale's decoder, or this scale's encoder at the bottom
        level = Level(cin if i == 0 else channels, channels, channels, skip, below, level)
    return nn.Sequential(level, conv(channels, cout, 1), nn.Sigmoid())


def iteration(net, opt, z, target):
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.mse_loss(net(z), target)
    loss.backward()
    opt.step()


def peak_rss_mib():
    """The process's peak resident memory in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def cpu_model():
    """The CPU's model name (/proc/cpuinfo on Linux), else what platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def git_commit():
    """`git rev-parse HEAD` of the repository holding this script, or "unknown"."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)),
                             capture_output=True, text=True, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def conv_gflop(net, opt, z, target):
    """GFLOP of one iteration as PyTorch's FlopCounterMode counts them (only the convolutions here)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        iteration(net, opt, z, target)
    return counter.get_total_flops() / 1e9


def profile(net, opt, z, target, dev, iterations=2):
    """Print where `iterations` training iterations spend their time (PyTorch's profiler):
    the 15 heaviest ops or kernels, and the kernels (CUDA) or ops (CPU) one iteration runs."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    iteration(net, opt, z, target)  # warm-up: allocations, cuDNN's choice of algorithms
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        for _ in range(iterations):
            iteration(net, opt, z, target)
        if dev.type == "cuda":
            torch.cuda.synchronize()
    key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=15))
    if dev.type == "cuda":
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        print(f"CUDA kernels per iteration: {len(kernels) / iterations:.0f}")
    else:
        ops = [e for e in prof.events() if e.name.startswith("aten::") and e.cpu_parent is None]
        print(f"top-level aten ops per iteration: {len(ops) / iterations:.0f}")


# Ops that launch no kernel: an allocation, reading Adam's step count (a CPU tensor on
# CUDA too), the profiler's marks.
NO_KERNEL = {"empty", "_local_scalar_dense", "_record_function_enter_new", "_record_function_exit"}


def count_ops(net, z, target, foreach):
    """The aten ops one iteration runs below autograd, per phase, views and `NO_KERNEL`
    left out: on CUDA each is about one kernel launch (a convolution's may be a few cuDNN
    kernels, a foreach op one per group of tensors). Adam as
    PyTorch runs it on CUDA (`foreach=True`: a few multi-tensor ops over all parameters)
    or one parameter at a time (`foreach=False`, its default on the CPU)."""
    from collections import Counter
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = Counter()
            self.bytes = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if not func.is_view and func.overloadpacket.__name__ not in NO_KERNEL:
                self.ops[func.__name__] += 1
                tensors = [t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
                self.bytes += sum(t.numel() * t.element_size() for t in tensors)
            return out

    opt = torch.optim.Adam(net.parameters(), lr=0.01, foreach=foreach)
    iteration(net, opt, z, target)  # Adam's state exists from the first step on
    phases = {}
    opt.zero_grad(set_to_none=True)
    with Count() as c:
        loss = nn.functional.mse_loss(net(z), target)
    phases["forward and loss"] = c
    with Count() as c:
        loss.backward()
    phases["backward"] = c
    with Count() as c:
        opt.step()
    phases["Adam step"] = c
    return phases


def write_record(path, record):
    """Write `record` as JSON to `path` atomically (a temporary file, then a rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--device", default="cpu", help="cpu or cuda (timed with a synchronisation after each iteration)")
    p.add_argument("--tf32", action="store_true",
                   help="on CUDA, let convolutions and matrix products use TF32 (PyTorch's default for "
                        "cuDNN convolutions; off here, so that the default compares float32 with float32)")
    p.add_argument("--count-params", action="store_true", help="print the parameter count and exit")
    p.add_argument("--flops", action="store_true", help="count the FLOPs of one iteration and exit")
    p.add_argument("--profile", action="store_true",
                   help="profile two iterations after a warm-up: the ops (and on CUDA the kernels) that take "
                        "the time, and how many kernels one iteration launches; then exit")
    p.add_argument("--count-ops", action="store_true",
                   help="count the ops (each about a kernel launch on CUDA) of one iteration, per phase; then exit")
    p.add_argument("--record", metavar="FILE", help="also write the result as JSON (the fields of `dip bench --record`)")
    a = p.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    net = skip_net(cout=a.channels).to(dev)
    params = sum(p.numel() for p in net.parameters())
    if a.count_params:
        print(f"parameters: {params}")
        return
    z = (torch.rand(1, INPUT_CHANNELS, a.size, a.size) * 0.1).to(dev)
    target = torch.rand(1, a.channels, a.size, a.size).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    if a.flops:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            iteration(net, opt, z, target)
        print(f"parameters: {params}")
        print(f"GFLOP per iteration (FlopCounterMode): {counter.get_total_flops() / 1e9:.2f}")
        return

    if a.profile:
        profile(net, opt, z, target, dev)
        return
    if a.count_ops:
        mib = lambda b: b / (1024 * 1024)
        for foreach in (True, False):
            phases = count_ops(net, z, target, foreach)
            counts = ", ".join(f"{name} {sum(c.ops.values())} ({mib(c.bytes):.1f} MiB)"
                               for name, c in phases.items())
            total = sum(sum(c.ops.values()) for c in phases.values())
            written = sum(c.bytes for c in phases.values())
            print(f"aten ops that launch a kernel on CUDA (MiB written), Adam foreach={foreach}: "
                  f"{counts}; total {total} ({mib(written):.1f} MiB)")
        for name, c in count_ops(net, z, target, True).items():
            print(f"  {name}: " + ", ".join(f"{op} {n}" for op, n in c.ops.most_common()))
        return

    print(f"PyTorch {torch.__version__} standard skip net, {INPUT_CHANNELS} -> {a.channels} channels, "
          f"{a.size}x{a.size}, {torch.get_num_threads()} threads, {a.device}{' (TF32)' if a.tf32 else ''}")
    seconds = []
    for i in range(a.warmup + a.iterations):
        sync()
        start = time.perf_counter()
        iteration(net, opt, z, target)
        sync()
        dt = time.perf_counter() - start
        if i >= a.warmup:
            seconds.append(dt)
            print(f"iteration {i - a.warmup + 1}: {dt:.3f} s", flush=True)
    peak = peak_rss_mib()
    median = statistics.median(seconds)
    if a.record:
        # Counted after the timing, on one more iteration, so that it changes neither.
        record = {
            "implementation": "pytorch",
            "version": f"torch {torch.__version__}" + (" (TF32)" if a.tf32 and dev.type == "cuda" else ""),
            "device": dev.type,
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_model(),
            "threads": torch.get_num_threads(),
            "size": a.size,
            "channels": a.channels,
            "iterations": a.iterations,
            "seconds": seconds,
            "median_seconds": median,
            "peak_rss_mib": peak,
            "parameters": params,
            "conv_gflop": conv_gflop(net, opt, z, target),
            "commit": git_commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        write_record(a.record, record)
    print(f"parameters: {params}")
    print(f"peak RSS: {peak:.0f} MiB")
    print(f"median seconds per iteration: {median:.4f}")


if __name__ == "__main__":
    main()
