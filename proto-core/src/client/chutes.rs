//! Chutes in the multi-request client: nonces from the pool, only to attested instances,
//! failover to another instance, and the pool's refills.

use rand_core::CryptoRng;
use serde_json::Value;

use super::{Client, ClientError, ClientEvent, MAX_CHUTES_ATTEMPTS, RequestId, Stage, Task};
use crate::attestation::plan::provider::{CHUTES_BASE_URL, chutes_instances_url};
use crate::fetch::client::{FetchClient, Fetched};
use crate::fetch::{FetchId, FetchMethod, FetchRequest};
use crate::io::Now;
use crate::state::{
    CacheKey, ChuteId, InstanceNonces, MAX_INSTANCES, MAX_NONCES_PER_INSTANCE, MAX_TOKEN_LEN, RefillBatch, RefillError,
    Take,
};

/// Largest instances answer accepted (the attestation client's limit for Chutes bodies).
const MAX_INSTANCES_BODY: u64 = 2 * 1024 * 1024;

impl<R: CryptoRng> Client<R> {
    /// A Chutes request: without a cached attestation the pair is attested first (the request
    /// comes back here when it cleared). Then it takes a nonce from the pool and goes to that
    /// nonce's instance if this client attested it with the listed key, attests that instance
    /// first if not, and re-attests from scratch if the listed key differs from the attested
    /// one.
    pub(super) fn dispatch_chutes(&mut self, id: RequestId, key: CacheKey, now: Now) {
        let chute = self.chute_of(&key).filter(|_| self.state.reports.get(&key, now.mono).is_some());
        let Some(chute) = chute else { return self.attest(id, key, None, now) };
        let api_key = self.requests.get(&id).and_then(|p| p.prompt.api_key.clone());
        match self.state.nonce_pool.take(&chute, now.mono) {
            Take::Material { material, refill } => {
                if let Some(ticket) = refill {
                    self.start_refill(ticket, chute.clone(), api_key, now);
                }
                let instance = material.instance_id().to_owned();
                match self.cached(&key, &instance, now) {
                    Some(attested) => match attested.with_pool_material(&material) {
                        Some(clearance) => self.start_cached(id, clearance, now),
                        None => {
                            // The pool lists another key for an attested instance: trust
                            // neither the pool nor that clearance; attest from scratch.
                            self.state.nonce_pool.invalidate(&chute);
                            if let Some(m) = self.clearances.get_mut(&key) {
                                m.remove(&instance);
                            }
                            self.attest(id, key, None, now);
                        }
                    },
                    None => match key.clone().with_instance(&instance) {
                        Ok(flight) => self.attest(id, flight, Some(instance), now),
                        Err(e) => self.finish(id, ClientEvent::Failed(ClientError::BadModel(e.to_string()))),
                    },
                }
            }
            Take::Refill(ticket) => {
                // Waiting first: a refill that fails at once must find this request to fail.
                self.await_refill(id, chute.clone());
                self.start_refill(ticket, chute, api_key, now);
            }
            Take::AwaitRefill => self.await_refill(id, chute),
        }
    }

    fn await_refill(&mut self, id: RequestId, chute: ChuteId) {
        if let Some(p) = self.requests.get_mut(&id) {
            p.stage = Stage::AwaitingRefill(chute);
        }
    }

    /// A Chutes attempt failed retryably (transport error, 500/502/503/504, or an answer that
    /// would not decrypt): marks its instance failed and, if no answer byte reached the
    /// caller and attempts remain, starts the next attempt. Returns whether it did.
    pub(super) fn chutes_fail_over(&mut self, id: RequestId, task: super::TaskId, now: Now) -> bool {
        let Some(p) = self.requests.get_mut(&id) else { return false };
        let Stage::Running(running) = &p.stage else { return false };
        let Some(target) = running.clearance.as_ref().and_then(|c| c.chutes_target()) else { return false };
        if let Ok(chute) = ChuteId::new(&target.chute_id) {
            self.state.nonce_pool.mark_failed(&chute, &target.instance_id);
        }
        if p.forwarded || p.attempts >= MAX_CHUTES_ATTEMPTS {
            return false;
        }
        p.stage = Stage::Idle;
        self.prompt_tasks.remove(&task);
        self.tasks.remove(task);
        self.stats.failovers += 1;
        self.dispatch(id, now);
        true
    }

