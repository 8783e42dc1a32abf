//! Verdicts of Supply chain: `sigstore_verification`, `build_transparency_log`.
//!
//! Gathers the recorded Rekor answers per image digest (presence lookup, provenance lookup,
//! entry fetches in index order) and the bound compose files' repositories, then hands plain
//! data to [`crate::attestation::sigstore`].

use std::collections::BTreeMap;

use super::followups::Purpose;
use super::verdicts::VerdictInputs;
use crate::attestation::compose::{self, ComposeImages};
use crate::attestation::raw::BackendFormat;
use crate::attestation::sigstore::{self, EntryAnswer, LogKey, Presence, Provenance, SupplyChainPolicy};
use crate::attestation::tdx::Quote;
use crate::report::{Factor, Verdict};

/// Inserts this module's verdicts; factors it leaves out keep their parsing-only verdict.
pub(super) fn compute(i: &VerdictInputs<'_>, out: &mut BTreeMap<Factor, Verdict>) {
    let Some(log) = i.trust.rekor() else {
        let broken = Verdict::fail("embedded Rekor key does not parse");
        out.insert(Factor::SigstoreVerification, broken.clone());
        out.insert(Factor::BuildTransparencyLog, broken);
        return;
    };
    let f = i.followups;
    let presence: Vec<(String, Presence)> = f
        .digests
        .iter()
        .enumerate()
        .map(|(d, digest)| (digest.clone(), sigstore::presence_of(f.answers.get(&Purpose::RekorIndex(d)))))
        .collect();
    let provenance: Vec<(String, Provenance)> = presence
        .iter()
        .enumerate()
        .filter(|(_, (_, p))| *p == Presence::Found)
        .map(|(d, (digest, _))| (digest.clone(), provenance_of(i, d, digest, log)))
        .collect();
    let model = bound_images(&i.raw.app_compose, i.model);
    let gateway = match &i.raw.gateway {
        Some(g) => bound_images(&g.app_compose, i.gateway),
        None => ComposeImages::default(),
    };
    let merged = ComposeImages::merge(&model, &gateway);
    let policy = SupplyChainPolicy::default_for(i.provider);
    let inputs = sigstore::SupplyChainInputs {
        provider: i.provider.name(),
        policy: policy.as_ref(),
        chutes_format: i.raw.format == BackendFormat::Chutes,
        compose_hash: &i.raw.compose_hash,
        model_repos: &model.repositories,
        gateway_repos: &gateway.repositories,
        digest_repo: &merged.digest_repository,
        presence: &presence,
        provenance: &provenance,
    };
    out.insert(Factor::SigstoreVerification, sigstore::sigstore_verification(&inputs));
    out.insert(Factor::BuildTransparencyLog, sigstore::build_transparency_log(&inputs));
}

/// Digest `d`'s provenance from its provenance lookup and entry fetches.
fn provenance_of(i: &VerdictInputs<'_>, d: usize, digest: &str, log: &LogKey) -> Provenance {
    let f = i.followups;
    let uuids = f.rekor_uuids.get(&d).map(Vec::as_slice).unwrap_or(&[]);
    let entries: Vec<EntryAnswer<'_>> = uuids
        .iter()
        .enumerate()
        .map(|(u, uuid)| EntryAnswer { uuid, answer: f.answers.get(&Purpose::RekorEntry(d, u)) })
        .collect();
    sigstore::select_provenance(digest, f.answers.get(&Purpose::RekorProvenanceIndex(d)), &entries, log)
}

/// The images of a compose file, only when it is bound to its quote (as the lookups were made).
fn bound_images(app_compose: &str, quote: Option<&Quote>) -> ComposeImages {
    match quote {
        Some(q)
            if !app_compose.is_empty()
                && compose::verify_compose_binding(app_compose, &q.body().mr_config_id).is_ok() =>
        {
            compose::extract_images(app_compose)
        }
        _ => ComposeImages::default(),
    }
}
