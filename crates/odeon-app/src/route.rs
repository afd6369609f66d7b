//! Fragment routes: `#/`, `#/nb/<id>`, `#/nb/<id>?s=<share link>`,
//! `#/embed/<id>[/<cell>]?profile=..&autorun=1&s=..` and `#/api`.

/// A page of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The notebook gallery.
    Gallery,
    /// One notebook, optionally opened from a share link.
    Notebook {
        /// Notebook id.
        id: String,
        /// The encoded share payload (`v2.…`), if any.
        share: Option<String>,
    },
    /// One notebook (or one named cell's outputs) with minimal chrome, for
    /// iframes and `<odeon-widget>`.
    Embed {
        /// Notebook id.
        id: String,
        /// The cell whose outputs are shown (all cells when absent).
        cell: Option<String>,
        /// The encoded share payload, if any.
        share: Option<String>,
        /// Profile override (`ci`, `default`, `big`).
        profile: Option<String>,
        /// Run at once instead of waiting for the Run button.
        autorun: bool,
    },
    /// The script API reference.
    Api,
    /// Anything else.
    NotFound(String),
}

/// Parses `location.hash` (with or without the leading `#`).
pub fn parse_hash(hash: &str) -> Route {
    let hash = hash.strip_prefix('#').unwrap_or(hash);
    let (path, query) = hash.split_once('?').unwrap_or((hash, ""));
    let param = |key: &str| query.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('=')).map(str::to_string);
    let share = param("s");
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [] => Route::Gallery,
        ["nb", id] => Route::Notebook { id: (*id).to_string(), share },
        ["api"] => Route::Api,
        ["embed", id, rest @ ..] if rest.len() <= 1 => Route::Embed {
            id: (*id).to_string(),
            cell: rest.first().map(|c| (*c).to_string()),
            share,
            profile: param("profile"),
            autorun: param("autorun").is_some_and(|v| v == "1" || v == "true"),
        },
        _ => Route::NotFound(hash.to_string()),
    }
}

/// The fragment of the embed view of `id` (one `cell`, or all).
pub fn embed_hash(id: &str, cell: Option<&str>, share: Option<&str>) -> String {
    let mut hash = format!("#/embed/{id}");
    if let Some(cell) = cell {
        hash.push('/');
        hash.push_str(cell);
    }
    if let Some(share) = share {
        hash.push_str("?s=");
        hash.push_str(share);
    }
    hash
}

/// The fragment for a notebook, with an optional share payload.
pub fn notebook_hash(id: &str, share: Option<&str>) -> String {
    match share {
        Some(s) => format!("#/nb/{id}?s={s}"),
        None => format!("#/nb/{id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip() {
        assert_eq!(parse_hash(""), Route::Gallery);
        assert_eq!(parse_hash("#/"), Route::Gallery);
        assert_eq!(parse_hash("#/nb/rectified-flow"), Route::Notebook { id: "rectified-flow".into(), share: None });
        assert_eq!(
            parse_hash(&notebook_hash("x", Some("v1.abc"))),
            Route::Notebook { id: "x".into(), share: Some("v1.abc".into()) }
        );
        assert!(matches!(parse_hash("#/what/is/this"), Route::NotFound(_)));
        assert_eq!(parse_hash("#/api"), Route::Api);
        assert_eq!(
            parse_hash("#/embed/rf/sample?profile=ci&autorun=1"),
            Route::Embed { id: "rf".into(), cell: Some("sample".into()), share: None, profile: Some("ci".into()), autorun: true }
        );
        assert_eq!(
            parse_hash(&embed_hash("rf", None, Some("v2.xyz"))),
            Route::Embed { id: "rf".into(), cell: None, share: Some("v2.xyz".into()), profile: None, autorun: false }
        );
        assert!(matches!(parse_hash("#/embed/rf/a/b"), Route::NotFound(_)));
        // `s=` must be a whole key, not the end of another one.
        assert_eq!(parse_hash("#/nb/x?ss=1"), Route::Notebook { id: "x".into(), share: None });
    }
}
