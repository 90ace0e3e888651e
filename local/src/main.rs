//! `greyfaas`: the OpenFaaS gateway on one machine.
//!
//! - `greyfaas up` — reads stack.yml, starts the S3 store, runs every function as
//!   processes with replicas, serves the OpenFaaS gateway API, scales by request rate.
//! - `greyfaas store` — just the S3 store (s3s-fs over a folder).
//! - `greyfaas verify` — checks every stored object: name == sha256(content).
//! - `greyfaas stack` — stack.yml as greyfaas reads it, for the deployment checks.
//!
//! # Layers
//!
//! Each module uses only those listed before it (`local/README.md` draws the graph):
//!
//! 1. leaves: [`error`], [`metrics`], [`logs`], [`loopback`], [`secret_file`] (how
//!    secret and credential files are read and written), [`store`], [`auth`];
//! 2. [`stack`] — stack.yml and scaling settings;
//! 3. [`function`] — specs, replicas, counters, the name → function table;
//! 4. [`supervisor`] — every child process (replicas, the store) and the health probe;
//! 5. [`deploy`] (definition → spec), [`scaler`] (how many replicas), [`proxy`] (one
//!    call to a replica, retried, counted);
//! 6. [`queue`] — async calls, run through the proxy;
//! 7. [`system`] — the `/system` API;
//! 8. [`gateway`] — the router;
//! 9. the commands: [`up`] (with [`cargo_build`]), [`verify`] and [`stack_command`].
//!
//! # Errors
//!
//! Every module returns its own typed error (`thiserror`), never a bare string. Where a
//! module meets HTTP, its error becomes a [`error::GatewayError`], which alone chooses
//! the status. A command's error reaches `main`, which prints it and exits non-zero:
//! that is the only place an error becomes text for the user.

mod auth;
mod cargo_build;
mod deploy;
mod error;
mod function;
mod gateway;
mod logs;
mod loopback;
mod metrics;
mod proxy;
mod queue;
mod request_guard;
mod scaler;
mod secret_file;
mod setting_names;
mod stack;
mod stack_command;
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
    // Boxed: up's options are most of the enum's size (clippy's large_enum_variant).
    Up(Box<up::UpArgs>),
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
    /// stack.yml as greyfaas reads it: show, check, Pro labels, KEDA objects.
    Stack(stack_command::StackArgs),
    /// Check that every stored object's name is the SHA-256 of its content.
    Verify(supervisor::store::StoreArgs),
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
            Command::Up(args) => exit_code(up::run(*args).await),
            Command::Stack(args) => exit_code(stack_command::run(args)),
            Command::Store {
                data_dir,
                port,
                secrets_dir,
            } => exit_code(store::serve(data_dir, port, secrets_dir).await),
            // 1: bad objects found; any other failure is reported as one.
            Command::Verify(args) => match verify::run(args).await {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => exit_code(Err(e)),
            },
        }
    })
}

/// The CLI edge: an error is printed once, as `greyfaas: …`, and exits non-zero.
fn exit_code<E: std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("greyfaas: {e}");
            ExitCode::FAILURE
        }
    }
}
