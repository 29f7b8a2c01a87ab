//! Who may use the server. A server on loopback is reachable by every web page the user opens:
//! a page elsewhere may not drive it (Origin), a page under a name that only resolves here
//! (DNS rebinding) may not read it (Host), and with `--token` every API call carries the token.

use std::net::{IpAddr, SocketAddr};

use axum::http::{header, HeaderMap, Method, StatusCode};

use super::Failure;

/// The names and origins the server answers besides its own address.
pub struct Access {
    listen: SocketAddr,
    /// Host names (lower case, no port) allowed besides the listening address and loopback.
    hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`, lower case) allowed besides the server's own.
    origins: Vec<String>,
    token: Option<String>,
}

impl Access {
    /// `hosts` and `origins` as given to `--allow-host` and `--allow-origin`; `*` allows any.
    pub fn new(listen: SocketAddr, hosts: &[String], origins: &[String], token: Option<String>) -> Self {
        Self {
            listen,
            hosts: hosts.iter().map(|h| host_name(&h.to_ascii_lowercase()).to_string()).collect(),
            origins: origins.iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect(),
            token,
        }
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The Host and Origin rules every request passes, the page's included.
    pub(crate) fn check_request(&self, method: &Method, headers: &HeaderMap) -> Result<(), Failure> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if let Some(host) = host.filter(|h| !self.host_allowed(h)) {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this server does not answer to the name '{host}' (a page that renamed it could read it): \
                     start it with --allow-host {} to serve it under that name",
                    host_name(host)
                ),
            ));
        }
        // Reading is harmless cross-site (the browser keeps the answer from the other page);
        // acting, or opening a WebSocket (which browsers do not guard), is not.
        let acts =
            !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || headers.contains_key(header::UPGRADE);
        let origin = headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or("(not text)"));
        match origin {
            Some(origin) if acts && !self.origin_allowed(origin, host) => Err(Failure::new(
                StatusCode::FORBIDDEN,
                format!(
                    "requests from pages at {origin} are refused: only this server's own page may use it \
                     (start it with --allow-origin {origin} to allow that site)"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The listening address, loopback names and addresses, and the names given to
    /// `--allow-host`. An address is no rebinding risk: with the server listening on every
    /// address (`0.0.0.0`), any of the machine's addresses may be used.
    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        let name = name.trim_end_matches('.');
        if self.hosts.iter().any(|h| h == "*" || h == name) || name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        match name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == self.listen.ip() || self.listen.ip().is_unspecified(),
            Err(_) => false,
        }
    }

    /// The server's own origin (the scheme's host and port are the request's Host: also true
    /// behind a proxy that passes Host on) or one given to `--allow-origin`.
    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.origins.iter().any(|o| o == "*" || *o == origin) {
            return true;
        }
        let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
        matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
    }

    /// With `--token`, the request must carry it: `Authorization: Bearer T` (any case of the
    /// scheme) or `?token=T`.
    pub(crate) fn check_token(&self, headers: &HeaderMap, query_token: Option<&str>) -> Result<(), Failure> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let bearer = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(|value| {
            let (scheme, credentials) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim())
        });
        let matches = |given: Option<&str>| given.is_some_and(|g| same_secret(g, token));
        if matches(bearer) || matches(query_token) {
            return Ok(());
        }
        Err(Failure::new(StatusCode::UNAUTHORIZED, "a token is required: Authorization: Bearer TOKEN or ?token=TOKEN"))
    }
}

/// Compares in a time that does not depend on where the two differ, so the token cannot be
/// guessed a byte at a time from response times.
fn same_secret(given: &str, token: &str) -> bool {
    constant_time_eq::constant_time_eq(given.as_bytes(), token.as_bytes())
}

/// `name`, `name:port`, `[v6]` or `[v6]:port` without the port.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap())).collect()
    }

    fn loopback() -> Access {
        Access::new("127.0.0.1:8080".parse().unwrap(), &[], &[], None)
    }

    #[test]
    fn hosts_are_the_listening_address_loopback_or_allowed_names() {
        let access = loopback();
        for host in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080", "127.0.0.2", "app.localhost:1"] {
            assert!(access.host_allowed(host), "{host}");
        }
        for host in ["rebind.attacker.example", "rebind.attacker.example:8080", "192.168.1.5:8080", "localhost.evil"] {
            assert!(!access.host_allowed(host), "{host}");
        }
        let proxied = Access::new("127.0.0.1:8080".parse().unwrap(), &["Translate.Example.org:443".into()], &[], None);
        assert!(proxied.host_allowed("translate.example.org"));
        assert!(!proxied.host_allowed("example.org"));
        let everywhere = Access::new("0.0.0.0:8080".parse().unwrap(), &[], &[], Some("t".into()));
        assert!(everywhere.host_allowed("192.168.1.5:8080") && !everywhere.host_allowed("evil.example"));
    }

    #[test]
    fn acting_from_another_origin_is_refused() {
        let access = loopback();
        let host = (header::HOST, "127.0.0.1:8080");
        let from = |origin: &str| headers(&[host.clone(), (header::ORIGIN, origin)]);
        assert!(access.check_request(&Method::POST, &from("http://127.0.0.1:8080")).is_ok());
        assert!(access.check_request(&Method::POST, &headers(std::slice::from_ref(&host))).is_ok(), "not a browser");
        for origin in ["http://evil.example", "null", "http://127.0.0.1:3000", "http://127.0.0.1:8080.evil.example"] {
            let refused = access.check_request(&Method::POST, &from(origin)).unwrap_err();
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{origin}");
        }
        // Reading is left to the browser's own rule; opening a WebSocket is not.
        assert!(access.check_request(&Method::GET, &from("http://evil.example")).is_ok());
        let upgrade = headers(&[host.clone(), (header::ORIGIN, "http://evil.example"), (header::UPGRADE, "websocket")]);
        assert!(access.check_request(&Method::GET, &upgrade).is_err());
        let allowed = Access::new("127.0.0.1:8080".parse().unwrap(), &[], &["https://App.example/".into()], None);
        assert!(allowed.check_request(&Method::POST, &from("https://app.example")).is_ok());
        let rebound = headers(&[(header::HOST, "rebind.attacker.example:8080")]);
        assert_eq!(access.check_request(&Method::GET, &rebound).unwrap_err().status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn the_token_is_a_bearer_in_any_case_or_a_query() {
        let access = Access::new("127.0.0.1:8080".parse().unwrap(), &[], &[], Some("s3cret".into()));
        for value in ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret "] {
            assert!(access.check_token(&headers(&[(header::AUTHORIZATION, value)]), None).is_ok(), "{value}");
        }
        for value in ["Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret"] {
            assert!(access.check_token(&headers(&[(header::AUTHORIZATION, value)]), None).is_err(), "{value}");
        }
        assert!(access.check_token(&HeaderMap::new(), Some("s3cret")).is_ok());
        assert!(access.check_token(&HeaderMap::new(), Some("")).is_err());
        assert!(loopback().check_token(&HeaderMap::new(), None).is_ok());
    }
}
