//! What a provider is, as data: default base URL, connection mode, E2EE default, the upstream
//! path of each OpenAI-compatible endpoint, the `provider:model` naming, and the model listing
//! (which upstream models are offered, with their ids rewritten to `provider:id`).
//!
//! Follows the current reference behaviour (`proxy-and-cli.md` §3–5, "latest" where the seed
//! and latest differ): Phala Cloud's base is `https://api.redpill.ai` with `/v1/...` paths;
//! NEAR listings keep the models `owned_by` `nearai`.

use serde_json::Value;

use super::ProviderKind;

/// An OpenAI-compatible endpoint the proxy serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `POST /v1/audio/transcriptions` (multipart).
    AudioTranscriptions,
    /// `POST /v1/images/generations`.
    Images,
    /// `POST /v1/rerank`.
    Rerank,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 5] =
        [Endpoint::Chat, Endpoint::Embeddings, Endpoint::AudioTranscriptions, Endpoint::Images, Endpoint::Rerank];

    /// The path a client uses on the local proxy.
    pub fn local_path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/v1/chat/completions",
            Endpoint::Embeddings => "/v1/embeddings",
            Endpoint::AudioTranscriptions => "/v1/audio/transcriptions",
            Endpoint::Images => "/v1/images/generations",
            Endpoint::Rerank => "/v1/rerank",
        }
    }

    /// The endpoint a local path names, if any.
    pub fn from_local_path(path: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.local_path() == path)
    }
}

/// How requests travel to a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionMode {
    /// Web PKI TLS; confidentiality from the enclave comes from body E2EE (when on).
    Tls,
    /// The TLS connection itself is attested: its leaf SPKI must equal the one bound in the
    /// attestation before a request byte is written (neardirect, nearcloud).
    PinnedTls,
}

/// A provider's fixed facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Which provider.
    pub kind: ProviderKind,
    /// Base URL used when the provider comes from its API-key environment variable.
    pub default_base_url: &'static str,
    /// Plain or attested TLS.
    pub connection: ConnectionMode,
    /// Whether body E2EE is on by default.
    pub e2ee_default: bool,
    /// Where its model list is fetched (`None`: it has no list).
    pub models_url: Option<&'static str>,
}

impl ProviderKind {
    /// The provider's fixed facts.
    pub fn descriptor(self) -> Descriptor {
        let (default_base_url, connection, models_url) = match self {
            ProviderKind::Venice => ("https://api.venice.ai", ConnectionMode::Tls, Some("https://api.venice.ai/api/v1/models")),
            ProviderKind::NearDirect => {
                ("https://completions.near.ai", ConnectionMode::PinnedTls, Some("https://cloud-api.near.ai/v1/models"))
            }
            ProviderKind::NearCloud => {
                ("https://cloud-api.near.ai", ConnectionMode::PinnedTls, Some("https://cloud-api.near.ai/v1/models"))
            }
            ProviderKind::Chutes => ("https://api.chutes.ai", ConnectionMode::Tls, Some("https://llm.chutes.ai/v1/models")),
            ProviderKind::PhalaCloud => ("https://api.redpill.ai", ConnectionMode::Tls, Some("https://api.redpill.ai/v1/models")),
            ProviderKind::NanoGpt => ("https://nano-gpt.com/api", ConnectionMode::Tls, None),
        };
        Descriptor { kind: self, default_base_url, connection, e2ee_default: self.e2ee_by_default(), models_url }
    }

    /// The upstream path of `endpoint` (appended to the inference base), or `None` where the
    /// provider does not offer it (the proxy answers 400, never a guess).
    pub fn upstream_path(self, endpoint: Endpoint) -> Option<&'static str> {
        use Endpoint as E;
        use ProviderKind as P;
        match (self, endpoint) {
            (P::Venice, E::Chat) => Some("/api/v1/chat/completions"),
            (P::NearDirect, e) => Some(e.local_path()),
            (P::NearCloud, E::Chat | E::Images | E::Embeddings | E::Rerank) => Some(endpoint.local_path()),
            (P::NanoGpt, E::Chat) => Some("/v1/chat/completions"),
            (P::PhalaCloud, E::Chat | E::Embeddings) => Some(endpoint.local_path()),
            (P::Chutes, E::Chat | E::Embeddings) => Some(endpoint.local_path()),
            _ => None,
        }
    }

    /// Where inference requests go: the configured base URL, except Chutes, whose inference
    /// host is fixed (its configured base serves attestation, the nonce pool and E2EE invoke).
    pub fn inference_base(self, base_url: &str) -> String {
        match self {
            ProviderKind::Chutes => "https://llm.chutes.ai".to_owned(),
            _ => base_url.trim_end_matches('/').to_owned(),
        }
    }
}

