//! Bindings for the Spin interfaces the host implements (`spin:redis`, `spin:variables`, `spin:key-value`).

wasmtime::component::bindgen!({
    path: "wit",
    world: "spin-imports",
    imports: { default: async | store },
    with: {
        "spin:redis/redis.connection": crate::redis::RedisConnection,
        "spin:key-value/key-value.store": crate::key_value::KvStore,
    },
});

pub use spin::key_value::key_value as key_value_v3;
pub use spin::redis::redis as redis_v3;
pub use spin::variables::variables as variables_v3;

/// The `HasData` marker through which both interfaces reach the per-request state.
pub struct SpinHost;

impl wasmtime::component::HasData for SpinHost {
    type Data<'a> = &'a mut crate::state::InstanceState;
}
