//! Choosing the device: `auto`, `cpu`, `cuda[:N]` or `metal`.
//!
//! A device the build lacks (no `cuda` feature) or the machine does not have
//! is a [`DipError::Device`] that says which, never a panic.

use candle_core::Device;

use crate::error::{DipError, Result};

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

/// A short human name for a device, for records and progress lines.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => format!("cpu ({} threads)", candle_core::utils::get_num_threads()),
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
    fn unknown_device_is_an_error_naming_it() {
        let err = select("tpu").unwrap_err().to_string();
        assert!(err.contains("unknown device 'tpu'"), "{err}");
        let err = select("cuda:x").unwrap_err().to_string();
        assert!(err.contains("must be a number"), "{err}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_so() {
        let err = select("cuda").unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
