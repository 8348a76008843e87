//! Choosing the device: `auto`, `cpu`, `cuda[:N]` or `metal`.
//!
//! A device the build lacks (no `cuda` feature) or the machine does not have
//! is a [`DipError::Device`] that says which, never a panic.

use candle_core::Device;

use crate::error::{DipError, Result};

/// Let float32 matrix products on CUDA round their inputs to TF32 (a 10-bit
/// mantissa) on the tensor cores: several times faster on recent NVIDIA GPUs. It is
/// what PyTorch (since 1.7) does by default for cuDNN convolutions, so the authors'
/// code run today on such a GPU does it too; the paper's GPUs (2017) had no TF32.
/// Off by default; no effect without the `cuda` feature or off CUDA.
pub fn set_tf32(on: bool) {
    #[cfg(feature = "cuda")]
    candle_core::cuda_backend::set_gemm_reduced_precision_f32(on);
    #[cfg(not(feature = "cuda"))]
    let _ = on;
}

/// `Some("tf32")` when float32 matrix products on `device` use TF32 (see [`set_tf32`]),
/// `None` for plain float32.
pub fn reduced_precision(device: &Device) -> Option<&'static str> {
    #[cfg(feature = "cuda")]
    if device.is_cuda() && candle_core::cuda_backend::gemm_reduced_precision_f32() {
        return Some("tf32");
    }
    let _ = device;
    None
}

/// Parse a device name and open the device.
///
/// `auto` picks CUDA, then Metal, then the CPU.
pub fn select(name: &str) -> Result<Device> {
    let name = name.trim().to_ascii_lowercase();
    match name.as_str() {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(auto()),
        "metal" => metal(0),
        "cuda" => cuda(0),
        other => {
            if let Some(ordinal) = other.strip_prefix("cuda:") {
                let n: usize = ordinal.parse().map_err(|_| {
                    DipError::Device(format!(
                        "'{other}': the GPU index must be a number, as in cuda:0"
                    ))
                })?;
                cuda(n)
            } else if let Some(ordinal) = other.strip_prefix("metal:") {
                let n: usize = ordinal.parse().map_err(|_| {
                    DipError::Device(format!(
                        "'{other}': the GPU index must be a number, as in metal:0"
                    ))
                })?;
                metal(n)
            } else {
                Err(DipError::Device(format!(
                    "unknown device '{other}': use auto, cpu, cuda, cuda:N or metal"
                )))
            }
        }
    }
}

/// The devices of `count` fits run at once (`--jobs`): `count` times the CPU, or one
/// GPU each, `cuda:0` … `cuda:{count-1}` (`cuda`, or `auto` where CUDA is there).
/// Fewer GPUs than fits, or a device that cannot be shared out that way (`cuda:N`,
/// `metal`), is an error that says so.
pub fn select_workers(name: &str, count: usize) -> Result<Vec<Device>> {
    if count == 0 {
        return Err(DipError::invalid("--jobs must be at least 1"));
    }
    if count == 1 {
        return Ok(vec![select(name)?]);
    }
    let name = name.trim().to_ascii_lowercase();
    let gpus = match name.as_str() {
        "cpu" => false,
        "cuda" => true,
        "auto" => auto().is_cuda(),
        other => {
            return Err(DipError::Device(format!(
                "--jobs {count} runs one fit per GPU (cuda:0 to cuda:{}) or {count} on the CPU: use --device cuda or cpu, not '{other}'",
                count - 1
            )))
        }
    };
    if !gpus {
        return Ok(vec![Device::Cpu; count]);
    }
    (0..count)
        .map(|i| {
            cuda(i).map_err(|e| {
                let why = match e {
                    DipError::Device(why) => why,
                    other => other.to_string(),
                };
                DipError::Device(format!(
                    "--jobs {count} runs one fit per GPU and needs {count} GPUs (cuda:0 to cuda:{}): {why}",
                    count - 1
                ))
            })
        })
        .collect()
}

/// The best device there is: CUDA, then Metal, then the CPU.
pub fn auto() -> Device {
    if candle_core::utils::cuda_is_available() {
        if let Ok(d) = Device::new_cuda(0) {
            return d;
        }
    }
    if candle_core::utils::metal_is_available() {
        if let Ok(d) = Device::new_metal(0) {
            return d;
        }
    }
    Device::Cpu
}

