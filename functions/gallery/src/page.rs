//! The web page, embedded at build time so the function needs nothing at run time:
//! ui/index.html with ui/app.css and ui/app.js inlined (one document works wherever
//! the function is mounted: /function/gallery/ or the gateway's /ui/), served with a
//! Content-Security-Policy that allows only that script and style and same-origin calls.

use base64::Engine;
use http::{HeaderValue, StatusCode, header};
use openfaas_runtime::{Response, body};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const HTML: &str = include_str!("../ui/index.html");
const STYLE: &str = include_str!("../ui/app.css");
const SCRIPT: &str = include_str!("../ui/app.js");

struct Page {
    html: String,
    policy: String,
}

static PAGE: LazyLock<Page> = LazyLock::new(|| {
    let hash = |text: &str| {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    };
    Page {
        html: HTML
            .replacen("/*STYLE*/", STYLE, 1)
            .replacen("/*SCRIPT*/", SCRIPT, 1),
        policy: format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
             img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'self'",
            hash(SCRIPT),
            hash(STYLE)
        ),
    }
});

pub fn index() -> Response {
    let page = &*PAGE;
    let mut response = body::with_type(
        StatusCode::OK,
        "text/html; charset=utf-8",
        page.html.clone(),
    );
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&page.policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    #[test]
    fn the_script_and_style_are_inlined_once() {
        let page = &*super::PAGE;
        assert!(!page.html.contains("/*STYLE*/") && !page.html.contains("/*SCRIPT*/"));
        assert!(page.html.contains(super::SCRIPT) && page.html.contains(super::STYLE));
        let script = format!("script-src 'sha256-{}'", {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(super::SCRIPT))
        });
        assert!(page.policy.contains(&script), "{}", page.policy);
    }
}
