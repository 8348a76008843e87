//! Numbered figures, tables and listings, per chapter: "Figure 4.2", "Table 6.1",
//! "Listing 3.5", as the Rust Book numbers its listings. Applied to a chapter once its
//! blocks are expanded, so that every generated figure and table gets its number.
//!
//! - a table: a bold title line (`**…**`) followed by a Markdown table gets
//!   "Table N.k: " in front of its title;
//! - a figure: an image line (`![…](…)`) gets "Figure N.k" in front of its italic
//!   caption (`*…*`, the next non-blank line) or, with no caption, a caption of its own;
//!   a code cell's output image is not a figure;
//! - a listing: each Rust code block gets "Listing N.k" under it.

/// Number the figures, tables and listings of `chapter`, chapter number `number`
/// (`"4"`; empty for an unnumbered chapter, which gets none).
pub fn number(chapter: &str, number: &str) -> String {
    if number.is_empty() {
        return chapter.to_string();
    }
    let lines: Vec<&str> = chapter.split_inclusive('\n').collect();
    let mut out = String::with_capacity(chapter.len() + 256);
    let (mut figures, mut tables, mut listings) = (0, 0, 0);
    let mut in_code: Option<bool> = None; // Some(is_rust) inside a fence
    let mut caption_for: Option<String> = None; // a figure's label, awaiting its caption
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            match in_code {
                None => in_code = Some(trimmed.starts_with("```rust")),
                Some(rust) => {
                    out.push_str(line);
                    if rust {
                        listings += 1;
                        out.push_str(&format!("\n*Listing {number}.{listings}*\n"));
                    }
                    in_code = None;
                    continue;
                }
            }
        }
        if in_code.is_some() {
            out.push_str(line);
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
            } else {
                out.push_str(&format!("*{label}.*\n\n"));
            }
        }
        if trimmed.starts_with("![") && !trimmed.starts_with("![output of the cell]") {
            figures += 1;
            caption_for = Some(format!("Figure {number}.{figures}"));
        } else if is_table_title(trimmed, lines.get(i + 1..).unwrap_or(&[])) {
            tables += 1;
            let title = &trimmed[2..trimmed.len() - 2];
            out.push_str(&format!("**Table {number}.{tables}: {title}**\n"));
            continue;
        }
        out.push_str(line);
    }
    if let Some(label) = caption_for {
        out.push_str(&format!("\n*{label}.*\n"));
    }
    out
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
        let md = number(chapter, "4");
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
        assert_eq!(md.matches("Listing").count(), 2, "{md}");
    }

    #[test]
    fn an_unnumbered_chapter_is_left_alone() {
        assert_eq!(number("![a](x.svg)\n", ""), "![a](x.svg)\n");
    }
}
