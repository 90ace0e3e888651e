//! `greyfaas up`: everything a stack needs, on one machine, from one command. This
//! file only composes: build the functions, start the store, make the functions and
//! the gateway's parts, start replicas, workers and the scaler, serve, and stop in order.

use crate::cargo_build::{self, BuildError};
use crate::deploy::{Runtime, SpecError};
use crate::function::{Function, Functions};
use crate::gateway::Gateway;
use crate::metrics::GatewayMetrics;
use crate::proxy::Proxy;
use crate::queue::Workers;
use crate::scaler::Windows;
use crate::stack::{Stack, StackError};
use crate::supervisor::store::{StoreArgs, StoreHandle, StoreStartError};
use crate::system::System;
use openfaas_runtime::{Config, Server, parse_duration};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct UpArgs {
    /// The stack file.
    #[arg(short = 'f', long = "yaml", default_value = "stack.yml")]
    pub stack: PathBuf,
    /// The gateway's port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    #[command(flatten)]
    pub store: StoreArgs,
    /// With --no-build: where the function binaries are (default: the release folder of
    /// cargo's target directory for the stack, as `cargo metadata` reports it).
    #[arg(long, requires = "no_build")]
    pub bin_dir: Option<PathBuf>,
    /// Do not run `cargo build --release` for the functions first.
    #[arg(long)]
    pub no_build: bool,
    /// Let fetch-incoming download from private and loopback addresses, and async
    /// callbacks go to them (development only).
    #[arg(long)]
    pub allow_private_networks: bool,
    /// Scale-up window: how quickly a burst adds replicas.
    #[arg(long, default_value = "6s", value_parser = parse_duration)]
    pub panic_window: Duration,
    /// Scale-down window: load must stay low this long before replicas are removed.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub stable_window: Duration,
    #[command(flatten)]
    pub queue: crate::queue::QueueArgs,
    /// Serve /system/* without Basic auth. By default, as faasd, it needs the user and
    /// password in <data-dir>/secrets/basic-auth-user and basic-auth-password
    /// (generated on first start).
    #[arg(long)]
    pub no_basic_auth: bool,
    /// Act as an OpenFaaS provider: `/system/info` in the provider shape, for a real
    /// OpenFaaS gateway started with `functions_provider_url=http://127.0.0.1:<port>/`.
    #[arg(long)]
    pub provider: bool,
    /// A Host name (or address) the gateway also answers to, besides loopback
    /// (localhost, *.localhost, 127.0.0.0/8, [::1]); repeatable. Any other Host is
    /// refused with 421, so a page on a name re-pointed at this machine (DNS
    /// rebinding) cannot call the gateway.
    #[arg(long = "public-host", value_name = "NAME")]
    pub public_hosts: Vec<String>,
    /// How long the gateway waits for a function's answer.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,
}

