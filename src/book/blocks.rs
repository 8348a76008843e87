//! The book's generated tables as data: each `{{#dip NAME ARGS}}` table block, the
//! code that makes it with the library's public API, and that same code compiled.
//! The book runs the compiled code; a notebook's cell shows the code itself
//! ([`TableBlock::cell`]), so a reader sees, and can change, the few lines that load
//! the records, measure and render.
//!
//! One macro writes both from one expression (`stringify!` of it is the code shown),
//! so the two cannot drift apart.

use anyhow::{Context, Result};

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
    "demos-table" => tables::demos(inputs).to_markdown();
    "stopping-table" => tables::stopping(inputs).to_markdown();
    "tiling-table" => tables::tiling(inputs).to_markdown();
    "timing" => tables::timing(inputs).to_markdown();
    "bench" => tables::bench(inputs).to_markdown();
}

/// The table block named `name`, if there is one.
pub fn table_block(name: &str) -> Option<&'static TableBlock> {
    TABLE_BLOCKS.iter().find(|b| b.name == name)
}

impl TableBlock {
    /// The notebook cell that makes this table with `args`: load the records and the
    /// data folder as the book does, then the block's own expression.
    pub fn cell(&self, args: &[&str]) -> String {
        let comment = "// The records of our runs (results/, written by `dip reproduce`), the\n\
             // benchmarks, and the data folder for the authors' outputs, as the book reads them.\n";
        let mut cell = String::from(
            "use dip::reproduce::tables::{self, Inputs, Presets};\n\
             let records = dip::reproduce::load_records(&dip::notebooks::results_dir())?;\n\
             let bench = dip::reproduce::load_bench_records(&dip::notebooks::results_dir())?;\n\
             let data = dip::notebooks::data_dir();\n\
             // The strongest complete preset of our runs, as in the book.\n\
             let inputs = &Inputs {\n\
             \x20   records: &records,\n\
             \x20   bench: &bench,\n\
             \x20   data: Some(&data),\n\
             \x20   presets: Presets::Strongest,\n\
             };\n",
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
        crate::notebooks::in_block(comment, &cell)
    }
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
            cell.contains("    let set = \"set5\";\n    let factor = 4;\n"),
            "{cell}"
        );
        assert!(cell.ends_with(&format!(
            "    let markdown = {};\n    dip::display::Markdown::new(markdown).show();\n}}",
            t.code
        )));
        // The compiled expression: without records, a table that says so.
        let inputs = Inputs {
            records: &[],
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
}
