//! `dip book`: render the tutorial book.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use dip::book::{self, BookOptions};
use dip::data::DataDir;

/// Options of `dip book`.
#[derive(Args, Debug)]
pub struct BookArgs {
    /// The data folder with the standard images (default: $DIP_DATA, else ./data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where to write the HTML.
    #[arg(long, default_value = "book")]
    pub out: PathBuf,
    /// The folder with book.toml and chapters/ (default: the current folder).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// The folder of run records (default: <root>/results).
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Serve the built book on http://127.0.0.1:PORT (see --port).
    #[arg(long)]
    pub serve: bool,
    /// Port for --serve.
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Open the built book in the default browser.
    #[arg(long)]
    pub open: bool,
}

pub fn run(args: BookArgs) -> Result<()> {
    let mut options = BookOptions::new(&args.root);
    options.out = args.out.clone();
    options.data = DataDir::locate(args.data.as_deref());
    // The figures of standard images are rendered from the data folder: fetch what is missing.
    let missing = dip::data::entries(None)?
        .into_iter()
        .filter(|e| !options.data.path(e.path).is_file())
        .count();
    if missing > 0 {
        eprintln!(
            "{missing} standard image(s) missing in {}: fetching them (as `dip data fetch`)",
            options.data.root().display()
        );
        super::data::fetch(None, Some(options.data.root().to_path_buf()))
            .context("the book needs the standard images")?;
    }
    if let Some(r) = args.results {
        options.results = r;
    } else {
        // The book of this repository's own records: its figures go to images/ too.
        options.images = Some(args.root.join("images"));
    }
    let report = book::build(&options)?;
    println!(
        "book: {} chapters, {} generated figures, written to {}",
        report.chapters,
        report.generated_files,
        report.out.display()
    );
    let index = report.out.join("index.html");
    if args.open {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        std::process::Command::new(opener)
            .arg(&index)
            .spawn()
            .with_context(|| format!("cannot run {opener} {}", index.display()))?;
    }
    if args.serve {
        serve(&report.out, args.port)?;
    }
    Ok(())
}

/// A minimal static file server for the built book (local use only).
fn serve(root: &Path, port: u16) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    println!(
        "serving {} on http://127.0.0.1:{port}/ (Ctrl-C to stop)",
        root.display()
    );
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).unwrap_or(0);
        let request = String::from_utf8_lossy(&buf[..n]);
        let path = request.split_whitespace().nth(1).unwrap_or("/");
        let path = path
            .split(['?', '#'])
            .next()
            .unwrap_or("/")
            .trim_start_matches('/');
        let mut file = root.join(if path.is_empty() { "index.html" } else { path });
        if file.is_dir() {
            file = file.join("index.html");
        }
        let inside = !path.split('/').any(|c| c == "..");
        let (status, body) = match std::fs::read(&file) {
            Ok(b) if inside => ("200 OK", b),
            _ => ("404 Not Found", b"not found".to_vec()),
        };
        let mime = match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
            "html" => "text/html; charset=utf-8",
            "css" => "text/css",
            "js" => "application/javascript",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "woff2" => "font/woff2",
            "woff" => "font/woff",
            "ttf" => "font/ttf",
            "json" => "application/json",
            _ => "application/octet-stream",
        };
        let header = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream
            .write_all(header.as_bytes())
            .and_then(|_| stream.write_all(&body));
    }
    Ok(())
}
