//! Webhook URLs may not reach into the network v2client runs in: https only, and no
//! loopback, private, link-local (cloud metadata), shared or otherwise special addresses —
//! checked when the URL is set and again, after DNS resolution, at every delivery, which
//! then connects to exactly the addresses checked. Redirects are never followed, and a
//! name that does not resolve within [`DNS_TIMEOUT`] is refused.
//! `V2CLIENT_WEBHOOK_ALLOW_PRIVATE=true` lifts all of this (and allows http), for tests and
//! closed networks.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::Url;

/// How long a webhook host may take to resolve. The system resolver has its own, much
/// longer, retries; without a bound one unresponsive name server would hold a delivery
/// slot (and its lease) for as long as it likes.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);

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
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    // On timeout the lookup's blocking thread finishes on its own; only its answer is lost.
    let lookup = async move {
        tokio::net::lookup_host((host.as_str(), port))
            .await
            .map(Iterator::collect)
    };
    check_resolved(lookup, DNS_TIMEOUT, allow_private).await
}

/// Wait at most `timeout` for `lookup`, then check every address it gave.
async fn check_resolved(
    lookup: impl Future<Output = io::Result<Vec<SocketAddr>>>,
    timeout: Duration,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Refused> {
    let addrs = tokio::time::timeout(timeout, lookup)
        .await
        .map_err(|_| Refused::Unresolvable(format!("no answer within {timeout:?}")))?
        .map_err(|e| Refused::Unresolvable(e.to_string()))?;
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
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// IPv4-mapped addresses (`::ffff:a.b.c.d`) are only another spelling of an IPv4 address,
/// which the socket layer connects to directly: they are judged as that address.
///
/// Otherwise only global unicast `2000::/3` can be public: every other block is either
/// special or unallocated. That alone refuses IPv4-compatible `::/96` (with `::` and `::1`),
/// the IPv4-translated `::ffff:0:0:0/96`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`,
/// discard-only `100::/64`, unique-local `fc00::/7`, site-local `fec0::/10`, link-local
/// `fe80::/10` and multicast.
///
/// Inside `2000::/3`, 6to4 `2002::/16` and Teredo `2001::/32` also carry an IPv4 address;
/// they are refused outright rather than decoded. Where packets to them end up depends on
/// relays on the path (a 6to4 relay inside the operator's network reaches its private IPv4
/// space; Teredo's client address is obfuscated and NAT-dependent), which a check of the
/// embedded address cannot see, and no real webhook receiver needs them.
fn is_public_v6(v6: Ipv6Addr) -> bool {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let seg = v6.segments();
    if seg[0] & 0xe000 != 0x2000 {
        return false;
    }
    !(seg[0] == 0x2002 // 6to4
        || (seg[0] == 0x2001 && seg[1] == 0x0000) // Teredo
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation 2001:db8::/32
        || (seg[0] == 0x2001 && seg[1] == 0x0002 && seg[2] == 0) // benchmarking 2001:2::/48
        || (seg[0] == 0x2001 && (seg[1] & 0xfff0) == 0x0010)) // ORCHID 2001:10::/28
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

    fn refused(ips: &[&str]) {
        for ip in ips {
            assert!(!is_public(ip.parse().unwrap()), "{ip} passed the guard");
        }
    }

    #[test]
    fn ipv4_compatible_addresses_are_refused_whatever_they_embed() {
        // ::/96: the deprecated IPv4-compatible form, public embedded address or not.
        refused(&[
            "::",
            "::1",
            "::7f00:1",
            "::a00:1",
            "::a9fe:a9fe",
            "::808:808",
        ]);
    }

    #[test]
    fn six_to_four_is_refused_whatever_it_embeds() {
        // 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
        refused(&[
            "2002:7f00:1::1",   // 127.0.0.1
            "2002:a00:1::",     // 10.0.0.1
            "2002:a9fe:a9fe::", // 169.254.169.254
            "2002:c0a8:101::1", // 192.168.1.1
            "2002:808:808::1",  // 8.8.8.8: relays are still on the path
        ]);
    }

    #[test]
    fn teredo_is_refused_whatever_it_embeds() {
        // 2001:0::/32: server address in bits 32–63, client address XOR 0xffffffff last.
        refused(&[
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:0:7f00:1:0:0:80ff:fffe", // client 127.0.0.1
            "2001:0:808:808::f5ff:fffe",   // client 10.0.0.1
        ]);
        // Its neighbours in 2001::/16 are ordinary global unicast.
        for ip in ["2001:4860:4860::8888", "2001:1::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn site_local_is_refused() {
        refused(&["fec0::1", "fec0:0:0:ffff::1", "feff:ffff::1", "fed0::1"]);
    }

    #[test]
    fn other_special_ipv6_ranges_are_refused() {
        refused(&[
            "::ffff:0:7f00:1", // IPv4-translated 127.0.0.1
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",   // NAT64 to 10.0.0.1
            "64:ff9b:1::a00:1", // local-use NAT64
            "100::1",           // discard-only
            "2001:2::1",        // benchmarking
            "2001:10::1",       // ORCHID
            "2001:db8::1",      // documentation
            "ff02::1",          // multicast
            "4000::1",          // not allocated
        ]);
    }

    #[tokio::test]
    async fn a_resolver_that_never_answers_is_given_up_on() {
        let lookup = std::future::pending::<io::Result<Vec<SocketAddr>>>();
        let short = Duration::from_millis(20);
        let err = check_resolved(lookup, short, false).await.unwrap_err();
        assert!(
            matches!(&err, Refused::Unresolvable(m) if m.contains("no answer")),
            "{err:?}"
        );
        let answered = async { Ok(vec!["93.184.216.34:443".parse().unwrap()]) };
        assert_eq!(
            check_resolved(answered, DNS_TIMEOUT, false)
                .await
                .unwrap()
                .len(),
            1
        );
        let private = async { Ok(vec!["[2002:a00:1::1]:443".parse().unwrap()]) };
        assert!(matches!(
            check_resolved(private, DNS_TIMEOUT, false).await,
            Err(Refused::Private(_))
        ));
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
