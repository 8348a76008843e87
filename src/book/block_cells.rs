//! The notebook cells of the book's figure blocks: the few lines of the public API
//! that make each figure from the records or the data. The records are read once, by
//! [`crate::notebooks::Replay`], which also makes a run's row of images; a cell shows
//! what is particular to its figure. (The tables' cells are the tables' own code:
//! [`super::blocks::TableBlock::cell`].)

/// A cell's code as one block after its comment: the notebook keeps none of its
/// variables (evcxr cannot keep one that borrows another), so each such cell stands alone.
pub fn in_block(comment: &str, body: &str) -> String {
    let indented: Vec<String> = body
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("    {l}")
            }
        })
        .collect();
    format!("{comment}{{\n{}\n}}", indented.join("\n"))
}

/// The first lines of a cell that replays one run: the records, and the run the book shows.
fn run_lines(experiment: &str, image: &str) -> String {
    format!(
        "let replay = dip::notebooks::Replay::load()?;\n\
         let run = replay.run(\"{experiment}\", \"{image}\")?;\n"
    )
}

/// `{{#dip grid EXPERIMENT IMAGE}}`: our recorded run's input, output, the authors'
/// output on the same pixels and the clean image, side by side.
pub fn grid(experiment: &str, image: &str) -> String {
    let comment = format!(
        "// Our run of {image} from its record (results/, written by `dip reproduce`): its\n\
         // corrupted input made again by our code, our restored image, the authors' output\n\
         // on the same pixels and the clean image (`Replay::row`).\n"
    );
    let body = format!(
        "{}\
         let psnr = run.final_psnr.unwrap_or(f64::NAN);\n\
         println!(\"{{}}: {{psnr:.2}} dB against the clean image; {{}}\", run.image, run.provenance());\n\
         replay.row(run)?.show();",
        run_lines(experiment, image)
    );
    in_block(&comment, &body)
}

/// `{{#dip authors-grid EXPERIMENT IMAGE}}`: the authors' published output beside the
/// corrupted input made by our code and the clean image.
pub fn authors_grid(experiment: &str, image: &str) -> String {
    let comment = format!(
        "// The authors' published output for {image}, beside the corrupted input made by our\n\
         // code (as the paper preset's run with seed 0 makes it) and the clean image.\n"
    );
    let body = format!(
        "let replay = dip::notebooks::Replay::load()?;\n\
         let (row, psnr) = replay.authors_row(\"{experiment}\", \"{image}\")?;\n\
         println!(\"the authors' output: {{psnr:.2}} dB, measured by our code\");\n\
         row.show();"
    );
    in_block(&comment, &body)
}

/// `{{#dip curves EXPERIMENT IMAGE}}`: the PSNR curves of a recorded run.
pub fn curves(experiment: &str, image: &str) -> String {
    let comment =
        format!("// The learning curves of our run of {image}, from its record's history.\n");
    let body = format!(
        "{}\
         let curve = |psnr: fn(&dip::reproduce::record::HistoryPoint) -> Option<f64>| {{\n\
         \x20   run.history.iter().filter_map(move |h| Some((h.iteration as f64, psnr(h)?)))\n\
         }};\n\
         let title = format!(\"{image}: PSNR against the iteration ({{}}, {{}} preset)\", run.cut.describe(), run.preset);\n\
         dip::display::Chart::new(&title, \"iteration\", \"PSNR (dB)\")\n\
         \x20   .line(\"output vs corrupted\", curve(|h| h.psnr_corrupted))\n\
         \x20   .line(\"output vs clean\", curve(|h| h.psnr_clean))\n\
         \x20   .line(\"averaged output vs clean\", curve(|h| h.psnr_clean_average))\n\
         \x20   .show();",
        run_lines(experiment, image)
    );
    in_block(&comment, &body)
}

/// `{{#dip stopping-curves IMAGE}}`: the PSNR and the variance the stopping rule
/// watched, the detected iteration marked.
pub fn stopping_curves(image: &str) -> String {
    let comment = format!(
        "// Where the stopping rule (ES-WMV) stops our run of {image}: the PSNR of each output and\n\
         // the variance the rule watches, from the record; the vertical line is the detected iteration.\n"
    );
    let body = format!(
        "{}\
         let detected = run.stopping.as_ref().and_then(|s| s.detected).ok_or(\"no detected iteration\")?;\n\
         println!(\"the variance is lowest at iteration {{detected}}\");\n\
         let curve = |value: fn(&dip::reproduce::record::HistoryPoint) -> Option<f64>| -> Vec<(f64, f64)> {{\n\
         \x20   run.history.iter().filter_map(|h| Some((h.iteration as f64, value(h)?))).collect()\n\
         }};\n\
         let psnr = curve(|h| h.psnr_clean);\n\
         let log_variance = curve(|h| h.variance.filter(|v| *v > 0.0).map(f64::log10));\n\
         for (name, y, points) in [(\"output vs clean\", \"PSNR (dB)\", psnr), (\"variance\", \"log10 variance\", log_variance)] {{\n\
         \x20   let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));\n\
         \x20   let at = detected as f64;\n\
         \x20   dip::display::Chart::new(&format!(\"{image}: {{name}}\"), \"iteration\", y)\n\
         \x20       .line(name, points)\n\
         \x20       .line(\"detected\", [(at, lo), (at, hi)])\n\
         \x20       .show();\n\
         }}",
        run_lines("stopping", image)
    );
    in_block(&comment, &body)
}

