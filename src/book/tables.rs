//! The tables of the book, generated when it is built: the paper's numbers
//! (quoted, a typed constant: [`TABLE1`], [`SR_AVERAGES`], ...), the authors'
//! own output images re-measured by [`crate::metrics`] from the data folder, and
//! our runs, read from their records ([`super::records`]). Nothing measured is typed in.

use anyhow::{Context, Result};

use super::records::{Results, RunRecord};
use crate::data::DataDir;
use crate::image_io::Image;
use crate::metrics;

/// The images of Table 1 of the paper: (our file name, the paper's column title).
pub const TABLE1_IMAGES: [(&str, &str); 11] = [
    ("barbara", "Barbara"),
    ("boat", "Boat"),
    ("house", "House"),
    ("lena", "Lena"),
    ("peppers", "Peppers"),
    ("cameraman", "C.man"),
    ("couple", "Couple"),
    ("fingerprint", "Finger"),
    ("hill", "Hill"),
    ("man", "Man"),
    ("montage", "Montage"),
];

/// Table 1 of the paper [1], quoted: PSNR (dB) of inpainting 50 % missing pixels,
/// per image in the order of [`TABLE1_IMAGES`], then the mean the paper prints.
pub const TABLE1: [(&str, [f64; 11], f64); 2] = [
    (
        "Papyan et al. [5] (CSC), as quoted in [1]",
        [
            28.14, 31.44, 34.58, 35.04, 31.11, 27.90, 31.18, 31.34, 32.35, 31.92, 28.05,
        ],
        31.19,
    ),
    (
        "Deep Image Prior, the paper [1]",
        [
            32.22, 33.06, 39.16, 36.16, 33.05, 29.80, 32.52, 32.84, 32.77, 32.20, 34.54,
        ],
        33.48,
    ),
];

/// Set5 and Set14 image names.
pub const SET5: [&str; 5] = ["baby", "bird", "butterfly", "head", "woman"];
pub const SET14: [&str; 14] = [
    "baboon",
    "barbara",
    "bridge",
    "coastguard",
    "comic",
    "face",
    "flowers",
    "foreman",
    "lenna",
    "man",
    "monarch",
    "pepper",
    "ppt3",
    "zebra",
];

/// The super-resolution averages of the paper [1] (Y channel PSNR, dB), quoted:
/// (set, factor, bicubic, TV, DIP, LapSRN).
pub const SR_AVERAGES: [(&str, usize, f64, f64, f64, f64); 4] = [
    ("set5", 4, 28.44, 28.86, 29.90, 31.59),
    ("set14", 4, 26.05, 26.42, 27.01, 28.13),
    ("set5", 8, 24.37, 24.88, 25.89, 26.10),
    ("set14", 8, 23.10, 23.49, 24.15, 24.36),
];

/// Colour denoising, σ = 25 (CBM3D's 9 images): (our output name, ground truth file).
pub const DENOISING_IMAGES: [(&str, &str); 9] = [
    ("F16", "image_F16_512rgb"),
    ("baboon", "image_Baboon512rgb"),
    ("house", "image_House256rgb"),
    ("lena", "image_Lena512rgb"),
    ("peppers", "image_Peppers512rgb"),
    ("kodim01", "kodim01"),
    ("kodim02", "kodim02"),
    ("kodim03", "kodim03"),
    ("kodim12", "kodim12"),
];

/// The paper's denoising numbers [1], quoted: (method, F16, mean of the 9 images).
pub const DENOISING_PAPER: [(&str, f64, f64); 2] = [
    ("CBM3D [6], as quoted in [1]", 32.67, 31.42),
    ("Deep Image Prior, the paper [1]", 33.69, 31.29),
];