fn cuda(ordinal: usize) -> Result<Device> {
    if !candle_core::utils::cuda_is_available() {
        return Err(DipError::Device(
            "cuda: this build has no CUDA support (rebuild with `--features cuda`)".into(),
        ));
    }
    Device::new_cuda(ordinal).map_err(|e| DipError::Device(format!("cuda:{ordinal}: {e}")))
}

fn metal(ordinal: usize) -> Result<Device> {
    if !candle_core::utils::metal_is_available() {
        return Err(DipError::Device(
            "metal: this build has no Metal support (rebuild with `--features metal` on macOS)"
                .into(),
        ));
    }
    Device::new_metal(ordinal).map_err(|e| DipError::Device(format!("metal:{ordinal}: {e}")))
}

/// "1 thread", "2 threads".
pub fn threads_in_words(n: usize) -> String {
    match n {
        1 => "1 thread".to_string(),
        n => format!("{n} threads"),
    }
}

/// A recorded device name as [`describe`] writes it now (some records say "1 threads").
pub fn recorded_name(name: &str) -> String {
    name.replace("(1 threads)", "(1 thread)")
}

/// A short human name for a device, for records and progress lines.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => format!(
            "cpu ({})",
            threads_in_words(candle_core::utils::get_num_threads())
        ),
        Device::Cuda(_) => "cuda".to_string(),
        Device::Metal(_) => "metal".to_string(),
    }
}

/// `cpu`, `cuda` or `metal`.
pub fn kind(device: &Device) -> &'static str {
    match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Metal(_) => "metal",
    }
}

/// The hardware's name: the CPU's model (`/proc/cpuinfo`, Linux) or the GPU's
/// (`nvidia-smi`); the device's kind where the system does not say.
pub fn model(device: &Device) -> String {
    let found = match device {
        Device::Cpu => std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, name)| name.trim().to_string())
            }),
        Device::Cuda(_) => std::process::Command::new("nvidia-smi")
            .args(["--query-gpu=name", "--format=csv,noheader"])
            .output()
            .ok()
            .and_then(|out| {
                let names = String::from_utf8_lossy(&out.stdout).into_owned();
                names.lines().next().map(|l| l.trim().to_string())
            }),
        Device::Metal(_) => None,
    };
    found
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| kind(device).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_auto_work_everywhere() {
        assert!(select("cpu").unwrap().is_cpu());
        select("auto").unwrap();
        assert_eq!(kind(&Device::Cpu), "cpu");
        assert!(!model(&Device::Cpu).is_empty());
    }

    #[test]
    fn thread_counts_read_as_words() {
        assert_eq!(threads_in_words(1), "1 thread");
        assert_eq!(threads_in_words(2), "2 threads");
        assert_eq!(recorded_name("cpu (1 threads)"), "cpu (1 thread)");
        assert_eq!(recorded_name("cpu (12 threads)"), "cpu (12 threads)");
    }

    #[test]
    fn unknown_device_is_an_error_naming_it() {
        let err = select("tpu").unwrap_err().to_string();
        assert!(err.contains("unknown device 'tpu'"), "{err}");
        let err = select("cuda:x").unwrap_err().to_string();
        assert!(err.contains("must be a number"), "{err}");
    }

    #[test]
    fn workers_are_cpus_or_one_gpu_each() {
        let cpus = select_workers("cpu", 3).unwrap();
        assert_eq!(cpus.len(), 3);
        assert!(cpus.iter().all(Device::is_cpu));
        assert_eq!(select_workers("cpu", 1).unwrap().len(), 1);
        let err = select_workers("cpu", 0).unwrap_err().to_string();
        assert!(err.contains("at least 1"), "{err}");
        for name in ["cuda:1", "metal"] {
            let err = select_workers(name, 2).unwrap_err().to_string();
            assert!(err.contains("use --device cuda or cpu"), "{err}");
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn more_fits_than_gpus_is_an_error() {
        let err = select_workers("cuda", 3).unwrap_err().to_string();
        assert!(
            err.contains("needs 3 GPUs") && err.contains("--features cuda"),
            "{err}"
        );
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_so() {
        let err = select("cuda").unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
