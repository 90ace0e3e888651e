//! `/system/secrets`, as faasd serves it: each secret is a file in the secrets folder
//! (`GET` lists `[{"name","namespace"}]`, `POST`/`PUT` `{"name","value"|"rawValue"}`
//! writes one, `DELETE {"name"}` removes it). Functions see the ones they name through
//! their own mount (see `deploy`). The gateway's and the store's own credentials live in
//! the same folder and are neither listed, written nor removed here: whoever could
//! write `s3-secret-key` could lock every function out of the store, or read it back
//! through a function that mounts it. Names are DNS-1123 subdomains, as Kubernetes
//! secret names are (`deploy::check_secret_name`), so a name is one plain file.

use crate::error::GatewayError;
use crate::metrics::NAMESPACE;
use crate::secret_file::SecretFileError;
use http::{Method, StatusCode};
use openfaas_runtime::{Request, Response, body};
use serde::Deserialize;
use std::path::Path;

/// Files of the folder that belong to greyfaas itself, not to `faas-cli secret`: the
/// gateway's Basic auth and the store's keys (the embedded store is started with them;
/// with `--s3-endpoint` the user puts them there by hand).
const RESERVED: [&str; 4] = [
    crate::auth::USER_FILE,
    crate::auth::PASSWORD_FILE,
    greyfaas_store::config::ACCESS_KEY_SECRET,
    greyfaas_store::config::SECRET_KEY_SECRET,
];

/// faas-provider's `Secret`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Secret {
    name: String,
    #[serde(default)]
    value: String,
    /// Go's `[]byte`: base64 in JSON.
    #[serde(default)]
    raw_value: Option<String>,
}

pub async fn route(dir: &Path, req: Request) -> Result<Response, GatewayError> {
    let method = req.method().clone();
    if method == Method::GET {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !RESERVED.contains(&n.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let list: Vec<serde_json::Value> = names
            .iter()
            .map(|n| serde_json::json!({"name": n, "namespace": NAMESPACE}))
            .collect();
        return Ok(body::json(StatusCode::OK, &list));
    }
    let secret: Secret = super::read_json(req, 1 << 20).await?;
    crate::deploy::check_secret_name(&secret.name)
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    if RESERVED.contains(&secret.name.as_str()) {
        return Err(GatewayError::BadRequest(format!(
            "{} is greyfaas's own; edit the file by hand",
            secret.name
        )));
    }
    let path = dir.join(&secret.name);
    match method {
        Method::POST | Method::PUT => {
            let value = match secret.raw_value.filter(|v| !v.is_empty()) {
                Some(b64) => {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|e| GatewayError::BadRequest(format!("rawValue: {e}")))?
                }
                None => secret.value.into_bytes(),
            };
            crate::secret_file::ensure_dir(dir)
                .and_then(|()| crate::secret_file::write(&path, &value))
                .map_err(|e| match e {
                    // What is at the path is not a file greyfaas may write: the admin's
                    // to remove, not a failure of ours.
                    SecretFileError::Link(_) | SecretFileError::NotAFile(_) => {
                        GatewayError::BadRequest(e.to_string())
                    }
                    e => GatewayError::Internal(format!("{}: {e}", path.display())),
                })?;
            tracing::info!(secret = %secret.name, "secret written");
            Ok(body::empty_with(StatusCode::OK))
        }
        Method::DELETE => match std::fs::remove_file(&path) {
            Ok(()) => Ok(body::empty_with(StatusCode::OK)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(GatewayError::NotFound(
                format!("secret {} not found", secret.name),
            )),
            Err(e) => Err(GatewayError::Internal(format!("{}: {e}", path.display()))),
        },
        _ => Err(GatewayError::Method("GET, POST, PUT or DELETE")),
    }
}
