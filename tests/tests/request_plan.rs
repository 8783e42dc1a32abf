//! Rebuilds every recorded request of every capture from the capture's own data with the
//! request-plan builders, and requires byte equality with what teep sent: the recorded URL for
//! GETs, the recorded body for POSTs.
//!
//! Inputs taken from a capture: the manifest (provider, model, nonce), the provider's
//! attestation answer (quotes, NVIDIA evidence, app compose), the QE-identity issuer chain
//! header (root-CA CRL URL), the Proof of Cloud stage-1/2 answers and the Rekor index answers
//! (what the next requests are built from). Two inputs cannot come from the capture's
//! content because teep never recorded the lookup that produced them: the neardirect model
//! host and the Chutes chute UUID; like teep's own tests, they come from the first recorded
//! URL.
//!
//! Each recorded exchange must be claimed by exactly one rebuilt request, and the phases must
//! appear in teep's order (`attestation-core.md` §1.2). Run with `--nocapture` for the table.
//!
//! This file parses JSON, base64 and the few DER fields it needs by hand (the tests crate has
//! no JSON or base64 dependency); it is test scaffolding, not a parser to reuse.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use proto_core::attestation::compose::{self, ComposeImages};
use proto_core::attestation::plan::{nras, pcs, poc, provider, rekor};
use proto_core::attestation::{BackendFormat, GatewayAttestation, GpuEvidence, RawAttestation};
use teep_tests::captures::replayable_captures;

// ---------------------------------------------------------------------------------------------
// Minimal JSON reader.

#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(#[allow(dead_code)] bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn get(&self, key: &str) -> Option<&J> {
        match self {
            J::Obj(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn path(&self, keys: &[&str]) -> Option<&J> {
        keys.iter().try_fold(self, |v, k| v.get(k))
    }
    fn str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }
    fn s(&self, key: &str) -> String {
        self.get(key).and_then(J::str).unwrap_or_default().to_owned()
    }
    fn arr(&self) -> &[J] {
        match self {
            J::Arr(a) => a,
            _ => &[],
        }
    }
    fn is_null(&self) -> bool {
        matches!(self, J::Null)
    }
}

fn parse_json(bytes: &[u8]) -> J {
    let mut p = Parser { s: bytes, i: 0 };
    let v = p.value();
    p.ws();
    assert_eq!(p.i, bytes.len(), "trailing data after JSON");
    v
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\n' | b'\r' | b'\t') {
            self.i += 1;
        }
    }
    fn eat(&mut self, b: u8) {
        self.ws();
        assert_eq!(self.s.get(self.i), Some(&b), "JSON: expected {:?} at {}", b as char, self.i);
        self.i += 1;
    }
    fn value(&mut self) -> J {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.s[self.i] == b'}' {
                    self.i += 1;
                    return J::Obj(m);
                }
                loop {
                    self.ws();
                    let k = self.string();
                    self.eat(b':');
                    m.push((k, self.value()));
                    self.ws();
                    self.i += 1;
                    match self.s[self.i - 1] {
                        b',' => continue,
                        b'}' => return J::Obj(m),
                        c => panic!("JSON: unexpected {:?}", c as char),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s[self.i] == b']' {
                    self.i += 1;
                    return J::Arr(a);
                }
                loop {
                    a.push(self.value());
                    self.ws();
                    self.i += 1;
                    match self.s[self.i - 1] {
                        b',' => continue,
                        b']' => return J::Arr(a),
                        c => panic!("JSON: unexpected {:?}", c as char),
                    }
                }
            }
            b'"' => J::Str(self.string()),
            b't' => self.word("true", J::Bool(true)),
            b'f' => self.word("false", J::Bool(false)),
            b'n' => self.word("null", J::Null),
            _ => {
                let start = self.i;
                while self.i < self.s.len() && matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.i += 1;
                }
                assert!(self.i > start, "JSON: bad value at {start}");
                J::Num(String::from_utf8(self.s[start..self.i].to_vec()).unwrap())
            }
        }
    }
    fn word(&mut self, w: &str, v: J) -> J {
        assert!(self.s[self.i..].starts_with(w.as_bytes()));
        self.i += w.len();
        v
    }
    fn hex4(&mut self) -> u32 {
        let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
        self.i += 4;
        u32::from_str_radix(h, 16).unwrap()
    }
    fn string(&mut self) -> String {
        assert_eq!(self.s[self.i], b'"');
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).expect("UTF-8"),
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4();
                            let cp = if (0xd800..0xdc00).contains(&hi) {
                                assert_eq!(&self.s[self.i..self.i + 2], b"\\u");
                                self.i += 2;
                                let lo = self.hex4();
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(cp).expect("scalar")
                        }
                        _ => panic!("JSON: bad escape"),
                    };
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Byte helpers.

