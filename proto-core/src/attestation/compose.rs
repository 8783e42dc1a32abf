//! dstack app compose: hash binding input and container image references
//! (`attestation-core.md` §7.4–7.5).
//!
//! The compose manifest (`app_compose`, JSON text) is bound to the TD through MRCONFIGID:
//! `MRCONFIGID[0..33] == 0x01 ‖ SHA-256(app_compose)`. When that binding holds, the
//! `@sha256:` image references in its `docker_compose_file` are the digests looked up in
//! Sigstore/Rekor, in the order extracted here.
//!
//! Extraction reproduces teep's regular expressions literally, including their quirk with
//! `image: ${VAR:-repo@sha256:…}` lines: the captured "repository" is
//! `var:-repo` (lower-cased; `{` is outside the character class), which matches no
//! supply-chain policy. The 2026-06-10 NEAR captures fail `build_transparency_log` because of
//! it; the digest itself is still extracted and looked up.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::attestation::plan::gojson;

/// SHA-256 of the app compose text, exactly as received (after JSON unescaping).
pub fn compose_hash(app_compose: &str) -> [u8; 32] {
    Sha256::digest(app_compose.as_bytes()).into()
}

/// The 33 bytes MRCONFIGID must start with: `0x01 ‖ SHA-256(app_compose)`.
pub fn expected_mrconfigid_prefix(app_compose: &str) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = 0x01;
    out[1..].copy_from_slice(&compose_hash(app_compose));
    out
}

/// Why the compose manifest is not bound to the quote. Messages are teep's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ComposeBindingError {
    /// The quote's MRCONFIGID is empty.
    #[error("MRConfigID is empty")]
    Empty,
    /// The quote's MRCONFIGID is shorter than 33 bytes.
    #[error("MRConfigID too short ({0} bytes), need at least 33")]
    TooShort(usize),
    /// The first 33 bytes differ from `0x01 ‖ SHA-256(app_compose)`.
    #[error("MRConfigID does not match app_compose hash (expected prefix={expected_prefix}, actual={actual})")]
    Mismatch {
        /// Expected 33 bytes, hex.
        expected_prefix: String,
        /// The whole MRCONFIGID, hex.
        actual: String,
    },
}

/// The compose binding check (`VerifyComposeBinding`): `mrconfigid` (48 bytes in a quote)
/// must start with `0x01 ‖ SHA-256(app_compose)`, compared in constant time; the bytes after
/// the first 33 are not checked.
pub fn verify_compose_binding(app_compose: &str, mrconfigid: &[u8]) -> Result<(), ComposeBindingError> {
    if mrconfigid.is_empty() {
        return Err(ComposeBindingError::Empty);
    }
    let expected = expected_mrconfigid_prefix(app_compose);
    if mrconfigid.len() < expected.len() {
        return Err(ComposeBindingError::TooShort(mrconfigid.len()));
    }
    if bool::from(mrconfigid[..33].ct_eq(&expected)) {
        Ok(())
    } else {
        Err(ComposeBindingError::Mismatch { expected_prefix: hex::encode(expected), actual: hex::encode(mrconfigid) })
    }
}

/// At most this many distinct digests are extracted (bounds the Rekor lookups one manifest can
/// trigger).
pub const MAX_IMAGE_DIGESTS: usize = 64;

/// The `docker_compose_file` string of an app compose manifest, read as Go's
/// `json.Unmarshal` into a one-field struct would: key matched exactly or
/// case-insensitively, last duplicate wins, `null` = absent. `None` when the manifest is not
/// a JSON object (or `null`), when that member is not a string, or when it is empty.
pub fn docker_compose_file(app_compose: &str) -> Option<String> {
    let v = gojson::decode_string_struct(app_compose.as_bytes(), &["docker_compose_file"]).ok()?;
    v.into_iter().next().filter(|s| !s.is_empty())
}

