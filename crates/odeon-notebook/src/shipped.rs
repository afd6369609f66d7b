//! The notebooks that ship with Odeon (the Markdown files in `public/notebooks/`).
//!
//! To add a notebook: write `public/notebooks/<id>.md` and add it to
//! [`SHIPPED`]; the gallery, the CLI and the tests pick it up from here.

use crate::{FormatError, Notebook};

/// `(id, file text)` of every shipped notebook, in gallery order.
pub const SHIPPED: &[(&str, &str)] = &[
    ("rectified-flow", include_str!("../../../public/notebooks/rectified-flow.md")),
    ("diffusion-principles", include_str!("../../../public/notebooks/diffusion-principles.md")),
    ("stochastic-interpolants", include_str!("../../../public/notebooks/stochastic-interpolants.md")),
    ("adjoint-dpm", include_str!("../../../public/notebooks/adjoint-dpm.md")),
    ("pfgm-pp", include_str!("../../../public/notebooks/pfgm-pp.md")),
    ("gauge-freedom", include_str!("../../../public/notebooks/gauge-freedom.md")),
    ("solver-regularization", include_str!("../../../public/notebooks/solver-regularization.md")),
    ("local-regularization", include_str!("../../../public/notebooks/local-regularization.md")),
    ("neural-de", include_str!("../../../public/notebooks/neural-de.md")),
];

/// The shipped text of notebook `id`.
pub fn text(id: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|(nb_id, _)| *nb_id == id).map(|(_, text)| *text)
}

/// All shipped notebooks, parsed.
pub fn all() -> Result<Vec<Notebook>, FormatError> {
    SHIPPED.iter().map(|(_, text)| Notebook::parse(text)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_notebooks_parse_and_ids_match() {
        for (id, text) in SHIPPED {
            let nb = Notebook::parse(text).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(nb.meta.id, *id);
            assert_eq!(nb.to_markdown(), *text, "{id} must round-trip exactly");
            assert!(nb.cells().count() > 0);
        }
    }
}