fn b64decode(s: &str) -> Vec<u8> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &c in s.as_bytes() {
        if c == b'=' {
            break;
        }
        let Some(v) = val(c) else { continue }; // whitespace in PEM bodies
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// DER of every PEM certificate in `bytes`, in order.
fn pem_certs(bytes: &[u8]) -> Vec<Vec<u8>> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(b) = find(rest, BEGIN) {
        let body = &rest[b + BEGIN.len()..];
        let e = find(body, END).expect("PEM end");
        out.push(b64decode(std::str::from_utf8(&body[..e]).expect("PEM ascii")));
        rest = &body[e + END.len()..];
    }
    out
}

/// FMSPC from a PCK leaf: the OCTET STRING after OID 1.2.840.113741.1.13.1.4.
fn fmspc_of(pck_leaf: &[u8]) -> [u8; 6] {
    const OID: &[u8] = &[0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x04];
    let at = find(pck_leaf, OID).expect("FMSPC OID in PCK leaf") + OID.len();
    assert_eq!(&pck_leaf[at..at + 2], &[0x04, 0x06], "FMSPC octet string");
    pck_leaf[at + 2..at + 8].try_into().unwrap()
}

/// The PCK leaf's issuer CN (the only "PCK … CA" name in the leaf).
fn pck_issuer_cn(pck_leaf: &[u8]) -> &'static str {
    ["Intel SGX PCK Platform CA", "Intel SGX PCK Processor CA"]
        .into_iter()
        .find(|cn| find(pck_leaf, cn.as_bytes()).is_some())
        .expect("PCK issuer CN")
}

