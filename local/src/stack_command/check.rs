//! `greyfaas stack check`: each function of a stack checked by the code that will read
//! its settings — the runtime's own reader for the OpenFaaS settings, each function's
//! exported list of the names it reads, and the scaling settings `up` uses — so a typo
//! in stack.yml is caught before a deploy, not by a function that quietly ignores it.

use crate::stack::{FunctionDef, ScaleSettings, Stack};
use std::time::Duration;

/// Labels OpenFaaS Community Edition refuses at deploy time (faas-netes
/// `validateScalingLabels`): stack.yml keeps these as annotations.
const CE_REJECTED_LABELS: [&str; 4] = [
    "com.openfaas.scale.target",
    "com.openfaas.scale.type",
    "com.openfaas.scale.zero",
    "com.openfaas.scale.zero-duration",
];
/// The most replicas OpenFaaS Community Edition runs.
const CE_MAX_REPLICAS: usize = 5;
/// Kubernetes' default terminationGracePeriodSeconds: the health check interval must
/// leave time to drain within it.
const GRACE_PERIOD: Duration = Duration::from_secs(30);

/// What the checks found: one line each, `ok  …` or `FAIL …`.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub passed: usize,
    pub failed: usize,
}

impl Report {
    fn check(&mut self, name: String, problem: Option<String>) {
        match problem {
            None => {
                self.passed += 1;
                self.lines.push(format!("ok   {name}"));
            }
            Some(problem) => {
                self.failed += 1;
                self.lines.push(format!("FAIL {name}: {problem}"));
            }
        }
    }

    fn note(&mut self, text: String) {
        self.lines.push(format!("note {text}"));
    }
}

/// Checks every function of `stack`; `upstream_timeout` is the gateway's.
pub fn check(stack: &Stack, upstream_timeout: Duration) -> Report {
    let mut report = Report::default();
    for (name, def) in &stack.functions {
        let handler = stack.dir.join(def.handler.as_deref().unwrap_or(name));
        match crate::cargo_build::package_name(name, &handler.join("Cargo.toml")) {
            Ok(package) => match crate::setting_names::read_by(&package) {
                Some(names) => {
                    environment_is_read(&mut report, name, def, &names);
                    secrets_are_the_stores(&mut report, name, def);
                }
                None => report.note(format!(
                    "{name}: package {package} is not a function of this workspace: its settings are not checked by name"
                )),
            },
            Err(e) => report.check(format!("{name}: handler is a cargo package"), Some(e.to_string())),
        }
        timeouts(&mut report, name, def, upstream_timeout);
        scaling(&mut report, name, def);
        let private = def
            .environment
            .get("allow_private_networks")
            .is_some_and(|v| matches!(v.0.trim(), "true" | "1"));
        report.check(
            format!("{name}: allow_private_networks is not on"),
            private.then(|| "the SSRF guard must refuse internal addresses".into()),
        );
    }
    report
}

fn environment_is_read(report: &mut Report, name: &str, def: &FunctionDef, names: &[&str]) {
    for key in def.environment.keys() {
        report.check(
            format!("{name}: environment {key} is read by the function"),
            (!names.contains(&key.as_str()))
                .then(|| "no code reads it (a typo, or a setting that was removed?)".into()),
        );
    }
}

/// Every function of this workspace reads the store's secrets, and no others: each
/// must be mounted (or the function answers 503), and one no code reads is a typo.
fn secrets_are_the_stores(report: &mut Report, name: &str, def: &FunctionDef) {
    let read = greyfaas_store::config::SECRETS;
    for secret in read {
        report.check(
            format!("{name}: mounts the store's secret {secret}"),
            (!def.secrets.iter().any(|s| s == secret))
                .then(|| "not under secrets: the function cannot reach the store".into()),
        );
    }
    for secret in &def.secrets {
        report.check(
            format!("{name}: secret {secret} is read by the function"),
            (!read.contains(&secret.as_str()))
                .then(|| format!("no code reads it (the store reads {})", read.join(", "))),
        );
    }
}

fn timeouts(report: &mut Report, name: &str, def: &FunctionDef, upstream: Duration) {
    let config =
        openfaas_runtime::Config::from_lookup(|k| def.environment.get(k).map(|v| v.0.clone()));
    let config = match config {
        Ok(config) => {
            report.check(format!("{name}: the runtime's settings parse"), None);
            config
        }
        Err(e) => {
            return report.check(
                format!("{name}: the runtime's settings parse"),
                Some(e.to_string()),
            );
        }
    };
    let exec = config.exec_timeout;
    report.check(
        format!("{name}: 0 < exec_timeout <= the gateway's upstream_timeout ({upstream:?})"),
        match exec {
            None => {
                Some("exec_timeout is 0 (no limit): the gateway would cut the call first".into())
            }
            Some(e) if e > upstream => Some(format!("exec_timeout is {e:?}")),
            Some(_) => None,
        },
    );
    report.check(
        format!("{name}: write_timeout >= exec_timeout"),
        exec.filter(|e| config.write_timeout < *e).map(|e| {
            format!(
                "write_timeout {:?} < exec_timeout {e:?}: a 504 could not be written",
                config.write_timeout
            )
        }),
    );
    let hc = config.healthcheck_interval;
    report.check(
        format!("{name}: 0 < healthcheck_interval < half the {GRACE_PERIOD:?} grace period"),
        (hc.is_zero() || hc >= GRACE_PERIOD / 2).then(|| format!("healthcheck_interval is {hc:?}")),
    );
}

