//! Share links: a notebook's edits and run settings, deflate-compressed and
//! base64url-encoded behind a format version, e.g. `v2.eJzLSM3...`.
//!
//! Version 2 (written now) is compact: when the notebook is a shipped one
//! and only its code cells were edited, the link carries just the edited
//! cells plus a fingerprint of the shipped text they apply to; otherwise it
//! carries the whole notebook text. A typical edited notebook is a few
//! hundred bytes. If the shipped notebook changed since the link was made,
//! the edits are applied to the current version by cell name and
//! [`decode_with_note`] says so. Version 1 links (whole text) still open.
//!
//! Decoding never panics: garbage, truncation and unknown versions all come
//! back as a [`LinkError`] whose message the page shows as it is.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::{Notebook, shipped};

/// The format version this build writes.
pub const LINK_VERSION: u32 = 2;

/// Largest decompressed payload accepted (guards against deflate bombs).
const MAX_PAYLOAD_BYTES: usize = 2 << 20;

/// What a share link carries, as the page and the CLI use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharePayload {
    /// Id of the notebook it was made from.
    pub id: String,
    /// The whole edited notebook text.
    pub text: String,
    /// Run profile (`ci`, `default`, `big`).
    pub profile: String,
}

/// The version-2 wire form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WireV2 {
    id: String,
    #[serde(rename = "p")]
    profile: String,
    /// Fingerprint of the shipped text the cell edits apply to.
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    base: Option<String>,
    /// Edited cells by name (with `base`).
    #[serde(rename = "c", default, skip_serializing_if = "BTreeMap::is_empty")]
    cells: BTreeMap<String, String>,
    /// The whole text (without `base`).
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// Why a share link could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No `v<N>.` prefix.
    #[error("it is not in a format Odeon knows (share links start with \"v2.\" or \"v1.\")")]
    NoVersion,
    /// A version this build does not read.
    #[error("it uses format version {0}, but this version of Odeon reads versions 1 and 2 (was it made by a newer Odeon?)")]
    UnknownVersion(String),
    /// Not valid base64url (garbage or cut short).
    #[error("it is damaged: it contains characters that cannot be decoded (was it cut short or altered?)")]
    Base64,
    /// Not valid deflate data (truncated).
    #[error("it is damaged: its compressed data is incomplete (was it cut short?)")]
    Deflate,
    /// Valid compression around an invalid payload.
    #[error("it is damaged: {0}")]
    Payload(String),
}

/// FNV-1a, 64 bits, as 16 hex digits: a fingerprint of the shipped text
/// (not a security measure; it only detects that the text changed).
fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{hash:016x}")
}

/// The shipped notebook `id` with `cells` replaced by name; `None` when a
/// name is not a cell of it.
fn apply_cells(base: &str, cells: &BTreeMap<String, String>) -> Option<String> {
    let mut nb = Notebook::parse(base).ok()?;
    for (name, source) in cells {
        if !nb.set_cell_source(name, source) {
            return None;
        }
    }
    Some(nb.to_markdown())
}

/// The compact form when `payload` is a shipped notebook with only code
/// cells edited.
fn cell_edits(payload: &SharePayload) -> Option<WireV2> {
    let base = shipped::text(&payload.id)?;
    let edited = Notebook::parse(&payload.text).ok()?;
    let original = Notebook::parse(base).ok()?;
    let mut cells = BTreeMap::new();
    for cell in edited.cells() {
        let before = original.cells().find(|c| c.name == cell.name)?;
        if before.source != cell.source {
            cells.insert(cell.name.clone(), cell.source.clone());
        }
    }
    (apply_cells(base, &cells)? == payload.text).then(|| WireV2 {
        id: payload.id.clone(),
        profile: payload.profile.clone(),
        base: Some(fingerprint(base)),
        cells,
        text: None,
    })
}

/// Encodes a payload as link text (format version 2).
pub fn encode(payload: &SharePayload) -> String {
    let wire = cell_edits(payload).unwrap_or_else(|| WireV2 {
        id: payload.id.clone(),
        profile: payload.profile.clone(),
        base: None,
        cells: BTreeMap::new(),
        text: Some(payload.text.clone()),
    });
    let json = serde_json::to_vec(&wire).unwrap_or_default();
    let compressed = miniz_oxide::deflate::compress_to_vec(&json, 10);
    format!("v{LINK_VERSION}.{}", URL_SAFE_NO_PAD.encode(compressed))
}

/// Decodes link text made by [`encode`] (or a version-1 link).
pub fn decode(link: &str) -> Result<SharePayload, LinkError> {
    decode_with_note(link).map(|(payload, _)| payload)
}

