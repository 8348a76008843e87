//! The training-iteration benchmark (see `dip::bench`):
//! `cargo run --release --example bench -- --size 256 --channels 3 --iterations 5 [--kernels fast|candle]`.

fn main() {
    if let Err(e) = dip::bench::run_cli(std::env::args().skip(1)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