fn load(data: &DataDir, rel: &str) -> Result<Image> {
    let path = data.image(rel)?;
    Image::load(&path).with_context(|| format!("cannot read {}", path.display()))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The SR ground truth of the paper: the HR image cropped top-left to a multiple of the factor.
pub fn sr_ground_truth(data: &DataDir, set: &str, name: &str, factor: usize) -> Result<Image> {
    let hr = load(data, &format!("{set}/{name}.png"))?;
    Ok(hr.crop(
        0,
        0,
        hr.height - hr.height % factor,
        hr.width - hr.width % factor,
    )?)
}

/// Re-measure the authors' Table 1 outputs: PSNR against the ground truth, per image.
pub fn table1_authors(data: &DataDir) -> Result<Vec<f64>> {
    TABLE1_IMAGES
        .iter()
        .map(|(name, _)| {
            let truth = load(data, &format!("inpainting-table1/{name}.png"))?;
            let out = load(
                data,
                &format!("reference-outputs/inpainting-table1/{name}.png"),
            )?;
            Ok(metrics::psnr(&truth, &out)?)
        })
        .collect()
}

/// Re-measure the authors' SR outputs of a set and factor with the paper's protocol.
pub fn sr_authors(data: &DataDir, set: &str, factor: usize) -> Result<Vec<f64>> {
    let names: &[&str] = if set == "set5" { &SET5 } else { &SET14 };
    names
        .iter()
        .map(|name| {
            let truth = sr_ground_truth(data, set, name, factor)?;
            let published = load(
                data,
                &format!("reference-outputs/sr/{set}/x{factor}/{name}.png"),
            )?;
            Ok(metrics::psnr_sr(&truth, &published.crop_to_multiple(32)?)?)
        })
        .collect()
}

/// Re-measure the authors' denoising outputs (σ = 25), per image.
pub fn denoising_authors(data: &DataDir) -> Result<Vec<f64>> {
    DENOISING_IMAGES
        .iter()
        .map(|(out, truth)| {
            let t = load(data, &format!("denoising-cbm3d9/{truth}.png"))?;
            let o = load(
                data,
                &format!("reference-outputs/denoising-cbm3d9/{out}.png"),
            )?;
            Ok(metrics::psnr(&t, &o)?)
        })
        .collect()
}

/// Our records for `experiment` over `images`, in order (None where missing).
pub fn ours(
    results: &Results,
    experiment: &str,
    images: &[&str],
) -> Result<Vec<Option<RunRecord>>> {
    images
        .iter()
        .map(|i| Ok(results.get(experiment, i)?.map(|(r, _)| r)))
        .collect()
}

fn cell(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())
}

/// The note shown where no run has been recorded yet.
pub fn no_run_note(experiment: &str) -> String {
    format!(
        "> **No recorded run yet** for `{experiment}`: run `dip reproduce --preset paper --only {experiment}` \
         (it writes `results/<preset>/{experiment}/*.json`), then rebuild the book with `dip book`.\n"
    )
}

/// The note shown where no run of `experiment` on `image` has been recorded yet.
pub fn no_run_note_for(experiment: &str, image: &str) -> String {
    format!(
        "> **No recorded run yet** for `{experiment}` on `{image}`: run \
         `dip reproduce --preset paper --only {experiment} --images {image}` (it writes \
         `results/<preset>/{experiment}/{image}.json`), then rebuild the book with `dip book`.\n"
    )
}

/// The provenance lines of a set of records (each distinct run setting once).
pub fn provenance(records: &[Option<RunRecord>]) -> String {
    let mut lines: Vec<String> = records.iter().flatten().map(|r| r.provenance()).collect();
    let total: f64 = records.iter().flatten().map(|r| r.wall_seconds).sum();
    let n = records.iter().flatten().count();
    lines.sort();
    lines.dedup();
    if lines.len() > 3 {
        let first = records.iter().flatten().next().unwrap();
        return format!(
            "Our row: {n} recorded runs (e.g. {}; {:.0} s in all); see [Results](results.md) for each run.\n",
            first.provenance(),
            total
        );
    }
    format!("Our row: {n} recorded run(s): {}.\n", lines.join("; "))
}

