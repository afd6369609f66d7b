//! A cell's outputs on the page: plots (with SVG, PNG and CSV downloads),
//! tables, metrics with the success criteria, logs and the progress bar.

use leptos::prelude::*;
use odeon_notebook::events::{Comparison, Event, Plot, TableValue, format_number};
use odeon_notebook::svg::{file_stem, plot_csv, plot_svg};
use wasm_bindgen::prelude::*;

use super::{debug_set, window};

/// One output of a cell, in arrival order (plots and tables with the same
/// key replace each other in place).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    Log(String),
    Plot { plot: Plot, svg: String },
    Metric { name: String, value: f64 },
    Table { key: String, title: String, columns: Vec<String>, rows: Vec<Vec<TableValue>> },
    Criterion { name: String, value: f64, op: Comparison, bound: f64, passed: bool },
}

/// Progress of the running loop: done, total, latest loss, and the time
/// (ms) and step count when the ETA clock started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Progress {
    pub done: u64,
    pub total: u64,
    pub loss: Option<f32>,
    pub started_ms: f64,
    pub started_at: u64,
    pub now_ms: f64,
}

impl Progress {
    /// Seconds left, extrapolated from the rate since the clock started.
    pub(crate) fn eta_seconds(&self) -> Option<f64> {
        let steps = self.done.checked_sub(self.started_at).filter(|&s| s > 0)?;
        let elapsed = (self.now_ms - self.started_ms) / 1000.0;
        (elapsed > 0.2).then(|| elapsed / steps as f64 * self.total.saturating_sub(self.done) as f64)
    }
}

fn eta_text(seconds: f64) -> String {
    if seconds < 1.0 {
        "under a second left".into()
    } else if seconds < 90.0 {
        format!("about {:.0} s left", seconds.ceil())
    } else {
        format!("about {:.0} min left", (seconds / 60.0).ceil())
    }
}

/// Applies one event to a cell's outputs and progress.
pub(crate) fn apply(cell_name: &str, outputs: RwSignal<Vec<Output>>, progress: RwSignal<Option<Progress>>, event: &Event) {
    match event {
        Event::Progress { done, total, loss, .. } => {
            let now = js_sys::Date::now();
            progress.update(|p| {
                *p = Some(match p {
                    // A new loop (or a restart) resets the clock.
                    Some(old) if old.total == *total && old.done <= *done => Progress { done: *done, loss: *loss, now_ms: now, ..*old },
                    _ => Progress { done: *done, total: *total, loss: *loss, started_ms: now, started_at: *done, now_ms: now },
                })
            });
        }
        Event::Log { text } => outputs.update(|o| o.push(Output::Log(text.clone()))),
        Event::Plot(plot) => {
            let new = Output::Plot { plot: plot.clone(), svg: plot_svg(plot) };
            outputs.update(|o| match o.iter_mut().find(|x| matches!(x, Output::Plot { plot: p, .. } if p.key == plot.key)) {
                Some(existing) => *existing = new,
                None => o.push(new),
            });
        }
        Event::Metric { name, value } => {
            debug_set(&["metrics", cell_name, name], (*value).into());
            outputs.update(|o| o.push(Output::Metric { name: name.clone(), value: *value }));
        }
        Event::Table { key, title, columns, rows } => {
            let new = Output::Table { key: key.clone(), title: title.clone(), columns: columns.clone(), rows: rows.clone() };
            outputs.update(|o| match o.iter_mut().find(|x| matches!(x, Output::Table { key: k, .. } if k == key)) {
                Some(existing) => *existing = new,
                None => o.push(new),
            });
        }
        Event::Criterion { name, value, op, bound, passed } => {
            debug_set(&["criteria", cell_name, name], (*passed).into());
            outputs.update(|o| o.push(Output::Criterion { name: name.clone(), value: *value, op: *op, bound: *bound, passed: *passed }));
        }
    }
}

// ---------------------------------------------------------------------------
// Downloads.

fn download_blob(blob: &web_sys::Blob, file_name: &str) {
    let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else { return };
    if let Some(document) = window().document()
        && let Ok(anchor) = document.create_element("a")
        && let Ok(anchor) = anchor.dyn_into::<web_sys::HtmlAnchorElement>()
    {
        anchor.set_href(&url);
        anchor.set_download(file_name);
        anchor.click();
    }
    // Revoke later: the download may not have started yet.
    let revoke = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000);
}

fn text_blob(text: &str, mime: &str) -> Option<web_sys::Blob> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()
}

fn download_text(text: &str, mime: &str, file_name: &str) {
    if let Some(blob) = text_blob(text, mime) {
        download_blob(&blob, file_name);
    }
}

/// Draws the SVG on a canvas at twice its size and downloads it as PNG.
fn download_png(svg: &str, file_name: String) {
    let Some(blob) = text_blob(svg, "image/svg+xml") else { return };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    let Ok(image) = web_sys::HtmlImageElement::new() else { return };
    let img = image.clone();
    let src = url.clone();
    let on_load = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
        let Some(document) = window().document() else { return };
        let Ok(canvas) = document.create_element("canvas").map(|c| c.unchecked_into::<web_sys::HtmlCanvasElement>()) else { return };
        let (w, h) = (img.natural_width().max(1), img.natural_height().max(1));
        canvas.set_width(2 * w);
        canvas.set_height(2 * h);
        let Ok(Some(context)) = canvas.get_context("2d") else { return };
        let context: web_sys::CanvasRenderingContext2d = context.unchecked_into();
        let _ = context.scale(2.0, 2.0);
        let _ = context.draw_image_with_html_image_element(&img, 0.0, 0.0);
        let on_blob = Closure::once_into_js(move |blob: Option<web_sys::Blob>| {
            if let Some(blob) = blob {
                download_blob(&blob, &file_name);
            }
        });
        let _ = canvas.to_blob(on_blob.unchecked_ref());
    });
    image.set_onload(Some(on_load.unchecked_ref()));
    image.set_src(&src);
}