/// First URI of the CRL Distribution Points extension (OID 2.5.29.31) of a certificate.
fn crl_distribution_point(cert: &[u8]) -> String {
    let at = find(cert, &[0x06, 0x03, 0x55, 0x1d, 0x1f]).expect("CRL distribution points");
    let uri = at + cert[at..].iter().position(|&b| b == 0x86).expect("URI general name");
    let len = usize::from(cert[uri + 1]);
    assert!(len < 0x80);
    String::from_utf8(cert[uri + 2..uri + 2 + len].to_vec()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Capture loading.

struct Entry {
    method: String,
    url: String,
    request_body: Vec<u8>,
    status: u64,
    headers: J,
    response: Vec<u8>,
}

struct Capture {
    name: String,
    provider: String,
    model: String,
    nonce_hex: String,
    /// Written by a May/June build (has `duration_ms`): Rekor lookups ran in parallel, so
    /// their recorded order is completion order.
    parallel_rekor: bool,
    entries: Vec<Entry>,
}

fn load(dir: &Path) -> Capture {
    let manifest = parse_json(&std::fs::read(dir.join("manifest.json")).unwrap());
    let mut names: Vec<_> = std::fs::read_dir(dir.join("responses"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let entries = names
        .iter()
        .map(|p| {
            let meta = parse_json(&std::fs::read(p).unwrap());
            Entry {
                method: meta.s("method"),
                url: meta.s("url"),
                request_body: meta.get("req_body_base64").and_then(J::str).map(b64decode).unwrap_or_default(),
                status: match meta.get("status") {
                    Some(J::Num(n)) => n.parse().unwrap(),
                    _ => panic!("status"),
                },
                headers: meta.get("headers").cloned().unwrap_or(J::Null),
                response: std::fs::read(p.with_extension("body")).unwrap(),
            }
        })
        .collect();
    Capture {
        name: dir.file_name().unwrap().to_string_lossy().into_owned(),
        provider: manifest.s("provider"),
        model: manifest.s("model"),
        nonce_hex: manifest.s("nonce_hex"),
        parallel_rekor: manifest.get("duration_ms").is_some(),
        entries,
    }
}

// ---------------------------------------------------------------------------------------------
// The provider's evidence, as the provider parsers will hand it over (only the fields the
// plan needs).

/// `info.tcb_info.app_compose`, `tcb_info` possibly double-encoded.
fn app_compose_of(entry: &J) -> String {
    let Some(tcb) = entry.path(&["info", "tcb_info"]) else { return String::new() };
    let tcb = match tcb {
        J::Str(s) => parse_json(s.as_bytes()),
        other => other.clone(),
    };
    tcb.s("app_compose")
}

fn gpu_list(v: Option<&J>) -> Vec<GpuEvidence> {
    v.map(J::arr)
        .unwrap_or_default()
        .iter()
        .map(|g| GpuEvidence { certificate: g.s("certificate"), evidence: g.s("evidence"), arch: g.s("arch") })
        .collect()
}

fn dstack_fields(raw: &mut RawAttestation, e: &J) {
    raw.nonce = e.s("request_nonce");
    raw.intel_quote = e.s("intel_quote");
    raw.nvidia_payload = e.s("nvidia_payload");
    raw.app_compose = app_compose_of(e);
}

fn evidence(c: &Capture) -> RawAttestation {
    let first = parse_json(&c.entries[0].response);
    match c.provider.as_str() {
        "venice" | "nanogpt" => {
            let mut raw = RawAttestation::empty(BackendFormat::Dstack);
            dstack_fields(&mut raw, &first);
            if c.provider == "venice" {
                raw.nonce = first.s("nonce");
            }
            raw
        }
        "neardirect" | "nearcloud" => {
            let mut raw = RawAttestation::empty(BackendFormat::Near);
            let list = ["all_attestations", "model_attestations"]
                .into_iter()
                .map(|k| first.get(k).map(J::arr).unwrap_or_default())
                .find(|l| !l.is_empty());
            let entry = match list {
                Some(l) => l.iter().find(|e| e.s("model_name") == c.model).expect("entry for the model"),
                None => &first,
            };
            dstack_fields(&mut raw, entry);
            if let Some(g) = first.get("gateway_attestation").filter(|g| !g.is_null()) {
                raw.gateway = Some(GatewayAttestation {
                    nonce: g.s("request_nonce"),
                    intel_quote: g.s("intel_quote"),
                    app_compose: app_compose_of(g),
                    ..GatewayAttestation::default()
                });
            }
            raw
        }
        "phalacloud" => {
            // Gateway-wrapped Chutes format: first entry, top-level (server) nonce.
            assert_eq!(first.s("attestation_type"), "chutes");
            let e = &first.get("all_attestations").unwrap().arr()[0];
            let mut raw = RawAttestation::empty(BackendFormat::Chutes);
            raw.nonce = first.s("nonce");
            raw.intel_quote = hex_encode(&b64decode(&e.s("intel_quote")));
            raw.gpu_evidence = gpu_list(e.get("gpu_evidence"));
            raw
        }
        "chutes" => {
            // First evidence entry (evidence order) whose instance is listed with a key and a nonce.
            let instances = first;
            let evidence = parse_json(&c.entries[1].response);
            let usable = |id: &str| {
                instances.get("instances").unwrap().arr().iter().rev().find(|i| i.s("instance_id") == id).is_some_and(
                    |i| !i.s("e2e_pubkey").is_empty() && !i.get("nonces").map(J::arr).unwrap_or_default().is_empty(),
                )
            };
            let e = evidence
                .get("evidence")
                .unwrap()
                .arr()
                .iter()
                .find(|e| usable(&e.s("instance_id")))
                .expect("usable instance");
            let mut raw = RawAttestation::empty(BackendFormat::Chutes);
            raw.nonce = c.nonce_hex.clone();
            raw.intel_quote = hex_encode(&b64decode(&e.s("quote")));
            raw.gpu_evidence = gpu_list(e.get("gpu_evidence"));
            raw
        }
        p => panic!("unknown provider {p}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Matching rebuilt requests against the recording.

struct Ledger<'c> {
    capture: &'c Capture,
    claimed: Vec<Option<String>>,
}

impl<'c> Ledger<'c> {
    fn new(capture: &'c Capture) -> Self {
        Self { capture, claimed: vec![None; capture.entries.len()] }
    }

    /// Claims the first unclaimed recorded exchange equal to this request (GET: URL; POST: URL
    /// and body bytes) and returns its index.
    fn take(&mut self, method: &str, url: &str, body: &[u8], by: &str) -> Option<usize> {
        let i = self.capture.entries.iter().enumerate().position(|(i, e)| {
            self.claimed[i].is_none()
                && e.method == method
                && e.url == url
                && (method == "GET" || e.request_body == body)
        })?;
        self.claimed[i] = Some(by.to_owned());
        Some(i)
    }

    fn must(&mut self, method: &str, url: &str, body: &[u8], by: &str) -> usize {
        self.take(method, url, body, by).unwrap_or_else(|| {
            panic!(
                "{}: no recorded {method} {url} with the rebuilt body ({} bytes: {:?}…) — built by {by}",
                self.capture.name,
                body.len(),
                String::from_utf8_lossy(&body[..body.len().min(120)])
            )
        })
    }

    fn entry(&self, i: usize) -> &'c Entry {
        &self.capture.entries[i]
    }
}

fn pcs_phase(l: &mut Ledger<'_>, quote_hex: &str, who: &str) -> Vec<usize> {
    let certs = pem_certs(&hex_decode(quote_hex));
    let leaf = &certs[0];
    let fmspc = fmspc_of(leaf);
    let ca = pcs::PckCa::from_issuer_cn(pck_issuer_cn(leaf)).expect("known PCK CA");
    let [tcb, qe, crl] = pcs::collateral_requests(&fmspc, ca);
    let i1 = l.must("GET", &tcb.url, &[], &format!("pcs::tcb_info_url (FMSPC from {who} PCK leaf)"));
    let i2 = l.must("GET", &qe.url, &[], "pcs::QE_IDENTITY_URL");
    let i3 = l.must("GET", &crl.url, &[], &format!("pcs::pck_crl_url (CA from {who} PCK issuer)"));
    let chain =
        l.entry(i2).headers.get("Sgx-Enclave-Identity-Issuer-Chain").expect("QE identity issuer chain header").arr()[0]
            .str()
            .unwrap()
            .to_owned();
    let chain = pem_certs(percent_decode(&chain).as_bytes());
    assert_eq!(chain.len(), 2);
    let cdp = crl_distribution_point(&chain[1]);
    let root = pcs::root_ca_crl_request(Some(&cdp));
    assert_eq!(root.url, pcs::root_ca_crl_url(None), "the root's distribution point is the documented constant");
    let i4 = l.must("GET", &root.url, &[], "pcs::root_ca_crl_url (QE-identity root CDP)");
    let idx = vec![i1, i2, i3, i4];
    assert!(
        idx.windows(2).all(|w| w[1] == w[0] + 1),
        "{}: PCS requests for the {who} quote not consecutive: {idx:?}",
        l.capture.name
    );
    idx
}

fn poc_phase(l: &mut Ledger<'_>, quote_hex: &str, who: &str) -> Vec<usize> {
    let body = poc::stage1_body(quote_hex);
    let mut stage1: Vec<(usize, &str)> = Vec::new();
    for peer in poc::POC_PEERS {
        while let Some(i) = l.take("POST", &poc::get_jwt_url(peer), &body, &format!("poc::stage1_body ({who} quote)")) {
            stage1.push((i, peer));
        }
    }
    assert!(!stage1.is_empty(), "{}: no Proof of Cloud stage-1 request for the {who} quote", l.capture.name);
    stage1.sort();
    let mut idx: Vec<usize> = stage1.iter().map(|(i, _)| *i).collect();
    if stage1.iter().any(|(i, _)| l.entry(*i).status == 403) {
        return idx; // not registered: teep stops (and cancels the other stage-1 requests)
    }
    let replies: Vec<(&str, poc::Stage1Reply)> =
        stage1.iter().map(|(i, p)| (*p, poc::parse_stage1(p, &l.entry(*i).response).expect("stage-1 reply"))).collect();
    let plan = poc::stage2_plan(&replies).expect("stage-2 plan");
    let mut partial: Option<BTreeMap<String, String>> = None;
    for peer in &plan.peers {
        let req = poc::stage2_request(peer, quote_hex, &plan.nonces, partial.as_ref());
        let by = format!("poc::stage2_body ({who} quote, {} partial sigs)", partial.as_ref().map_or(0, BTreeMap::len));
        let i = l.must("POST", &req.url, &req.body, &by);
        assert!(i > *idx.last().unwrap(), "{}: stage-2 request out of order", l.capture.name);
        idx.push(i);
        match poc::parse_stage2(peer, &l.entry(i).response).expect("stage-2 reply") {
            poc::Stage2Reply::Final { .. } => break,
            poc::Stage2Reply::Partial(sigs) => partial = Some(sigs),
        }
    }
    idx
}

fn rekor_phase(l: &mut Ledger<'_>, digests: &[String], parallel: bool) -> Vec<usize> {
    let mut idx = Vec::new();
    let mut found = Vec::new();
    for d in digests {
        let i = l.must("POST", rekor::REKOR_INDEX_URL, &rekor::index_body(d), "rekor::index_body (presence)");
        idx.push(i);
        found.push(!rekor::parse_index(&l.entry(i).response).expect("index answer").is_empty());
    }
    if !parallel {
        assert!(
            idx.windows(2).all(|w| w[1] > w[0]),
            "{}: presence lookups out of digest order: {idx:?}",
            l.capture.name
        );
    }
    let presence_end = idx.iter().copied().max().unwrap_or(0);
    for (d, _) in digests.iter().zip(&found).filter(|(_, f)| **f) {
        let i = l.must("POST", rekor::REKOR_INDEX_URL, &rekor::index_body(d), "rekor::index_body (provenance)");
        assert!(i > presence_end, "{}: provenance lookup before the presence phase ended", l.capture.name);
        idx.push(i);
        // Entries in the order of this (second) index answer, until teep found a Fulcio entry.
        let uuids = rekor::parse_index(&l.entry(i).response).expect("index answer");
        let mut last = i;
        let mut fetched = 0;
        for u in &uuids {
            let Some(j) = l.take(
                "POST",
                rekor::REKOR_ENTRIES_URL,
                &rekor::entries_body(&[u]),
                "rekor::entries_body (UUID from the index answer)",
            ) else {
                break;
            };
            if parallel {
                assert!(j > i, "{}: entry fetched before its index answer", l.capture.name);
            } else {
                assert_eq!(j, last + 1, "{}: entry lookups not right after their index lookup", l.capture.name);
            }
            last = j;
            fetched += 1;
            idx.push(j);
        }
        assert!(fetched >= 1, "{}: no entry lookup for digest {d}", l.capture.name);
    }
    idx
}

/// Compose binding against the quote's MRCONFIGID (TD report body offset 0xB8, absolute 0xE8),
/// then the image references teep would look up.
fn bound_images(app_compose: &str, quote_hex: &str, name: &str) -> ComposeImages {
    if app_compose.is_empty() {
        return ComposeImages::default();
    }
    let quote = hex_decode(quote_hex);
    compose::verify_compose_binding(app_compose, &quote[0xe8..0xe8 + 48]).unwrap_or_else(|e| panic!("{name}: {e}"));
    compose::extract_images(app_compose)
}

fn short(url: &str) -> String {
    let u = url.trim_start_matches("https://");
    if u.len() > 70 { format!("{}…", &u[..70]) } else { u.to_owned() }
}

fn check_capture(c: &Capture) -> String {
    let raw = evidence(c);
    let mut l = Ledger::new(c);
    let nonce = c.nonce_hex.as_str();
    let mut phases: Vec<(&str, Vec<usize>)> = Vec::new();

    // 1. Provider attestation.
    let first_url = c.entries[0].url.as_str();
    let attestation = match c.provider.as_str() {
        "venice" => vec![l.must(
            "GET",
            &provider::venice_attestation_url(provider::VENICE_BASE_URL, &c.model, nonce),
            &[],
            "provider::venice_attestation_url",
        )],
        "neardirect" => {
            let host = first_url.trim_start_matches("https://").split('/').next().unwrap();
            vec![l.must(
                "GET",
                &provider::neardirect_attestation_url(host, nonce),
                &[],
                "provider::neardirect_attestation_url (host from recorded URL)",
            )]
        }
        "nearcloud" => vec![l.must(
            "GET",
            &provider::nearcloud_attestation_url(&c.model, nonce),
            &[],
            "provider::nearcloud_attestation_url",
        )],
        "nanogpt" => vec![l.must(
            "GET",
            &provider::nanogpt_attestation_url(provider::NANOGPT_BASE_URL, &c.model, nonce),
            &[],
            "provider::nanogpt_attestation_url",
        )],
        "phalacloud" => {
            vec![l.must(
                "GET",
                &provider::phalacloud_attestation_url(provider::PHALACLOUD_BASE_URL, &c.model, nonce),
                &[],
                "provider::phalacloud_attestation_url",
            )]
        }
        "chutes" => {
            let uuid = first_url.rsplit('/').next().unwrap();
            assert!(provider::chutes_looks_like_uuid(uuid) && !provider::chutes_looks_like_uuid(&c.model));
            vec![
                l.must(
                    "GET",
                    &provider::chutes_instances_url(provider::CHUTES_BASE_URL, uuid),
                    &[],
                    "provider::chutes_instances_url (UUID from recorded URL)",
                ),
                l.must(
                    "GET",
                    &provider::chutes_evidence_url(provider::CHUTES_BASE_URL, uuid, nonce),
                    &[],
                    "provider::chutes_evidence_url",
                ),
            ]
        }
        p => panic!("{p}"),
    };
    assert_eq!(attestation, (0..attestation.len()).collect::<Vec<_>>());
    phases.push(("attestation", attestation));

    // 2. Intel PCS for the model quote.
    phases.push(("PCS (model)", pcs_phase(&mut l, &raw.intel_quote, "model")));

    // 3–4. NRAS and its JWKS.
    let nras_req = nras::nras_attest_request(&raw).expect("NRAS body");
    let why = if raw.nvidia_payload.starts_with('{') {
        "nras::nras_request_body (EAT payload verbatim)"
    } else {
        "nras::nras_request_body (synthesized EAT)"
    };
    phases.push(("NRAS", vec![l.must("POST", &nras_req.url, &nras_req.body, why)]));
    phases.push(("JWKS", vec![l.must("GET", &nras::nras_jwks_request().url, &[], "nras::NRAS_JWKS_URL")]));

    // 5. Proof of Cloud for the model quote.
    phases.push(("PoC (model)", poc_phase(&mut l, &raw.intel_quote, "model")));

    // 6–7. Compose binding; nearcloud's gateway quote.
    let model_images = bound_images(&raw.app_compose, &raw.intel_quote, &c.name);
    let mut images = model_images.clone();
    if let Some(g) = &raw.gateway {
        phases.push(("PCS (gateway)", pcs_phase(&mut l, &g.intel_quote, "gateway")));
        phases.push(("PoC (gateway)", poc_phase(&mut l, &g.intel_quote, "gateway")));
        images = ComposeImages::merge(&model_images, &bound_images(&g.app_compose, &g.intel_quote, &c.name));
    }

    // 8. Rekor.
    phases.push(("Rekor", rekor_phase(&mut l, &images.digests, c.parallel_rekor)));

    for w in phases.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if let (Some(end), Some(start)) = (a.1.iter().max(), b.1.iter().min()) {
            assert!(end < start, "{}: {} requests not all before {} requests", c.name, a.0, b.0);
        }
    }

    let mut table = String::new();
    let _ = writeln!(table, "{} ({} exchanges, {} image digests)", c.name, c.entries.len(), images.digests.len());
    for (i, (e, by)) in c.entries.iter().zip(&l.claimed).enumerate() {
        let _ = writeln!(
            table,
            "  {:04} {:4} {:72} {}",
            i + 1,
            e.method,
            short(&e.url),
            by.as_deref().unwrap_or("NOT REPRODUCED")
        );
    }
    let missing: Vec<usize> = l.claimed.iter().enumerate().filter(|(_, b)| b.is_none()).map(|(i, _)| i + 1).collect();
    assert!(missing.is_empty(), "{}: recorded exchanges not reproduced: {missing:?}\n{table}", c.name);
    table
}

#[test]
fn every_recorded_request_is_rebuilt_byte_for_byte() {
    let captures = replayable_captures();
    let mut report = String::new();
    let mut total = 0;
    for dir in &captures {
        let c = load(dir);
        total += c.entries.len();
        report.push_str(&check_capture(&c));
    }
    println!("{report}");
    println!("{} captures, {total} recorded exchanges, all rebuilt", captures.len());
}

#[test]
fn compose_images_of_the_captures() {
    // The digest lists that drive the Rekor lookups, and the ${VAR:-…} quirk, per capture.
    for dir in replayable_captures() {
        let c = load(&dir);
        let raw = evidence(&c);
        let model = bound_images(&raw.app_compose, &raw.intel_quote, &c.name);
        let repos: Vec<_> = model.image_refs().iter().map(|r| r.repository.unwrap_or("?").to_owned()).collect();
        println!("{}: model {repos:?}", c.name);
        let quirk = model.repositories.iter().any(|r| r == "compose_manager_image:-nearaidev/compose-manager");
        let near_june = (c.provider == "neardirect" || c.provider == "nearcloud") && c.name.contains("20260610");
        assert_eq!(quirk, near_june, "{}: ${{VAR:-…}} repository quirk", c.name);
        match c.provider.as_str() {
            "chutes" | "phalacloud" => assert!(raw.app_compose.is_empty() && model.digests.is_empty()),
            "nanogpt" => assert!(!raw.app_compose.is_empty() && model.digests.is_empty(), "nanogpt pins no digests"),
            _ => assert!(!model.digests.is_empty()),
        }
        if let Some(g) = &raw.gateway {
            let gw = bound_images(&g.app_compose, &g.intel_quote, &c.name);
            println!("{}: gateway {:?}", c.name, gw.repositories);
            assert!(!gw.digests.is_empty());
        }
    }
}
