//! Where the store is and how to sign in, from the environment and OpenFaaS secrets.

use std::path::{Path, PathBuf};

/// Where OpenFaaS mounts a function's secrets (env `secret_mount_path` moves it).
pub const DEFAULT_SECRET_PATH: &str = "/var/openfaas/secrets";

/// The OpenFaaS secret holding the store's access key (a file under `secret_mount_path`).
pub const ACCESS_KEY_SECRET: &str = "s3-access-key";
/// The OpenFaaS secret holding the store's secret key.
pub const SECRET_KEY_SECRET: &str = "s3-secret-key";
/// Every secret [`StoreConfig::from_lookup`] reads: a function that uses the store
/// lists each under `secrets:` in stack.yml (`greyfaas stack check` holds it to that).
pub const SECRETS: [&str; 2] = [ACCESS_KEY_SECRET, SECRET_KEY_SECRET];

/// Every environment name [`StoreConfig::from_lookup`] reads.
pub const NAMES: &[&str] = &[
    "secret_mount_path",
    "s3_endpoint",
    "s3_region",
    "incoming_bucket",
    "processed_bucket",
    "s3_access_key",
    "s3_secret_key",
];

/// Why the store settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no credentials: neither {file} nor env {env} is set")]
    NoCredentials { file: PathBuf, env: &'static str },
    #[error("cannot read secret {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Everything needed to reach the store.
#[derive(Clone)]
pub struct StoreConfig {
    /// `s3_endpoint`: the S3 API URL (`http://127.0.0.1:9000`).
    pub endpoint: String,
    /// `s3_region` (`us-east-1`; MinIO accepts any).
    pub region: String,
    /// `incoming_bucket`: the bucket behind `/incoming/` (`incoming`).
    pub incoming_bucket: String,
    /// `processed_bucket`: the bucket behind `/processed/` (`processed`).
    pub processed_bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("incoming_bucket", &self.incoming_bucket)
            .field("processed_bucket", &self.processed_bucket)
            .field("access_key", &"<secret>")
            .field("secret_key", &"<secret>")
            .finish()
    }
}

impl StoreConfig {
    /// Reads the configuration from the process environment and secret files.
    pub fn from_env() -> Result<StoreConfig, ConfigError> {
        StoreConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`. Credentials come from the secret files
    /// `s3-access-key` and `s3-secret-key` under `secret_mount_path`; the env variables
    /// `s3_access_key` / `s3_secret_key` are a fallback for local use only.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<StoreConfig, ConfigError> {
        let get = |name: &str, default: &str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let secrets = PathBuf::from(get("secret_mount_path", DEFAULT_SECRET_PATH));
        let secret = |file: &str, env: &'static str| -> Result<String, ConfigError> {
            match read_secret(&secrets.join(file))? {
                Some(value) => Ok(value),
                None => lookup(env).filter(|v| !v.is_empty()).ok_or_else(|| {
                    ConfigError::NoCredentials {
                        file: secrets.join(file),
                        env,
                    }
                }),
            }
        };
        // Both looked up before either error is returned, so the names read are the same
        // whatever is missing.
        let (access_key, secret_key) = (
            secret(ACCESS_KEY_SECRET, "s3_access_key"),
            secret(SECRET_KEY_SECRET, "s3_secret_key"),
        );
        Ok(StoreConfig {
            endpoint: get("s3_endpoint", "http://127.0.0.1:9000"),
            region: get("s3_region", "us-east-1"),
            incoming_bucket: get("incoming_bucket", "incoming"),
            processed_bucket: get("processed_bucket", "processed"),
            access_key: access_key?,
            secret_key: secret_key?,
        })
    }
}

/// A secret file's trimmed content; `None` when the file does not exist.
fn read_secret(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Unreadable {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_win_over_env() {
        let dir = std::env::temp_dir().join(format!("greyfaas-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s3-access-key"), "from-file\n").unwrap();
        let dir_text = dir.display().to_string();
        let config = StoreConfig::from_lookup(|k| match k {
            "secret_mount_path" => Some(dir_text.clone()),
            "s3_access_key" => Some("from-env".into()),
            "s3_secret_key" => Some("env-secret".into()),
            "processed_bucket" => Some("done".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.access_key, "from-file");
        assert_eq!(config.secret_key, "env-secret");
        assert_eq!(config.processed_bucket, "done");
        assert_eq!(config.incoming_bucket, "incoming");
        assert!(
            !format!("{config:?}").contains("from-file"),
            "secrets stay out of logs"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_credentials_are_an_error() {
        let err =
            StoreConfig::from_lookup(|k| (k == "secret_mount_path").then(|| "/nonexistent".into()))
                .unwrap_err();
        assert!(err.to_string().contains("s3_access_key"), "{err}");
    }

    #[test]
    fn names_are_the_names_read() {
        let read = openfaas_runtime::settings::names_read(|lookup| {
            let _ = StoreConfig::from_lookup(lookup);
        });
        assert_eq!(read, NAMES.iter().map(|n| n.to_string()).collect());
    }
}
