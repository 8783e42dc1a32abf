//! The multi-request client on real loopback sockets, on each runtime: concurrent first
//! requests share one attestation, every answer decrypts to the scripted reply, and the
//! runtimes agree on every event.

use std::sync::{Arc, Mutex};

use proto_core::client::{Client, ClientConfig, ClientEvent, ClientOutput};
use proto_core::provider::ProviderKind;
use proto_core::provider::descriptor::Endpoint;
use proto_core::session::Prompt;
use proto_core::sim::chat;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use teep_tests::sim_server::{serve_sim, sim_pki, sim_world};
use teep_tests::{RUNTIMES, run_client};

const SEED: [u8; 32] = [0x51; 32];
const REQUESTS: usize = 20;

fn prompt() -> Prompt {
    Prompt {
        endpoint: Endpoint::Chat,
        body: br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hello"}]}"#.to_vec(),
        api_key: Some("test-key".into()),
    }
}

/// Each request's events with the report's wall-time stamp removed (the one thing a real clock
/// changes), as comparable text.
fn normalized(outputs: &[ClientOutput]) -> Vec<String> {
    let mut lines: Vec<String> = outputs
        .iter()
        .map(|o| match &o.event {
            ClientEvent::Attested(r) => format!("{:?} attested blocked={} factors={}", o.request, r.is_blocked(), r.factors.len()),
            ClientEvent::Body(b) => format!("{:?} body {}", o.request, String::from_utf8_lossy(b)),
            ClientEvent::Head(h) => format!("{:?} head {}", o.request, h.status),
            other => format!("{:?} {other:?}", o.request),
        })
        .collect();
    lines.sort();
    lines
}

fn reply_of(outputs: &[ClientOutput], request: proto_core::client::RequestId) -> String {
    outputs
        .iter()
        .filter(|o| o.request == request)
        .filter_map(|o| if let ClientEvent::Body(b) = &o.event { Some(String::from_utf8_lossy(b).into_owned()) } else { None })
        .flat_map(|b| b.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_owned))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
        .filter_map(|v| v.pointer("/choices/0/delta/content").and_then(|c| c.as_str()).map(str::to_owned))
        .collect()
}

#[test]
fn concurrent_requests_share_one_attestation_on_every_runtime() {
    let pki = sim_pki();
    for provider in [ProviderKind::Venice, ProviderKind::NearDirect, ProviderKind::NearCloud, ProviderKind::Chutes] {
        let mut per_runtime = Vec::new();
        for runtime in RUNTIMES {
            let world = sim_world(SEED, &pki).with_chutes_fleet(1, 30);
            let wall = world.now();
            let verify = ProviderKind::ALL.iter().map(|p| (*p, world.verify_config(*p))).collect();
            let served = serve_sim(Arc::new(Mutex::new(world)), &pki);
            let config = ClientConfig { fetch: served.client.clone(), verify, pinned_wall_time: Some(wall) };
            let client = Client::new(config, ChaCha20Rng::seed_from_u64(3));
            let (outputs, client) = run_client(runtime, client, provider, &prompt(), REQUESTS);
            assert_eq!(client.stats().attestations, 1, "{provider} on {runtime:?}");
            let ends = outputs.iter().filter(|o| matches!(o.event, ClientEvent::End)).count();
            assert_eq!(ends, REQUESTS, "{provider} on {runtime:?}: {:?}", outputs.iter().find(|o| matches!(o.event, ClientEvent::Failed(_))));
            let mut requests: Vec<_> = outputs.iter().map(|o| o.request).collect();
            requests.dedup();
            for request in requests {
                assert_eq!(reply_of(&outputs, request), chat::SCRIPTED_REPLY, "{provider} on {runtime:?}");
            }
            assert_eq!(served.world.lock().unwrap().chutes_nonce_reuses(), 0);
            per_runtime.push(normalized(&outputs));
        }
        assert!(per_runtime.windows(2).all(|w| w[0] == w[1]), "{provider}: runtimes disagree");
    }
}
