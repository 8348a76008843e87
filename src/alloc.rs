//! The memory allocator of the `dip` program: the system's (glibc's, with the
//! thresholds of [`tune`]), except that large *zero-filled* blocks are fresh mappings,
//! and the largest blocks come in a few sizes.
//!
//! candle adds every gradient into a tensor of zeros it has just allocated
//! (`GradStore::or_insert`, then an add), so at the widest layer of a 512² fit a
//! zero tensor of 132 MiB lives beside the gradient and the sum. Asked for zeroed
//! memory, glibc clears a reused block, which makes all of it resident. A fresh
//! anonymous mapping is zero already, and reading it maps the kernel's one shared
//! zero page (a huge one, with `MADV_HUGEPAGE`), so such zeros take no memory until
//! they are written. The blocks candle and our kernels write in full cost the same
//! either way: the kernel clears the pages they touch, instead of glibc.
//!
//! The largest tensors of a 512² fit (128 MiB, 129, 132, 133: 128 or 132 channels,
//! padded or not) come and go all through the backward pass, among the graph's blocks
//! that stay. In glibc's one heap, the hole one of them leaves is often a few MiB
//! too small for the next, and the heap grows instead: 1366 MiB resident against
//! 955 MiB ever alive at once. Rounded up to size classes 1/16 of a power of two
//! apart ([`size_class`]), all four are one size, and a hole fits the next
//! (1136 MiB); at 256² and below nothing is that large.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// `System`, but zeroed blocks of [`MAPPED_FROM`] bytes and more are fresh mappings (Linux).
pub struct DipAllocator;

/// Zeroed blocks from this size up are mapped (16 MiB: a 128-channel plane of 181²).
pub const MAPPED_FROM: usize = 16 << 20;

/// Blocks from this size up are rounded up to a size class (64 MiB: 128 channels of 362²).
pub const CLASSES_FROM: usize = 64 << 20;

/// The size glibc is asked for, for a block of `size` bytes: from [`CLASSES_FROM`] up,
/// the next multiple of 1/16 of the power of two below it, strictly above (so that
/// 128 MiB, a power of two itself, shares its class with the sizes just above it:
/// `[128, 136) MiB → 136 MiB`). At most 1/8 more than asked.
pub fn size_class(size: usize) -> usize {
    if size < CLASSES_FROM {
        return size;
    }
    let step = 1usize << (size.ilog2() - 4);
    (size / step + 1) * step
}

/// `layout` with its size rounded up to its [`size_class`].
fn classed(layout: Layout) -> Layout {
    // SAFETY: the alignment is `layout`'s own; the size grows by at most 1/8 and
    // stays far below `isize::MAX` for any block a process can hold.
    unsafe { Layout::from_size_align_unchecked(size_class(layout.size()), layout.align()) }
}

#[cfg(target_os = "linux")]
mod mapped {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// How many mapped blocks may be alive at once; beyond, glibc serves them.
    const SLOTS: usize = 64;
    /// The addresses of the mapped blocks alive (0: a free slot). A fixed table, so
    /// that the allocator never allocates itself.
    static LIVE: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

    /// A fresh zeroed mapping of `size` bytes, or `None` (then the caller asks glibc).
    pub fn map(size: usize) -> Option<*mut u8> {
        // SAFETY: an anonymous private mapping touches no existing memory.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: advice on the mapping just made; failing it only costs speed.
        unsafe { libc::madvise(p, size, libc::MADV_HUGEPAGE) };
        for slot in &LIVE {
            let free = slot.compare_exchange(0, p as usize, Ordering::AcqRel, Ordering::Relaxed);
            if free.is_ok() {
                return Some(p.cast());
            }
        }
        // SAFETY: the mapping made above, not handed out.
        unsafe { libc::munmap(p, size) };
        None
    }

    /// Whether `ptr` is one of ours.
    #[cfg(test)]
    pub fn holds(ptr: *mut u8) -> bool {
        LIVE.iter()
            .any(|slot| slot.load(Ordering::Acquire) == ptr as usize)
    }

