//! # odeon-notebook
//!
//! Everything about a notebook that is not numerics and not UI:
//! * [`format`]: the notebook file (front matter, Markdown prose, named
//!   ` ```rhai name=... ` cells), parsed and written back byte for byte;
//! * [`render`]: Markdown to HTML with `$...$` math as MathML (no JavaScript);
//! * [`link`]: the share-link codec (deflate + base64url, with a format version);
//! * [`events`]: the typed outputs a running cell streams (progress, logs,
//!   plots, tables, metrics, success criteria), shared by the worker, the
//!   page and the CLI;
//! * [`api`]: the script API reference (the `#/api` page, `odeon api`);
//! * [`runtime`] (feature `runtime`): the Rhai session that runs cells over
//!   Odeon's real API;
//! * [`svg`]: plots as standalone SVG and their data as CSV (page, widget, CLI);
//! * [`shipped`]: the notebooks that ship with Odeon.

pub mod api;
pub mod events;
pub mod format;
pub mod link;
pub mod protocol;
pub mod render;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod shipped;
pub mod svg;

pub use format::{Block, Cell, FormatError, Meta, Notebook};
