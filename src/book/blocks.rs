//! The registry of the book's generated blocks, `{{#dip NAME ARGS}}`: for each, what
//! the book puts in its place when it is built ([`book`]) and the code of the notebook
//! cell that makes it in a notebook ([`cell`]). The book ([`super::generate`]), its
//! source checks ([`names`]) and the notebooks ([`crate::notebooks`]) read this one list.
//!
//! A table block is the code that makes it with the library's public API, and that
//! same code compiled: the book runs the compiled code; a notebook's cell shows the
//! code itself ([`TableBlock::cell`]), so a reader sees, and can change, the few lines
//! that load the records, measure and render. One macro writes both from one
//! expression (`stringify!` of it is the code shown), so the two cannot drift apart.
//! A figure block ([`FIGURES`]) is a method of the [`Generator`] and a cell of
//! [`super::block_cells`].

use anyhow::{bail, Context, Result};

use super::block_cells::{self as cells, in_block};
use super::generate::Generator;
use crate::reproduce::paper;
use crate::reproduce::plan::Experiment;
use crate::reproduce::tables::{self, Inputs};

/// A generated table: its block name, the names of its arguments, the expression
/// (over `inputs` and the arguments) that makes its Markdown, and that expression compiled.
pub struct TableBlock {
    pub name: &'static str,
    pub params: &'static [&'static str],
    pub code: &'static str,
    pub make: fn(&Inputs, &[&str]) -> Result<String>,
}

/// `name (param: Type, …) => expression;` for each table block; the expressions read
/// the tables' inputs as the identifier named first.
macro_rules! table_blocks {
    ($inputs:ident; $($name:literal $(($($param:ident : $ty:ty),*))? => $e:expr;)*) => {
        /// Every table block of the book.
        pub const TABLE_BLOCKS: &[TableBlock] = &[$(TableBlock {
            name: $name,
            params: &[$($(stringify!($param)),*)?],
            code: stringify!($e),
            make: |$inputs: &Inputs, args: &[&str]| -> Result<String> {
                let mut _args = args.iter();
                $($(
                    let $param: $ty = _args
                        .next()
                        .with_context(|| format!("`{}` needs its {}", $name, stringify!($param)))?
                        .parse()
                        .with_context(|| format!("`{}`: a bad {}", $name, stringify!($param)))?;
                )*)?
                Ok($e)
            },
        }),*];
    };
}

table_blocks! {
    inputs;
    "table1" => tables::table1(inputs).scoped_by_image();
    "denoising-table" => tables::denoising(inputs).scoped_by_image();
    "sr-table" => tables::sr(inputs).scoped();
    "sr-images" (set: String, factor: usize) =>
        tables::sr_images(inputs, &set, factor).scoped_by_image();
    "demos-table" => tables::demos(inputs).scoped();
    "stopping-table" => tables::stopping(inputs).scoped();
    "stopping-default-table" => tables::stopping_default(inputs).scoped();
    "stopping-fast-table" => tables::stopping_fast(inputs).scoped();
    "tiling-table" => tables::tiling(inputs).scoped();
    "twin-table" (experiment: String, preset: String) =>
        tables::twin(inputs.records, inputs.twins, experiment.parse()?, &preset).scoped();
    "timing" => tables::timing(inputs).to_markdown();
    "bench" => tables::bench(inputs).to_markdown();
}

/// The table block named `name`, if there is one.
pub fn table_block(name: &str) -> Option<&'static TableBlock> {
    TABLE_BLOCKS.iter().find(|b| b.name == name)
}

impl TableBlock {
    /// The notebook cell that makes this table with `args`: the records and the data
    /// folder as the book reads them ([`crate::notebooks::Replay`]), then the block's
    /// own expression.
    pub fn cell(&self, args: &[&str]) -> String {
        let comment = "// The records of our runs (results/, written by `dip reproduce`), the\n\
             // benchmarks, and the data folder for the authors' outputs, as the book reads them.\n";
        let mut cell = String::from(
            "use dip::reproduce::tables;\n\
             let replay = dip::notebooks::Replay::load()?;\n\
             let inputs = &replay.inputs();\n",
        );
        for (param, value) in self.params.iter().zip(args) {
            let literal = match value.parse::<f64>() {
                Ok(_) => value.to_string(),
                Err(_) => format!("{value:?}"),
            };
            cell.push_str(&format!("let {param} = {literal};\n"));
        }
        cell.push_str(&format!(
            "let markdown = {};\ndip::display::Markdown::new(markdown).show();",
            self.code
        ));
        in_block(comment, &cell)
    }
}

