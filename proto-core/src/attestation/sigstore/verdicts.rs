//! The two supply-chain factors, from plain per-digest results (`factors.md` rows 25 and 28,
//! and its section 2). Status and wording follow the reference; any failed check fails.

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;

use super::fulcio::Signer;
use super::policy::{ImagePolicy, ProvenanceKind, SupplyChainPolicy};
use super::provenance::{Presence, Provenance, Selected, short_uuid};
use crate::report::Verdict;

/// Everything the two factors read.
#[derive(Clone, Copy, Debug)]
pub struct SupplyChainInputs<'a> {
    /// Provider name, for messages.
    pub provider: &'a str,
    /// The provider's policy, if it has one.
    pub policy: Option<&'a SupplyChainPolicy>,
    /// The attestation is in the Chutes format.
    pub chutes_format: bool,
    /// The attestation's `compose_hash` field (may be empty).
    pub compose_hash: &'a str,
    /// Repositories of digest-pinned images in the bound model compose file.
    pub model_repos: &'a [String],
    /// Repositories of digest-pinned images in the bound gateway compose file.
    pub gateway_repos: &'a [String],
    /// Digest → repository (model's on conflict).
    pub digest_repo: &'a BTreeMap<String, String>,
    /// Presence lookup per digest, in lookup order.
    pub presence: &'a [(String, Presence)],
    /// Provenance per digest that was present, in lookup order.
    pub provenance: &'a [(String, Provenance)],
}

const CHUTES_DIGESTS: &str =
    "chutes attestation does not include container image digests; cosign verification is validator-side only";
const CHUTES_METADATA: &str =
    "chutes attestation does not include container image metadata; supply chain verification is validator-side only";

/// `sigstore_verification`: every digest is in the log, except compose-pinned ones.
pub fn sigstore_verification(i: &SupplyChainInputs<'_>) -> Verdict {
    if i.presence.is_empty() {
        return Verdict::skip(if i.chutes_format { CHUTES_DIGESTS } else { "no image digests to verify" });
    }
    let mut compose_only = 0usize;
    for (digest, presence) in i.presence {
        let failure = match presence {
            Presence::Found => continue,
            Presence::NotFound => "HTTP 404".to_owned(),
            Presence::Error(e) => e.clone(),
        };
        let pinned = i.policy.filter(|_| !i.digest_repo.is_empty()).and_then(|p| p.lookup(repo_of(i, digest)));
        if pinned.is_some_and(|img| img.kind == ProvenanceKind::ComposeBindingOnly) {
            compose_only += 1;
            continue;
        }
        return Verdict::fail(format!("Sigstore check failed for sha256:{} ({failure})", prefix(digest, 16)));
    }
    let found = i.presence.len() - compose_only;
    if compose_only > 0 {
        Verdict::pass(format!(
            "{found} image digest(s) found in Sigstore transparency log; {compose_only} not Sigstore-signed (compose-pinned)"
        ))
    } else {
        Verdict::pass(format!("{found} image digest(s) found in Sigstore transparency log"))
    }
}

/// `build_transparency_log`: repository gate, then every provenance result classified against
/// the policy and checked.
pub fn build_transparency_log(i: &SupplyChainInputs<'_>) -> Verdict {
    if let Some(policy) = i.policy
        && let Some(fail) = repository_gate(i, policy)
    {
        return fail;
    }
    if i.provenance.is_empty() {
        return no_provenance(i);
    }
    let mut tally = Tally::default();
    for (digest, result) in i.provenance {
        let repo = repo_of(i, digest);
        let img = i.policy.and_then(|p| p.lookup(repo));
        if let Err(detail) = count(i, &mut tally, repo, img, result) {
            return Verdict::fail(detail);
        }
    }
    tally.verdict(i.policy.is_some(), i.provenance.len())
}