    /// Unmap `ptr` if it is one of ours; whether it was.
    pub fn unmap(ptr: *mut u8, size: usize) -> bool {
        for slot in &LIVE {
            if slot.load(Ordering::Acquire) == ptr as usize {
                slot.store(0, Ordering::Release);
                // SAFETY: `ptr` was mapped by `map` with this size, and is freed once.
                unsafe { libc::munmap(ptr.cast(), size) };
                return true;
            }
        }
        false
    }
}

#[cfg(not(target_os = "linux"))]
mod mapped {
    pub fn map(_size: usize) -> Option<*mut u8> {
        None
    }

    pub fn unmap(_ptr: *mut u8, _size: usize) -> bool {
        false
    }
}

fn mappable(layout: &Layout) -> bool {
    layout.size() >= MAPPED_FROM && layout.align() <= 4096
}

/// Whether [`count_element_blocks`] is counting (a flag read on every allocation; the
/// counters are touched only while it is set).
static COUNTING: AtomicBool = AtomicBool::new(false);
static BLOCKS: AtomicUsize = AtomicUsize::new(0);
static BLOCK_BYTES: AtomicU64 = AtomicU64::new(0);

/// Blocks of 4-byte elements (alignment 4: the buffers of float32 and u32 tensors),
/// counted while [`COUNTING`] is set.
fn count(layout: &Layout) {
    if COUNTING.load(Ordering::Relaxed) && layout.align() == 4 {
        BLOCKS.fetch_add(1, Ordering::Relaxed);
        BLOCK_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
    }
}

/// Run `f` and count the blocks of 4-byte elements that the whole process allocates
/// meanwhile (every thread): `(f's result, blocks, bytes)`. Each candle op that
/// writes a new float32 tensor allocates one such block (a view allocates none);
/// shapes, strides and the matrix products' packing buffers have other alignments.
/// Counts only where [`DipAllocator`] is the program's allocator; one count at a
/// time (an error otherwise), so nothing else should allocate tensors meanwhile.
pub fn count_element_blocks<R>(f: impl FnOnce() -> R) -> Result<(R, usize, u64), &'static str> {
    if COUNTING
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return Err("another count of allocations is running");
    }
    BLOCKS.store(0, Ordering::Relaxed);
    BLOCK_BYTES.store(0, Ordering::Relaxed);
    let r = f();
    COUNTING.store(false, Ordering::Release);
    Ok((
        r,
        BLOCKS.load(Ordering::Relaxed),
        BLOCK_BYTES.load(Ordering::Relaxed),
    ))
}

// SAFETY: every block comes from `System` or from `mapped::map`, and goes back to where
// it came from (`mapped::unmap` recognises its own).
unsafe impl GlobalAlloc for DipAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(&layout);
        System.alloc(classed(layout))
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(&layout);
        if mappable(&layout) {
            if let Some(p) = mapped::map(layout.size()) {
                return p;
            }
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !(mappable(&layout) && mapped::unmap(ptr, layout.size())) {
            System.dealloc(ptr, classed(layout))
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !mappable(&layout) && new_size < CLASSES_FROM {
            return System.realloc(ptr, layout, new_size);
        }
        // A mapped block moves to glibc, a block of a size class to its new class.
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let new = self.alloc(new_layout);
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new
    }
}

