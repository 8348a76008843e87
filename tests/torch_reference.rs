//! Our benchmark and `benches/torch_reference.py` time the same network and the
//! same iteration: equal parameter counts and equal FLOPs per iteration (PyTorch's
//! own `FlopCounterMode` against our count of the convolutions).
//!
//! Behind a flag, since the default tests must not need PyTorch:
//! `DIP_TORCH_PYTHON=/path/to/python cargo test --test torch_reference -- --ignored`
//! (a Python with `torch` installed, e.g. `pip install torch`).

use std::process::Command;

use candle_core::Device;
use dip::bench::{training_conv_flops, INPUT_CHANNELS};
use dip::net::{SkipConfig, SkipNet};

fn torch_script(args: &[&str]) -> String {
    let python = std::env::var("DIP_TORCH_PYTHON")
        .expect("set DIP_TORCH_PYTHON to a Python that has torch installed");
    let out = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/torch_reference.py"
        ))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        out.status.success(),
        "torch_reference.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The number after `prefix` on the line that starts with it.
fn value(output: &str, prefix: &str) -> f64 {
    let line = output
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line '{prefix}…' in:\n{output}"));
    line[prefix.len()..].trim().parse().unwrap()
}

#[test]
#[ignore = "needs PyTorch: DIP_TORCH_PYTHON=python cargo test --test torch_reference -- --ignored"]
fn the_pytorch_reference_has_our_parameter_count_and_flops() {
    for channels in [3, 1] {
        let config = SkipConfig::standard(INPUT_CHANNELS, channels);
        let ours = SkipNet::new(&config, 0, &Device::Cpu)
            .unwrap()
            .parameter_count();
        let theirs = torch_script(&["--count-params", "--channels", &channels.to_string()]);
        assert_eq!(
            value(&theirs, "parameters:") as usize,
            ours,
            "{channels} channels"
        );
    }
    for size in [256, 512] {
        let config = SkipConfig::standard(INPUT_CHANNELS, 3);
        let ours = training_conv_flops(&config, size, size) / 1e9;
        let theirs = torch_script(&["--flops", "--size", &size.to_string()]);
        let theirs = value(&theirs, "GFLOP per iteration (FlopCounterMode):");
        // PyTorch counts the convolutions (forward, input and weight gradients); so do we.
        assert!(
            (ours - theirs).abs() <= 0.01 * theirs,
            "{size}×{size}: ours {ours:.2} GFLOP, PyTorch {theirs:.2}"
        );
    }
}

/// PyTorch's count of an iteration's kernel launches and the bytes they write at
/// 64² (`--count-ops`, Adam as on CUDA) is the one the README gives beside ours.
#[test]
#[ignore = "needs PyTorch: DIP_TORCH_PYTHON=python cargo test --test torch_reference -- --ignored"]
fn the_readme_gives_pytorchs_op_count() {
    let out = torch_script(&["--size", "64", "--count-ops", "--threads", "1"]);
    let line = out
        .lines()
        .find(|l| l.contains("foreach=True"))
        .expect("a count with foreach=True");
    let total = line.rsplit("total ").next().unwrap();
    let (launches, rest) = total.split_once(" (").unwrap();
    let mib: f64 = rest.split_whitespace().next().unwrap().parse().unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let said = format!("PyTorch's {launches} and {mib:.0} MiB");
    assert!(readme.contains(&said), "README lacks {said:?}");
}