fn repository_gate(i: &SupplyChainInputs<'_>, policy: &SupplyChainPolicy) -> Option<Verdict> {
    if i.model_repos.is_empty() {
        return Some(Verdict::fail("no attested model image repositories extracted from compose"));
    }
    if let Some(repo) = i.model_repos.iter().find(|r| !policy.allowed_in_model(r)) {
        return Some(Verdict::fail(format!(
            "model container policy: image {repo:?} not in supply chain policy ({})",
            policy.model_repo_names().join(", ")
        )));
    }
    if policy.has_gateway_images() {
        if i.gateway_repos.is_empty() {
            return Some(Verdict::fail("no attested gateway image repositories extracted from compose"));
        }
        if let Some(repo) = i.gateway_repos.iter().find(|r| !policy.allowed_in_gateway(r)) {
            return Some(Verdict::fail(format!(
                "gateway container policy: image {repo:?} not in supply chain policy ({})",
                policy.gateway_repo_names().join(", ")
            )));
        }
    } else if !i.gateway_repos.is_empty() {
        return Some(Verdict::fail(format!(
            "provider {:?} has no gateway images in supply chain policy but {} gateway image repos were extracted",
            i.provider,
            i.gateway_repos.len()
        )));
    }
    None
}

fn no_provenance(i: &SupplyChainInputs<'_>) -> Verdict {
    if i.policy.is_some() {
        Verdict::fail("no Rekor provenance fetched for attested image digests")
    } else if !i.compose_hash.is_empty() {
        Verdict::skip(format!("compose hash present ({}) but no Rekor provenance fetched", ellipsis(i.compose_hash, 8)))
    } else if i.chutes_format {
        Verdict::skip(CHUTES_METADATA)
    } else {
        Verdict::fail("no build transparency log")
    }
}

#[derive(Default)]
struct Tally {
    fulcio: usize,
    present: usize,
    first_commit: Option<String>,
}

impl Tally {
    fn verdict(&self, has_policy: bool, results: usize) -> Verdict {
        let n = self.fulcio + self.present;
        let log = if n > 0 { format!("; log integrity: SET {n}/{n}, inclusion {n}/{n}") } else { String::new() };
        let commit = self.first_commit.clone().unwrap_or_default();
        match (has_policy, self.fulcio, self.present) {
            (true, f, p) if f > 0 && p > 0 => Verdict::pass(format!(
                "{f} image(s) verified by Fulcio provenance; {p} present in Sigstore ({commit}{log})"
            )),
            (true, f, _) if f > 0 => {
                Verdict::pass(format!("{f} image(s) verified by Fulcio provenance ({commit}{log})"))
            }
            (true, _, p) if p > 0 => {
                Verdict::pass(format!("{p} image(s) present in Sigstore (no Fulcio provenance{log})"))
            }
            (false, f, _) if f > 0 => {
                Verdict::pass(format!("{f}/{results} image(s) have Sigstore build provenance ({commit}{log})"))
            }
            _ => Verdict::skip("all images signed with raw keys (no Fulcio build provenance)"),
        }
    }
}

/// Classifies one provenance result and counts it, or says why the factor fails.
fn count(
    i: &SupplyChainInputs<'_>,
    tally: &mut Tally,
    repo: &str,
    img: Option<&ImagePolicy>,
    result: &Provenance,
) -> Result<(), String> {
    let selected = match result {
        Provenance::Selected(s) => s,
        Provenance::Unavailable(e) => {
            return Err(match img {
                Some(p) if p.kind == ProvenanceKind::FulcioSigned => {
                    format!("image {repo:?}: Rekor provenance fetch failed: {e}")
                }
                _ => format!("image {repo:?}: no verified Rekor entry for Sigstore entry ({e})"),
            });
        }
        Provenance::Rejected { uuid, reason } => {
            return Err(format!("image {repo:?}: Rekor entry {}: {reason}", short_uuid(uuid)));
        }
    };
    let fulcio = match (img, i.policy) {
        (Some(p), _) if p.kind == ProvenanceKind::FulcioSigned => {
            check_fulcio_policy(selected, p, repo)?;
            true
        }
        (Some(p), _) => {
            check_key_pin(selected, p, repo)?;
            false
        }
        (None, None) => match &selected.signer {
            Signer::Fulcio { fields, .. } if fields.oidc_issuer != super::policy::GITHUB_OIDC_ISSUER => {
                return Err(format!("unexpected OIDC issuer: {}", fields.oidc_issuer));
            }
            Signer::Fulcio { .. } => true,
            Signer::NonFulcioCert { .. } | Signer::RawKey { .. } => false,
        },
        (None, Some(_)) => return Err(format!("image {repo:?}: not in supply chain policy")),
    };
    if fulcio {
        tally.fulcio += 1;
        if tally.first_commit.is_none()
            && let Signer::Fulcio { fields, .. } = &selected.signer
        {
            tally.first_commit =
                Some(format!("{}@{}, {}", fields.source_repo, prefix(&fields.source_commit, 7), fields.runner_env));
        }
    } else {
        tally.present += 1;
    }
    Ok(())
}