/// A figure or a text block: its name, its arguments in words (for errors), whether
/// its cell shows an image whatever the records (it needs only the data), what the
/// book makes of it (`args` after the name), and its notebook cell.
pub struct Figure {
    pub name: &'static str,
    pub usage: &'static str,
    pub shows_image: bool,
    pub book: fn(&Generator, &[&str]) -> Result<String>,
    pub cell: fn(&[&str]) -> Option<String>,
}

/// The `i`-th argument of a block.
fn arg<'a>(args: &[&'a str], i: usize) -> Result<&'a str> {
    args.get(i)
        .copied()
        .with_context(|| format!("argument {} missing", i + 1))
}

fn experiment(args: &[&str], i: usize) -> Result<Experiment> {
    Ok(Experiment::parse(arg(args, i)?)?)
}

/// Every figure and text block of the book.
pub const FIGURES: &[Figure] = &[
    Figure {
        name: "network-diagram",
        usage: "",
        shows_image: false,
        book: |g, _| g.network_diagram(),
        cell: |_| Some(cells::NETWORK_DIAGRAM.into()),
    },
    Figure {
        name: "parameter-count",
        usage: "",
        shows_image: false,
        book: |_, _| super::generate::parameter_count(),
        cell: |_| Some(cells::PARAMETER_COUNT.into()),
    },
    Figure {
        name: "authors-grid",
        usage: "EXPERIMENT IMAGE",
        shows_image: true,
        book: |g, a| g.authors_grid(experiment(a, 0)?, arg(a, 1)?),
        cell: |a| Some(cells::authors_grid(a.first()?, a.get(1)?)),
    },
    Figure {
        name: "grid",
        usage: "EXPERIMENT IMAGE",
        shows_image: false,
        book: |g, a| g.ours_grid(experiment(a, 0)?, arg(a, 1)?),
        cell: |a| Some(cells::grid(a.first()?, a.get(1)?)),
    },
    Figure {
        name: "curves",
        usage: "EXPERIMENT IMAGE",
        shows_image: false,
        book: |g, a| g.curves(experiment(a, 0)?, arg(a, 1)?),
        cell: |a| Some(cells::curves(a.first()?, a.get(1)?)),
    },
    Figure {
        name: "loss-curves",
        usage: "EXPERIMENT RUN,RUN,…",
        shows_image: false,
        book: |g, a| g.loss_curves(experiment(a, 0)?, arg(a, 1)?),
        cell: |a| Some(cells::loss_curves(a.first()?, a.get(1)?)),
    },
    Figure {
        name: "gap-curves",
        usage: "EXPERIMENT PRESET",
        shows_image: false,
        book: |g, a| g.gap_curves(experiment(a, 0)?, arg(a, 1)?),
        cell: |a| Some(cells::gap_curves(a.first()?, a.get(1)?)),
    },
    Figure {
        name: "stopping-curves",
        usage: "IMAGE",
        shows_image: false,
        book: |g, a| g.stopping_curves(arg(a, 0)?),
        cell: |a| Some(cells::stopping_curves(a.first()?)),
    },
    Figure {
        name: "verdict",
        usage: "",
        shows_image: false,
        book: |g, _| Ok(super::verdict::verdict(&g.records, Some(&g.data))),
        cell: |a| Some(cells::as_the_book(&[&["verdict"], a].concat())),
    },
    Figure {
        name: "discussion",
        usage: "",
        shows_image: false,
        book: |g, _| {
            Ok(super::discussion::discussion(
                &g.records, &g.twins, &g.bench,
            ))
        },
        cell: |a| Some(cells::as_the_book(&[&["discussion"], a].concat())),
    },
    Figure {
        name: "preset-costs",
        usage: "",
        shows_image: false,
        book: |g, _| Ok(super::costs::preset_costs(&g.records)),
        cell: |a| Some(cells::as_the_book(&[&["preset-costs"], a].concat())),
    },
    Figure {
        name: "denoising-f16-text",
        usage: "",
        shows_image: false,
        book: |_, _| Ok(super::generate::denoising_f16_text()),
        cell: |a| Some(cells::as_the_book(&[&["denoising-f16-text"], a].concat())),
    },
];

/// The names of every block a chapter may use.
pub fn names() -> Vec<&'static str> {
    let tables = TABLE_BLOCKS.iter().map(|t| t.name);
    tables.chain(FIGURES.iter().map(|f| f.name)).collect()
}

fn figure(name: &str) -> Option<&'static Figure> {
    FIGURES.iter().find(|f| f.name == name)
}

/// What the book puts in place of `{{#dip ARGS}}` (`args[0]` the block's name).
pub fn book(generator: &Generator, args: &[&str]) -> Result<String> {
    let name = args.first().copied().unwrap_or("");
    let rest = args.get(1..).unwrap_or(&[]);
    if name == "sr-images" {
        let (set, factor) = (arg(rest, 0)?, arg(rest, 1)?.parse::<usize>()?);
        if !paper::SR_COLUMNS.contains(&(set, factor)) {
            bail!("no super-resolution table for `{set}` ×{factor}: use set5 or set14, 4 or 8");
        }
    }
    if let Some(table) = table_block(name) {
        return (table.make)(&generator.inputs(), rest);
    }
    let Some(f) = figure(name) else {
        bail!("unknown block `{name}`");
    };
    (f.book)(generator, rest).with_context(|| format!("`{name}` takes {}", f.usage))
}

