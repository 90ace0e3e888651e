//! From a function definition — stack.yml's at start, or a faas-cli deploy request
//! (`PUT`/`POST /system/functions`) later — to what its replicas run with: the local
//! runtime's endpoints over the definition's environment, and a secrets folder holding
//! only the secrets it names (as /var/openfaas/secrets holds only those in OpenFaaS).

use crate::function::FunctionSpec;
use crate::stack::{BadSetting, FunctionDef, Resources, Scalar, ScaleSettings};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a function definition cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("function {function}: {setting}")]
    Setting {
        function: String,
        setting: BadSetting,
    },
    #[error("secret name {0:?}: {1}")]
    SecretName(String, &'static str),
    #[error(
        "function {function} needs secrets ({}): create each with `faas-cli secret create NAME` \
         (kept in {}) or as a file in {}",
        missing.join(", "), secrets_dir.display(), local_secrets_dir.display()
    )]
    MissingSecrets {
        function: String,
        missing: Vec<String>,
        secrets_dir: PathBuf,
        local_secrets_dir: PathBuf,
    },
    #[error("cannot mount secrets in {0}: {1}")]
    Mount(PathBuf, std::io::Error),
    /// A deploy's `envVars` name that the function does not read (see `setting_names`).
    #[error("function {function}: envVars {name} cannot be set by a deploy: {why}")]
    EnvVar {
        function: String,
        name: String,
        why: &'static str,
    },
}

/// The longest secret name: a DNS-1123 subdomain is at most 253 characters.
const SECRET_NAME_MAX: usize = 253;

/// A secret name as OpenFaaS on Kubernetes accepts it, a DNS-1123 subdomain: lowercase
/// letters, digits, `-` and `.`, each dot-separated label starting and ending with a
/// letter or digit, at most 253 characters. So a name is always one plain file name
/// in the secrets folder: no `/`, no `..`, no hidden file, nothing a shell reads twice.
pub fn check_secret_name(name: &str) -> Result<(), SpecError> {
    let bad = |why| Err(SpecError::SecretName(name.to_string(), why));
    if name.is_empty() {
        return bad("non-empty name is required");
    }
    if name.len() > SECRET_NAME_MAX {
        return bad("must be at most 253 characters");
    }
    let label_ok = |label: &str| {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        label.starts_with(alnum)
            && label.ends_with(alnum)
            && label.chars().all(|c| alnum(c) || c == '-')
    };
    if !name.split('.').all(label_ok) {
        return bad(
            "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
        );
    }
    Ok(())
}

/// The local runtime's side of every function's environment.
pub struct Runtime {
    pub store_endpoint: String,
    /// Where secrets are kept (`faas-cli secret create` writes here).
    pub secrets_dir: PathBuf,
    /// faas-cli's own folder for local secrets, `.secrets/` beside the stack file (what
    /// `faas-cli local-run` mounts): a secret not in `secrets_dir` is taken from here.
    pub local_secrets_dir: PathBuf,
    /// Per-function secret folders, rebuilt for each deploy.
    pub mounts_dir: PathBuf,
    pub gateway_url: String,
    pub allow_private_networks: bool,
    /// By function: the environment names a deploy may set (`setting_names::deployable`).
    pub deployable_env: BTreeMap<String, Vec<&'static str>>,
}

/// faas-provider's `FunctionDeployment`, the body faas-cli deploy sends.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub service: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub env_process: Option<String>,
    #[serde(default)]
    pub env_vars: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub secrets: Option<Vec<String>>,
    #[serde(default)]
    pub limits: Option<Resources>,
    #[serde(default)]
    pub requests: Option<Resources>,
    #[serde(default)]
    pub read_only_root_filesystem: Option<bool>,
}

impl Deployment {
    /// The stack's definition of the function with this request's settings in place.
    pub fn apply_to(self, stack_def: &FunctionDef) -> FunctionDef {
        let scalars = |map: Option<BTreeMap<String, String>>| {
            map.unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, Scalar(v)))
                .collect()
        };
        FunctionDef {
            image: if self.image.is_empty() {
                stack_def.image.clone()
            } else {
                self.image
            },
            fprocess: self.env_process.or_else(|| stack_def.fprocess.clone()),
            environment: scalars(self.env_vars),
            labels: scalars(self.labels),
            annotations: scalars(self.annotations),
            secrets: self.secrets.unwrap_or_default(),
            limits: self.limits,
            requests: self.requests,
            readonly_root_filesystem: self.read_only_root_filesystem,
            ..stack_def.clone()
        }
    }
}

