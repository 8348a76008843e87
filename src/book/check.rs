//! Checks of the book: of its sources before it is built (every include and
//! anchor resolves to code, every link to a chapter and every image is there, every
//! generated block is known) and of the HTML after (nothing loaded from the
//! network, every image and internal link resolves, no math left untypeset).
//!
//! Each problem names the file and line.

use std::path::{Path, PathBuf};

/// One problem found, as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// An `{{#include …}}` directive of a chapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub line: usize,
    /// The file, relative to the chapter's folder.
    pub path: String,
    /// The anchor name or line range after the `:`, if any.
    pub selector: Option<String>,
}

/// Every `{{#include}}` / `{{#rustdoc_include}}` of a markdown text.
pub fn includes(text: &str) -> Vec<Include> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(p) = rest.find("{{#") {
            let after = &rest[p + 3..];
            let Some(end) = after.find("}}") else { break };
            let body = after[..end].trim();
            rest = &after[end + 2..];
            let arg = body
                .strip_prefix("include ")
                .or_else(|| body.strip_prefix("rustdoc_include "));
            if let Some(arg) = arg {
                let arg = arg.trim();
                let (path, selector) = match arg.split_once(':') {
                    Some((p, s)) => (p.to_string(), Some(s.to_string())),
                    None => (arg.to_string(), None),
                };
                out.push(Include {
                    line: n + 1,
                    path,
                    selector,
                });
            }
        }
    }
    out
}

/// The lines between `ANCHOR: name` and `ANCHOR_END: name` (other anchor lines dropped),
/// as mdbook includes them; `None` if the anchor is not in the text.
pub fn anchor_text(text: &str, name: &str) -> Option<String> {
    let mut inside = false;
    let mut found = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        let marker = |kind: &str| {
            t.strip_prefix("//")
                .or_else(|| t.strip_prefix('#'))
                .map(|r| r.trim_start())
                .and_then(|r| r.strip_prefix(kind))
                .map(|r| r.trim())
        };
        if let Some(n) = marker("ANCHOR_END:") {
            if n == name {
                inside = false;
            }
            continue;
        }
        if let Some(n) = marker("ANCHOR:") {
            if n == name {
                inside = true;
                found = true;
            }
            continue;
        }
        if inside {
            out.push(line);
        }
    }
    found.then(|| out.join("\n"))
}

/// The directives of our own generator (`{{#dip NAME ARGS}}`), with their lines.
pub fn dip_directives(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(p) = rest.find("{{#dip ") {
            let after = &rest[p + 7..];
            let Some(end) = after.find("}}") else { break };
            out.push((n + 1, after[..end].trim().to_string()));
            rest = &after[end + 2..];
        }
    }
    out
}

/// The targets of markdown links and images `](target)` of a text, with their lines
/// and whether each is an image.
pub fn link_targets(text: &str) -> Vec<(usize, String, bool)> {
    let mut out = Vec::new();
    for (n, (line, kind)) in super::markdown::lines(text).into_iter().enumerate() {
        if kind != super::markdown::Line::Text {
            continue;
        }
        let mut rest = line;
        while let Some(p) = rest.find("](") {
            let image = rest[..p]
                .rfind("![")
                .is_some_and(|q| !rest[q..p].contains("]("));
            let after = &rest[p + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
            out.push((n + 1, target, image));
            rest = &after[end + 1..];
        }
    }
    out
}

fn is_external(target: &str) -> bool {
    target.starts_with("http://")
        || target.starts_with("https://")
        || target.starts_with("//")
        || target.starts_with("mailto:")
}

/// Check the sources of the book in `chapters`: every include resolves to non-empty
/// code, every link to a `.md` file and every image (outside `generated/`, which
/// the build writes) is there, and every `{{#dip}}` directive is one of `known`.
pub fn check_sources(chapters: &Path, known: &[&str]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut files: Vec<PathBuf> = walk(chapters)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    if files.is_empty() {
        problems.push(Problem {
            file: chapters.to_path_buf(),
            line: 0,
            message: "no chapter found".into(),
        });
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            problems.push(Problem {
                file: file.clone(),
                line: 0,
                message: "cannot read".into(),
            });
            continue;
        };
        let dir = file.parent().unwrap_or(chapters);
        let found = [
            include_problems(&text, dir),
            directive_problems(&text, known),
            link_problems(&text, dir),
        ];
        for (line, message) in found.into_iter().flatten() {
            problems.push(Problem {
                file: file.clone(),
                line,
                message,
            });
        }
    }
    problems
}

/// The code an include selects from `code`: an anchor's, a line range's, or all of it.
fn selected(code: &str, selector: Option<&str>) -> Option<String> {
    match selector {
        None => Some(code.to_string()),
        Some(s) if s.chars().next().is_some_and(|c| c.is_ascii_digit()) || s.starts_with(':') => {
            let mut parts = s.splitn(2, ':');
            let from: usize = parts.next().and_then(|v| v.parse().ok()).unwrap_or(1);
            let to: Option<usize> = parts.next().and_then(|v| v.parse().ok());
            let lines: Vec<&str> = code.lines().collect();
            let to = to.unwrap_or(lines.len()).min(lines.len());
            Some(
                lines
                    .get(from.saturating_sub(1)..to)
                    .map(|l| l.join("\n"))
                    .unwrap_or_default(),
            )
        }
        Some(anchor) => anchor_text(code, anchor),
    }
}

