//! What a function answers when it stored something: `201 {"path": …}` with a
//! `Location` at get-object, or for a batch a report of every item (201, or 207 when
//! any failed).

use crate::ApiError;
use greyfaas_store::ObjectPath;
use http::{HeaderValue, StatusCode, header};
use openfaas_runtime::{HttpError, Response, body};

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

/// How a batch request runs: the JSON key that names each item in the report
/// (`"url"`), what its items are called in a refusal (`"URLs"`), how many one request
/// may hold, and how many run at once.
pub struct Batch {
    pub key: &'static str,
    pub items: &'static str,
    pub max: usize,
    pub parallel: usize,
}

impl Batch {
    /// Runs `work` over `inputs` (1 to `max` of them, `parallel` at once) and reports
    /// every outcome in input order: 201 when all succeeded, else 207 Multi-Status
    /// with `failed` counting the failures.
    pub async fn run<E, F, Fut>(&self, inputs: Vec<String>, work: F) -> Result<Response, ApiError>
    where
        E: HttpError,
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<ObjectPath, E>>,
    {
        use futures_util::StreamExt;
        if inputs.is_empty() || inputs.len() > self.max {
            return Err(ApiError::Batch {
                items: self.items,
                len: inputs.len(),
                max: self.max,
            });
        }
        let outcomes = inputs.into_iter().map(|input| {
            let done = work(input.clone());
            async move { outcome(self.key, &input, done.await) }
        });
        let results: Vec<_> = futures_util::stream::iter(outcomes)
            .buffered(self.parallel.max(1))
            .collect()
            .await;
        let failed = results.iter().filter(|r| r.get("error").is_some()).count();
        let status = match failed {
            0 => StatusCode::CREATED,
            _ => StatusCode::MULTI_STATUS,
        };
        Ok(body::json(
            status,
            &serde_json::json!({"results": results, "failed": failed}),
        ))
    }
}

/// One item's outcome in a batch report: `{"<key>": input, "path": …}` or
/// `{"<key>": input, "error": …, "status": …}`.
fn outcome<E: HttpError>(
    key: &str,
    input: &str,
    result: Result<ObjectPath, E>,
) -> serde_json::Value {
    match result {
        Ok(path) => serde_json::json!({key: input, "path": path.to_string()}),
        Err(err) => {
            serde_json::json!({key: input, "error": err.to_string(), "status": err.status().as_u16()})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    const BATCH: Batch = Batch {
        key: "url",
        items: "URLs",
        max: 3,
        parallel: 2,
    };

    fn path(c: char) -> ObjectPath {
        ObjectPath::parse(&format!("/incoming/{}", c.to_string().repeat(64))).unwrap()
    }

    async fn run(inputs: &[&str]) -> Result<(StatusCode, serde_json::Value), ApiError> {
        let inputs = inputs.iter().map(|s| s.to_string()).collect();
        let response = BATCH
            .run(inputs, |input| async move {
                match input.as_str() {
                    "bad" => Err(ApiError::NotImage),
                    _ => Ok(path('a')),
                }
            })
            .await?;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Ok((status, serde_json::from_slice(&bytes).unwrap()))
    }

    #[tokio::test]
    async fn a_batch_reports_each_item_in_order_and_is_207_when_any_failed() {
        let (status, json) = run(&["u1", "u2"]).await.unwrap();
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(json["failed"], 0);

        let (status, json) = run(&["u1", "bad", "u3"]).await.unwrap();
        assert_eq!(status, StatusCode::MULTI_STATUS);
        assert_eq!(json["failed"], 1);
        let results = json["results"].as_array().unwrap();
        assert_eq!(results[0]["url"], "u1");
        assert_eq!(results[0]["path"], path('a').to_string());
        assert_eq!(results[1]["url"], "bad");
        assert_eq!(results[1]["status"], 415);
        assert_eq!(results[2]["url"], "u3");
    }

    #[tokio::test]
    async fn an_empty_or_oversized_batch_is_refused_before_any_work() {
        assert!(matches!(
            run(&[]).await,
            Err(ApiError::Batch { len: 0, .. })
        ));
        let four = run(&["a", "b", "c", "d"]).await;
        assert!(matches!(four, Err(ApiError::Batch { len: 4, max: 3, .. })));
    }
}