/// The notebook cell of `{{#dip ARGS}}`, if the block is known and its arguments are there.
pub fn cell(args: &[&str]) -> Option<String> {
    let name = args.first()?;
    let rest = &args[1..];
    match table_block(name) {
        Some(table) => Some(table.cell(rest)),
        None => (figure(name)?.cell)(rest),
    }
}

/// Whether the cell of `{{#dip ARGS}}` shows an image whatever the records.
pub fn shows_image(args: &[&str]) -> bool {
    args.first()
        .and_then(|n| figure(n))
        .is_some_and(|f| f.shows_image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_shown_is_the_code_run() {
        let t = table_block("sr-images").unwrap();
        assert_eq!(t.params, ["set", "factor"]);
        assert_eq!(
            t.code,
            "tables::sr_images(inputs, &set, factor).scoped_by_image()"
        );
        let cell = t.cell(&["set5", "4"]);
        assert!(
            cell.contains("    let inputs = &replay.inputs();\n    let set = \"set5\";\n    let factor = 4;\n"),
            "{cell}"
        );
        assert!(cell.ends_with(&format!(
            "    let markdown = {};\n    dip::display::Markdown::new(markdown).show();\n}}",
            t.code
        )));
        // The compiled expression: without records, a table that says so.
        let inputs = Inputs {
            records: &[],
            twins: &[],
            bench: &[],
            data: None,
            presets: tables::Presets::Strongest,
        };
        let md = (t.make)(&inputs, &["set5", "4"]).unwrap();
        assert!(md.contains("Set5"), "{md}");
        assert!((t.make)(&inputs, &["set5"]).is_err());
        assert!(table_block("table1").unwrap().params.is_empty());
        assert!(table_block("grid").is_none());
    }

    #[test]
    fn every_block_has_a_cell_of_the_public_api() {
        let cell_of = |args: &str| cell(&args.split_whitespace().collect::<Vec<_>>()).unwrap();
        let table = cell_of("sr-images set14 8");
        assert!(
            table.contains("let set = \"set14\";\n    let factor = 8;\n"),
            "{table}"
        );
        assert!(
            table.contains("tables::sr_images(inputs, &set, factor)"),
            "{table}"
        );
        // A run's figures replay its record: the run, then what is particular to the figure.
        let grid = cell_of("grid table1 barbara");
        assert!(
            grid.contains("replay.run(\"table1\", \"barbara\")?"),
            "{grid}"
        );
        assert!(grid.ends_with("    replay.row(run)?.show();\n}"), "{grid}");
        let curves = cell_of("curves stopping F16");
        assert!(
            curves.contains("dip::display::Chart::new(&title"),
            "{curves}"
        );
        let authors = cell_of("authors-grid sr set5-x4-butterfly");
        assert!(
            authors.contains("replay.authors_row(\"sr\", \"set5-x4-butterfly\")?"),
            "{authors}"
        );
        let diagram = cell_of("network-diagram");
        assert!(
            diagram.contains("figures::network_svg(&config"),
            "{diagram}"
        );
        let loss = cell_of("loss-curves demos curve-image,curve-noise");
        assert!(
            loss.contains("[\"curve-image\", \"curve-noise\"]"),
            "{loss}"
        );
        let gap = cell_of("gap-curves table1 cpu");
        assert!(
            gap.contains("r.preset == \"cpu\"") && gap.contains("h.psnr_clean? - authors"),
            "{gap}"
        );
        let stopping = cell_of("stopping-curves F16");
        assert!(
            stopping.contains("replay.run(\"stopping\", \"F16\")?"),
            "{stopping}"
        );
        // What has no few-line form is computed as the book computes it.
        assert!(cell_of("verdict").contains("dip::notebooks::book_block(\"verdict\")?.show();"));
        assert!(!cell_of("table1").contains("book_block"));
        // Every name has a cell; a missing argument or an unknown block has none.
        for name in names() {
            let args = ["sr-images", "set5", "4"];
            let args: Vec<&str> = if name == "sr-images" {
                args.to_vec()
            } else {
                vec![name, "a", "b"]
            };
            assert!(cell(&args).is_some(), "{name}");
        }
        assert!(cell(&["grid", "table1"]).is_none());
        assert!(cell(&["bogus"]).is_none());
        assert!(shows_image(&["authors-grid"]) && !shows_image(&["grid"]));
    }
}
