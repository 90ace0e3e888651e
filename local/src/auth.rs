//! Basic auth on `/system/*`, as faasd does it: the user `admin` and a password
//! generated on first start, kept as files in the secrets folder
//! (`basic-auth-user`, `basic-auth-password`), and the `faas-cli login` line to use them.

use crate::error::GatewayError;
use http::{HeaderMap, header};
use std::path::{Path, PathBuf};

/// The files faasd keeps its gateway credentials in (under /var/lib/faasd/secrets).
pub const USER_FILE: &str = "basic-auth-user";
pub const PASSWORD_FILE: &str = "basic-auth-password";

/// The gateway's admin credentials.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// Where the password is, for the login line.
    pub password_file: PathBuf,
}

impl Credentials {
    /// Reads the credentials in `secrets_dir`, writing `admin` and a random password
    /// the first time (files readable by this user only).
    pub fn ensure(secrets_dir: &Path) -> std::io::Result<Credentials> {
        crate::secret_file::ensure_dir(secrets_dir)?;
        let user =
            crate::secret_file::read_or_create(&secrets_dir.join(USER_FILE), || "admin".into())?;
        let password_file = secrets_dir.join(PASSWORD_FILE);
        let password = crate::secret_file::read_or_create(&password_file, || {
            uuid::Uuid::new_v4().simple().to_string()
        })?;
        Ok(Credentials {
            user,
            password,
            password_file,
        })
    }

    /// The command that logs faas-cli in to the gateway at `gateway`.
    pub fn login_line(&self, gateway: &str) -> String {
        format!(
            "cat {} | faas-cli login -g {gateway} -u {} --password-stdin",
            self.password_file.display(),
            self.user
        )
    }

    /// Accepts a request carrying `Authorization: Basic base64(user:password)`.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), GatewayError> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b64| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
            });
        let expected = format!("{}:{}", self.user, self.password);
        match given {
            Some(bytes) if bytes == expected.as_bytes() => Ok(()),
            _ => Err(GatewayError::Unauthorized),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_kept() {
        let dir = std::env::temp_dir().join(format!("greyfaas-auth-{}", std::process::id()));
        let first = Credentials::ensure(&dir).unwrap();
        let again = Credentials::ensure(&dir).unwrap();
        assert_eq!(first.user, "admin");
        assert_eq!(first.password.len(), 32);
        assert_eq!(first.password, again.password);
        let mut headers = HeaderMap::new();
        assert!(first.check(&headers).is_err());
        use base64::Engine;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", first.password));
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {token}").parse().unwrap(),
        );
        assert!(first.check(&headers).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
