//! The guard against private networks: by default earshot talks to public addresses only, so
//! a feed, a `base_url`, a sink or a redirect cannot point it at the cloud's metadata service
//! (`169.254.169.254`, also written `2852039166`), loopback or a private range, and a reply from
//! such a place can never reach `status` as a small oracle.
//!
//! Names are checked after DNS resolution, on every connection (every hop of a redirect
//! included), by [`PublicOnly`], the HTTP clients' resolver. Addresses written in the URL itself
//! never reach a resolver: [`check_url`] refuses them before a request, and the redirect
//! policies before a hop. `daemon.allow_private_networks = true`, or `allow_private = true` on
//! one source or sink, turns the guard off for a deliberate local target.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// True for an address on the public internet: not loopback, private (RFC 1918), shared
/// (CGNAT), link-local (the metadata service), unspecified, broadcast, multicast, reserved or
/// documentation ranges, nor an IPv6 unique-local or link-local one; IPv4-mapped IPv6
/// addresses are judged as the IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    let first = seg[0];
    let v4_at = |hi: usize| Ipv4Addr::from(((seg[hi] as u32) << 16) | seg[hi + 1] as u32);
    // IPv4-compatible (::a.b.c.d), and `::ffff:0:a.b.c.d`: judged as the IPv4 they carry.
    if seg[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified()
        || seg[..6] == [0, 0, 0, 0, 0xffff, 0]
    {
        return is_public_v4(v4_at(6));
    }
    // 6to4 (2002:a.b.c.d::/48) carries its IPv4 in the second and third groups.
    if first == 0x2002 {
        return is_public_v4(v4_at(1));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || seg[..3] == [0x64, 0xff9b, 1]
        || first == 0x2001 && ip.segments()[1] == 0xdb8
        || ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            && !is_public_v4(Ipv4Addr::from(
                ((ip.segments()[6] as u32) << 16) | ip.segments()[7] as u32,
            )))
}

/// What to write to reach a non-public address on purpose.
pub const HOW_TO_ALLOW: &str = "earshot only talks to public addresses; for a deliberate local \
     target set allow_private = true on this source or sink (or daemon.allow_private_networks = true)";

/// `Err` with a message when `url` names a non-public address literally (`http://10.0.0.5/`,
/// `http://[::1]/`, `http://2852039166/`). Names are left to the resolver.
pub fn check_url(url: &Url) -> Result<(), String> {
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if is_public(ip) {
        Ok(())
    } else {
        Err(format!("{ip} is not a public address: {HOW_TO_ALLOW}"))
    }
}

/// A name that resolves to non-public addresses only: a configuration matter, never retried.
#[derive(Debug)]
pub struct NotPublic(pub String);

impl std::fmt::Display for NotPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotPublic {}

/// The HTTP clients' resolver: the system's, keeping public addresses only. A name that
/// resolves only to others is an error that names them.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> =
                all.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() && !all.is_empty() {
                let ips: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
                return Err(Box::new(NotPublic(format!(
                    "{host} resolves to {}, not a public address: {HOW_TO_ALLOW}",
                    ips.join(", ")
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_ranges_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::169.254.169.254",
            "::127.0.0.1",
            "::ffff:0:10.0.0.1",
            "64:ff9b:1::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "fec0::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literal_addresses_in_urls_are_checked_however_they_are_written() {
        for u in [
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/latest/meta-data/",
            "http://0xA9FEA9FE/",
            "http://127.1/",
            "http://[::1]:8080/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            let e = check_url(&Url::parse(u).unwrap()).unwrap_err();
            assert!(e.contains("not a public address"), "{u}: {e}");
        }
        for u in [
            "https://example.com/feed",
            "http://93.184.216.34/",
            "file:///tmp/f.xml",
        ] {
            assert!(check_url(&Url::parse(u).unwrap()).is_ok(), "{u}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let e = match PublicOnly.resolve(name).await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("localhost resolved"),
        };
        assert!(
            e.contains("localhost resolves to") && e.contains("127.0.0.1"),
            "{e}"
        );
    }
}
