//! The provider side: each provider's attestation document built around a fresh quote for the
//! request's nonce, the lookups (NEAR endpoints, Chutes models and instances), the shared
//! services (PCS, NRAS, Rekor, Proof of Cloud), and the inference paths (counted, never served).

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384};

use super::keys::{derive, derive48};
use super::rekor::ImageSource;
use super::tdx::TdMeasurements;
use super::{EnclaveSecret, Misbehaviour, SimResponse, SimWorld};
use crate::attestation::compose;
use crate::attestation::eventlog;
use crate::attestation::policy::MeasurementPolicy;
use crate::attestation::raw::EventLogEntry;
use crate::attestation::reportdata::{chutes_binding_hash, keccak_address, near_binding_hash};
use crate::provider::ProviderKind;

/// The host of the simulated NEAR model node (what endpoint discovery returns).
pub const NEAR_MODEL_HOST: &str = "sim-model.completions.near.ai";
/// The chute UUID of the simulated Chutes model.
pub const CHUTES_CHUTE_ID: &str = "5b0e7a4c-1f2d-5e3a-9b8c-7d6e5f4a3b2c";
/// The simulated Chutes instance that answers 503 (misbehaviour [`Misbehaviour::ChutesInstance503`]).
pub const CHUTES_BAD_INSTANCE: &str = "sim-instance-503";

/// The simulated Chutes instance without evidence (misbehaviour
/// [`Misbehaviour::ChutesInstanceWithoutEvidence`]).
pub const CHUTES_UNATTESTABLE_INSTANCE: &str = "sim-instance-booting";

/// The id of the `n`-th (from 1) healthy simulated Chutes instance.
pub fn chutes_instance_id(n: usize) -> String {
    format!("sim-instance-{n}")
}

/// The images of the simulated compose files, one Rekor entry each.
pub(super) const IMAGES: [ImageSource; 4] = [
    ImageSource {
        image: "nearaidev/compose-manager",
        source_repo: "nearai/compose-manager",
        identity: "https://github.com/nearai/compose-manager/.github/workflows/build.yml@refs/heads/master",
    },
    ImageSource {
        image: "nearaidev/cloud-api",
        source_repo: "nearai/cloud-api",
        identity: "https://github.com/nearai/cloud-api/.github/workflows/build.yml@refs/heads/main",
    },
    ImageSource {
        image: "vllm/vllm-openai",
        source_repo: "vllm-project/vllm",
        identity: "https://github.com/vllm-project/vllm/.github/workflows/release.yml@refs/heads/main",
    },
    ImageSource {
        image: "phalanetwork/vllm-proxy",
        source_repo: "phala-network/vllm-proxy",
        identity: "https://github.com/phala-network/vllm-proxy/.github/workflows/build.yml@refs/heads/main",
    },
];

/// The simulated digest of an image repository.
pub(super) fn image_digest(image: &str) -> String {
    hex::encode(Sha256::digest(format!("teep-sim-image:{image}")))
}

/// The model name verified at `provider`.
pub(super) fn model(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Venice => "e2ee-sim-model",
        ProviderKind::NearDirect | ProviderKind::NearCloud => "sim/Sim-Model-1B",
        ProviderKind::Chutes => "sim/chutes-model-TEE",
        ProviderKind::PhalaCloud => "phala/sim-model",
        ProviderKind::NanoGpt => "TEE/sim-model",
    }
}

const SERVICES: [&str; 7] = [
    "api.trustedservices.intel.com",
    "certificates.trustedservices.intel.com",
    "nras.attestation.nvidia.com",
    "rekor.sigstore.dev",
    "trust-server.scrtlabs.com",
    "trust-server.nillion.network",
    "trust-server.iex.ec",
];