/// `{{#dip loss-curves EXPERIMENT RUNS}}`: the loss of each recorded noise-impedance
/// run against the iteration (log scale).
pub fn loss_curves(experiment: &str, images: &str) -> String {
    let names: Vec<String> = images.split(',').map(|n| format!("{n:?}")).collect();
    let comment =
        "// The loss of each target against the iteration (log scale), from the records.\n";
    let body = format!(
        "use dip::reproduce::{{tables, Experiment}};\n\
         let replay = dip::notebooks::Replay::load()?;\n\
         let runs: Vec<String> = [{}].map(String::from).to_vec();\n\
         let preset = tables::strongest_preset(&replay.records, Experiment::parse(\"{experiment}\")?, &runs)\n\
         \x20   .ok_or(\"no recorded run: `dip reproduce` writes them\")?;\n\
         let title = format!(\"Noise impedance: the loss of each target ({{preset}} preset)\");\n\
         let mut chart = dip::display::Chart::new(&title, \"iteration\", \"log10 MSE loss\");\n\
         for curve in tables::learning_curves(&replay.records, &preset) {{\n\
         \x20   if curve.seed == 0 && runs.contains(&curve.name) {{\n\
         \x20       let points = curve.points.iter().filter(|p| p.1 > 0.0).map(|&(i, loss)| (i as f64, loss.log10()));\n\
         \x20       chart = chart.line(&curve.name, points);\n\
         \x20   }}\n\
         }}\n\
         chart.show();",
        names.join(", ")
    );
    in_block(comment, &body)
}

/// `{{#dip gap-curves EXPERIMENT PRESET}}`: each run's learning curve as a gap to the
/// authors' output on the same pixels.
pub fn gap_curves(experiment: &str, preset: &str) -> String {
    let comment =
        "// Each run's PSNR over the iterations minus the authors' published output on the\n\
         // same pixels (the record's `authors_psnr`): one line per image (seed 0).\n";
    let body = format!(
        "use dip::reproduce::Experiment;\n\
         let replay = dip::notebooks::Replay::load()?;\n\
         let experiment = Experiment::parse(\"{experiment}\")?;\n\
         let title = \"{experiment}, {preset} preset: ours − the authors' output, same pixels\";\n\
         let mut chart = dip::display::Chart::new(title, \"iteration\", \"PSNR gap (dB)\");\n\
         for run in replay.records.iter().filter(|r| r.experiment == experiment && r.preset == \"{preset}\" && r.seed == 0) {{\n\
         \x20   let Some(authors) = run.authors_psnr else {{ continue }};\n\
         \x20   let gap = run.history.iter().filter_map(|h| Some((h.iteration as f64, h.psnr_clean? - authors)));\n\
         \x20   chart = chart.line(&run.image, gap);\n\
         }}\n\
         chart.show();"
    );
    in_block(comment, &body)
}

/// `{{#dip network-diagram}}`: the standard network drawn from its configuration.
pub const NETWORK_DIAGRAM: &str = "\
// The standard network, drawn from its configuration by our SVG function.
{
    use dip::net::{SkipConfig, SkipNet};
    let config = SkipConfig::standard(32, 3);
    let net = SkipNet::new(&config, 0, &candle_core::Device::Cpu)?;
    let svg = dip::book::figures::network_svg(&config, net.parameter_count());
    dip::display::Bundle(vec![(\"image/svg+xml\".into(), svg)]).show();
}";

/// `{{#dip parameter-count}}`: the networks' parameters, counted.
pub const PARAMETER_COUNT: &str = "\
// The trainable parameters of the standard network, 3 and 1 output channels.
{
    use dip::net::{SkipConfig, SkipNet};
    for (input, output) in [(32, 3), (32, 1)] {
        let net = SkipNet::new(&SkipConfig::standard(input, output), 0, &candle_core::Device::Cpu)?;
        println!(\"SkipConfig::standard({input}, {output}): {} parameters\", net.parameter_count());
    }
}";

/// A block that is text computed from the records (a verdict, a list): the cell
/// computes it as the book does.
pub fn as_the_book(args: &[&str]) -> String {
    let args = args.join(" ");
    format!(
        "// `{{{{#dip {args}}}}}` of the book, computed here from the data folder\n\
         // and from the records of our runs (results/, written by `dip reproduce`).\n\
         dip::notebooks::book_block(\"{args}\")?.show();"
    )
}
