//! The task that owns the client: it submits what handlers ask for and routes each request's
//! events back to the handler that asked.

use std::collections::HashMap;

use proto_core::client::{Client, ClientEvent, ClientStats, RequestId};
use proto_core::provider::ProviderKind;
use proto_core::report::Report;
use proto_core::session::Prompt;
use proto_core::state::CacheKey;
use rand_chacha::ChaCha20Rng;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Driver, Next};

/// What a handler asks of the client task.
enum Command {
    Submit { ticket: u64, provider: ProviderKind, model: String, prompt: Prompt, events: UnboundedSender<ClientEvent> },
    /// The handler of `ticket` went away (its caller disconnected).
    Abandon { ticket: u64 },
    Report { provider: ProviderKind, model: String, reply: oneshot::Sender<Option<Report>> },
    Stats { reply: oneshot::Sender<(ClientStats, usize)> },
}

/// A handler's way to the client task. Cloning it is cheap.
#[derive(Clone, Debug)]
pub struct ClientHandle {
    commands: UnboundedSender<Command>,
    tickets: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// One submitted request's events, `End` or `Failed` last. Dropping it (the HTTP caller went
/// away) cancels the request at once, even while its attestation runs.
#[derive(Debug)]
pub struct RequestEvents {
    events: UnboundedReceiver<ClientEvent>,
    ticket: u64,
    commands: UnboundedSender<Command>,
}

impl RequestEvents {
    /// The next event; `None` after the last.
    pub async fn recv(&mut self) -> Option<ClientEvent> {
        self.events.recv().await
    }
}

impl Drop for RequestEvents {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Abandon { ticket: self.ticket });
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Submit { provider, model, .. } => write!(f, "Submit({provider}:{model})"),
            Command::Abandon { ticket } => write!(f, "Abandon({ticket})"),
            Command::Report { provider, model, .. } => write!(f, "Report({provider}:{model})"),
            Command::Stats { .. } => f.write_str("Stats"),
        }
    }
}

impl ClientHandle {
    /// Submits a prompt; its events arrive through the returned [`RequestEvents`].
    pub fn submit(&self, provider: ProviderKind, model: &str, prompt: Prompt) -> RequestEvents {
        let (events, receiver) = unbounded_channel();
        let ticket = self.tickets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let command = Command::Submit { ticket, provider, model: model.to_owned(), prompt, events };
        // If the client task is gone the sender drops here and the receiver reads None.
        let _ = self.commands.send(command);
        RequestEvents { events: receiver, ticket, commands: self.commands.clone() }
    }

    /// The client's counters and the number of requests in flight.
    pub async fn stats(&self) -> Option<(ClientStats, usize)> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Stats { reply }).ok()?;
        answer.await.ok()
    }

    /// The cached report for (provider, model), if any.
    pub async fn report(&self, provider: ProviderKind, model: &str) -> Option<Report> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Report { provider, model: model.to_owned(), reply }).ok()?;
        answer.await.ok().flatten()
    }
}

/// Starts the client task.
pub(super) fn spawn(client: Client<ChaCha20Rng>) -> (ClientHandle, JoinHandle<()>) {
    let (commands, inbox) = unbounded_channel();
    let task = tokio::spawn(run(client, inbox));
    (ClientHandle { commands, tickets: Default::default() }, task)
}

async fn run(client: Client<ChaCha20Rng>, mut inbox: UnboundedReceiver<Command>) {
    let mut driver = Driver::new(client);
    let mut sinks: HashMap<RequestId, UnboundedSender<ClientEvent>> = HashMap::new();
    let mut tickets: HashMap<u64, RequestId> = HashMap::new();
    loop {
        match driver.next_or_message(&mut inbox).await {
            Next::Output(output) => {
                let last = matches!(output.event, ClientEvent::End | ClientEvent::Failed(_));
                let request = output.request;
                let delivered = sinks.get(&request).is_some_and(|sink| sink.send(output.event).is_ok());
                if last {
                    sinks.remove(&request);
                    tickets.retain(|_, r| *r != request);
                } else if !delivered {
                    // The caller went away: stop the request.
                    sinks.remove(&request);
                    driver.apply(|c, now| c.cancel(request, now));
                }
            }
            Next::Message(Command::Submit { ticket, provider, model, prompt, events }) => {
                let id = driver.apply(|c, now| c.submit(provider, &model, prompt, now));
                sinks.insert(id, events);
                tickets.insert(ticket, id);
            }
            Next::Message(Command::Abandon { ticket }) => {
                if let Some(request) = tickets.remove(&ticket)
                    && sinks.remove(&request).is_some()
                {
                    driver.apply(|c, now| c.cancel(request, now));
                }
            }
            Next::Message(Command::Stats { reply }) => {
                let _ = reply.send((driver.machine().stats(), driver.machine().in_flight()));
            }
            Next::Message(Command::Report { provider, model, reply }) => {
                let now = driver.now();
                let report = CacheKey::new(provider.name(), &model)
                    .ok()
                    .and_then(|key| driver.machine().state().reports.get(&key, now.mono).cloned());
                let _ = reply.send(report);
            }
            Next::Closed => return,
        }
    }
}