/// Every host a verification of `provider` contacts.
pub(super) fn hosts(provider: ProviderKind) -> Vec<&'static str> {
    let own: &[&'static str] = match provider {
        ProviderKind::Venice => &["api.venice.ai"],
        ProviderKind::NearDirect => &["completions.near.ai", NEAR_MODEL_HOST],
        ProviderKind::NearCloud => &["cloud-api.near.ai"],
        ProviderKind::Chutes => &["api.chutes.ai", "llm.chutes.ai"],
        ProviderKind::PhalaCloud => &["api.redpill.ai"],
        ProviderKind::NanoGpt => &["nano-gpt.com"],
    };
    own.iter().chain(SERVICES.iter()).copied().collect()
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// The enclave key of `provider` (`other`: the key a swapped-key attack serves instead).
pub(super) fn enclave_secret(seed: &[u8; 32], provider: ProviderKind, other: bool) -> EnclaveSecret {
    let label = |what: &str| format!("enclave-{}-{what}{}", provider.name(), if other { "-other" } else { "" });
    match provider {
        ProviderKind::NearDirect | ProviderKind::NearCloud => {
            EnclaveSecret::Ed25519(derive(seed, &label("ed25519"), 0))
        }
        ProviderKind::Chutes => {
            let mut s = [0u8; 64];
            s[..32].copy_from_slice(&derive(seed, &label("mlkem"), 0));
            s[32..].copy_from_slice(&derive(seed, &label("mlkem"), 1));
            EnclaveSecret::MlKem768(s)
        }
        _ => {
            let scalar = (0..)
                .map(|n| derive(seed, &label("secp256k1"), n))
                .find(|b| k256::SecretKey::from_slice(b).is_ok())
                .unwrap_or([1; 32]);
            EnclaveSecret::Secp256k1(scalar)
        }
    }
}

/// The public key as attestations write it: secp256k1 uncompressed hex, Ed25519 hex, ML-KEM
/// encapsulation key base64.
pub(super) fn enclave_public(secret: &EnclaveSecret) -> String {
    match secret {
        EnclaveSecret::Secp256k1(s) => k256::SecretKey::from_slice(s)
            .map(|k| {
                use k256::elliptic_curve::sec1::ToSec1Point as _;
                hex::encode(k.public_key().to_sec1_point(false).as_bytes())
            })
            .unwrap_or_default(),
        EnclaveSecret::Ed25519(s) => hex::encode(ed25519_dalek::SigningKey::from_bytes(s).verifying_key().to_bytes()),
        EnclaveSecret::MlKem768(s) => {
            use ml_kem::KeyExport as _;
            let dk = ml_kem::ml_kem_768::DecapsulationKey::from_seed(ml_kem::Seed::from(*s));
            base64::engine::general_purpose::STANDARD.encode(dk.encapsulation_key().to_bytes().as_slice())
        }
    }
}

/// The dstack signing address of a secp256k1 public key (hex `04‖X‖Y`): `0x` + Keccak address.
fn dstack_address(public_hex: &str) -> ([u8; 20], String) {
    let bytes = hex::decode(public_hex).unwrap_or_default();
    let xy: [u8; 64] = bytes.get(1..65).and_then(|s| s.try_into().ok()).unwrap_or([0; 64]);
    let address = keccak_address(&xy);
    (address, format!("0x{}", hex::encode(address)))
}

// ---------------------------------------------------------------------------------------------
// TDs: measurements, event logs, compose files
// ---------------------------------------------------------------------------------------------

/// A simulated TD: its compose file, event log and measurements.
struct Td {
    app_compose: String,
    event_log: Vec<EventLogEntry>,
    measurements: TdMeasurements,
}

fn event(imr: u32, event_type: u32, name: &str, payload: &[u8]) -> EventLogEntry {
    EventLogEntry {
        imr,
        event_type,
        digest: hex::encode(Sha384::digest(payload)),
        event: name.to_owned(),
        event_payload: hex::encode(payload),
    }
}

/// The boot events (RTMR0–2) shared by every simulated TD, from the seed.
fn boot_events(seed: &[u8; 32]) -> Vec<EventLogEntry> {
    let mut log = Vec::new();
    for (imr, count) in [(0u32, 4u32), (1, 2), (2, 2)] {
        for n in 0..count {
            log.push(event(imr, 0x8000_000B, "", &derive(seed, &format!("boot-event-{imr}"), n)));
        }
    }
    log
}

