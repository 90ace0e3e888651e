//! The HTTP client for the hops greyfaas makes to its own replicas on loopback: calls
//! (the proxy) and health probes (the supervisor) share one connection pool.

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openfaas_runtime::Body;
use std::sync::LazyLock;
use std::time::Duration;

pub static CLIENT: LazyLock<Client<HttpConnector, Body>> = LazyLock::new(|| {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
});
