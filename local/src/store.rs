//! The embedded S3 store: s3s-fs (an S3 API over a folder) on loopback, run as its own
//! process (`greyfaas store`) so it can be restarted like any other component.

use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::path::{Path, PathBuf};

/// The store's credentials, as files in the functions' secrets folder.
pub const ACCESS_KEY_FILE: &str = "s3-access-key";
pub const SECRET_KEY_FILE: &str = "s3-secret-key";

/// Makes sure `secrets_dir` holds store credentials, generating random ones the first
/// time; returns (access key, secret key).
pub fn ensure_credentials(secrets_dir: &Path) -> std::io::Result<(String, String)> {
    std::fs::create_dir_all(secrets_dir)?;
    let access = read_or_create_secret(&secrets_dir.join(ACCESS_KEY_FILE), || {
        format!(
            "greyfaas{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    })?;
    let secret = read_or_create_secret(&secrets_dir.join(SECRET_KEY_FILE), || {
        uuid::Uuid::new_v4().simple().to_string()
    })?;
    Ok((access, secret))
}

/// A secret file's value (trimmed), written with `make()` when missing or empty.
pub fn read_or_create_secret(path: &Path, make: impl Fn() -> String) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => {
            let value = make();
            write_private(path, &value)?;
            Ok(value)
        }
    }
}

/// Writes a secret readable by this user only.
pub fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    write_private_bytes(path, value.as_bytes())
}

/// As [`write_private`], for any bytes.
pub fn write_private_bytes(path: &Path, value: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut file, value)
}

/// Serves the S3 API for the objects under `data_dir` on `127.0.0.1:port` until
/// SIGTERM/Ctrl-C. Writes go to a temporary file renamed into place, so a crash never
/// leaves a half-written object.
pub async fn serve(
    data_dir: PathBuf,
    port: u16,
    secrets_dir: PathBuf,
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&data_dir)?;
    let (access, secret) = ensure_credentials(&secrets_dir)?;
    let fs =
        s3s_fs::FileSystem::new(&data_dir).map_err(|e| format!("{}: {e:?}", data_dir.display()))?;
    let service = {
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(access, secret));
        builder.build()
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(addr = %listener.local_addr()?, data = %data_dir.display(), "S3 store listening");
    let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let stop = openfaas_runtime::wait_for_signal();
    tokio::pin!(stop);
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    // Without it, Nagle's algorithm and delayed ACKs add ~40 ms to a response.
                    let _ = socket.set_nodelay(true);
                    socket
                }
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let connection =
            http.serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone());
        let watched = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            let _ = watched.await;
        });
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), graceful.shutdown()).await;
    tracing::info!("S3 store stopped");
    Ok(())
}
