//! The one scanner of the chapters' code blocks, which everything that reads a chapter
//! uses (its math, its links, its listings, its notebook cells, the outputs under
//! them): where a fenced code block opens and closes, as CommonMark has it — a fence
//! of three or more backticks or tildes, indented by three spaces at most, closed by
//! a fence of the same character at least as long with nothing after it. What is in
//! a code block is never math, a link, a figure or a table.

/// What a line of a chapter is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// Outside any code block.
    Text,
    /// A code block's opening fence (`` ``` ``, `~~~~`…) and its info string (`rust,ignore`).
    Open { fence: &'a str, info: &'a str },
    /// Inside a code block.
    Code,
    /// A code block's closing fence.
    Close,
}

/// Follows a text line by line: [`Fences::line`] says what each line is.
#[derive(Clone, Debug, Default)]
pub struct Fences {
    /// The open block's fence: its character and length.
    open: Option<(char, usize)>,
}

/// A fence: its character, its length, the fence itself and what follows it.
fn fence(line: &str) -> Option<(char, usize, &str, &str)> {
    let rest = line.trim_start_matches(' ');
    if line.len() - rest.len() > 3 {
        return None;
    }
    let c = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = rest.chars().take_while(|&x| x == c).count();
    (n >= 3).then(|| (c, n, &rest[..n], rest[n..].trim()))
}

impl Fences {
    /// What `line` (without its newline) is, given the lines before it.
    pub fn line<'a>(&mut self, line: &'a str) -> Line<'a> {
        let found = fence(line.trim_end_matches(['\n', '\r']));
        match (self.open, found) {
            (None, Some((c, n, fence, info))) if c == '~' || !info.contains('`') => {
                self.open = Some((c, n));
                Line::Open { fence, info }
            }
            (None, _) => Line::Text,
            (Some((c, n)), Some((c2, n2, _, rest))) if c2 == c && n2 >= n && rest.is_empty() => {
                self.open = None;
                Line::Close
            }
            (Some(_), _) => Line::Code,
        }
    }

    /// Whether a code block is open (the text ended inside one, if asked at the end).
    pub fn inside(&self) -> bool {
        self.open.is_some()
    }
}

/// Each line of `text` (as `text.lines()` counts them) with what it is.
pub fn lines(text: &str) -> Vec<(&str, Line<'_>)> {
    let mut fences = Fences::default();
    text.lines().map(|l| (l, fences.line(l))).collect()
}

/// The language of an info string: `rust` of `rust,ignore,shows-image`.
pub fn language(info: &str) -> &str {
    info.split([',', ' ']).next().unwrap_or("").trim()
}

/// `text` with every line of its code blocks, fences included, blanked to spaces:
/// the same length and lines, so that what is found in it has the original's offsets.
pub fn without_code_blocks(text: &str) -> String {
    let mut fences = Fences::default();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        if fences.line(body) == Line::Text {
            out.push_str(line);
        } else {
            out.extend(std::iter::repeat_n(' ', body.len()));
            out.push_str(&line[body.len()..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtick_and_tilde_fences_open_and_close_as_commonmark_says() {
        let text = "a\n```rust,ignore\n~~~\nlet x = 1;\n````\n```\nb\n~~~~ sh\n```\n~~~\n~~~~~\nc\n   ```\nd\n    ```\n```\n";
        let kinds: Vec<Line> = lines(text).into_iter().map(|(_, k)| k).collect();
        assert_eq!(
            kinds,
            [
                Line::Text,
                Line::Open {
                    fence: "```",
                    info: "rust,ignore"
                },
                Line::Code, // ~~~ does not close a backtick block
                Line::Code,
                Line::Close, // a longer fence closes
                Line::Open {
                    fence: "```",
                    info: ""
                },
                Line::Code,
                Line::Code,
                Line::Close, // ``` closes the block opened by ```
                Line::Open {
                    fence: "~~~",
                    info: ""
                },
                Line::Close,
                Line::Text,
                Line::Open {
                    fence: "```",
                    info: ""
                }, // indented by three: still a fence
                Line::Code,
                Line::Code, // indented by four: not a fence
                Line::Close,
            ]
        );
        assert_eq!(language("rust,ignore,shows-image"), "rust");
        // An info string with a backtick is no fence (it is inline code).
        assert_eq!(lines("```a`b```\n")[0].1, Line::Text);
    }

    #[test]
    fn code_blocks_are_blanked_keeping_offsets() {
        let text = "$x$\n~~~\n$y$ é\n~~~\n$z$";
        let blank = without_code_blocks(text);
        assert_eq!(blank.len(), text.len());
        assert_eq!(blank, "$x$\n   \n      \n   \n$z$");
    }
}
