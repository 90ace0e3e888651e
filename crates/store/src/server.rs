//! An S3 server over a folder (s3s-fs) on a listener: the embedded store that
//! `greyfaas store` runs, and the real store a function's own tests start in-process.
//! Behind the `server` feature, so the functions' images do not carry it.
//!
//! s3s-fs writes each object to a temporary file and renames it into place, so a crash
//! never leaves a half-written object. [`range`] makes a suffix `Range` absolute before
//! s3s-fs reads it (its own handling seeks before the object, or panics).

mod range;

use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve {dir}: {reason}")]
pub struct ServeError {
    pub dir: String,
    pub reason: String,
}

/// Serves the objects under `data_dir` on `listener`, signed in with `access`/`secret`,
/// until `stop` completes; then lets open requests finish (10 s at most).
pub async fn serve(
    listener: TcpListener,
    data_dir: &Path,
    (access, secret): (String, String),
    stop: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let error = |reason: String| ServeError {
        dir: data_dir.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(data_dir).map_err(|e| error(e.to_string()))?;
    let fs = s3s_fs::FileSystem::new(data_dir).map_err(|e| error(format!("{e:?}")))?;
    let service = {
        let mut builder = S3ServiceBuilder::new(range::RangeChecked(fs));
        builder.set_auth(SimpleAuth::from_single(access, secret));
        builder.build()
    };
    let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stop);
    // Out of file descriptors, accept fails at once each time: pause, never spin.
    let mut backoff = openfaas_runtime::AcceptBackoff::new();
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    backoff.succeeded();
                    // Without it, Nagle's algorithm and delayed ACKs add ~40 ms to a response.
                    let _ = socket.set_nodelay(true);
                    socket
                }
                Err(err) => {
                    backoff.failed(&err).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let connection =
            http.serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone());
        let watched = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            let _ = watched.await;
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}

/// A store served in this process on a loopback port, over a folder of its own: a
/// function's own tests use it as their real S3 server. Dropping it stops the server
/// and removes the folder.
pub struct InProcess {
    pub store: crate::Store,
    data_dir: PathBuf,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl InProcess {
    /// A client for a store that is down: this one's configuration, pointed at a
    /// loopback port nothing listens on.
    pub fn down(&self) -> crate::Store {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|listener| listener.local_addr())
            .map_or(1, |addr| addr.port()); // the listener is closed again here
        crate::Store::new(crate::StoreConfig {
            endpoint: format!("http://127.0.0.1:{port}"),
            ..self.store.config().clone()
        })
    }

    /// Starts the server over a new temporary folder and a client for it, both
    /// buckets created.
    pub async fn start() -> Result<InProcess, ServeError> {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let data_dir = std::env::temp_dir().join(format!(
            "greyfaas-store-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        let data_dir = data_dir.as_path();
        let error = |reason: String| ServeError {
            dir: data_dir.display().to_string(),
            reason,
        };
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| error(e.to_string()))?;
        let port = listener
            .local_addr()
            .map_err(|e| error(e.to_string()))?
            .port();
        let credentials = ("test-access".to_string(), "test-secret".to_string());
        let config = crate::StoreConfig {
            endpoint: format!("http://127.0.0.1:{port}"),
            region: "us-east-1".into(),
            incoming_bucket: "incoming".into(),
            processed_bucket: "processed".into(),
            access_key: credentials.0.clone(),
            secret_key: credentials.1.clone(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let dir = data_dir.to_path_buf();
        tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            if let Err(err) = serve(listener, &dir, credentials, stopped).await {
                tracing::error!(%err, "in-process store failed");
            }
        });
        let store = crate::Store::new(config);
        store
            .ensure_buckets()
            .await
            .map_err(|e| error(e.to_string()))?;
        Ok(InProcess {
            store,
            data_dir: data_dir.to_path_buf(),
            _stop: stop,
        })
    }
}

/// For the functions' tests: that an error answer's body (`{"error": …}`) is a short,
/// fixed message, with nothing of the SDK's report in it (its Debug output: type names,
/// braces). Returns the message, or what is wrong with the body.
pub fn check_plain_error(body: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(body);
    if body.len() > 200 {
        return Err(format!("{} bytes, over 200: {text}", body.len()));
    }
    let message = text
        .strip_prefix("{\"error\":\"")
        .and_then(|rest| rest.strip_suffix("\"}"))
        .ok_or_else(|| format!("not {{\"error\": message}}: {text}"))?;
    for leak in [
        "DispatchFailure",
        "ConnectorError",
        "{",
        "}",
        "Some(",
        "source:",
    ] {
        if message.contains(leak) {
            return Err(format!("{leak:?} in the message: {text}"));
        }
    }
    Ok(message.to_string())
}
