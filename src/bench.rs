//! The training-iteration benchmark: how long one step of the paper's standard
//! network takes, and how much memory it needs.
//!
//! One iteration is what every experiment repeats thousands of times: the
//! standard skip net (5 scales of 128 channels, 4 skip channels, bilinear
//! upsampling, reflection padding) on an input `z` of 32 channels (uniform in
//! `[0, 0.1)`), forward, the mean squared error to a target image, backward, and
//! an Adam step. `benches/torch_reference.py` runs the same network and iteration
//! in PyTorch, with the same options and the same last line, so the two can be
//! compared on one machine; both write the same record ([`BenchRecord`],
//! `--record FILE`), from which the book makes its table.

use std::path::Path;
use std::time::{Instant, SystemTime};

use candle_core::{Device, Module, Tensor};

use crate::input;
use crate::net::{Part, SkipConfig, SkipNet, UnitLayout};
use crate::ops::Kernels;
use crate::optim::{Adam, AdamConfig};
use crate::reproduce::record::{self, BenchRecord, Implementation};
use crate::rng::Rng;
use crate::{DipError, Result};

/// What to benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchOptions {
    /// Height and width of the image.
    pub size: usize,
    /// Channels of the output image (3: colour, 1: grey).
    pub channels: usize,
    /// Timed iterations.
    pub iterations: usize,
    /// Untimed iterations first (allocations, caches, thread pools).
    pub warmup: usize,
    pub kernels: Kernels,
    pub seed: u64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            size: 256,
            channels: 3,
            iterations: 5,
            warmup: 1,
            kernels: Kernels::Fast,
            seed: 0,
        }
    }
}

/// What one benchmark measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    pub options: BenchOptions,
    pub parameters: usize,
    /// Floating-point operations of the convolutions of one iteration (forward and backward).
    pub conv_flops: f64,
    /// Seconds of each timed iteration.
    pub seconds: Vec<f64>,
    /// The median of `seconds`.
    pub median: f64,
    /// The medians of the phases: forward and loss, backward, Adam step.
    pub phase_medians: [f64; 3],
    /// The process's peak resident memory (`VmHWM`), if the system reports it.
    pub peak_rss_bytes: Option<u64>,
    /// Threads of the CPU kernels and of candle's CPU ops.
    pub threads: usize,
}

impl BenchReport {
    /// This benchmark as a record, on `device` (the schema `benches/torch_reference.py
    /// --record` writes too), dated now.
    pub fn to_record(&self, device: &Device) -> BenchRecord {
        let kernels = match self.options.kernels {
            Kernels::Fast => "fast kernels",
            Kernels::Candle => "candle's own ops",
            Kernels::Gemm => "matrix-product convolutions",
        };
        BenchRecord {
            implementation: Implementation::Dip,
            version: match crate::device::reduced_precision(device) {
                Some(p) => format!(
                    "candle {} ({kernels}, {})",
                    candle_version(),
                    p.to_uppercase()
                ),
                None => format!("candle {} ({kernels})", candle_version()),
            },
            device: crate::device::kind(device).into(),
            device_name: crate::device::model(device),
            threads: self.threads,
            size: self.options.size,
            channels: self.options.channels,
            iterations: self.options.iterations,
            seconds: self.seconds.clone(),
            median_seconds: self.median,
            peak_rss_mib: self.peak_rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0)),
            parameters: self.parameters,
            conv_gflop: self.conv_flops / 1e9,
            commit: record::git_commit(),
            date: record::iso8601(SystemTime::now()),
        }
    }
}

/// Write the record of `report` (run on `device`) to `path` as JSON, atomically,
/// making its folder if needed; conventionally
/// `results/bench/<implementation>-<device>-<size>-c<channels>.json` ([`BenchRecord::file_name`]).
pub fn write_record(report: &BenchReport, device: &Device, path: &Path) -> Result<BenchRecord> {
    let record = report.to_record(device);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_vec_pretty(&record).map_err(|e| DipError::invalid(e.to_string()))?;
    crate::image_io::write_atomically(path, &json)?;
    Ok(record)
}

/// The version of candle this crate was built with, read from its `Cargo.lock`.
pub fn candle_version() -> &'static str {
    const LOCK: &str = include_str!("../Cargo.lock");
    LOCK.split("[[package]]")
        .find(|package| package.contains("name = \"candle-core\"\n"))
        .and_then(|package| {
            package
                .lines()
                .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        })
        .unwrap_or("unknown")
}

/// The number of input channels of `z` in the benchmark (the paper's default).
pub const INPUT_CHANNELS: usize = 32;

