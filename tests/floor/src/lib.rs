//! The floor the gateway is measured against under Spin: the least a component of this
//! design does for an authenticated request, one outbound Redis GET and one forward of the
//! request to the origin, whose response goes back as it is. Its two variables are read
//! once per instance, as the gateway reads its own.

use spin_sdk::http::{EmptyBody, IntoResponse, Request};
use spin_sdk::redis::Connection;
use spin_sdk::variables;
use spin_sdk::wasip3::http::types::{ErrorCode, Response};
use std::cell::RefCell;

thread_local! {
    static SETTINGS: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

#[spin_sdk::http_service]
async fn handle(request: Request) -> Result<Response, ErrorCode> {
    let (redis, origin) = settings().await?;
    let connection = Connection::open(&redis).await.map_err(internal)?;
    connection.get("floor:session").await.map_err(internal)?;
    let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let forward = http::Request::get(format!("{origin}{path}"))
        .body(EmptyBody::new())
        .map_err(internal)?;
    spin_sdk::http::send(forward).await?.into_response()
}

async fn settings() -> Result<(String, String), ErrorCode> {
    if let Some(found) = SETTINGS.with_borrow(Clone::clone) {
        return Ok(found);
    }
    let redis = variables::get("redis_address").await.map_err(internal)?;
    let origin = variables::get("origin_url").await.map_err(internal)?;
    SETTINGS.with_borrow_mut(|slot| *slot = Some((redis.clone(), origin.clone())));
    Ok((redis, origin))
}

fn internal(error: impl std::fmt::Display) -> ErrorCode {
    ErrorCode::InternalError(Some(error.to_string()))
}
