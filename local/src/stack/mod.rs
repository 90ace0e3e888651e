//! Reading `stack.yml` the way faas-cli does: `${VAR:-default}` substitution on the raw
//! text, YAML, unknown keys ignored, scalars read as strings, and errors that name the
//! field at fault. Each function's scaling settings are read from its labels in
//! [`scale`].

mod scale;

pub use scale::{BadSetting, LoadKind, ScaleSettings};

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed stack file.
#[derive(Debug, Deserialize)]
pub struct Stack {
    #[serde(default)]
    pub version: Option<Scalar>,
    pub provider: Provider,
    pub functions: BTreeMap<String, FunctionDef>,
    /// The folder holding the stack file: handler paths are relative to it.
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Debug, Deserialize)]
pub struct Provider {
    pub name: String,
}

/// One function as stack.yml describes it.
#[derive(Debug, Deserialize, Clone)]
pub struct FunctionDef {
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub handler: Option<String>,
    pub image: String,
    #[serde(default)]
    pub fprocess: Option<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub annotations: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub limits: Option<Resources>,
    #[serde(default)]
    pub requests: Option<Resources>,
    #[serde(default)]
    pub readonly_root_filesystem: Option<bool>,
}

#[derive(Debug, Deserialize, Clone, serde::Serialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Scalar>,
}

/// Any YAML scalar, kept as its text (faas-cli decodes `8` and `true` into strings too).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(if v.fract() == 0.0 {
                    format!("{v:.1}")
                } else {
                    v.to_string()
                }))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Why a stack file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{file}: field `{field}`: {message}")]
    Invalid {
        file: PathBuf,
        field: String,
        message: String,
    },
}

impl Stack {
    /// Reads and checks a stack file.
    pub fn load(path: &Path) -> Result<Stack, StackError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| StackError::Read(path.to_path_buf(), e))?;
        let mut stack =
            Stack::parse(&text, |k| std::env::var(k).ok()).map_err(|(field, message)| {
                StackError::Invalid {
                    file: path.to_path_buf(),
                    field,
                    message,
                }
            })?;
        stack.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if stack.dir.as_os_str().is_empty() {
            stack.dir = PathBuf::from(".");
        }
        Ok(stack)
    }

    /// Parses stack text after substituting variables through `env`.
    /// An error is `(field path, message)`.
    pub fn parse(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Stack, (String, String)> {
        let text = substitute(text, &env);
        let de = serde_yaml_ng::Deserializer::from_str(&text);
        let stack: Stack = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            (
                if field == "." {
                    "(document)".into()
                } else {
                    field
                },
                e.into_inner().to_string(),
            )
        })?;
        if let Some(Scalar(v)) = &stack.version
            && v != "1.0"
        {
            return Err(("version".into(), format!("must be 1.0, not {v}")));
        }
        if stack.provider.name != "openfaas" {
            return Err((
                "provider.name".into(),
                format!("must be openfaas, not {:?}", stack.provider.name),
            ));
        }
        for name in stack.functions.keys() {
            let valid = !name.is_empty()
                && name.len() <= 63
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !name.starts_with('-')
                && !name.ends_with('-');
            if !valid {
                return Err((
                    format!("functions.{name}"),
                    "a function name is a DNS label: a-z, 0-9 and '-'".into(),
                ));
            }
        }
        Ok(stack)
    }
}

impl FunctionDef {
    /// A scaling setting, from labels or — where stack.yml keeps the ones OpenFaaS
    /// Community Edition refuses as labels — from annotations.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.labels
            .get(key)
            .or_else(|| self.annotations.get(key))
            .map(|s| s.0.as_str())
    }
}

/// faas-cli's substitution (drone/envsubst): `${VAR}`, `${VAR:-default}`,
/// `${VAR=default}`, `$$` for a literal `$`; bare `$VAR` stays as it is.
pub fn substitute(text: &str, env: &impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let (Some(body), Some(end)) = (rest.strip_prefix("${"), rest.find('}')) {
            let expr = &body[..end - 2];
            out.push_str(&expand(expr, env));
            rest = &rest[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

fn expand(expr: &str, env: &impl Fn(&str) -> Option<String>) -> String {
    if let Some((name, default)) = expr.split_once(":-") {
        return env(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string());
    }
    if let Some((name, default)) = expr.split_once(":=").or_else(|| expr.split_once('=')) {
        return env(name).unwrap_or_else(|| default.to_string());
    }
    env(expr).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = r#"
version: 1.0
provider:
  name: openfaas
  gateway: ${OPENFAAS_URL:-http://127.0.0.1:8080}
functions:
  greyscale:
    lang: rust-hyper
    handler: ./functions/greyscale
    image: ${REGISTRY:-ghcr.io/greyfaas}/greyscale:${TAG:-latest}
    unknown_key: ignored
    environment:
      max_pixels: 50000000
      debug: true
    labels:
      com.openfaas.scale.min: 1
    annotations:
      com.openfaas.scale.target: "8"
    secrets: [s3-access-key]
"#;

    #[test]
    fn parses_like_faas_cli() {
        let stack = Stack::parse(STACK, |k| (k == "TAG").then(|| "1.2".into())).unwrap();
        let f = &stack.functions["greyscale"];
        assert_eq!(f.image, "ghcr.io/greyfaas/greyscale:1.2");
        assert_eq!(f.environment["max_pixels"].0, "50000000");
        assert_eq!(f.environment["debug"].0, "true");
        assert_eq!(f.setting("com.openfaas.scale.min"), Some("1"));
        assert_eq!(f.setting("com.openfaas.scale.target"), Some("8"));
    }

    #[test]
    fn errors_name_the_field() {
        let bad = STACK.replace("secrets: [s3-access-key]", "secrets: {a: b}");
        let (field, _) = Stack::parse(&bad, |_| None).unwrap_err();
        assert_eq!(field, "functions.greyscale.secrets");
        let (field, _) =
            Stack::parse(&STACK.replace("name: openfaas", "name: faas"), |_| None).unwrap_err();
        assert_eq!(field, "provider.name");
        let (field, _) =
            Stack::parse(&STACK.replace("  greyscale:", "  Grey_Scale:"), |_| None).unwrap_err();
        assert_eq!(field, "functions.Grey_Scale");
    }

    #[test]
    fn substitution_follows_envsubst() {
        let env = |k: &str| match k {
            "SET" => Some("x".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(substitute("${SET}-${UNSET}-$SET-$$", &env), "x--$SET-$");
        assert_eq!(
            substitute("${EMPTY:-d} ${UNSET:-d} ${EMPTY=d} ${UNSET=d}", &env),
            "d d  d"
        );
    }
}