/// Image references found in a compose manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComposeImages {
    /// Distinct digests (64 lower-case hex), first-seen order, at most [`MAX_IMAGE_DIGESTS`].
    /// This is the Rekor lookup order.
    pub digests: Vec<String>,
    /// Distinct normalised repositories of digest-pinned references, first-seen order
    /// (not capped).
    pub repositories: Vec<String>,
    /// Digest → repository of its first reference. A digest can lack an entry (a reference with
    /// no repository text right before `@sha256:`).
    pub digest_repository: BTreeMap<String, String>,
}

/// One digest with its repository, in lookup order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Normalised repository, if the reference had one.
    pub repository: Option<&'a str>,
    /// 64 lower-case hex.
    pub digest: &'a str,
}

impl ComposeImages {
    /// The digests in lookup order, each with its repository.
    pub fn image_refs(&self) -> Vec<ImageRef<'_>> {
        self.digests
            .iter()
            .map(|d| ImageRef { repository: self.digest_repository.get(d).map(String::as_str), digest: d })
            .collect()
    }

    /// nearcloud's merge of model and gateway references (`MergeComposeDigests`): model digests,
    /// then gateway digests not already present; the digest → repository map keeps the model's
    /// repository on conflict. `repositories` is the model's list followed by the gateway's
    /// new ones (teep keeps the two lists apart for the report; this merged list is a
    /// convenience). The merged digest list is not re-capped.
    pub fn merge(model: &ComposeImages, gateway: &ComposeImages) -> ComposeImages {
        let mut out = model.clone();
        for d in &gateway.digests {
            if !out.digests.contains(d) {
                out.digests.push(d.clone());
            }
        }
        let mut seen: BTreeSet<String> = out.repositories.iter().cloned().collect();
        for r in &gateway.repositories {
            if seen.insert(r.clone()) {
                out.repositories.push(r.clone());
            }
        }
        for (d, r) in &gateway.digest_repository {
            out.digest_repository.entry(d.clone()).or_insert_with(|| r.clone());
        }
        out
    }
}

/// Extracts image references from an app compose manifest (`ExtractComposeDigests`): from its
/// `docker_compose_file` (see [`docker_compose_file`]) or, failing that, from the whole
/// manifest text. Call only when the compose binding succeeded; teep extracts nothing
/// otherwise.
pub fn extract_images(app_compose: &str) -> ComposeImages {
    match docker_compose_file(app_compose) {
        Some(text) => extract_images_from_text(&text),
        None => extract_images_from_text(app_compose),
    }
}

const SHA256_MARK: &[u8] = b"@sha256:";

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// If `text[at..]` is `@sha256:` followed by 64 lower-case hex digits, the digest's range.
fn digest_at(text: &[u8], at: usize) -> Option<std::ops::Range<usize>> {
    let start = at + SHA256_MARK.len();
    let end = start + 64;
    (text.get(at..start) == Some(SHA256_MARK) && text.get(start..end)?.iter().all(|&b| is_lower_hex(b)))
        .then_some(start..end)
}

/// Characters of teep's reference pattern `[A-Za-z0-9._/:-]`.
fn is_ref_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b':' | b'-')
}

/// Lower-cased, trimmed, and with a tag after the last `/` dropped (`host:5000/ns/img:tag` →
/// `host:5000/ns/img`).
fn normalize_repository(reference: &str) -> String {
    let r = reference.trim().to_ascii_lowercase();
    match (r.rfind(':'), r.rfind('/')) {
        (Some(colon), Some(slash)) if colon > slash => r[..colon].to_owned(),
        (Some(colon), None) => r[..colon].to_owned(),
        _ => r,
    }
}

