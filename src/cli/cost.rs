//! What a restoration will cost, said before it starts: how many fits of which size,
//! the memory they may take, and the time on this machine (a few iterations timed),
//! with the choices that shorten it. `--dry-run` says this and stops.

/// A restoration's fits and what one iteration of them costs here.
pub struct Cost {
    /// How many fits (tiles), each of `side` pixels.
    pub fits: usize,
    pub side: (usize, usize),
    pub iterations: usize,
    /// Measured: the median of a few iterations ([`dip::fit::seconds_per_iteration`]).
    pub seconds_per_iteration: f64,
    /// The same, measured on `dip denoise --fast`'s narrow net, where it is offered.
    pub faster_seconds_per_iteration: Option<f64>,
    /// The fit stops on its own (`--stop auto`): `iterations` is its ceiling.
    pub auto: bool,
    pub on_cpu: bool,
}

impl Cost {
    /// The whole restoration's expected seconds.
    pub fn seconds(&self) -> f64 {
        self.seconds_of(self.seconds_per_iteration)
    }

    fn seconds_of(&self, per_iteration: f64) -> f64 {
        per_iteration * (self.iterations * self.fits) as f64
    }

    /// Whether the restoration is long enough to be told how to shorten it.
    pub fn is_long(&self) -> bool {
        self.seconds() > LONG
    }

    /// What `dip` prints before fitting: the plan, the expected time and, for a long
    /// restoration, what shortens it.
    pub fn lines(&self) -> Vec<String> {
        let (h, w) = self.side;
        let fits = match self.fits {
            1 => format!("1 fit of {w}×{h}"),
            n => format!("{n} tiles of {w}×{h}, each fitted on its own"),
        };
        let ceiling = if self.auto {
            " at most (it stops on its own)"
        } else {
            ""
        };
        let mut lines = vec![
            format!("plan: {fits}, {} iterations{ceiling}", self.iterations),
            format!(
                "expected time: about {} on this machine ({:.3} s an iteration × {} iterations × {} fit(s), timed)",
                dip::reproduce::estimate::human(self.seconds()),
                self.seconds_per_iteration,
                self.iterations,
                self.fits
            ),
        ];
        if self.is_long() {
            lines.push(format!("to shorten it: {}", self.shorter().join("; ")));
        }
        lines
    }

    /// The choices that shorten a long restoration, each with what it takes.
    fn shorter(&self) -> Vec<String> {
        let mut ways = Vec::new();
        let third = self.iterations / 3;
        ways.push(format!(
            "--iterations {third} (about {})",
            dip::reproduce::estimate::human(self.seconds() / 3.0)
        ));
        if let Some(fast) = self.faster_seconds_per_iteration {
            ways.push(format!(
                "--fast, a net half as wide (about {}, timed; its cost in PSNR is measured in \
                 the book's denoising chapter)",
                dip::reproduce::estimate::human(self.seconds_of(fast))
            ));
        }
        ways.push("a crop of the photo (the time grows with its pixels)".into());
        if self.on_cpu {
            let gpu = if candle_core::utils::cuda_is_available() {
                "--device cuda"
            } else {
                "a GPU: a build with --features cuda (or metal), then --device cuda"
            };
            ways.push(format!("{gpu} (an iteration is many times faster there)"));
        }
        ways
    }
}

/// The memory a fit may use: `--max-memory` GiB, else half of the machine's memory.
pub fn memory_budget(max_memory: Option<f64>) -> f64 {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    if let Some(gib) = max_memory {
        return gib * GIB;
    }
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
    });
    total_kib.map_or(8.0 * GIB, |kib| kib * 1024.0 / 2.0)
}

/// Restorations expected to take longer than this (10 minutes) are told how to shorten.
const LONG: f64 = 600.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_restoration_says_how_to_shorten_it() {
        let cost = Cost {
            fits: 4,
            side: (512, 512),
            iterations: 3000,
            seconds_per_iteration: 1.0,
            faster_seconds_per_iteration: None,
            auto: true,
            on_cpu: true,
        };
        assert_eq!(cost.seconds(), 12000.0);
        let lines = cost.lines();
        assert_eq!(lines[0], "plan: 4 tiles of 512×512, each fitted on its own, 3000 iterations at most (it stops on its own)");
        assert!(lines[1].starts_with("expected time: about 3 h 20 min on this machine (1.000 s an iteration × 3000 iterations × 4 fit(s)"), "{}", lines[1]);
        assert!(
            lines[2].contains("--iterations 1000 (about 1 h 06 min)"),
            "{}",
            lines[2]
        );
        assert!(!lines[2].contains("--fast"), "not offered: {}", lines[2]);
        let offered = Cost {
            faster_seconds_per_iteration: Some(0.25),
            ..cost
        };
        assert!(
            offered.lines()[2].contains("--fast, a net half as wide (about 50 min, timed;"),
            "{}",
            offered.lines()[2]
        );
        let short = Cost {
            fits: 1,
            seconds_per_iteration: 0.01,
            ..cost
        };
        assert_eq!(short.lines().len(), 2);
    }
}
