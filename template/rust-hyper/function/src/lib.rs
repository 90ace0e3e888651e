//! Your function: one async handler from request to response.
//!
//! The runtime has already answered health checks, applied timeouts and limits and
//! attached the call id; `handle` sees every other request, whatever its method and path.

use openfaas_runtime::{HttpError, Request, Response, body};

/// Answers `Hello, <body>` (or `Hello, world`).
pub async fn handle(req: Request) -> Response {
    let name = match body::read(req.into_body(), 64 * 1024).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).trim().to_string(),
        Ok(_) => "world".to_string(),
        Err(err) => return err.into_response(),
    };
    body::text(http::StatusCode::OK, format!("Hello, {name}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn greets_the_name_in_the_body() {
        let response = handle(http::Request::new(body::full("Ada"))).await;
        assert_eq!(response.status(), http::StatusCode::OK);
        let text = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(text, "Hello, Ada\n");
    }
}
