//! `GET /system/logs`, as faas-provider's logs handler answers `faas-cli logs NAME`:
//! query `name`, `instance`, `tail`, `follow`, `since` (RFC 3339); NDJSON, one
//! `{"name","namespace","instance","timestamp","text"}` per line; with `follow`, new
//! lines as they come until the client goes away.

use crate::error::GatewayError;
use crate::function::Functions;
use crate::logs::{LogLine, Logs};
use crate::metrics::NAMESPACE;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderValue, StatusCode, header};
use openfaas_runtime::{Request, Response, body};
use std::sync::Arc;
use tokio::sync::broadcast;

/// What a `/system/logs` query asks for.
struct Query {
    name: String,
    instance: Option<String>,
    tail: Option<usize>,
    follow: bool,
    since: Option<DateTime<Utc>>,
}

/// A log query faas-provider would refuse (422).
fn unreadable(problem: impl std::fmt::Display) -> GatewayError {
    GatewayError::Unprocessable(format!("could not parse the log request: {problem}"))
}

fn parse_query(query: &str) -> Result<Query, GatewayError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    // As faas-provider: the last value of a repeated key wins.
    let value = |key: &str| {
        pairs
            .iter()
            .rfind(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let name = value("name").ok_or_else(|| unreadable("name is required"))?;
    let tail = match value("tail") {
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|e| unreadable(format!("tail: {e}")))?,
        ),
        None => None,
    };
    let since = match value("since") {
        Some(s) => Some(
            DateTime::parse_from_rfc3339(&s)
                .map_err(|e| unreadable(format!("since: {e}")))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    Ok(Query {
        name,
        instance: value("instance"),
        // faas-cli sends tail=-1 for "all".
        tail: tail.filter(|t| *t >= 0).map(|t| t as usize),
        // Go's strconv.ParseBool; anything else is false, as faas-provider ignores the error.
        follow: value("follow")
            .is_some_and(|f| matches!(f.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True")),
        since,
    })
}

/// `GET /system/logs?name=NAME[&instance=…][&tail=N][&follow=true][&since=RFC3339]`.
pub fn route(functions: &Functions, req: &Request) -> Result<Response, GatewayError> {
    let query = parse_query(req.uri().query().unwrap_or_default())?;
    let (function, _) = functions.resolve(&query.name)?;
    let logs = function.logs.clone();
    let wanted = move |line: &LogLine| {
        query.instance.as_ref().is_none_or(|i| *i == line.instance)
            && query.since.is_none_or(|s| line.timestamp >= s)
    };
    // Subscribe before the snapshot so no line falls between the two.
    let mut live = logs.subscribe();
    let mut past: Vec<Arc<LogLine>> = logs.recent(&wanted);
    if let Some(tail) = query.tail {
        past.drain(..past.len().saturating_sub(tail));
    }
    let last_seen = past.last().map(|l| l.timestamp);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let follow = query.follow;
    tokio::spawn(async move {
        for line in &past {
            if tx.send(json_line(&logs, line)).await.is_err() {
                return;
            }
        }
        if !follow {
            return;
        }
        loop {
            match live.recv().await {
                Ok(line) if wanted(&line) && last_seen.is_none_or(|t| line.timestamp > t) => {
                    if tx.send(json_line(&logs, &line)).await.is_err() {
                        return; // the client stopped listening
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|bytes| {
            (
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(bytes)),
                rx,
            )
        })
    });
    let mut response = http::Response::new(body::stream(http_body_util::StreamBody::new(frames)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

/// One NDJSON line of faas-provider's `Message`.
fn json_line(logs: &Logs, line: &LogLine) -> Bytes {
    let mut text = serde_json::to_vec(&serde_json::json!({
        "name": logs.name(),
        "namespace": NAMESPACE,
        "instance": line.instance,
        "timestamp": line.timestamp.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "text": line.text,
    }))
    .unwrap_or_default();
    text.push(b'\n');
    text.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_as_faas_provider_reads_them() {
        let q = parse_query(
            "name=greyscale&tail=-1&follow=false&since=2026-12-02T05%3A00%3A00%2B01%3A00",
        )
        .unwrap();
        assert_eq!(q.name, "greyscale");
        assert_eq!(q.tail, None);
        assert!(!q.follow);
        assert_eq!(q.since.unwrap().to_rfc3339(), "2026-12-02T04:00:00+00:00");
        let q = parse_query("name=a&name=b&tail=5&follow=true&instance=b-3").unwrap();
        assert_eq!((q.name.as_str(), q.tail, q.follow), ("b", Some(5), true));
        assert_eq!(q.instance.as_deref(), Some("b-3"));
        assert!(parse_query("tail=5").is_err());
        assert!(parse_query("name=a&tail=x").is_err());
        assert!(parse_query("name=a&since=yesterday").is_err());
    }
}