// ---------------------------------------------------------------------------
// Views.

#[component]
fn PlotView(plot: Plot, svg: String, cell: String) -> impl IntoView {
    let stem = format!("{}-{}", file_stem(&cell), file_stem(&plot.title));
    let (svg_for_file, svg_for_png) = (svg.clone(), svg.clone());
    let (stem_svg, stem_png, stem_csv) = (stem.clone(), stem.clone(), stem);
    let csv = plot_csv(&plot);
    view! {
        <figure class="plot" data-key=plot.key.clone()>
            <div inner_html=svg></div>
            <figcaption class="plot-actions">
                "Download "
                <button class="download" data-format="svg" title="the plot as a vector image"
                    on:click=move |_| download_text(&svg_for_file, "image/svg+xml", &format!("{stem_svg}.svg"))>"SVG"</button>
                <button class="download" data-format="png" title="the plot as a picture"
                    on:click=move |_| download_png(&svg_for_png, format!("{stem_png}.png"))>"PNG"</button>
                <button class="download" data-format="csv" title="the plotted numbers"
                    on:click=move |_| download_text(&csv, "text/csv", &format!("{stem_csv}.csv"))>"CSV"</button>
            </figcaption>
        </figure>
    }
}

/// The progress bar with the latest loss and an ETA.
#[component]
pub(crate) fn ProgressBar(progress: RwSignal<Option<Progress>>) -> impl IntoView {
    move || {
        progress.get().map(|p| {
            let eta = p.eta_seconds().filter(|_| p.done < p.total).map(eta_text);
            view! {
                <div class="progress-row">
                    <progress class="progress" max=p.total value=p.done></progress>
                    <span class="progress-text">
                        {format!("{}/{}", p.done, p.total)}
                        {p.loss.map(|l| format!(" · loss {l:.4}"))}
                        {eta.map(|e| view! { " · " <span class="eta">{e}</span> })}
                    </span>
                </div>
            }
        })
    }
}

/// Logs, plots, tables and the metrics/criteria table of one cell.
#[component]
pub(crate) fn OutputsView(cell: String, outputs: RwSignal<Vec<Output>>) -> impl IntoView {
    view! {
        <div class="outputs">
            {move || {
                let outputs = outputs.get();
                let logs: Vec<String> = outputs.iter().filter_map(|o| match o { Output::Log(t) => Some(t.clone()), _ => None }).collect();
                let plots: Vec<(Plot, String)> = outputs.iter().filter_map(|o| match o { Output::Plot { plot, svg } => Some((plot.clone(), svg.clone())), _ => None }).collect();
                let tables: Vec<Output> = outputs.iter().filter(|o| matches!(o, Output::Table { .. })).cloned().collect();
                let rows: Vec<Output> = outputs.iter().filter(|o| matches!(o, Output::Metric { .. } | Output::Criterion { .. })).cloned().collect();
                let cell = cell.clone();
                view! {
                    {(!logs.is_empty()).then(|| view! { <pre class="log">{logs.join("\n")}</pre> })}
                    <div class="plots">{plots.into_iter().map(|(plot, svg)| view! { <PlotView plot=plot svg=svg cell=cell.clone()/> }).collect_view()}</div>
                    {tables.into_iter().map(|t| match t {
                        Output::Table { key, title, columns, rows } => view! {
                            <table class="data-table" data-key=key>
                                <caption>{title}</caption>
                                <thead><tr>{columns.into_iter().map(|c| view! { <th>{c}</th> }).collect_view()}</tr></thead>
                                <tbody>{rows.into_iter().map(|r| view! {
                                    <tr>{r.into_iter().map(|v| {
                                        let class = if matches!(v, TableValue::Number(_)) { "num" } else { "" };
                                        view! { <td class=class>{v.display()}</td> }
                                    }).collect_view()}</tr>
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        _ => ().into_any(),
                    }).collect_view()}
                    {(!rows.is_empty()).then(|| view! {
                        <table class="metrics"><tbody>
                            {rows.into_iter().map(|r| match r {
                                Output::Metric { name, value } => view! {
                                    <tr><td>{name}</td><td class="num">{format_number(value)}</td><td></td></tr>
                                }.into_any(),
                                Output::Criterion { name, value, op, bound, passed } => view! {
                                    <tr class="criterion" data-passed=passed.to_string()>
                                        <td>"Criterion: " {name}</td>
                                        <td class="num">{format!("{} {} {}", format_number(value), op.symbol(), format_number(bound))}</td>
                                        <td><span class=if passed { "verdict pass" } else { "verdict fail" }>{if passed { "✓ met" } else { "✗ not met" }}</span></td>
                                    </tr>
                                }.into_any(),
                                _ => ().into_any(),
                            }).collect_view()}
                        </tbody></table>
                    })}
                }
            }}
        </div>
    }
}
