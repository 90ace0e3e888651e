//! The embedded S3 store (greyfaas-store's s3s-fs server) on loopback, run as its own
//! process (`greyfaas store`) so it can be restarted like any other component, and the
//! credentials it and the functions share.

use std::path::{Path, PathBuf};

/// The store's credentials, as files in the functions' secrets folder.
pub const ACCESS_KEY_FILE: &str = "s3-access-key";
pub const SECRET_KEY_FILE: &str = "s3-secret-key";

/// Makes sure `secrets_dir` holds store credentials, generating random ones the first
/// time; returns (access key, secret key). An unreadable key file is an error naming
/// it, never replaced ([`crate::secret_file`]).
pub fn ensure_credentials(secrets_dir: &Path) -> std::io::Result<(String, String)> {
    crate::secret_file::ensure_dir(secrets_dir)?;
    let access = crate::secret_file::read_or_create(&secrets_dir.join(ACCESS_KEY_FILE), || {
        format!(
            "greyfaas{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    })?;
    let secret = crate::secret_file::read_or_create(&secrets_dir.join(SECRET_KEY_FILE), || {
        uuid::Uuid::new_v4().simple().to_string()
    })?;
    Ok((access, secret))
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
