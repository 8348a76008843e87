//! downsampler
