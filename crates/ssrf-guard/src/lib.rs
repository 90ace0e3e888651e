//! The SSRF guard: which addresses an outbound call may connect to.
//!
//! fetch-incoming (and the gateway delivering async callbacks) runs inside a cluster, next to MinIO, the Kubernetes API and the
//! cloud's metadata service. By default it refuses every address that is not public
//! unicast. The check runs on the addresses actually used to connect — the download
//! client resolves host names only through [`GuardedResolver`] — so a name that
//! resolves (or re-resolves) to an internal address is refused, on every redirect hop.
//! IP literals never reach a resolver and are checked by [`Guard::check_url`]; the URL
//! parser has already normalised decimal, octal, hex and short forms (`2130706433`,
//! `0177.1`, `127.1`) to a plain address.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// The address policy.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// `allow_private_networks=true`: allow everything (local development only).
    pub allow_private: bool,
    /// `allow_cidrs`: comma-separated networks allowed even though internal.
    pub allow_cidrs: Vec<IpNet>,
}

/// A refused address, with the reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "refusing to fetch from {host} ({addr}): {reason} address; set allow_private_networks=true or allow_cidrs to permit it"
)]
pub struct Refused {
    pub host: String,
    pub addr: IpAddr,
    pub reason: &'static str,
}

impl Refused {
    /// The refusal among an error's causes: a guarded client reports it wrapped in
    /// its own error (the resolver's, or the redirect policy's).
    pub fn find_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
        causes(error).find_map(|e| e.downcast_ref::<Refused>())
    }
}

/// An error and each of its causes, outermost first.
pub fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// An error and its causes on one line, as a caller is told why a guarded call
/// failed: "error sending request: client error (Connect): connection refused".
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    causes(error)
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

impl Guard {
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Guard {
        let allow_private = lookup("allow_private_networks")
            .is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
        let allow_cidrs = lookup("allow_cidrs")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|s| {
                match s
                    .parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                {
                    Ok(net) => Some(net),
                    Err(_) => {
                        tracing::warn!(cidr = s, "ignoring an unreadable allow_cidrs entry");
                        None
                    }
                }
            })
            .collect();
        Guard {
            allow_private,
            allow_cidrs,
        }
    }

    /// Refuses `addr` unless it is public or explicitly allowed.
    pub fn check(&self, host: &str, addr: IpAddr) -> Result<(), Refused> {
        if self.allow_private || self.allow_cidrs.iter().any(|net| net.contains(&addr)) {
            return Ok(());
        }
        match internal_reason(addr) {
            Some(reason) => Err(Refused {
                host: host.to_string(),
                addr,
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Checks a URL whose host is an IP literal (host names are checked on resolution).
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        let addr = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        self.check(url.host_str().unwrap_or_default(), addr)
    }
}

/// Why `addr` is not a public unicast address, or `None` if it is.
pub fn internal_reason(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "\"this network\" (0.0.0.0/8)",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private (RFC 1918)",
        (100, 64..=127, _) => "carrier-grade NAT (100.64.0.0/10)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local (incl. cloud metadata 169.254.169.254)",
        (192, 0, 0) => "IETF protocol assignment (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation (TEST-NET)",
        (192, 88, 99) => "6to4 relay anycast",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    })
}

