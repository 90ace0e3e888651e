//! `/system/*`: the OpenFaaS provider API — list, describe, deploy, remove and scale
//! functions, secrets, info, namespaces — in the JSON shapes faas-cli and the OpenFaaS
//! gateway read, with faasd's status codes. Deploys apply to functions whose handler
//! is in the stack file (their binaries are the ones built).

use crate::deploy::Deployment;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::metrics::NAMESPACE;
use http::{Method, StatusCode};
use openfaas_runtime::{HttpError, Request, Response, body};
use std::sync::Arc;

pub async fn route(gateway: &Arc<Gateway>, req: Request) -> Result<Response, GatewayError> {
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
    match (req.method(), path.as_str()) {
        (&Method::GET, "/system/functions") => {
            let list: Vec<serde_json::Value> = gateway
                .functions
                .values()
                .filter(|f| !f.is_removed())
                .map(|f| gateway.status_json(f))
                .collect();
            Ok(body::json(StatusCode::OK, &list))
        }
        (&Method::GET, "/system/info") => {
            let version = serde_json::json!({"release": env!("CARGO_PKG_VERSION"), "sha": "", "commit_message": ""});
            let provider = serde_json::json!({"provider": "greyfaas", "orchestration": "local processes", "version": version});
            // The OpenFaaS gateway reads a provider's info bare; faas-cli reads the
            // gateway's, with the provider's nested. `greyfaas up --provider` picks the first.
            Ok(if gateway.provider_mode {
                body::json(StatusCode::OK, &provider)
            } else {
                body::json(
                    StatusCode::OK,
                    &serde_json::json!({"provider": provider, "version": version, "arch": std::env::consts::ARCH}),
                )
            })
        }
        (&Method::GET, "/system/namespaces") => Ok(body::json(StatusCode::OK, &[NAMESPACE])),
        (&Method::GET, p) if p.starts_with("/system/function/") => {
            let name = &p["/system/function/".len()..];
            let (function, _) = gateway.resolve(name)?;
            Ok(body::json(StatusCode::OK, &gateway.status_json(&function)))
        }
        (&Method::POST, p) if p.starts_with("/system/scale-function/") => {
            let name = &p["/system/scale-function/".len()..];
            let (function, _) = gateway.resolve(name)?;
            let bytes = body::read(req.into_body(), 64 << 10)
                .await
                .map_err(|e| GatewayError::Body(e.status(), e.to_string()))?;
            let request: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
            let replicas = request["replicas"]
                .as_u64()
                .ok_or_else(|| GatewayError::BadRequest("send {\"replicas\": N}".into()))?
                as usize;
            // faas-netes CE (replica_updater.go) refuses 0 with this 400; scale to zero
            // is a Pro feature, which greyfaas offers through com.openfaas.scale.zero.
            if replicas == 0 {
                return Err(GatewayError::ScaleToZero(
                    "replicas cannot be set to 0 in OpenFaaS CE",
                ));
            }
            let max = function.spec().scale.max.max(function.spec().scale.min);
            let replicas = replicas.min(max);
            function.record(format!(
                "scale {} -> {replicas}: requested through the API",
                function.desired()
            ));
            function.scale_to(replicas);
            Ok(body::empty_with(StatusCode::ACCEPTED))
        }
        (&Method::PUT | &Method::POST, "/system/functions") => {
            let update = req.method() == Method::PUT;
            let bytes = body::read(req.into_body(), 1 << 20)
                .await
                .map_err(|e| GatewayError::Body(e.status(), e.to_string()))?;
            let deployment: Deployment = serde_json::from_slice(&bytes)
                .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
            let name = deployment.service.clone();
            let function = match gateway.functions.get(&name) {
                // faasd: an update of a function that is not deployed is 404 (faas-cli then POSTs).
                Some(f) if update && f.is_removed() => {
                    return Err(GatewayError::NotFound(format!("service {name} not found")));
                }
                Some(f) => f.clone(),
                None if update => {
                    return Err(GatewayError::NotFound(format!("service {name} not found")));
                }
                None => {
                    return Err(GatewayError::BadRequest(format!(
                        "{name}: greyfaas up runs the functions whose handler is in its stack file, and {name} is not; add it there and restart"
                    )));
                }
            };
            let current = function.spec();
            let def = deployment.apply_to(&current.def);
            let spec = gateway
                .runtime
                .spec(&name, &def, current.binary.clone())
                .map_err(GatewayError::BadRequest)?;
            function.roll(spec).await.map_err(GatewayError::Internal)?;
            tracing::info!(function = %name, update, "deployed");
            Ok(body::empty_with(StatusCode::OK))
        }
        (&Method::DELETE, "/system/functions") => {
            let bytes = body::read(req.into_body(), 64 << 10)
                .await
                .map_err(|e| GatewayError::Body(e.status(), e.to_string()))?;
            let request: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
            let name = request["functionName"]
                .as_str()
                .ok_or_else(|| GatewayError::BadRequest("send {\"functionName\": NAME}".into()))?;
            match gateway.functions.get(name) {
                Some(function) if !function.is_removed() => {
                    function.remove();
                    Ok(body::empty_with(StatusCode::OK))
                }
                _ => Err(GatewayError::NotFound(format!("service {name} not found"))),
            }
        }
        // A greyfaas addition: where an async call is, by its X-Call-Id.
        (&Method::GET, p) if p.starts_with("/system/async-call/") => {
            let id = &p["/system/async-call/".len()..];
            match gateway.queue.status(id) {
                Some(status) => Ok(body::json(
                    StatusCode::OK,
                    &crate::queue::status_json(id, &status),
                )),
                None => Err(GatewayError::NotFound(format!(
                    "no async call with id {id:?}"
                ))),
            }
        }
        (&Method::GET, "/system/logs") => crate::logs::route(gateway, &req),
        (_, "/system/secrets") => crate::secrets::route(&gateway.runtime.secrets_dir, req).await,
        _ => Err(GatewayError::NoRoute(path)),
    }
}
