//! A folder of photos: `dip denoise DIR -o OUTDIR` (and every task) restores each
//! image in it into `OUTDIR/<name>.png`, skipping outputs that exist unless
//! `--force`, one line per image, a summary at the end. One bad file is reported and
//! skipped, not the end of the batch.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The image files of a folder (PNG, JPEG), sorted by name.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image(p))
        .collect();
    files.sort();
    Ok(files)
}

fn is_image(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
}

/// Restore every image of `dir` with `restore(input, output)` into `out_dir`.
pub fn run(
    dir: &Path,
    out_dir: &Path,
    force: bool,
    restore: &mut dyn FnMut(&Path, &Path) -> Result<()>,
) -> Result<()> {
    let files = images_in(dir)?;
    if files.is_empty() {
        bail!("the folder {} has no PNG or JPEG images", dir.display());
    }
    if out_dir
        .extension()
        .is_some_and(|e| e == "png" || e == "jpg")
    {
        bail!(
            "with a folder of images, -o names a folder, got {}",
            out_dir.display()
        );
    }
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create the folder {}", out_dir.display()))?;
    let (mut done, mut skipped, mut failed) = (0, 0, Vec::new());
    for (i, input) in files.iter().enumerate() {
        let name = input
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let output = out_dir.join(format!("{name}.png"));
        let head = format!("[{}/{}] {}", i + 1, files.len(), input.display());
        if output.exists() && !force {
            println!(
                "{head}: {} exists, skipped (--force to redo)",
                output.display()
            );
            skipped += 1;
            continue;
        }
        match restore(input, &output) {
            Ok(()) => {
                println!("{head}: wrote {}", output.display());
                done += 1;
            }
            Err(e) => {
                let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
                println!("{head}: failed: {}", causes.join(": "));
                failed.push(input.clone());
            }
        }
    }
    println!(
        "{done} restored, {skipped} skipped, {} failed, of {} images in {}",
        failed.len(),
        files.len(),
        dir.display()
    );
    if !failed.is_empty() {
        bail!(
            "{} of {} images failed (listed above)",
            failed.len(),
            files.len()
        );
    }
    Ok(())
}