/// Table 1: Papyan et al., the paper, the authors' outputs re-measured, and ours.
pub fn table1(data: &DataDir, results: &Results) -> Result<String> {
    let mut s = String::from("| | ");
    s += &TABLE1_IMAGES
        .iter()
        .map(|(_, t)| *t)
        .collect::<Vec<_>>()
        .join(" | ");
    s += " | mean |\n|---|";
    s += &"---:|".repeat(12);
    s += "\n";
    for (name, row, m) in TABLE1 {
        s += &format!("| {name} | ");
        s += &row
            .iter()
            .map(|v| format!("{v:.2}"))
            .collect::<Vec<_>>()
            .join(" | ");
        s += &format!(" | {m:.2} |\n");
    }
    let authors = table1_authors(data)?;
    s += "| DIP, the authors' output images, re-measured by our code | ";
    s += &authors
        .iter()
        .map(|v| format!("{v:.2}"))
        .collect::<Vec<_>>()
        .join(" | ");
    s += &format!(" | {:.2} |\n", mean(&authors));
    let names: Vec<&str> = TABLE1_IMAGES.iter().map(|(n, _)| *n).collect();
    let ours = ours(results, "table1", &names)?;
    let have = ours.iter().flatten().count();
    if have > 0 {
        s += "| **DIP, ours** | ";
        let vals: Vec<Option<f64>> = ours
            .iter()
            .map(|r| r.as_ref().and_then(|r| r.final_psnr))
            .collect();
        s += &vals
            .iter()
            .map(|v| cell(*v))
            .collect::<Vec<_>>()
            .join(" | ");
        let all: Vec<f64> = vals.iter().flatten().copied().collect();
        let m = if all.len() == names.len() {
            cell(Some(mean(&all)))
        } else {
            "–".into()
        };
        s += &format!(" | {m} |\n");
    }
    s += "\n";
    if have > 0 {
        s += &provenance(&ours);
    } else {
        s += &no_run_note("table1");
    }
    Ok(s)
}

