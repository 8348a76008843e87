#!/usr/bin/env python3
"""Checks that the PyTorch twin (benches/torch_twin.py) computes what our fit computes,
where that can be checked exactly; exits non-zero if one fails.

1. The first iteration, from our side: our initial weights, `z` and the first
   iteration's noise (written by `cargo run --release --example twin_dump -- DUMP`)
   loaded into the twin's network give our output and loss to float32 rounding; and
   both gradients are compared with the same gradient in float64.
2. The rollback rule (`dip::fit::RollbackCheck`): a made-up sequence of PSNRs
   through the twin's check rolls back exactly where the rule says, and restores the
   parameters saved at the last good check.

    DIP_DATA=/path/to/data cargo run --release --example twin_dump -- /tmp/dump.safetensors
    python benches/torch_twin_check.py /tmp/dump.safetensors

After the first step the two fits part: Adam's first step moves every parameter by
the learning rate in the direction of its gradient's sign, and where a gradient is
at the level of float32 rounding (the conv biases that BatchNorm cancels, small
weights) the signs are a coin toss; hence the twin is compared over seeds, not step
by step.
"""

import json
import struct
import subprocess
import sys

import numpy as np
import torch

import torch_twin as tt

# How far the first output and loss may be from ours (float32 through 5 scales).
OUTPUT_TOLERANCE = 1e-4
LOSS_RELATIVE_TOLERANCE = 1e-5


def load_safetensors(path):
    """The float32 tensors of a safetensors file (its format: a length, a JSON header, the data)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header, base, out = json.loads(raw[8:8 + n]), 8 + n, {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        if v["dtype"] != "F32":
            raise tt.TwinError(f"{path}: {name} is {v['dtype']}, not F32")
        a, b = v["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(raw[base + a:base + b], dtype=np.float32).reshape(v["shape"]).copy())
    return out


def in_our_order(net):
    """The twin's parameters in our `named_parameters` order: scale by scale from the
    top (skip, down, down2, merge BN, up, 1x1 up; each conv then its BN), then the head."""
    level, out = net[0], []
    while level is not None:
        for m in (level.skip[0][0], level.skip[1], level.deep[0][1], level.deep[1], level.deep[3][1],
                  level.deep[4], level.merge[0], level.merge[1][1], level.merge[2], level.merge[4][0],
                  level.merge[5]):
            out += [m.weight, m.bias]
        level = level.deep[6] if isinstance(level.deep[6], tt.torch_reference.Level) else None
    return out + [net[1][0].weight, net[1][0].bias]


def bias_cancelled_by_batch_norm(name):
    """Parameters whose exact gradient is zero (a per-channel shift that BatchNorm removes)."""
    return name.endswith("conv.bias") or name.endswith("merge_bn.beta")


def gradient_errors(grads, reference, names):
    """Per tensor, max |g − reference| / max |reference|, over the tensors with a gradient."""
    errs = sorted(float((g.double().flatten() - r.flatten()).abs().max() / r.abs().max())
                  for g, r, n in zip(grads, reference, names) if not bias_cancelled_by_batch_norm(n))
    return errs[len(errs) // 2], errs[-1]


def net_with(job, depth, dump, names, dtype):
    net = tt.build_net(job, depth).to(dtype)
    params = in_our_order(net)
    if [tuple(p.shape) for p in params] != [tuple(dump[n].shape) for n in names]:
        raise tt.TwinError("the twin's parameters do not have our shapes, in our order")
    with torch.no_grad():
        for p, n in zip(params, names):
            p.copy_(dump[n].to(dtype))
    return net, params


def first_iteration(dump_path, a):
    """Check 1; True if it passes."""
    dump = load_safetensors(dump_path)
    job = json.loads(subprocess.run([a.dip, "reproduce", "--preset", "cpu", "--only", "table1", "--images", "house",
                                     "--list", "--json", "--data", a.data], capture_output=True, text=True,
                                    check=True).stdout)[0]
    depth = tt.check_job(job)
    problem = tt.Problem(job, a.data)
    names = sorted(k for k in dump if k.startswith("p"))
    grads = {}
    for dtype in (torch.float32, torch.float64):
        net, params = net_with(job, depth, dump, names, dtype)
        out = net(dump["z0"].to(dtype))
        loss = ((out * problem.padded_mask.to(dtype) - problem.observed.to(dtype)) ** 2).mean()
        loss.backward()
        grads[dtype] = [p.grad for p in params]
        if dtype == torch.float32:
            d_out = float((out.detach() - dump["out0"]).abs().max())
            theirs, ours = float(loss.detach()), float(dump["loss0"][0])
            rel = abs(theirs - ours) / ours
    ours_g = [dump["g" + n[1:]] for n in names]
    g_med, g_max = gradient_errors(ours_g, grads[torch.float64], names)
    t_med, t_max = gradient_errors(grads[torch.float32], grads[torch.float64], names)
    print(f"first iteration from our weights, z and noise: output max |twin − ours| {d_out:.1e}, "
          f"loss {theirs:.9e} (ours {ours:.9e}, relative {rel:.1e})")
    print(f"  float32 gradients against float64, max error per tensor / its largest value: "
          f"ours median {g_med:.1e} worst {g_max:.1e}; twin median {t_med:.1e} worst {t_max:.1e}")
    return d_out < OUTPUT_TOLERANCE and rel < LOSS_RELATIVE_TOLERANCE


def rollback_rule(a):
    """Check 2; True if it passes. Every 2 (counter), a drop of more than 5 dB rolls back."""
    job = json.loads(subprocess.run([a.dip, "reproduce", "--preset", "tiny", "--only", "table1", "--images", "house",
                                     "--list", "--json", "--data", a.data], capture_output=True, text=True,
                                    check=True).stdout)[0]
    job["fit"]["rollback_every"], job["fit"]["rollback_drop_db"] = 2, 5.0
    f = tt.Fitter(job, tt.Problem(job, a.data), tt.check_job(job), torch.device("cpu"))
    # Counter 0 saves 10; 2 saves 12; at 4, 4 dB is 8 below 12: back to the parameters of
    # counter 2, the counter stays at 4 and the next iteration (13) is checked and saved.
    psnrs, wanted = [10, 11, 12, 3, 4, 13, 2, 14], [False, False, False, False, True, False, False, False]
    got, restored = [], None
    for k, psnr in enumerate(psnrs):
        with torch.no_grad():
            for p in f.net.parameters():
                p.add_(1.0)  # stands for an optimiser step
        rolled = f.rollback_check(psnr)
        if k == 2:
            saved = [p.detach().clone() for p in f.net.parameters()]
        if rolled:
            restored = all(torch.equal(p, s) for p, s in zip(f.net.parameters(), saved))
        f.history.append(dict(rolled_back=rolled))
        got.append(rolled)
    print(f"rollback rule: rolled back at {[k for k, r in enumerate(got) if r]} (wanted [4]); "
          f"the parameters of the last good check restored: {restored}")
    return got == wanted and restored is True


def main():
    import argparse
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dump", help="the file written by `cargo run --release --example twin_dump -- FILE`")
    p.add_argument("--data", help="the data folder (default: $DIP_DATA, else ./data)")
    p.add_argument("--dip", default=tt.os.path.join(tt.REPO, "target", "release", "dip"))
    a = p.parse_args()
    a.data = tt.data_dir(a.data)
    torch.set_num_threads(1)
    ok = [first_iteration(a.dump, a), rollback_rule(a)]
    if not all(ok):
        print("error: the twin does not compute what our fit computes (see above)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except (tt.TwinError, OSError, ValueError, KeyError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