/// Time `iterations` training iterations of the standard net on a `size × size` image.
pub fn bench(
    size: usize,
    channels: usize,
    iterations: usize,
    kernels: Kernels,
    device: &Device,
) -> Result<BenchReport> {
    let options = BenchOptions {
        size,
        channels,
        iterations,
        kernels,
        ..BenchOptions::default()
    };
    bench_with(&options, device, |_, _| {})
}

// ANCHOR: bench_iteration
/// [`bench()`] with every option, calling `on_iteration(i, seconds)` after each timed iteration.
pub fn bench_with(
    options: &BenchOptions,
    device: &Device,
    mut on_iteration: impl FnMut(usize, f64),
) -> Result<BenchReport> {
    let Problem {
        config,
        net,
        z,
        target,
    } = Problem::new(options, device)?;
    let s = options.size;
    let mut adam = Adam::new(net.parameters(), AdamConfig::with_lr(0.01))?;

    let mut seconds = Vec::with_capacity(options.iterations);
    let mut phases: [Vec<f64>; 3] = Default::default();
    for i in 0..options.warmup + options.iterations {
        // Each phase waits for the device (a no-op on the CPU), so the times cover
        // the work and say where it goes: forward and loss, backward, Adam step.
        let mut clock = Phases::start(device);
        let out = net.forward(&z)?;
        let loss = (out - &target)?.sqr()?.mean_all()?;
        clock.lap()?;
        let grads = loss.backward()?;
        clock.lap()?;
        adam.step(&grads)?;
        clock.lap()?;
        if i >= options.warmup {
            let [f, b, a] = clock.laps;
            seconds.push(f + b + a);
            for (phase, t) in phases.iter_mut().zip(clock.laps) {
                phase.push(t);
            }
            on_iteration(i - options.warmup, f + b + a);
        }
    }
    // ANCHOR_END: bench_iteration
    Ok(BenchReport {
        options: options.clone(),
        parameters: net.parameter_count(),
        conv_flops: training_conv_flops(&config, s, s),
        median: median(&seconds),
        phase_medians: phases.map(|p| median(&p)),
        seconds,
        peak_rss_bytes: peak_rss_bytes(),
        threads: candle_core::utils::get_num_threads(),
    })
}

/// What one iteration works on: the standard net, its input `z` and a random target.
pub(crate) struct Problem {
    pub config: SkipConfig,
    pub net: SkipNet,
    pub z: Tensor,
    pub target: Tensor,
}

impl Problem {
    /// The net, `z` and target of `options` (seeded) on `device`.
    pub fn new(options: &BenchOptions, device: &Device) -> Result<Self> {
        let config = SkipConfig::standard(INPUT_CHANNELS, options.channels);
        let mut net = SkipNet::new(&config, options.seed, device)?;
        net.check_input_size(options.size, options.size)?;
        net.kernels = options.kernels;
        let mut rng = Rng::new(options.seed.wrapping_add(1));
        let (s, c) = (options.size, options.channels);
        let z = input::noise(INPUT_CHANNELS, s, s, &mut rng, device)?;
        let target = Tensor::from_vec(rng.uniform(c * s * s, 0.0, 1.0), (1, c, s, s), device)?;
        Ok(Self {
            config,
            net,
            z,
            target,
        })
    }
}

/// The times of an iteration's three phases, each ended by waiting for the device.
struct Phases<'a> {
    device: &'a Device,
    last: Instant,
    laps: [f64; 3],
    next: usize,
}

impl<'a> Phases<'a> {
    fn start(device: &'a Device) -> Self {
        Self {
            device,
            last: Instant::now(),
            laps: [0.0; 3],
            next: 0,
        }
    }

    fn lap(&mut self) -> Result<()> {
        self.device.synchronize()?;
        let now = Instant::now();
        self.laps[self.next] = (now - self.last).as_secs_f64();
        (self.last, self.next) = (now, self.next + 1);
        Ok(())
    }
}

/// The median (the mean of the two middle values for an even count; NaN if empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The peak resident memory of this process (`VmHWM` of `/proc/self/status`, Linux only).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// FLOPs (2 per multiply-add) of the convolutions of one training iteration of
/// `config` on a `height × width` input: the forward pass, the weight gradients
/// and the input gradients, except those of the convs that read `z` itself
/// (nothing needs them). This is what PyTorch's `FlopCounterMode` counts.
pub fn training_conv_flops(config: &SkipConfig, height: usize, width: usize) -> f64 {
    let flops = |u: &UnitLayout| {
        // The input's sides at the unit's scale, then the output's.
        let side = |n: usize| {
            (0..u.scale)
                .fold(n, |s, _| s.div_ceil(2))
                .div_ceil(u.stride)
        };
        let macs = (u.cin * u.cout * u.kernel * u.kernel * side(height) * side(width)) as f64;
        // Forward, weight gradient and (unless it reads `z`) input gradient.
        2.0 * macs * if u.reads_z { 2.0 } else { 3.0 }
    };
    let units = config.layout().into_iter().flat_map(|level| {
        let named = level.named();
        let units: Vec<UnitLayout> = named
            .into_iter()
            .filter_map(|(_, part)| match part {
                Part::Unit(u) => Some(*u),
                Part::Norm(_) => None,
            })
            .collect();
        units
    });
    units.chain([config.head()]).map(|u| flops(&u)).sum()
}