/// The extraction on plain text (teep's three regular expressions, leftmost-first and
/// non-overlapping like Go's `FindAllStringSubmatch`):
/// * digests: every `@sha256:([0-9a-f]{64})`;
/// * references: every `([A-Za-z0-9._/:-]+)@sha256:([0-9a-f]{64})`, the reference normalised.
pub fn extract_images_from_text(text: &str) -> ComposeImages {
    let bytes = text.as_bytes();
    let mut out = ComposeImages::default();

    // Digests. A match starts with '@', which cannot occur inside one, so scanning every '@'
    // gives Go's non-overlapping matches.
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'@') {
        let at = i + off;
        match digest_at(bytes, at) {
            Some(r) => {
                if out.digests.len() < MAX_IMAGE_DIGESTS {
                    let d = &text[r.clone()];
                    if !out.digests.iter().any(|x| x == d) {
                        out.digests.push(d.to_owned());
                    }
                }
                i = r.end;
            }
            None => i = at + 1,
        }
    }

    // References. From a start position the greedy run of reference characters can only end
    // where the run ends ('@' is not in the class), so a failed start makes every later start
    // inside the same run fail too: skip to the run's end.
    // (Repositories are not capped, so de-duplicate through a set: a hostile manifest of a few
    // MiB must not cost quadratic time.)
    let mut seen_repos = BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_ref_char(bytes[i]) {
            i += 1;
            continue;
        }
        let run_end = i + bytes[i..].iter().position(|&b| !is_ref_char(b)).unwrap_or(bytes.len() - i);
        match digest_at(bytes, run_end) {
            Some(r) => {
                let repo = normalize_repository(&text[i..run_end]);
                if !repo.is_empty() {
                    if seen_repos.insert(repo.clone()) {
                        out.repositories.push(repo.clone());
                    }
                    out.digest_repository.entry(text[r.clone()].to_owned()).or_insert(repo);
                }
                i = r.end;
            }
            None => i = run_end,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    #[test]
    fn hash_and_binding() {
        let compose = "{\"manifest_version\": 2}";
        let h = compose_hash(compose);
        assert_eq!(h, <[u8; 32]>::from(Sha256::digest(compose.as_bytes())));
        let mut mr = [0u8; 48];
        mr[0] = 1;
        mr[1..33].copy_from_slice(&h);
        mr[40] = 0xff; // bytes after 33 are not checked
        assert_eq!(verify_compose_binding(compose, &mr), Ok(()));
        assert_eq!(expected_mrconfigid_prefix(compose)[..], mr[..33]);
        assert_eq!(verify_compose_binding(compose, &[]), Err(ComposeBindingError::Empty));
        assert_eq!(verify_compose_binding(compose, &mr[..32]), Err(ComposeBindingError::TooShort(32)));
        mr[0] = 0;
        let e = verify_compose_binding(compose, &mr).unwrap_err();
        assert!(e.to_string().starts_with("MRConfigID does not match app_compose hash (expected prefix=01"));
        assert!(
            verify_compose_binding(&format!("{compose} "), &{
                let mut m = mr;
                m[0] = 1;
                m
            })
            .is_err()
        );
    }

    #[test]
    fn docker_compose_member() {
        assert_eq!(docker_compose_file(r#"{"docker_compose_file":"services: {}"}"#).as_deref(), Some("services: {}"));
        assert_eq!(docker_compose_file(r#"{"Docker_Compose_File":"a","x":1}"#).as_deref(), Some("a"));
        assert_eq!(docker_compose_file(r#"{"docker_compose_file":""}"#), None);
        assert_eq!(docker_compose_file(r#"{"docker_compose_file":5}"#), None);
        assert_eq!(docker_compose_file("services:\n  a: {}"), None);
        assert_eq!(docker_compose_file("null"), None);
    }

    #[test]
    fn references_and_tags() {
        let (a, b, c) = (d('a'), d('b'), d('c'));
        let text = format!(
            "services:\n  x:\n    image: Registry.example.com:5000/NS/img:v1@sha256:{a}\n  y:\n    image: alpine:3.19@sha256:{b}\n  z:\n    image: ghcr.io/nearai/router@sha256:{a}\n  w:\n    image: \"@sha256:{c}\"\n"
        );
        let got = extract_images_from_text(&text);
        assert_eq!(got.digests, [a.clone(), b.clone(), c.clone()]);
        assert_eq!(got.repositories, ["registry.example.com:5000/ns/img", "alpine", "ghcr.io/nearai/router"]);
        assert_eq!(got.digest_repository.get(&a).map(String::as_str), Some("registry.example.com:5000/ns/img"));
        let refs = got.image_refs();
        assert_eq!(refs[1], ImageRef { repository: Some("alpine"), digest: &b });
        assert_eq!(refs[2], ImageRef { repository: None, digest: &c });
    }

    #[test]
    fn var_default_quirk_is_reproduced() {
        let a = d('4');
        let text = format!("    image: ${{COMPOSE_MANAGER_IMAGE:-nearaidev/compose-manager@sha256:{a}}}\n");
        let got = extract_images_from_text(&text);
        assert_eq!(got.digests, [a]);
        assert_eq!(got.repositories, ["compose_manager_image:-nearaidev/compose-manager"]);
    }

    #[test]
    fn strict_digest_syntax() {
        let upper = d('A');
        let short = &d('a')[..63];
        let long = format!("{}ff", d('e'));
        let text = format!("x@sha256:{upper} y@sha256:{short} z@sha256:{long} @sha512:{}", d('1'));
        let got = extract_images_from_text(&text);
        // 64 of the 66 hex digits match (the regex does not require a boundary).
        assert_eq!(got.digests, [d('e')]);
        assert_eq!(got.repositories, ["z"]);
    }

    #[test]
    fn failed_candidate_restarts_after_the_run() {
        // "a:b" runs into an invalid digest; the next run "sha256:…X" reaches a valid one, and
        // its last ':' (no '/' after it) is taken for a tag separator, as in teep.
        let text = format!("a:b@sha256:{}X@sha256:{}", &d('1')[..63], d('2'));
        let got = extract_images_from_text(&text);
        assert_eq!(got.digests, [d('2')]);
        assert_eq!(got.repositories, ["sha256"]);
        // Back-to-back references: the second run starts right after the first digest.
        let text = format!("r1@sha256:{}-r2@sha256:{}", d('3'), d('4'));
        assert_eq!(extract_images_from_text(&text).repositories, ["r1", "-r2"]);
    }

    #[test]
    fn digest_cap_and_json_fallback() {
        let text: String = (0..70).map(|i| format!("img{i}@sha256:{:064x}\n", i)).collect();
        let got = extract_images_from_text(&text);
        assert_eq!(got.digests.len(), MAX_IMAGE_DIGESTS);
        assert_eq!(got.repositories.len(), 70);
        let inner = format!("image: a/b@sha256:{}", d('5'));
        let manifest = format!(
            "{{\"docker_compose_file\":{},\"pre\":\"c/d@sha256:{}\"}}",
            serde_json::to_string(&inner).unwrap(),
            d('6')
        );
        assert_eq!(extract_images(&manifest).digests, [d('5')]);
        let no_member = format!("{{\"pre\":\"c/d@sha256:{}\"}}", d('6'));
        assert_eq!(extract_images(&no_member).digests, [d('6')]);
    }

    #[test]
    fn many_references_stay_cheap() {
        let text: String = (0..40_000).map(|i| format!("r{i}@sha256:{i:064x}\n")).collect();
        let got = extract_images_from_text(&text);
        assert_eq!((got.digests.len(), got.repositories.len(), got.digest_repository.len()), (64, 40_000, 40_000));
    }

    #[test]
    fn merge_keeps_model_first() {
        let m = extract_images_from_text(&format!("a@sha256:{} b@sha256:{}", d('1'), d('2')));
        let g = extract_images_from_text(&format!("c@sha256:{} z@sha256:{}", d('2'), d('3')));
        let all = ComposeImages::merge(&m, &g);
        assert_eq!(all.digests, [d('1'), d('2'), d('3')]);
        assert_eq!(all.digest_repository.get(&d('2')).map(String::as_str), Some("b"));
        assert_eq!(all.repositories, ["a", "b", "c", "z"]);
    }
}
