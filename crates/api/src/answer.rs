//! What a function answers when it stored something: `201 {"path": …}` with a
//! `Location` at get-object, or for a batch a report of every item (201, or 207 when
//! any failed).

use greyfaas_store::ObjectPath;
use http::{HeaderValue, StatusCode, header};
use openfaas_runtime::{Response, body};

/// Where get-object serves a path, through the gateway (the `Location` of a 201).
pub fn location(path: &ObjectPath) -> String {
    format!("/function/get-object{path}")
}

/// `201 {"path": …}` with `Location` pointing at get-object.
pub fn created(path: &ObjectPath) -> Response {
    let mut response = body::json(
        StatusCode::CREATED,
        &serde_json::json!({"path": path.to_string()}),
    );
    if let Ok(value) = HeaderValue::from_str(&location(path)) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Runs `work` over `items`, at most `parallel` at once, keeping the input order.
pub async fn run_batch<T, F, Fut>(items: Vec<T>, parallel: usize, work: F) -> Vec<serde_json::Value>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    use futures_util::StreamExt;
    futures_util::stream::iter(items.into_iter().map(work))
        .buffered(parallel.max(1))
        .collect()
        .await
}

/// One item's outcome in a batch report: `{"<key>": input, "path": …}` or
/// `{"<key>": input, "error": …, "status": …}`.
pub fn outcome<E: std::fmt::Display>(
    key: &str,
    input: &str,
    result: Result<ObjectPath, (StatusCode, E)>,
) -> serde_json::Value {
    match result {
        Ok(path) => serde_json::json!({key: input, "path": path.to_string()}),
        Err((status, err)) => {
            serde_json::json!({key: input, "error": err.to_string(), "status": status.as_u16()})
        }
    }
}

/// The answer to a batch: 201 when every item has a `path`, else 207 Multi-Status
/// with `failed` counting the items that carry an `error`.
pub fn batch_response(results: Vec<serde_json::Value>) -> Response {
    let failed = results.iter().filter(|r| r.get("error").is_some()).count();
    let status = if failed == 0 {
        StatusCode::CREATED
    } else {
        StatusCode::MULTI_STATUS
    };
    body::json(
        status,
        &serde_json::json!({"results": results, "failed": failed}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_with_a_failure_is_207() {
        let ok = ObjectPath::parse(&format!("/incoming/{}", "a".repeat(64))).unwrap();
        let all_ok = batch_response(vec![outcome::<String>("url", "u1", Ok(ok.clone()))]);
        assert_eq!(all_ok.status(), StatusCode::CREATED);
        let mixed = batch_response(vec![
            outcome::<String>("url", "u1", Ok(ok)),
            outcome("url", "u2", Err((StatusCode::BAD_GATEWAY, "down"))),
        ]);
        assert_eq!(mixed.status(), StatusCode::MULTI_STATUS);
    }
}
