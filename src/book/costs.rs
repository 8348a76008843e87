//! What running the reproduction costs, from the records: per preset, how many runs
//! are recorded and their wall time summed, on which devices. The chapter "Running it
//! yourself" quotes it so that "how long it takes" is a measurement, not a guess.

use std::collections::BTreeSet;

use crate::reproduce::plan::Preset;
use crate::reproduce::record::Record;

/// `5.3 minutes`, `1.8 hours`.
pub fn duration(seconds: f64) -> String {
    if seconds < 3600.0 {
        format!("{:.1} minutes", seconds / 60.0)
    } else {
        format!("{:.1} hours", seconds / 3600.0)
    }
}

/// One line per preset with runs, strongest last (the cheapest first, as a reader
/// starts): "`quick`: 81 runs, 5.3 minutes of wall time in all, on cpu (2 threads)."
pub fn preset_costs(records: &[Record]) -> String {
    let mut out = String::new();
    for preset in Preset::ALL.iter().rev() {
        let runs: Vec<&Record> = records
            .iter()
            .filter(|r| r.preset == preset.name())
            .collect();
        if runs.is_empty() {
            continue;
        }
        let wall: f64 = runs.iter().map(|r| r.wall_seconds).sum();
        let devices: BTreeSet<&str> = runs.iter().map(|r| r.device_name.as_str()).collect();
        let devices: Vec<&str> = devices.into_iter().collect();
        out += &format!(
            "- `{}`: {} recorded runs, {} of wall time in all (the sum of their records' \
             times), on {}.\n",
            preset.name(),
            runs.len(),
            duration(wall),
            devices.join(", ")
        );
    }
    if out.is_empty() {
        out =
            "- No recorded run yet: `dip reproduce --preset quick` makes the first ones.\n".into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_times_of_a_presets_records_are_summed() {
        let mut r: Record =
            serde_json::from_str(include_str!("../../results/quick/table1/barbara.json")).unwrap();
        r.wall_seconds = 90.0;
        let mut s = r.clone();
        s.image = "boat".into();
        s.wall_seconds = 30.0;
        let text = preset_costs(&[r.clone(), s]);
        assert_eq!(
            text,
            format!(
                "- `quick`: 2 recorded runs, 2.0 minutes of wall time in all (the sum of \
                 their records' times), on {}.\n",
                r.device_name
            )
        );
        assert!(preset_costs(&[]).contains("No recorded run yet"));
        assert_eq!(duration(5400.0), "1.5 hours");
    }
}
