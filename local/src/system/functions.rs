//! The function verbs of `/system/*`: list, describe, deploy (`PUT`/`POST`), remove
//! and scale, in faas-provider's JSON shapes with faasd's status codes. Deploys apply to
//! functions whose handler is in the stack file (their binaries are the ones built).

use super::System;
use crate::deploy::Deployment;
use crate::error::GatewayError;
use crate::function::Function;
use crate::metrics::{NAMESPACE, qualified};
use http::StatusCode;
use openfaas_runtime::{Request, Response, body};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

impl System {
    /// `GET /system/functions`: every deployed function's status.
    pub(super) fn list(&self) -> Response {
        let list: Vec<serde_json::Value> = self
            .functions
            .all()
            .filter(|f| !f.is_removed())
            .map(|f| status_json(f))
            .collect();
        body::json(StatusCode::OK, &list)
    }

    /// `GET /system/function/NAME`.
    pub(super) fn describe(&self, name: &str) -> Result<Response, GatewayError> {
        let (function, _) = self.functions.resolve(name)?;
        Ok(body::json(StatusCode::OK, &status_json(&function)))
    }

    /// `POST /system/scale-function/NAME` `{"replicas": N}`.
    pub(super) async fn scale(&self, name: &str, req: Request) -> Result<Response, GatewayError> {
        let (function, _) = self.functions.resolve(name)?;
        let request: serde_json::Value = super::read_json(req, 64 << 10).await?;
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
        crate::supervisor::scale(&function, replicas);
        Ok(body::empty_with(StatusCode::ACCEPTED))
    }

    /// `PUT` (update) or `POST` (deploy) `/system/functions` with a `FunctionDeployment`.
    pub(super) async fn deploy(
        &self,
        req: Request,
        update: bool,
    ) -> Result<Response, GatewayError> {
        let deployment: Deployment = super::read_json(req, 1 << 20).await?;
        let name = deployment.service.clone();
        let function = match self.functions.get(&name) {
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
        self.runtime
            .check_deployed_env(&name, deployment.env_vars.as_ref())
            .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
        let current = function.spec();
        let def = deployment.apply_to(&current.def);
        let spec = self
            .runtime
            .spec(&name, &def, current.binary.clone())
            .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
        crate::supervisor::roll(&function, spec)
            .await
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
        tracing::info!(function = %name, update, "deployed");
        Ok(body::empty_with(StatusCode::OK))
    }

    /// `DELETE /system/functions` `{"functionName": NAME}`.
    pub(super) async fn remove(&self, req: Request) -> Result<Response, GatewayError> {
        let request: serde_json::Value = super::read_json(req, 64 << 10).await?;
        let name = request["functionName"]
            .as_str()
            .ok_or_else(|| GatewayError::BadRequest("send {\"functionName\": NAME}".into()))?;
        match self.functions.get(name) {
            Some(function) if !function.is_removed() => {
                crate::supervisor::remove(function);
                Ok(body::empty_with(StatusCode::OK))
            }
            _ => Err(GatewayError::NotFound(format!("service {name} not found"))),
        }
    }
}

/// `greyscale` → its FunctionStatus JSON, as OpenFaaS providers answer it.
fn status_json(function: &Function) -> serde_json::Value {
    let spec = function.spec();
    let def = &spec.def;
    // What the replicas run with: stack.yml's environment with the local runtime's
    // own endpoints (store, gateway, secrets) in place of the cluster's.
    let env: BTreeMap<&str, &str> = spec
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let pids: Vec<u32> = function
        .replicas()
        .iter()
        .map(|r| r.pid())
        .filter(|p| *p != 0)
        .collect();
    let decisions = function.decisions();
    serde_json::json!({
        "name": spec.name,
        "image": def.image,
        "namespace": NAMESPACE,
        "envProcess": def.fprocess.clone().unwrap_or_default(),
        "envVars": env,
        "labels": def.labels,
        "annotations": def.annotations,
        "secrets": def.secrets,
        "limits": def.limits,
        "requests": def.requests,
        "readOnlyRootFilesystem": def.readonly_root_filesystem.unwrap_or(false),
        "invocationCount": function.invocations.load(Ordering::SeqCst) as f64,
        // As faas-netes: the desired count, and those ready.
        "replicas": function.desired(),
        "availableReplicas": function.ready_count(),
        "greyfaas": {
            "qualifiedName": qualified(&spec.name),
            "desiredReplicas": function.desired(),
            "processes": function.replica_count(),
            "inFlight": function.in_flight.load(Ordering::SeqCst),
            "pids": pids,
            "scaling": {
                "min": spec.scale.min,
                "max": spec.scale.max,
                "target": spec.scale.target,
                "type": format!("{:?}", spec.scale.kind).to_lowercase(),
                "zero": spec.scale.zero,
                "decisions": decisions,
            },
        },
    })
}
