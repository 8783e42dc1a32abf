//! Rekor checkpoints: signed notes that commit the log to a tree size and root hash.
//!
//! Format (transparency-dev "signed note"): a body of lines `origin`, `tree size` (decimal),
//! `root hash` (standard base64) and optional extension lines, each ending in `\n`; a blank
//! line; then one or more signature lines `— <signer name> <base64(key hint ‖ signature)>`.
//! For an ECDSA log key the key hint is the first 4 bytes of the log ID and the signature is
//! ASN.1 DER ECDSA-SHA256 over the body bytes (through the final `\n` before the blank line).

use base64::Engine as _;
use p256::ecdsa::DerSignature;
use p256::ecdsa::signature::Verifier as _;
use subtle::ConstantTimeEq;

use super::trust::LogKey;

/// A checkpoint's signed content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Tree size committed to.
    pub tree_size: u64,
    /// Root hash committed to.
    pub root_hash: [u8; 32],
}

/// Why a checkpoint is refused. Each variant names the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// No blank line separates body and signatures, or the body has fewer than 3 lines.
    #[error("malformed checkpoint note")]
    Malformed,
    /// The origin does not name the pinned log.
    #[error("checkpoint origin {0:?} is not the pinned log's")]
    Origin(String),
    /// The size line is not a decimal number, or the root line is not a 32-byte base64 hash.
    #[error("checkpoint {0} line is malformed")]
    Line(&'static str),
    /// No signature line by the pinned log's name and key hint.
    #[error("no checkpoint signature by the pinned log key")]
    NoSignature,
    /// The pinned log's signature does not verify.
    #[error("checkpoint signature does not verify with the pinned log key")]
    BadSignature,
    /// The checkpoint commits to a different tree than the inclusion proof.
    #[error("checkpoint {0} differs from the inclusion proof's")]
    Inconsistent(&'static str),
}

/// Verifies the checkpoint's signature with `key`, and returns its content.
pub fn verify_checkpoint(text: &str, key: &LogKey) -> Result<Checkpoint, CheckpointError> {
    let split = text.find("\n\n").ok_or(CheckpointError::Malformed)?;
    let body = &text[..split + 1];
    let signatures = &text[split + 2..];
    let checkpoint = parse_body(body, key)?;
    let hint = &key.log_id[..4];
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else { continue };
        let Some((name, b64)) = rest.split_once(' ') else { continue };
        if name != key.origin {
            continue;
        }
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else { continue };
        if raw.len() < 5 || !bool::from(raw[..4].ct_eq(hint)) {
            continue;
        }
        let signature = DerSignature::try_from(&raw[4..]).map_err(|_| CheckpointError::BadSignature)?;
        key.key.verify(body.as_bytes(), &signature).map_err(|_| CheckpointError::BadSignature)?;
        return Ok(checkpoint);
    }
    Err(CheckpointError::NoSignature)
}

fn parse_body(body: &str, key: &LogKey) -> Result<Checkpoint, CheckpointError> {
    let mut lines = body.lines();
    let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(CheckpointError::Malformed);
    };
    let ours = origin == key.origin || origin.strip_prefix(key.origin.as_str()).is_some_and(|r| r.starts_with(" - "));
    if !ours {
        return Err(CheckpointError::Origin(origin.to_owned()));
    }
    if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CheckpointError::Line("size"));
    }
    let tree_size = size.parse::<u64>().map_err(|_| CheckpointError::Line("size"))?;
    let root = base64::engine::general_purpose::STANDARD.decode(root).map_err(|_| CheckpointError::Line("root"))?;
    let root_hash: [u8; 32] = root.try_into().map_err(|_| CheckpointError::Line("root"))?;
    Ok(Checkpoint { origin: origin.to_owned(), tree_size, root_hash })
}

/// Checks that the checkpoint commits to the same tree as the inclusion proof (size and root,
/// root compared in constant time).
pub fn check_consistent(checkpoint: &Checkpoint, tree_size: u64, root_hash: &[u8; 32]) -> Result<(), CheckpointError> {
    if checkpoint.tree_size != tree_size {
        return Err(CheckpointError::Inconsistent("tree size"));
    }
    if !bool::from(checkpoint.root_hash.ct_eq(root_hash)) {
        return Err(CheckpointError::Inconsistent("root hash"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;

    /// A test log: a fixed signing key and its [`LogKey`].
    pub(crate) fn test_log() -> (SigningKey, LogKey) {
        let signing = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = signing.verifying_key().to_sec1_point(false);
        let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
        spki.extend_from_slice(point.as_bytes());
        let key = LogKey::from_spki_der(&spki, "rekor.sigstore.dev").unwrap();
        (signing, key)
    }

    /// A checkpoint for `size`/`root` signed by `signing`.
    pub(crate) fn sign_checkpoint(signing: &SigningKey, key: &LogKey, size: u64, root: &[u8; 32]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = format!("rekor.sigstore.dev - 42\n{size}\n{}\n", b64.encode(root));
        let sig: DerSignature = signing.sign(body.as_bytes());
        let mut raw = key.log_id[..4].to_vec();
        raw.extend_from_slice(sig.as_bytes());
        format!("{body}\n\u{2014} rekor.sigstore.dev {}\n", b64.encode(raw))
    }

    #[test]
    fn valid_checkpoint_verifies_and_matches() {
        let (signing, key) = test_log();
        let text = sign_checkpoint(&signing, &key, 10, &[3; 32]);
        let cp = verify_checkpoint(&text, &key).unwrap();
        assert_eq!((cp.tree_size, cp.root_hash), (10, [3; 32]));
        assert_eq!(check_consistent(&cp, 10, &[3; 32]), Ok(()));
        assert_eq!(check_consistent(&cp, 11, &[3; 32]), Err(CheckpointError::Inconsistent("tree size")));
        assert_eq!(check_consistent(&cp, 10, &[4; 32]), Err(CheckpointError::Inconsistent("root hash")));
    }

    #[test]
    fn tampered_or_foreign_checkpoints_fail() {
        let (signing, key) = test_log();
        let text = sign_checkpoint(&signing, &key, 10, &[3; 32]);
        let bigger = text.replacen("\n10\n", "\n11\n", 1);
        assert_eq!(verify_checkpoint(&bigger, &key), Err(CheckpointError::BadSignature));
        let other = SigningKey::from_slice(&[9u8; 32]).unwrap();
        assert_eq!(
            verify_checkpoint(&sign_checkpoint(&other, &key, 10, &[3; 32]), &key),
            Err(CheckpointError::BadSignature)
        );
        let renamed = text.replace("\u{2014} rekor.sigstore.dev ", "\u{2014} other.example ");
        assert_eq!(verify_checkpoint(&renamed, &key), Err(CheckpointError::NoSignature));
        let origin = text.replacen("rekor.sigstore.dev - 42", "evil.example - 42", 1);
        assert!(matches!(verify_checkpoint(&origin, &key), Err(CheckpointError::Origin(_))));
        assert_eq!(verify_checkpoint("no blank line", &key), Err(CheckpointError::Malformed));
        assert_eq!(verify_checkpoint("rekor.sigstore.dev\n\n", &key), Err(CheckpointError::Malformed));
        let size = text.replacen("\n10\n", "\n+10\n", 1);
        assert_eq!(verify_checkpoint(&size, &key), Err(CheckpointError::Line("size")));
    }
}
