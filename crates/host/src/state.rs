//! What one component instance (one request) holds on the host side.

use crate::outbound_http::OutboundHttp;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p3::{WasiHttpCtxView, WasiHttpView};

pub struct InstanceState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub outbound_http: OutboundHttp,
    pub app: Arc<crate::App>,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.outbound_http,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

impl wasmtime_wasi_http::p2::WasiHttpView for InstanceState {
    fn http(&mut self) -> wasmtime_wasi_http::p2::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::p2::WasiHttpCtxView {
            hooks: &mut self.outbound_http,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}
