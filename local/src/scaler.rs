//! Request-rate autoscaling with the OpenFaaS settings (`com.openfaas.scale.*`):
//! desired = ceil(load / (target × target-proportion)), clamped to [min, max].
//!
//! Like Knative, two windows: the short *panic* window reacts to a burst within seconds
//! (scale up only); the long *stable* window decides scale-down, so that replicas do
//! not flap — a function scales down only to the highest recommendation seen over the
//! whole stable window. With `zero=true`, an idle function goes to zero replicas after
//! `zero-duration`, and the next request waits for a cold start.

use crate::supervisor::Function;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

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
    pub fn read(setting: impl Fn(&str) -> Option<String>) -> Result<ScaleSettings, String> {
        let key = |k: &str| format!("com.openfaas.scale.{k}");
        let number = |k: &str, default: f64| -> Result<f64, String> {
            match setting(&key(k)) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{}: {v:?} is not a number", key(k))),
            }
        };
        let min = number("min", 1.0)? as usize;
        let max = number("max", 20.0)? as usize;
        if min > max {
            return Err(format!(
                "{} ({min}) is above {} ({max})",
                key("min"),
                key("max")
            ));
        }
        let target = match setting(&key("target")) {
            None => None,
            Some(_) => Some(number("target", 50.0)?).filter(|t| *t > 0.0),
        };
        let kind = match setting(&key("type")).as_deref().map(str::trim) {
            None | Some("rps") => LoadKind::Rps,
            Some("capacity") => LoadKind::Capacity,
            Some(other) => {
                return Err(format!(
                    "{}: {other:?} is not supported here (use rps or capacity)",
                    key("type")
                ));
            }
        };
        let proportion = number("target-proportion", 0.9)?;
        if !(proportion > 0.0 && proportion <= 1.0) {
            return Err(format!("{}: must be in (0, 1]", key("target-proportion")));
        }
        let zero = setting(&key("zero")).is_some_and(|v| v.trim() == "true");
        let zero_duration = match setting(&key("zero-duration")) {
            None => Duration::from_secs(15 * 60),
            Some(v) => openfaas_runtime::parse_duration(&v)
                .map_err(|e| format!("{}: {e}", key("zero-duration")))?,
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

/// The two windows (Knative's defaults are 6 s and 60 s).
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub panic: Duration,
    pub stable: Duration,
}

/// One function's load history, one sample per tick.
struct History {
    samples: VecDeque<f64>,
    recommendations: VecDeque<usize>,
    last_started: u64,
}

impl History {
    fn average(&self, n: usize) -> f64 {
        let n = n.min(self.samples.len()).max(1);
        self.samples.iter().rev().take(n).sum::<f64>() / n as f64
    }
}

const TICK: Duration = Duration::from_secs(1);

/// Runs the autoscaler for every function with a target, forever.
pub async fn run(functions: Vec<Arc<Function>>, windows: Windows) {
    let panic_ticks = (windows.panic.as_secs_f64() / TICK.as_secs_f64())
        .ceil()
        .max(1.0) as usize;
    let stable_ticks = (windows.stable.as_secs_f64() / TICK.as_secs_f64())
        .ceil()
        .max(1.0) as usize;
    let mut histories: Vec<History> = functions
        .iter()
        .map(|f| History {
            samples: VecDeque::new(),
            recommendations: VecDeque::new(),
            last_started: f.started.load(Ordering::SeqCst),
        })
        .collect();
    let mut ticker = tokio::time::interval(TICK);
    loop {
        ticker.tick().await;
        for (function, history) in functions.iter().zip(histories.iter_mut()) {
            let spec = function.spec();
            let settings = &spec.scale;
            let started = function.started.load(Ordering::SeqCst);
            let sample = match settings.kind {
                LoadKind::Rps => (started - history.last_started) as f64 / TICK.as_secs_f64(),
                LoadKind::Capacity => function.in_flight.load(Ordering::SeqCst) as f64,
            };
            history.last_started = started;
            history.samples.push_back(sample);
            while history.samples.len() > stable_ticks {
                history.samples.pop_front();
            }
            if settings.target.is_none() || function.is_removed() {
                continue;
            }
            let panic_load = history.average(panic_ticks);
            let stable_load = history.average(stable_ticks);
            let recommended = settings
                .desired_for(panic_load)
                .max(settings.desired_for(stable_load));
            history.recommendations.push_back(recommended);
            while history.recommendations.len() > stable_ticks {
                history.recommendations.pop_front();
            }
            decide(function, history, panic_load, stable_load, stable_ticks);
        }
    }
}

fn decide(
    function: &Arc<Function>,
    history: &History,
    panic_load: f64,
    stable_load: f64,
    stable_ticks: usize,
) {
    let spec = function.spec();
    let settings = &spec.scale;
    let current = function.desired();
    let idle = function
        .last_request
        .lock()
        .map(|t| t.elapsed())
        .unwrap_or_default();
    if settings.zero
        && current > 0
        && idle >= settings.zero_duration
        && function.in_flight.load(Ordering::SeqCst) == 0
    {
        function.record(format!(
            "scale {current} -> 0: idle for {:.0}s (zero-duration {:?})",
            idle.as_secs_f64(),
            settings.zero_duration
        ));
        function.scale_to(0);
        return;
    }
    if current == 0 {
        return; // woken by the next request (scale from zero)
    }
    let newest = history.recommendations.back().copied().unwrap_or(current);
    if newest > current {
        function.record(format!(
            "scale {current} -> {newest}: load {panic_load:.1} over the panic window (target {} x {})",
            settings.target.unwrap_or_default(),
            settings.proportion
        ));
        function.scale_to(newest);
    } else if history.recommendations.len() >= stable_ticks {
        let hold = history
            .recommendations
            .iter()
            .copied()
            .max()
            .unwrap_or(current);
        if hold < current {
            function.record(format!(
                "scale {current} -> {hold}: load {stable_load:.1} over the stable window"
            ));
            function.scale_to(hold);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<ScaleSettings, String> {
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
                .contains("scale.min")
        );
        assert!(
            settings(&[("target", "lots")])
                .unwrap_err()
                .contains("scale.target")
        );
        assert!(
            settings(&[("type", "cpu")])
                .unwrap_err()
                .contains("scale.type")
        );
        assert!(settings(&[("target-proportion", "1.5")]).is_err());
        let zero = settings(&[("zero", "true"), ("zero-duration", "30s")]).unwrap();
        assert!(zero.zero);
        assert_eq!(zero.zero_duration, Duration::from_secs(30));
    }
}
