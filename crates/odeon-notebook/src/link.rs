//! Share links: the notebook text and run settings, deflate-compressed and
//! base64url-encoded behind a format version, e.g. `v1.eJzLSM3...`.
//!
//! Decoding never panics: garbage, truncation and unknown versions all come
//! back as a [`LinkError`] whose message the page shows as it is.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// The format version this build writes and reads.
pub const LINK_VERSION: u32 = 1;

/// Largest decompressed payload accepted (guards against deflate bombs).
const MAX_PAYLOAD_BYTES: usize = 2 << 20;

/// What a share link carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharePayload {
    /// Id of the notebook it was made from.
    pub id: String,
    /// The whole edited notebook text.
    pub text: String,
    /// Run profile (`ci`, `default`, `big`).
    pub profile: String,
}

/// Why a share link could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No `v<N>.` prefix.
    #[error("it is not in a format Odeon knows (share links start with \"v1.\")")]
    NoVersion,
    /// A version this build does not read.
    #[error("it uses format version {0}, but this version of Odeon reads version {LINK_VERSION}")]
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

/// Encodes a payload as link text.
pub fn encode(payload: &SharePayload) -> String {
    let json = serde_json::to_vec(payload).unwrap_or_default();
    let compressed = miniz_oxide::deflate::compress_to_vec(&json, 9);
    format!("v{LINK_VERSION}.{}", URL_SAFE_NO_PAD.encode(compressed))
}

/// Decodes link text made by [`encode`].
pub fn decode(link: &str) -> Result<SharePayload, LinkError> {
    let (version, data) = link.trim().split_once('.').ok_or(LinkError::NoVersion)?;
    let version = version.strip_prefix('v').ok_or(LinkError::NoVersion)?;
    if version != LINK_VERSION.to_string() {
        return Err(LinkError::UnknownVersion(version.chars().take(12).collect()));
    }
    let compressed = URL_SAFE_NO_PAD.decode(data).map_err(|_| LinkError::Base64)?;
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&compressed, MAX_PAYLOAD_BYTES)
        .map_err(|_| LinkError::Deflate)?;
    serde_json::from_slice(&json).map_err(|err| LinkError::Payload(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> SharePayload {
        SharePayload { id: "demo".into(), text: "---\nid: demo\n---\nhello ".repeat(20), profile: "ci".into() }
    }

    #[test]
    fn round_trip() {
        let link = encode(&payload());
        assert!(link.starts_with("v1."));
        assert!(link.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        assert_eq!(decode(&link), Ok(payload()));
    }

    proptest::proptest! {
        /// Random text and random bytes behind a valid prefix never panic.
        #[test]
        fn random_input_never_panics(text in ".{0,200}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = decode(&text);
            let _ = decode(&format!("v1.{text}"));
            let _ = decode(&format!("v1.{}", URL_SAFE_NO_PAD.encode(&bytes)));
            let _ = decode(&format!("v1.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(&bytes, 6))));
        }
    }

    #[test]
    fn broken_links_are_reported() {
        let link = encode(&payload());
        assert_eq!(decode("garbage"), Err(LinkError::NoVersion));
        assert_eq!(decode("v9.abc"), Err(LinkError::UnknownVersion("9".into())));
        assert_eq!(decode("v1.@@@"), Err(LinkError::Base64));
        let truncated = &link[..link.len() / 2];
        assert!(matches!(decode(truncated), Err(LinkError::Deflate | LinkError::Base64)));
        let other = format!("v1.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(b"[1,2]", 6)));
        assert!(matches!(decode(&other), Err(LinkError::Payload(_))));
        for cut in 0..link.len() {
            assert!(decode(&link[..cut]).is_err(), "prefix of length {cut} decoded");
        }
    }
}