fn scaling(report: &mut Report, name: &str, def: &FunctionDef) {
    let text = |map: &std::collections::BTreeMap<String, crate::stack::Scalar>, key: &str| {
        map.get(key).map(|v| v.0.clone())
    };
    // What OpenFaaS CE deploys: labels only, min and max within its limit.
    match ScaleSettings::read(|k| text(&def.labels, k)) {
        Ok(labels) => {
            let given = def.labels.contains_key("com.openfaas.scale.min")
                && def.labels.contains_key("com.openfaas.scale.max");
            report.check(
                format!("{name}: labels 1 <= com.openfaas.scale.min <= max <= {CE_MAX_REPLICAS}"),
                (!given || labels.min < 1 || labels.max > CE_MAX_REPLICAS).then(|| {
                    format!(
                        "min {} max {} (both must be labels)",
                        labels.min, labels.max
                    )
                }),
            );
        }
        Err(e) => report.check(format!("{name}: scale labels parse"), Some(e.to_string())),
    }
    let rejected: Vec<&str> = CE_REJECTED_LABELS
        .into_iter()
        .filter(|k| def.labels.contains_key(*k))
        .collect();
    report.check(
        format!("{name}: no label OpenFaaS CE rejects at deploy"),
        (!rejected.is_empty()).then(|| format!("{rejected:?}: keep them as annotations")),
    );
    // What `greyfaas up` and OpenFaaS Pro read: labels, then annotations.
    report.check(
        format!("{name}: scaling settings (labels, then annotations) parse with a target"),
        match ScaleSettings::read(|k| def.setting(k).map(str::to_owned)) {
            Ok(s) if s.target.is_some() => None,
            Ok(_) => Some("no com.openfaas.scale.target: nothing to scale on".into()),
            Err(e) => Some(e.to_string()),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(function: &str) -> Stack {
        let mut stack = Stack::parse(
            &format!("provider: {{name: openfaas}}\nfunctions:\n  greyscale:\n{function}"),
            |_| None,
        )
        .unwrap();
        // The handler is this workspace's greyscale crate.
        stack.dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        stack
    }

    const GOOD: &str = r#"    handler: ./functions/greyscale
    image: x
    environment:
      exec_timeout: 55s
      write_timeout: 60s
      healthcheck_interval: 2s
      max_pixels: "1000"
    secrets:
      - s3-access-key
      - s3-secret-key
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "5"
    annotations:
      com.openfaas.scale.target: "20"
"#;

    fn failures(function: &str) -> Vec<String> {
        check(&stack(function), Duration::from_secs(60))
            .lines
            .into_iter()
            .filter(|l| l.starts_with("FAIL"))
            .collect()
    }

    #[test]
    fn a_good_function_passes() {
        assert_eq!(failures(GOOD), Vec::<String>::new());
    }

    #[test]
    fn each_mistake_is_named() {
        for (broken, expected) in [
            (
                GOOD.replace("max_pixels", "max_pixel"),
                "environment max_pixel",
            ),
            (
                GOOD.replace("s3-access-key", "s3-acces-key"),
                "secret s3-acces-key is read",
            ),
            (
                GOOD.replace("      - s3-secret-key\n", ""),
                "mounts the store's secret s3-secret-key",
            ),
            (GOOD.replace("55s", "2m"), "exec_timeout <="),
            (GOOD.replace("55s", "5x"), "settings parse"),
            (GOOD.replace("60s", "30s"), "write_timeout >="),
            (GOOD.replace("2s", "20s"), "healthcheck_interval"),
            (GOOD.replace("max: \"5\"", "max: \"6\""), "scale.min <= max"),
            (
                GOOD.replace(
                    "    annotations:\n",
                    "      com.openfaas.scale.target: \"20\"\n    annotations:\n",
                ),
                "CE rejects",
            ),
            (
                GOOD.replace("target: \"20\"", "target: lots"),
                "parse with a target",
            ),
            (
                GOOD.replace(
                    "      max_pixels: \"1000\"\n",
                    "      allow_private_networks: \"true\"\n",
                ),
                "allow_private_networks",
            ),
        ] {
            let found = failures(&broken);
            assert!(
                found.iter().any(|l| l.contains(expected)),
                "{expected}: {found:?}"
            );
        }
    }
}