/// The TD running `images` (one image per service), named `name`.
fn td(seed: &[u8; 32], name: &str, images: &[&str]) -> Td {
    let services: String = images
        .iter()
        .enumerate()
        .map(|(i, image)| format!("  svc{i}:\n    image: {image}@sha256:{}\n", image_digest(image)))
        .collect();
    let app_compose = json!({
        "manifest_version": 2,
        "name": name,
        "runner": "docker-compose",
        "docker_compose_file": format!("services:\n{services}"),
    })
    .to_string();
    let compose_hash = compose::compose_hash(&app_compose);
    let mut event_log = boot_events(seed);
    event_log.push(event(3, 0x0800_0001, "system-preparing", b""));
    event_log.push(event(3, 0x0800_0001, "compose-hash", &compose_hash));
    event_log.push(event(3, 0x0800_0001, "instance-id", &derive(seed, name, 7)[..20]));
    event_log.push(event(3, 0x0800_0001, "system-ready", b""));
    let rtmr = eventlog::replay(&event_log).unwrap_or([[0; 48]; 4]);
    let mut mr_config_id = [0u8; 48];
    mr_config_id[..33].copy_from_slice(&compose::expected_mrconfigid_prefix(&app_compose));
    let measurements =
        TdMeasurements { mrtd: derive48(seed, "mrtd", 0), mrseam: derive48(seed, "mrseam", 0), mr_config_id, rtmr };
    Td { app_compose, event_log, measurements }
}

/// The measurement policy every simulated TD satisfies.
pub(super) fn policy(seed: &[u8; 32]) -> MeasurementPolicy {
    let rtmr = eventlog::replay(&boot_events(seed)).unwrap_or([[0; 48]; 4]);
    MeasurementPolicy {
        mrtd: vec![derive48(seed, "mrtd", 0)],
        mrseam: vec![derive48(seed, "mrseam", 0)],
        rtmr0: vec![rtmr[0]],
        rtmr1: vec![rtmr[1]],
        rtmr2: vec![rtmr[2]],
        rtmr3: Vec::new(),
    }
}

fn model_images(provider: ProviderKind) -> &'static [&'static str] {
    match provider {
        ProviderKind::Venice | ProviderKind::NearDirect | ProviderKind::NearCloud => &["nearaidev/compose-manager"],
        ProviderKind::NanoGpt => &["vllm/vllm-openai"],
        ProviderKind::PhalaCloud => &["phalanetwork/vllm-proxy"],
        ProviderKind::Chutes => &[],
    }
}

fn log_json(log: &[EventLogEntry]) -> Value {
    log.iter()
        .map(|e| {
            json!({"imr": e.imr, "event_type": e.event_type, "digest": e.digest, "event": e.event,
                   "event_payload": e.event_payload})
        })
        .collect()
}

fn info(seed: &[u8; 32], td: &Td, tcb_event_log: bool) -> Value {
    let mut tcb = json!({ "app_compose": td.app_compose });
    if tcb_event_log {
        tcb["event_log"] = log_json(&td.event_log);
    }
    json!({
        "app_name": "sim-dstack",
        "app_id": hex::encode(&derive(seed, "app-id", 0)[..20]),
        "instance_id": hex::encode(&derive(seed, "instance-id", 0)[..20]),
        "compose_hash": hex::encode(compose::compose_hash(&td.app_compose)),
        "os_image_hash": hex::encode(derive(seed, "os-image", 0)),
        "device_id": hex::encode(derive(seed, "device-id", 0)),
        "tcb_info": tcb,
    })
}

// ---------------------------------------------------------------------------------------------
// Attestation documents
// ---------------------------------------------------------------------------------------------

/// What one attestation answer is built from.
struct Session<'w> {
    world: &'w SimWorld,
    provider: ProviderKind,
    /// The nonce the TD binds and echoes (ours, unless the nonce misbehaviour is on).
    nonce: [u8; 32],
}

