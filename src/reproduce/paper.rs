//! The numbers the paper quotes, in one place.
//!
//! Source: D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018:
//! the inpainting comparison with Papyan et al. (called "Table 1" in this crate),
//! the super-resolution table (PSNR on the Y channel, averages over Set5 and
//! Set14), and the denoising comparison on the nine colour images of CBM3D at
//! σ = 25. The "authors' outputs" rows are the PSNRs of the result images the
//! authors published on their project page, as re-measured for
//! `shared/reference/dip-settings.md`; [`crate::reproduce::tables`] measures
//! them again from the data folder.
//!
//! All values in dB. They agree with `shared/reference/dip-settings.md`, which
//! decides where two sources differ.

/// The eleven grey images of Table 1, in the paper's column order (file names of the data folder).
pub const TABLE1_IMAGES: [&str; 11] = [
    "barbara",
    "boat",
    "house",
    "lena",
    "peppers",
    "cameraman",
    "couple",
    "fingerprint",
    "hill",
    "man",
    "montage",
];

/// The paper's column titles of Table 1, in the order of [`TABLE1_IMAGES`].
pub const TABLE1_TITLES: [&str; 11] = [
    "Barbara", "Boat", "House", "Lena", "Peppers", "C.man", "Couple", "Finger", "Hill", "Man",
    "Montage",
];

/// Table 1, Papyan et al. (convolutional sparse coding), per image.
pub const TABLE1_PAPYAN: [f64; 11] = [
    28.14, 31.44, 34.58, 35.04, 31.11, 27.90, 31.18, 31.34, 32.35, 31.92, 28.05,
];
/// Table 1, Papyan et al., mean.
pub const TABLE1_PAPYAN_MEAN: f64 = 31.19;

/// Table 1, Deep Image Prior as printed in the paper, per image.
pub const TABLE1_DIP: [f64; 11] = [
    32.22, 33.06, 39.16, 36.16, 33.05, 29.80, 32.52, 32.84, 32.77, 32.20, 34.54,
];
/// Table 1, Deep Image Prior, mean.
pub const TABLE1_DIP_MEAN: f64 = 33.48;

/// Table 1: the authors' published output images, re-measured (for reference; the
/// tables measure them again from the data folder).
pub const TABLE1_DIP_AUTHORS_OUTPUTS: [f64; 11] = [
    32.18, 33.04, 39.00, 36.08, 33.06, 29.80, 32.48, 32.81, 32.73, 32.17, 34.49,
];

/// One method's row of the super-resolution table: mean PSNR (Y channel, 4-pixel
/// border shaved) on Set5 ×4, Set14 ×4, Set5 ×8, Set14 ×8 (`None`: not reported).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SrRow {
    pub method: &'static str,
    pub values: [Option<f64>; 4],
}

/// The columns of [`SR_TABLE`]: (set, factor).
pub const SR_COLUMNS: [(&str, usize); 4] = [("set5", 4), ("set14", 4), ("set5", 8), ("set14", 8)];

/// The method names of [`SR_TABLE`] that the per-image tables quote.
pub const SR_BICUBIC: &str = "bicubic";
pub const SR_DIP: &str = "Deep Image Prior";

/// The super-resolution table of the paper.
pub const SR_TABLE: [SrRow; 7] = [
    SrRow {
        method: "no prior",
        values: [Some(26.56), Some(24.93), Some(23.45), Some(22.56)],
    },
    SrRow {
        method: "bicubic",
        values: [Some(28.44), Some(26.05), Some(24.37), Some(23.10)],
    },
    SrRow {
        method: "TV prior",
        values: [Some(28.86), Some(26.42), Some(24.88), Some(23.49)],
    },
    SrRow {
        method: "Glasner et al. / SelfExSR",
        values: [Some(28.85), Some(26.46), Some(25.43), Some(23.96)],
    },
    SrRow {
        method: "Deep Image Prior",
        values: [Some(29.90), Some(27.01), Some(25.89), Some(24.15)],
    },
    SrRow {
        method: "LapSRN",
        values: [Some(31.59), Some(28.13), Some(26.10), Some(24.36)],
    },
    SrRow {
        method: "SRResNet",
        values: [Some(32.10), Some(28.53), None, None],
    },
];

/// The row of `method` in [`SR_TABLE`].
pub fn sr_row(method: &str) -> Option<&'static SrRow> {
    SR_TABLE.iter().find(|r| r.method == method)
}

/// The paper's value of `method` on `set` ×`factor`, if it reports one.
pub fn sr_value(method: &str, set: &str, factor: usize) -> Option<f64> {
    let column = SR_COLUMNS.iter().position(|&c| c == (set, factor))?;
    sr_row(method)?.values[column]
}

/// Deep Image Prior on Set5 ×4, per image (paper).
pub const SR_SET5_X4_DIP: [(&str, f64); 5] = [
    ("baby", 31.49),
    ("bird", 31.80),
    ("butterfly", 26.23),
    ("head", 31.04),
    ("woman", 28.93),
];

/// The five images of Set5 and the fourteen of Set14 (file names of the data folder).
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

/// The images of `set` (`set5` or `set14`).
pub fn sr_images(set: &str) -> &'static [&'static str] {
    if set == "set5" {
        &SET5
    } else {
        &SET14
    }
}

/// The nine colour images of the denoising comparison: (our name, which is the
/// name of the authors' output file, and the ground truth's file in `denoising-cbm3d9/`).
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

/// Colour denoising at σ = 25: mean over the nine images.
pub const DENOISING_DIP_MEAN: f64 = 31.29;
pub const DENOISING_CBM3D_MEAN: f64 = 31.42;
pub const DENOISING_NLM_MEAN: f64 = 30.23;
/// Colour denoising at σ = 25, the F16 image.
pub const DENOISING_DIP_F16: f64 = 33.69;
pub const DENOISING_CBM3D_F16: f64 = 32.67;
/// The paper's text on F16: 29.22 dB after 1800 steps without averaging,
/// 30.43 dB with output averaging, 31.00 dB averaged over two runs.
pub const DENOISING_TEXT_F16: [(&str, f64); 3] = [
    ("1800 steps, last output", 29.22),
    ("with output averaging", 30.43),
    ("averaged over two runs", 31.00),
];
