//! Provider attestation URLs, byte-for-byte as teep builds them (`capture-replay.md` §4.2).
//!
//! Every builder takes the client nonce as its 64-character lower-case hex rendering, the
//! form in which it is sent and compared everywhere. Base URLs are used as plain strings:
//! teep appends the path to the configured base without normalising slashes, then sets the
//! query with Go's form encoding. A base URL must therefore carry no query or fragment (none of
//! the defaults does; teep would merge an existing query, this port does not support one).

use super::query::{go_form_encode, go_path_escape};
use super::{MIB, PlannedRequest};

/// Default Venice base URL.
pub const VENICE_BASE_URL: &str = "https://api.venice.ai";
/// Default neardirect base URL; its host means "discover the model's own host first".
pub const NEARDIRECT_BASE_URL: &str = "https://completions.near.ai";
/// The nearcloud gateway host (fixed; the configured base URL is not used for attestation).
pub const NEARCLOUD_HOST: &str = "cloud-api.near.ai";
/// Default NanoGPT base URL (the `/api` prefix is part of the base).
pub const NANOGPT_BASE_URL: &str = "https://nano-gpt.com/api";
/// Default Phala Cloud (RedPill) base URL.
pub const PHALACLOUD_BASE_URL: &str = "https://api.redpill.ai";
/// Default Chutes platform API base URL (instances, evidence, E2EE invoke).
pub const CHUTES_BASE_URL: &str = "https://api.chutes.ai";

/// NEAR endpoint discovery: model → model host (`GET`, no credentials). Not recorded in
/// captures; replay recovers the host from the recorded attestation URL instead.
pub const NEAR_ENDPOINTS_URL: &str = "https://completions.near.ai/endpoints";
/// Chutes model list used to resolve a model name to a chute UUID (`GET`, bearer auth). Always
/// on the LLM gateway, whatever the configured base. Not recorded in captures; replay takes
/// the UUID from the recorded `/e2e/instances/<uuid>` URL instead.
pub const CHUTES_MODELS_URL: &str = "https://llm.chutes.ai/v1/models";

/// The endpoint-discovery request (1 MiB response limit, no credentials).
pub fn near_endpoints_request() -> PlannedRequest {
    PlannedRequest::get(NEAR_ENDPOINTS_URL.to_owned(), MIB)
}

/// The Chutes model-list request (1 MiB response limit; the caller adds the bearer token).
pub fn chutes_models_request() -> PlannedRequest {
    PlannedRequest::get(CHUTES_MODELS_URL.to_owned(), MIB)
}

/// Path of the NEAR (neardirect and nearcloud) attestation report.
pub const NEAR_ATTESTATION_PATH: &str = "/v1/attestation/report";

fn with_query(mut url: String, pairs: &[(&str, &str)]) -> String {
    url.push('?');
    url.push_str(&go_form_encode(pairs));
    url
}

/// `GET {base}/api/v1/tee/attestation?model=<m>&nonce=<hex>` (Venice).
pub fn venice_attestation_url(base: &str, model: &str, nonce_hex: &str) -> String {
    with_query(format!("{base}/api/v1/tee/attestation"), &[("model", model), ("nonce", nonce_hex)])
}

/// True when teep's `verify` would resolve the model host through [`NEAR_ENDPOINTS_URL`]
/// for a configured neardirect base whose host (without port) is `host`: `api.near.ai` or
/// `completions.near.ai`, compared case-insensitively. Any other host is used as is.
pub fn neardirect_needs_discovery(host: &str) -> bool {
    host.eq_ignore_ascii_case("api.near.ai") || host.eq_ignore_ascii_case("completions.near.ai")
}

/// Path and query of the neardirect attestation request, as written on a pinned connection:
/// `/v1/attestation/report?include_tls_fingerprint=true&nonce=<hex>&signing_algo=ed25519`
/// (no `model` parameter).
pub fn neardirect_attestation_target(nonce_hex: &str) -> String {
    with_query(
        NEAR_ATTESTATION_PATH.to_owned(),
        &[("nonce", nonce_hex), ("include_tls_fingerprint", "true"), ("signing_algo", "ed25519")],
    )
}

/// `GET https://<model_host>/v1/attestation/report?include_tls_fingerprint=true&nonce=<hex>&signing_algo=ed25519`
/// (neardirect; `model_host` as discovered, possibly `host:port`).
pub fn neardirect_attestation_url(model_host: &str, nonce_hex: &str) -> String {
    format!("https://{model_host}{}", neardirect_attestation_target(nonce_hex))
}

/// Path and query of the nearcloud attestation request:
/// `/v1/attestation/report?include_tls_fingerprint=true&model=<m>&nonce=<hex>&signing_algo=ed25519`.
pub fn nearcloud_attestation_target(model: &str, nonce_hex: &str) -> String {
    with_query(
        NEAR_ATTESTATION_PATH.to_owned(),
        &[("model", model), ("nonce", nonce_hex), ("include_tls_fingerprint", "true"), ("signing_algo", "ed25519")],
    )
}

/// `GET https://cloud-api.near.ai/v1/attestation/report?include_tls_fingerprint=true&model=<m>&nonce=<hex>&signing_algo=ed25519`
/// (nearcloud; the host is fixed).
pub fn nearcloud_attestation_url(model: &str, nonce_hex: &str) -> String {
    format!("https://{NEARCLOUD_HOST}{}", nearcloud_attestation_target(model, nonce_hex))
}

