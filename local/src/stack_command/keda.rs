//! `greyfaas stack keda`: the KEDA ScaledObjects of `k8s/keda/`, generated from
//! stack.yml so they cannot drift from it. Each function with a scale target scales on
//! the request rate the OpenFaaS gateway sees, with the threshold the OpenFaaS Pro
//! autoscaler would use (target × target-proportion) and the replica range of its labels.

use crate::stack::{ScaleSettings, Stack};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the ScaledObjects could not be written, or differ from the stack.
#[derive(Debug, thiserror::Error)]
pub enum KedaError {
    #[error("function {0}: {1}")]
    Setting(String, crate::stack::BadSetting),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is not what stack.yml gives ({}); run: greyfaas stack keda",
        dir.display(), files.join(", ")
    )]
    Stale { dir: PathBuf, files: Vec<String> },
}

const KUSTOMIZATION: &str = "kustomization.yaml";

/// The files of the KEDA overlay: one ScaledObject per function with a target, and the
/// kustomization that lists them.
pub fn render(stack: &Stack) -> Result<BTreeMap<String, String>, KedaError> {
    let mut files = BTreeMap::new();
    for (name, def) in &stack.functions {
        let settings = ScaleSettings::read(|k| def.setting(k).map(str::to_owned))
            .map_err(|e| KedaError::Setting(name.clone(), e))?;
        if let Some(target) = settings.target {
            files.insert(
                format!("scaledobject-{name}.yaml"),
                scaled_object(name, &settings, target),
            );
        }
    }
    let resources: String = files.keys().map(|f| format!("  - {f}\n")).collect();
    files.insert(
        KUSTOMIZATION.into(),
        format!(
            "# Optional overlay: request-rate autoscaling of the functions with KEDA.
# Needs KEDA installed first (helm chart kedacore/keda) and OpenFaaS CE's
# AlertManager scaling turned off (alertmanager.create: false), or the two fight.
# Apply on top of the base: kubectl apply -k k8s/keda/
# Generated from stack.yml by `greyfaas stack keda`: edit stack.yml, then run it.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
{resources}"
        ),
    );
    Ok(files)
}

/// target × proportion, as the Pro autoscaler computes it, without float noise.
fn threshold(target: f64, proportion: f64) -> String {
    let value = (target * proportion * 1e6).round() / 1e6;
    format!("{value}")
}

fn scaled_object(name: &str, settings: &ScaleSettings, target: f64) -> String {
    let (min, max) = (settings.min.max(1), settings.max);
    let threshold = threshold(target, settings.proportion);
    format!(
        r#"# Scales the OpenFaaS function Deployment "{name}" on its request rate as seen by
# the gateway: replicas = ceil(total RPS / threshold), threshold = target x proportion as
# the OpenFaaS Pro autoscaler computes it, clamped to {min}..{max}
# (OpenFaaS CE rewrites 0 to 1 and anything above 5 to 5 anyway).
# Generated from stack.yml by `greyfaas stack keda`: edit stack.yml, then run it.
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {name}
  namespace: openfaas-fn
  labels:
    app.kubernetes.io/part-of: greyfaas
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {name}
  minReplicaCount: {min}
  maxReplicaCount: {max}
  pollingInterval: 15
  cooldownPeriod: 60
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown:
          stabilizationWindowSeconds: 60
  triggers:
    - type: prometheus
      metricType: AverageValue
      metadata:
        serverAddress: http://prometheus.openfaas.svc.cluster.local:9090
        query: sum(rate(gateway_function_invocation_total{{function_name="{name}.openfaas-fn"}}[1m]))
        threshold: "{threshold}" # {target} x {proportion} (com.openfaas.scale.target x target-proportion)
"#,
        proportion = settings.proportion,
    )
}

/// The YAML files in `dir` now (the overlay's own files).
fn existing(dir: &Path) -> Result<BTreeMap<String, String>, KedaError> {
    let entries = std::fs::read_dir(dir).map_err(|e| KedaError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut files = BTreeMap::new();
    for entry in entries {
        let path = entry
            .map_err(|e| KedaError::Io {
                path: dir.to_path_buf(),
                source: e,
            })?
            .path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(name) = name.filter(|n| n.ends_with(".yaml") || n.ends_with(".yml")) {
            let text =
                std::fs::read_to_string(&path).map_err(|e| KedaError::Io { path, source: e })?;
            files.insert(name, text);
        }
    }
    Ok(files)
}

/// Writes the overlay into `dir`, removing ScaledObjects of functions no longer scaled.
pub fn write(stack: &Stack, dir: &Path) -> Result<(), KedaError> {
    let wanted = render(stack)?;
    std::fs::create_dir_all(dir).map_err(|e| KedaError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for name in existing(dir)?.keys() {
        if !wanted.contains_key(name) {
            let path = dir.join(name);
            std::fs::remove_file(&path).map_err(|e| KedaError::Io { path, source: e })?;
        }
    }
    for (name, text) in &wanted {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| KedaError::Io { path, source: e })?;
    }
    Ok(())
}

/// Fails unless `dir` holds exactly the overlay `write` would write.
pub fn check(stack: &Stack, dir: &Path) -> Result<(), KedaError> {
    let wanted = render(stack)?;
    let found = existing(dir)?;
    let files: Vec<String> = wanted
        .keys()
        .chain(found.keys())
        .filter(|f| wanted.get(*f) != found.get(*f))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if files.is_empty() {
        Ok(())
    } else {
        Err(KedaError::Stale {
            dir: dir.to_path_buf(),
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_target_times_proportion() {
        assert_eq!(threshold(20.0, 0.9), "18");
        assert_eq!(threshold(900.0, 0.9), "810");
        assert_eq!(threshold(10.0, 0.7), "7");
        assert_eq!(threshold(5.0, 0.75), "3.75");
    }

    #[test]
    fn only_functions_with_a_target_get_a_scaled_object_and_a_change_is_stale() {
        let text = |target: &str| {
            format!(
                "provider: {{name: openfaas}}
functions:
  a:
    image: x
    labels: {{com.openfaas.scale.min: \"1\", com.openfaas.scale.max: \"3\"}}
    annotations: {{com.openfaas.scale.target: \"{target}\"}}
  b:
    image: y
"
            )
        };
        let stack = Stack::parse(&text("20"), |_| None).unwrap();
        let files = render(&stack).unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["kustomization.yaml", "scaledobject-a.yaml"]
        );
        let a = &files["scaledobject-a.yaml"];
        assert!(a.contains("maxReplicaCount: 3"), "{a}");
        assert!(a.contains("threshold: \"18\""), "{a}");
        assert!(files["kustomization.yaml"].contains("  - scaledobject-a.yaml\n"));

        let dir = std::env::temp_dir().join(format!("greyfaas-keda-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&stack, &dir).unwrap();
        check(&stack, &dir).unwrap();
        let changed = Stack::parse(&text("30"), |_| None).unwrap();
        let stale = check(&changed, &dir).unwrap_err().to_string();
        assert!(stale.contains("scaledobject-a.yaml"), "{stale}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