/// Like [`decode`], with a note for the user when the link's edits were
/// applied to a shipped notebook that changed since the link was made.
pub fn decode_with_note(link: &str) -> Result<(SharePayload, Option<String>), LinkError> {
    let (version, data) = link.trim().split_once('.').ok_or(LinkError::NoVersion)?;
    let version = version.strip_prefix('v').ok_or(LinkError::NoVersion)?;
    if version != "1" && version != "2" {
        return Err(LinkError::UnknownVersion(version.chars().take(12).collect()));
    }
    let compressed = URL_SAFE_NO_PAD.decode(data).map_err(|_| LinkError::Base64)?;
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&compressed, MAX_PAYLOAD_BYTES)
        .map_err(|_| LinkError::Deflate)?;
    if version == "1" {
        return serde_json::from_slice(&json).map(|p| (p, None)).map_err(|err| LinkError::Payload(err.to_string()));
    }
    let wire: WireV2 = serde_json::from_slice(&json).map_err(|err| LinkError::Payload(err.to_string()))?;
    let (text, note) = match (wire.text, wire.base) {
        (Some(text), None) => (text, None),
        (None, Some(base)) => {
            let shipped = shipped::text(&wire.id)
                .ok_or_else(|| LinkError::Payload(format!("it edits the notebook \"{}\", which this version of Odeon does not have", wire.id)))?;
            let text = apply_cells(shipped, &wire.cells).ok_or_else(|| {
                LinkError::Payload(format!("it edits cells that the notebook \"{}\" no longer has", wire.id))
            })?;
            let note = (base != fingerprint(shipped)).then(|| {
                "this link was made for an earlier version of the notebook; its edits were applied to the current version, so the numbers may differ from the original run".to_string()
            });
            (text, note)
        }
        _ => return Err(LinkError::Payload("it carries neither a notebook nor edits of one".into())),
    };
    Ok((SharePayload { id: wire.id, text, profile: wire.profile }, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> SharePayload {
        SharePayload { id: "demo".into(), text: "---\nid: demo\n---\nhello ".repeat(20), profile: "ci".into() }
    }

    fn edited_shipped() -> SharePayload {
        let mut nb = Notebook::parse(shipped::text("rectified-flow").expect("shipped")).expect("parses");
        let train = nb.cells().find(|c| c.name == "train").expect("train cell").source.replace("2000", "500");
        assert!(nb.set_cell_source("train", &train));
        let sample = format!("{}\nprint(\"edited\");", nb.cells().find(|c| c.name == "sample").expect("cell").source);
        assert!(nb.set_cell_source("sample", &sample));
        SharePayload { id: "rectified-flow".into(), text: nb.to_markdown(), profile: "default".into() }
    }

    #[test]
    fn round_trip() {
        let link = encode(&payload());
        assert!(link.starts_with("v2."));
        assert!(link.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        assert_eq!(decode(&link), Ok(payload()));
    }

    #[test]
    fn edited_shipped_notebooks_give_short_links() {
        let payload = edited_shipped();
        let link = encode(&payload);
        assert!(link.len() < 1024, "{} bytes", link.len());
        assert_eq!(decode_with_note(&link), Ok((payload.clone(), None)));
        // Prose edits fall back to the whole text: deflate and base64 make
        // it about half the notebook's size (the 11 KB rectified-flow text
        // gives about 6 KB, far below any browser's URL limit).
        let prose = SharePayload { text: payload.text.replace("A rectified flow", "A rectified-flow model"), ..payload };
        let link = encode(&prose);
        assert!(link.len() < prose.text.len() * 6 / 10, "{} bytes for {} bytes of text", link.len(), prose.text.len());
        assert_eq!(decode(&link), Ok(prose));
    }

    #[test]
    fn links_to_a_changed_notebook_apply_their_edits_with_a_note() {
        let wire = WireV2 {
            id: "rectified-flow".into(),
            profile: "ci".into(),
            base: Some("0000000000000000".into()),
            cells: BTreeMap::from([("train".to_string(), "let x = 1;".to_string())]),
            text: None,
        };
        let link = format!("v2.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(&serde_json::to_vec(&wire).expect("json"), 6)));
        let (payload, note) = decode_with_note(&link).expect("opens");
        assert!(payload.text.contains("let x = 1;"));
        assert!(note.expect("note").contains("earlier version"));
        let gone = WireV2 { cells: BTreeMap::from([("no-such-cell".to_string(), String::new())]), ..wire };
        let link = format!("v2.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(&serde_json::to_vec(&gone).expect("json"), 6)));
        assert!(decode(&link).expect_err("unknown cell").to_string().contains("no longer has"));
    }

    #[test]
    fn version_1_links_still_open() {
        let v1 = format!("v1.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(&serde_json::to_vec(&payload()).expect("json"), 9)));
        assert_eq!(decode(&v1), Ok(payload()));
    }

    proptest::proptest! {
        /// Random text and random bytes behind a valid prefix never panic.
        #[test]
        fn random_input_never_panics(text in ".{0,200}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            for version in ["v1", "v2"] {
                let _ = decode(&text);
                let _ = decode(&format!("{version}.{text}"));
                let _ = decode(&format!("{version}.{}", URL_SAFE_NO_PAD.encode(&bytes)));
                let _ = decode(&format!("{version}.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(&bytes, 6))));
            }
        }
    }

    #[test]
    fn broken_links_are_reported() {
        let link = encode(&payload());
        assert_eq!(decode("garbage"), Err(LinkError::NoVersion));
        assert_eq!(decode("v9.abc"), Err(LinkError::UnknownVersion("9".into())));
        assert!(decode("v3.abc").expect_err("future").to_string().contains("newer Odeon"));
        assert_eq!(decode("v2.@@@"), Err(LinkError::Base64));
        let truncated = &link[..link.len() / 2];
        assert!(matches!(decode(truncated), Err(LinkError::Deflate | LinkError::Base64)));
        let other = format!("v2.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(b"[1,2]", 6)));
        assert!(matches!(decode(&other), Err(LinkError::Payload(_))));
        for cut in 0..link.len() {
            assert!(decode(&link[..cut]).is_err(), "prefix of length {cut} decoded");
        }
        let short = encode(&edited_shipped());
        for cut in 0..short.len() {
            assert!(decode(&short[..cut]).is_err(), "prefix of length {cut} decoded");
        }
    }
}
