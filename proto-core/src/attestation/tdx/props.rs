//! Property tests: no input makes the quote parser, the PEM splitter or the SGX extension reader
//! panic, and well-formed synthetic quotes parse back to exactly what was laid out.
//!
//! Inputs: arbitrary bytes; arbitrary bytes behind a valid header (or behind a valid header and
//! body with a matching signed-data size, to reach the certification data parser); and
//! well-formed quotes (V4, V5 TDX 1.0, V5 TDX 1.5) with random bodies, QE auth data and trailing
//! bytes, then mutated: bit flips, overwritten length/type fields, truncation, insertion,
//! removal.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;

use super::pck::parse_sgx_extension;
use super::testutil::{QuoteParts, SgxValues, sample_chain};
use super::{PckLeaf, Quote, TD_REPORT_10_LEN, TD_REPORT_15_LEN, split_pem_chain};

/// Where this module's failing seeds are kept (cargo runs unit tests from `proto-core/`).
const REGRESSIONS: &str = "../proptest-regressions/tdx_quote.txt";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// Parses `bytes` and, when that succeeds, checks the invariants and touches every derived view.
fn exercise(bytes: &[u8]) {
    let Ok(q) = Quote::parse(bytes) else { return };
    assert_eq!(q.raw(), bytes);
    assert!(matches!(q.signed_region().len(), 632 | 638 | 702), "signed region {}", q.signed_region().len());
    assert!(q.trailing_len() <= bytes.len() - q.signed_region().len());
    assert_eq!(q.trailing_bytes().len(), q.trailing_len());
    assert!(q.describe().starts_with("valid QuoteV"));
    let _ = q.debug_enabled();
    if let Ok(chain) = q.pem_chain() {
        for cert in &chain {
            let _ = PckLeaf::from_der(cert);
        }
    }
    if let Ok(leaf) = q.pck_leaf() {
        assert_eq!(leaf.fmspc_hex().len(), 12);
        let _ = leaf.ca();
    }
}

/// A well-formed quote's parts: version/body type, random body, auth data and trailing bytes.
fn valid_parts() -> impl Strategy<Value = QuoteParts> {
    (
        prop_oneof![Just(None), Just(Some(2u16)), Just(Some(3u16))],
        vec(any::<u8>(), TD_REPORT_15_LEN),
        vec(any::<u8>(), 0..80),
        vec(any::<u8>(), 0..120),
        any::<bool>(),
    )
        .prop_map(|(v5_body, body, auth, trailing, nul)| {
            let mut parts = match v5_body {
                None => QuoteParts::v4(),
                Some(t) => QuoteParts::v5(t),
            };
            let len = parts.body.len();
            parts.body = body[..len].to_vec();
            parts.qe_auth_data = auth;
            parts.trailing = trailing;
            if !nul {
                parts.chain = sample_chain().pem.clone();
            }
            parts
        })
}

