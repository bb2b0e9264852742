//! `spin:variables/variables@3.0.0`: the component's variables, resolved at each call
//! through Spin's providers (see `variables`).

use crate::spin_imports::SpinHost;
use crate::spin_imports::variables_v3::{self as v3, Error};
use crate::state::InstanceState;
use crate::variables::is_valid_name;
use wasmtime::component::Accessor;

impl v3::Host for InstanceState {}

impl<T> v3::HostWithStore<T> for SpinHost {
    async fn get(accessor: &Accessor<T, Self>, name: String) -> Result<String, Error> {
        let app = accessor.with(|mut access| access.get().app.clone());
        get(&app, &name).await
    }
}

/// A variable's value through the app's providers, shared by both versions of the interface.
pub(crate) async fn get(app: &crate::App, name: &str) -> Result<String, Error> {
    if !is_valid_name(name) {
        return Err(Error::InvalidName(format!("invalid variable name `{name}`")));
    }
    match app.variables.get(name).await {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(Error::Undefined(format!("no variable for \"{name}\""))),
        Err(error) => Err(Error::Provider(format!("{error:#}"))),
    }
}
