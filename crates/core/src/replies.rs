//! The responses the gateway writes itself. Each carries Content-Length: under Spin a small
//! chunked response written after an async host call stalls ~40 ms on keep-alive connections.

use http::StatusCode;

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: StatusCode, error: &str, message: &str) -> Self {
        let body = serde_json::json!({ "error": error, "message": message })
            .to_string()
            .into_bytes();
        Self {
            status,
            headers: vec![
                ("content-type", "application/json".into()),
                ("content-length", body.len().to_string()),
                ("cache-control", "no-store".into()),
            ],
            body,
        }
    }

    pub fn unauthorized() -> Self {
        Self::json(StatusCode::UNAUTHORIZED, "unauthorized", "a valid session is required")
    }

    pub fn login_redirect(location: String) -> Self {
        Self {
            status: StatusCode::FOUND,
            headers: vec![
                ("location", location),
                ("content-length", "0".into()),
                ("cache-control", "no-store".into()),
            ],
            body: Vec::new(),
        }
    }

    pub fn unavailable() -> Self {
        let mut reply = Self::json(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the session store is unavailable",
        );
        reply.headers.push(("retry-after", RETRY_AFTER_SECS.to_string()));
        reply
    }

    pub fn bad_gateway() -> Self {
        Self::json(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the origin could not be reached",
        )
    }

    pub fn gateway_timeout() -> Self {
        Self::json(
            StatusCode::GATEWAY_TIMEOUT,
            "gateway_timeout",
            "the origin did not answer in time",
        )
    }

    /// Deliberately generic: the log line says which variable is wrong, the client learns nothing.
    pub fn misconfigured() -> Self {
        Self::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the gateway is misconfigured",
        )
    }
}