    /// Starts a refill of `chute`'s pool: `GET {base}/e2e/instances/{chute}`.
    fn start_refill(&mut self, ticket: crate::state::RefillTicket, chute: ChuteId, api_key: Option<String>, now: Now) {
        let task = self.task_id();
        self.stats.refills += 1;
        let headers = api_key.map(|k| vec![("Authorization".to_owned(), format!("Bearer {k}"))]).unwrap_or_default();
        let request = FetchRequest {
            id: FetchId(0),
            method: FetchMethod::Get,
            url: chutes_instances_url(CHUTES_BASE_URL, chute.as_str()),
            headers,
            body: Vec::new(),
            max_body: MAX_INSTANCES_BODY,
        };
        self.refill_tasks.insert(task, (ticket, chute));
        let mut fetcher = FetchClient::new(self.config.fetch.clone());
        fetcher.fetch(request, now);
        self.start_task(task, Task::Refill(Box::new(fetcher)), now);
    }

    /// A refill answered: install it, then let the requests that waited take again (or fail
    /// them, when the pool could not be refilled).
    pub(super) fn on_refill(&mut self, task: super::TaskId, fetched: Fetched, now: Now) {
        let Some((ticket, chute)) = self.refill_tasks.remove(&task) else { return };
        let batch = match fetched.result {
            Ok(response) if response.status == 200 => parse_instances(&response.body),
            _ => Err(RefillError::Fetch),
        };
        let installed = self.state.nonce_pool.finish_refill(ticket, batch, now.mono);
        let waiting: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, p)| matches!(&p.stage, Stage::AwaitingRefill(c) if *c == chute))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            match installed {
                Ok(_) | Err(RefillError::Stale) => self.dispatch(id, now),
                Err(e) => self.finish(id, ClientEvent::Failed(ClientError::NoncePool(e))),
            }
        }
    }
}

/// Parses an instances answer for the pool. Any unexpected shape is a fetch failure (the
/// error carries nothing from the body: it may hold nonces).
pub(crate) fn parse_instances(body: &[u8]) -> Result<RefillBatch, RefillError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| RefillError::Fetch)?;
    let top = value.as_object().ok_or(RefillError::Fetch)?;
    let list = top.get("instances").and_then(Value::as_array).ok_or(RefillError::Fetch)?;
    if list.len() > MAX_INSTANCES {
        return Err(RefillError::TooManyInstances(list.len()));
    }
    let nonce_expires_in = match top.get("nonce_expires_in") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or(RefillError::Fetch)?),
    };
    let token = |v: &Value| v.as_str().filter(|s| s.len() <= MAX_TOKEN_LEN).map(str::to_owned).ok_or(RefillError::Fetch);
    let mut instances = Vec::with_capacity(list.len());
    for entry in list {
        let entry = entry.as_object().ok_or(RefillError::Fetch)?;
        let field = |name: &str| entry.get(name).ok_or(RefillError::Fetch);
        let nonces = field("nonces")?.as_array().ok_or(RefillError::Fetch)?;
        let nonces = nonces.iter().take(MAX_NONCES_PER_INSTANCE).map(token).collect::<Result<Vec<_>, _>>()?;
        let e2e_pubkey = field("e2e_pubkey")?.as_str().ok_or(RefillError::Fetch)?.to_owned();
        instances.push(InstanceNonces { instance_id: token(field("instance_id")?)?, e2e_pubkey, nonces });
    }
    Ok(RefillBatch { instances, nonce_expires_in })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_answers_parse_or_fail_closed() {
        let ok = br#"{"instances":[{"instance_id":"i","e2e_pubkey":"k","nonces":["a","b"]}],"nonce_expires_in":60,"nonce_expires_at":1.5}"#;
        let batch = parse_instances(ok).unwrap();
        assert_eq!(batch.nonce_expires_in, Some(60));
        assert_eq!(batch.instances[0].nonces, ["a", "b"]);
        for bad in [
            &br#"{"instances":[{"instance_id":"i","e2e_pubkey":"k","nonces":["a",1]}]}"#[..],
            br#"{"instances":[{"instance_id":7,"e2e_pubkey":"k","nonces":[]}]}"#,
            br#"{"instances":{}}"#,
            br#"{"instances":[],"nonce_expires_in":60.0}"#,
            br#"[]"#,
            b"{",
        ] {
            assert_eq!(parse_instances(bad), Err(RefillError::Fetch), "{}", String::from_utf8_lossy(bad));
        }
        let many = format!(r#"{{"instances":[{}]}}"#, vec![r#"{"instance_id":"i","e2e_pubkey":"k","nonces":[]}"#; 257].join(","));
        assert_eq!(parse_instances(many.as_bytes()), Err(RefillError::TooManyInstances(257)));
    }
}