/// Run the benchmark and print what `dip bench` prints: the setting, each
/// iteration's time, the parameter count, the peak memory and, as the last
/// line, `median seconds per iteration: X` (the same last line as
/// `benches/torch_reference.py`, so scripts can compare the two).
pub fn run_and_print(options: &BenchOptions, device: &Device) -> Result<BenchReport> {
    let config = SkipConfig::standard(INPUT_CHANNELS, options.channels);
    println!(
        "standard skip net, {INPUT_CHANNELS} → {} channels, {}×{}, kernels {:?}, {} threads, {}",
        options.channels,
        options.size,
        options.size,
        options.kernels,
        candle_core::utils::get_num_threads(),
        crate::device::describe(device),
    );
    println!(
        "conv GFLOP per iteration: {:.2}",
        training_conv_flops(&config, options.size, options.size) / 1e9
    );
    let report = bench_with(options, device, |i, dt| {
        println!("iteration {}: {dt:.3} s", i + 1)
    })?;
    println!("parameters: {}", report.parameters);
    if let Some(bytes) = report.peak_rss_bytes {
        println!("peak RSS: {:.0} MiB", bytes as f64 / (1024.0 * 1024.0));
    }
    let [f, b, a] = report.phase_medians;
    println!(
        "median seconds of the phases: forward and loss {f:.4}, backward {b:.4}, Adam step {a:.4}"
    );
    println!("median seconds per iteration: {:.4}", report.median);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn a_tiny_benchmark_runs() {
        // 64: the smallest side whose deepest scale (2×2) can be reflection-padded.
        let options = BenchOptions {
            size: 64,
            channels: 1,
            iterations: 2,
            warmup: 0,
            ..BenchOptions::default()
        };
        let report = bench_with(&options, &Device::Cpu, |_, _| {}).unwrap();
        assert_eq!(report.seconds.len(), 2);
        assert_eq!(report.parameters, 2_217_573);
        assert!(report.median > 0.0);

        // Its record, written and read back as `results/bench/` holds it.
        let results = tempfile::tempdir().unwrap();
        let path = results.path().join("bench/dip-cpu-64-c1.json");
        let written = write_record(&report, &Device::Cpu, &path).unwrap();
        assert_eq!(written.file_name(), "dip-cpu-64-c1.json");
        assert_eq!(
            written.version,
            format!("candle {} (fast kernels)", candle_version())
        );
        assert_eq!(
            (written.size, written.channels, written.iterations),
            (64, 1, 2)
        );
        assert_eq!(written.median_seconds, report.median);
        assert!(written.date.ends_with('Z'));
        let read = crate::reproduce::load_bench_records(results.path()).unwrap();
        assert_eq!(read.len(), 1);
        // JSON keeps a float to about 17 significant digits, not always every bit.
        assert!((read[0].median_seconds - written.median_seconds).abs() < 1e-12);
        assert_eq!(read[0].seconds.len(), 2);
        assert_eq!(
            (read[0].parameters, &read[0].commit),
            (2_217_573, &written.commit)
        );
    }

    #[test]
    fn candle_version_is_read_from_the_lock_file() {
        let v = candle_version();
        assert!(v.starts_with("0."), "{v}");
        assert!(v.split('.').all(|part| part.parse::<u32>().is_ok()), "{v}");
    }

    /// The convolutions' work read off the layout is what the recorded benchmarks
    /// (both ours and PyTorch's `FlopCounterMode`) counted for the same nets.
    #[test]
    fn the_layouts_conv_work_is_the_recorded_count() {
        for (name, record) in [
            (
                "dip 256² c3",
                include_str!("../results/bench/dip-cpu-256-c3.json"),
            ),
            (
                "pytorch 256² c3",
                include_str!("../results/bench/pytorch-cpu-256-c3.json"),
            ),
            (
                "pytorch 512² c1",
                include_str!("../results/bench/pytorch-cpu-512-c1.json"),
            ),
        ] {
            let r: crate::reproduce::BenchRecord = serde_json::from_str(record).unwrap();
            let config = SkipConfig::standard(INPUT_CHANNELS, r.channels);
            let ours = training_conv_flops(&config, r.size, r.size) / 1e9;
            let recorded = r.conv_gflop;
            assert!(
                (ours - recorded).abs() < 0.01,
                "{name}: {ours} vs {recorded} GFLOP"
            );
        }
    }
}
