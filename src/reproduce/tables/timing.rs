//! Time: the time of our runs per experiment, preset and device ([`timing`]), and
//! one training iteration, ours against PyTorch ([`bench`]).

use std::collections::{BTreeMap, BTreeSet};

use super::presets::{chosen_presets, rank, records_of};
use super::{Cell, Column, Inputs, Row, Runs, Source, Table};
use crate::reproduce::plan::{self, Experiment, Preset};
use crate::reproduce::record::{short_commit, BenchRecord, Implementation, Record};

/// Our time: per experiment, preset and device, the runs, iterations, seconds per
/// iteration (mean ± sd over the runs) and the total wall time.
pub fn timing(inputs: &Inputs) -> Table {
    let mut rows = Vec::new();
    let mut shown: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for experiment in Experiment::ALL {
        let runs: Vec<String> = plan::jobs(Preset::Paper, &[experiment], &[], None, 1)
            .into_iter()
            .map(|j| j.image)
            .collect();
        for preset in chosen_presets(inputs, experiment, &runs) {
            let records = records_of(inputs.records, experiment, &preset, &runs);
            let mut by_device: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
            for r in &records {
                by_device.entry(&r.device_name).or_default().push(r);
            }
            for (device, rs) in by_device {
                let per_iteration: Vec<f64> = rs.iter().map(|r| r.seconds_per_iteration).collect();
                let iterations: usize = rs.iter().map(|r| r.iterations).sum();
                let wall: f64 = rs.iter().map(|r| r.wall_seconds).sum();
                rows.push(Row {
                    label: format!("{}: {preset}, {device}", experiment.name()),
                    source: Source::Ours {
                        preset: preset.clone(),
                    },
                    cells: vec![
                        Some(Cell::quoted(rs.len() as f64)),
                        Some(Cell::quoted(iterations as f64)),
                        Cell::of(&per_iteration),
                        Some(Cell::quoted(wall)),
                    ],
                });
            }
            shown.entry(preset).or_default().extend(records);
        }
    }
    let missing = rows.is_empty().then(|| {
        "**No recorded run yet**: `dip reproduce --preset quick` (minutes on a CPU) or \
         `--preset paper` writes them under `results/`."
            .to_string()
    });
    let mut runs: Vec<Runs> = shown.iter().map(|(p, rs)| Runs::of(p, rs)).collect();
    runs.sort_by(|a, b| rank(&a.preset).cmp(&rank(&b.preset)));
    let column = |name: &str, decimals| Column {
        name: name.into(),
        decimals,
    };
    Table {
        title: "Time of our runs".into(),
        columns: vec![
            column("runs", 0),
            column("iterations", 0),
            column("s / iteration", 3),
            column("total s", 0),
        ],
        rows,
        notes: vec![
            "Seconds per iteration: mean ± sd over the runs (setting up a run is left out); \
             total: wall seconds summed over the runs, setting up included."
                .into(),
        ],
        runs,
        missing,
    }
}

/// The median seconds and peak memory of one implementation at one setting.
fn bench_cells(records: &[&BenchRecord], implementation: Implementation) -> [Option<f64>; 2] {
    // The latest record of the implementation (RFC 3339 dates sort as text).
    match records
        .iter()
        .filter(|r| r.implementation == implementation)
        .max_by(|a, b| a.date.cmp(&b.date))
    {
        Some(r) => [Some(r.median_seconds), r.peak_rss_mib],
        None => [None, None],
    }
}

/// One line per implementation: its version, commit and dates.
fn bench_versions(records: &[BenchRecord], implementation: Implementation) -> Option<String> {
    let of: Vec<&BenchRecord> = records
        .iter()
        .filter(|r| r.implementation == implementation)
        .collect();
    let distinct = |f: &dyn Fn(&BenchRecord) -> String| -> String {
        let set: BTreeSet<String> = of.iter().map(|r| f(r)).collect();
        set.into_iter().collect::<Vec<_>>().join(", ")
    };
    let name = match implementation {
        Implementation::Dip => "Ours",
        Implementation::Pytorch => "PyTorch",
    };
    (!of.is_empty()).then(|| {
        format!(
            "{name}: {}, commit `{}`, {}.",
            distinct(&|r| r.version.clone()),
            distinct(&|r| short_commit(&r.commit).to_string()),
            distinct(&|r| r.date.clone())
        )
    })
}

