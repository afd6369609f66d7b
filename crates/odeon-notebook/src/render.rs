//! Markdown prose to HTML, with `$...$` and `$$...$$` math as MathML.
//!
//! Math is rendered to MathML Core in Rust (pulldown-latex), so the page needs
//! no JavaScript math library and browsers render it natively. A LaTeX error
//! shows inline as a red `<merror>` with the parser's explanation. Raw HTML in prose
//! is escaped, never passed through: prose arrives from share links, and a
//! link must not be able to inject markup into the page.

use pulldown_cmark::{Event, Options, Parser, html};

/// Renders Markdown prose to HTML.
pub fn markdown_to_html(markdown: &str) -> String {
    let options = Options::ENABLE_MATH | Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::InlineMath(tex) => Event::InlineHtml(math_html(&tex, false).into()),
        Event::DisplayMath(tex) => Event::Html(math_html(&tex, true).into()),
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() * 2);
    html::push_html(&mut out, events);
    out
}

fn math_html(tex: &str, display: bool) -> String {
    use pulldown_latex::config::DisplayMode;
    let storage = pulldown_latex::Storage::new();
    let parser = pulldown_latex::Parser::new(tex, &storage);
    let config = pulldown_latex::RenderConfig {
        display_mode: if display { DisplayMode::Block } else { DisplayMode::Inline },
        ..Default::default()
    };
    let mut out = String::new();
    match pulldown_latex::push_mathml(&mut out, parser, config) {
        Ok(()) => out,
        Err(err) => format!("<code class=\"math-error\" title=\"{}\">{}</code>", escape_html(&err.to_string()), escape_html(tex)),
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn math_becomes_mathml() {
        let html = markdown_to_html("Noise $x_0 \\sim \\mathcal{N}(0, I)$ and\n\n$$\\mathbb{E} \\big\\| x_t - (1-t) x_0 \\big\\|^2$$\n");
        assert!(html.contains("<math"), "{html}");
        assert!(html.contains("display=\"block\""), "{html}");
        assert!(html.contains("<msub>"), "{html}");
        assert!(!html.contains("merror"), "{html}");
        assert!(markdown_to_html("see $\\nope{x}$ here").contains("merror"));
    }

    #[test]
    fn raw_html_is_escaped() {
        let html = markdown_to_html("hi <script>alert(1)</script> <img src=x onerror=alert(1)>");
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
    }
}
