#!/usr/bin/env python3
"""A PyTorch twin of our Table 1 and denoising runs: the same crop, mask or noise
level, framing, input, fit, output average, rollback and final image as `dip
reproduce --only table1` (or `--only denoising`), with the network of
benches/torch_reference.py, writing records that `dip::reproduce` reads.

What it separates: where our runs fall short of the authors' published outputs on
the same pixels, is it our code, one draw of theirs, or the protocol (a crop, or the
paper's iterations on an image they were not set for)? The twin fits exactly our
image with PyTorch; the authors' output was not fitted on our crop.

The settings are not written down twice: each run's settings (its "job") come from
`dip reproduce --list --json`, and this script refuses a job it does not know how to
run (anything but Table 1's inpainting of a masked image, or denoising, with the
standard kind of net). Its random draws are PyTorch's, not ours: the weights from
`torch.manual_seed(seed)`, the noisy image, `z` and the per-iteration noise from
generators seeded by the seed (and the iteration), so a run resumed from its
checkpoint draws the same noise as one that never stopped.

    python benches/torch_twin.py --images house,hill,cameraman --seeds 3 --resume
    python benches/torch_twin.py --images house --seed 1
    python benches/torch_twin.py --experiment denoising --seeds 3 --images F16,house
    python benches/torch_twin.py --images house --iterations 300 --out /tmp/twin

Records go to `results/pytorch/<preset>/<experiment>/<image>[-seed<k>].json` (with
the restored image beside each) unless `--out DIR` says otherwise; they have the
fields of our records (`dip::reproduce::Record`) and `"implementation": "pytorch"`.
"""

import argparse
import datetime
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time

# OpenMP's threads spin while they wait for each other; on a CPU shared with other
# processes a spinning thread waits for a descheduled one: on 2 shared cores, 66 x 66,
# 2 threads took 1.9-4.6 s an iteration spinning, 0.23 s passive (1 thread: 0.19 s).
# Set before torch loads OpenMP; the environment may still say otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference  # noqa: E402  (beside this file: the network)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What a thinned history keeps: about this many points (`record::thin_history`).
HISTORY_POINTS = 500
# Non-finite losses in a row that end a fit (`fit::MAX_NON_FINITE_IN_A_ROW`).
MAX_NON_FINITE_IN_A_ROW = 5
# The experiments the twin runs.
EXPERIMENTS = ("table1", "denoising")


class TwinError(Exception):
    """An error to report in one line (a bad argument, a missing file, a job the twin cannot run)."""


# ---------------------------------------------------------------------------
# The jobs: our settings, from `dip reproduce --list --json`.


