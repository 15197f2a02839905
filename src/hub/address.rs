//! Which addresses the hub may send requests to on a stranger's behalf.
//!
//! A callback is refused when its host resolves to an address inside the machine or its
//! network (loopback, private, link-local, multicast, unspecified and the like), unless
//! `websub.allow_private_callbacks`. Every resolved address is checked, when the subscription is
//! requested and again on every connection (the resolver the outgoing requests use), so that a
//! name that later resolves elsewhere (DNS rebinding) is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// True when requests to `ip` must not be sent for a stranger.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    ip.is_unspecified()          // 0.0.0.0
        || a == 0                // "this network", 0.0.0.0/8
        || ip.is_loopback()      // 127.0.0.0/8
        || ip.is_private()       // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()    // 169.254/16
        || ip.is_multicast()     // 224/4
        || ip.is_broadcast()     // 255.255.255.255
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments, 192.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18/15
        || a >= 240 // reserved, 240/4
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    // An IPv4 address written as IPv6 reaches that IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_forbidden_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_unspecified()                       // ::
        || ip.is_loopback()                   // ::1
        || ip.is_multicast()                  // ff00::/8
        || (first & 0xfe00) == 0xfc00         // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80         // link-local, fe80::/10
        || (first & 0xffc0) == 0xfec0         // site-local (deprecated), fec0::/10
        || (first == 0x64 && ip.segments()[1] == 0xff9b) // NAT64, 64:ff9b::/96 and /48
        || (first == 0x2002)                  // 6to4, which embeds an IPv4 address
        || ip.segments()[..6] == [0; 6] // IPv4-compatible ::a.b.c.d (deprecated)
}

/// Why a callback's host is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// It resolves to an address the hub must not reach.
    Private(IpAddr),
    /// It does not resolve.
    Unresolvable(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Private(ip) => write!(
                f,
                "resolves to {ip}, a loopback, private, link-local, multicast or reserved address"
            ),
            Refused::Unresolvable(reason) => write!(f, "does not resolve ({reason})"),
        }
    }
}

/// Checks every address in `addresses`: the first forbidden one refuses them all.
pub fn check_all(addresses: &[SocketAddr], allow_private: bool) -> Result<(), Refused> {
    if allow_private {
        return Ok(());
    }
    match addresses.iter().find(|a| is_forbidden(a.ip())) {
        Some(bad) => Err(Refused::Private(bad.ip())),
        None => Ok(()),
    }
}

/// Resolves `host:port` (blocking) and checks every address it gives.
pub fn resolve_checked(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Refused> {
    // An IPv6 literal comes bracketed from a URL.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| Refused::Unresolvable(e.to_string()))?
        .collect();
    if addresses.is_empty() {
        return Err(Refused::Unresolvable("no address".to_string()));
    }
    check_all(&addresses, allow_private)?;
    Ok(addresses)
}

/// The resolver of every outgoing hub request: the system's, then [`check_all`] on what it
/// returned, so the connection can only go to an address that was checked.
#[derive(Debug)]
pub struct GuardedResolver {
    /// `websub.allow_private_callbacks`.
    pub allow_private: bool,
    inner: ureq::unversioned::resolver::DefaultResolver,
}

impl GuardedResolver {
    /// A resolver that refuses forbidden addresses unless `allow_private`.
    pub fn new(allow_private: bool) -> GuardedResolver {
        GuardedResolver {
            allow_private,
            inner: ureq::unversioned::resolver::DefaultResolver::default(),
        }
    }
}

impl ureq::unversioned::resolver::Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        // An address written in the URL needs no lookup (the system's spawns a thread for each).
        let literal = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<IpAddr>().ok());
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let addresses = match (literal, port) {
            (Some(ip), Some(port)) => {
                let mut one = self.empty();
                one.push(SocketAddr::new(ip, port));
                one
            }
            _ => self.inner.resolve(uri, config, timeout)?,
        };
        check_all(&addresses, self.allow_private).map_err(|refused| {
            ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{}: {refused}", uri.host().unwrap_or("")),
            ))
        })?;
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect(text)
    }

    #[test]
    fn internal_addresses_are_forbidden() {
        for text in [
            "127.0.0.1",
            "127.3.4.5",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
        ] {
            assert!(is_forbidden(ip(text)), "{text} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for text in [
            "93.184.215.14",
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "11.0.0.1",
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
            "2001:4860:4860::8888",
            "::ffff:93.184.215.14",
        ] {
            assert!(!is_forbidden(ip(text)), "{text} must be allowed");
        }
    }

    #[test]
    fn one_forbidden_address_refuses_the_host() {
        let public: SocketAddr = "93.184.215.14:443".parse().unwrap();
        let private: SocketAddr = "10.0.0.5:443".parse().unwrap();
        assert_eq!(check_all(&[public], false), Ok(()));
        assert_eq!(
            check_all(&[public, private], false),
            Err(Refused::Private(private.ip()))
        );
        assert_eq!(check_all(&[public, private], true), Ok(()));
    }

    #[test]
    fn loopback_names_are_refused_unless_allowed() {
        // Literals resolve without DNS.
        assert!(matches!(
            resolve_checked("127.0.0.1", 80, false),
            Err(Refused::Private(_))
        ));
        assert!(matches!(
            resolve_checked("[::1]", 80, false),
            Err(Refused::Private(_))
        ));
        assert!(resolve_checked("127.0.0.1", 80, true).is_ok());
    }
}
