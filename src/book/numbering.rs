//! Numbered figures, tables and listings, per chapter: "Figure 4.2", "Table 6.1",
//! "Listing 3.5", as the Rust Book numbers its listings. Applied to a chapter once its
//! blocks are expanded, so that every generated figure and table gets its number.
//!
//! - a table: a bold title line (`**…**`) followed by a Markdown table gets
//!   "Table N.k: " in front of its title;
//! - a figure: an image line (`![…](…)`) gets "Figure N.k" in front of its italic
//!   caption (`*…*`, the next non-blank line) or, with no caption, a caption of its own;
//!   image lines in a row, then one caption, are the panels of one figure;
//!   a code cell's output image is not a figure;
//! - a listing: each Rust code block gets "Listing N.k" under it, with the files it
//!   includes ("Listing 2.1 — `src/net.rs`"), which [`mark_listing_sources`] notes
//!   before the includes are expanded.
//!
//! The text refers to a figure or a table by a label: an anchor line
//! `<a id="fig-NAME"></a>` (or `tab-NAME`) just before it, and a link
//! `[Figure](#fig-NAME)` (or `[Table](#tab-NAME)`) anywhere in the chapter, which
//! becomes `[Figure 5.3](#fig-NAME)`. A label whose block made no figure or table
//! (no run recorded yet: the block says so instead) is referred to as not drawn; a
//! link to a label the chapter lacks is an error.

use std::collections::BTreeMap;

use super::markdown::{self, Fences, Line};

/// Number the figures, tables and listings of `chapter`, chapter number `number`
/// (`"4"`; empty for an unnumbered chapter, which gets none), and resolve its
/// references to them; an error names a reference without its label.
pub fn number(chapter: &str, number: &str) -> Result<String, String> {
    if number.is_empty() {
        return Ok(chapter.to_string());
    }
    let (numbered, labels, unclaimed) = number_blocks(chapter, number);
    resolve_references(&numbered, &labels, &unclaimed)
}

/// The line [`mark_listing_sources`] puts before a listing: `<!-- listing: src/net.rs -->`.
const SOURCE_MARK: &str = "<!-- listing: ";

/// `chapter` (as written, its includes not yet expanded) with a line naming the
/// files each Rust code block includes put before the block, for [`number`] to read.
pub fn mark_listing_sources(chapter: &str) -> String {
    let mut out = String::with_capacity(chapter.len());
    let lines: Vec<&str> = chapter.split_inclusive('\n').collect();
    let mut fences = Fences::default();
    let mut i = 0;
    while i < lines.len() {
        let Line::Open { info, .. } = fences.line(lines[i]) else {
            out.push_str(lines[i]);
            i += 1;
            continue;
        };
        let rust = markdown::language(info) == "rust";
        let end = (i + 1..lines.len())
            .find(|&j| fences.line(lines[j]) == Line::Close)
            .unwrap_or(lines.len() - 1);
        let body: String = lines[i + 1..end].concat();
        let mut files: Vec<String> = Vec::new();
        for inc in super::check::includes(&body) {
            let file = inc.path.trim_start_matches("./").trim_start_matches("../");
            if !files.iter().any(|f| f == file) {
                files.push(file.to_string());
            }
        }
        if rust && !files.is_empty() {
            out.push_str(&format!("{SOURCE_MARK}{} -->\n", files.join(", ")));
        }
        lines[i..=end].iter().for_each(|l| out.push_str(l));
        i = end + 1;
    }
    out
}

/// The label under a listing: "*Listing 2.1 — `src/net.rs`*" (`files` as
/// [`mark_listing_sources`] noted them, if it did).
fn listing_label(number: &str, k: usize, files: Option<String>) -> String {
    let from = match files {
        Some(files) => {
            let files: Vec<String> = files.split(", ").map(|f| format!("`{f}`")).collect();
            format!(" — {}", files.join(", "))
        }
        None => String::new(),
    };
    format!("\n*Listing {number}.{k}{from}*\n")
}

/// The anchor line of a label: `<a id="fig-NAME"></a>` gives `fig-NAME`.
pub fn label_of(line: &str) -> Option<&str> {
    let id = line.strip_prefix("<a id=\"")?.strip_suffix("\"></a>")?;
    (id.starts_with("fig-") || id.starts_with("tab-")).then_some(id)
}