def list_jobs(a):
    """Our jobs for the chosen images and seeds, as `dip reproduce --list --json` prints them."""
    seeds = a.seeds if a.seed is None else a.seed + 1
    cmd = [a.dip, "reproduce", "--preset", a.preset, "--only", a.experiment, "--images", ",".join(a.images),
           "--seeds", str(seeds), "--list", "--json", "--data", a.data]
    if a.iterations is not None:
        cmd += ["--iterations", str(a.iterations)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise TwinError(f"cannot run {a.dip} ({e.strerror}): build it with `cargo build --release`, or pass --dip")
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise TwinError(f"`dip reproduce --list --json` failed: {last}")
    jobs = json.loads(out.stdout)
    if a.seed is not None:
        jobs = [j for j in jobs if j["seed"] == a.seed]
    missing = sorted(set(a.images) - {j["image"] for j in jobs} - {j["name"] for j in jobs})
    if missing:
        raise TwinError(f"no {a.experiment} run named {', '.join(missing)} in the {a.preset} preset")
    return jobs


def expect(what, value, wanted):
    if value != wanted:
        raise TwinError(f"the twin runs only Table 1's and denoising's protocols: {what} is {value!r}, "
                        f"it needs {wanted!r}")


def check_job(job):
    """Refuse what this script does not implement, naming the setting."""
    task, net, fit = job["task"], job["net"], job["fit"]
    if task["task"] == "denoising":
        expect("the framing", list(job["framing"]), ["pad_to_multiple"])
    else:
        expect("the task", (task["task"], task.get("mask")), ("inpainting", None))
        expect("the cut", list(job["cut"]), ["centre_crop"])
        expect("the framing", list(job["framing"]), ["reflect_border"])
        expect("the output averaging", fit["exp_weight"], None)
    expect("the cut", job["cut"] == "whole" or list(job["cut"]) == ["centre_crop"], True)
    expect("the input", list(fit["input"]), ["Noise"])
    expect("the rollback check", fit["rollback_check"] in ("multiples", "all_but_multiples"), True)
    expect("the tiles", job.get("tiles"), None)
    depth = len(net["channels_down"])
    uniform = {k: len(set(net[k])) for k in ("channels_down", "channels_up", "channels_skip", "filter_down",
                                             "filter_up", "upsample")}
    expect("the number of distinct values per scale", uniform, {k: 1 for k in uniform})
    expect("the decoder's channels", net["channels_up"][0], net["channels_down"][0])
    expect("the kernels (down, up, skip)", (net["filter_down"][0], net["filter_up"][0], net["filter_skip"]), (3, 3, 1))
    expect("the upsampling, padding, 1x1 and sigmoid",
           (net["upsample"][0], net["padding"], net["need_1x1_up"], net["need_sigmoid"]),
           ("Bilinear", "Reflection", True, True))
    expect("the input channels", net["input_channels"], fit["input"]["Noise"]["channels"])
    return depth


# ---------------------------------------------------------------------------
# Images, as `dip::Image` reads, cuts and pads them (float32, channels first).


def load_image(path):
    """An image file as float32 `(C, H, W)` in [0, 1]: grey stays one channel, colour is RGB."""
    if not os.path.isfile(path):
        raise TwinError(f"{path}: no such image (is the data folder right? --data or DIP_DATA)")
    with Image.open(path) as im:
        if im.mode in ("I;16", "I;16B", "I"):
            return (np.asarray(im, dtype=np.float32) / np.float32(65535))[None]
        grey = im.mode in ("1", "L", "LA", "P") and (im.mode != "P" or not has_colour(im))
        rgb = np.asarray(im.convert("L" if grey else "RGB"), dtype=np.float32) / np.float32(255)
    return rgb[None] if grey else rgb.transpose(2, 0, 1).copy()


def has_colour(im):
    palette = np.asarray(im.convert("RGB"))
    return not (np.all(palette[..., 0] == palette[..., 1]) and np.all(palette[..., 1] == palette[..., 2]))


def to_grey(img):
    """ITU-R BT.601 luma in float32, in `Image::to_grey`'s order of operations."""
    if img.shape[0] == 1:
        return img
    w = [np.float32(v) for v in (0.299, 0.587, 0.114)]
    return (w[0] * img[0] + w[1] * img[1] + w[2] * img[2])[None]


def cut_image(img, cut):
    """`Cut`: the whole image, or its centred square (`centre_crop`)."""
    return img if cut == "whole" else centre_crop(img, cut["centre_crop"])


def centre_crop(img, side):
    """`Cut::CentreCrop`: the centred square of `side` (or the whole side where smaller)."""
    _, h, w = img.shape
    ch, cw = min(side, h), min(side, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[:, top:top + ch, left:left + cw]


def reflect_pad(img, border):
    """`Framing::ReflectBorder`: mirror `border` pixels on every side (no edge repeat)."""
    return np.pad(img, ((0, 0), (border, border), (border, border)), mode="reflect")


def save_png(img, path):
    """8 bits, rounded half away from zero as `Image::save` does, written atomically."""
    v = np.floor(np.clip(img, 0, 1) * np.float32(255) + np.float32(0.5)).astype(np.uint8)
    tmp = f"{path}.{os.getpid()}.tmp"
    Image.fromarray(v[0] if v.shape[0] == 1 else v.transpose(1, 2, 0)).save(tmp, format="PNG")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# Metrics, as `dip::metrics` computes them (float64, the test image clipped first).


def psnr(reference, test):
    """`metrics::psnr`: 10·log10(1 / MSE) over all values, `test` clipped to [0, 1]."""
    d = reference.astype(np.float64) - np.clip(test, 0, 1).astype(np.float64)
    mse = float(np.mean(d * d))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def ssim(reference, test):
    """`metrics::ssim`: Wang et al.'s mean SSIM with an 11-tap Gaussian of σ 1.5 over
    the positions where the window fits, K1 0.01, K2 0.03, data range 1; `None` below 11 pixels."""
    if min(reference.shape[1:]) < 11:
        return None
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()

    def filt(p):  # valid correlation with g ⊗ g, rows then columns
        rows = np.stack([p[:, i:i + p.shape[1] - 10] for i in range(11)], -1) @ g
        return np.stack([rows[i:i + rows.shape[0] - 10] for i in range(11)], -1) @ g

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    total = 0.0
    for x, y in zip(reference.astype(np.float64), np.clip(test, 0, 1).astype(np.float64)):
        mx, my = filt(x), filt(y)
        vx, vy, cxy = filt(x * x) - mx * mx, filt(y * y) - my * my, filt(x * y) - mx * my
        total += np.mean((2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return float(total / reference.shape[0])


def finite(v):
    return v if v is not None and math.isfinite(v) else None


# ---------------------------------------------------------------------------
# A job made ready to fit (`Job::prepare` for Table 1 and denoising).


def authors_output(task, data, cut):
    """The authors' published output cut as the clean image, where the data has it."""
    ref = task.get("reference")
    path = ref and os.path.join(data, ref)
    return cut(ref) if path and os.path.isfile(path) else None


class Inpainting:
    """Table 1: the masked image framed for the net, the mask, the clean crop and the authors' output on it."""

    def __init__(self, job, data):
        border = job["framing"]["reflect_border"]
        task = job["task"]

        def cut(rel):
            return to_grey(cut_image(load_image(os.path.join(data, rel)), job["cut"]))

        self.clean = cut(task["clean"])
        masked = cut(task["image"])
        # The holes of the paper's masked inputs are its zeros (`mask_of_masked_image`).
        mask = (masked != 0).any(axis=0, keepdims=True).astype(np.float32)
        if not mask.any():
            raise TwinError(f"{task['image']}: the mask has no known pixels")
        padded, padded_mask = reflect_pad(masked, border), reflect_pad(mask, border)
        self.observed = torch.from_numpy(padded * padded_mask)[None]
        self.mask = torch.from_numpy(padded_mask)[None]
        self.border = border
        self.baseline = ("masked input", psnr(self.clean, self.clean * mask))
        self.authors = authors_output(task, data, cut)

    def crop(self, out):
        """The clean image's pixels of a padded output `(1, C, H, W)`, as numpy `(C, h, w)`."""
        b, (h, w) = self.border, self.clean.shape[1:]
        return out[0, :, b:b + h, b:b + w].detach().cpu().numpy()

    def to(self, device):
        self.observed, self.mask = self.observed.to(device), self.mask.to(device)
        return self

    def energy(self, out):
        """`E = mean((out ⊙ m − x0)²)` over the padded image (`Problem::energy`)."""
        return ((out * self.mask - self.observed) ** 2).mean()


class Denoising:
    """Denoising: the clean image (or crop), the noisy one drawn from the run's seed, the authors' output."""

    def __init__(self, job, data):
        task, multiple = job["task"], job["framing"]["pad_to_multiple"]

        def cut(rel):
            return cut_image(load_image(os.path.join(data, rel)), job["cut"])

        self.clean = cut(task["clean"])
        if any(n % multiple for n in self.clean.shape[1:]):
            raise TwinError(f"{job['name']}: {self.clean.shape[1:]} is not a multiple of {multiple}; "
                            "the twin does not pad")
        # `denoising::add_noise`: x + N(0, σ²) per value, clipped to [0, 1].
        g = generator(job["seed"] ^ 0x00C0_FFEE)
        noise = torch.randn(self.clean.shape, generator=g).numpy() * np.float32(task["sigma"] / 255)
        noisy = np.clip(self.clean + noise, 0, 1).astype(np.float32)
        self.observed = torch.from_numpy(noisy)[None]
        self.baseline = ("noisy input", psnr(self.clean, noisy))
        self.authors = authors_output(task, data, cut)

    def crop(self, out):
        return out[0].detach().cpu().numpy()

    def to(self, device):
        self.observed = self.observed.to(device)
        return self

    def energy(self, out):
        """`E = mean((out − x0)²)`."""
        return ((out - self.observed) ** 2).mean()


def problem_of(job, data):
    return (Denoising if job["task"]["task"] == "denoising" else Inpainting)(job, data)


# ---------------------------------------------------------------------------
# The fit (`dip::fit::Fitter`), in PyTorch.


def build_net(job, depth):
    """The paper's skip net (torch_reference.skip_net) with the job's BatchNorm start:
    γ ~ U(0, 1) as PyTorch 0.4 initialised it (`bn_init: uniform`), or γ = 1."""
    net = job["net"]
    model = torch_reference.skip_net(cin=net["input_channels"], cout=net["output_channels"],
                                     channels=net["channels_down"][0], skip=net["channels_skip"][0], depth=depth)
    if net.get("bn_init", "ones") == "uniform":
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                nn.init.uniform_(m.weight, 0.0, 1.0)
    return model


def generator(seed):
    g = torch.Generator()
    g.manual_seed(seed & 0xFFFF_FFFF_FFFF_FFFF)
    return g


class Fitter:
    """The state of one fit: the net, `z`, Adam, the output average, the rollback point, the history."""

    def __init__(self, job, problem, depth, device):
        fit = job["fit"]
        self.fit, self.problem, self.device = fit, problem, device
        seed = fit["seed"]
        torch.manual_seed(seed)
        self.net = build_net(job, depth).to(device)
        self.net.train()  # BatchNorm on the batch's statistics, always (as the reference runs)
        _, _, h, w = problem.observed.shape
        shape = (1, fit["input"]["Noise"]["channels"], h, w)
        self.z = (torch.rand(shape, generator=generator(seed ^ 0x5EED_0001)) * 0.1).to(device)
        problem.to(device)
        self.average = None
        self.opt = torch.optim.Adam(self.net.parameters(), lr=fit["lr"])
        self.history, self.rollbacks, self.elapsed = [], 0, 0.0
        self.last_good, self.last_good_psnr, self.non_finite = None, -math.inf, 0

    def perturbed(self, i):
        """`z` plus iteration `i`'s noise N(0, reg_noise_std²), drawn from `(seed, i)`."""
        std = self.fit["reg_noise_std"]
        if std == 0:
            return self.z
        noise = torch.randn(self.z.shape, generator=generator((self.fit["seed"] << 32) + i + 1))
        return self.z + noise.to(self.device) * std

    def step(self):
        """Perturb `z`, forward, energy, the output average, backward, the rollback check, the Adam step."""
        start = time.perf_counter()
        i = len(self.history)
        out = self.net(self.perturbed(i))
        energy = self.problem.energy(out)
        loss = float(energy.detach())
        if not math.isfinite(loss):
            self.roll_back_non_finite(i, loss)
        else:
            self.non_finite = 0
            psnr_corrupted = math.inf if loss == 0 else -10 * math.log10(loss)
            w = self.fit["exp_weight"]
            if w is not None:
                o = out.detach()
                self.average = o.clone() if self.average is None else self.average * w + o * (1 - w)
            self.opt.zero_grad(set_to_none=True)
            energy.backward()
            rolled_back = self.rollback_check(psnr_corrupted)
            # As in the reference, the step runs after a rollback too, with this iteration's gradients.
            self.opt.step()
            clean = psnr(self.problem.clean, self.problem.crop(out))
            averaged = None if self.average is None else psnr(self.problem.clean, self.problem.crop(self.average))
            self.history.append(dict(iteration=i, loss=loss, psnr_corrupted=psnr_corrupted, psnr_clean=clean,
                                     psnr_clean_average=averaged, rolled_back=rolled_back))
        self.elapsed += time.perf_counter() - start
        return self.history[-1]

    def counter(self):
        """The reference's counter `i`: the iterations that did not roll back."""
        return sum(1 for s in self.history if not s["rolled_back"])

    def rollback_check(self, psnr_corrupted):
        """The reference's backtracking where `i % every == 0` (`restoration.ipynb`, `multiples`)
        or `!= 0` (`denoising.ipynb`, `all_but_multiples`): a drop of more than
        `rollback_drop_db` below the saved PSNR puts the saved parameters back; otherwise save."""
        drop, every = self.fit["rollback_drop_db"], max(self.fit["rollback_every"], 1)
        multiple = self.counter() % every == 0
        if drop is None or multiple != (self.fit["rollback_check"] == "multiples"):
            return False
        if self.last_good is not None and psnr_corrupted - self.last_good_psnr < -drop:
            self.put_back()
            self.rollbacks += 1
            return True
        self.last_good = [p.detach().clone() for p in self.net.parameters()]
        self.last_good_psnr = psnr_corrupted
        return False

    def put_back(self):
        with torch.no_grad():
            for p, g in zip(self.net.parameters(), self.last_good):
                p.copy_(g)

    def roll_back_non_finite(self, i, loss):
        """A NaN or infinite loss: the last good parameters back, no step (our guard; the reference has none)."""
        self.non_finite += 1
        if self.non_finite >= MAX_NON_FINITE_IN_A_ROW or self.last_good is None:
            raise TwinError(f"the loss was {loss} at iteration {i}; the fit diverged")
        self.put_back()
        self.rollbacks += 1
        self.history.append(dict(iteration=i, loss=loss, psnr_corrupted=math.nan, psnr_clean=None,
                                 psnr_clean_average=None, rolled_back=True))

    def result(self):
        """The restored image, cropped (`FitResult::restored`): the output average where the
        fit averages, else the final output `f(final input)`, from the last perturbed input
        (`last_perturbed`) or `z`."""
        if self.average is not None:
            return self.problem.crop(self.average)
        n = len(self.history)
        z = self.perturbed(n - 1) if self.fit["final_input"] == "last_perturbed" and n > 0 else self.z
        with torch.no_grad():
            return self.problem.crop(self.net(z))

    # Checkpoints: everything but `z` and the noise, which follow from the seed.

    def state(self):
        return dict(net=self.net.state_dict(), opt=self.opt.state_dict(), history=self.history,
                    rollbacks=self.rollbacks, elapsed=self.elapsed, last_good=self.last_good,
                    last_good_psnr=self.last_good_psnr, non_finite=self.non_finite, average=self.average)

    def restore(self, s):
        self.net.load_state_dict(s["net"])
        self.opt.load_state_dict(s["opt"])
        self.average = s.get("average")
        if self.average is not None:
            self.average = self.average.to(self.device)
        self.history, self.rollbacks, self.elapsed = s["history"], s["rollbacks"], s["elapsed"]
        self.last_good, self.last_good_psnr, self.non_finite = s["last_good"], s["last_good_psnr"], s["non_finite"]
        if self.last_good is not None:
            self.last_good = [g.to(self.device) for g in self.last_good]


# ---------------------------------------------------------------------------
# Records (`dip::reproduce::Record`) and files.


def write_json(path, value):
    """JSON written atomically: a temporary file beside it, then a rename."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def stem(job):
    return job["image"] if job["seed"] == 0 else f"{job['image']}-seed{job['seed']}"


def thin_history(history):
    """About 500 points: every k-th iteration and the last (`record::thin_history`); non-finite values as null."""
    every = max(-(-len(history) // HISTORY_POINTS), 1)
    points = [dict(s, loss=finite(s["loss"]), psnr_corrupted=finite(s["psnr_corrupted"]),
                   psnr_clean=finite(s["psnr_clean"]))
              for i, s in enumerate(history) if i % every == 0 or i + 1 == len(history)]
    return every, points


def best_psnr(history):
    """The best PSNR against the clean image and its first iteration (`record::best_psnr`)."""
    best = None
    for s in history:
        p = finite(s["psnr_clean"])
        if p is not None and (best is None or p > best[0]):
            best = (p, s["iteration"])
    return best


def device_name(device):
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    n = torch.get_num_threads()
    return "cpu (1 thread)" if n == 1 else f"cpu ({n} threads)"


def git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def make_record(job, problem, fitter, output, started_at, prepare_seconds):
    """The record of a finished run: our fields, and `implementation: pytorch`."""
    best = best_psnr(fitter.history)
    every, history = thin_history(fitter.history)
    n = len(fitter.history)
    last_loss = fitter.history[-1]["loss"] if n else None
    ours = ("image", "preset", "seed", "task", "cut", "framing", "net", "fit")
    return dict(
        {"experiment": job["experiment"]}, **{k: job[k] for k in ours},
        implementation="pytorch",
        parameters=sum(p.numel() for p in fitter.net.parameters()),
        device=fitter.device.type,
        device_name=device_name(fitter.device),
        crate_version=f"torch {torch.__version__}, numpy {np.__version__}, python {platform.python_version()}",
        git_commit=git_commit(),
        started_at=started_at,
        wall_seconds=fitter.elapsed + prepare_seconds,
        seconds_per_iteration=fitter.elapsed / max(n, 1),
        iterations=n,
        resumed_from=fitter.resumed_from,
        rollbacks=fitter.rollbacks,
        history_every=every,
        history=history,
        final_loss=finite(last_loss),
        final_psnr=finite(psnr(problem.clean, output)),
        final_ssim=ssim(problem.clean, output),
        authors_psnr=None if problem.authors is None else finite(psnr(problem.clean, problem.authors)),
        best_psnr=best and best[0],
        best_iteration=best and best[1],
        baseline={"name": problem.baseline[0], "psnr": finite(problem.baseline[1])},
        output=f"{stem(job)}.png",
    )


def record_is_of(path, job):
    """Whether `path` holds a finished twin record of exactly this job."""
    try:
        with open(path) as f:
            r = json.load(f)
    except (OSError, ValueError):
        return False
    same = all(r.get(k) == job[k] for k in ("experiment", "image", "preset", "seed", "task", "cut", "framing",
                                            "net", "fit"))
    return same and r.get("implementation") == "pytorch"


# ---------------------------------------------------------------------------
# Running the jobs.


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def resume(fitter, job, ckpt, wanted):
    """Restore `fitter` from the checkpoint if asked for and of this very job; its first start time."""
    fitter.resumed_from = None
    if not (wanted and os.path.isfile(ckpt)):
        return now_iso()
    saved = torch.load(ckpt, map_location=fitter.device, weights_only=False)
    if saved["job"] != job:
        return now_iso()
    fitter.restore(saved["state"])
    fitter.resumed_from = len(fitter.history)
    return saved["started_at"]


def save_checkpoint(path, job, started_at, fitter):
    tmp = f"{path}.{os.getpid()}.tmp"
    torch.save(dict(job=job, started_at=started_at, state=fitter.state()), tmp)
    os.replace(tmp, path)


def run_job(job, depth, a, device):
    """One run: prepare, fit (checkpointed; Ctrl-C keeps a checkpoint), record. The record's path, or None if skipped."""
    name = f"pytorch {job['preset']} {job['experiment']}/{job['image']} seed {job['seed']}"
    record_path, ckpt = (os.path.join(a.out, f"{stem(job)}{ext}") for ext in (".json", ".ckpt.pt"))
    if not a.force and record_is_of(record_path, job):
        print(f"{name}: already recorded in {record_path}", flush=True)
        return None
    begin = time.perf_counter()
    problem = problem_of(job, a.data)
    fitter = Fitter(job, problem, depth, device)
    started_at = resume(fitter, job, ckpt, a.resume and not a.force)
    prepare_seconds = time.perf_counter() - begin
    total = job["fit"]["iterations"]
    if fitter.resumed_from:
        print(f"{name}: resumed at iteration {fitter.resumed_from}", flush=True)
    try:
        while len(fitter.history) < total:
            s = fitter.step()
            done = len(fitter.history)
            if done % a.report_every == 0 or done == total:
                print(f"{name}: iteration {done}/{total}, loss {s['loss']:.3g}, PSNR {s['psnr_clean'] or math.nan:.2f} dB, "
                      f"{fitter.elapsed / done:.3f} s/it", flush=True)
            if a.checkpoint_every > 0 and done % a.checkpoint_every == 0 and done < total:
                save_checkpoint(ckpt, job, started_at, fitter)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the checkpoint is written whole
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        save_checkpoint(ckpt, job, started_at, fitter)
        raise TwinError(f"{name}: interrupted at iteration {len(fitter.history)}; checkpoint {ckpt} "
                        "(continue with --resume)")
    output = fitter.result()
    record = make_record(job, problem, fitter, output, started_at, prepare_seconds)
    save_png(output, os.path.join(a.out, record["output"]))
    write_json(record_path, record)
    if os.path.exists(ckpt):
        os.remove(ckpt)
    db = lambda v: "–" if v is None else f"{v:.2f} dB"  # noqa: E731
    print(f"{name}: {db(record['final_psnr'])} (the authors' output on the same pixels: "
          f"{db(record['authors_psnr'])}), {record['seconds_per_iteration']:.3f} s/it; {record_path}", flush=True)
    return record_path


def data_dir(cli):
    """`dip::data::data_dir`: --data, else $DIP_DATA, else ./data, else ../shared/data, else data."""
    if cli:
        return cli
    if os.environ.get("DIP_DATA"):
        return os.environ["DIP_DATA"]
    for d in ("data", os.path.join("..", "shared", "data")):
        if os.path.isdir(d):
            return d
    return "data"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiment", default="table1", choices=EXPERIMENTS,
                   help="whose runs to twin: table1 (default) or denoising")
    p.add_argument("--images", default="house,hill,cameraman",
                   help="comma-separated images of the experiment (default: house,hill,cameraman)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, default=1, help="runs per image, seeds 0..K-1 (default 1)")
    seeds.add_argument("--seed", type=int, help="only this seed")
    p.add_argument("--iterations", type=int, help="override the preset's iterations (short tests)")
    p.add_argument("--preset", default="cpu", help="our preset whose runs to twin (default cpu)")
    p.add_argument("--out", help="where the records go (default results/pytorch/<preset>/<experiment>)")
    p.add_argument("--data", help="the data folder (default: $DIP_DATA, else ./data)")
    p.add_argument("--dip", default=os.path.join(REPO, "target", "release", "dip"),
                   help="our `dip` binary, for the runs' settings (default target/release/dip)")
    p.add_argument("--resume", action="store_true", help="continue unfinished runs from their checkpoints")
    p.add_argument("--force", action="store_true", help="run again the runs already recorded")
    p.add_argument("--checkpoint-every", type=int, default=50, help="iterations between checkpoints (0: none)")
    p.add_argument("--report-every", type=int, default=500, help="iterations between progress lines")
    p.add_argument("--threads", type=int, default=1,
                   help="PyTorch's CPU threads (default 1: the fastest on 2 shared cores, 0.19 s an "
                        "iteration against 0.23 s with 2; a run repeats exactly with the same number)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (TF32 off)")
    a = p.parse_args(argv)
    a.images = [i for i in a.images.split(",") if i]
    if not a.images or a.seeds < 1 or (a.seed is not None and a.seed < 0) or a.report_every < 1 \
            or (a.iterations is not None and a.iterations < 1) or a.checkpoint_every < 0 or a.threads < 1:
        raise TwinError("--images needs a name; --seeds, --iterations, --report-every and --threads "
                        "must be positive, --seed and --checkpoint-every not negative")
    a.data = data_dir(a.data)
    a.out = a.out or os.path.join("results", "pytorch", a.preset, a.experiment)
    return a


def interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv):
    a = parse_args(argv)
    # Ctrl-C, and a scheduler's SIGTERM, stop the run with a checkpoint (even where the
    # shell started this in the background with SIGINT ignored).
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        device = torch.device(a.device)
    except RuntimeError:
        raise TwinError(f"unknown device {a.device!r}: use cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TwinError("--device cuda, but PyTorch sees no CUDA device")
    torch.set_num_threads(a.threads)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    jobs = list_jobs(a)
    depths = [check_job(j) for j in jobs]
    os.makedirs(a.out, exist_ok=True)
    for job, depth in zip(jobs, depths):
        run_job(job, depth, a, device)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except TwinError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