/// Checked against IANA's IPv6 Special-Purpose Address Registry (and the IPv6 Address
/// Space registry: only 2000::/3 is allocated for global unicast, so everything outside
/// it that is not named below is refused as reserved). Arms are tried in order: the
/// specific blocks before the ranges that hold them.
fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback (::1)");
    }
    // Forms that embed an IPv4 address are judged by that address.
    if let Some(v4) = embedded_v4(ip) {
        return v4_reason(v4);
    }
    Some(match s[0] {
        0x2001 if s[1] == 0x0db8 => "documentation (2001:db8::/32)",
        0x2001 if s[1] < 0x0200 => return ietf_assignment_reason(s),
        0x3fff if s[1] < 0x1000 => "documentation (3fff::/20)",
        0x2000..=0x3fff => return None,
        0x0064 if s[1] == 0xff9b && s[2] == 0x0001 => "local-use NAT64 (64:ff9b:1::/48)",
        // s[0] <= 0xff: the first 8 bits are zero (::/8), not just the first 16.
        0x0000..=0x00ff => "reserved (::/8)",
        0x0100 if s[1..4] == [0, 0, 0] => "discard-only (100::/64)",
        0x0100 if s[1..4] == [0, 0, 1] => "dummy prefix (100:0:0:1::/64)",
        0x5f00 => "SRv6 segment identifiers (5f00::/16)",
        0xfc00..=0xfdff => "unique local (fc00::/7)",
        0xfe80..=0xfebf => "link-local (fe80::/10)",
        0xfec0..=0xfeff => "site-local (fec0::/10)",
        0xff00..=0xffff => "multicast",
        _ => "reserved (outside 2000::/3, the global unicast space)",
    })
}

/// 2001::/23, the IETF protocol assignments: not globally reachable, except the blocks
/// the registry marks globally reachable (anycast services, AMT, AS112, ORCHIDv2, DETs).
fn ietf_assignment_reason(s: [u16; 8]) -> Option<&'static str> {
    let global = match s[1] {
        0x0001 => s[2..7] == [0, 0, 0, 0, 0] && (1..=3).contains(&s[7]), // 2001:1::1 to ::3
        0x0003 => true,                                                  // 2001:3::/32 AMT
        0x0004 => s[2] == 0x0112,                                        // 2001:4:112::/48 AS112-v6
        0x0020..=0x003f => true, // 2001:20::/28 ORCHIDv2, 2001:30::/28 DETs
        _ => false,
    };
    if global {
        return None;
    }
    Some(match s[1] {
        0x0000 => "Teredo tunnel (2001::/32)",
        0x0002 if s[2] == 0 => "benchmarking (2001:2::/48)",
        0x0010..=0x001f => "deprecated ORCHID (2001:10::/28)",
        _ => "IETF protocol assignment (2001::/23)",
    })
}

