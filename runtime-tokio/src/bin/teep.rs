//! `teep`: attested, end-to-end encrypted access to TEE AI providers.

use clap::{Parser, Subcommand};

/// Verifies that an AI provider runs inside genuine TEE hardware, and talks to it only over a
/// channel bound to that attestation.
#[derive(Parser)]
#[command(name = "teep", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the version and the TLS crypto provider.
    Version,
    /// Run an OpenAI-compatible local proxy on 127.0.0.1:8337 (`provider:model` names)
    /// [not yet available].
    Serve,
    /// Attest a provider and print the factor report [not yet available].
    Verify,
    /// Run attestation and encrypted chat against built-in simulated providers, offline
    /// [not yet available].
    Demo,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("teep {} (TLS: rustls with aws-lc-rs, X25519MLKEM768 preferred)", env!("CARGO_PKG_VERSION"));
            std::process::ExitCode::SUCCESS
        }
        Command::Serve | Command::Verify | Command::Demo => {
            eprintln!("teep: this command is not implemented yet in this build");
            std::process::ExitCode::from(2)
        }
    }
}