fn check_fulcio_policy(s: &Selected, p: &ImagePolicy, repo: &str) -> Result<(), String> {
    if let Err(e) = &s.dsse
        && !p.no_dsse
    {
        return Err(format!("image {repo:?}: DSSE envelope signature verification failed: {e}"));
    }
    let fields = match &s.signer {
        Signer::Fulcio { fields, .. } => fields,
        Signer::NonFulcioCert { .. } => {
            return Err(format!(
                "image {repo:?}: expected Fulcio certificate but entry has non-Fulcio X.509 cert (no OIDC issuer OID)"
            ));
        }
        Signer::RawKey { .. } => {
            return Err(format!("image {repo:?}: expected Fulcio certificate but entry has raw key"));
        }
    };
    if !eq_fold(&fields.oidc_issuer, p.oidc_issuer) {
        return Err(format!(
            "image {repo:?}: unexpected OIDC issuer {:?} (expected {:?})",
            fields.oidc_issuer, p.oidc_issuer
        ));
    }
    if !p.oidc_identity.is_empty() && !eq_fold(&fields.subject_uri, p.oidc_identity) {
        return Err(format!(
            "image {repo:?}: unexpected OIDC identity {:?} (expected {:?})",
            fields.subject_uri, p.oidc_identity
        ));
    }
    let in_list = |v: &str| !v.trim().is_empty() && p.source_repos.iter().any(|s| eq_fold(v, s));
    if !in_list(&fields.source_repo) && !in_list(&fields.source_repo_url) {
        return Err(format!(
            "image {repo:?}: unexpected source repo {:?} (expected {:?})",
            fields.source_repo.trim(),
            p.source_repos
        ));
    }
    Ok(())
}

fn check_key_pin(s: &Selected, p: &ImagePolicy, repo: &str) -> Result<(), String> {
    let got = s.signer.fingerprint();
    if p.kind != ProvenanceKind::SigstorePresent || p.key_fingerprint.is_empty() || got.is_empty() {
        return Ok(());
    }
    let (a, b) = (hex::decode(got), hex::decode(p.key_fingerprint));
    let same = matches!((&a, &b), (Ok(a), Ok(b)) if bool::from(a.as_slice().ct_eq(b.as_slice())));
    if same {
        Ok(())
    } else {
        Err(format!(
            "image {repo:?}: unexpected signing key fingerprint {} (expected {})",
            ellipsis(got, 16),
            ellipsis(p.key_fingerprint, 16)
        ))
    }
}

/// Trimmed, case-insensitive equality, constant-time over the normalised bytes.
fn eq_fold(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim().to_lowercase(), b.trim().to_lowercase());
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn repo_of<'a>(i: &SupplyChainInputs<'a>, digest: &str) -> &'a str {
    i.digest_repo.get(digest).map(String::as_str).unwrap_or("")
}

fn prefix(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() > n { format!("{}...", prefix(s, n)) } else { s.to_owned() }
}
