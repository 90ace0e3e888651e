//! A function's scaling settings, read from its labels or annotations
//! (`com.openfaas.scale.*`): what the scaler and the supervisor act on.

use std::time::Duration;

/// The most replicas one function may have here: `com.openfaas.scale.min` and `.max`
/// above it are refused. Every replica is a process on this one machine (OpenFaaS CE
/// caps max at 5 per function; Pro and Kubernetes spread replicas over nodes), and 20
/// keeps a typo such as `min: 2000` from forking thousands of processes.
pub const MAX_REPLICAS: usize = 20;

/// A scaling setting that cannot be used, named.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct BadSetting {
    pub key: String,
    pub problem: String,
}

/// What load means for a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// Requests per second (`rps`, the default).
    Rps,
    /// Requests in flight (`capacity`).
    Capacity,
}

/// One function's scaling settings, from its labels or annotations.
#[derive(Debug, Clone)]
pub struct ScaleSettings {
    pub min: usize,
    pub max: usize,
    /// Load one replica should carry; `None` = no autoscaling, replicas stay at `min`.
    pub target: Option<f64>,
    pub kind: LoadKind,
    pub proportion: f64,
    pub zero: bool,
    pub zero_duration: Duration,
}

impl ScaleSettings {
    /// Reads `com.openfaas.scale.{min,max,target,type,target-proportion,zero,zero-duration}`.
    /// An error names the setting.
    pub fn read(setting: impl Fn(&str) -> Option<String>) -> Result<ScaleSettings, BadSetting> {
        let key = |k: &str| format!("com.openfaas.scale.{k}");
        let bad = |k: &str, problem: String| BadSetting {
            key: key(k),
            problem,
        };
        let number = |k: &str, default: f64| -> Result<f64, BadSetting> {
            match setting(&key(k)) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| bad(k, format!("{v:?} is not a number"))),
            }
        };
        let count = |k: &str, default: usize| -> Result<usize, BadSetting> {
            let n = number(k, default as f64)?;
            if !(n >= 0.0 && n <= MAX_REPLICAS as f64) {
                return Err(bad(
                    k,
                    format!(
                        "{n} is outside 0..={MAX_REPLICAS}, the most replicas of one function greyfaas runs on one machine"
                    ),
                ));
            }
            Ok(n as usize)
        };
        let min = count("min", 1)?;
        let max = count("max", MAX_REPLICAS)?;
        if min > max {
            return Err(bad("min", format!("{min} is above {} ({max})", key("max"))));
        }
        let target = match setting(&key("target")) {
            None => None,
            Some(_) => Some(number("target", 50.0)?).filter(|t| *t > 0.0),
        };
        let kind = match setting(&key("type")).as_deref().map(str::trim) {
            None | Some("rps") => LoadKind::Rps,
            Some("capacity") => LoadKind::Capacity,
            Some(other) => {
                return Err(bad(
                    "type",
                    format!("{other:?} is not supported here (use rps or capacity)"),
                ));
            }
        };
        let proportion = number("target-proportion", 0.9)?;
        if !(proportion > 0.0 && proportion <= 1.0) {
            return Err(bad("target-proportion", "must be in (0, 1]".into()));
        }
        let zero = setting(&key("zero")).is_some_and(|v| v.trim() == "true");
        let zero_duration = match setting(&key("zero-duration")) {
            None => Duration::from_secs(15 * 60),
            Some(v) => openfaas_runtime::parse_duration(&v).map_err(|e| bad("zero-duration", e))?,
        };
        Ok(ScaleSettings {
            min,
            max,
            target,
            kind,
            proportion,
            zero,
            zero_duration,
        })
    }

    /// Replicas wanted for `load`, clamped to [min, max].
    pub fn desired_for(&self, load: f64) -> usize {
        let Some(target) = self.target else {
            return self.min;
        };
        let want = (load / (target * self.proportion)).ceil().max(0.0) as usize;
        want.clamp(self.min, self.max.max(self.min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<ScaleSettings, BadSetting> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (format!("com.openfaas.scale.{k}"), v.to_string()))
            .collect();
        ScaleSettings::read(|k| map.get(k).cloned())
    }

    #[test]
    fn desired_follows_the_openfaas_formula() {
        // The OpenFaaS docs' examples: load 15, target 5, proportion 1 -> 3;
        // load 90, target 100, proportion 0.7 -> 2.
        let a = settings(&[("target", "5"), ("target-proportion", "1"), ("max", "10")]).unwrap();
        assert_eq!(a.desired_for(15.0), 3);
        let b = settings(&[("target", "100"), ("target-proportion", "0.7")]).unwrap();
        assert_eq!(b.desired_for(90.0), 2);
        let c = settings(&[("target", "10"), ("min", "2"), ("max", "4")]).unwrap();
        assert_eq!(c.desired_for(0.0), 2, "clamped to min");
        assert_eq!(c.desired_for(1000.0), 4, "clamped to max");
        let fixed = settings(&[("min", "3")]).unwrap();
        assert_eq!(fixed.desired_for(1000.0), 3, "no target: stays at min");
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(
            settings(&[("min", "3"), ("max", "2")])
                .unwrap_err()
                .to_string()
                .contains("scale.min")
        );
        assert!(
            settings(&[("target", "lots")])
                .unwrap_err()
                .to_string()
                .contains("scale.target")
        );
        assert!(
            settings(&[("type", "cpu")])
                .unwrap_err()
                .to_string()
                .contains("scale.type")
        );
        assert!(settings(&[("target-proportion", "1.5")]).is_err());
        for (key, value) in [
            ("min", "21"),
            ("max", "21"),
            ("max", "1e9"),
            ("min", "-1"),
            ("max", "NaN"),
        ] {
            let error = settings(&[(key, value)]).unwrap_err().to_string();
            assert!(error.contains(&format!("scale.{key}")), "{error}");
        }
        let cap = settings(&[("min", "20"), ("max", "20")]).unwrap();
        assert_eq!((cap.min, cap.max), (MAX_REPLICAS, MAX_REPLICAS));
        let zero = settings(&[("zero", "true"), ("zero-duration", "30s")]).unwrap();
        assert!(zero.zero);
        assert_eq!(zero.zero_duration, Duration::from_secs(30));
    }
}
