//! The op count of a training iteration (`dip::op_count`): right on small graphs, and
//! pinned for the GPU path's program, so that a change that adds launches is seen.
//! A binary of its own: the count takes the process's allocations while it runs.

use candle_core::{DType, Device, Tensor, Var};
use dip::bench::BenchOptions;
use dip::op_count::{count_iteration, counted, PhaseOps};
use dip::ops::Kernels;

#[global_allocator]
static ALLOCATOR: dip::alloc::DipAllocator = dip::alloc::DipAllocator;

#[test]
fn the_ops_of_an_iteration_are_counted_and_pinned() -> dip::Result<()> {
    // A product (one buffer), a reshape and a broadcast (views of it), a sum (one
    // buffer): two launches, 16 + 4 bytes.
    let a = Var::new(&[1f32, 2., 3., 4.], &Device::Cpu)?;
    let (_, ops) = counted(|| {
        let doubled = (a.as_tensor() * 2.0)?.reshape((2, 2))?;
        Ok(doubled
            .broadcast_as((3, 2, 2))?
            .narrow(0, 0, 1)?
            .sum_all()?)
    })?;
    assert_eq!(
        ops,
        PhaseOps {
            launches: 2,
            bytes: 20
        }
    );
    // Its backward pass: the seed (ones); for each of the three tensors that receive a
    // gradient (the scalar, the sum kept as [1], the product) a tensor of zeros and the
    // sum into it; the product's gradient (an affine map of the broadcast seed).
    let y = (a.as_tensor() * 2.0)?.sum_all()?;
    let (_, ops) = counted(|| Ok(y.backward()?))?;
    assert_eq!(
        ops,
        PhaseOps {
            launches: 8,
            bytes: 4 + 2 * 4 + 2 * 16 + 16 + 2 * 16
        }
    );
    let (_, none) = counted(|| Ok(Tensor::zeros(4, DType::F32, &Device::Cpu)?.reshape((2, 2))?))?;
    assert_eq!(none.launches, 1);

    let options = BenchOptions {
        size: 64,
        channels: 3,
        kernels: Kernels::Gemm,
        ..BenchOptions::default()
    };
    // The GPU's program at 64², each phase pinned: a change that adds launches (or
    // removes them) changes these numbers, and the note of its commit says by how much.
    // PyTorch runs 138, 107 and 8 here (`benches/torch_reference.py --count-ops`).
    let ops = count_iteration(&options)?;
    let pinned = |launches, bytes| PhaseOps { launches, bytes };
    assert_eq!(ops.forward, pinned(682, 191_951_656), "forward");
    assert_eq!(ops.backward, pinned(5380, 1_293_709_892), "backward");
    assert_eq!(ops.adam, pinned(1456, 115_327_212), "Adam's step");
    let mib = ops.bytes() as f64 / (1024.0 * 1024.0);
    let said = format!("{} launches and {mib:.0} MiB", ops.launches());
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    assert!(readme.contains(&said), "README lacks {said:?}");
    Ok(())
}
