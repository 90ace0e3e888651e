//! Basic auth on `/system/*`, as faasd does it: the user `admin` and a password
//! generated on first start, kept as files in the secrets folder
//! (`basic-auth-user`, `basic-auth-password`), and the `faas-cli login` line to use them.

use crate::error::GatewayError;
use http::{HeaderMap, header};
use std::path::{Path, PathBuf};

/// The files faasd keeps its gateway credentials in (under /var/lib/faasd/secrets).
pub const USER_FILE: &str = "basic-auth-user";
pub const PASSWORD_FILE: &str = "basic-auth-password";

/// Whether `name` is one of the files above: they belong to the gateway, so the
/// secrets API neither lists nor writes them and no deploy mounts them.
pub fn is_gateway_credential(name: &str) -> bool {
    name == USER_FILE || name == PASSWORD_FILE
}

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

    /// Accepts a request carrying `Authorization: Basic base64(user:password)`. The
    /// scheme name is case-insensitive (RFC 7617 §2, RFC 9110 §11.1), and the
    /// credentials are compared in constant time, so the answer's timing does not tell
    /// how much of a guess was right.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), GatewayError> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(basic_token)
            .and_then(|b64| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.decode(b64).ok()
            });
        let expected = format!("{}:{}", self.user, self.password);
        match given {
            Some(bytes) if constant_time_eq(&bytes, expected.as_bytes()) => Ok(()),
            _ => Err(GatewayError::Unauthorized),
        }
    }
}

/// The token of an `Authorization` value whose scheme is `Basic`, in any case.
fn basic_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("basic")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether `a == b`, in a time that depends on the lengths only, not on where the
/// bytes first differ (a fold, rather than a crate for these few lines). The length
/// of the expected credentials is not a secret worth more than this.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let longest = a.len().max(b.len());
    let mut difference = u8::from(a.len() != b.len());
    for i in 0..longest {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= std::hint::black_box(x ^ y);
    }
    difference == 0
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

    fn credentials() -> Credentials {
        Credentials {
            user: "admin".into(),
            password: "s3cr3t".into(),
            password_file: PathBuf::from("unused"),
        }
    }

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        // base64("admin:s3cr3t")
        let token = "YWRtaW46czNjcjN0";
        for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
            let headers = with_authorization(&format!("{scheme} {token}"));
            assert!(credentials().check(&headers).is_ok(), "{scheme}");
        }
        assert!(
            credentials()
                .check(&with_authorization(&format!("Bearer {token}")))
                .is_err()
        );
        assert!(
            credentials()
                .check(&with_authorization(&format!("Basic{token}")))
                .is_err()
        );
    }

    #[test]
    fn wrong_or_partial_credentials_are_refused() {
        use base64::Engine;
        let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for guess in ["admin:s3cr3", "admin:s3cr3tt", "admin:", "", "admin:S3CR3T"] {
            let headers = with_authorization(&format!("Basic {}", encode(guess)));
            assert!(credentials().check(&headers).is_err(), "{guess:?}");
        }
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        // A shorter input padded with what the fold pads with is still different.
        assert!(!constant_time_eq(b"ab\0", b"ab"));
    }
}