/// Replace each `[Figure](#fig-NAME)` / `[Table](#tab-NAME)` by its number.
fn resolve_references(
    text: &str,
    labels: &BTreeMap<String, String>,
    unclaimed: &[String],
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["[Figure](#", "[Table](#"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        out.push_str(&rest[..at]);
        let link = &rest[at..];
        let open = link.find("(#").expect("a reference") + 2;
        let Some(close) = link[open..].find(')') else {
            return Err(format!("an unclosed reference: {}", &link[..open]));
        };
        let label = &link[open..open + close];
        let kind = &link[1..link.find(']').expect("a reference")];
        let numbered = match labels.get(label) {
            Some(numbered) => numbered.clone(),
            None if unclaimed.iter().any(|l| l == label) => {
                format!("{kind} (not drawn: no recorded run)")
            }
            None => {
                return Err(format!(
                    "a reference to #{label}, which no figure or table has"
                ));
            }
        };
        out.push_str(&format!("[{numbered}](#{label})"));
        rest = &link[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Number the blocks; the labels met on the way, with their numbers, and those no
/// figure or table claimed (its block drew none).
fn number_blocks(chapter: &str, number: &str) -> (String, BTreeMap<String, String>, Vec<String>) {
    let mut labels = BTreeMap::new();
    let mut pending: Vec<String> = Vec::new(); // labels awaiting their figure or table
    let lines: Vec<&str> = chapter.split_inclusive('\n').collect();
    let mut out = String::with_capacity(chapter.len() + 256);
    let (mut figures, mut tables, mut listings) = (0, 0, 0);
    let mut fences = Fences::default();
    let mut rust = false; // whether the open code block is Rust
    let mut caption_for: Option<String> = None; // a figure's label, awaiting its caption
    let mut source: Option<String> = None; // the files of the next listing
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        match fences.line(line) {
            Line::Text => {}
            Line::Open { info, .. } => {
                rust = markdown::language(info) == "rust";
                out.push_str(line);
                continue;
            }
            Line::Code => {
                out.push_str(line);
                continue;
            }
            Line::Close => {
                out.push_str(line);
                if rust {
                    listings += 1;
                    out.push_str(&listing_label(number, listings, source.take()));
                }
                continue;
            }
        }
        if let Some(files) = trimmed
            .strip_prefix(SOURCE_MARK)
            .and_then(|f| f.strip_suffix(" -->"))
        {
            source = Some(files.to_string());
            continue;
        }
        if let Some(label) = caption_for.take() {
            if trimmed.is_empty() {
                caption_for = Some(label);
            } else if let Some(caption) = trimmed
                .strip_prefix('*')
                .filter(|c| c.ends_with('*') && !c.starts_with('*'))
            {
                out.push_str(&format!("*{label}: {caption}\n"));
                continue;
            } else if is_figure_image(trimmed) {
                // Another panel of the same figure.
                out.push_str(line);
                caption_for = Some(label);
                continue;
            } else {
                out.push_str(&format!("*{label}.*\n\n"));
            }
        }
        if let Some(label) = label_of(trimmed) {
            pending.push(label.to_string());
        }
        // The first pending label of the kind names this block.
        let mut claim = |prefix: &str, name: &str| {
            if let Some(i) = pending.iter().position(|l| l.starts_with(prefix)) {
                labels.insert(pending.remove(i), name.to_string());
            }
        };
        if is_figure_image(trimmed) {
            figures += 1;
            let name = format!("Figure {number}.{figures}");
            claim("fig-", &name);
            caption_for = Some(name);
        } else if is_table_title(trimmed, lines.get(i + 1..).unwrap_or(&[])) {
            tables += 1;
            claim("tab-", &format!("Table {number}.{tables}"));
            let title = &trimmed[2..trimmed.len() - 2];
            out.push_str(&format!("**Table {number}.{tables}: {title}**\n"));
            continue;
        }
        out.push_str(line);
    }
    if let Some(label) = caption_for {
        out.push_str(&format!("\n*{label}.*\n"));
    }
    (out, labels, pending)
}

/// An image line that is a figure (or a panel of one): not a code cell's output.
fn is_figure_image(line: &str) -> bool {
    line.starts_with("![") && !line.starts_with("![output of the cell]")
}

/// A bold line (`**…**`) whose next non-blank line starts a Markdown table.
fn is_table_title(line: &str, rest: &[&str]) -> bool {
    line.len() > 4
        && line.starts_with("**")
        && line.ends_with("**")
        && rest
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .is_some_and(|l| l.starts_with('|'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_tables_and_listings_are_numbered_in_order() {
        let chapter = "# Ch\n\n![a](x.svg)\n\n*The first.*\n\n**Results**\n\n| |a|\n|---|---:|\n| x | 1 |\n\n\
                       ```rust\nlet a = 1;\n```\n\n```sh\ndip net\n```\n\n![b](y.png)\n\nText.\n\n\
                       ![output of the cell](z.png)\n\n**Bold, not a title.**\n\nText.\n\n```rust\n**x**\n![c](w.png)\n```\n";
        let md = number(chapter, "4").unwrap();
        assert!(
            md.contains("![a](x.svg)\n\n*Figure 4.1: The first.*\n"),
            "{md}"
        );
        assert!(md.contains("**Table 4.1: Results**\n"), "{md}");
        assert!(md.contains("let a = 1;\n```\n\n*Listing 4.1*\n"), "{md}");
        assert!(md.contains("![b](y.png)\n\n*Figure 4.2.*\n\nText."), "{md}");
        assert!(
            !md.contains("Figure 4.3"),
            "an output and code are no figures: {md}"
        );
        assert!(md.contains("**Bold, not a title.**"), "{md}");
        assert!(md.contains("*Listing 4.2*"), "{md}");
        let panels = number(
            "![a](x.svg)\n\n![b](y.svg)\n\n*Both.*\n\n![c](z.svg)\n",
            "2",
        )
        .unwrap();
        assert!(
            panels.contains("![b](y.svg)\n\n*Figure 2.1: Both.*"),
            "{panels}"
        );
        assert!(
            panels.contains("*Figure 2.2.*") && !panels.contains("Figure 2.3"),
            "{panels}"
        );
        assert_eq!(md.matches("Listing").count(), 2, "{md}");
    }

    #[test]
    fn a_listing_names_the_files_it_includes() {
        let chapter = "Text.\n\n```rust,ignore\n{{#include ../src/net.rs:build}}\n```\n\n\
                       ```rust\nlet inline = 1;\n```\n\n```sh\n{{#include ../README.md}}\n```\n";
        let marked = mark_listing_sources(chapter);
        assert_eq!(
            marked
                .matches("<!-- listing: src/net.rs -->\n```rust,ignore")
                .count(),
            1
        );
        assert_eq!(marked.matches("<!-- listing").count(), 1, "{marked}");
        // Once the include is expanded, the number says where the code comes from.
        let expanded = marked.replace("{{#include ../src/net.rs:build}}", "fn build() {}");
        let md = number(&expanded, "2").unwrap();
        assert!(
            md.contains("fn build() {}\n```\n\n*Listing 2.1 — `src/net.rs`*"),
            "{md}"
        );
        assert!(md.contains("let inline = 1;\n```\n\n*Listing 2.2*"), "{md}");
        assert!(!md.contains("<!-- listing"), "{md}");
    }

    #[test]
    fn an_unnumbered_chapter_is_left_alone() {
        assert_eq!(number("![a](x.svg)\n", "").unwrap(), "![a](x.svg)\n");
    }

    #[test]
    fn references_name_the_labelled_figure_and_table() {
        let chapter = "[Figure](#fig-b) shows it; see [Table](#tab-r).\n\n![a](x.svg)\n\n\
                       <a id=\"tab-r\"></a>\n<a id=\"fig-b\"></a>\n\n**Results**\n\n| |a|\n|---|---:|\n\n\
                       ![b](y.svg)\n\nAs [Figure](#fig-b) shows.\n";
        let md = number(chapter, "3").unwrap();
        assert!(
            md.starts_with("[Figure 3.2](#fig-b) shows it; see [Table 3.1](#tab-r)."),
            "{md}"
        );
        assert!(md.contains("As [Figure 3.2](#fig-b) shows."), "{md}");
        let missing = "See [Figure](#fig-x).\n\n<a id=\"fig-x\"></a>\n\n> No recorded run yet.\n";
        let md = number(missing, "1").unwrap();
        assert!(
            md.starts_with("See [Figure (not drawn: no recorded run)](#fig-x)."),
            "{md}"
        );
        let err = number("See [Figure](#fig-none).\n![a](x.svg)\n", "1").unwrap_err();
        assert!(err.contains("#fig-none"), "{err}");
    }
}