/// Why `up` could not start.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Store(#[from] StoreStartError),
    #[error("cannot prepare {}: {source}", path.display())]
    Mounts {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("function {function}: no binary at {} (--no-build was given: build it, point --bin-dir at it, or drop --no-build)", binary.display())]
    NoBinary { function: String, binary: PathBuf },
    #[error("{}: {source}", stack.display())]
    Spec { stack: PathBuf, source: SpecError },
    #[error("cannot write {}: {source}", dir.display())]
    Auth {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Queue(#[from] crate::queue::OpenError),
    #[error("cannot listen on 127.0.0.1:{0}: {1}")]
    Listen(u16, std::io::Error),
}

pub async fn run(args: UpArgs) -> Result<(), UpError> {
    let stack = Stack::load(&args.stack)?;
    let data = args.store.data_dir(&stack.dir);

    // Every function's binary: where cargo says it built it, unless told not to build;
    // then in --bin-dir, or where cargo would put a release build.
    let packages = cargo_build::packages(&stack)?;
    let binaries = if args.no_build {
        packages
            .iter()
            .map(|(name, package)| {
                let binary = match &args.bin_dir {
                    Some(dir) => dir.join(&package.name),
                    None => cargo_build::release_binary(&stack.dir, package)?,
                };
                Ok((name.clone(), binary))
            })
            .collect::<Result<_, BuildError>>()?
    } else {
        cargo_build::build(&stack.dir, &packages)?
    };

    let store = StoreHandle::start(&args.store, &data).await?;
    let secrets_dir = data.join("secrets");
    let mounts_dir = crate::deploy::fresh_mounts_dir(&data).map_err(|source| UpError::Mounts {
        path: data.join("mounts"),
        source,
    })?;
    let runtime = Runtime {
        store_endpoint: store.endpoint.clone(),
        secrets_dir: secrets_dir.clone(),
        local_secrets_dir: stack.dir.join(".secrets"),
        mounts_dir,
        gateway_url: format!("http://127.0.0.1:{}", args.port),
        allow_private_networks: args.allow_private_networks,
        deployable_env: packages
            .iter()
            .map(|(name, package)| {
                (
                    name.clone(),
                    crate::setting_names::deployable(&package.name),
                )
            })
            .collect(),
    };
    let mut functions = BTreeMap::new();
    for (name, def) in &stack.functions {
        let binary = binaries[name].clone();
        if !binary.is_file() {
            return Err(UpError::NoBinary {
                function: name.clone(),
                binary,
            });
        }
        let spec = runtime
            .spec(name, def, binary)
            .map_err(|source| UpError::Spec {
                stack: args.stack.clone(),
                source,
            })?;
        functions.insert(name.clone(), Function::new(spec));
    }
    let functions = Arc::new(Functions::new(functions));

    let basic_auth = if args.no_basic_auth {
        None
    } else {
        let credentials =
            crate::auth::Credentials::ensure(&secrets_dir).map_err(|source| UpError::Auth {
                dir: secrets_dir.clone(),
                source,
            })?;
        Some(credentials)
    };
    let queue = Arc::new(
        args.queue
            .open(&data.join("queue"), args.allow_private_networks)?,
    );
    let proxy = Arc::new(Proxy {
        metrics: GatewayMetrics::new(),
        timeout: args.upstream_timeout,
    });
    let gateway = Arc::new(Gateway {
        functions: functions.clone(),
        proxy: proxy.clone(),
        queue: queue.clone(),
        system: System {
            functions: functions.clone(),
            runtime,
            queue: queue.clone(),
            provider_mode: args.provider,
        },
        basic_auth,
        hosts: crate::request_guard::HostAllowlist::new(&args.public_hosts),
    });
    let config = Config {
        port: args.port,
        metrics_port: 0,
        bind_address: [127, 0, 0, 1].into(),
        exec_timeout: None,
        write_timeout: args.upstream_timeout + Duration::from_secs(60),
        healthcheck_interval: Duration::ZERO,
        ..Config::default()
    };
    let handler_gateway = gateway.clone();
    let server = Server::new(config, move |req| {
        let gateway = handler_gateway.clone();
        async move { gateway.handle(req).await }
    })
    .start()
    .await
    .map_err(|e| UpError::Listen(args.port, e))?;

    for function in functions.all() {
        let initial = function.spec().scale.min;
        if initial > 0 {
            crate::supervisor::scale(function, initial);
        }
    }
    // After the initial replicas are asked for: calls kept from before a restart
    // would otherwise each "scale from zero".
    Workers {
        queue: queue.clone(),
        functions: functions.clone(),
        proxy,
    }
    .start(args.queue.async_workers);
    tokio::spawn(crate::scaler::run(
        functions.all().cloned().collect(),
        Windows {
            panic: args.panic_window,
            stable: args.stable_window,
        },
    ));

    // Announce only once every initial replica answers /_/health (at most 30 s), so
    // the printed lines, and anything started after them, find everything ready.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while functions.all().any(|f| f.ready_count() < f.desired())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gw = format!("http://{}", server.addr);
    announce(&gw, &gateway, &store, &data, &stack.dir);

    openfaas_runtime::wait_for_signal().await;
    eprintln!("greyfaas: shutting down");
    server.shutdown().await;
    // Async calls under way finish (their functions still run); the rest stay queued.
    queue.close();
    queue.settle(args.upstream_timeout).await;
    for function in functions.all() {
        crate::supervisor::stop_all(function).await;
    }
    store.stop().await;
    Ok(())
}

/// The lines `up` prints once everything is ready: where things are, how to log in,
/// and a pipeline to try.
fn announce(gw: &str, gateway: &Gateway, store: &StoreHandle, data: &Path, stack_dir: &Path) {
    println!("greyfaas is up");
    println!(
        "  gateway:   {gw}   (OpenFaaS API: /function/<name>, /async-function/<name>, /system/functions, /metrics)"
    );
    for (name, function) in gateway.functions.iter() {
        println!(
            "  function:  {gw}/function/{name}   ({} replica(s))",
            function.desired()
        );
    }
    println!(
        "  store:     {} (objects in {})",
        store.endpoint,
        data.join("objects").display()
    );
    println!("  secrets:   {}", data.join("secrets").display());
    match &gateway.basic_auth {
        Some(credentials) => {
            println!("log faas-cli in (the /system API needs it):");
            println!("  {}", credentials.login_line(gw));
        }
        None => println!("  auth:      off (--no-basic-auth): /system/* is open"),
    }
    let sample = sample_image(stack_dir);
    println!("try the whole pipeline (upload, convert, read back; no internet needed):");
    println!("  {}", pipeline_line(gw, &sample));
}

/// An image to try the pipeline on: the photo corpus beside the checkout when it is
/// there (README: `../shared/corpus`), else a name for the user to replace.
fn sample_image(stack_dir: &Path) -> String {
    let corpus = stack_dir.join("../shared/corpus/small-png_astronaut_512x512.png");
    match corpus.canonicalize() {
        Ok(path) => path.display().to_string(),
        Err(_) => "photo.jpg".into(),
    }
}

/// One shell line that uploads `image` to fetch-incoming, converts it by path and
/// saves the result: `curl -f` and `&&` make any failing step stop it with an error.
pub fn pipeline_line(gw: &str, image: &str) -> String {
    let path_of = |var: &str| format!(r#"{var}=${{{var}#*'"path":"'}} && {var}=${{{var}%%'"'*}}"#);
    format!(
        concat!(
            r#"IMG='{image}'; P=$(curl -sSf --data-binary @"$IMG" -H 'Content-Type: application/octet-stream' {gw}/function/fetch-incoming) && {p} && "#,
            r#"Q=$(curl -sSf {gw}/function/greyscale -d "{{\"path\":\"$P\"}}") && {q} && "#,
            r#"curl -sSf -o "grey.${{IMG##*.}}" {gw}/function/get-object$Q && echo "saved grey.${{IMG##*.}} from $Q""#
        ),
        image = image,
        gw = gw,
        p = path_of("P"),
        q = path_of("Q"),
    )
}
