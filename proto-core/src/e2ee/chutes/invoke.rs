//! The per-attempt material and the `POST {base}/e2e/invoke` request built from it.

use rand_core::CryptoRng;

use super::keys::InstanceKey;
use super::request::{Endpoint, encrypt_request};
use super::response::ResponseSession;
use super::{E2eeError, MAX_RESPONSE_BODY};
use crate::http::{Request, ResponseLimits};
use crate::state::nonce_pool::Material;
use crate::state::signing_key_cache::SigningKey;

/// The platform endpoint every encrypted request goes to (appended to the base path).
pub const E2E_INVOKE_PATH: &str = "/e2e/invoke";
/// Longest chute id, instance id or E2E nonce accepted into a header.
pub const MAX_HEADER_TOKEN_LEN: usize = 256;
/// Body limit for a streamed answer (the stream decryptor bounds each event separately).
const MAX_STREAM_BODY: u64 = 1 << 30;

/// Everything one upstream attempt needs: where to send it and the attested key to seal to.
///
/// Construction guarantees: chute id, instance id and nonce are non-empty visible-ASCII tokens
/// of at most [`MAX_HEADER_TOKEN_LEN`] bytes (no header injection), and the key is the attested
/// one, validated. Material from the nonce pool is accepted only if its key equals the
/// attested key (constant-time).
#[derive(Clone, Debug)]
pub struct AttemptMaterial {
    chute_id: String,
    instance_id: String,
    nonce: String,
    key: InstanceKey,
}

impl AttemptMaterial {
    /// Material from a fresh attestation record: the selected instance, its first nonce, the
    /// resolved chute UUID and the key REPORTDATA bound.
    pub fn new(
        chute_id: &str,
        instance_id: &str,
        nonce: &str,
        attested: InstanceKey,
    ) -> Result<Self, E2eeError> {
        Ok(Self {
            chute_id: header_token(chute_id, "chute id")?,
            instance_id: header_token(instance_id, "instance id")?,
            nonce: header_token(nonce, "E2E nonce")?,
            key: attested,
        })
    }

    /// Material taken from the nonce pool, accepted only if the pooled key is the attested one.
    pub fn from_pool(material: &Material, attested: &SigningKey) -> Result<Self, E2eeError> {
        if !material.key_matches(attested) {
            return Err(E2eeError::InvalidKey(
                "pool material key differs from the attested key".into(),
            ));
        }
        let key = InstanceKey::from_signing_key(attested)?;
        Self::new(
            material.chute().as_str(),
            material.instance_id(),
            material.nonce(),
            key,
        )
    }

    /// The resolved chute UUID (`X-Chute-Id`).
    pub fn chute_id(&self) -> &str {
        &self.chute_id
    }

    /// The instance (`X-Instance-Id`); mark it failed on a retryable error.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The attested key this attempt seals to.
    pub fn key(&self) -> &InstanceKey {
        &self.key
    }
}

fn header_token(value: &str, what: &str) -> Result<String, E2eeError> {
    if value.is_empty() {
        return Err(E2eeError::BadBody(format!("empty {what}")));
    }
    if value.len() > MAX_HEADER_TOKEN_LEN {
        return Err(E2eeError::Limit(format!(
            "{what} longer than {MAX_HEADER_TOKEN_LEN} bytes"
        )));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(E2eeError::BadBody(format!(
            "{what} contains a byte not allowed in a header"
        )));
    }
    Ok(value.to_owned())
}

/// A parsed platform base URL: `http(s)://host[:port][/path]`, no query, fragment or userinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformBase {
    /// True for `https`.
    pub tls: bool,
    /// Host name or address (lower-cased).
    pub host: String,
    /// Port (default 443 / 80).
    pub port: u16,
    /// Path prefix without a trailing slash (may be empty).
    pub path: String,
}

impl PlatformBase {
    /// Parses a base URL; fails without a scheme or host, with a query, fragment, userinfo,
    /// a bad port, or a byte that cannot appear in a request target.
    pub fn parse(url: &str) -> Result<Self, E2eeError> {
        let bad = |why: &str| E2eeError::BadBody(format!("platform base URL: {why}"));
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("scheme must be http or https"));
        };
        if rest.contains(['?', '#', '@']) || !rest.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("query, fragment, userinfo or non-printable byte"));
        }
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        if authority.starts_with('[') {
            return Err(bad("IPv6 literal hosts are not supported"));
        }
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("bad port"))?),
            None => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() || port == 0 {
            return Err(bad("missing host or port"));
        }
        Ok(Self {
            tls,
            host: host.to_ascii_lowercase(),
            port,
            path: path.trim_end_matches('/').to_owned(),
        })
    }
}

/// One `/e2e/invoke` exchange ready to send, and the session that will read its answer.
#[derive(Debug)]
pub struct InvokeRequest {
    /// Platform host to connect to (and send as `Host`).
    pub host: String,
    /// Platform port.
    pub port: u16,
    /// Whether the channel must be TLS.
    pub tls: bool,
    /// The HTTP request: POST, encrypted body, Chutes headers, response limits.
    pub request: Request,
    /// The ephemeral key that alone can read the answer; drop it when the attempt ends.
    pub session: ResponseSession,
}

/// Encrypts `body` to the material's attested key and builds the platform request:
/// `Authorization: Bearer`, `X-Chute-Id`, `X-Instance-Id`, `X-E2E-Nonce`, `X-E2E-Stream`
/// (the body's `stream`), `X-E2E-Path` (the endpoint), `Content-Type:
/// application/octet-stream`. A non-streaming answer is limited to 10 MiB.
pub fn build_invoke<R: CryptoRng + ?Sized>(
    base: &PlatformBase,
    api_key: &str,
    material: &AttemptMaterial,
    endpoint: Endpoint,
    body: &[u8],
    rng: &mut R,
) -> Result<InvokeRequest, E2eeError> {
    let api_key = header_token(api_key, "API key")?;
    let (encrypted, session) = encrypt_request(body, &material.key, endpoint, rng)?;
    let max_body_bytes = if encrypted.stream {
        MAX_STREAM_BODY
    } else {
        MAX_RESPONSE_BODY as u64
    };
    let limits = ResponseLimits {
        max_body_bytes,
        ..ResponseLimits::default()
    };
    let request = Request::post(format!("{}{E2E_INVOKE_PATH}", base.path), encrypted.body)
        .header("Authorization", format!("Bearer {api_key}"))
        .header("X-Chute-Id", material.chute_id.as_str())
        .header("X-Instance-Id", material.instance_id.as_str())
        .header("X-E2E-Nonce", material.nonce.as_str())
        .header(
            "X-E2E-Stream",
            if encrypted.stream { "true" } else { "false" },
        )
        .header("X-E2E-Path", endpoint.path())
        .header("Content-Type", "application/octet-stream")
        .limits(limits);
    Ok(InvokeRequest {
        host: base.host.clone(),
        port: base.port,
        tls: base.tls,
        request,
        session,
    })
}
