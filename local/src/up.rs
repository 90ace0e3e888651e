//! `greyfaas up`: everything a stack needs, on one machine, from one command.

use crate::gateway::Gateway;
use crate::scaler::Windows;
use crate::stack::Stack;
use crate::supervisor::{Function, free_port};
use greyfaas_store::{Store, StoreConfig};
use openfaas_runtime::{Config, Server, parse_duration};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Where the store is: embedded (a child process over a folder) or external.
#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    /// Data folder: objects/ and secrets/ (default: .greyfaas beside stack.yml).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Use this S3/MinIO endpoint instead of the embedded store; its credentials are
    /// read from <data-dir>/secrets/s3-access-key and s3-secret-key.
    #[arg(long, env = "GREYFAAS_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
}

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
    /// Where the function binaries are (default: target/release beside stack.yml).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Do not run `cargo build --release` for the functions first.
    #[arg(long)]
    pub no_build: bool,
    /// Let fetch-incoming download from private and loopback addresses, and async
    /// callbacks go to them (development only).
    #[arg(long)]
    pub allow_private_networks: bool,
    /// Scale-up window: how quickly a burst adds replicas.
    #[arg(long, default_value = "6s", value_parser = duration)]
    pub panic_window: Duration,
    /// Scale-down window: load must stay low this long before replicas are removed.
    #[arg(long, default_value = "60s", value_parser = duration)]
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
    /// How long the gateway waits for a function's answer.
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub upstream_timeout: Duration,
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("greyfaas: {message}");
    ExitCode::FAILURE
}

fn data_dir(args: &StoreArgs, base: &Path) -> PathBuf {
    args.data_dir
        .clone()
        .unwrap_or_else(|| base.join(".greyfaas"))
}

