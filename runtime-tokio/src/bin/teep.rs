//! `teep`: attested, end-to-end encrypted access to TEE AI providers.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;

use proto_core::config::Config;
use proto_core::fetch::client::FetchClientConfig;
use proto_core::provider::{ProviderKind, UnknownProvider};
use proto_core::attestation::factors::E2eeTest;
use proto_core::report::Factor;
use proto_core::session::{PromptSession, e2ee_test_prompt, e2ee_test_outcome};
use proto_core::verify::{Clearance, LiveOutput, LiveVerification, VerifyConfig};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use runtime_tokio::demo::DemoRuntime;
use rustls_pki_types::UnixTime;
use proto_core::report::{Agreement, ReferenceReport, Report, Status, compare};

/// Verifies that an AI provider runs inside genuine TEE hardware, and talks to it only over a
/// channel bound to that attestation.
#[derive(Parser)]
#[command(name = "teep", version)]
struct Cli {
    /// TOML configuration file (allow-fail lists, measurement policies, provider keys).
    /// Default: the path in TEEP_CONFIG, if set.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the version and the TLS crypto provider.
    Version,
    /// Run the OpenAI-compatible local proxy (`provider:model` names). Every provider with an
    /// API key (its environment variable or the config file) is served.
    Serve(ServeArgs),
    /// Verify a provider's attestation and print the factor report: live (PROVIDER --model M,
    /// API key from the provider's environment variable or the config file), or offline from a
    /// recorded session (--replay DIR).
    Verify(VerifyArgs),
    /// Run attestation and an end-to-end encrypted chat against built-in simulated providers:
    /// offline, no keys, test roots trusted by this run only.
    Demo(DemoArgs),
}

#[derive(Args)]
struct VerifyArgs {
    /// Provider (venice, neardirect, nearcloud, chutes, phalacloud, nanogpt). With --replay it
    /// is optional and must match the capture.
    provider: Option<String>,
    /// Model name as the provider knows it. With --replay it is optional and must match.
    #[arg(long)]
    model: Option<String>,
    /// Verify a recorded session directory (manifest.json + responses/) instead of the network.
    #[arg(long, value_name = "DIR")]
    replay: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// With --replay: compare each factor's verdict with the capture's report.txt; exit 1 on
    /// any difference that is not a documented deviation.
    #[arg(long, requires = "replay")]
    compare: bool,
    /// Live: record every exchange into DIR (the capture format --replay reads), with the
    /// report as report.txt.
    #[arg(long, value_name = "DIR", conflicts_with = "replay")]
    capture: Option<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (plain HTTP; keep it on loopback).
    #[arg(long, env = "TEEP_LISTEN_ADDR", default_value = runtime_tokio::proxy::DEFAULT_LISTEN_ADDR)]
    listen: String,
}

#[derive(Args)]
struct DemoArgs {
    /// Which runtime drives the sessions.
    #[arg(long, value_enum, default_value_t = RuntimeArg::Tokio)]
    runtime: RuntimeArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum RuntimeArg {
    /// runtime-blocking (threads).
    Blocking,
    /// runtime-smol.
    Smol,
    /// runtime-tokio.
    Tokio,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// The report a person reads.
    Text,
    /// The report as JSON.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("teep {} (TLS: rustls with aws-lc-rs, X25519MLKEM768 preferred)", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Verify(args) => match load_config(cli.config).and_then(|config| verify(&args, &config)) {
            Ok(code) => code,
            Err(message) => {
                eprintln!("teep: {message}");
                ExitCode::from(1)
            }
        },
        Command::Demo(args) => {
            let runtime = match args.runtime {
                RuntimeArg::Blocking => DemoRuntime::Blocking,
                RuntimeArg::Smol => DemoRuntime::Smol,
                RuntimeArg::Tokio => DemoRuntime::Tokio,
            };
            match runtime_tokio::demo::run(runtime, &mut std::io::stdout()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("teep: demo: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Serve(args) => match load_config(cli.config).and_then(|config| serve(&args, &config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("teep: {message}");
                ExitCode::from(1)
            }
        },
    }
}