impl Runtime {
    /// Refuses a deploy's `envVars` name that `function` does not read, naming it.
    /// Only deploys are checked: stack.yml is the user's own file, trusted as the
    /// command line is.
    pub fn check_deployed_env(
        &self,
        function: &str,
        env: Option<&BTreeMap<String, String>>,
    ) -> Result<(), SpecError> {
        let allowed = self.deployable_env.get(function);
        for name in env.into_iter().flat_map(|e| e.keys()) {
            let why = if crate::setting_names::GUARD_NAMES.contains(&name.as_str()) {
                "the SSRF guard is relaxed only by greyfaas up --allow-private-networks"
            } else if allowed.is_some_and(|a| a.contains(&name.as_str())) {
                continue;
            } else {
                "functions run as host processes, so only the settings the function reads may be set"
            };
            return Err(SpecError::EnvVar {
                function: function.to_string(),
                name: name.clone(),
                why,
            });
        }
        Ok(())
    }

    /// What the replicas of `name` run: `binary` with `def`'s environment, our endpoints
    /// over its cluster ones, and its secrets mounted in a folder of their own.
    pub fn spec(
        &self,
        name: &str,
        def: &FunctionDef,
        binary: PathBuf,
    ) -> Result<FunctionSpec, SpecError> {
        let scale =
            ScaleSettings::read(|k| def.setting(k).map(str::to_owned)).map_err(|setting| {
                SpecError::Setting {
                    function: name.to_string(),
                    setting,
                }
            })?;
        let mount = self.mount_secrets(name, &def.secrets)?;
        let mut env: BTreeMap<String, String> = def
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        env.entry("healthcheck_interval".into())
            .or_insert_with(|| "0s".into());
        env.insert("s3_endpoint".into(), self.store_endpoint.clone());
        env.insert("secret_mount_path".into(), mount.display().to_string());
        env.insert("gateway_url".into(), self.gateway_url.clone());
        if self.allow_private_networks {
            env.insert("allow_private_networks".into(), "true".into());
        }
        Ok(FunctionSpec {
            name: name.to_string(),
            binary,
            env: env.into_iter().collect(),
            def: def.clone(),
            idempotent: def
                .annotations
                .get("greyfaas.idempotent")
                .is_some_and(|v| v.0 == "true"),
            scale,
        })
    }

    /// A fresh folder of links to the named secrets (each must exist): the function
    /// sees these and no others — not the gateway's own credentials.
    fn mount_secrets(&self, name: &str, secrets: &[String]) -> Result<PathBuf, SpecError> {
        let mut sources = Vec::with_capacity(secrets.len());
        let mut missing = Vec::new();
        for secret in secrets {
            check_secret_name(secret)?;
            if crate::auth::is_gateway_credential(secret) {
                return Err(SpecError::SecretName(
                    secret.clone(),
                    "the gateway's own credentials are never mounted into a function",
                ));
            }
            match self.find_secret(secret) {
                Some(path) => sources.push((secret, path)),
                None => missing.push(secret.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(SpecError::MissingSecrets {
                function: name.to_string(),
                missing,
                secrets_dir: self.secrets_dir.clone(),
                local_secrets_dir: self.local_secrets_dir.clone(),
            });
        }
        let mount = self
            .mounts_dir
            .join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
        let link = |secret: &str, source: &Path| -> std::io::Result<()> {
            std::os::unix::fs::symlink(std::fs::canonicalize(source)?, mount.join(secret))
        };
        std::fs::create_dir_all(&mount)
            .and_then(|()| sources.iter().try_for_each(|(s, path)| link(s, path)))
            .map_err(|e| SpecError::Mount(mount.clone(), e))?;
        Ok(mount)
    }

    /// Where a secret's file is: `faas-cli secret create`'s folder first, then
    /// faas-cli's local `.secrets/`.
    fn find_secret(&self, secret: &str) -> Option<PathBuf> {
        [&self.secrets_dir, &self.local_secrets_dir]
            .into_iter()
            .map(|dir| dir.join(secret))
            .find(|path| path.is_file())
    }
}

/// The folder of per-function secret mounts under `data`, emptied at start.
pub fn fresh_mounts_dir(data: &Path) -> std::io::Result<PathBuf> {
    let dir = data.join("mounts");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::check_secret_name;

    #[test]
    fn secret_names_are_dns_1123_subdomains() {
        for good in [
            "api-token",
            "s3-access-key",
            "a",
            "a.b",
            "x1.y-2.z3",
            &"a".repeat(253),
        ] {
            assert!(check_secret_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "..",
            ".",
            "../x",
            "a/b",
            "/etc/passwd",
            ".hidden",
            "a..b",
            "-a",
            "a-",
            "A",
            "Api",
            "a_b",
            "a b",
            "a\0b",
            "é",
            "a.",
            ".a",
            &"a".repeat(254),
        ] {
            assert!(check_secret_name(bad).is_err(), "{bad:?}");
        }
    }
}
