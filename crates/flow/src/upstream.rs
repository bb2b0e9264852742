//! The forwarding seam: where an admitted request goes, and how the answer reaches the
//! client. Bodies are the adapter's business (each wasi:http world streams them its own
//! way), so the flow sees only the request's head, the origin's headers, and opaque bodies.

use http::HeaderMap;
use session_gateway_core::config::Origin;
use session_gateway_core::forwarding::{ClientFacts, IdentityHeaders};
use session_gateway_core::hooks::HookHeaders;
use session_gateway_core::policy::Access;
use session_gateway_core::replies::Reply;
use std::time::Duration;

/// The headers the gateway owns: identity and hooks.
#[derive(Clone, Copy)]
pub struct Owned<'a> {
    pub identity: &'a IdentityHeaders,
    pub hooks: &'a HookHeaders,
}

/// An admitted request, as the flow hands it to the origin.
pub struct Forward<'a, B> {
    pub origin: &'a Origin,
    /// Connect and first-byte timeout.
    pub timeout: Duration,
    pub head: http::request::Parts,
    /// The client's body, untouched.
    pub body: B,
    pub owned: Owned<'a>,
    pub client: &'a ClientFacts,
    pub access: &'a Access,
}

#[allow(async_fn_in_trait)] // single-threaded components: no Send bound wanted
pub trait Upstream {
    /// The client's request body.
    type Body;
    /// The origin's response, its body not yet read.
    type Response;
    type Error: std::fmt::Display;
    /// What the component answers the client with.
    type Output;

    /// Sends the request to the origin, with the headers `forwarding::request_headers` makes.
    async fn forward(&self, request: Forward<'_, Self::Body>) -> Result<Self::Response, Self::Error>;
    /// Whether the origin failed by timing out (504) rather than by being unreachable (502).
    fn is_timeout(&self, error: &Self::Error) -> bool;
    /// The origin's response headers, where the hooks are read.
    fn headers<'r>(&self, response: &'r Self::Response) -> &'r HeaderMap;
    /// The origin's response for the client: `forwarding::response_headers`, the gateway's
    /// `Set-Cookie`s added (and kept out of shared caches when there are any), the body on.
    async fn relay(&self, response: Self::Response, hooks: &HookHeaders, set_cookies: Vec<String>) -> Self::Output;
    /// One of the gateway's own answers (401, 302 to the login, 502, 503, 504...).
    fn reply(&self, reply: Reply) -> Self::Output;
}
