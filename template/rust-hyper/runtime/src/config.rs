//! The runtime's settings, read from the environment as the OpenFaaS watchdog reads them.

use std::time::Duration;

/// Every setting of the runtime. Durations accept whole seconds (`10`) or Go-style
/// durations (`10s`, `1m5s`, `500ms`), like of-watchdog.
#[derive(Debug, Clone)]
pub struct Config {
    /// `port`: where the function listens (8080).
    pub port: u16,
    /// `metrics_port`: where Prometheus metrics are served (8081); 0 turns them off.
    pub metrics_port: u16,
    /// `bind_address`: the interface to listen on (`0.0.0.0`; the local runtime uses loopback).
    pub bind_address: std::net::IpAddr,
    /// `read_timeout`: longest wait for request headers, and between two chunks of a body (10 s).
    pub read_timeout: Duration,
    /// `write_timeout`: longest time to send a whole response (30 s); also bounds the drain.
    pub write_timeout: Duration,
    /// `exec_timeout`: longest a handler may run before the caller gets 504 (30 s; 0 = no limit).
    pub exec_timeout: Option<Duration>,
    /// `healthcheck_interval`: after SIGTERM, how long `/_/health` reports 503 before the
    /// listener closes, so that load balancers stop sending (2 s).
    pub healthcheck_interval: Duration,
    /// `max_inflight`: concurrent requests allowed; beyond it 429 (0 = unlimited).
    pub max_inflight: usize,
    /// `max_request_bytes`: largest request body accepted; beyond it 413 (64 MiB).
    pub max_request_bytes: u64,
    /// `max_header_bytes`: largest request head (request line and headers) accepted (16 KiB).
    pub max_header_bytes: usize,
    /// `log_format=json`: one JSON object per log line instead of text.
    pub log_json: bool,
}

/// Every environment name [`Config::from_lookup`] reads.
pub const NAMES: &[&str] = &[
    "port",
    "metrics_port",
    "bind_address",
    "read_timeout",
    "write_timeout",
    "exec_timeout",
    "healthcheck_interval",
    "max_inflight",
    "max_request_bytes",
    "max_header_bytes",
    "log_format",
];

/// The longest total shutdown we allow: Kubernetes kills a pod 30 s after SIGTERM.
pub const GRACE_PERIOD: Duration = Duration::from_secs(28);

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 8080,
            metrics_port: 8081,
            bind_address: std::net::Ipv4Addr::UNSPECIFIED.into(),
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            exec_timeout: Some(Duration::from_secs(30)),
            healthcheck_interval: Duration::from_secs(2),
            max_inflight: 0,
            max_request_bytes: 64 << 20,
            max_header_bytes: 16 << 10,
            log_json: false,
        }
    }
}

/// A setting that is present but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

impl Config {
    /// Reads every setting from the process environment; unset ones keep their defaults.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let get = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v))
        };
        if let Some((n, v)) = get("port") {
            c.port = parse_number(n, &v)?;
        }
        if let Some((n, v)) = get("metrics_port") {
            c.metrics_port = parse_number(n, &v)?;
        }
        if let Some((n, v)) = get("bind_address") {
            c.bind_address = v.trim().parse().map_err(|e| invalid(n, &v, e))?;
        }
        if let Some((n, v)) = get("read_timeout") {
            c.read_timeout = nonzero(n, &v, parse_duration(&v).map_err(|e| invalid(n, &v, e))?)?;
        }
        if let Some((n, v)) = get("write_timeout") {
            c.write_timeout = nonzero(n, &v, parse_duration(&v).map_err(|e| invalid(n, &v, e))?)?;
        }
        if let Some((n, v)) = get("exec_timeout") {
            let d = parse_duration(&v).map_err(|e| invalid(n, &v, e))?;
            c.exec_timeout = (!d.is_zero()).then_some(d);
        }
        if let Some((n, v)) = get("healthcheck_interval") {
            c.healthcheck_interval = parse_duration(&v).map_err(|e| invalid(n, &v, e))?;
        }
        if let Some((n, v)) = get("max_inflight") {
            c.max_inflight = parse_number(n, &v)?;
        }
        if let Some((n, v)) = get("max_request_bytes") {
            c.max_request_bytes = parse_number(n, &v)?;
        }
        if let Some((n, v)) = get("max_header_bytes") {
            c.max_header_bytes = parse_number(n, &v)?;
        }
        c.log_json = lookup("log_format").is_some_and(|v| v.eq_ignore_ascii_case("json"));
        Ok(c)
    }

    /// How long in-flight requests may take to finish once the listener has closed:
    /// `write_timeout`, but never so long that the whole shutdown overruns [`GRACE_PERIOD`].
    pub fn drain_timeout(&self) -> Duration {
        self.write_timeout
            .min(GRACE_PERIOD.saturating_sub(self.healthcheck_interval))
    }
}