/// Includes of a chapter (in `dir`) whose file, anchor or code is missing: (line, message).
fn include_problems(text: &str, dir: &Path) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for inc in includes(text) {
        let Ok(code) = std::fs::read_to_string(dir.join(&inc.path)) else {
            out.push((
                inc.line,
                format!("included file {} does not exist", inc.path),
            ));
            continue;
        };
        let selector = inc.selector.as_deref().unwrap_or("");
        match selected(&code, inc.selector.as_deref()) {
            None => out.push((
                inc.line,
                format!("anchor `{selector}` does not exist in {}", inc.path),
            )),
            Some(s) if s.trim().is_empty() => out.push((
                inc.line,
                format!("{}:{selector} includes no code", inc.path),
            )),
            Some(_) => {}
        }
    }
    out
}

/// `{{#dip}}` directives of a chapter that are not among `known`.
fn directive_problems(text: &str, known: &[&str]) -> Vec<(usize, String)> {
    dip_directives(text)
        .into_iter()
        .filter(|(_, d)| !known.contains(&d.split_whitespace().next().unwrap_or("")))
        .map(|(line, d)| (line, format!("unknown generated block `{{{{#dip {d}}}}}`")))
        .collect()
}

/// Links and images of a chapter (in `dir`) to files that are not there (images under
/// `generated/` are the build's own).
fn link_problems(text: &str, dir: &Path) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (line, target, image) in link_targets(text) {
        if is_external(&target) || target.starts_with('#') || target.is_empty() {
            continue;
        }
        let path = target.split('#').next().unwrap_or("");
        if (image && path.starts_with("generated/")) || dir.join(path).exists() {
            continue;
        }
        let what = if image {
            "image"
        } else if path.ends_with(".md") {
            "chapter"
        } else {
            "file"
        };
        out.push((
            line,
            format!("link to a {what} that does not exist: {target}"),
        ));
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// `(tag, attribute, value, line)` of every `src=` / `href=` attribute of an HTML text.
pub fn html_references(html: &str) -> Vec<(String, String, String, usize)> {
    let mut out = Vec::new();
    for attr in ["src", "href"] {
        for quote in ['"', '\''] {
            let pat = format!(" {attr}={quote}");
            let mut from = 0;
            while let Some(p) = html[from..].find(&pat) {
                let start = from + p + pat.len();
                let Some(len) = html[start..].find(quote) else {
                    break;
                };
                let value = html[start..start + len].to_string();
                let tag_start = html[..from + p].rfind('<').unwrap_or(0);
                let tag: String = html[tag_start + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                let line = html[..start].matches('\n').count() + 1;
                out.push((tag.to_lowercase(), attr.to_string(), value, line));
                from = start + len;
            }
        }
    }
    out
}

/// Check the built HTML under `out`: nothing is loaded from the network (only
/// `<a>` links may point outside, and only in the pages of `external_links_ok`),
/// every local `src`/`href` resolves to a file, no `$$` is left in a page.
pub fn check_html(out: &Path, external_links_ok: &[&str]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut files: Vec<PathBuf> = walk(out)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect();
    files.sort();
    for file in files {
        let Ok(html) = std::fs::read_to_string(&file) else {
            continue;
        };
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let dir = file.parent().unwrap();
        let mut problem = |line: usize, message: String| {
            problems.push(Problem {
                file: file.clone(),
                line,
                message,
            })
        };
        if name != "404.html" {
            if let Some(p) = html.find("$$") {
                problem(
                    html[..p].matches('\n').count() + 1,
                    "untypeset math: `$$` left in the page".into(),
                );
            }
        }
        for (tag, attr, value, line) in html_references(&html) {
            if value.starts_with("http://")
                || value.starts_with("https://")
                || value.starts_with("//")
            {
                if !(tag == "a" && attr == "href" && external_links_ok.contains(&name.as_str())) {
                    problem(
                        line,
                        format!("<{tag} {attr}=\"{value}\"> loads from the network"),
                    );
                }
                continue;
            }
            if value.is_empty()
                || value.starts_with('#')
                || value.starts_with("data:")
                || value.starts_with("mailto:")
                || value.starts_with("javascript:")
                || value.contains("{{")
            {
                continue;
            }
            let path = value.split(['#', '?']).next().unwrap_or("");
            if path.is_empty() {
                continue;
            }
            let path = path.replace("%20", " ");
            let target = if let Some(abs) = path.strip_prefix('/') {
                out.join(abs)
            } else {
                dir.join(&path)
            };
            if !target.exists() {
                let what = if tag == "img" { "image" } else { "file" };
                problem(
                    line,
                    format!("<{tag} {attr}=\"{value}\">: the {what} is not there"),
                );
            }
        }
    }
    problems
}
