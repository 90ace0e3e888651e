//! The S3 store `up` and `verify` use: the embedded one (`greyfaas store`, a child
//! process over the data folder, restarted if it dies), or an external endpoint.

use super::process::{dies_with_us, free_port, terminate};
use greyfaas_store::{Store, StoreConfig};
use std::path::{Path, PathBuf};
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

impl StoreArgs {
    /// The data folder: `--data-dir`, else `.greyfaas` in `base`.
    pub fn data_dir(&self, base: &Path) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| base.join(".greyfaas"))
    }
}

/// Why the store could not be had.
#[derive(Debug, thiserror::Error)]
pub enum StoreStartError {
    #[error("cannot write the store's credentials in {0}: {1}")]
    Credentials(PathBuf, std::io::Error),
    #[error("cannot start the embedded store: {0}")]
    Spawn(std::io::Error),
    #[error("the embedded store did not start within 10 s")]
    NotListening,
    #[error("the store's settings: {0}")]
    Config(#[from] greyfaas_store::ConfigError),
}

/// A running store: its endpoint, and the supervising task of an embedded one.
pub struct StoreHandle {
    pub endpoint: String,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// How long the store may take to stop on SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(15);

impl StoreHandle {
    /// Starts the embedded store as a supervised child (restarted if it dies) with its
    /// objects and secrets in `data`, or uses the external endpoint.
    pub async fn start(args: &StoreArgs, data: &Path) -> Result<StoreHandle, StoreStartError> {
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
            .map_err(|e| StoreStartError::Credentials(secrets.clone(), e))?;
        let port = free_port().map_err(StoreStartError::Spawn)?;
        let exe = this_executable().map_err(StoreStartError::Spawn)?;
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
                    .arg(&secrets);
                dies_with_us(&mut command);
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
                        terminate(&mut child, STOP_GRACE).await;
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
        Err(StoreStartError::NotListening)
    }

    /// A client of this store, with the credentials in `data`'s secrets folder.
    pub fn client(&self, data: &Path) -> Result<Store, StoreStartError> {
        let secrets = data.join("secrets").display().to_string();
        let endpoint = self.endpoint.clone();
        let config = StoreConfig::from_lookup(|k| match k {
            "s3_endpoint" => Some(endpoint.clone()),
            "secret_mount_path" => Some(secrets.clone()),
            other => std::env::var(other).ok(),
        })?;
        Ok(Store::new(config))
    }

    /// Stops an embedded store (SIGTERM) and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }
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