/// Keep freed memory in the process for reuse instead of giving it back to the
/// system at once (glibc's `malloc` otherwise maps and unmaps every block above
/// 32 MiB: each iteration of a training loop then zero-fills its large
/// tensors page by page, some 15 % of the time at 256×256). Call it once at the
/// start of a program that fits a network; elsewhere than Linux with glibc it does nothing.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes two thresholds of the allocator.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resident bytes of the mapping that holds `p` (`Rss` in `/proc/self/smaps`:
    /// of that mapping alone, whatever other tests allocate meanwhile).
    #[cfg(target_os = "linux")]
    fn resident(p: *const u8) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_once(' ').and_then(|(r, _)| r.split_once('-'));
            let bounds = range.and_then(|(a, b)| {
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            });
            if let Some((start, end)) = bounds {
                inside = (start..end).contains(&(p as usize));
            } else if inside && line.starts_with("Rss:") {
                let kib = line.split_whitespace().nth(1).unwrap();
                return kib.parse::<usize>().unwrap() * 1024;
            }
        }
        panic!("no mapping holds {p:?}")
    }

    #[test]
    fn zeroed_blocks_are_zero_and_take_no_memory_until_written() {
        let layout = Layout::from_size_align(64 << 20, 64).unwrap();
        unsafe {
            let p = DipAllocator.alloc_zeroed(layout);
            assert!(!p.is_null());
            let block = std::slice::from_raw_parts(p, layout.size());
            assert!(block.iter().all(|&b| b == 0));
            #[cfg(target_os = "linux")]
            {
                assert!(
                    mapped::holds(p),
                    "a 64 MiB zeroed block is not a mapping of ours"
                );
                let rss = resident(p);
                assert!(
                    rss < 8 << 20,
                    "reading 64 MiB of zeros made {rss} bytes resident"
                );
            }
            // Written, resized both ways, freed.
            std::ptr::write_bytes(p, 7, layout.size());
            let q = DipAllocator.realloc(p, layout, 80 << 20);
            assert_eq!(*q.add((64 << 20) - 1), 7);
            let small = Layout::from_size_align(80 << 20, 64).unwrap();
            let r = DipAllocator.realloc(q, small, 1 << 10);
            assert_eq!(*r.add(1023), 7);
            DipAllocator.dealloc(r, Layout::from_size_align(1 << 10, 64).unwrap());
        }
    }

    #[test]
    fn the_largest_blocks_share_a_few_sizes() {
        let mib = 1 << 20;
        // The 512² tensors: 128 and 132 channels, padded by reflection or not.
        let sizes = [
            128 * mib,
            512 * 516 * 128 * 4,
            132 * mib,
            514 * 514 * 132 * 4,
        ];
        assert!(sizes.iter().all(|&s| size_class(s) == 136 * mib));
        for s in [CLASSES_FROM, 100 * mib, 136 * mib, 1 << 30, (1 << 30) + 1] {
            let c = size_class(s);
            assert!(c > s && c - s <= s / 8, "{s} → {c}");
        }
        assert_eq!(size_class(CLASSES_FROM - 1), CLASSES_FROM - 1);
        assert_eq!(size_class(33 * mib), 33 * mib);
        // Allocated, written, resized across the threshold both ways, freed.
        unsafe {
            let layout = Layout::from_size_align(130 * mib, 64).unwrap();
            let p = DipAllocator.alloc(layout);
            assert!(!p.is_null());
            std::ptr::write_bytes(p, 3, layout.size());
            let q = DipAllocator.realloc(p, layout, 20 * mib);
            assert_eq!(*q.add(20 * mib - 1), 3);
            let small = Layout::from_size_align(20 * mib, 64).unwrap();
            let r = DipAllocator.realloc(q, small, 140 * mib);
            assert_eq!(*r.add(20 * mib - 1), 3);
            DipAllocator.dealloc(r, Layout::from_size_align(140 * mib, 64).unwrap());
        }
    }

    #[test]
    fn every_slot_in_use_falls_back_to_the_system() {
        let layout = Layout::from_size_align(MAPPED_FROM, 8).unwrap();
        unsafe {
            let blocks: Vec<*mut u8> = (0..70).map(|_| DipAllocator.alloc_zeroed(layout)).collect();
            for &p in &blocks {
                assert!(!p.is_null() && *p == 0 && *p.add(MAPPED_FROM - 1) == 0);
            }
            for p in blocks {
                DipAllocator.dealloc(p, layout);
            }
        }
    }
}
