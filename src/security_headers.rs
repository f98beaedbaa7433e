//! The security headers of every answer, decided in one place.
//!
//! Each answer belongs to one [`Policy`]: the operator API's JSON, the portal's JSON API,
//! a page of this site (error pages included), a portal page, an image, an SDK asset, or a
//! bare JSON error. The policy travels with the response as an extension and one
//! middleware, [`apply`], the outermost layer of the app, turns it into headers. Being
//! outermost, it also covers the answers the outer layers make themselves (a refused
//! method, a caught panic, a timeout).
//!
//! Who names the policy:
//! - a router whose every answer is of one kind says so once with [`layer`] (the operator
//!   API, the portal API, the site's pages and static files); it overrides whatever the
//!   answer carried, so an error from those routes gets the router's headers;
//! - a handler whose answers differ by outcome marks each one ([`Policy::with`]): the
//!   portal pages, whose `frame-ancestors` depends on the verification's key (the one
//!   per-request variation), the QR images and the SDK assets;
//! - [`crate::error::ApiError`] and [`crate::web::error_page`] mark their answers, so that
//!   an error made anywhere (even outside any router) carries its headers.
//!
//! An answer nobody marks gets no security header (a redirect, an empty `404` for an
//! unknown QR token, `/metrics`, the health routes). Freshness (`Cache-Control: public,
//! max-age=…` of static assets) is left to the handlers; only `no-store` is a policy.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use tower::util::MapResponseLayer;

use crate::domain::settings::parse_origin;

/// Content-Security-Policy of every page: our own scripts and styles only, no framing.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

/// The kind of an answer, which decides its security headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// The operator API: personal data, never cached, never sniffed.
    OperatorApi,
    /// The portal's JSON API: as the operator API, and no referrer leaves the portal.
    PortalApi,
    /// A page of the site or an error page, and the site's static files: the page CSP,
    /// no referrer, never sniffed.
    SitePage,
    /// A portal page: the page CSP with `frame-ancestors` set to these origins (none: the
    /// page cannot be framed, also said with `X-Frame-Options` for older browsers), no
    /// referrer, never sniffed, never cached.
    PortalPage { frame_ancestors: Vec<String> },
    /// An image made per request (the QR codes): never cached, never sniffed.
    Image,
    /// The SDK's assets, loaded by operators' pages from other origins: never sniffed.
    SdkAsset,
    /// A JSON error outside any router's policy: never sniffed.
    JsonError,
}

impl Policy {
    /// Mark `res` as answered under this policy (replacing any earlier mark).
    pub fn with(self, mut res: Response) -> Response {
        res.extensions_mut().insert(self);
        res
    }

    /// Write this policy's headers, replacing any of the same name.
    pub fn write(&self, h: &mut HeaderMap) {
        let nosniff = || HeaderValue::from_static("nosniff");
        let no_store = || HeaderValue::from_static("no-store");
        let no_referrer = || HeaderValue::from_static("no-referrer");
        match self {
            Policy::OperatorApi => {
                h.insert(header::CACHE_CONTROL, no_store());
                h.insert(header::X_CONTENT_TYPE_OPTIONS, nosniff());
            }
            Policy::PortalApi => {
                h.insert(header::CACHE_CONTROL, no_store());
                h.insert(header::X_CONTENT_TYPE_OPTIONS, nosniff());
                h.insert(header::REFERRER_POLICY, no_referrer());
            }
            Policy::SitePage => {
                h.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(PAGE_CSP),
                );
                h.insert(header::REFERRER_POLICY, no_referrer());
                h.insert(header::X_CONTENT_TYPE_OPTIONS, nosniff());
            }
            Policy::PortalPage { frame_ancestors } => {
                let csp = page_csp(frame_ancestors);
                if let Ok(v) = HeaderValue::from_str(&csp) {
                    h.insert(header::CONTENT_SECURITY_POLICY, v);
                }
                if csp.ends_with("'none'") {
                    // For browsers that predate frame-ancestors; it cannot express an
                    // allow-list.
                    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
                }
                h.insert(header::REFERRER_POLICY, no_referrer());
                h.insert(header::X_CONTENT_TYPE_OPTIONS, nosniff());
                h.insert(header::CACHE_CONTROL, no_store());
            }
            Policy::Image => {
                h.insert(header::CACHE_CONTROL, no_store());
                h.insert(header::X_CONTENT_TYPE_OPTIONS, nosniff());
            }
            Policy::SdkAsset | Policy::JsonError => {
                h.insert(header::X_CONTENT_TYPE_OPTIONS, nosniff());
            }
        }
    }
}

/// A layer that marks every answer of a router with `policy`, whatever it carried before.
pub fn layer(policy: Policy) -> MapResponseLayer<impl Fn(Response) -> Response + Clone> {
    MapResponseLayer::new(move |res: Response| policy.clone().with(res))
}

/// The middleware that writes the headers of the policy an answer is marked with.
pub fn finish(mut res: Response) -> Response {
    if let Some(policy) = res.extensions_mut().remove::<Policy>() {
        policy.write(res.headers_mut());
    }
    res
}

/// The page Content-Security-Policy ([`PAGE_CSP`]) with `frame-ancestors` set to the given
/// origins, or `'none'` when there are none. Anything that is not a plain normalised origin
/// (`https://app.example`) is left out, so no input can add a directive.
pub fn page_csp(frame_ancestors: &[String]) -> String {
    let sources: Vec<&str> = frame_ancestors
        .iter()
        .map(String::as_str)
        .filter(|o| parse_origin(o).is_ok_and(|n| n == *o))
        .collect();
    let ancestors = if sources.is_empty() {
        "'none'".to_owned()
    } else {
        sources.join(" ")
    };
    PAGE_CSP
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.starts_with("frame-ancestors"))
        .map(str::to_owned)
        .chain(std::iter::once(format!("frame-ancestors {ancestors}")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_frames_only_listed_origins() {
        let none = page_csp(&[]);
        assert!(none.ends_with("frame-ancestors 'none'"), "{none}");
        assert!(none.contains("script-src 'self'"));
        assert_eq!(none.matches("frame-ancestors").count(), 1);
        let some = page_csp(&["https://app.example".into(), "http://localhost:3000".into()]);
        assert!(
            some.ends_with("frame-ancestors https://app.example http://localhost:3000"),
            "{some}"
        );
        // Nothing that could smuggle a directive or widen the list gets through.
        let bad = page_csp(&[
            "https://a.example; script-src *".into(),
            "*".into(),
            "https://b.example/path".into(),
        ]);
        assert!(bad.ends_with("frame-ancestors 'none'"), "{bad}");
    }

    #[test]
    fn a_framed_portal_page_has_no_x_frame_options() {
        let mut h = HeaderMap::new();
        Policy::PortalPage {
            frame_ancestors: vec!["https://app.example".into()],
        }
        .write(&mut h);
        assert!(h.get(header::X_FRAME_OPTIONS).is_none());
        let mut h = HeaderMap::new();
        Policy::PortalPage {
            frame_ancestors: Vec::new(),
        }
        .write(&mut h);
        assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    }
}
