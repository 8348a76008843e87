//! # Deep Image Prior, in Rust on candle
//!
//! A reproduction of "Deep Image Prior" (Ulyanov, Vedaldi, Lempitsky, CVPR 2018).
//! The structure of a randomly initialised convolutional network is used as the
//! prior of an image restoration problem: fix a random input `z`, fit the
//! parameters θ so that `E(f_θ(z); x0)` is small for the corrupted image `x0`,
//! stop early, and read the restored image off `f_θ*(z)`.
//!
//! One module per idea:
//! - [`net`]: the "skip" encoder-decoder network;
//! - [`ops`]: the network's operations with their gradients: what candle lacks
//!   (reflection padding, ×2 upsampling with a backward pass) and, for the CPU, our
//!   own kernels (convolution by im2col and Winograd, fused conv → batch norm →
//!   LeakyReLU units, the decoder's merge);
//! - [`input`]: the network input `z` and its per-iteration perturbation;
//! - [`tasks`]: each restoration task as a corruption plus an energy;
//! - [`tiling`]: photos of any size in bounded memory (estimate, tiles, blending);
//! - [`downsampler`]: the Lanczos-2 downsampler of super-resolution;
//! - [`optim`]: Adam, with PyTorch's defaults;
//! - [`fit`]: the fitting loop (output averaging, rollback, history);
//! - [`stopping`]: when to stop without a clean image (ES-WMV, ES-EMV);
//! - [`noise_level`]: the noise's σ estimated from the noisy image alone;
//! - [`metrics`]: PSNR (and its super-resolution variant) and SSIM;
//! - [`image_io`]: images in and out, written atomically;
//! - [`display`]: images and figures shown inline in a Jupyter notebook (evcxr);
//! - [`data`]: the standard images, their manifest and download;
//! - [`device`]: choosing CPU, CUDA or Metal;
//! - [`reproduce`]: the paper's experiments, their records and tables;
//! - [`book`]: the tutorial book, its generated tables and figures, and its checks;
//! - [`notebooks`]: the chapters as Jupyter notebooks (`code/`), and what their cells call;
//! - [`mod@bench`]: the benchmark of one training iteration;
//! - [`alloc`]: the allocator of the `dip` program (large zeroed blocks as fresh mappings).

pub mod alloc;
pub mod bench;
pub mod book;
pub mod data;
pub mod device;
pub mod display;
pub mod downsampler;
pub mod error;
pub mod fit;
pub mod image_io;
pub mod input;
pub mod metrics;
pub mod net;
pub mod noise_level;
pub mod notebooks;
pub mod op_count;
pub mod ops;
pub mod optim;
pub mod reproduce;
pub mod rng;
pub mod stopping;
pub mod tasks;
pub mod tiling;

pub use error::{DipError, Result};
pub use image_io::Image;

/// The README's code, compiled and run as doctests (`cargo test --doc`).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
