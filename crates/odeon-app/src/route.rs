//! Fragment routes: `#/`, `#/nb/<id>`, `#/nb/<id>?s=<share link>`.

/// A page of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The notebook gallery.
    Gallery,
    /// One notebook, optionally opened from a share link.
    Notebook {
        /// Notebook id.
        id: String,
        /// The encoded share payload (`v1.…`), if any.
        share: Option<String>,
    },
    /// Anything else.
    NotFound(String),
}

/// Parses `location.hash` (with or without the leading `#`).
pub fn parse_hash(hash: &str) -> Route {
    let hash = hash.strip_prefix('#').unwrap_or(hash);
    let (path, query) = hash.split_once('?').unwrap_or((hash, ""));
    let share = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("s="))
        .map(str::to_string);
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [] => Route::Gallery,
        ["nb", id] => Route::Notebook { id: (*id).to_string(), share },
        _ => Route::NotFound(hash.to_string()),
    }
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
    }
}
