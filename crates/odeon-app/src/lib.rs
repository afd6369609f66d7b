//! # odeon-app
//!
//! The playground page: a Leptos single-page app (client-side rendering)
//! with a gallery of notebooks and a notebook view. It owns no numerics: the
//! cells run in the compute worker (`odeon-worker`), and this crate only
//! renders prose, editors and the outputs the worker streams back.
//!
//! Routing lives in the URL fragment ([`route`]), so any static host serves
//! the app without rewrites. Plots are drawn as SVG strings by
//! `odeon_notebook::svg`, the renderer the CLI and the widget share.
//!
//! Native builds compile the pure part ([`route`]) only; the
//! components live in the wasm-only `web` module.

pub mod route;

#[cfg(target_arch = "wasm32")]
mod web;
