//! `greyfaas`: the OpenFaaS gateway on one machine.
//!
//! - `greyfaas up` — reads stack.yml, starts the S3 store, runs every function as
//!   processes with replicas, serves the OpenFaaS gateway API, scales by request rate.
//! - `greyfaas store` — just the S3 store (s3s-fs over a folder).
//! - `greyfaas verify` — checks every stored object: name == sha256(content).

mod auth;
mod deploy;
mod error;
mod function;
mod gateway;
mod logs;
mod metrics;
mod proxy;
mod queue;
mod scaler;
mod secrets;
mod stack;
mod store;
mod supervisor;
mod system;
mod up;
mod verify;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "greyfaas",
    version,
    about = "The OpenFaaS gateway, functions and an S3 store on one machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the store, the functions of stack.yml and the gateway.
    Up(up::UpArgs),
    /// Serve the S3 store alone.
    Store {
        /// Where objects live.
        #[arg(long, default_value = ".greyfaas/objects")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 9000)]
        port: u16,
        /// Holds s3-access-key and s3-secret-key (generated when missing).
        #[arg(long, default_value = ".greyfaas/secrets")]
        secrets_dir: PathBuf,
    },
    /// Check that every stored object's name is the SHA-256 of its content.
    Verify(up::StoreArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    openfaas_runtime::init_logging(std::env::var("log_format").is_ok_and(|v| v == "json"));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => up::run(args).await,
            Command::Store {
                data_dir,
                port,
                secrets_dir,
            } => match store::serve(data_dir, port, secrets_dir).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("store: {e}");
                    ExitCode::FAILURE
                }
            },
            Command::Verify(args) => up::verify(args).await,
        }
    })
}
