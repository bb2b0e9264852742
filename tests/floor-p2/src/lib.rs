//! The floor the wasi:http 0.2 build of the gateway (`crates/gateway-p2`) is measured against
//! under Spin: what `tests/floor` does for the 0.3 build, in the 0.2 world and with the same
//! SDK as that build (spin-sdk 5.2). One outbound Redis GET, one forward of the request to the
//! origin, whose response streams back as it comes (status, headers but the hop-by-hop ones,
//! body). Spin instantiates a 0.2 component for every request, so its two variables are read
//! on every request, as the 0.2 gateway reads its own.

use futures::{SinkExt, StreamExt};
use spin_sdk::http::{
    Fields, IncomingRequest, IncomingResponse, Method, OutgoingRequest, OutgoingResponse, ResponseOutparam, Scheme,
};
use spin_sdk::{http_component, redis, variables};

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let response = match forward(&request).await {
        Ok(response) => response,
        Err(error) => return fail(out, &error),
    };
    let headers: Vec<(String, Vec<u8>)> = response
        .headers()
        .entries()
        .into_iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str()))
        .collect();
    let relayed = match Fields::from_list(&headers) {
        Ok(fields) => OutgoingResponse::new(fields),
        Err(error) => return fail(out, &format!("origin headers: {error:?}")),
    };
    if relayed.set_status_code(response.status()).is_err() {
        return fail(out, "invalid status from origin");
    }
    let mut sink = relayed.take_body();
    out.set(relayed);
    let mut body = response.take_body_stream();
    while let Some(chunk) = body.next().await {
        // A failure midway leaves the body unfinished: the client sees a cut response.
        let Ok(chunk) = chunk else { return };
        if sink.send(chunk).await.is_err() {
            return;
        }
    }
}

/// Headers of one connection, not of the message: Spin frames the relayed body itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

async fn forward(request: &IncomingRequest) -> Result<IncomingResponse, String> {
    let redis = variable("redis_address")?;
    let origin: http::Uri = variable("origin_url")?
        .parse()
        .map_err(|e| format!("origin_url: {e}"))?;
    let connection = redis::Connection::open(&redis).map_err(|e| format!("redis: {e}"))?;
    connection.get("floor:session").map_err(|e| format!("redis GET: {e}"))?;
    // No body attached: a GET without one goes out without `Transfer-Encoding: chunked`.
    let outgoing = OutgoingRequest::new(Fields::new());
    let scheme = if origin.scheme_str() == Some("https") {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let path = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let set = outgoing.set_method(&Method::Get).is_ok()
        && outgoing.set_scheme(Some(&scheme)).is_ok()
        && outgoing.set_authority(origin.authority().map(|a| a.as_str())).is_ok()
        && outgoing.set_path_with_query(Some(&path)).is_ok();
    if !set {
        return Err(format!("cannot address {origin}{path}"));
    }
    spin_sdk::http::send::<_, IncomingResponse>(outgoing)
        .await
        .map_err(|e| format!("origin: {e}"))
}

fn variable(name: &str) -> Result<String, String> {
    variables::get(name).map_err(|e| format!("variable {name}: {e}"))
}

fn fail(out: ResponseOutparam, error: &str) {
    eprintln!("floor-p2 error: {error}");
    let response = OutgoingResponse::new(Fields::new());
    let _ = response.set_status_code(500);
    out.set(response);
}
