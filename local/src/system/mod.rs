//! `/system/*`: the OpenFaaS provider API — functions ([`functions`]), logs ([`logs`]),
//! secrets ([`secrets`]), info, namespaces, and the status of an async call (a
//! greyfaas addition) — in the JSON shapes faas-cli and the OpenFaaS gateway read, with
//! faasd's status codes. The gateway checks Basic auth before it routes here.

mod functions;
mod logs;
mod secrets;

use crate::deploy::Runtime;
use crate::error::GatewayError;
use crate::function::Functions;
use crate::metrics::NAMESPACE;
use crate::queue::Queue;
use http::{Method, StatusCode};
use openfaas_runtime::{HttpError, Request, Response, body};
use std::sync::Arc;

/// What the `/system` API reads and changes.
pub struct System {
    pub functions: Arc<Functions>,
    /// What deploys build replicas' specs from.
    pub runtime: Runtime,
    pub queue: Arc<Queue>,
    /// Serve `/system/info` in the provider shape, for an OpenFaaS gateway started with
    /// `functions_provider_url` pointing here.
    pub provider_mode: bool,
}

impl System {
    /// Answers one `/system/*` request.
    pub async fn route(&self, req: Request) -> Result<Response, GatewayError> {
        let path = req.uri().path().to_string();
        let namespace_ok = req
            .uri()
            .query()
            .map(|q| {
                q.split('&')
                    .filter_map(|kv| kv.strip_prefix("namespace="))
                    .all(|ns| ns.is_empty() || ns == NAMESPACE)
            })
            .unwrap_or(true);
        if !namespace_ok {
            return Err(GatewayError::BadRequest(format!(
                "namespace must be: {NAMESPACE}"
            )));
        }
        let method = req.method().clone();
        match (&method, path.as_str()) {
            (&Method::GET, "/system/functions") => Ok(self.list()),
            (&Method::PUT | &Method::POST, "/system/functions") => {
                self.deploy(req, method == Method::PUT).await
            }
            (&Method::DELETE, "/system/functions") => self.remove(req).await,
            (&Method::GET, p) if p.starts_with("/system/function/") => {
                self.describe(&p["/system/function/".len()..])
            }
            (&Method::POST, p) if p.starts_with("/system/scale-function/") => {
                self.scale(&p["/system/scale-function/".len()..], req).await
            }
            (&Method::GET, "/system/info") => Ok(self.info()),
            (&Method::GET, "/system/namespaces") => Ok(body::json(StatusCode::OK, &[NAMESPACE])),
            (&Method::GET, p) if p.starts_with("/system/async-call/") => {
                self.async_call(&p["/system/async-call/".len()..])
            }
            (&Method::GET, "/system/logs") => logs::route(&self.functions, &req),
            (_, "/system/secrets") => secrets::route(&self.runtime.secrets_dir, req).await,
            _ => Err(GatewayError::NoRoute(path)),
        }
    }

    /// `GET /system/info`.
    fn info(&self) -> Response {
        let version = serde_json::json!({"release": env!("CARGO_PKG_VERSION"), "sha": "", "commit_message": ""});
        let provider = serde_json::json!({"provider": "greyfaas", "orchestration": "local processes", "version": version});
        // The OpenFaaS gateway reads a provider's info bare; faas-cli reads the
        // gateway's, with the provider's nested. `greyfaas up --provider` picks the first.
        if self.provider_mode {
            body::json(StatusCode::OK, &provider)
        } else {
            body::json(
                StatusCode::OK,
                &serde_json::json!({"provider": provider, "version": version, "arch": std::env::consts::ARCH}),
            )
        }
    }

    /// A greyfaas addition: where an async call is, by its X-Call-Id.
    fn async_call(&self, id: &str) -> Result<Response, GatewayError> {
        match self.queue.status(id) {
            Some(status) => Ok(body::json(
                StatusCode::OK,
                &crate::queue::status_json(id, &status),
            )),
            None => Err(GatewayError::NotFound(format!(
                "no async call with id {id:?}"
            ))),
        }
    }
}

/// A request's JSON body of at most `limit` bytes, as `T`.
async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request,
    limit: u64,
) -> Result<T, GatewayError> {
    let bytes = body::read(req.into_body(), limit)
        .await
        .map_err(|e| GatewayError::Body(e.status(), e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| GatewayError::BadRequest(e.to_string()))
}