/// Which header or length field a mutation overwrites.
#[derive(Clone, Copy, Debug)]
enum Field {
    Version,
    KeyType,
    TeeType,
    BodyType,
    BodySize,
    SignedDataSize,
    OuterType,
    OuterSize,
    AuthSize,
    InnerType,
    ChainSize,
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Set(Field, u32),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let field = prop_oneof![
        Just(Field::Version),
        Just(Field::KeyType),
        Just(Field::TeeType),
        Just(Field::BodyType),
        Just(Field::BodySize),
        Just(Field::SignedDataSize),
        Just(Field::OuterType),
        Just(Field::OuterSize),
        Just(Field::AuthSize),
        Just(Field::InnerType),
        Just(Field::ChainSize),
    ];
    let value = prop_oneof![any::<u32>(), 0u32..8, 580u32..700, 4000u32..6000, Just(u32::MAX)];
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (field, value).prop_map(|(f, v)| Mutation::Set(f, v)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn apply(parts: &QuoteParts, mutations: &[Mutation]) -> Vec<u8> {
    let (mut q, l) = parts.build_with_layout();
    for m in mutations {
        if q.is_empty() {
            break;
        }
        match m {
            Mutation::Flip(i, bit) => {
                let at = i.index(q.len());
                q[at] ^= 1 << bit;
            }
            Mutation::Set(field, v) => {
                let (at, width) = match field {
                    Field::Version => (0, 2),
                    Field::KeyType => (2, 2),
                    Field::TeeType => (4, 4),
                    Field::BodyType => (48, 2),
                    Field::BodySize => (50, 4),
                    Field::SignedDataSize => (l.signed_data_size_at, 4),
                    Field::OuterType => (l.outer_type_at, 2),
                    Field::OuterSize => (l.outer_size_at, 4),
                    Field::AuthSize => (l.auth_size_at, 2),
                    Field::InnerType => (l.inner_type_at, 2),
                    Field::ChainSize => (l.chain_size_at, 4),
                };
                if at + width <= q.len() {
                    q[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
                }
            }
            Mutation::Truncate(i) => q.truncate(i.index(q.len())),
            Mutation::Insert(i, bytes) => {
                let at = i.index(q.len() + 1);
                q.splice(at..at, bytes.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let at = i.index(q.len());
                let end = (at + n).min(q.len());
                q.drain(at..end);
            }
        }
    }
    q
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header_never_panic(
        version in prop_oneof![Just(4u16), Just(5u16)],
        tail in vec(any::<u8>(), 0..3000),
    ) {
        let mut bytes = QuoteParts::v4().build()[..48].to_vec();
        bytes[..2].copy_from_slice(&version.to_le_bytes());
        bytes.extend(tail);
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_signed_data_never_panics(
        parts in valid_parts(),
        signed in vec(any::<u8>(), 0..1500),
        prefix_len in 0usize..200,
    ) {
        // A valid header and body, then garbage signed data whose size field fits exactly, so
        // the certification data parser sees it. Half the time the garbage starts with a valid
        // signature-data prefix to get past the fixed fields.
        let (valid, l) = parts.build_with_layout();
        let mut data = valid[l.signed_data_size_at + 4..][..prefix_len].to_vec();
        data.extend(signed);
        let mut bytes = valid[..l.signed_data_size_at].to_vec();
        bytes.extend((data.len() as u32).to_le_bytes());
        bytes.extend(data);
        exercise(&bytes);
    }

    #[test]
    fn mutated_quotes_never_panic(parts in valid_parts(), mutations in vec(mutation(), 1..5)) {
        exercise(&apply(&parts, &mutations));
    }

    #[test]
    fn well_formed_quotes_parse_back(parts in valid_parts()) {
        let (bytes, l) = parts.build_with_layout();
        let q = Quote::parse(&bytes).expect("well-formed quote");
        prop_assert_eq!(q.signed_region().len(), l.signed_region_len);
        prop_assert_eq!(q.trailing_bytes(), &parts.trailing[..]);
        prop_assert_eq!(&q.signature_data().qe_auth_data, &parts.qe_auth_data);
        prop_assert_eq!(&q.signature_data().pck_chain_pem, &parts.chain);
        prop_assert_eq!(&q.signature_data().qe_report.raw[..], &parts.qe_report[..]);
        let body_start = l.signed_region_len - parts.body.len();
        prop_assert_eq!(&q.body().mr_td[..], &bytes[body_start + 0x88..body_start + 0xB8]);
        prop_assert_eq!(&q.body().report_data[..], &bytes[body_start + 0x208..body_start + 0x248]);
        prop_assert_eq!(q.body().tdx15.is_some(), parts.body.len() == TD_REPORT_15_LEN);
        prop_assert!(parts.body.len() == TD_REPORT_10_LEN || parts.body.len() == TD_REPORT_15_LEN);
        prop_assert_eq!(q.debug_enabled(), bytes[body_start + 0x78] & 1 == 1);
        prop_assert_eq!(q.pem_chain().expect("chain").len(), 3);
        prop_assert_eq!(q.pck_leaf().expect("leaf").fmspc_hex(), "90c06f000000");
    }

    #[test]
    fn mutated_pem_chains_never_panic(mutations in vec(mutation(), 1..4), junk in vec(any::<u8>(), 0..64)) {
        let mut pem = sample_chain().pem.clone();
        // Reuse the byte-level mutations on the PEM text itself.
        for m in &mutations {
            if let Mutation::Flip(i, bit) = m {
                let at = i.index(pem.len());
                pem[at] ^= 1 << bit;
            } else if let Mutation::Truncate(i) = m {
                pem.truncate(i.index(pem.len() + 1));
            } else if let Mutation::Insert(i, bytes) = m {
                let at = i.index(pem.len() + 1);
                pem.splice(at..at, bytes.iter().copied());
            }
        }
        pem.extend(junk);
        if let Ok(chain) = split_pem_chain(&pem) {
            for cert in chain {
                let _ = PckLeaf::from_der(&cert);
            }
        }
    }

    #[test]
    fn mutated_leaf_der_never_panics(flips in vec((any::<Index>(), 0u8..8), 1..6), cut in any::<Index>()) {
        let mut der = sample_chain().leaf_der.clone();
        for (i, bit) in flips {
            let at = i.index(der.len());
            der[at] ^= 1 << bit;
        }
        let _ = PckLeaf::from_der(&der);
        let _ = PckLeaf::from_der(&der[..cut.index(der.len() + 1)]);
    }

    #[test]
    fn mutated_sgx_extensions_never_panic(
        flips in vec((any::<Index>(), 0u8..8), 0..6),
        cut in any::<Index>(),
        garbage in vec(any::<u8>(), 0..256),
    ) {
        let mut ext = SgxValues::sample().extension();
        let whole = ext.len();
        for (i, bit) in flips {
            let at = i.index(whole);
            ext[at] ^= 1 << bit;
        }
        let _ = parse_sgx_extension(&ext);
        let _ = parse_sgx_extension(&ext[..cut.index(whole + 1)]);
        let _ = parse_sgx_extension(&garbage);
    }
}
