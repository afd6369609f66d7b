//! The notebook file format.
//!
//! ````text
//! ---
//! id: rectified-flow
//! title: Rectified flow
//! summary: One line for the gallery.
//! tags: generative, flow
//! paper: Improving the Training of Rectified Flows
//! year: 2024
//! seed: 0
//! ---
//! Prose in Markdown, math in $...$ or $$...$$.
//!
//! ```rhai name=train
//! let losses = train_rectified_flow(model, target, #{ steps: 500 });
//! ```
//! ````
//!
//! [`Notebook::to_markdown`] writes the exact text back, so a notebook whose
//! cells were not edited round-trips byte for byte.

use serde::{Deserialize, Serialize};

/// Why a notebook file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// No `---` front matter at the top.
    #[error("the notebook must start with front matter between two `---` lines")]
    MissingFrontMatter,
    /// A required key is missing or a value is malformed.
    #[error("front matter: {0}")]
    FrontMatter(String),
    /// A code fence never closes.
    #[error("the code cell starting on line {0} is never closed with ```")]
    UnclosedCell(usize),
    /// A cell has no name or a duplicate name.
    #[error("cell on line {line}: {message}")]
    CellName {
        /// Line of the fence.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Front-matter fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// URL-safe identifier, e.g. `rectified-flow`.
    pub id: String,
    /// Display title.
    pub title: String,
    /// One line for the gallery.
    pub summary: String,
    /// Gallery tags.
    pub tags: Vec<String>,
    /// Source paper title.
    pub paper: String,
    /// Source paper year.
    pub year: u32,
    /// The notebook seed every random stream derives from.
    pub seed: u64,
    /// Where training runs unless the user says otherwise: `auto` (the
    /// default when the front matter has no `backend:`), `cpu` or `webgpu`.
    #[serde(default = "auto_backend")]
    pub backend: String,
}

fn auto_backend() -> String {
    "auto".into()
}

/// An executable cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Name from the fence (` ```rhai name=train `), unique in the notebook.
    pub name: String,
    /// The script.
    pub source: String,
}

/// A piece of a notebook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Block {
    /// Markdown prose.
    Prose(String),
    /// An executable Rhai cell.
    Cell(Cell),
}

/// A parsed notebook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notebook {
    /// Front matter.
    pub meta: Meta,
    /// The raw front-matter text (kept for exact round trips).
    front_matter: String,
    /// Prose and cells in order.
    pub blocks: Vec<Block>,
}

fn is_safe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A value without one pair of matching surrounding quotes, as YAML reads
/// `paper: "Title: with a colon"`.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner;
        }
    }
    value
}

fn parse_meta(front: &str) -> Result<Meta, FormatError> {
    let mut get = std::collections::BTreeMap::new();
    for line in front.lines().filter(|l| !l.trim().is_empty()) {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| FormatError::FrontMatter(format!("expected `key: value`, found `{line}`")))?;
        get.insert(key.trim().to_string(), unquote(value.trim()).to_string());
    }
    let field = |key: &str| {
        get.get(key).cloned().ok_or_else(|| FormatError::FrontMatter(format!("missing `{key}`")))
    };
    let id = field("id")?;
    if !is_safe_id(&id) {
        return Err(FormatError::FrontMatter(format!(
            "id `{id}` must be 1-64 characters of lowercase letters, digits and dashes"
        )));
    }
    let number = |key: &str| -> Result<u64, FormatError> {
        field(key)?.parse().map_err(|_| FormatError::FrontMatter(format!("`{key}` must be a whole number")))
    };
    Ok(Meta {
        id,
        title: field("title")?,
        summary: field("summary")?,
        tags: field("tags")?.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect(),
        paper: field("paper")?,
        year: u32::try_from(number("year")?).map_err(|_| FormatError::FrontMatter("`year` is out of range".into()))?,
        seed: number("seed")?,
        backend: match get.get("backend").map(|b| b.to_ascii_lowercase()) {
            None => auto_backend(),
            Some(b) if ["auto", "cpu", "webgpu"].contains(&b.as_str()) => b,
            Some(other) => {
                return Err(FormatError::FrontMatter(format!("`backend` must be auto, cpu or webgpu, not `{other}`")));
            }
        },
    })
}

impl Notebook {
    /// Parses a notebook file.
    pub fn parse(text: &str) -> Result<Notebook, FormatError> {
        let rest = text.strip_prefix("---\n").ok_or(FormatError::MissingFrontMatter)?;
        let end = rest.find("\n---\n").ok_or(FormatError::MissingFrontMatter)?;
        let front_matter = rest[..end].to_string();
        let meta = parse_meta(&front_matter)?;
        let body = &rest[end + "\n---\n".len()..];
        let front_lines = front_matter.lines().count() + 2;

        let mut blocks = Vec::new();
        let mut prose = String::new();
        let mut lines = body.split_inclusive('\n').enumerate();
        let mut names = std::collections::BTreeSet::new();
        while let Some((index, line)) = lines.next() {
            let trimmed = line.trim_end();
            if let Some(info) = trimmed.strip_prefix("```rhai") {
                let line_no = front_lines + index + 1;
                let name = info
                    .split_whitespace()
                    .find_map(|part| part.strip_prefix("name="))
                    .ok_or_else(|| FormatError::CellName { line: line_no, message: "every cell needs a name, e.g. ```rhai name=train".into() })?
                    .to_string();
                if !is_safe_id(&name) {
                    return Err(FormatError::CellName {
                        line: line_no,
                        message: format!("cell name `{name}` must be lowercase letters, digits and dashes"),
                    });
                }
                if !names.insert(name.clone()) {
                    return Err(FormatError::CellName { line: line_no, message: format!("the name `{name}` is used twice") });
                }
                let mut source = String::new();
                let mut closed = false;
                for (_, code_line) in lines.by_ref() {
                    if code_line.trim_end() == "```" {
                        closed = true;
                        break;
                    }
                    source.push_str(code_line);
                }
                if !closed {
                    return Err(FormatError::UnclosedCell(line_no));
                }
                if !prose.is_empty() {
                    blocks.push(Block::Prose(std::mem::take(&mut prose)));
                }
                // The newline before the closing fence belongs to the fence.
                if source.ends_with('\n') {
                    source.pop();
                }
                blocks.push(Block::Cell(Cell { name, source }));
            } else {
                prose.push_str(line);
            }
        }
        if !prose.is_empty() {
            blocks.push(Block::Prose(prose));
        }
        Ok(Notebook { meta, front_matter, blocks })
    }

