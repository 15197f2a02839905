//! `POST /websub`: subscription requests to the built-in hub (WebSub §5.1). This layer reads
//! the form, checks what needs the store or the network (the topic's feed exists, the callback's
//! host resolves to an address the hub may reach) and hands the rest to [`crate::hub`].

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::State;
use crate::hub::address;
use crate::hub::request::{self, Rejection};

/// Largest subscription request body accepted, in bytes.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// Longest the callback's host may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Answers a request at the hub's path; the built-in hub must be configured.
pub async fn answer(
    state: &State,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let Some(hub) = state
        .hub
        .as_ref()
        .filter(|_| state.cfg.websub.hub == crate::config::Hub::Builtin)
    else {
        return text(
            StatusCode::NOT_FOUND,
            "Not found: this site runs no WebSub hub.".to_string(),
        );
    };
    if req.method() != Method::POST {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed: this is a WebSub hub; subscribe with a form-encoded POST \
             (hub.mode, hub.topic, hub.callback)."
                .to_string(),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type: send the request as application/x-www-form-urlencoded."
                .to_string(),
        );
    }
    let limit = state.cfg.server.header_timeout;
    let body = match tokio::time::timeout(
        limit,
        Limited::new(req.into_body(), MAX_FORM_BYTES).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Payload too large: a subscription request is at most {MAX_FORM_BYTES} bytes."
                ),
            )
        }
        Ok(Err(_)) => {
            return text(
                StatusCode::BAD_REQUEST,
                "Bad request: the body could not be read.".to_string(),
            )
        }
        Err(_) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "Request timeout: the body did not arrive in time.".to_string(),
            )
        }
    };
    if let Err(rejection) = hub.take_token(peer.ip()) {
        return refuse(rejection);
    }
    match check(state, &body).await {
        Ok(intent) => match hub.admit(intent) {
            Ok(()) => text(
                StatusCode::ACCEPTED,
                "Accepted: the hub will now verify the request at the callback.".to_string(),
            ),
            Err(rejection) => refuse(rejection),
        },
        Err(rejection) => refuse(rejection),
    }
}

/// Reads the form, then checks that the topic's feed is served and where the callback's host
/// resolves.
async fn check(state: &State, body: &[u8]) -> Result<request::Intent, Rejection> {
    let intent = request::parse(&state.cfg, body)?;
    let served = matches!(state.cache.lookup(&intent.topic).await, Ok(Some(r)) if r.status == 200);
    if !served {
        return Err(Rejection::bad(format!(
            "hub.topic: \"{}\" is not a feed of this site (no such tag?)",
            intent.topic_url
        )));
    }
    let (host, port) = (intent.host.clone(), intent.port);
    let allow_private = state.cfg.websub.allow_private_callbacks;
    let resolved = tokio::time::timeout(
        RESOLVE_TIMEOUT,
        tokio::task::spawn_blocking(move || address::resolve_checked(&host, port, allow_private)),
    )
    .await;
    match resolved {
        Ok(Ok(Ok(_))) => Ok(intent),
        Ok(Ok(Err(refused @ address::Refused::Private(_)))) => Err(Rejection {
            status: 403,
            reason: format!(
                "hub.callback: the host {} {refused}; this hub does not send requests there",
                intent.host
            ),
        }),
        Ok(Ok(Err(refused))) => Err(Rejection::bad(format!(
            "hub.callback: the host {} {refused}",
            intent.host
        ))),
        Ok(Err(_)) | Err(_) => Err(Rejection::bad(format!(
            "hub.callback: the host {} did not resolve in time",
            intent.host
        ))),
    }
}

fn refuse(rejection: Rejection) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(rejection.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = text(status, rejection.reason);
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    }
    r
}

/// A plain-text line that is never cached.
fn text(status: StatusCode, mut message: String) -> Response<Full<Bytes>> {
    message.push('\n');
    super::plain(status, message, false)
}
