//! Property tests of the stream decryptor and the non-streaming blob: chunk boundaries do not
//! matter, tampering never releases unauthentic plaintext, and no input panics.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::sim::{InstanceServer, ServerStream};
use super::*;

/// Where this module's failing seeds are kept (cargo runs unit tests from `proto-core/`).
const REGRESSIONS: &str = "../proptest-regressions/e2ee_chutes.txt";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// One request/stream pair: the client session, the SSE body, the chunk plaintexts, and the
/// byte range of every `e2e` payload (with its event index).
struct Fixture {
    session: ResponseSession,
    body: Vec<u8>,
    chunks: Vec<Vec<u8>>,
    payloads: Vec<(std::ops::Range<usize>, usize)>,
}

fn fixture(seed: u64, contents: &[String]) -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let server = InstanceServer::from_seed(&[3u8; 64]);
    let key = InstanceKey::from_attested(server.public_b64()).expect("key");
    let (enc, session) = encrypt_request(
        br#"{"stream":true}"#,
        &key,
        Endpoint::ChatCompletions,
        &mut rng,
    )
    .expect("encrypt");
    let req = server.decrypt_request(&enc.body).expect("decrypt");
    let (sealer, init) = req.client_key.begin_stream(&mut rng).expect("init");
    let mut chunks: Vec<Vec<u8>> = contents
        .iter()
        .map(|c| format!("data: {c}\n\n").into_bytes())
        .collect();
    chunks.push(b"data: [DONE]\n\n".to_vec());
    let mut body = init.into_bytes();
    let mut payloads = Vec::new();
    let mut event = 1;
    for (i, c) in chunks.iter().enumerate() {
        if i % 2 == 1 {
            body.extend_from_slice(ServerStream::usage_event(3, i as u64).as_bytes());
            event += 1;
        }
        let ev = sealer.chunk_event(c, &mut rng).expect("chunk");
        let start = body.len() + "data: {\"e2e\": \"".len();
        let end = body.len() + ev.len() - "\"}\n\n".len();
        payloads.push((start..end, event));
        body.extend_from_slice(ev.as_bytes());
        event += 1;
    }
    Fixture {
        session,
        body,
        chunks,
        payloads,
    }
}

fn feed(
    session: ResponseSession,
    body: &[u8],
    cuts: &[usize],
) -> (Vec<Vec<u8>>, Result<StreamSummary, E2eeError>) {
    let mut dec = session.into_stream();
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.sort_unstable();
    let mut last = 0;
    for p in points.into_iter().chain(std::iter::once(body.len())) {
        if let Err(e) = dec.push(&body[last..p], &mut out) {
            return (out, Err(e));
        }
        last = p;
    }
    let r = dec.finish();
    (out, r)
}

fn is_ordered_subsequence(sub: &[Vec<u8>], all: &[Vec<u8>]) -> bool {
    let mut it = all.iter();
    sub.iter().all(|s| it.any(|a| a == s))
}

fn contents() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-zA-Z0-9 {}:,\"]{0,40}", 0..6)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn chunk_boundaries_do_not_change_the_plaintext(
        seed in any::<u64>(),
        contents in contents(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let fx = fixture(seed, &contents);
        let (out, r) = feed(fx.session, &fx.body, &cuts);
        prop_assert!(r.is_ok(), "{r:?}");
        prop_assert_eq!(out, fx.chunks);
    }

    #[test]
    fn a_changed_byte_never_yields_unauthentic_plaintext(
        seed in any::<u64>(),
        contents in contents(),
        pos in any::<usize>(),
        replacement in any::<u8>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
    ) {
        let fx = fixture(seed, &contents);
        let mut body = fx.body.clone();
        let pos = pos % body.len();
        prop_assume!(body[pos] != replacement);
        body[pos] = replacement;
        let (out, r) = feed(fx.session, &body, &cuts);
        // Whatever happens, only authentic chunks, in order, come out.
        prop_assert!(is_ordered_subsequence(&out, &fx.chunks), "released {out:?}");
        if let Some((_, event)) = fx.payloads.iter().find(|(range, _)| range.contains(&pos)) {
            // A change inside a sealed payload fails at exactly that event, and only the
            // chunks before it were released.
            match r {
                Err(E2eeError::Chunk { index, .. }) => prop_assert_eq!(index, *event),
                other => prop_assert!(false, "expected failure at event {event}, got {other:?}"),
            }
            let before = fx.payloads.iter().filter(|(_, e)| e < event).count();
            prop_assert_eq!(&out[..], &fx.chunks[..before]);
        } else if r.is_ok() {
            // Framing or usage edits that still parse can only drop whole chunks, never the
            // terminator.
            prop_assert_eq!(out.last(), fx.chunks.last());
        }
    }

    #[test]
    fn arbitrary_input_never_panics(
        seed in any::<u64>(),
        noise in proptest::collection::vec(any::<u8>(), 0..400),
        prefix in proptest::collection::vec(any::<u8>(), 0..50),
    ) {
        let fx = fixture(seed, &[]);
        let mut body = prefix;
        body.extend_from_slice(b"data: ");
        body.extend_from_slice(&noise);
        body.extend_from_slice(b"\n\n");
        let (out, r) = feed(fx.session, &body, &[]);
        prop_assert!(out.is_empty());
        prop_assert!(r.is_err());
    }

    #[test]
    fn a_changed_byte_in_a_blob_always_fails(seed in any::<u64>(), pos in any::<usize>(), bit in 0u8..8) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let server = InstanceServer::from_seed(&[4u8; 64]);
        let key = InstanceKey::from_attested(server.public_b64()).expect("key");
        let (enc, session) = encrypt_request(b"{}", &key, Endpoint::Embeddings, &mut rng).expect("encrypt");
        let req = server.decrypt_request(&enc.body).expect("decrypt");
        let mut blob = req.client_key.encrypt_response(b"{\"data\":[]}", &mut rng).expect("answer");
        let pos = pos % blob.len();
        blob[pos] ^= 1 << bit;
        prop_assert!(session.decrypt_body(&blob).is_err());
        let mut req_blob = enc.body.clone();
        let pos = pos % req_blob.len();
        req_blob[pos] ^= 1 << bit;
        prop_assert!(server.decrypt_request(&req_blob).is_err());
    }
}
