//! `teep serve`: a local OpenAI-compatible proxy in front of the attested providers.
//!
//! ```text
//!  HTTP client ──► hyper (one task per connection) ──► handler ──Command──► client task
//!                                                          ▲                     │
//!                                                          └──── ClientEvent ────┘
//! ```
//!
//! One task owns the [`proto_core::client::Client`] (and so every cache) and drives it with
//! [`crate::Driver::next_or_message`]; HTTP handlers send it commands and receive their
//! request's events. The HTTP side holds no protocol state: it parses the route and the body's
//! `model`, and turns events into a response. Nothing reaches a provider before the client's
//! attestation rules allow it, and every refusal is an HTTP error naming the failed check.
//! Prompts, completions and API keys are never logged.

mod actor;
mod body;
mod reassemble;
mod routes;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use proto_core::client::{Client, ClientConfig};
use proto_core::provider::ProviderKind;
use rand_chacha::ChaCha20Rng;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use actor::{ClientHandle, RequestEvents};

/// The default listen address (the reference's).
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:8337";

/// How long in-flight requests may finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the proxy serves. Its `Debug` output names the providers, never their keys.
#[derive(Clone)]
pub struct ProxyConfig {
    /// How the client verifies and connects.
    pub client: ClientConfig,
    /// The active providers and their API keys (never logged); only these route.
    pub providers: BTreeMap<ProviderKind, String>,
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let providers: Vec<&str> = self.providers.keys().map(|p| p.name()).collect();
        f.debug_struct("ProxyConfig").field("providers", &providers).finish_non_exhaustive()
    }
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// No provider has an API key.
    #[error("no providers configured: set at least one provider API key (e.g. VENICE_API_KEY)")]
    NoProviders,
    /// The listener failed.
    #[error("listen: {0}")]
    Io(#[from] std::io::Error),
}

/// Shared by every handler.
struct Context {
    client: ClientHandle,
    providers: BTreeMap<ProviderKind, String>,
    fetch: proto_core::fetch::client::FetchClientConfig,
}

/// Serves on `listener` until `shutdown` completes, then lets in-flight requests finish for
/// [`SHUTDOWN_GRACE`]. `rng` seeds every nonce and ephemeral key.
pub async fn serve(
    listener: TcpListener,
    config: ProxyConfig,
    rng: ChaCha20Rng,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    if config.providers.is_empty() {
        return Err(ServeError::NoProviders);
    }
    let fetch = config.client.fetch.clone();
    let (client, actor) = actor::spawn(Client::new(config.client, rng));
    let context = Arc::new(Context { client, providers: config.providers, fetch });
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("teep: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let context = context.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let context = context.clone();
                async move { Ok::<_, Infallible>(routes::handle(request, &context).await) }
            });
            let _ = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async { while connections.join_next().await.is_some() {} }).await;
    connections.abort_all();
    drop(context);
    // The client task ends once its last request does; it is not waited for beyond the grace.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, actor).await;
    Ok(())
}
