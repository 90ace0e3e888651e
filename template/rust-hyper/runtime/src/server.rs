//! The listeners: the function's port, the metrics port, and the graceful drain on SIGTERM.

use crate::contract::Contract;
use crate::{Config, Handler};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A function server, configured but not yet listening.
pub struct Server<H> {
    config: Config,
    handler: H,
}

/// A server that is listening; [`RunningServer::shutdown`] drains it.
pub struct RunningServer {
    /// Where the function is served.
    pub addr: SocketAddr,
    /// Where `/metrics` is served, unless turned off.
    pub metrics_addr: Option<SocketAddr>,
    draining: Box<dyn Fn() + Send + Sync>,
    healthcheck_interval: std::time::Duration,
    stop: watch::Sender<bool>,
    accept_loop: JoinHandle<()>,
}

impl<H: Handler> Server<H> {
    pub fn new(config: Config, handler: H) -> Server<H> {
        Server { config, handler }
    }

    /// Binds both ports and starts serving in the background.
    pub async fn start(self) -> std::io::Result<RunningServer> {
        let listener = TcpListener::bind((self.config.bind_address, self.config.port)).await?;
        let addr = listener.local_addr()?;
        let metrics_listener = match self.config.metrics_port {
            0 => None,
            port => Some(TcpListener::bind((self.config.bind_address, port)).await?),
        };
        let metrics_addr = metrics_listener
            .as_ref()
            .map(|l| l.local_addr())
            .transpose()?;
        let healthcheck_interval = self.config.healthcheck_interval;
        let contract = Arc::new(Contract::new(self.config, self.handler));
        let (stop, stopped) = watch::channel(false);

        if let Some(listener) = metrics_listener {
            tokio::spawn(serve_metrics(listener, contract.clone(), stopped.clone()));
        }
        let accept_loop = tokio::spawn(accept(listener, contract.clone(), stopped));
        tracing::info!(%addr, metrics = ?metrics_addr, "listening");
        let draining = Box::new(move || contract.draining.store(true, Ordering::SeqCst));
        Ok(RunningServer {
            addr,
            metrics_addr,
            draining,
            healthcheck_interval,
            stop,
            accept_loop,
        })
    }
}

impl RunningServer {
    /// Drains as of-watchdog does: report unhealthy, wait `healthcheck_interval` so load
    /// balancers notice, stop accepting, then let in-flight requests finish within the
    /// drain timeout (bounded to fit Kubernetes' 30 s grace period).
    pub async fn shutdown(self) {
        tracing::info!(
            wait_ms = self.healthcheck_interval.as_millis() as u64,
            "draining"
        );
        (self.draining)();
        tokio::time::sleep(self.healthcheck_interval).await;
        let _ = self.stop.send(true);
        let _ = self.accept_loop.await;
        tracing::info!("stopped");
    }
}

/// Resolves on SIGTERM (Kubernetes, the local runtime) or Ctrl-C.
pub async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! { _ = term.recv() => {}, _ = ctrl_c => {} },
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn accept<H: Handler>(
    listener: TcpListener,
    contract: Arc<Contract<H>>,
    mut stopped: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(contract.config.read_timeout)
        // hyper refuses buffers under 8 KiB; a head larger than the buffer gets 431.
        .max_buf_size(contract.config.max_header_bytes.max(8192));
    let mut backoff = crate::AcceptBackoff::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => {
                    backoff.succeeded();
                    conn
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    backoff.failed(&err).await;
                    continue;
                }
            },
            _ = stop_requested(&mut stopped) => break,
        };
        let _ = stream.set_nodelay(true);
        let contract = contract.clone();
        let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let contract = contract.clone();
            req.extensions_mut().insert(crate::RemoteAddr(peer));
            async move { Ok::<_, Infallible>(contract.serve(req).await) }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = watched.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let timeout = contract.config.drain_timeout();
    if tokio::time::timeout(timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_ms = timeout.as_millis() as u64,
            "drain timed out; closing remaining connections"
        );
    }
}

async fn serve_metrics<H: Handler>(
    listener: TcpListener,
    contract: Arc<Contract<H>>,
    mut stopped: watch::Receiver<bool>,
) {
    // A scraper is a client like any other: one that never finishes its request head
    // must not hold a connection (and a task) for ever.
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(contract.config.read_timeout);
    let mut backoff = crate::AcceptBackoff::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => {
                    backoff.succeeded();
                    s
                }
                Err(err) => {
                    backoff.failed(&err).await;
                    continue;
                }
            },
            _ = stop_requested(&mut stopped) => return,
        };
        let contract = contract.clone();
        let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let contract = contract.clone();
            async move {
                let response = if req.uri().path() == "/metrics" {
                    crate::body::with_type(
                        http::StatusCode::OK,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        contract.metrics.render(),
                    )
                } else {
                    crate::body::error(http::StatusCode::NOT_FOUND, "only /metrics is served here")
                };
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(http.serve_connection(TokioIo::new(stream), service));
    }
}

/// Resolves once shutdown has been requested (or the server was dropped).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}
