//! Webhook URLs may not reach into the network v2client runs in: https only, and no
//! loopback, private, link-local (cloud metadata), shared or otherwise special addresses —
//! checked when the URL is set and again, after DNS resolution, at every delivery, which
//! then connects to exactly the addresses checked. Redirects are never followed.
//! `V2CLIENT_WEBHOOK_ALLOW_PRIVATE=true` lifts all of this (and allows http), for tests and
//! closed networks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::Url;

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not an absolute URL")]
    NotAUrl,
    #[error("webhooks need https")]
    NotHttps,
    #[error("the URL carries credentials")]
    Credentials,
    #[error("{0} is not a public address")]
    Private(IpAddr),
    #[error("the host does not resolve: {0}")]
    Unresolvable(String),
}

/// Check the shape of a webhook URL (no DNS): used when it is set.
pub fn check_shape(raw: &str, allow_private: bool) -> Result<Url, Refused> {
    let url = Url::parse(raw).map_err(|_| Refused::NotAUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(Refused::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Credentials);
    }
    let host = url.host().ok_or(Refused::NotAUrl)?;
    if !allow_private {
        let literal = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => {
                Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = literal.filter(|ip| !is_public(*ip)) {
            return Err(Refused::Private(ip));
        }
    }
    Ok(url)
}

/// Resolve the URL's host and check every address; the delivery must connect to these.
pub async fn resolve(url: &Url, allow_private: bool) -> Result<Vec<SocketAddr>, Refused> {
    let host = url.host_str().ok_or(Refused::NotAUrl)?;
    let port = url.port_or_known_default().ok_or(Refused::NotAUrl)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Refused::Unresolvable(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(Refused::Unresolvable("no addresses".into()));
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(Refused::Private(bad.ip()));
    }
    Ok(addrs)
}

/// A globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link local
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || (seg[0] == 0x0064 && seg[1] == 0xff9b) // NAT64
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata included
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn shapes() {
        assert!(check_shape("https://hooks.example.com/x", false).is_ok());
        assert_eq!(
            check_shape("http://hooks.example.com/x", false),
            Err(Refused::NotHttps)
        );
        assert!(check_shape("http://127.0.0.1:9/x", true).is_ok());
        assert!(matches!(
            check_shape("https://127.0.0.1/x", false),
            Err(Refused::Private(_))
        ));
        assert!(matches!(
            check_shape("https://localhost/x", false),
            Err(Refused::Private(_))
        ));
        assert!(matches!(
            check_shape("https://[::1]/x", false),
            Err(Refused::Private(_))
        ));
        assert_eq!(
            check_shape("https://u:p@h.example/", false),
            Err(Refused::Credentials)
        );
        assert_eq!(check_shape("not a url", false), Err(Refused::NotAUrl));
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_after_resolution() {
        let url = Url::parse("https://localhost:8443/hook").unwrap();
        assert!(matches!(
            resolve(&url, false).await,
            Err(Refused::Private(_))
        ));
        assert!(resolve(&url, true).await.is_ok());
    }
}