/// A client model name resolved to a provider and its upstream model id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRoute {
    /// The provider.
    pub provider: ProviderKind,
    /// The model as the provider knows it (everything after the first `:`).
    pub model: String,
}

/// Why a client model name does not route.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No `provider:` prefix, or an empty half.
    #[error("unknown model {0:?}: use provider:model format (e.g. venice:qwen3-5b)")]
    NotPrefixed(String),
    /// The prefix is not an active provider.
    #[error("unknown provider {provider:?} in model {model:?} (active providers: {})", .active.join(", "))]
    UnknownProvider {
        /// The prefix.
        provider: String,
        /// The whole name.
        model: String,
        /// The providers that would route.
        active: Vec<&'static str>,
    },
}

/// Splits `name` at its first `:` into an active provider and the upstream model (which may
/// itself contain `:` or `/`).
pub fn route_model(name: &str, active: &[ProviderKind]) -> Result<ModelRoute, RouteError> {
    let Some((prefix, model)) = name.split_once(':').filter(|(p, m)| !p.is_empty() && !m.is_empty()) else {
        return Err(RouteError::NotPrefixed(name.to_owned()));
    };
    match active.iter().find(|p| p.name() == prefix) {
        Some(&provider) => Ok(ModelRoute { provider, model: model.to_owned() }),
        None => Err(RouteError::UnknownProvider {
            provider: prefix.to_owned(),
            model: name.to_owned(),
            active: active.iter().map(|p| p.name()).collect(),
        }),
    }
}

/// Largest model listing read.
pub const MAX_MODEL_LIST_BYTES: usize = 1024 * 1024;
/// Largest number of entries kept from one listing.
pub const MAX_MODEL_ENTRIES: usize = 10_000;