/// `teep serve`: the proxy, until Ctrl-C or SIGTERM.
fn serve(args: &ServeArgs, config: &Config) -> Result<(), String> {
    use runtime_tokio::proxy::{ProxyConfig, serve};
    let addr: std::net::SocketAddr =
        args.listen.parse().map_err(|e| format!("listen address {:?}: {e} (expected host:port, e.g. 127.0.0.1:8337)", args.listen))?;
    let mut providers = std::collections::BTreeMap::new();
    let mut verify = std::collections::BTreeMap::new();
    for provider in ProviderKind::ALL {
        let Some(key) = config.resolve_api_key(provider, |var| std::env::var(var).ok()).filter(|k| !k.is_empty()) else {
            continue;
        };
        let mut verify_config = VerifyConfig::defaults(provider);
        config.apply(provider, false, &mut verify_config);
        verify_config.api_key = Some(key.clone());
        providers.insert(provider, key);
        verify.insert(provider, verify_config);
    }
    if providers.is_empty() {
        return Err(runtime_tokio::proxy::ServeError::NoProviders.to_string());
    }
    let rng = runtime_tokio::os_rng().map_err(|e| e.to_string())?;
    let names: Vec<&str> = providers.keys().map(|p| p.name()).collect();
    let proxy = ProxyConfig {
        client: proto_core::client::ClientConfig { fetch: FetchClientConfig::default(), verify, pinned_wall_time: None },
        providers,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("listen on {addr}: {e}"))?;
        eprintln!("teep: proxy listening on http://{addr} (providers: {}; model names are provider:model)", names.join(", "));
        serve(listener, proxy, rng, shutdown_signal()).await.map_err(|e| e.to_string())?;
        eprintln!("teep: server stopped");
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The configuration from `--config`, else from `TEEP_CONFIG`, else none (built-in defaults).
fn load_config(flag: Option<PathBuf>) -> Result<Config, String> {
    let path = flag.or_else(|| std::env::var_os("TEEP_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from));
    let Some(path) = path else { return Ok(Config::default()) };
    let loaded = runtime_blocking::config_fs::load_config(&path).map_err(|e| e.to_string())?;
    for warning in &loaded.warnings {
        eprintln!("teep: warning: {warning}");
    }
    Ok(loaded.config)
}

fn verify(args: &VerifyArgs, config: &Config) -> Result<ExitCode, String> {
    let Some(dir) = &args.replay else {
        return verify_live(args, config);
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let capture = runtime.block_on(runtime_tokio::replay::load_capture(dir)).map_err(|e| e.to_string())?;
    if let Some(p) = &args.provider
        && *p != capture.manifest.provider {
            return Err(format!("provider {p:?} does not match the capture's {:?}", capture.manifest.provider));
        }
    if let Some(m) = &args.model
        && *m != capture.manifest.model {
            return Err(format!("model {m:?} does not match the capture's {:?}", capture.manifest.model));
        }
    let provider = capture.manifest.provider_kind().map_err(|e| format!("manifest.json: provider: {e}"))?;
    let configure = |c: &mut proto_core::verify::VerifyConfig| config.apply(provider, false, c);
    let outcome = proto_core::verify::replay_capture_with(&capture, configure, |_| 0).map_err(|e| e.to_string())?;
    for request in &outcome.unmatched {
        eprintln!("teep: warning: replay had no recorded answer for {request}");
    }
    let report = outcome.report.map_err(|e| format!("replay verification: {e}"))?;
    if args.compare {
        return compare_with_reference(&report, dir);
    }
    match args.format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => print!("{}", report.to_json()),
    }
    Ok(if report.is_blocked() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Verifies a provider over the network, printing progress on stderr.
fn verify_live(args: &VerifyArgs, config: &Config) -> Result<ExitCode, String> {
    let name = args.provider.as_deref().ok_or("name a provider (venice, neardirect, nearcloud, chutes, phalacloud, nanogpt) or use --replay DIR")?;
    let provider: ProviderKind = name.parse().map_err(|e: UnknownProvider| e.to_string())?;
    let model = args.model.as_deref().ok_or_else(|| format!("--model is required to verify {name} live"))?;
    let api_key = config.resolve_api_key(provider, |var| std::env::var(var).ok()).ok_or_else(|| {
        format!(
            "no API key for {name}: set {} (or api_key / api_key_env in [providers.{name}] of the config file)",
            provider.api_key_env()
        )
    })?;
    let mut verify_config = VerifyConfig::defaults(provider);
    config.apply(provider, false, &mut verify_config);
    verify_config.api_key = Some(api_key.clone());
    if provider.e2ee_by_default() {
        // The encrypted test request after attestation decides e2ee_usable.
        verify_config.e2ee = E2eeTest::PendingLiveTest;
    }
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).map_err(|e| format!("no OS randomness for the nonce: {e}"))?;
    let machine =
        LiveVerification::new(provider, model, nonce, verify_config, UnixTime::now(), FetchClientConfig::default());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (result, machine) = runtime.block_on(async move {
        let mut driver = runtime_tokio::Driver::new(machine);
        driver.apply(|m, now| m.start(now));
        let progress = std::io::stderr().is_terminal();
        let mut result = None;
        while let Some(output) = driver.next_output().await {
            match output {
                LiveOutput::Progress { answered, asked, .. } if progress => {
                    eprint!("\rteep: verifying {name} / {model}: {answered}/{asked} answers");
                }
                LiveOutput::Progress { .. } => {}
                LiveOutput::Finished(r) => result = Some(r),
            }
        }
        if progress {
            eprintln!();
        }
        (result, driver.into_machine())
    });
    let mut machine = machine;
    let result = result.ok_or("the verification ended without a report")?;
    let result = match (result, machine.clearance().cloned()) {
        (Ok(report), Some(clearance)) if provider.e2ee_by_default() => {
            let test = live_e2ee_test(&runtime, clearance, api_key)?;
            machine.record_e2ee_outcome(&test);
            Ok(report.with_outcome(Factor::E2eeUsable, proto_core::attestation::factors::e2ee_usable(&test)))
        }
        (other, _) => other,
    };
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            save_capture(args.capture.as_deref(), &machine, None)?;
            return Err(format!("verify {name}: {e}"));
        }
    };
    save_capture(args.capture.as_deref(), &machine, Some(&report))?;
    match args.format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => print!("{}", report.to_json()),
    }
    Ok(if report.is_blocked() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The live E2EE test (one short encrypted streaming chat to the attested key): its outcome.
fn live_e2ee_test(runtime: &tokio::runtime::Runtime, clearance: Clearance, api_key: String) -> Result<E2eeTest, String> {
    let provider = clearance.provider();
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no OS randomness: {e}"))?;
    let session = PromptSession::with_clearance(
        clearance,
        e2ee_test_prompt(Some(api_key)),
        true,
        FetchClientConfig::default(),
        ChaCha20Rng::from_seed(seed),
    );
    let outputs = runtime.block_on(async move {
        let mut driver = runtime_tokio::Driver::new(session);
        driver.apply(|m, now| m.start(now));
        driver.run_to_completion().await
    });
    Ok(e2ee_test_outcome(provider, &outputs))
}

/// Writes the recording (and the report, when there is one) to `dir`, if asked.
fn save_capture(dir: Option<&std::path::Path>, machine: &LiveVerification, report: Option<&Report>) -> Result<(), String> {
    let Some(dir) = dir else { return Ok(()) };
    let capture = machine.capture();
    runtime_blocking::capture_fs::save_capture(dir, &capture).map_err(|e| format!("write capture {}: {e}", dir.display()))?;
    if let Some(report) = report {
        runtime_blocking::capture_fs::save_report(dir, &report.to_text())
            .map_err(|e| format!("write report {}: {e}", dir.display()))?;
    }
    eprintln!("teep: recorded {} exchanges in {}", capture.exchanges.len(), dir.display());
    Ok(())
}

fn verdict(v: Option<(Status, bool)>) -> String {
    match v {
        None => "absent".to_owned(),
        Some((status, enforced)) => {
            format!("{} [{}]", status.as_str(), if enforced { "ENFORCED" } else { "ALLOWED" })
        }
    }
}

fn compare_with_reference(report: &Report, dir: &std::path::Path) -> Result<ExitCode, String> {
    let path = dir.join("report.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("read captured report {}: {e}", path.display()))?;
    let reference = ReferenceReport::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows = compare(report, &reference);
    let (mut agree, mut known, mut differ) = (0, 0, 0);
    println!("Comparison with {}", path.display());
    for row in &rows {
        match &row.agreement {
            Agreement::Agree => {
                agree += 1;
                println!("  = {:<32} {}", row.name, verdict(row.ours));
            }
            Agreement::KnownDeviation(reason) => {
                known += 1;
                println!(
                    "  ~ {:<32} ours {} / reference {} (documented deviation: {reason})",
                    row.name,
                    verdict(row.ours),
                    verdict(row.reference)
                );
            }
            Agreement::Differs => {
                differ += 1;
                println!("  ≠ {:<32} ours {} / reference {}", row.name, verdict(row.ours), verdict(row.reference));
            }
        }
    }
    println!("{} factors: {agree} agree, {known} documented deviations, {differ} differ", rows.len());
    Ok(if differ == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