impl Session<'_> {
    fn new<'a>(world: &'a SimWorld, provider: ProviderKind, query_nonce: &str) -> Option<Session<'a>> {
        let mut nonce = [0u8; 32];
        hex::decode_to_slice(query_nonce, &mut nonce).ok()?;
        if world.misbehaves(Misbehaviour::WrongNonce) {
            nonce = derive(&world.seed, "wrong-nonce", 0);
        }
        Some(Session { world, provider, nonce })
    }

    fn seed(&self) -> &[u8; 32] {
        &self.world.seed
    }

    /// The key REPORTDATA binds, and the key the answer serves (different when swapped).
    fn keys(&self) -> (String, String) {
        let bound = enclave_public(&enclave_secret(self.seed(), self.provider, false));
        let served = if self.world.misbehaves(Misbehaviour::SwappedSigningKey) {
            enclave_public(&enclave_secret(self.seed(), self.provider, true))
        } else {
            bound.clone()
        };
        (bound, served)
    }

    /// The nonce the GPUs sign (another one under the GPU misbehaviour).
    fn gpu_nonce(&self, wanted: [u8; 32]) -> [u8; 32] {
        if self.world.misbehaves(Misbehaviour::GpuOtherNonce) {
            derive(self.seed(), "gpu-other-nonce", 0)
        } else {
            wanted
        }
    }

    fn eat(&self) -> String {
        let n = self.gpu_nonce(self.nonce);
        self.world.gpu.eat(&n, &n, 2)
    }

    fn quote_hex(&self, td: &Td, report_data: &[u8; 64]) -> String {
        hex::encode(self.world.intel.quote(&td.measurements, report_data))
    }

    fn with_nonce(&self, first: &[u8]) -> [u8; 64] {
        let mut rd = [0u8; 64];
        rd[..first.len().min(32)].copy_from_slice(&first[..first.len().min(32)]);
        rd[32..].copy_from_slice(&self.nonce);
        rd
    }

    /// The dstack record (venice, nanogpt, phalacloud).
    fn dstack(&self, tcb_event_log: bool) -> Value {
        let td = td(self.seed(), &format!("sim-{}", self.provider.name()), model_images(self.provider));
        let (bound, served) = self.keys();
        let (bound_address, _) = dstack_address(&bound);
        let (_, served_address) = dstack_address(&served);
        let nonce = hex::encode(self.nonce);
        json!({
            "signing_public_key": served,
            "signing_address": served_address,
            "signing_algo": "ecdsa",
            "intel_quote": self.quote_hex(&td, &self.with_nonce(&bound_address)),
            "nvidia_payload": self.eat(),
            "event_log": log_json(&td.event_log),
            "info": info(self.seed(), &td, tcb_event_log),
            "request_nonce": nonce,
        })
    }

    fn venice(&self) -> Value {
        let mut v = self.dstack(true);
        let nonce = hex::encode(self.nonce);
        let model = model(ProviderKind::Venice);
        for (k, x) in [
            ("verified", json!(true)),
            ("nonce", json!(nonce)),
            ("model", json!(model)),
            ("model_name", json!(model)),
            ("upstream_model", json!("sim/Sim-Model-1B")),
            ("tee_provider", json!("sim")),
            ("tee_hardware", json!("intel-tdx")),
            ("nonce_source", json!("client")),
            ("candidates_available", json!(1)),
            ("candidates_evaluated", json!(1)),
        ] {
            v[k] = x;
        }
        v
    }

    /// A NEAR model entry (`tls`: the fingerprint the model node binds).
    fn near_entry(&self, tls: &str) -> Value {
        let td = td(self.seed(), "sim-near-model", model_images(self.provider));
        let (bound, served) = self.keys();
        let address = hex::decode(&bound).unwrap_or_default();
        let fingerprint = hex::decode(tls).unwrap_or_default();
        let rd = self.with_nonce(&near_binding_hash(&address, &fingerprint));
        json!({
            "model_name": model(self.provider),
            "intel_quote": self.quote_hex(&td, &rd),
            "nvidia_payload": self.eat(),
            "signing_public_key": served,
            "signing_address": served,
            "signing_algo": "ed25519",
            "tls_cert_fingerprint": tls,
            "request_nonce": hex::encode(self.nonce),
            "event_log": log_json(&td.event_log),
            "info": info(self.seed(), &td, true),
        })
    }

    fn near_direct(&self) -> Value {
        let entry = self.near_entry(&self.world.tls_spki.to_hex());
        let mut top = entry.clone();
        top["all_attestations"] = json!([entry]);
        top
    }

    fn near_cloud(&self) -> Value {
        let tls = self.world.tls_spki.to_hex();
        let mut top = self.near_direct();
        let td = td(self.seed(), "sim-near-gateway", &["nearaidev/cloud-api"]);
        let gateway_key = ed25519_dalek::SigningKey::from_bytes(&derive(self.seed(), "near-gateway-key", 0));
        let address = gateway_key.verifying_key().to_bytes();
        let fingerprint = self.world.tls_spki.0;
        let rd = self.with_nonce(&near_binding_hash(&address, &fingerprint));
        top["gateway_attestation"] = json!({
            "request_nonce": hex::encode(self.nonce),
            "intel_quote": self.quote_hex(&td, &rd),
            "tls_cert_fingerprint": tls,
            "signing_address": hex::encode(address),
            "signing_algo": "ed25519",
            "event_log": log_json(&td.event_log).to_string(),
            "info": info(self.seed(), &td, false),
        });
        top
    }

    /// The Chutes evidence answer (the key bound is the instance's `e2e_pubkey`).
    fn chutes_evidence(&self, client_nonce: &[u8; 32]) -> Value {
        let td = td(self.seed(), "sim-chutes", &[]);
        let (bound, _) = self.keys();
        let mut rd = [0u8; 64];
        rd[..32].copy_from_slice(&chutes_binding_hash(&self.nonce, &bound));
        rd[32..].copy_from_slice(&derive(self.seed(), "chutes-instance-tls", 0));
        let b64 = base64::engine::general_purpose::STANDARD;
        let quote = b64.encode(self.world.intel.quote(&td.measurements, &rd));
        let mut gpu_nonce = [0u8; 32];
        gpu_nonce.copy_from_slice(&rd[..32]);
        let gpu = self.world.gpu.evidence(&self.gpu_nonce(gpu_nonce));
        let gpus = json!([gpu, gpu]);
        let _ = client_nonce;
        // Every instance runs the same TD image with the same key here, so one quote serves
        // all; the healthy instances come first in evidence order.
        let mut fleet = chutes_fleet(self.world);
        fleet.retain(|id| id != CHUTES_UNATTESTABLE_INSTANCE);
        fleet.rotate_left(usize::from(self.world.misbehaves(Misbehaviour::ChutesInstance503)));
        let evidence: Vec<Value> = fleet
            .iter()
            .map(|id| json!({ "instance_id": id, "quote": quote, "certificate": "", "gpu_evidence": gpus }))
            .collect();
        json!({ "evidence": evidence, "failed_instance_ids": [] })
    }
}