/// Seconds per training iteration of the standard net, ours against PyTorch, on the
/// same machine: per image size, channels and machine, the two medians, their
/// ratio and the peak memory of each.
pub fn bench(inputs: &Inputs) -> Table {
    // (device, device_name, threads, size, channels, TF32) → the records.
    type Key = (String, String, usize, usize, usize, bool);
    let mut groups: BTreeMap<Key, Vec<&BenchRecord>> = BTreeMap::new();
    for r in inputs.bench {
        let key = (
            r.device.clone(),
            r.device_name.clone(),
            // A GPU's time does not depend on the host's threads.
            if r.device == "cpu" { r.threads } else { 0 },
            r.size,
            r.channels,
            r.version.contains("TF32"),
        );
        groups.entry(key).or_default().push(r);
    }
    let machines: BTreeSet<(&str, usize)> = groups
        .keys()
        .map(|(_, name, threads, ..)| (name.as_str(), *threads))
        .collect();
    let rows = groups
        .iter()
        .map(|((device, name, threads, size, channels, tf32), records)| {
            let [ours, ours_mib] = bench_cells(records, Implementation::Dip);
            let [torch, torch_mib] = bench_cells(records, Implementation::Pytorch);
            let ratio = ours.zip(torch).map(|(a, b)| a / b);
            let plural = if *channels == 1 { "" } else { "s" };
            let mut label = format!("{size} × {size}, {channels} channel{plural}");
            if machines.len() > 1 {
                label += &match device.as_str() {
                    "cpu" => format!(", {device}: {name}, {threads} threads"),
                    _ => format!(", {device}: {name}"),
                };
            }
            if *tf32 {
                label += ", TF32";
            }
            Row {
                label,
                source: Source::Bench,
                cells: [ours, torch, ratio, ours_mib, torch_mib]
                    .map(|v| v.map(Cell::quoted))
                    .to_vec(),
            }
        })
        .collect();
    let mut notes = vec![
        "One training iteration of the paper's standard skip net (32 input channels, 5 scales \
         of 128, 4 skip channels): forward, mean squared error, backward, Adam step; the \
         median of the timed iterations after a warm-up. Ratio: ours ÷ PyTorch (below 1: ours \
         is faster). Peak: the process's peak resident memory."
            .to_string(),
    ];
    if let [(name, threads)] = machines.iter().collect::<Vec<_>>()[..] {
        notes.push(format!("Machine: {name}, {threads} threads."));
    }
    notes.extend(bench_versions(inputs.bench, Implementation::Dip));
    notes.extend(bench_versions(inputs.bench, Implementation::Pytorch));
    let missing = inputs.bench.is_empty().then(|| {
        "**No benchmark recorded yet**: `dip bench --size 256 --channels 3 --record \
         results/bench/dip-cpu-256-c3.json` and `python benches/torch_reference.py --size 256 \
         --channels 3 --record results/bench/pytorch-cpu-256-c3.json` write them."
            .to_string()
    });
    let column = |name: &str, decimals| Column {
        name: name.into(),
        decimals,
    };
    Table {
        title: "Seconds per training iteration of the standard net: ours vs PyTorch, same machine"
            .into(),
        columns: vec![
            column("ours (s)", 3),
            column("PyTorch (s)", 3),
            column("ratio", 2),
            column("ours peak (MiB)", 0),
            column("PyTorch peak (MiB)", 0),
        ],
        rows,
        notes,
        runs: Vec::new(),
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::tables::tests::no_runs;

    fn bench_record(implementation: Implementation, median: f64) -> BenchRecord {
        BenchRecord {
            implementation,
            version: "v".into(),
            device: "cpu".into(),
            device_name: "a CPU".into(),
            threads: 2,
            size: 256,
            channels: 3,
            iterations: 2,
            seconds: vec![median, median],
            median_seconds: median,
            peak_rss_mib: Some(100.0),
            parameters: 2_217_831,
            conv_gflop: 115.02,
            commit: "0123456789abcdef".into(),
            date: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn bench_rows_pair_ours_with_pytorch() {
        let records = [
            bench_record(Implementation::Dip, 3.0),
            bench_record(Implementation::Pytorch, 2.0),
        ];
        let t = bench(&Inputs {
            bench: &records,
            ..no_runs()
        });
        assert_eq!(t.rows.len(), 1);
        let row = &t.rows[0];
        assert_eq!(row.label, "256 × 256, 3 channels");
        assert_eq!(row.cells[2].as_ref().unwrap().mean, 1.5);
        let markdown = t.to_markdown();
        assert!(
            markdown.contains("| 3.000 | 2.000 | 1.50 | 100 | 100 |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("Machine: a CPU, 2 threads."),
            "{markdown}"
        );
        assert!(t.missing.is_none());
    }
}
