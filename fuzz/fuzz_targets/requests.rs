//! Request parsing: JSON bodies under the depth limit, durations from the environment,
//! and URLs through the SSRF guard. Nothing may panic, and a URL whose host is a
//! loopback or private literal must always be refused.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = greyfaas_api::request::parse_json::<serde_json::Value>(data, 8);
    if parsed.is_ok() {
        assert!(greyfaas_api::request::json_depth(data) <= 8);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = openfaas_runtime::parse_duration(text);
    if let Ok(url) = url::Url::parse(text) {
        let guard = greyfaas_ssrf_guard::Guard::default();
        let verdict = guard.check_url(&url);
        if let Some(url::Host::Ipv4(ip)) = url.host()
            && (ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified())
        {
            assert!(verdict.is_err(), "{url} must be refused");
        }
        if let Some(url::Host::Ipv6(ip)) = url.host()
            && (ip.is_loopback() || ip.is_unspecified() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_private()))
        {
            assert!(verdict.is_err(), "{url} must be refused");
        }
    }
});
