//! The embedded store (s3s-fs behind `server::serve`) against hostile `Range` headers
//! sent straight to it, signed, with one attempt each: every one is answered (a range,
//! or 400/416), none kills the request or is a 5xx the SDK would retry.

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::SdkError;
use greyfaas_store::server::InProcess;
use greyfaas_store::{Area, StoreConfig};
use std::time::{Duration, Instant};

/// A client of our own: `Store` sends only ranges get-object has checked, and retries.
fn raw_client(config: &StoreConfig) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::Config::builder()
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&config.endpoint)
        .region(Region::new(config.region.clone()))
        .credentials_provider(Credentials::new(
            &config.access_key,
            &config.secret_key,
            None,
            None,
            "test",
        ))
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// What the store answered: the status and, for a 2xx, the body.
async fn get(client: &aws_sdk_s3::Client, key: &str, range: &str) -> (u16, Vec<u8>) {
    let sent = client
        .get_object()
        .bucket("incoming")
        .key(key)
        .range(range)
        .send()
        .await;
    match sent {
        Ok(out) => (206, out.body.collect().await.unwrap().to_vec()),
        Err(SdkError::ServiceError(e)) => (e.raw().status().as_u16(), Vec::new()),
        Err(other) => panic!("{range}: no answer from the store: {other:?}"),
    }
}

#[tokio::test]
async fn hostile_ranges_are_answered_never_a_panic_or_a_5xx() {
    let s3 = InProcess::start().await.unwrap();
    let bytes: Vec<u8> = (0..98u8).collect();
    let path = s3
        .store
        .put(
            Area::Incoming,
            bytes.clone().into(),
            "application/octet-stream",
        )
        .await
        .unwrap();
    let key = path.name.as_str();
    let client = raw_client(s3.store.config());

    let whole = (206, bytes.clone());
    let cases: &[(&str, (u16, Vec<u8>))] = &[
        ("bytes=-10", (206, bytes[88..].to_vec())),
        ("bytes=-98", whole.clone()),
        ("bytes=-1000", whole.clone()),
        ("bytes=-9223372036854775807", whole.clone()),
        ("bytes=-9223372036854775808", whole.clone()),
        ("bytes=-18446744073709551615", whole.clone()),
        ("bytes=-18446744073709551616", (400, vec![])),
        ("bytes=-0", (416, vec![])),
        ("bytes=2-9", (206, bytes[2..10].to_vec())),
        ("bytes=90-1000", (206, bytes[90..].to_vec())),
        ("bytes=98-", (416, vec![])),
        ("bytes=9223372036854775807-", (416, vec![])),
        ("bytes=9223372036854775808-", (400, vec![])),
        ("bytes=0-18446744073709551615", (400, vec![])),
        ("bytes=0-1,4-5", (400, vec![])),
        ("bytes=50-10", (400, vec![])),
        ("bytes=abc", (400, vec![])),
        ("bytes=", (400, vec![])),
        ("lines=1-2", (400, vec![])),
    ];
    for (range, expected) in cases {
        let started = Instant::now();
        let got = get(&client, key, range).await;
        assert_eq!(&got, expected, "Range: {range}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{range}: {:?}",
            started.elapsed()
        );
    }
}