/// The Chutes fleet in discovery order: the misbehaving instances (if on) first, then the
/// healthy ones. (Evidence lists them the other way round, so attestation picks a healthy one
/// while the nonce pool offers the misbehaving one first.)
fn chutes_fleet(world: &SimWorld) -> Vec<String> {
    let booting =
        world.misbehaves(Misbehaviour::ChutesInstanceWithoutEvidence).then(|| CHUTES_UNATTESTABLE_INSTANCE.to_owned());
    let bad = world.misbehaves(Misbehaviour::ChutesInstance503).then(|| CHUTES_BAD_INSTANCE.to_owned());
    booting.into_iter().chain(bad).chain((1..=world.chutes_instances).map(chutes_instance_id)).collect()
}

/// The Chutes instance list: every instance with fresh single-use nonces (each listing issues
/// new ones, as the platform does).
fn chutes_instances(world: &mut SimWorld) -> Value {
    let (_, served) = Session { world, provider: ProviderKind::Chutes, nonce: [0; 32] }.keys();
    world.chutes_listings += 1;
    let listing = world.chutes_listings;
    let per_instance = world.chutes_nonces_per_instance;
    let instances: Vec<Value> = chutes_fleet(world)
        .into_iter()
        .map(|id| {
            let nonces: Vec<String> = (0..per_instance)
                .map(|n| hex::encode(&derive(&world.seed, &format!("chutes-nonce-{id}-{listing}"), n as u32)[..16]))
                .collect();
            for nonce in &nonces {
                world.chutes_issued.insert(nonce.clone(), id.clone());
            }
            json!({"instance_id": id, "e2e_pubkey": served, "nonces": nonces})
        })
        .collect();
    json!({ "instances": instances, "nonce_expires_in": 55, "nonce_expires_at": world.clock as f64 + 55.0 })
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

fn json_answer(value: &Value) -> SimResponse {
    SimResponse::json(200, value.to_string().into_bytes())
}

fn attestation(world: &SimWorld, provider: ProviderKind, query: &str) -> SimResponse {
    let Some(session) = query_param(query, "nonce").and_then(|n| Session::new(world, provider, n)) else {
        return SimResponse::text(400, "nonce: expected 64 hex characters");
    };
    let doc = match provider {
        ProviderKind::Venice => session.venice(),
        ProviderKind::NearDirect => session.near_direct(),
        ProviderKind::NearCloud => session.near_cloud(),
        ProviderKind::PhalaCloud => session.dstack(true),
        ProviderKind::NanoGpt => session.dstack(true),
        ProviderKind::Chutes => {
            let mut ours = [0u8; 32];
            let _ = hex::decode_to_slice(query_param(query, "nonce").unwrap_or(""), &mut ours);
            session.chutes_evidence(&ours)
        }
    };
    json_answer(&doc)
}

/// Answers a non-inference request.
pub(super) fn route(
    world: &mut SimWorld,
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> SimResponse {
    match (method, host, path) {
        ("GET", "api.venice.ai", "/api/v1/tee/attestation") => attestation(world, ProviderKind::Venice, query),
        ("GET", "completions.near.ai", "/endpoints") => json_answer(
            &json!({"endpoints": [{"domain": NEAR_MODEL_HOST, "models": [model(ProviderKind::NearDirect)]}]}),
        ),
        ("GET", NEAR_MODEL_HOST, "/v1/attestation/report") => attestation(world, ProviderKind::NearDirect, query),
        ("GET", "cloud-api.near.ai", "/v1/attestation/report") => attestation(world, ProviderKind::NearCloud, query),
        ("GET", "api.redpill.ai", "/v1/attestation/report") => attestation(world, ProviderKind::PhalaCloud, query),
        ("GET", "nano-gpt.com", "/api/v1/tee/attestation") => attestation(world, ProviderKind::NanoGpt, query),
        ("GET", "llm.chutes.ai", "/v1/models") => json_answer(
            &json!({"object": "list", "data": [
                {"id": model(ProviderKind::Chutes), "chute_id": CHUTES_CHUTE_ID, "confidential_compute": true},
                {"id": "sim/not-confidential", "chute_id": "00000000-0000-4000-8000-000000000000", "confidential_compute": false},
            ]}),
        ),
        ("GET", "api.chutes.ai", p) if p == format!("/e2e/instances/{CHUTES_CHUTE_ID}") => {
            json_answer(&chutes_instances(world))
        }
        ("GET", "api.chutes.ai", p) if p == format!("/chutes/{CHUTES_CHUTE_ID}/evidence") => {
            attestation(world, ProviderKind::Chutes, query)
        }
        ("GET", "api.trustedservices.intel.com" | "certificates.trustedservices.intel.com", _) => {
            pcs(world, host, path)
        }
        ("POST", "nras.attestation.nvidia.com", "/v3/attest/gpu") => nras(world, body),
        ("GET", "nras.attestation.nvidia.com", "/.well-known/jwks.json") => SimResponse::json(200, world.gpu.jwks()),
        ("POST", "rekor.sigstore.dev", "/api/v1/index/retrieve") => rekor_index(world, body),
        ("POST", "rekor.sigstore.dev", "/api/v1/log/entries/retrieve") => rekor_entries(world, body),
        ("POST", h, "/get_jwt") if h.starts_with("trust-server.") => {
            SimResponse::json(403, br#"{"error":"machine is not registered (simulation)"}"#.to_vec())
        }
        _ => SimResponse::text(404, "not simulated"),
    }
}

fn pcs(world: &SimWorld, host: &str, path: &str) -> SimResponse {
    let stale = world.misbehaves(Misbehaviour::StaleCollateral);
    let Ok([tcb, qe, pck_crl, root_crl]) = world.intel.collateral(stale) else {
        return SimResponse::text(500, "collateral generation failed");
    };
    let (headers, body) = match (host, path) {
        (_, "/tdx/certification/v4/tcb") => tcb,
        (_, "/tdx/certification/v4/qe/identity") => qe,
        (_, "/sgx/certification/v4/pckcrl") => pck_crl,
        ("certificates.trustedservices.intel.com", "/IntelSGXRootCA.der") => root_crl,
        _ => return SimResponse::text(404, "not simulated"),
    };
    SimResponse { status: 200, headers, body }
}

fn nras(world: &SimWorld, body: &[u8]) -> SimResponse {
    let nonce = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("nonce").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    SimResponse::json(200, world.gpu.nras_answer(&nonce, world.clock))
}

fn rekor_index(world: &SimWorld, body: &[u8]) -> SimResponse {
    let digest = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("hash").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let uuids: Vec<&str> = digest
        .strip_prefix("sha256:")
        .and_then(|d| world.rekor_entries.get(d))
        .map(|(uuid, _)| vec![uuid.as_str()])
        .unwrap_or_default();
    json_answer(&json!(uuids))
}

fn rekor_entries(world: &SimWorld, body: &[u8]) -> SimResponse {
    let wanted = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer("/entryUUIDs/0").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    match world.rekor_entries.values().find(|(uuid, _)| *uuid == wanted) {
        Some((_, answer)) => SimResponse::json(200, answer.clone()),
        None => SimResponse::json(404, br#"{"code":404,"message":"entry not found"}"#.to_vec()),
    }
}

// ---------------------------------------------------------------------------------------------
// Inference
// ---------------------------------------------------------------------------------------------

/// True for the paths that would carry a prompt.
pub(super) fn is_inference_path(path: &str) -> bool {
    const MARKERS: [&str; 8] = [
        "/chat/completions",
        "/completions",
        "/embeddings",
        "/audio/",
        "/images/",
        "/rerank",
        "/e2e/invoke",
        "/responses",
    ];
    MARKERS.iter().any(|m| path.contains(m))
}

/// An inference request as the platform sees it (the enclaves' sealed answers are in
/// [`super::chat`]): Chutes invocations are counted per instance and their single-use nonces
/// checked — a nonce never issued, issued to another instance, or already used is refused
/// with 403 — and the misbehaving instance answers 503. Anything else gets 501 here.
pub(super) fn inference(world: &mut SimWorld, headers: &[(String, String)]) -> SimResponse {
    let header = |name: &str| {
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).unwrap_or_default()
    };
    let instance = header("X-Instance-Id");
    if instance.is_empty() {
        return SimResponse::text(501, "inference is not simulated here");
    }
    *world.chutes_invocations.entry(instance.clone()).or_insert(0) += 1;
    let nonce = header("X-E2E-Nonce");
    if !world.chutes_used.insert(nonce.clone()) {
        world.chutes_nonce_reuses += 1;
        return SimResponse::text(403, "E2E nonce already used (simulated)");
    }
    if world.chutes_issued.get(&nonce) != Some(&instance) {
        return SimResponse::text(403, "E2E nonce not issued to this instance (simulated)");
    }
    if world.misbehaves(Misbehaviour::ChutesInstance503) && instance == CHUTES_BAD_INSTANCE {
        return SimResponse::text(503, "instance unavailable (simulated)");
    }
    SimResponse::text(501, "inference is not simulated here")
}
