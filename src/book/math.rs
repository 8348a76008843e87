//! Math in the chapters: `$…$` (inline) and `$$…$$` (display) rendered to HTML by
//! KaTeX [the `katex` crate, which runs KaTeX's own JavaScript] when the book is
//! built, so that the pages need no script, only KaTeX's stylesheet and fonts,
//! which the book serves itself (see [`super::katex_assets`]).
//!
//! Code blocks and inline code are left alone; `\$` is a literal dollar. A formula
//! KaTeX cannot parse is an error naming the chapter and line.

use anyhow::{anyhow, Result};

/// A formula found in a chapter.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    /// Byte range of the whole `$…$` / `$$…$$` in the text.
    pub start: usize,
    pub end: usize,
    /// The TeX between the delimiters.
    pub tex: String,
    pub display: bool,
    /// 1-based line of the opening delimiter.
    pub line: usize,
}

/// Find the formulas of a markdown text, skipping its code blocks (found by the
/// book's one scanner, [`super::markdown`]) and its code spans.
pub fn find_formulas(text: &str) -> std::result::Result<Vec<Formula>, (usize, String)> {
    // The code blocks blanked: what is found keeps the text's offsets and lines.
    let prose = super::markdown::without_code_blocks(text);
    let b = prose.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'\\' => i += 2,
            b'`' => {
                let skipped = code_span(&prose[i..]);
                line += prose[i..i + skipped].matches('\n').count();
                i += skipped;
            }
            b'$' if prose[i..].starts_with("$$") => {
                let f = display_formula(&prose, i, line)?;
                line += prose[f.start..f.end].matches('\n').count();
                i = f.end;
                out.push(f);
            }
            b'$' => match inline_formula(&prose, i, line) {
                Some(f) => {
                    i = f.end;
                    out.push(f);
                }
                None => i += 1,
            },
            _ => i += 1,
        }
    }
    Ok(out)
}

/// How many bytes the code span at the start of `rest` takes (its backticks, if it is
/// never closed).
fn code_span(rest: &str) -> usize {
    let ticks = rest.bytes().take_while(|&c| c == b'`').count();
    match rest[ticks..].find(&rest[..ticks]) {
        Some(n) => ticks + n + ticks,
        None => ticks,
    }
}

/// The display formula `$$…$$` opening at `i`.
fn display_formula(
    text: &str,
    i: usize,
    line: usize,
) -> std::result::Result<Formula, (usize, String)> {
    let Some(n) = text[i + 2..].find("$$") else {
        return Err((line, "`$$` is never closed".into()));
    };
    Ok(Formula {
        start: i,
        end: i + 2 + n + 2,
        tex: text[i + 2..i + 2 + n].trim().to_string(),
        display: true,
        line,
    })
}

/// The inline formula `$…$` opening at `i`, if it is one: not followed by a space,
/// closed on the same line by a `$` not preceded by a space nor followed by a digit
/// (so that "$5 and $6" is no formula).
fn inline_formula(text: &str, i: usize, line: usize) -> Option<Formula> {
    let rest = &text[i + 1..];
    let candidate = &rest[..rest.find('\n').unwrap_or(rest.len())];
    if candidate.starts_with([' ', '\t']) || candidate.is_empty() {
        return None;
    }
    let cb = candidate.as_bytes();
    let mut j = 0;
    while j < cb.len() {
        if cb[j] == b'\\' {
            j += 2;
            continue;
        }
        if cb[j] == b'$'
            && j > 0
            && !cb[j - 1].is_ascii_whitespace()
            && !cb.get(j + 1).is_some_and(|c| c.is_ascii_digit())
        {
            return Some(Formula {
                start: i,
                end: i + 1 + j + 1,
                tex: candidate[..j].to_string(),
                display: false,
                line,
            });
        }
        j += 1;
    }
    None
}

/// Make KaTeX's HTML safe to embed in markdown: characters that markdown would
/// interpret in the text between tags become numeric entities.
fn protect(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(c)
            }
            '>' => {
                in_tag = false;
                out.push(c)
            }
            '*' | '_' | '\\' | '`' | '[' | ']' | '~' | '$' | '|' if !in_tag => {
                out.push_str(&format!("&#{};", c as u32))
            }
            _ => out.push(c),
        }
    }
    out
}

/// Render one formula with KaTeX (errors are errors, not red text).
pub fn render(tex: &str, display: bool) -> Result<String> {
    let opts = katex::Opts::builder()
        .display_mode(display)
        .throw_on_error(true)
        .build()
        .map_err(|e| anyhow!("{e}"))?;
    let html = katex::render_with_opts(tex, &opts).map_err(|e| anyhow!("{e}"))?;
    Ok(protect(&html))
}

/// Replace every formula of a chapter by KaTeX's HTML; `name` (the chapter's
/// file) is used in error messages, which list every formula that failed.
pub fn render_chapter(name: &str, text: &str) -> Result<String> {
    let formulas = find_formulas(text).map_err(|(line, m)| anyhow!("{name}:{line}: {m}"))?;
    let mut out = String::with_capacity(text.len() * 2);
    let mut last = 0;
    let mut errors = Vec::new();
    for f in formulas {
        out.push_str(&text[last..f.start]);
        match render(&f.tex, f.display) {
            Ok(html) if f.display => {
                out.push_str("\n\n");
                out.push_str(&html);
                out.push_str("\n\n");
            }
            Ok(html) => out.push_str(&html),
            Err(e) => errors.push(format!(
                "{name}:{}: KaTeX cannot render `{}`: {e}",
                f.line, f.tex
            )),
        }
        last = f.end;
    }
    out.push_str(&text[last..]);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_inline_and_display_math_but_not_code() {
        let t = "a $x^2$ b\n```\n$not$\n```\n`$no$` and $$\n\\theta\n$$ costs $5 and $6.\n~~~\n$not$\n~~~\n$y$";
        let f = find_formulas(t).unwrap();
        assert_eq!(f.len(), 3, "{f:?}");
        assert_eq!(f[0].tex, "x^2");
        assert_eq!(f[1].tex, "\\theta");
        assert!(f[1].display);
        assert_eq!(f[1].line, 5);
        // After a tilde block, on the line where it is.
        assert_eq!((f[2].tex.as_str(), f[2].line), ("y", 11));
    }
}