/// The SR averages: the paper's methods, the authors' outputs re-measured, ours.
pub fn sr_table(data: &DataDir, results: &Results) -> Result<String> {
    let mut s = String::from(
        "| | bicubic [1] | TV [1] | LapSRN [7] [1] | DIP, the paper [1] | DIP, authors' outputs re-measured | **DIP, ours** |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut all_records = Vec::new();
    for (set, f, bicubic, tv, dip, lap) in SR_AVERAGES {
        let authors = mean(&sr_authors(data, set, f)?);
        let names: &[&str] = if set == "set5" { &SET5 } else { &SET14 };
        let images: Vec<String> = names.iter().map(|n| format!("{set}-x{f}-{n}")).collect();
        let images: Vec<&str> = images.iter().map(|s| s.as_str()).collect();
        let recs = ours(results, "sr", &images)?;
        let vals: Vec<f64> = recs.iter().flatten().filter_map(|r| r.final_psnr).collect();
        let our = if vals.len() == names.len() {
            format!("{:.2}", mean(&vals))
        } else if vals.is_empty() {
            "no run yet".into()
        } else {
            format!(
                "{:.2} ({} of {} images)",
                mean(&vals),
                vals.len(),
                names.len()
            )
        };
        let title = if set == "set5" { "Set5" } else { "Set14" };
        s += &format!(
            "| {title} ×{f} | {bicubic:.2} | {tv:.2} | {lap:.2} | {dip:.2} | {authors:.2} | {our} |\n"
        );
        all_records.extend(recs);
    }
    s += "\n";
    if all_records.iter().flatten().next().is_some() {
        s += &provenance(&all_records);
    } else {
        s += &no_run_note("sr");
    }
    Ok(s)
}

/// The Set5 ×4 per-image table: the paper, the authors' outputs re-measured, ours.
pub fn sr_set5_x4(data: &DataDir, results: &Results) -> Result<String> {
    const PAPER: [f64; 5] = [31.49, 31.80, 26.23, 31.04, 28.93];
    let authors = sr_authors(data, "set5", 4)?;
    let images: Vec<String> = SET5.iter().map(|n| format!("set5-x4-{n}")).collect();
    let images: Vec<&str> = images.iter().map(|s| s.as_str()).collect();
    let recs = ours(results, "sr", &images)?;
    let mut s = String::from(
        "| | baby | bird | butterfly | head | woman |\n|---|---:|---:|---:|---:|---:|\n",
    );
    s += "| DIP, the paper [1] | ";
    s += &PAPER
        .iter()
        .map(|v| format!("{v:.2}"))
        .collect::<Vec<_>>()
        .join(" | ");
    s += " |\n| DIP, authors' outputs re-measured | ";
    s += &authors
        .iter()
        .map(|v| format!("{v:.2}"))
        .collect::<Vec<_>>()
        .join(" | ");
    s += " |\n";
    if recs.iter().flatten().next().is_some() {
        s += "| **DIP, ours** | ";
        s += &recs
            .iter()
            .map(|r| cell(r.as_ref().and_then(|r| r.final_psnr)))
            .collect::<Vec<_>>()
            .join(" | ");
        s += " |\n\n";
        s += &provenance(&recs);
    } else {
        s += "\n";
        s += &no_run_note("sr");
    }
    Ok(s)
}

/// Colour denoising: the paper's F16 and mean, the authors' outputs re-measured, ours.
pub fn denoising_table(data: &DataDir, results: &Results) -> Result<String> {
    let authors = denoising_authors(data)?;
    let names: Vec<&str> = DENOISING_IMAGES.iter().map(|(n, _)| *n).collect();
    let recs = ours(results, "denoising", &names)?;
    let mut s = String::from("| | F16 | mean of the 9 images |\n|---|---:|---:|\n");
    for (name, f16, m) in DENOISING_PAPER {
        s += &format!("| {name} | {f16:.2} | {m:.2} |\n");
    }
    s += &format!(
        "| DIP, the authors' output images, re-measured by our code | {:.2} | {:.2} |\n",
        authors[0],
        mean(&authors)
    );
    if recs.iter().flatten().next().is_some() {
        let vals: Vec<f64> = recs.iter().flatten().filter_map(|r| r.final_psnr).collect();
        let m = if vals.len() == names.len() {
            cell(Some(mean(&vals)))
        } else {
            "–".into()
        };
        s += &format!(
            "| **DIP, ours** | {} | {m} |\n\n",
            cell(recs[0].as_ref().and_then(|r| r.final_psnr))
        );
        s += &provenance(&recs);
    } else {
        s += "\n";
        s += &no_run_note("denoising");
    }
    Ok(s)
}

/// Every recorded run, with its provenance and timing.
pub fn runs_table(results: &Results) -> Result<String> {
    let all = results.all()?;
    if all.is_empty() {
        return Ok(format!(
            "> **No recorded run yet**: the folder `{}` holds no run record. Run `dip reproduce …` \
             (see [Running it yourself](running.md)), then rebuild the book.\n",
            results.root().display()
        ));
    }
    let mut s = String::from(
        "| experiment | image | final PSNR (dB) | preset | device | iterations | wall time (s) | s / iteration | commit |\n\
         |---|---|---:|---|---|---:|---:|---:|---|\n",
    );
    for (r, _) in &all {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.3} | `{}` |\n",
            r.experiment,
            r.image,
            cell(r.final_psnr),
            r.preset,
            if r.device_name.is_empty() {
                &r.device
            } else {
                &r.device_name
            },
            r.iterations,
            r.wall_seconds,
            r.wall_seconds / r.iterations.max(1) as f64,
            super::records::short(&r.git_commit)
        );
    }
    Ok(s)
}