fn invalid(name: &'static str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn nonzero(name: &'static str, value: &str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        Err(invalid(name, value, "must be greater than zero"))
    } else {
        Ok(d)
    }
}

fn parse_number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse().map_err(|e| invalid(name, value, e))
}

/// Parses `30`, `30s`, `1m5s`, `1h`, `250ms` into a duration (of-watchdog accepts the same).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or("missing unit (s, m, h, ms)")?;
        if digits == 0 {
            return Err(format!("expected a number at {rest:?}"));
        }
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("bad number in {text:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => return Err(format!("unknown unit {unit:?} (use ms, s, m or h)")),
        };
        // Checked: `X-Timeout` is client input, and `1e300h` must be an error, not a panic.
        let part = Duration::try_from_secs_f64(number * scale)
            .map_err(|_| format!("{text:?} is out of range"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("{text:?} is out of range"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn durations_parse_like_the_watchdog() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1m5s").unwrap(), Duration::from_secs(65));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }

    /// Found by the `requests` fuzz target: huge values used to panic.
    #[test]
    fn out_of_range_durations_are_errors_not_panics() {
        assert!(parse_duration("99999999999999999999999h").is_err());
        assert!(parse_duration("18446744073709551615s18446744073709551615s").is_err());
        assert!(parse_duration("1.5.5s").is_err());
        assert!(parse_duration("33333333333333333333333333333333331s66m").is_err());
    }

    #[test]
    fn settings_come_from_the_environment() {
        let env: HashMap<&str, &str> = [
            ("port", "9000"),
            ("exec_timeout", "0"),
            ("max_inflight", "3"),
            ("log_format", "json"),
        ]
        .into();
        let c = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.port, 9000);
        assert_eq!(c.exec_timeout, None);
        assert_eq!(c.max_inflight, 3);
        assert!(c.log_json);
        assert_eq!(c.metrics_port, 8081);
    }

    #[test]
    fn names_are_the_names_read() {
        let read = crate::settings::names_read(|lookup| {
            let _ = Config::from_lookup(lookup);
        });
        assert_eq!(read, NAMES.iter().map(|n| n.to_string()).collect());
    }

    #[test]
    fn a_bad_setting_names_itself() {
        let err = Config::from_lookup(|k| (k == "write_timeout").then(|| "soon".to_string()))
            .unwrap_err();
        assert_eq!(err.name, "write_timeout");
        assert!(err.to_string().contains("soon"));
        assert!(Config::from_lookup(|k| (k == "read_timeout").then(|| "0".to_string())).is_err());
    }

    #[test]
    fn shutdown_fits_in_the_kubernetes_grace_period() {
        let c = Config {
            write_timeout: Duration::from_secs(60),
            healthcheck_interval: Duration::from_secs(5),
            ..Config::default()
        };
        assert!(c.healthcheck_interval + c.drain_timeout() <= GRACE_PERIOD);
    }
}
