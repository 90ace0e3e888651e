//! Request-rate autoscaling with the OpenFaaS settings (`com.openfaas.scale.*`):
//! desired = ceil(load / (target × target-proportion)), clamped to [min, max].
//!
//! Like Knative, two windows: the short *panic* window reacts to a burst within seconds
//! (scale up only); the long *stable* window decides scale-down, so that replicas do
//! not flap — a function scales down only to the highest recommendation seen over the
//! whole stable window. With `zero=true`, an idle function goes to zero replicas after
//! `zero-duration`, and the next request waits for a cold start.

use crate::function::Function;
use crate::stack::LoadKind;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

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
        crate::supervisor::scale(function, 0);
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
        crate::supervisor::scale(function, newest);
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
            crate::supervisor::scale(function, hold);
        }
    }
}
