//! Downloading one URL: limits on size, time and redirects; the guard on every hop;
//! the name computed while the bytes stream in. Every URL an error names is shown
//! through [`redact`](crate::redact), without its credentials.

use crate::error::Error;
use crate::redact;
use crate::settings::Settings;
use bytes::{Bytes, BytesMut};
use greyfaas_api::ApiError;
use greyfaas_ssrf_guard::{self as guard, Refused};
use greyfaas_store::{ImageFormat, NameHasher, ObjectName};
use once_cell::sync::OnceCell;
use reqwest::redirect;
use url::Url;

/// A downloaded image, named by its content.
pub struct Download {
    pub name: ObjectName,
    pub bytes: Bytes,
    pub format: ImageFormat,
}

/// Raised by the redirect policy past `max_redirects`.
#[derive(Debug, thiserror::Error)]
#[error("more than {0} redirects")]
struct TooManyRedirects(usize);

/// Downloads under one [`Settings`]. Its client is built on first use and then reused,
/// so connections are kept across requests.
#[derive(Default)]
pub struct Downloader {
    client: OnceCell<reqwest::Client>,
}

impl Downloader {
    /// Downloads `url`, refusing what is not an image or breaks a limit.
    pub async fn fetch(&self, url: &str, settings: &Settings) -> Result<Download, Error> {
        fetch(self.client(settings)?, url, settings).await
    }

    /// The download client: no proxies from the environment (they would bypass the
    /// guard), the guarded resolver, the guard on every redirect.
    fn client(&self, settings: &Settings) -> Result<&reqwest::Client, Error> {
        self.client.get_or_try_init(|| build_client(settings))
    }
}

fn build_client(settings: &Settings) -> Result<reqwest::Client, Error> {
    let max = settings.max_redirects;
    let guard = settings.guard.clone();
    let policy = redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max {
            return attempt.error(TooManyRedirects(max));
        }
        if !matches!(attempt.url().scheme(), "http" | "https") {
            return attempt.stop();
        }
        match guard.check_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(refused) => attempt.error(refused),
        }
    });
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.fetch_timeout)
        .redirect(policy)
        .no_proxy()
        .dns_resolver(guard::resolver(&settings.guard))
        .user_agent(concat!(
            "greyfaas-fetch-incoming/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| ApiError::Internal(format!("cannot build the HTTP client: {e}")).into())
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    settings: &Settings,
) -> Result<Download, Error> {
    let shown = redact::text(url);
    let parsed = Url::parse(url).map_err(|e| Error::BadUrl(format!("{shown:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::BadUrl(format!(
            "scheme {:?} is not allowed: use http or https",
            parsed.scheme()
        )));
    }
    if parsed.host().is_none() {
        return Err(Error::BadUrl(format!("{shown:?} has no host")));
    }
    settings.guard.check_url(&parsed)?;

    let mut response = client.get(parsed).send().await.map_err(classify)?;
    if !response.status().is_success() {
        return Err(Error::Upstream(format!(
            "{shown} answered {}",
            response.status()
        )));
    }
    let limit = settings.max_bytes;
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(Error::TooLarge(limit));
    }
    let mut hasher = NameHasher::default();
    let mut bytes =
        BytesMut::with_capacity(response.content_length().unwrap_or(64 << 10).min(limit) as usize);
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(Error::TooLarge(limit));
        }
        hasher.update(&chunk);
        bytes.extend_from_slice(&chunk);
    }
    let format = ImageFormat::sniff(&bytes).ok_or(ApiError::NotImage)?;
    Ok(Download {
        name: hasher.finish(),
        bytes: bytes.freeze(),
        format,
    })
}

/// Sorts a client failure by what the caller should hear. reqwest's message names the
/// URL (the last hop's), so its credentials are removed first.
fn classify(mut err: reqwest::Error) -> Error {
    if let Some(url) = err.url_mut() {
        redact::url(url);
    }
    if let Some(refused) = Refused::find_in(&err) {
        return Error::Forbidden(refused.clone());
    }
    if let Some(too_many) = guard::causes(&err).find_map(|e| e.downcast_ref::<TooManyRedirects>()) {
        return Error::Upstream(too_many.to_string());
    }
    if err.is_timeout() {
        Error::Timeout(err.to_string())
    } else if err.is_connect() {
        Error::Unreachable(guard::describe(&err))
    } else {
        Error::Upstream(guard::describe(&err))
    }
}