/// `GET {base}/v1/tee/attestation?model=<m>&nonce=<hex>` (NanoGPT; the default base ends in
/// `/api`).
pub fn nanogpt_attestation_url(base: &str, model: &str, nonce_hex: &str) -> String {
    with_query(format!("{base}/v1/tee/attestation"), &[("model", model), ("nonce", nonce_hex)])
}

/// `GET {base}/v1/attestation/report?model=<m>&nonce=<hex>` (Phala Cloud).
pub fn phalacloud_attestation_url(base: &str, model: &str, nonce_hex: &str) -> String {
    with_query(format!("{base}/v1/attestation/report"), &[("model", model), ("nonce", nonce_hex)])
}

/// Chutes' test for "the model is already a chute UUID" (then no [`CHUTES_MODELS_URL`]
/// lookup happens): 36 characters, exactly five `-`-separated groups, every other character
/// a hex digit of either case. Group lengths are not checked (teep's rule).
pub fn chutes_looks_like_uuid(s: &str) -> bool {
    s.len() == 36 && s.split('-').count() == 5 && s.bytes().filter(|&b| b != b'-').all(|b| b.is_ascii_hexdigit())
}

/// `GET {base}/e2e/instances/<chute>` — the first Chutes request (instance discovery, no
/// query). The chute id is path-escaped as Go's `url.PathEscape` does.
pub fn chutes_instances_url(base: &str, chute_id: &str) -> String {
    format!("{base}/e2e/instances/{}", go_path_escape(chute_id))
}

/// `GET {base}/chutes/<chute>/evidence?nonce=<hex>` — the second Chutes request.
pub fn chutes_evidence_url(base: &str, chute_id: &str, nonce_hex: &str) -> String {
    with_query(format!("{base}/chutes/{}/evidence", go_path_escape(chute_id)), &[("nonce", nonce_hex)])
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &str = "ac82eb750ec4cfbb273f90d33567776bfae8657e2a43f6dff2f3adad9b86095a";

    #[test]
    fn venice() {
        assert_eq!(
            venice_attestation_url(VENICE_BASE_URL, "e2ee-qwen3-5-122b-a10b", N),
            format!("https://api.venice.ai/api/v1/tee/attestation?model=e2ee-qwen3-5-122b-a10b&nonce={N}")
        );
        // No slash normalisation, as in teep.
        assert!(venice_attestation_url("https://x/", "m", N).starts_with("https://x//api/v1/tee/attestation?"));
    }

    #[test]
    fn near() {
        assert_eq!(
            neardirect_attestation_url("qwen35-122b.completions.near.ai", N),
            format!(
                "https://qwen35-122b.completions.near.ai/v1/attestation/report?include_tls_fingerprint=true&nonce={N}&signing_algo=ed25519"
            )
        );
        assert_eq!(
            nearcloud_attestation_url("Qwen/Qwen3.5-122B-A10B", N),
            format!(
                "https://cloud-api.near.ai/v1/attestation/report?include_tls_fingerprint=true&model=Qwen%2FQwen3.5-122B-A10B&nonce={N}&signing_algo=ed25519"
            )
        );
        assert!(
            nearcloud_attestation_target("a b", N)
                .starts_with("/v1/attestation/report?include_tls_fingerprint=true&model=a+b&")
        );
        assert!(neardirect_needs_discovery("Completions.Near.AI"));
        assert!(neardirect_needs_discovery("api.near.ai"));
        assert!(!neardirect_needs_discovery("qwen35-122b.completions.near.ai"));
    }

    #[test]
    fn gateways() {
        assert_eq!(
            nanogpt_attestation_url(NANOGPT_BASE_URL, "TEE/gemma-3-27b-it", N),
            format!("https://nano-gpt.com/api/v1/tee/attestation?model=TEE%2Fgemma-3-27b-it&nonce={N}")
        );
        assert_eq!(
            phalacloud_attestation_url(PHALACLOUD_BASE_URL, "phala/deepseek-v3.2", N),
            format!("https://api.redpill.ai/v1/attestation/report?model=phala%2Fdeepseek-v3.2&nonce={N}")
        );
    }

    #[test]
    fn chutes() {
        let id = "e51e818e-fa63-570d-9f68-49d7d1b4d12f";
        assert_eq!(chutes_instances_url(CHUTES_BASE_URL, id), format!("https://api.chutes.ai/e2e/instances/{id}"));
        assert_eq!(
            chutes_evidence_url(CHUTES_BASE_URL, id, N),
            format!("https://api.chutes.ai/chutes/{id}/evidence?nonce={N}")
        );
        assert_eq!(chutes_instances_url(CHUTES_BASE_URL, "a/b"), "https://api.chutes.ai/e2e/instances/a%2Fb");
        assert!(chutes_looks_like_uuid(id));
        assert_eq!(chutes_models_request().url, "https://llm.chutes.ai/v1/models");
        assert_eq!(near_endpoints_request().url, "https://completions.near.ai/endpoints");
        assert!(chutes_looks_like_uuid("E51E818E-FA63-570D-9F68-49D7D1B4D12F"));
        assert!(chutes_looks_like_uuid("e51e818efa63-570d-9f68-49d7-d1b4d12f")); // group lengths unchecked
        assert!(!chutes_looks_like_uuid("zai-org/GLM-5-TEE"));
        assert!(!chutes_looks_like_uuid("g51e818e-fa63-570d-9f68-49d7d1b4d12f"));
        assert!(!chutes_looks_like_uuid("e51e818e-fa63-570d-9f68-49d7d1b4d12"));
    }
}