/// Why a model listing was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelListError {
    /// Larger than [`MAX_MODEL_LIST_BYTES`].
    #[error("model list is {0} bytes, over the limit")]
    TooLarge(usize),
    /// Not `{"data":[...]}` JSON.
    #[error("model list is not a JSON object with a data array: {0}")]
    Malformed(String),
    /// An entry the provider's filter must read does not parse.
    #[error("model list entry {index}: {reason}")]
    BadEntry {
        /// Position in `data`.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The models `provider` offers through teep, from its listing answer: the provider's filter
/// applied (confidential models only), each entry kept whole with its `id` rewritten to
/// `provider:id`. Entries without a string `id` are dropped.
pub fn offered_models(provider: ProviderKind, body: &[u8]) -> Result<Vec<Value>, ModelListError> {
    if body.len() > MAX_MODEL_LIST_BYTES {
        return Err(ModelListError::TooLarge(body.len()));
    }
    let root: Value = serde_json::from_slice(body).map_err(|e| ModelListError::Malformed(e.to_string()))?;
    let data = root.get("data").and_then(Value::as_array).ok_or_else(|| ModelListError::Malformed("no data array".into()))?;
    let mut out = Vec::new();
    for (index, entry) in data.iter().take(MAX_MODEL_ENTRIES).enumerate() {
        if !offered(provider, entry).map_err(|reason| ModelListError::BadEntry { index, reason })? {
            continue;
        }
        let (Some(id), Some(object)) = (entry.get("id").and_then(Value::as_str), entry.as_object()) else { continue };
        let mut object = object.clone();
        object.insert("id".into(), Value::String(format!("{}:{id}", provider.name())));
        out.push(Value::Object(object));
    }
    Ok(out)
}

/// The provider's listing filter for one entry.
fn offered(provider: ProviderKind, entry: &Value) -> Result<bool, String> {
    let flag = |pointer: &str| entry.pointer(pointer).and_then(Value::as_bool).unwrap_or(false);
    Ok(match provider {
        ProviderKind::Venice => {
            flag("/model_spec/capabilities/supportsTeeAttestation") || flag("/model_spec/capabilities/supportsE2EE")
        }
        ProviderKind::NearDirect | ProviderKind::NearCloud => entry.get("owned_by").and_then(Value::as_str) == Some("nearai"),
        ProviderKind::Chutes => match entry.get("confidential_compute") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(format!("confidential_compute is {other}, not a boolean")),
        },
        ProviderKind::PhalaCloud => true,
        ProviderKind::NanoGpt => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProviderKind as P;

    #[test]
    fn every_provider_has_chat_and_unsupported_endpoints_are_none() {
        for p in P::ALL {
            assert!(p.upstream_path(Endpoint::Chat).is_some(), "{p}");
        }
        assert_eq!(P::Venice.upstream_path(Endpoint::Chat), Some("/api/v1/chat/completions"));
        assert_eq!(P::Venice.upstream_path(Endpoint::Embeddings), None);
        assert_eq!(P::NearDirect.upstream_path(Endpoint::AudioTranscriptions), Some("/v1/audio/transcriptions"));
        assert_eq!(P::NearCloud.upstream_path(Endpoint::AudioTranscriptions), None);
        assert_eq!(P::NanoGpt.upstream_path(Endpoint::Images), None);
        assert_eq!(P::Chutes.inference_base("https://api.chutes.ai"), "https://llm.chutes.ai");
        assert_eq!(P::Venice.inference_base("https://api.venice.ai/"), "https://api.venice.ai");
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::from_local_path(e.local_path()), Some(e));
        }
        assert_eq!(Endpoint::from_local_path("/v1/chat/completions/"), None);
    }

    #[test]
    fn only_the_near_providers_pin_tls() {
        for p in P::ALL {
            let pinned = p.descriptor().connection == ConnectionMode::PinnedTls;
            assert_eq!(pinned, matches!(p, P::NearDirect | P::NearCloud), "{p}");
            assert!(p.descriptor().default_base_url.starts_with("https://"));
        }
    }

    #[test]
    fn model_names_route_on_the_first_colon() {
        let active = [P::Venice, P::Chutes];
        assert_eq!(
            route_model("chutes:zai-org/GLM-5:TEE", &active),
            Ok(ModelRoute { provider: P::Chutes, model: "zai-org/GLM-5:TEE".into() })
        );
        for bad in ["qwen3", ":m", "venice:", ""] {
            let err = route_model(bad, &active).unwrap_err();
            assert!(err.to_string().contains("use provider:model format"), "{bad}: {err}");
        }
        let err = route_model("nearcloud:m", &active).unwrap_err().to_string();
        assert!(err.contains("\"nearcloud\"") && err.contains("venice, chutes"), "{err}");
    }

    #[test]
    fn listings_keep_confidential_models_and_prefix_ids() {
        let chutes = br#"{"data":[{"id":"a","confidential_compute":true,"x":1},{"id":"b","confidential_compute":false},{"id":"c"}]}"#;
        let models = offered_models(P::Chutes, chutes).unwrap();
        assert_eq!(models.len(), 1);
        assert_eq!(models[0]["id"], "chutes:a");
        assert_eq!(models[0]["x"], 1, "upstream fields are kept");
        let bad = br#"{"data":[{"id":"a","confidential_compute":"yes"}]}"#;
        assert!(matches!(offered_models(P::Chutes, bad), Err(ModelListError::BadEntry { index: 0, .. })));

        let venice = br#"{"data":[{"id":"e","model_spec":{"capabilities":{"supportsE2EE":true}}},{"id":"p","model_spec":{}}]}"#;
        assert_eq!(offered_models(P::Venice, venice).unwrap().len(), 1);
        let near = br#"{"data":[{"id":"n","owned_by":"nearai"},{"id":"o","owned_by":"other"},{"owned_by":"nearai"}]}"#;
        let models = offered_models(P::NearCloud, near).unwrap();
        assert_eq!(models.iter().map(|m| m["id"].as_str().unwrap()).collect::<Vec<_>>(), ["nearcloud:n"]);
        assert!(offered_models(P::NanoGpt, near).unwrap().is_empty());
        assert!(matches!(offered_models(P::PhalaCloud, b"[]"), Err(ModelListError::Malformed(_))));
        assert!(matches!(offered_models(P::PhalaCloud, &vec![b' '; MAX_MODEL_LIST_BYTES + 1]), Err(ModelListError::TooLarge(_))));
    }
}
