//! The embedded S3 store (greyfaas-store's s3s-fs server) on loopback, run as its own
//! process (`greyfaas store`) so it can be restarted like any other component, and the
//! credentials it and the functions share.

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
/// SIGTERM/Ctrl-C (greyfaas-store's server, with credentials from `secrets_dir`).
pub async fn serve(
    data_dir: PathBuf,
    port: u16,
    secrets_dir: PathBuf,
) -> Result<(), Box<dyn std::error::Error>> {
    let credentials = ensure_credentials(&secrets_dir)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(addr = %listener.local_addr()?, data = %data_dir.display(), "S3 store listening");
    greyfaas_store::server::serve(
        listener,
        &data_dir,
        credentials,
        openfaas_runtime::wait_for_signal(),
    )
    .await?;
    tracing::info!("S3 store stopped");
    Ok(())
}
