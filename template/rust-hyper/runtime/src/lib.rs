//! The OpenFaaS function contract, implemented on a hyper server.
//!
//! A function built from the `rust-hyper` template is one async handler:
//!
//! ```no_run
//! use openfaas_runtime::{Request, Response, body};
//!
//! pub async fn handle(_req: Request) -> Response {
//!     body::text(http::StatusCode::OK, "hello\n")
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     openfaas_runtime::serve(handle)
//! }
//! ```
//!
//! The runtime does what the OpenFaaS watchdog does, in-process: it listens on
//! `port` (8080), answers `/_/health` and `/_/ready` itself, enforces
//! `read_timeout`, `write_timeout`, `exec_timeout` and `max_inflight`, drains on
//! SIGTERM, carries `X-Call-Id` into logs and responses, and serves Prometheus
//! metrics on `metrics_port` (8081). See [`Config`] for every setting.

mod accept;
pub mod body;
mod config;
mod contract;
mod error;
mod logging;
mod metrics;
mod server;
pub mod settings;
mod timeout;
mod unread;

pub use accept::AcceptBackoff;
pub use body::{Body, BodyError};
pub use config::{Config, ConfigError, NAMES as CONFIG_NAMES, parse_duration};
pub use error::HttpError;
pub use logging::init_logging;
pub use server::{RunningServer, Server, wait_for_signal};
pub use settings::{FunctionSettings, SettingReader, number_setting};

/// What a handler receives: any method, any path, the body streamed.
pub type Request = http::Request<Body>;
/// What a handler returns; build it with the helpers in [`body`].
pub type Response = http::Response<Body>;

/// The header that identifies one call through the gateway and every function it reaches.
pub const CALL_ID: &str = "x-call-id";

/// The address a request came from, in the request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub std::net::SocketAddr);

/// A function's handler: one async function from request to response.
pub trait Handler: Send + Sync + 'static {
    fn call(&self, req: Request) -> impl std::future::Future<Output = Response> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response> + Send,
{
    fn call(&self, req: Request) -> impl std::future::Future<Output = Response> + Send {
        self(req)
    }
}

/// A handler as a value holding what it needs (settings, clients, a store): built once
/// per process in a `static` that the function's `handle` serves with, or by a test
/// with settings and a store of its own. A failure becomes its status and JSON error
/// body in one place, [`Function::respond`].
pub trait Function: Send + Sync {
    /// Why a request failed.
    type Error: HttpError;

    /// Answers one request, or says why it cannot.
    fn serve(
        &self,
        req: Request,
    ) -> impl std::future::Future<Output = Result<Response, Self::Error>> + Send;

    /// [`serve`](Function::serve)'s answer, or its failure's status and JSON body.
    fn respond(&self, req: Request) -> impl std::future::Future<Output = Response> + Send {
        async move {
            self.serve(req)
                .await
                .unwrap_or_else(HttpError::into_response)
        }
    }
}

/// Runs `handler` under the OpenFaaS contract until SIGTERM or Ctrl-C, then drains.
///
/// This is the whole `main` of a function. Configuration comes from the
/// environment ([`Config::from_env`]); a bad setting is reported and exits 2.
pub fn serve(handler: impl Handler) -> std::process::ExitCode {
    serve_boxed(BoxedHandler::new(handler))
}

/// A handler behind a pointer, its futures boxed. [`serve`] runs the server with it,
/// so the server (hyper's connection code, the contract, the listeners) is compiled
/// once, in this crate, instead of again for each function binary's handler type:
/// several seconds of a first `greyfaas up`, for one allocation a request.
struct BoxedHandler(Box<dyn Fn(Request) -> BoxedResponse + Send + Sync>);

type BoxedResponse = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

impl BoxedHandler {
    fn new(handler: impl Handler) -> BoxedHandler {
        let handler = std::sync::Arc::new(handler);
        BoxedHandler(Box::new(move |req| {
            let handler = handler.clone();
            Box::pin(async move { handler.call(req).await })
        }))
    }
}

impl Handler for BoxedHandler {
    fn call(&self, req: Request) -> impl std::future::Future<Output = Response> + Send {
        (self.0)(req)
    }
}

/// [`serve`], not generic.
fn serve_boxed(handler: BoxedHandler) -> std::process::ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(config.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let running = match Server::new(config, handler).start().await {
            Ok(running) => running,
            Err(err) => {
                tracing::error!(error = %err, "cannot listen");
                return std::process::ExitCode::FAILURE;
            }
        };
        server::wait_for_signal().await;
        running.shutdown().await;
        std::process::ExitCode::SUCCESS
    })
}