/// A running store: its endpoint, and the supervising task for an embedded one.
struct StoreHandle {
    endpoint: String,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// Starts the embedded store as a supervised child (restarted if it dies), or uses the
/// external endpoint.
async fn start_store(args: &StoreArgs, data: &Path) -> Result<StoreHandle, String> {
    let secrets = data.join("secrets");
    let (stop, _) = tokio::sync::watch::channel(false);
    if let Some(endpoint) = &args.s3_endpoint {
        return Ok(StoreHandle {
            endpoint: endpoint.clone(),
            task: None,
            stop,
        });
    }
    crate::store::ensure_credentials(&secrets)
        .map_err(|e| format!("cannot write secrets in {}: {e}", secrets.display()))?;
    let port = free_port().map_err(|e| e.to_string())?;
    let exe = this_executable().map_err(|e| e.to_string())?;
    let objects = data.join("objects");
    let mut stopped = stop.subscribe();
    let task = tokio::spawn(async move {
        loop {
            let mut command = tokio::process::Command::new(&exe);
            command
                .arg("store")
                .arg("--data-dir")
                .arg(&objects)
                .arg("--port")
                .arg(port.to_string())
                .arg("--secrets-dir")
                .arg(&secrets)
                .kill_on_drop(true);
            // SAFETY: prctl only flags the new process to die with us.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let mut child = match command.spawn() {
                Ok(child) => child,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the store");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            tokio::select! {
                status = child.wait() => tracing::warn!(status = ?status.ok(), "store exited; restarting"),
                _ = async { let _ = stopped.wait_for(|s| *s).await; } => {
                    if let Some(pid) = child.id() {
                        // SAFETY: signalling our own child.
                        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                    }
                    let _ = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let endpoint = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(StoreHandle {
                endpoint,
                task: Some(task),
                stop,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the embedded store did not start within 10 s".into())
}

/// This program's path, for `greyfaas store`. A build started by `up` may have
/// replaced the file while we run (Linux then reports "<path> (deleted)"): the new
/// file at the same path is the same program.
fn this_executable() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let text = exe.to_string_lossy();
    Ok(match text.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => exe,
    })
}

fn store_client(endpoint: &str, data: &Path) -> Result<Store, String> {
    let secrets = data.join("secrets").display().to_string();
    let endpoint = endpoint.to_string();
    let config = StoreConfig::from_lookup(|k| match k {
        "s3_endpoint" => Some(endpoint.clone()),
        "secret_mount_path" => Some(secrets.clone()),
        other => std::env::var(other).ok(),
    })
    .map_err(|e| e.to_string())?;
    Ok(Store::new(config))
}

/// Whether `dir` is the workspace greyfaas was built from (so `-p greyfaas` resolves).
fn is_this_workspace(dir: &Path) -> bool {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match (dir.canonicalize(), workspace.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The package name in a handler's Cargo.toml: the binary cargo builds for it.
fn package_name(handler: &Path) -> Result<String, String> {
    let manifest = handler.join("Cargo.toml");
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let value: toml::Value =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("{}: no [package] name", manifest.display()))
}

pub async fn run(args: UpArgs) -> ExitCode {
    let stack = match Stack::load(&args.stack) {
        Ok(stack) => stack,
        Err(e) => return fail(e),
    };
    let data = data_dir(&args.store, &stack.dir);
    let bin_dir = args
        .bin_dir
        .clone()
        .unwrap_or_else(|| stack.dir.join("target/release"));

    // Every function's binary, built unless told otherwise.
    let mut packages = BTreeMap::new();
    for (name, def) in &stack.functions {
        if def.lang.as_deref() != Some("rust-hyper") {
            return fail(format!(
                "function {name}: lang {:?}: greyfaas up runs rust-hyper functions",
                def.lang
            ));
        }
        let handler = stack.dir.join(def.handler.as_deref().unwrap_or(name));
        match package_name(&handler) {
            Ok(package) => packages.insert(name.clone(), package),
            Err(e) => return fail(format!("function {name}: {e}")),
        };
    }
    if !args.no_build {
        let mut cargo =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        // With greyfaas among the packages, features unify as in `cargo run --release
        // -p greyfaas` (which depends on the functions), so a first start builds every
        // crate once; --bins keeps the libraries (all named `handler`) out of
        // target/release, where their names would collide.
        cargo
            .current_dir(&stack.dir)
            .args(["build", "--release", "--bins"]);
        // `cargo run` sets these for the program it runs; build scripts such as ring's
        // declare rerun-if-env-changed on them, so passing them on would make this
        // build redo those crates (and everything above them).
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_CFG_")
                || matches!(
                    key.as_ref(),
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_MANIFEST_LINKS"
                        | "CARGO_BIN_NAME"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "OUT_DIR"
                )
            {
                cargo.env_remove(key.as_ref());
            }
        }
        if is_this_workspace(&stack.dir) {
            cargo.args(["-p", env!("CARGO_PKG_NAME")]);
        }
        for package in packages.values() {
            cargo.args(["-p", package]);
        }
        eprintln!("greyfaas: building the functions (cargo build --release --bins) …");
        match cargo.status() {
            Ok(status) if status.success() => {}
            Ok(status) => return fail(format!("cargo build failed ({status})")),
            Err(e) => return fail(format!("cannot run cargo: {e}")),
        }
    }

    let store = match start_store(&args.store, &data).await {
        Ok(store) => store,
        Err(e) => return fail(e),
    };
    let secrets_dir = data.join("secrets");
    let mounts_dir = match crate::deploy::fresh_mounts_dir(&data) {
        Ok(dir) => dir,
        Err(e) => {
            return fail(format!(
                "cannot prepare {}: {e}",
                data.join("mounts").display()
            ));
        }
    };
    let runtime = crate::deploy::Runtime {
        store_endpoint: store.endpoint.clone(),
        secrets_dir: secrets_dir.clone(),
        local_secrets_dir: stack.dir.join(".secrets"),
        mounts_dir,
        gateway_url: format!("http://127.0.0.1:{}", args.port),
        allow_private_networks: args.allow_private_networks,
    };
    let mut functions = BTreeMap::new();
    for (name, def) in &stack.functions {
        let binary = bin_dir.join(&packages[name]);
        if !binary.is_file() {
            return fail(format!(
                "function {name}: no binary at {} (build it, or drop --no-build)",
                binary.display()
            ));
        }
        match runtime.spec(name, def, binary) {
            Ok(spec) => functions.insert(name.clone(), Function::new(spec)),
            Err(e) => return fail(format!("{}: {e}", args.stack.display())),
        };
    }

    let basic_auth = if args.no_basic_auth {
        None
    } else {
        match crate::auth::Credentials::ensure(&secrets_dir) {
            Ok(credentials) => Some(credentials),
            Err(e) => return fail(format!("cannot write {}: {e}", secrets_dir.display())),
        }
    };
    let queue = match args
        .queue
        .open(&data.join("queue"), args.allow_private_networks)
    {
        Ok(queue) => queue,
        Err(e) => return fail(e),
    };
    let gateway = Arc::new(Gateway {
        functions: functions.clone(),
        metrics: crate::metrics::GatewayMetrics::new(),
        queue,
        basic_auth,
        upstream_timeout: args.upstream_timeout,
        runtime,
        provider_mode: args.provider,
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
    let server = match Server::new(config, move |req| {
        let gateway = handler_gateway.clone();
        async move { gateway.handle(req).await }
    })
    .start()
    .await
    {
        Ok(server) => server,
        Err(e) => return fail(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)),
    };

    for function in functions.values() {
        let initial = function.spec().scale.min;
        if initial > 0 {
            function.scale_to(initial);
        }
    }
    // After the initial replicas are asked for: calls kept from before a restart
    // would otherwise each "scale from zero".
    crate::queue::start_workers(gateway.clone(), args.queue.async_workers);
    tokio::spawn(crate::scaler::run(
        functions.values().cloned().collect(),
        Windows {
            panic: args.panic_window,
            stable: args.stable_window,
        },
    ));

    // Announce only once every initial replica answers /_/health (at most 30 s), so
    // the printed lines, and anything started after them, find everything ready.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while functions.values().any(|f| f.ready_count() < f.desired())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gw = format!("http://{}", server.addr);
    println!("greyfaas is up");
    println!(
        "  gateway:   {gw}   (OpenFaaS API: /function/<name>, /async-function/<name>, /system/functions, /metrics)"
    );
    for (name, function) in &functions {
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
    println!("  secrets:   {}", secrets_dir.display());
    match &gateway.basic_auth {
        Some(credentials) => {
            println!("log faas-cli in (the /system API needs it):");
            println!("  {}", credentials.login_line(&gw));
        }
        None => println!("  auth:      off (--no-basic-auth): /system/* is open"),
    }
    let sample = sample_image(&stack.dir);
    println!("try the whole pipeline (upload, convert, read back; no internet needed):");
    println!("  {}", pipeline_line(&gw, &sample));
    openfaas_runtime::wait_for_signal().await;
    eprintln!("greyfaas: shutting down");
    server.shutdown().await;
    // Async calls under way finish (their functions still run); the rest stay queued.
    gateway.queue.close();
    gateway.queue.settle(args.upstream_timeout).await;
    for function in functions.values() {
        function.stop_all().await;
    }
    let _ = store.stop.send(true);
    if let Some(task) = store.task {
        let _ = task.await;
    }
    ExitCode::SUCCESS
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

pub async fn verify(args: StoreArgs) -> ExitCode {
    let data = data_dir(&args, Path::new("."));
    let store_handle = match start_store(&args, &data).await {
        Ok(handle) => handle,
        Err(e) => return fail(e),
    };
    let store = match store_client(&store_handle.endpoint, &data) {
        Ok(store) => store,
        Err(e) => return fail(e),
    };
    let result = crate::verify::scan(&store).await;
    let _ = store_handle.stop.send(true);
    if let Some(task) = store_handle.task {
        let _ = task.await;
    }
    match result {
        Ok(report) => {
            for bad in &report.bad {
                println!("BAD {bad}");
            }
            println!(
                "verify: {} objects checked, {} bad",
                report.checked,
                report.bad.len()
            );
            if report.bad.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => fail(format!("cannot scan the store: {e}")),
    }
}