    /// The notebook file text.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("---\n{}\n---\n", self.front_matter);
        for block in &self.blocks {
            match block {
                Block::Prose(text) => out.push_str(text),
                Block::Cell(cell) => {
                    out.push_str(&format!("```rhai name={}\n{}\n```\n", cell.name, cell.source));
                }
            }
        }
        out
    }

    /// The cells in order.
    pub fn cells(&self) -> impl Iterator<Item = &Cell> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Cell(c) => Some(c),
            Block::Prose(_) => None,
        })
    }

    /// Replaces the source of the cell called `name`; false when there is none.
    pub fn set_cell_source(&mut self, name: &str, source: &str) -> bool {
        for block in &mut self.blocks {
            if let Block::Cell(cell) = block
                && cell.name == name
            {
                cell.source = source.to_string();
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "---\nid: demo\ntitle: Demo\nsummary: A demo.\ntags: a, b\npaper: P\nyear: 2024\nseed: 7\n---\n# Hello $x^2$\n\n```rhai name=one\nlet x = 1;\nx + 1\n```\n\nMore prose.\n\n```rhai name=two\nprint(x);\n```\n";

    #[test]
    fn parses_and_round_trips() {
        let nb = Notebook::parse(SAMPLE).expect("valid");
        assert_eq!(nb.meta.id, "demo");
        assert_eq!(nb.meta.tags, vec!["a", "b"]);
        assert_eq!(nb.meta.seed, 7);
        let cells: Vec<_> = nb.cells().map(|c| c.name.as_str()).collect();
        assert_eq!(cells, vec!["one", "two"]);
        assert_eq!(nb.cells().next().map(|c| c.source.as_str()), Some("let x = 1;\nx + 1"));
        assert_eq!(nb.to_markdown(), SAMPLE);
    }

    /// Quoted values lose their quotes, as in YAML: a title with a colon
    /// reads as itself, and the file still round-trips exactly.
    #[test]
    fn quoted_front_matter_values_are_unquoted() {
        let text = SAMPLE.replacen("paper: P\n", "paper: \"PFGM++: a title\"\n", 1);
        let nb = Notebook::parse(&text).expect("valid");
        assert_eq!(nb.meta.paper, "PFGM++: a title");
        assert_eq!(nb.to_markdown(), text);
        assert_eq!(unquote("'single'"), "single");
        assert_eq!(unquote("\"unmatched'"), "\"unmatched'");
        assert_eq!(unquote("\""), "\"");
    }

    #[test]
    fn edits_survive_a_round_trip() {
        let mut nb = Notebook::parse(SAMPLE).expect("valid");
        assert!(nb.set_cell_source("two", "print(x * 3);"));
        assert!(!nb.set_cell_source("three", ""));
        let again = Notebook::parse(&nb.to_markdown()).expect("valid");
        assert_eq!(again, nb);
    }

    proptest::proptest! {
        /// Random text, and random edits of a valid notebook, never panic;
        /// whatever parses writes back to text that parses the same.
        #[test]
        fn random_input_never_panics(text in "\\PC{0,300}", cut in 0usize..400, insert in "\\PC{0,20}") {
            let _ = Notebook::parse(&text);
            let mut edited = SAMPLE.to_string();
            let at = edited.char_indices().map(|(i, _)| i).nth(cut % SAMPLE.chars().count()).unwrap_or(0);
            edited.insert_str(at, &insert);
            if let Ok(nb) = Notebook::parse(&edited) {
                proptest::prop_assert_eq!(Notebook::parse(&nb.to_markdown()).ok(), Some(nb));
            }
        }
    }

    #[test]
    fn malformed_files_give_clear_errors() {
        assert_eq!(Notebook::parse("no front matter"), Err(FormatError::MissingFrontMatter));
        let unclosed = SAMPLE.replace("print(x);\n```\n", "print(x);\n");
        assert!(matches!(Notebook::parse(&unclosed), Err(FormatError::UnclosedCell(_))));
        let dup = SAMPLE.replace("name=two", "name=one");
        assert!(matches!(Notebook::parse(&dup), Err(FormatError::CellName { .. })));
        let bad_id = SAMPLE.replace("id: demo", "id: ../etc");
        assert!(matches!(Notebook::parse(&bad_id), Err(FormatError::FrontMatter(_))));
        let bad_backend = SAMPLE.replace("seed: 7", "seed: 7\nbackend: tpu");
        assert!(Notebook::parse(&bad_backend).expect_err("tpu").to_string().contains("auto, cpu or webgpu"));
    }

    #[test]
    fn the_backend_defaults_to_auto_and_can_be_forced() {
        assert_eq!(Notebook::parse(SAMPLE).expect("valid").meta.backend, "auto");
        let forced = SAMPLE.replace("seed: 7", "seed: 7\nbackend: WebGPU");
        assert_eq!(Notebook::parse(&forced).expect("valid").meta.backend, "webgpu");
    }
}