/// The IPv4 address inside IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`) addresses.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// The download client's only resolver: looks a name up and drops every address the
/// guard refuses, so the connection can only go to an allowed address.
pub struct GuardedResolver {
    pub guard: Guard,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match guard.check(&host, a.ip()) {
                    Ok(()) => true,
                    Err(r) => {
                        refused = Some(r);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some(refusal)) => {
                    Err(Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>)
                }
                _ => Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// The resolver, shareable with the client builder.
pub fn resolver(guard: &Guard) -> Arc<GuardedResolver> {
    Arc::new(GuardedResolver {
        guard: guard.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> bool {
        let parsed = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        Guard::default().check_url(&parsed).is_err()
    }

    /// Every form here must be refused before any connection is attempted.
    #[test]
    fn internal_addresses_are_refused_in_every_spelling() {
        let forms = [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
            "http://017700000001/",
            "http://0.0.0.0/",
            "http://0/",
            "http://10.0.0.1/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://198.18.0.1/",
            "http://[::1]/",
            "http://[::]/",
            "http://[0:0:0:0:0:0:0:1]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[fe80::1]/",
            "http://[ff02::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::10.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[64:ff9b:1::1]/",
            "http://[2002:7f00:1::]/",
            "http://[2002:a9fe:a9fe::1]/",
            "https://[::ffff:10.1.2.3]:8443/x.png",
        ];
        assert!(forms.len() >= 30);
        for url in forms {
            assert!(refused(url), "{url} must be refused");
        }
    }

    /// The blocks IANA's special-purpose registries mark not globally reachable, each
    /// at its edges, refused on the literal before any connection.
    #[test]
    fn every_special_purpose_block_is_refused() {
        let refused_blocks = [
            ("http://[80::1]/", "::/8"),
            ("http://[ff:ffff::1]/", "::/8"),
            ("http://[64:ff9b:1::1]/", "64:ff9b:1::/48"),
            ("http://[100::1]/", "100::/64"),
            ("http://[100:0:0:1::1]/", "100:0:0:1::/64"),
            ("http://[2001::1]/", "2001::/32"),
            ("http://[2001:2::1]/", "2001:2::/48"),
            ("http://[2001:2:0:ffff::1]/", "2001:2::/48"),
            ("http://[2001:10::1]/", "2001:10::/28"),
            ("http://[2001:1::4]/", "2001::/23"),
            ("http://[2001:1ff:ffff::1]/", "2001::/23"),
            ("http://[2001:db8::1]/", "2001:db8::/32"),
            ("http://[3fff::1]/", "3fff::/20"),
            ("http://[3fff:fff:ffff::1]/", "3fff::/20"),
            ("http://[5f00::1]/", "5f00::/16"),
            ("http://[4000::1]/", "outside 2000::/3"),
            ("http://[fec0::1]/", "fec0::/10"),
            ("http://192.0.0.8/", "192.0.0.0/24"),
            ("http://192.88.99.1/", "192.88.99.0/24"),
            ("http://198.19.255.255/", "198.18.0.0/15"),
            ("http://203.0.113.9/", "203.0.113.0/24"),
            ("http://240.0.0.1/", "240.0.0.0/4"),
        ];
        for (url, block) in refused_blocks {
            let parsed = Url::parse(url).unwrap();
            let err = Guard::default().check_url(&parsed);
            assert!(err.is_err(), "{url} ({block}) must be refused");
        }
        // Just outside the blocks, and the registry's globally reachable exceptions.
        for url in [
            "http://[3fff:1000::1]/",
            "http://[2001:200::1]/",
            "http://[2001:1::1]/",
            "http://[2001:3::1]/",
            "http://[2001:4:112::1]/",
            "http://[2001:20::1]/",
            "http://[2620:4f:8000::1]/",
            "http://[64:ff9b::808:808]/",
            "http://192.31.196.1/",
        ] {
            assert!(!refused(url), "{url} is globally reachable");
        }
    }

    #[test]
    fn public_addresses_and_names_pass_the_literal_check() {
        for url in [
            "http://93.184.215.14/",
            "http://[2606:4700::1111]/",
            "https://example.com/cat.jpg",
            "http://[::ffff:8.8.8.8]/",
            "http://[2002:0808:0808::]/",
        ] {
            assert!(!refused(url), "{url} is public");
        }
    }

    #[test]
    fn allow_lists_relax_the_guard() {
        let open = Guard {
            allow_private: true,
            ..Guard::default()
        };
        assert!(open.check("x", "127.0.0.1".parse().unwrap()).is_ok());
        let lookup = |k: &str| (k == "allow_cidrs").then(|| "10.1.0.0/16, 192.168.7.7".to_string());
        let some = Guard::from_lookup(&lookup);
        assert!(some.check("x", "10.1.2.3".parse().unwrap()).is_ok());
        assert!(some.check("x", "192.168.7.7".parse().unwrap()).is_ok());
        assert!(some.check("x", "10.2.0.1".parse().unwrap()).is_err());
        let refusal = some
            .check("metadata", "169.254.169.254".parse().unwrap())
            .unwrap_err();
        assert!(refusal.to_string().contains("link-local"), "{refusal}");
    }

    /// A host name that resolves to loopback is refused by the resolver itself —
    /// `localhost` resolves from /etc/hosts, so no packet leaves the machine.
    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused() {
        use reqwest::dns::Resolve;
        let resolver = GuardedResolver {
            guard: Guard::default(),
        };
        let err = match resolver.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e,
        };
        assert!(err.to_string().contains("loopback"), "{err}");
        let open = GuardedResolver {
            guard: Guard {
                allow_private: true,
                ..Guard::default()
            },
        };
        assert!(open.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
